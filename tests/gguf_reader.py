#!/usr/bin/env python3
"""gguf_reader.py - an independent, minimal GGUF v3 reader and writer.

Written from the specification (ggml's docs/gguf.md), not from src/gguf.c,
using only the standard library and numpy, so that our C writer and reader
are checked against a second reading of the spec.

    gguf_reader.py FILE                 parse, validate, print a summary
    gguf_reader.py --expect-sample FILE [ALIGNMENT]
                                        ... and check FILE holds exactly the
                                        sample of tests/gguf_write_sample.c
    gguf_reader.py --write-sample FILE [ALIGNMENT]
                                        write that sample from this script

Validation is byte-exact: magic, version 3, every length inside the file,
unique keys and tensor names, bool bytes 0/1, UTF-8 strings, ASCII keys,
general.alignment (uint32, power of two, multiple of 8 per the spec), the
data section starting at the first multiple of the alignment after the
tensor infos with zero padding before it, every tensor offset a multiple of
the alignment, tensors laid out back to back in file order, each padded
with zeros to the alignment (ggml's layout), and the file ending right
after the padding of the last tensor.

Exit status: 0 fine, 1 invalid file or mismatch, 2 usage, 77 no numpy.
"""
import struct
import sys

try:
    import numpy as np
except ImportError:
    print("gguf_reader.py: SKIP: numpy is not available to %s" % sys.executable)
    sys.exit(77)

# Metadata value types of the spec: number -> (struct code, size, name).
SCALARS = {
    0: ("B", 1, "uint8"), 1: ("b", 1, "int8"), 2: ("H", 2, "uint16"),
    3: ("h", 2, "int16"), 4: ("I", 4, "uint32"), 5: ("i", 4, "int32"),
    6: ("f", 4, "float32"), 7: ("B", 1, "bool"), 10: ("Q", 8, "uint64"),
    11: ("q", 8, "int64"), 12: ("d", 8, "float64"),
}
T_BOOL, T_STRING, T_ARRAY = 7, 8, 9
T_U8, T_I8, T_U16, T_I16, T_U32, T_I32, T_F32 = 0, 1, 2, 3, 4, 5, 6
T_U64, T_I64, T_F64 = 10, 11, 12

# ggml tensor types this checker can decode: number -> (name, block, bytes).
GGML = {0: ("f32", 1, 4), 1: ("f16", 1, 2), 8: ("q8_0", 32, 34), 30: ("bf16", 1, 2)}
DEFAULT_ALIGNMENT = 32


class Invalid(Exception):
    pass


def align(x, a):
    return x + (a - x % a) % a


class Cursor:
    def __init__(self, buf):
        self.buf = buf
        self.pos = 0

    def take(self, n, what):
        if n < 0 or self.pos + n > len(self.buf):
            raise Invalid("truncated %s: %d bytes needed at offset %d, file has %d"
                          % (what, n, self.pos, len(self.buf)))
        b = self.buf[self.pos:self.pos + n]
        self.pos += n
        return b

    def unpack(self, code, size, what):
        return struct.unpack("<" + code, self.take(size, what))[0]

    def string(self, what):
        n = self.unpack("Q", 8, what + " length")
        raw = self.take(n, what)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise Invalid("%s is not valid UTF-8" % what)

    def value(self, vtype, what):
        """(type, value); arrays are (T_ARRAY, (elem_type, [values]))."""
        if vtype == T_STRING:
            return vtype, self.string(what)
        if vtype == T_ARRAY:
            etype = self.unpack("I", 4, what + " element type")
            count = self.unpack("Q", 8, what + " count")
            if count > len(self.buf) - self.pos:  # every element takes >= 1 byte
                raise Invalid("%s claims %d elements" % (what, count))
            return vtype, (etype, [self.value(etype, what)[1] for _ in range(count)])
        if vtype not in SCALARS:
            raise Invalid("%s has unknown value type %d" % (what, vtype))
        code, size, _ = SCALARS[vtype]
        v = self.unpack(code, size, what)
        if vtype == T_BOOL:
            if v > 1:
                raise Invalid("%s: bool byte %d is neither 0 nor 1" % (what, v))
            v = bool(v)
        return vtype, v


