#!/usr/bin/env python3
"""make_ckpt_fixtures.py — writes the small .pt fixtures of tests/test_ckpt.c.

Python standard library only (no torch, no numpy): the pickle opcodes and the
zip records are written by hand, in exactly the layout torch.save produces
(studied with pickletools.dis and zipfile on a real DeepSpeed checkpoint):

    <prefix>/data.pkl      protocol-2 pickle; tensors are
                           _rebuild_tensor_v2(persistent_id(('storage',
                           torch.FloatStorage, key, 'cpu', numel)), offset,
                           size, stride, False, OrderedDict())
    <prefix>/data/<key>    the storage's raw little-endian bytes
    <prefix>/byteorder     "little"
    <prefix>/version       "3\\n"

every entry stored (method 0), with the record layout of torch's zip writer
(see write_zip).  Valid fixtures are checked with
python's zipfile and pickletools before they are written.  Hostile
variants each break one thing; tests/test_ckpt.c names the error each must
produce.

Usage: python3 tests/make_ckpt_fixtures.py testdata/ckpt
"""
import io
import os
import pickletools
import struct
import sys
import zipfile
import zlib


# ------------------------------------------------------------------ values

def f32(values):
    return b"".join(struct.pack("<f", v) for v in values)


def f16(values):
    return b"".join(struct.pack("<e", v) for v in values)


def bf16(values):
    # the values used are exactly representable: bf16 = top half of f32
    return b"".join(struct.pack("<f", v)[2:] for v in values)


def i64(values):
    return b"".join(struct.pack("<q", v) for v in values)


# ------------------------------------------------------------------ pickle

class Pickle:
    """Emits protocol-2 opcodes the way pickle.Pickler does for torch.save."""

    def __init__(self):
        self.b = bytearray(b"\x80\x02")          # PROTO 2
        self.memo = 0

    def op(self, raw):
        self.b += raw
        return self

    def put(self):                              # BINPUT / LONG_BINPUT
        if self.memo < 256:
            self.b += b"q" + bytes([self.memo])
        else:
            self.b += b"r" + struct.pack("<I", self.memo)
        self.memo += 1
        return self.memo - 1

    def get(self, i):                           # BINGET / LONG_BINGET
        self.b += b"h" + bytes([i]) if i < 256 else b"j" + struct.pack("<I", i)

    def str(self, s):                           # BINUNICODE
        u = s.encode()
        self.b += b"X" + struct.pack("<I", len(u)) + u
        self.put()

    def int(self, v):
        if 0 <= v < 256:
            self.b += b"K" + bytes([v])         # BININT1
        elif 0 <= v < 65536:
            self.b += b"M" + struct.pack("<H", v)   # BININT2
        elif -2**31 <= v < 2**31:
            self.b += b"J" + struct.pack("<i", v)   # BININT
        else:
            n = (v.bit_length() + 8) // 8       # LONG1, two's complement
            self.b += b"\x8a" + bytes([n]) + v.to_bytes(n, "little", signed=True)

    def glob(self, mod, name):                  # GLOBAL
        self.b += b"c" + mod.encode() + b"\n" + name.encode() + b"\n"
        self.put()

    def tuple(self, items, emit):
        if len(items) == 0:
            self.b += b")"                      # EMPTY_TUPLE
        elif len(items) <= 3:
            for x in items:
                emit(x)
            self.b += bytes([0x84 + len(items)])    # TUPLE1..3
        else:
            self.b += b"("
            for x in items:
                emit(x)
            self.b += b"t"
        self.put()

    def ints_tuple(self, items):
        self.tuple(items, self.int)

    def tensor(self, storage_type, key, numel, offset, shape, stride):
        """Exactly torch's sequence for one tensor of a state dict."""
        self.glob("torch._utils", "_rebuild_tensor_v2")
        self.b += b"("                          # MARK (args)
        self.b += b"("                          # MARK (persistent id)
        self.str("storage")
        self.glob("torch", storage_type)
        self.str(key)
        self.str("cpu")
        self.int(numel)
        self.b += b"t"
        self.put()
        self.b += b"Q"                          # BINPERSID
        self.int(offset)
        self.ints_tuple(shape)
        self.ints_tuple(stride)
        self.b += b"\x89"                       # NEWFALSE (requires_grad)
        self.glob("collections", "OrderedDict")
        self.b += b")R"                         # OrderedDict() (backward hooks)
        self.put()
        self.b += b"t"
        self.put()
        self.b += b"R"                          # REDUCE
        self.put()

    def parameter(self, *tensor_args):
        """nn.Parameter: _rebuild_parameter(tensor, requires_grad, hooks)."""
        self.glob("torch._utils", "_rebuild_parameter")
        self.b += b"("
        self.tensor(*tensor_args)
        self.b += b"\x88"                       # NEWTRUE
        self.glob("collections", "OrderedDict")
        self.b += b")R"
        self.put()
        self.b += b"t"
        self.put()
        self.b += b"R"
        self.put()

    def state_dict(self, tensors, ordered=True):
        """tensors: [(name, storage_type, key, numel, offset, shape, stride)]."""
        if ordered:
            self.glob("collections", "OrderedDict")
            self.b += b")R"
        else:
            self.b += b"}"
        self.put()
        self.b += b"("
        for name, st, key, numel, off, shape, stride in tensors:
            self.str(name)
            self.tensor(st, key, numel, off, shape, stride)
        self.b += b"u"                          # SETITEMS
        if ordered:                             # state_dict()._metadata via BUILD, as torch
            self.b += b"}"
            self.put()
            self.str("_metadata")
            self.glob("collections", "OrderedDict")
            self.b += b")R"
            self.put()
            self.b += b"("
            self.str("")
            self.b += b"}"
            self.put()
            self.str("version")
            self.int(1)
            self.b += b"su"                     # SETITEM, SETITEMS
            self.b += b"sb"                     # SETITEM into the state; BUILD

    def stop(self):
        self.b += b"."
        return bytes(self.b)


