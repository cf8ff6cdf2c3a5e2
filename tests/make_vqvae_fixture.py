#!/usr/bin/env python3
"""Writes icetk-layout VQVAE checkpoints at tiny sizes, stdlib only
(tests/make_ckpt_fixtures.py writes the zip and pickle).  Two presets:

tiny (testdata/vqvae-tiny): ice_image_tiny.pt, a BARE state dict (as icetk's
ice_image.pt) with quantize.embed.weight [24, 6] (f16), decs.1.* of
Decoder(channels=8, channels_mult=[1,2], num_res_blocks=0, z_channels=6,
out_channels=3) (f32), plus tensors the converter must keep (enc.conv_in.*,
decs.0.conv_out.bias) and drop (quantize.cluster_size, quantize.embed_avg).
missing_tensor.pt, wrong_shape.pt: the same without decs.1.mid.attn_1.v.bias,
with decs.1.up.0.block.0.nin_shortcut.weight transposed in its channels.
ids_*.npy: token ids at grid 3x5 (convert with --grid 3x5 --norm-groups 4).

A (testdata/vqvae-A): ice_image_A.pt, the decoder that fits the golden-A
checkpoints (image tokens 20000, 20x20 token frames): quantize.embed.weight
[20000, 4] and decs.1.* of Decoder(channels=32, channels_mult=[1,1,1],
num_res_blocks=0, z_channels=4, out_channels=3), all f16 (about 400 kB), so
that `cogvideo convert-vqvae` works with its defaults (grid 20x20, 32 GroupNorm
groups: every width must be a multiple of 32) and decodes 80x80 frames.
ids_20x20.npy, ids_2x20x20.npy: random ids < 20000.

Usage: make_vqvae_fixture.py [--preset tiny|A] [OUTDIR]
       (default tiny into testdata/vqvae-tiny; A into testdata/vqvae-A)"""
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_ckpt_fixtures as mk  # noqa: E402

# name: the checkpoint's record name; half: the decoder in f16 (the codebook
# always is); extras: the tensors the converter keeps or drops; grid: of the
# ids files; bad: also write missing_tensor.pt, wrong_shape.pt and ids_bad.npy.
PRESETS = {
    "tiny": dict(name="ice_image_tiny", CH=8, MULT=[1, 2], NRB=0, Z=6, CODES=24, OUT=3, half=False, extras=True,
                 grid=(3, 5), bad=True, outdir="testdata/vqvae-tiny"),
    "A": dict(name="ice_image_A", CH=32, MULT=[1, 1, 1], NRB=0, Z=4, CODES=20000, OUT=3, half=True, extras=False,
              grid=(20, 20), bad=False, outdir="testdata/vqvae-A"),
}
P = PRESETS["tiny"]


def decoder():
    """(name, shape) of decs.1 in the order of src/vqvae.c's walk."""
    t = []

    def conv(base, cin, cout, k):
        t.extend([(base + ".weight", [cout, cin, k, k]), (base + ".bias", [cout])])

    def norm(base, c):
        t.extend([(base + ".weight", [c]), (base + ".bias", [c])])

    def res(base, cin, cout):
        norm(base + ".norm1", cin)
        conv(base + ".conv1", cin, cout, 3)
        norm(base + ".norm2", cout)
        conv(base + ".conv2", cout, cout, 3)
        if cin != cout:
            conv(base + ".nin_shortcut", cin, cout, 1)

    CH, MULT, NRB = P["CH"], P["MULT"], P["NRB"]
    cin = CH * MULT[-1]
    conv("conv_in", P["Z"], cin, 3)
    res("mid.block_1", cin, cin)
    norm("mid.attn_1.norm", cin)
    for p in ("q", "k", "v", "proj_out"):
        conv("mid.attn_1." + p, cin, cin, 1)
    res("mid.block_2", cin, cin)
    for lvl in reversed(range(len(MULT))):
        cout = CH * MULT[lvl]
        for b in range(NRB + 1):
            res("up.%d.block.%d" % (lvl, b), cin, cout)
            cin = cout
        if lvl > 0:
            conv("up.%d.upsample.conv" % lvl, cin, cin, 3)
    norm("norm_out", cin)
    conv("conv_out", cin, P["OUT"], 3)
    return [("decs.1." + n, s) for n, s in t]