def type_name(vtype, value):
    if vtype == T_ARRAY:
        return "%s[%d]" % (type_name(value[0], None), len(value[1]))
    return "string" if vtype == T_STRING else SCALARS.get(vtype, ("", 0, "?"))[2]


def parse(buf):
    """Parses and validates a whole GGUF file given as bytes."""
    c = Cursor(buf)
    if c.take(4, "magic") != b"GGUF":
        raise Invalid("bad magic")
    version = c.unpack("I", 4, "version")
    if version != 3:
        raise Invalid("version %d (expected 3)" % version)
    n_tensors = c.unpack("Q", 8, "tensor count")
    n_kv = c.unpack("Q", 8, "metadata count")
    kv = []
    seen = set()
    for i in range(n_kv):
        key = c.string("key %d" % i)
        if not key or len(key) > 65535 or not all(0x20 < ord(ch) < 0x7f for ch in key):
            raise Invalid("key %r is not 1..65535 printable ASCII bytes" % key)
        if key in seen:
            raise Invalid("duplicate key %r" % key)
        seen.add(key)
        vtype = c.unpack("I", 4, "type of " + key)
        kv.append((key,) + c.value(vtype, key))
    alignment = DEFAULT_ALIGNMENT
    for key, vtype, value in kv:
        if key == "general.alignment":
            if vtype != T_U32:
                raise Invalid("general.alignment has type %s" % type_name(vtype, value))
            alignment = value
    if alignment == 0 or alignment & (alignment - 1) or alignment % 8:
        raise Invalid("alignment %d is not a power of two and a multiple of 8" % alignment)
    tensors = []
    names = set()
    for i in range(n_tensors):
        name = c.string("tensor name %d" % i)
        if len(name.encode("utf-8")) > 64 or name in names:
            raise Invalid("tensor name %r too long or repeated" % name)
        names.add(name)
        n_dims = c.unpack("I", 4, name + " n_dims")
        if n_dims > 4:
            raise Invalid("%s has %d dims" % (name, n_dims))
        ne = [c.unpack("Q", 8, name + " dim") for _ in range(n_dims)]
        gtype = c.unpack("I", 4, name + " type")
        offset = c.unpack("Q", 8, name + " offset")
        if gtype not in GGML:
            raise Invalid("%s has ggml type %d, which this checker cannot decode" % (name, gtype))
        tname, block, bsize = GGML[gtype]
        n0 = ne[0] if ne else 1
        if n0 % block:
            raise Invalid("%s: ne[0] = %d is not a multiple of %d" % (name, n0, block))
        count = 1
        for d in ne:
            count *= d
        tensors.append(dict(name=name, ne=ne, type=gtype, tname=tname, offset=offset,
                            nbytes=count // block * bsize))
    infos_end = c.pos
    data_start = align(infos_end, alignment)
    if tensors:
        check_layout(buf, infos_end, data_start, alignment, tensors)
    return dict(version=version, kv=kv, tensors=tensors, alignment=alignment,
                data_start=data_start, size=len(buf))


def zero(buf, start, end, what):
    if end > len(buf):
        raise Invalid("%s runs past the end of the file (%d > %d)" % (what, end, len(buf)))
    if any(buf[start:end]):
        raise Invalid("%s (bytes %d..%d) is not all zero" % (what, start, end))


def check_layout(buf, infos_end, data_start, alignment, tensors):
    if data_start % alignment:
        raise Invalid("data section starts at %d" % data_start)
    zero(buf, infos_end, data_start, "padding before the data section")
    expected = 0
    for t in tensors:
        if t["offset"] % alignment:
            raise Invalid("%s: offset %d is not a multiple of %d" % (t["name"], t["offset"], alignment))
        if t["offset"] != expected:
            raise Invalid("%s: offset %d, expected %d (tensors back to back)" % (t["name"], t["offset"], expected))
        start = data_start + t["offset"]
        end = start + t["nbytes"]
        padded = data_start + align(t["offset"] + t["nbytes"], alignment)
        if end > len(buf):
            raise Invalid("%s: data %d..%d past the end of the file (%d)" % (t["name"], start, end, len(buf)))
        zero(buf, end, padded, "padding after " + t["name"])
        t["data"] = buf[start:end]
        expected = padded - data_start
    if len(buf) != data_start + expected:
        raise Invalid("file has %d bytes, expected %d (data end + padding)" % (len(buf), data_start + expected))


def as_array(t):
    """Tensor values as numpy, PyTorch shape (ne reversed); q8_0 dequantized."""
    shape = tuple(reversed(t["ne"]))
    raw = t["data"]
    if t["tname"] == "f32":
        return np.frombuffer(raw, "<f4").reshape(shape)
    if t["tname"] == "f16":
        return np.frombuffer(raw, "<f2").astype(np.float32).reshape(shape)
    if t["tname"] == "bf16":
        bits = np.frombuffer(raw, "<u2").astype(np.uint32) << 16
        return bits.view(np.float32).reshape(shape)
    blocks = np.frombuffer(raw, np.dtype([("d", "<f2"), ("qs", "i1", (32,))]))
    vals = blocks["d"].astype(np.float32)[:, None] * blocks["qs"].astype(np.float32)
    return vals.reshape(shape)


# --------------------------------------------------------------------- the sample
# The same recipe as tests/gguf_write_sample.c (keep the two in step).

TOKENS = ["<unk>", "\u9ad8\u6e05", "", "tab\there"]


def sample_kv(alignment):
    kv = [("general.alignment", T_U32, alignment)] if alignment != DEFAULT_ALIGNMENT else []
    return kv + [
        ("general.architecture", T_STRING, "cogvideo"),
        ("general.name", T_STRING, "interop sample"),
        ("sample.u8", T_U8, 7), ("sample.i8", T_I8, -7),
        ("sample.u16", T_U16, 65535), ("sample.i16", T_I16, -32768),
        ("sample.u32", T_U32, 2**32 - 1), ("sample.i32", T_I32, -2**31),
        ("sample.f32", T_F32, struct.unpack("<f", struct.pack("<f", 0.1))[0]),
        ("sample.bool", T_BOOL, True),
        ("sample.u64", T_U64, 2**64 - 1), ("sample.i64", T_I64, -2**63),
        ("sample.f64", T_F64, 2.718281828459045),
        ("sample.tokens", T_ARRAY, (T_STRING, TOKENS)),
        ("sample.scores", T_ARRAY, (T_F32, [i * 0.25 - 1.0 for i in range(10)])),
        ("sample.ids", T_ARRAY, (T_I32, [i - 3 for i in range(7)])),
        ("sample.flags", T_ARRAY, (T_BOOL, [True, False, True])),
    ]


def q8_blocks(n, d_base):
    out = bytearray()
    for blk in range(n):
        out += np.float16(0.0625 * (blk + 1 + d_base)).astype("<f2").tobytes()
        out += bytes(((blk * 32 + j) * 7 % 255 - 127) & 0xFF for j in range(32))
    return bytes(out)


def sample_tensors():
    """[(name, ggml type, PyTorch shape, raw bytes)] in file order."""
    f32 = np.float32
    bf = (np.arange(30, dtype=f32) * f32(-1.5) + f32(4)).view("<u4")
    assert not (bf & 0xFFFF).any()  # exact in bf16, so truncation == rounding
    return [
        ("t.f32", 0, (3, 5), (np.arange(15, dtype=f32) * f32(0.5) - f32(3)).astype("<f4").tobytes()),
        ("t.f16", 1, (4, 7), (np.arange(28, dtype=f32) * f32(0.125) - f32(2)).astype("<f2").tobytes()),
        ("t.bf16", 30, (2, 3, 5), (bf >> 16).astype("<u2").tobytes()),
        ("t.q8_0", 8, (3, 64), q8_blocks(6, 0)),
        ("t.q8_0.row", 8, (96,), q8_blocks(3, 10)),
        ("t.empty", 0, (0, 3), b""),
        ("t.scalar", 0, (), np.array(1.5, "<f4").tobytes()),
    ]


def encode_value(vtype, value):
    if vtype == T_STRING:
        raw = value.encode("utf-8")
        return struct.pack("<Q", len(raw)) + raw
    if vtype == T_ARRAY:
        etype, items = value
        return struct.pack("<IQ", etype, len(items)) + b"".join(encode_value(etype, v) for v in items)
    return struct.pack("<" + SCALARS[vtype][0], int(value) if vtype == T_BOOL else value)


def write_sample(path, alignment):
    kv = sample_kv(alignment)
    tensors = sample_tensors()
    out = bytearray(b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kv)))
    for key, vtype, value in kv:
        out += encode_value(T_STRING, key) + struct.pack("<I", vtype) + encode_value(vtype, value)
    offset = 0
    for name, gtype, shape, raw in tensors:
        ne = list(reversed(shape))
        out += encode_value(T_STRING, name) + struct.pack("<I%dQ" % len(ne), len(ne), *ne)
        out += struct.pack("<IQ", gtype, offset)
        offset = align(offset + len(raw), alignment)
    out += bytes(align(len(out), alignment) - len(out))
    for _, _, _, raw in tensors:
        out += raw + bytes(align(len(raw), alignment) - len(raw))
    with open(path, "wb") as f:
        f.write(out)