def deepspeed_extras(p):
    """Entries DeepSpeed/SAT store next to 'module', none of them tensors we use."""
    p.str("iteration")
    p.int(1)
    p.str("lr")
    p.b += b"G" + struct.pack(">d", 0.5)      # BINFLOAT
    p.str("np_rng_state")                      # ('MT19937', ndarray, 624, 0, 0.0)
    p.b += b"("
    p.str("MT19937")
    p.glob("numpy.core.multiarray", "_reconstruct")
    p.glob("numpy", "ndarray")
    p.int(0)
    p.b += b"\x85"
    p.put()
    p.b += b"C\x01b"                           # SHORT_BINBYTES b'b'
    p.b += b"\x87R"                            # TUPLE3 REDUCE -> unknown object
    p.put()
    p.b += b"(K\x01M\x70\x02\x85"              # MARK 1 (624,)
    p.glob("numpy", "dtype")
    p.str("u4")
    p.b += b"\x89\x88\x87R"                    # (u4, False, True) REDUCE
    p.b += b"(K\x03U\x01<NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"   # dtype state, BUILD
    p.b += b"\x89B\x08\x00\x00\x00" + bytes(range(8))                    # NEWFALSE BINBYTES
    p.b += b"tb"                               # ndarray state; BUILD
    p.int(624)
    p.int(0)
    p.b += b"G" + struct.pack(">d", 0.0)
    p.b += b"t"
    p.put()
    p.str("args")                              # argparse.Namespace via NEWOBJ + BUILD
    p.glob("argparse", "Namespace")
    p.b += b")\x81}"
    p.str("fp16")
    p.b += b"\x88sb"
    p.str("evil")                              # must never run: only a name
    p.glob("os", "system")
    p.str("touch /tmp/cv_ckpt_PWNED")
    p.b += b"\x85R"
    p.str("skipped")
    p.b += b"]("                               # a list filled by APPENDS, with a LONG1
    p.int(-1)
    p.int(2**40)
    p.b += b"e"
    p.str("none")
    p.b += b"N"


# --------------------------------------------------------------------- zip

