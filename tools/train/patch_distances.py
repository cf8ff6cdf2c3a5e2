#!/usr/bin/python3
"""patch_distances.py — how alike the VQVAE's codes look, for soft targets.

  patch_distances.py --clips CLIPS.npz --tokens TOKENS.npz --out D.npy [--clips-used N]

For every code, the mean 8 x 8 RGB patch (pixels in [0, 1]) of the training
frames that the encoder mapped to it (the first N clips, 1200 by default);
writes D [512, 512] float64, the mean squared difference between two codes'
patches.  train_stage.py --soft-targets D.npy:EPS:TAU trains stage 2 towards
(1 - EPS) one-hot + EPS softmax(-D[t] / TAU): codes that draw nearly the same
patch (the codebook has many: the median nearest neighbour differs by ~5 / 255
RMS) share part of the target.  TINY.md, "Soft targets and a larger stage-2
learning rate".  Needs numpy.
"""
import argparse

import numpy as np

GRID, TOK = 8, 8                 # 8 x 8 tokens of 8 x 8 pixels (TINY.md)


def mean_patches(frames, ids, n_codes, chunk=100):
    """frames uint8 [N, F, 64, 64, 3], ids [N, F, 64] -> [n_codes, 192]."""
    s = np.zeros((n_codes, TOK * TOK * 3))
    n = np.zeros(n_codes)
    for i in range(0, len(frames), chunk):
        f = frames[i:i + chunk].astype(np.float32) / 255.0
        p = f.reshape(-1, GRID, TOK, GRID, TOK, 3).transpose(0, 1, 3, 2, 4, 5).reshape(-1, TOK * TOK * 3)
        k = ids[i:i + chunk].reshape(-1)
        np.add.at(s, k, p)
        n += np.bincount(k, minlength=n_codes)
    return s / np.maximum(n, 1)[:, None], n


def load_frames(ap, path, n):
    """The first n clips of path's 'frames' array (clips.npz or tokens.npz)."""
    try:
        with np.load(path) as d:
            return d['frames'][:n]
    except (OSError, ValueError, KeyError) as e:
        ap.error('%s: cannot read its frames (%s)' % (path, e))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--clips', required=True)
    ap.add_argument('--tokens', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--clips-used', type=int, default=1200)
    ap.add_argument('--codes', type=int, default=512)
    a = ap.parse_args()
    frames, ids = (load_frames(ap, f, a.clips_used) for f in (a.clips, a.tokens))
    if frames.shape[:2] != ids.shape[:2] or ids.shape[2] != GRID * GRID:
        ap.error('%s %s and %s %s do not match' % (a.clips, frames.shape, a.tokens, ids.shape))
    p, n = mean_patches(frames, ids, a.codes)
    d = ((p[:, None, :] - p[None, :, :]) ** 2).mean(-1)
    np.save(a.out, d)
    print('patch_distances: %d codes (%d unused) -> %s' % (a.codes, int((n == 0).sum()), a.out))


if __name__ == '__main__':
    main()