def same_value(vtype, a, b):
    if vtype == T_ARRAY:
        return a[0] == b[0] and len(a[1]) == len(b[1]) and all(
            same_value(a[0], x, y) for x, y in zip(a[1], b[1]))
    if vtype in (T_F32, T_F64):
        code = "<f" if vtype == T_F32 else "<d"
        return struct.pack(code, a) == struct.pack(code, b)
    return a == b and type(a) is type(b)


def expect_sample(info, alignment):
    problems = []
    want_kv = sample_kv(alignment)
    if [k[0] for k in info["kv"]] != [k[0] for k in want_kv]:
        problems.append("keys %s, expected %s" % ([k[0] for k in info["kv"]], [k[0] for k in want_kv]))
    else:
        for (key, vt, v), (_, wt, wv) in zip(info["kv"], want_kv):
            if vt != wt or not same_value(vt, v, wv):
                problems.append("%s = %r (%s), expected %r (%s)" % (key, v, type_name(vt, v), wv, type_name(wt, wv)))
    if info["alignment"] != alignment:
        problems.append("alignment %d, expected %d" % (info["alignment"], alignment))
    want_t = sample_tensors()
    if [t["name"] for t in info["tensors"]] != [w[0] for w in want_t]:
        problems.append("tensors %s" % [t["name"] for t in info["tensors"]])
    else:
        for t, (name, gtype, shape, raw) in zip(info["tensors"], want_t):
            if t["type"] != gtype or tuple(reversed(t["ne"])) != shape or t["data"] != raw:
                problems.append("tensor %s differs (type %d, shape %s)" % (name, t["type"], tuple(reversed(t["ne"]))))
            elif as_array(t).shape != shape:
                problems.append("tensor %s decodes to shape %s" % (name, as_array(t).shape))
    return problems