def write_zip(entries, zip64=False, align=64, compress=()):
    """entries: [(name, bytes)].  Returns the archive bytes, laid out as
    torch's writer (miniz) does: general flags 0x808 (UTF-8 names, sizes in
    a data descriptor), local header CRC and sizes 0, an "FB" extra field
    padding the data to a multiple of 64 bytes, a data descriptor after the
    data; ZIP64 extra fields and end records when zip64 (forced here on
    small files, as miniz does past 4 GB)."""
    out = bytearray()
    central = bytearray()
    for name, data in entries:
        nb = name.encode()
        method = 8 if name in compress else 0
        stored = zlib.compress(data)[2:-4] if method == 8 else data
        crc = zlib.crc32(data)
        flags = 0x808 if data else 0x800
        off = len(out)
        x64 = struct.pack("<HHQQ", 1, 16, len(data), 0) if zip64 else b""   # miniz: csize not known yet
        pad = (-(off + 30 + len(nb) + len(x64) + 4)) % align
        extra = x64 + struct.pack("<HH", 0x4246, pad) + b"Z" * pad
        out += struct.pack("<IHHHHHIIIHH", 0x04034b50, 0, flags, method, 0, 0, 0, 0, 0, len(nb), len(extra))
        out += nb + extra + stored
        if data:
            out += struct.pack("<IIQQ" if zip64 else "<IIII", 0x08074b50, crc, len(stored), len(data))
        if zip64:
            x = struct.pack("<HHQQQ", 1, 24, len(data), len(stored), off)
            sizes = (0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF)
        else:
            x = b""
            sizes = (len(stored), len(data), off)
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014b50, 0, 45 if zip64 else 20, flags, method, 0, 0, crc,
                               sizes[0], sizes[1], len(nb), len(x), 0, 0, 0, 0, sizes[2]) + nb + x
    cd_off = len(out)
    out += central
    n = len(entries)
    if zip64:
        e64 = len(out)
        out += struct.pack("<IQHHIIQQQQ", 0x06064b50, 44, 45, 45, 0, 0, n, n, len(central), cd_off)
        out += struct.pack("<IIQI", 0x07064b50, 0, e64, 1)
        out += struct.pack("<IHHHHIIH", 0x06054b50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    else:
        out += struct.pack("<IHHHHIIH", 0x06054b50, 0, 0, n, n, len(central), cd_off, 0)
    return bytes(out)


def checkpoint(prefix, pkl, storages, zip64=False, byteorder=b"little", compress=(), check=True):
    entries = [(prefix + "/data.pkl", pkl)]
    if byteorder is not None:
        entries.append((prefix + "/byteorder", byteorder))
    entries += [(prefix + "/data/" + k, v) for k, v in storages]
    entries += [(prefix + "/version", b"3\n"), (prefix + "/.data/serialization_id", b"0123456789")]
    blob = write_zip(entries, zip64=zip64, compress=tuple(prefix + "/" + c for c in compress))
    if check:   # a valid fixture must read back with python's own zipfile and pickletools
        z = zipfile.ZipFile(io.BytesIO(blob))
        assert z.testzip() is None
        assert z.read(prefix + "/data.pkl") == pkl
        pickletools.dis(pkl, out=io.StringIO())
    return blob


# ---------------------------------------------------------------- fixtures

# basic.pt: values chosen so the test can state them exactly.
A = [0.5, -1.25, 2.0, 3.5, -0.125, 1024.0]              # a.f32 [2, 3]
B = [1.0, -2.0, 0.33325195, 65504.0]                   # b.f16 [4] (all exact in binary16)
C = [1.5, -0.0078125, 256.0]                        # c.bf16 [3] (exact in bfloat16)
D = [float(i) for i in range(10)]                      # storage '3': shared.full [10] and shared.view [2,3] @4
E = [-3, 2**40, 7]                                     # e.i64 [3]
S = [42.0]                                             # scalar [] (0-d)

BASIC_TENSORS = [
    ("a.f32", "FloatStorage", "0", 6, 0, [2, 3], [3, 1]),
    ("b.f16", "HalfStorage", "1", 4, 0, [4], [1]),
    ("c.bf16", "BFloat16Storage", "2", 3, 0, [3], [1]),
    ("shared.full", "FloatStorage", "3", 10, 0, [10], [1]),
    ("shared.view", "FloatStorage", "3", 10, 4, [2, 3], [3, 1]),
    ("e.i64", "LongStorage", "4", 3, 0, [3], [1]),
    ("scalar", "FloatStorage", "5", 1, 0, [], []),
    ("empty", "FloatStorage", "6", 0, 0, [0, 5], [5, 1]),
    ("col", "FloatStorage", "3", 10, 2, [3, 1], [1, 1]),   # size-1 dim: any stride is contiguous
]
BASIC_STORAGES = [("0", f32(A)), ("1", f16(B)), ("2", bf16(C)), ("3", f32(D)), ("4", i64(E)),
                  ("5", f32(S)), ("6", b"")]


def deepspeed_pickle(tensors, extras=True, ordered=True):
    p = Pickle()
    p.b += b"}"
    p.put()
    p.b += b"("
    p.str("module")
    p.state_dict(tensors, ordered)
    if extras:
        deepspeed_extras(p)
    p.b += b"u"
    return p.stop()


def bare_pickle():
    """Root = the state dict; protocol-4 opcodes (FRAME, SHORT_BINUNICODE,
    MEMOIZE, STACK_GLOBAL) and DICT, as pickle's C implementation emits them."""
    b = bytearray(b"\x80\x04\x95" + struct.pack("<Q", 0))   # FRAME length patched below
    b += b"(\x8c\x01w\x94"                                   # MARK 'w' MEMOIZE
    b += b"\x8c\x0ctorch._utils\x94\x8c\x12_rebuild_tensor_v2\x94\x93\x94"
    b += b"((\x8c\x07storage\x94\x8c\x05torch\x94\x8c\x0cFloatStorage\x94\x93\x94"
    b += b"\x8c\x010\x94\x8c\x03cpu\x94K\x04t\x94Q"            # ('storage', FloatStorage, '0', 'cpu', 4)
    b += b"K\x00K\x02K\x02\x86\x94K\x02K\x01\x86\x94\x89"
    b += b"\x8c\x0bcollections\x94\x8c\x0bOrderedDict\x94\x93\x94)R\x94t\x94R\x94"
    b += b"X\x01\x00\x00\x00v"                                # a second tensor, reusing memo 1 (the callable)
    b += b"h\x03((h\x04h\x07\x8d\x01\x00\x00\x00\x00\x00\x00\x001\x8c\x03cpu\x8a\x01\x02tQ"   # BINUNICODE8 key, LONG1 numel
    b += b"K\x00K\x02\x85K\x01\x85\x89h\x0f)RtR"
    b += b"d."                                               # DICT, STOP
    b[3:11] = struct.pack("<Q", len(b) - 11)
    return bytes(b)


def main(outdir):
    os.makedirs(outdir, exist_ok=True)

    def save(name, blob):
        with open(os.path.join(outdir, name), "wb") as f:
            f.write(blob)

    pkl = deepspeed_pickle(BASIC_TENSORS)
    save("basic.pt", checkpoint("mp_rank_00_model_states", pkl, BASIC_STORAGES))
    save("bare_zip64.pt", checkpoint("archive", bare_pickle(),
                                     [("0", f32([1.0, 2.0, 3.0, 4.0])), ("1", f32([-1.0, 0.25]))],
                                     zip64=True, byteorder=None))

    # the same checkpoint written by python's zipfile (another writer): ZIP64
    # extra fields in the local headers only, no alignment, an archive comment
    buf = io.BytesIO()
    def info(name):   # a fixed date, so that the fixtures are reproducible
        return zipfile.ZipInfo("mp_rank_00_model_states/" + name, date_time=(1980, 1, 1, 0, 0, 0))
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr(info("data.pkl"), pkl)
        for key, data in BASIC_STORAGES:
            with z.open(info("data/" + key), "w", force_zip64=True) as f:
                f.write(data)
        z.writestr(info("version"), b"3\n")
        z.comment = b"written by python zipfile"
    save("pyzip.pt", buf.getvalue())

    # the pickle of a > 4 GB archive that test_ckpt.c assembles as a sparse
    # file: 'big' fills storage '0' (2^32 + 64 bytes), 'w' = [1.5, -2.5] in '1'
    big = (2**32 + 64) // 4
    p = Pickle()
    p.b += b"}"
    p.put()
    p.b += b"("
    p.str("module")
    p.state_dict([("big", "FloatStorage", "0", big, 0, [big], [1]),
                  ("w", "FloatStorage", "1", 2, 0, [2], [1])], ordered=False)
    p.b += b"u"
    save("big_zip64.pkl", p.stop())

    # a module whose weights are nn.Parameters (torch.save(model) style), bf16
    p = Pickle()
    p.b += b"}"
    p.put()
    p.b += b"("
    p.str("module")
    p.b += b"}"
    p.put()
    p.b += b"("
    p.str("p")
    p.parameter("BFloat16Storage", "0", 3, 1, [2], [1])
    p.b += b"uu"
    save("param.pt", checkpoint("archive", p.stop(), [("0", bf16(C))]))

    def one(tensors, storages, **kw):
        return checkpoint("archive", deepspeed_pickle(tensors, extras=False), storages, **kw)

    T = [("w", "FloatStorage", "0", 6, 0, [2, 3], [3, 1])]
    W = [("0", f32(A))]
    save("h_storage_small.pt", one([("w", "FloatStorage", "0", 100, 0, [2, 3], [3, 1])], W))
    save("h_offset_past_end.pt", one([("w", "FloatStorage", "0", 6, 4, [2, 3], [3, 1])], W))
    save("h_offset_overflow.pt", one([("w", "FloatStorage", "0", 6, 2**63 - 2, [2, 3], [3, 1])], W))
    save("h_numel_overflow.pt", one([("w", "FloatStorage", "0", 6, 0, [2**32, 2**32, 4], [2**34, 4, 1])], W))
    save("h_stride.pt", one([("w", "FloatStorage", "0", 6, 0, [3, 2], [1, 3])], W))
    save("h_missing_storage.pt", one([("w", "FloatStorage", "9", 6, 0, [2, 3], [3, 1])], W))
    save("h_storage_type.pt", one([("w", "ComplexFloatStorage", "0", 6, 0, [2, 3], [3, 1])], W))
    save("h_compressed.pt", one(T, W, compress=("data/0",), check=False))
    save("h_bigendian.pt", one(T, W, byteorder=b"big"))
    save("h_dup.pt", one(T + T, W))

    # module['x'] = os.system('touch ...'): must stay a name, never run
    p = Pickle()
    p.b += b"}"
    p.put()
    p.b += b"("
    p.str("module")
    p.b += b"}"
    p.str("x")
    p.glob("os", "system")
    p.str("touch /tmp/cv_ckpt_PWNED")
    p.b += b"\x85Rsu"
    save("h_os_system.pt", checkpoint("archive", p.stop(), []))

    good = one(T, W)
    # unknown opcode: INST ('i') in place of the BINUNICODE of 'module'
    save("h_opcode.pt", bad_pickle(good, lambda k: k.replace(b"X\x06\x00\x00\x00module", b"i\x06\x00\x00\x00module", 1)))
    save("h_trunc_pickle.pt", bad_pickle(good, lambda k: k[:len(k) // 2]))
    cd = good.rindex(b"PK\x01\x02")                # bad central directory: break the first record's signature
    eocd = good.rindex(b"PK\x05\x06")
    cd_first = struct.unpack_from("<I", good, eocd + 16)[0]
    bad = bytearray(good)
    bad[cd_first + 1] = 0
    assert cd > cd_first
    save("h_bad_cd.pt", bytes(bad))
    bad = bytearray(good)                         # local header name disagrees with the central one
    bad[30 + 2] ^= 0x20
    save("h_local_name.pt", bytes(bad))
    save("h_truncated.pt", good[:len(good) // 2])


def bad_pickle(good, change):
    """Rebuilds `good` (archive/ prefix) with its data.pkl changed."""
    z = zipfile.ZipFile(io.BytesIO(good))
    pkl = change(z.read("archive/data.pkl"))
    storages = [(n[len("archive/data/"):], z.read(n)) for n in z.namelist() if n.startswith("archive/data/")]
    return checkpoint("archive", pkl, storages, check=False)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "testdata/ckpt")