def entries():
    rnd = random.Random(2024)
    CODES, Z = P["CODES"], P["Z"]
    t = [("quantize.embed.weight", [CODES, Z], True)]
    t += [(n, s, P["half"]) for n, s in decoder()]
    if P["extras"]:
        t += [("enc.conv_in.weight", [4, 3, 3, 3], False), ("enc.conv_in.bias", [4], False),
              ("decs.0.conv_out.bias", [3], False), ("quantize.cluster_size", [CODES], False),
              ("quantize.embed_avg", [CODES, Z], False)]
    out = []
    for name, shape, half in t:
        n = 1
        for s in shape:
            n *= s
        fan = n // shape[0] if len(shape) > 1 else 1
        codebook = name == "quantize.embed.weight"
        scale = 1.0 if codebook or len(shape) == 1 else 1.0 / fan ** 0.5
        vals = [rnd.uniform(-scale, scale) for _ in range(n)]
        if name.endswith("norm1.weight") or name.endswith("norm2.weight") or name.endswith("norm.weight"):
            vals = [1.0 + 0.2 * v for v in vals]
        out.append((name, shape, vals, half))
    return out


def blob(es):
    tensors, storages = [], []
    for k, (name, shape, vals, half) in enumerate(es):
        stride, acc = [], 1
        for s in reversed(shape):
            stride.insert(0, acc)
            acc *= s
        tensors.append((name, "HalfStorage" if half else "FloatStorage", str(k), len(vals), 0, shape, stride))
        storages.append((str(k), mk.f16(vals) if half else mk.f32(vals)))
    p = mk.Pickle()
    p.state_dict(tensors)
    return mk.checkpoint(P["name"], p.stop(), storages)


def npy_i64(shape, values):
    """A .npy file as numpy.save writes it (version 1.0, header padded to 64 bytes)."""
    import struct
    hdr = "{'descr': '<i8', 'fortran_order': False, 'shape': (%s), }" % (
        ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else ""))
    hdr += " " * (63 - (10 + len(hdr)) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr.encode() + struct.pack("<%dq" % len(values), *values)


def ids_files(out):
    """Token ids for the preset's grid: one frame, several frames; for tiny
    also an id outside the codebook and a rank-1 array."""
    CODES = P["CODES"]
    h, w = P["grid"]
    nf = 4 if P["bad"] else 2
    rnd = random.Random(7)
    one = [rnd.randrange(CODES) for _ in range(h * w)]
    more = [rnd.randrange(CODES) for _ in range(nf * h * w)]
    files = [("ids_%dx%d.npy" % (h, w), [h, w], one), ("ids_%dx%dx%d.npy" % (nf, h, w), [nf, h, w], more)]
    if P["bad"]:
        bad = list(one)
        bad[7] = CODES
        files += [("ids_bad.npy", [h, w], bad), ("ids_rank1.npy", [h * w], one)]
    for name, shape, vals in files:
        with open(os.path.join(out, name), "wb") as f:
            f.write(npy_i64(shape, vals))


def main(out):
    os.makedirs(out, exist_ok=True)
    ids_files(out)
    es = entries()
    name = P["name"]
    files = {name + ".pt": es}
    if P["bad"]:
        files["missing_tensor.pt"] = [e for e in es if e[0] != "decs.1.mid.attn_1.v.bias"]
        files["wrong_shape.pt"] = [
            (n, [s[1], s[0], s[2], s[3]] if n == "decs.1.up.0.block.0.nin_shortcut.weight" else s, v, h)
            for n, s, v, h in es]
    for fname, e in files.items():
        with open(os.path.join(out, fname), "wb") as f:
            f.write(blob(e))


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--preset"] and len(args) >= 2 and args[1] in PRESETS:
        P = PRESETS[args[1]]
        args = args[2:]
    elif args[:1] == ["--preset"] or len(args) > 1:
        sys.exit(__doc__)
    main(args[0] if args else P["outdir"])
