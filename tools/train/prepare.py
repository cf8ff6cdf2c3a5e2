#!/usr/bin/python3
"""prepare.py — turn rendered clips into the transformer trainers' input.

  prepare.py --clips CLIPS.npz [MORE.npz ...] --vqvae VQ_DIR \
             --tokenizer tiny.model --cogvideo BIN --out TOKENS.npz

CLIPS.npz is tools/tinydata's dataset (frames uint8 [N, 33, 64, 64, 3] at
t = 0, 0.5, ..., 16 s, and the clips' specs); several files are one data
set, their clips in the order given.  --keyframes-only encodes just the
frames stage 1 trains on (t = 0, 4, 8, 12, 16 s) and writes -1 for the
others: train-tiny gives stage 1 four times the clips stage 2 and the VQVAE
see (TINY.md, "Stage 1 on 16000 clips"), and encoding only their keyframes
costs 5 frames of 33.  Every (kept) frame is encoded with the trained VQVAE's
encoder into 8 x 8 image ids; every caption the trainers
use is encoded by the C tokenizer (`cogvideo tokenize`), so that training sees
exactly the ids `cogvideo generate` feeds (pipeline.c):
  first frame:  enc(caption + first_frame_suffix)
  video:        enc(duration) + [<n>] + enc(caption)
  guided video: enc(duration) + [<n>] + enc(caption + guided_suffix), and
                the guider enc(duration) + [<n>] + enc(guider_text)
Writes TOKENS.npz: frames int16 [N, 33, 64]; for each phrasing k of the
caption grammar text_first_k / text_k / text_guided_k int32 [N, 32] (-1
padded); guider (int32, enc(guider_text)); the duration prefixes
dur_<seconds> (int32, with <n> appended); boi, n_id.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'tinydata'))
sys.path.insert(0, HERE)

TEXT_MAX = 32          # TINY.md: layout[0]
FIRST_FRAME_SUFFIX = ' 高清摄影'
DURATION_FORMAT = '{}秒'
GUIDED_SUFFIX = ' 视频'     # the release's, as pipeline_config.c
GUIDER_TEXT = '视频'
SECONDS = (4.0, 2.0, 1.0, 0.5)


def c_tokenize(cogvideo, model, texts, image_tokens):
    """ids of each text, by the C tokenizer (a process per 500 distinct
    texts; captions repeat across clips, so each is tokenized once)."""
    uniq = sorted(set(texts))
    ids = dict(zip(uniq, c_tokenize_all(cogvideo, model, uniq, image_tokens)))
    return [ids[t] for t in texts]


def c_tokenize_all(cogvideo, model, texts, image_tokens):
    out = []
    with tempfile.TemporaryDirectory() as d:
        names = []
        for i, t in enumerate(texts):
            p = os.path.join(d, '%06d.txt' % i)
            with open(p, 'w', encoding='utf-8') as f:
                f.write(t)
            names.append(p)
        step = 500
        for s in range(0, len(names), step):
            r = subprocess.run([cogvideo, 'tokenize', '-m', model, '--json', '--image-tokens', str(image_tokens),
                                '--input'] + names[s:s + step], check=True, capture_output=True, text=True)
            lines = [l for l in r.stdout.splitlines() if l.strip()]
            if len(lines) != len(names[s:s + step]):
                sys.exit('prepare: cogvideo tokenize gave %d lines for %d texts' % (len(lines), len(names[s:s + step])))
            out += [json.loads(l)['ids'] for l in lines]
    return out


def padded(rows):
    a = np.full((len(rows), TEXT_MAX), -1, np.int32)
    for i, r in enumerate(rows):
        if len(r) > TEXT_MAX:
            sys.exit('prepare: a text has %d tokens (limit %d)' % (len(r), TEXT_MAX))
        a[i, :len(r)] = r
    return a


def encode_clips(path, enc, vqvae, every):
    """(ids int16 [N, 33, 64], specs) of one tinydata file; frames 0,
    every, 2 * every, ... are encoded, the others are -1."""
    clips = np.load(path, allow_pickle=False)
    frames = clips['frames']
    n, t = frames.shape[:2]
    ids = np.full((n, t, 64), -1, np.int16)
    k = len(range(0, t, every))
    for i in range(0, n, 64):
        chunk = frames[i:i + 64, ::every].reshape(-1, 64, 64, 3)
        ids[i:i + 64, ::every] = vqvae.encode(chunk, enc).reshape(-1, k, 64)
        print('prepare: %s: encoded %d / %d clips' % (path, min(i + 64, n), n), file=sys.stderr, end='\r')
    print(file=sys.stderr)
    return ids, [json.loads(s) for s in clips['specs']]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--clips', required=True, nargs='+')
    ap.add_argument('--vqvae', required=True, help='directory of the trained VQVAE (tools/train/vqvae.py)')
    ap.add_argument('--tokenizer', required=True, help='tiny.model (SentencePiece, icetk layout)')
    ap.add_argument('--cogvideo', required=True)
    ap.add_argument('--image-tokens', type=int, default=512)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--keyframes-only', action='store_true',
                    help="encode only stage 1's frames (every 8th, from 0); the others are -1")
    ap.add_argument('--out', required=True)
    a = ap.parse_args()

    import torch
    import tinydata
    import vqvae
    torch.set_num_threads(a.threads)

    enc = vqvae.load(a.vqvae)
    parts, specs = [], []
    for path in a.clips:            # one file at a time: each holds ~1.6 GB of frames
        ids, more = encode_clips(path, enc, vqvae, tinydata.KEY_STEP if a.keyframes_only else 1)
        parts.append(ids)
        specs += more
    ids = np.concatenate(parts)
    n, t = ids.shape[:2]

    phrasings = tinydata.PHRASINGS
    caps = [[tinydata.caption(s, p) for p in phrasings] for s in specs]
    flat = [c for row in caps for c in row]
    firsts = c_tokenize(a.cogvideo, a.tokenizer, [c + FIRST_FRAME_SUFFIX for c in flat], a.image_tokens)
    plain = c_tokenize(a.cogvideo, a.tokenizer, flat, a.image_tokens)
    guided = c_tokenize(a.cogvideo, a.tokenizer, [c + GUIDED_SUFFIX for c in flat], a.image_tokens)
    guider = c_tokenize(a.cogvideo, a.tokenizer, [GUIDER_TEXT], a.image_tokens)[0]
    durs = c_tokenize(a.cogvideo, a.tokenizer, [DURATION_FORMAT.format(s) for s in SECONDS], a.image_tokens)
    n_id = a.image_tokens + 4           # <n> is piece 4 (TINY.md)
    import sentencepiece
    boi = a.image_tokens + sentencepiece.SentencePieceProcessor(model_file=a.tokenizer).get_piece_size()
    out = {'frames': ids, 'boi': np.int64(boi), 'n_id': np.int64(n_id),
           'phrasings': np.array(json.dumps(phrasings)), 'specs': np.array(json.dumps(specs))}
    k = len(phrasings)
    for j, p in enumerate(phrasings):
        out['text_first_' + p] = padded(firsts[j::k])
        out['text_' + p] = padded(plain[j::k])
        out['text_guided_' + p] = padded(guided[j::k])
    out['guider'] = np.array(guider, np.int32)
    for s, d in zip(SECONDS, durs):
        out['dur_%s' % s] = np.array(d + [n_id], np.int32)
    longest = max(len(x) for x in plain + guided) + max(len(d) for d in durs) + 1
    if longest > TEXT_MAX:
        sys.exit('prepare: duration + <n> + caption reaches %d tokens (limit %d)' % (longest, TEXT_MAX))
    np.savez(a.out, **out)
    print('prepare: %d clips x %d frames, %d phrasings, longest video text %d tokens, BOI %d -> %s'
          % (n, t, k, longest, boi, a.out), file=sys.stderr)


if __name__ == '__main__':
    main()