def summary(path, info):
    print("%s: GGUF v%d, %d keys, %d tensors, alignment %d, data at %d, %d bytes"
          % (path, info["version"], len(info["kv"]), len(info["tensors"]), info["alignment"],
             info["data_start"], info["size"]))
    for key, vt, v in info["kv"]:
        shown = v if vt != T_ARRAY else v[1][:5]
        print("  %-24s %-14s %r" % (key, type_name(vt, v), shown))
    for t in info["tensors"]:
        a = as_array(t)
        first = a.reshape(-1)[:4].tolist()
        print("  %-24s %-5s %-14s offset %-6d %r" % (t["name"], t["tname"], a.shape, t["offset"], first))


def main(argv):
    mode = argv[1] if len(argv) > 1 and argv[1].startswith("--") else None
    args = argv[2:] if mode else argv[1:]
    if mode not in (None, "--expect-sample", "--write-sample") or not 1 <= len(args) <= 2:
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    path = args[0]
    alignment = int(args[1]) if len(args) > 1 else DEFAULT_ALIGNMENT
    if mode == "--write-sample":
        write_sample(path, alignment)
        return 0
    with open(path, "rb") as f:
        buf = f.read()
    try:
        info = parse(buf)
    except Invalid as e:
        print("gguf_reader.py: %s: invalid: %s" % (path, e), file=sys.stderr)
        return 1
    summary(path, info)
    if mode == "--expect-sample":
        problems = expect_sample(info, alignment)
        for p in problems:
            print("gguf_reader.py: %s: %s" % (path, p), file=sys.stderr)
        if problems:
            return 1
        print("gguf_reader.py: %s matches the sample" % path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
