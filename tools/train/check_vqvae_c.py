#!/usr/bin/python3
"""Checks that the C decoder agrees with tools/train/vqvae.py on a trained model.

  check_vqvae_c.py DIR [--cogvideo build/cogvideo] [--frames N] [--data FILE.npz] [--f32]

DIR holds vqvae.pt (vqvae.py train).  Exports DIR/ice_image.pt (f16 unless --f32; the torch
side then decodes with the same f16-rounded weights), converts it with `cogvideo convert-vqvae
ice_image.pt vq.gguf --grid 8x8`, decodes token ids with `cogvideo decode --pixel clamp --img
--u8` and compares with vqvae.decode_float / vqvae.decode.  The ids are random (every code
reachable) plus, with --data, the encoded frames of the npz.  Prints the max |difference| of
the float images and of the bytes, and the C decoder's time; exits 1 if the bytes differ by
more than --tol (default 2) levels."""
import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vqvae  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--cogvideo", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                                       "build", "cogvideo"))
    ap.add_argument("--frames", type=int, default=33)
    ap.add_argument("--data")
    ap.add_argument("--f32", action="store_true")
    ap.add_argument("--tol", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    m = vqvae.load(a.dir)
    sd = vqvae.export_state_dict(m, half=not a.f32)
    # the torch side runs the exported (possibly f16-rounded) weights in f32, as the C side does
    m.quantize.embed.weight.data.copy_(sd["quantize.embed.weight"].float())
    m.dec.load_state_dict({k[len("decs.1."):]: v.float() for k, v in sd.items() if k.startswith("decs.1.")})
    rng = np.random.default_rng(0)
    ids = rng.integers(0, m.cfg["n_codes"], (a.frames, vqvae.GRID, vqvae.GRID)).astype(np.int64)
    if a.data:
        fr = vqvae.load_frames(a.data)[:a.frames]
        ids = np.concatenate([ids, vqvae.encode(fr, m)])
    with tempfile.TemporaryDirectory() as td:
        pt, gg = os.path.join(td, "ice_image.pt"), os.path.join(td, "vq.gguf")
        torch.save(sd, pt)
        idf, imgf, u8f = (os.path.join(td, n) for n in ("ids.npy", "img.npy", "u8.npy"))
        np.save(idf, ids)
        subprocess.run([a.cogvideo, "convert-vqvae", pt, gg, "--grid", "8x8"], check=True, stdout=subprocess.DEVNULL)
        t0 = time.time()
        subprocess.run([a.cogvideo, "decode", "-m", gg, "--ids", idf, "-o", os.path.join(td, "f.gif"), "--img",
                        imgf, "--u8", u8f, "--pixel", "clamp", "--threads", str(a.threads)], check=True,
                       stdout=subprocess.DEVNULL)
        tc = time.time() - t0
        c_img, c_u8 = np.load(imgf), np.load(u8f)
        print("ice_image.pt %d bytes (%s), vq.gguf %d bytes" % (os.path.getsize(pt), "f32" if a.f32 else "f16",
                                                               os.path.getsize(gg)))
    t_img = vqvae.decode_float(ids, m)
    t_u8 = vqvae.decode(ids, m)
    c_u8 = c_u8.reshape(t_u8.shape)
    df = float(np.abs(c_img - t_img).max())
    du = int(np.abs(c_u8.astype(int) - t_u8.astype(int)).max())
    nd = int((c_u8 != t_u8).sum())
    print("%d frames: C decode %.2f s (%d thread%s, incl. load and GIF)" % (len(ids), tc, a.threads,
                                                                          "" if a.threads == 1 else "s"))
    print("max |C - torch|: image %.2e, bytes %d (%d of %d values differ)" % (df, du, nd, t_u8.size))
    sys.exit(0 if du <= a.tol else 1)


if __name__ == "__main__":
    main()
