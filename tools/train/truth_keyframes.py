#!/usr/bin/python3
"""truth_keyframes.py — the true keyframes of eval_tiny's clips, as tokens.

  truth_keyframes.py --vqvae VQ_DIR [--prompts FILE] [--seeds S ...] --out DIR

For every prompt and seed, renders the clip that `tools/eval_tiny
--ground-truth` renders (tinydata, the same spec from (seed, prompt index)),
encodes its keyframes (t = 0, 4, 8, 12, 16 s) with the trained VQVAE's
encoder and writes DIR/pNNN-sS.npy (int64 [5, 64], the layout of
`cogvideo generate --stage 1`'s tokens.npy).  Then
  tools/eval_tiny --keyframes DIR ...
runs stage 2 alone on them: stage 2's interpolation measured apart from
stage 1's keyframes.  Needs torch (the encoder) + numpy.
"""
import argparse
import importlib.machinery
import importlib.util
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = os.path.join(HERE, '..')
sys.path.insert(0, os.path.join(TOOLS, 'tinydata'))
sys.path.insert(0, HERE)


def load_eval_tiny():
    loader = importlib.machinery.SourceFileLoader('eval_tiny', os.path.join(TOOLS, 'eval_tiny'))
    spec = importlib.util.spec_from_loader('eval_tiny', loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def main():
    ap = argparse.ArgumentParser(description="the true keyframes of eval_tiny's clips (see the docstring)")
    ap.add_argument('--vqvae', required=True, help="vqvae.py train's output directory")
    ap.add_argument('--prompts', default=os.path.join(TOOLS, 'eval_tiny.prompts'))
    ap.add_argument('--seeds', type=int, nargs='+', default=[0])
    ap.add_argument('--out', required=True)
    a = ap.parse_args()
    import tinydata as td
    import vqvae
    ev = load_eval_tiny()
    model = vqvae.load(a.vqvae)
    keys = [i for i, t in enumerate(td.TIMES) if abs(t / 4.0 - round(t / 4.0)) < 1e-9]
    if len(keys) != 5:
        sys.exit('truth_keyframes: tinydata.TIMES has %d keyframe times (expected 5)' % len(keys))
    os.makedirs(a.out, exist_ok=True)
    n = 0
    for idx, item in enumerate(ev.load_prompts(a.prompts)):
        for seed in a.seeds:
            spec = ev.truth_spec(idx, item, seed)
            frames = td.render(spec, [td.TIMES[k] for k in keys])
            ids = vqvae.encode(frames, model).reshape(len(keys), -1)
            np.save(ev.keyframes_file(a.out, idx, seed), ids.astype(np.int64))
            n += 1
    print('truth_keyframes: %d clips -> %s' % (n, a.out), file=sys.stderr)


if __name__ == '__main__':
    main()
