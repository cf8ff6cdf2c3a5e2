#!/usr/bin/python3
"""tinydata — procedural clips of one moving shape for cogvideo-tiny (issue 7).

Numbers from tools/train/TINY.md: 64 x 64 RGB frames, a clip lasts 16 s,
the dataset stores 33 frames at t = 0, 0.5, ..., 16 s.  Every frame is
rendered anti-aliased (4 x 4 supersampling) at its exact time stamp, so any
duration of the frame-rate prefix (4.0 / 2.0 / 1.0 / 0.5 s) has true frames.

Module API (numpy + stdlib only):
  sample_spec(rng, split='train')      -> dict   split: 'train' | 'heldout' | 'any'
  render(spec, times)                  -> np.uint8 [T, 64, 64, 3]
  caption(spec, phrasing='canonical', rng=None) -> str
        phrasing: 'canonical' | 'moving' | 'list' | 'zh' | 'random' (rng picks)
  parse_caption(text)                  -> dict (shape, colour, background|None,
                                            motion, size|None, phrasing) or None
  is_heldout(spec) -> bool;  HELDOUT: list of attribute dicts
  write_dataset(path, n_clips, seed, split='train') -> dict (npz written)
  write_png(path, rgb_uint8_HxWx3)
CLI:
  tinydata.py --clips N --seed S --split train --out FILE.npz
  tinydata.py --preview DIR [--clips N] [--seed S] [--split any]
  tinydata.py --self-test
"""
import argparse
import json
import os
import re
import struct
import sys
import time
import zlib

import numpy as np

SIZE = 64                       # frame width = height (pixels)
CLIP_SECONDS = 16.0
TIMES = np.arange(33) * 0.5     # the dataset's frame times: 0, 0.5, ..., 16
KEY_STEP = 8                    # frames between keyframes: 4 s at the 0.5 s spacing
SS = 4                          # supersampling factor per axis

SHAPES = ('circle', 'square', 'triangle')
COLOURS = {                     # object colours (flat RGB)
    'red': (220, 30, 30),
    'green': (30, 170, 50),
    'blue': (30, 70, 230),
    'yellow': (245, 215, 20),
    'purple': (150, 50, 190),
    'orange': (250, 130, 10),
}
BACKGROUNDS = {
    'white': (255, 255, 255),
    'black': (0, 0, 0),
    'gray': (128, 128, 128),
}
MOTIONS = ('left', 'right', 'up', 'down', 'diagonal', 'grow', 'shrink', 'still')
TRANSLATIONS = ('left', 'right', 'up', 'down', 'diagonal')
SIZES = (None, 'small', 'large')

# Geometry (pixel units; the frame spans [0, 64], its centre is 32).
HALF = {None: 10.0, 'small': 7.0, 'large': 13.0}   # half-extent of the shape
TRAVEL = 17.0          # left/right/up/down: centre goes from 32 -+ 17 to 32 +- 17 (34 px)
DIAG_TRAVEL = 15.0     # diagonal: top-left (17, 17) -> bottom-right (47, 47)
CROSS_JITTER = 5.0     # uniform offset across the motion (left/right/up/down)
DIAG_JITTER = 2.0      # offset perpendicular to the diagonal
STILL_JITTER = 6.0     # still: centre offset on both axes
GROW = (6.0, 14.0)     # grow: half-extent 6 -> 14; shrink: 14 -> 6
GROW_JITTER = 5.0      # grow/shrink: centre offset on both axes

# Held-out attribute combinations: a spec matching any entry is never in 'train'.
HELDOUT = [
    {'colour': 'green', 'shape': 'triangle'},
    {'colour': 'orange', 'motion': 'down'},
]

# ---------------------------------------------------------------- captions
EN_MOVES = {'left': 'moves left', 'right': 'moves right', 'up': 'moves up', 'down': 'moves down',
            'diagonal': 'moves diagonally', 'grow': 'grows', 'shrink': 'shrinks', 'still': 'stays still'}
EN_MOVING = {'left': 'moving left', 'right': 'moving right', 'up': 'moving up', 'down': 'moving down',
             'diagonal': 'moving diagonally', 'grow': 'growing', 'shrink': 'shrinking', 'still': 'staying still'}
ZH_COLOURS = {'red': '红色', 'green': '绿色', 'blue': '蓝色', 'yellow': '黄色', 'purple': '紫色', 'orange': '橙色'}
ZH_BACKGROUNDS = {'white': '白色', 'black': '黑色', 'gray': '灰色'}
ZH_SHAPES = {'circle': '圆形', 'square': '正方形', 'triangle': '三角形'}
ZH_SIZES = {'small': '小', 'large': '大'}
ZH_MOVES = {'left': '向左移动', 'right': '向右移动', 'up': '向上移动', 'down': '向下移动',
            'diagonal': '沿对角线移动', 'grow': '变大', 'shrink': '变小', 'still': '静止不动'}
PHRASINGS = ('canonical', 'moving', 'list', 'zh')


def is_heldout(spec):
    return any(all(spec.get(k) == v for k, v in h.items()) for h in HELDOUT)


def _article(next_word):
    return 'an' if next_word[0] in 'aeiou' else 'a'


def caption(spec, phrasing='canonical', rng=None):
    """Caption of a spec.  'canonical': "a [small|large] COLOUR SHAPE MOVES on a
    BACKGROUND background" (MOVES: moves left/right/up/down/diagonally, grows,
    shrinks, stays still; "an" before "orange"); 'moving': "a [size] COLOUR SHAPE
    moving left" (no background); 'list': "[size] COLOUR SHAPE, BACKGROUND
    background, moving left"; 'zh': "一个[小的|大的]COLOUR_ZH SHAPE_ZH在BG_ZH背景上MOVE_ZH".
    'random' (or None): phrasing chosen by rng (a numpy Generator)."""
    if phrasing in (None, 'random'):
        rng = rng if rng is not None else np.random.default_rng()
        phrasing = PHRASINGS[int(rng.integers(len(PHRASINGS)))]
    size, col, shp, bg, mot = spec['size'], spec['colour'], spec['shape'], spec['background'], spec['motion']
    noun = ' '.join(w for w in (size, col, shp) if w)
    if phrasing == 'canonical':
        return '%s %s %s on a %s background' % (_article(noun), noun, EN_MOVES[mot], bg)
    if phrasing == 'moving':
        return '%s %s %s' % (_article(noun), noun, EN_MOVING[mot])
    if phrasing == 'list':
        return '%s, %s background, %s' % (noun, bg, EN_MOVING[mot])
    if phrasing == 'zh':
        sz = ZH_SIZES[size] + '的' if size else ''
        return '一个%s%s%s在%s背景上%s' % (sz, ZH_COLOURS[col], ZH_SHAPES[shp], ZH_BACKGROUNDS[bg], ZH_MOVES[mot])
    raise ValueError('unknown phrasing %r' % (phrasing,))


def _alt(words):
    return '(' + '|'.join(re.escape(w) for w in sorted(words, key=len, reverse=True)) + ')'


def _inv(d):
    return {v: k for k, v in d.items()}


_COL, _SHP, _BG = _alt(COLOURS), _alt(SHAPES), _alt(BACKGROUNDS)
_PARSERS = [
    ('canonical', re.compile(r'^an? (?:(small|large) )?%s %s %s on an? %s background$'
                             % (_COL, _SHP, _alt(EN_MOVES.values()), _BG)), _inv(EN_MOVES)),
    ('moving', re.compile(r'^an? (?:(small|large) )?%s %s %s$' % (_COL, _SHP, _alt(EN_MOVING.values()))),
     _inv(EN_MOVING)),
    ('list', re.compile(r'^(?:(small|large) )?%s %s, %s background, %s$'
                        % (_COL, _SHP, _BG, _alt(EN_MOVING.values()))), _inv(EN_MOVING)),
]
_ZH = re.compile(r'^一个(?:(小|大)的?)?%s的?%s在%s背景上%s$'
                 % (_alt(ZH_COLOURS.values()), _alt(ZH_SHAPES.values()), _alt(ZH_BACKGROUNDS.values()),
                    _alt(ZH_MOVES.values())))


def parse_caption(text):
    """Attributes a caption asks for: dict(shape, colour, background (None if
    the phrasing has none), motion, size (None = default), phrasing), or None
    if the text is not in the grammar.  Case, surrounding blanks, repeated
    blanks and a final "." are ignored; "gray"/"grey" both accepted."""
    t = ' '.join(text.strip().rstrip('.。').split())
    zt = t.replace(' ', '')
    m = _ZH.match(zt)
    if m:
        size, col, shp, bg, mot = m.groups()
        return {'shape': _inv(ZH_SHAPES)[shp], 'colour': _inv(ZH_COLOURS)[col],
                'background': _inv(ZH_BACKGROUNDS)[bg], 'motion': _inv(ZH_MOVES)[mot],
                'size': {'小': 'small', '大': 'large'}.get(size), 'phrasing': 'zh'}
    t = t.lower().replace('grey', 'gray')
    for name, rx, moves in _PARSERS:
        m = rx.match(t)
        if not m:
            continue
        g = m.groups()
        if name == 'canonical':
            size, col, shp, mot, bg = g
        elif name == 'moving':
            size, col, shp, mot = g
            bg = None
        else:
            size, col, shp, bg, mot = g
        return {'shape': shp, 'colour': col, 'background': bg, 'motion': moves[mot], 'size': size,
                'phrasing': name}
    return None


# ---------------------------------------------------------------- specs
def _pick(rng, seq):
    return seq[int(rng.integers(len(seq)))]


def _place(spec, rng):
    """Start/end centre and half-extent from the motion, size and a small
    random offset across the motion (floats, JSON-friendly)."""
    mot, c = spec['motion'], SIZE / 2.0
    h = HALF[spec['size']]
    h0 = h1 = h
    if mot in ('left', 'right', 'up', 'down'):
        off = float(rng.uniform(-CROSS_JITTER, CROSS_JITTER))
        a, b = c - TRAVEL, c + TRAVEL
        if mot in ('left', 'up'):
            a, b = b, a
        if mot in ('left', 'right'):
            x0, x1, y0, y1 = a, b, c + off, c + off
        else:
            x0, x1, y0, y1 = c + off, c + off, a, b
    elif mot == 'diagonal':
        off = float(rng.uniform(-DIAG_JITTER, DIAG_JITTER))
        x0, y0 = c - DIAG_TRAVEL + off, c - DIAG_TRAVEL - off
        x1, y1 = c + DIAG_TRAVEL + off, c + DIAG_TRAVEL - off
    else:
        j = STILL_JITTER if mot == 'still' else GROW_JITTER
        x0 = x1 = c + float(rng.uniform(-j, j))
        y0 = y1 = c + float(rng.uniform(-j, j))
        if mot == 'grow':
            h0, h1 = GROW
        elif mot == 'shrink':
            h1, h0 = GROW
    spec.update(x0=x0, y0=y0, x1=x1, y1=y1, h0=h0, h1=h1)
    return spec


def sample_spec(rng, split='train'):
    """A random clip spec (rng: numpy Generator).  Keys: shape, colour,
    background, motion, size ('small'|'large'|None; always None for grow /
    shrink), x0 y0 x1 y1 (object centre at t=0 and t=16 s), h0 h1 (half-extent
    at t=0 / t=16).  split 'train' never yields a HELDOUT combination,
    'heldout' yields only those, 'any' both."""
    if split not in ('train', 'heldout', 'any'):
        raise ValueError('split must be train, heldout or any')
    while True:
        spec = {'shape': _pick(rng, SHAPES), 'colour': _pick(rng, list(COLOURS)),
                'background': _pick(rng, list(BACKGROUNDS)), 'motion': _pick(rng, MOTIONS)}
        spec['size'] = None if spec['motion'] in ('grow', 'shrink') else _pick(rng, SIZES)
        h = is_heldout(spec)
        if split == 'any' or (split == 'train') != h:
            return _place(spec, rng)


def spec_from_attrs(attrs, rng=None):
    """A renderable spec for parsed caption attributes (background None ->
    white); the offsets come from rng (None: no offset, the centred path)."""
    spec = {k: attrs.get(k) for k in ('shape', 'colour', 'background', 'motion', 'size')}
    if spec['background'] is None:
        spec['background'] = 'white'
    if spec['motion'] in ('grow', 'shrink'):
        spec['size'] = None

    class _Zero:
        def uniform(self, lo, hi):
            return 0.0
    return _place(spec, rng if rng is not None else _Zero())


# ---------------------------------------------------------------- rendering
_SUB = (np.arange(SIZE * SS, dtype=np.float32) + 0.5) / SS   # sub-sample centres (pixel units)


def _coverage(shape, cx, cy, h):
    """Fraction of each pixel covered by the shape, float32 [64, 64]."""
    x = _SUB[None, :] - np.float32(cx)
    y = _SUB[:, None] - np.float32(cy)
    if shape == 'circle':
        m = x * x + y * y <= np.float32(h * h)
    elif shape == 'square':
        m = (np.abs(x) <= h) & (np.abs(y) <= h)
    elif shape == 'triangle':   # apex up at (cx, cy-h), base y = cy+h from cx-h to cx+h
        m = (y <= h) & (np.abs(x) <= (y + np.float32(h)) * np.float32(0.5))
    else:
        raise ValueError('unknown shape %r' % (shape,))
    return m.reshape(SIZE, SS, SIZE, SS).mean(axis=(1, 3), dtype=np.float32)


def state(spec, t):
    """(cx, cy, h) at time t seconds (linear from t=0 to t=16, clamped)."""
    u = min(max(float(t) / CLIP_SECONDS, 0.0), 1.0)
    return (spec['x0'] + (spec['x1'] - spec['x0']) * u, spec['y0'] + (spec['y1'] - spec['y0']) * u,
            spec['h0'] + (spec['h1'] - spec['h0']) * u)


def render(spec, times=TIMES):
    """Frames of a spec at the given times (seconds, 0..16): uint8 [T, 64, 64, 3]."""
    bg = np.array(BACKGROUNDS[spec['background']], np.float32)
    fg = np.array(COLOURS[spec['colour']], np.float32)
    out = np.empty((len(times), SIZE, SIZE, 3), np.uint8)
    for i, t in enumerate(times):
        a = _coverage(spec['shape'], *state(spec, t))[..., None]
        out[i] = np.rint(bg + (fg - bg) * a).astype(np.uint8)
    return out


# ---------------------------------------------------------------- dataset
def clip_rng(seed, i):
    return np.random.default_rng([int(seed), int(i)])


def write_dataset(path, n_clips, seed, split='train', times=TIMES, progress=False):
    """npz (compressed): frames uint8 [N, 33, 64, 64, 3] at t = 0, 0.5, ..., 16;
    times float32 [33]; specs (JSON str per clip); captions (canonical);
    captions_all (JSON {phrasing: caption} per clip).  Clip i depends only on
    (seed, i), so the file is deterministic for a seed.  Returns a summary."""
    t0 = time.time()
    frames = np.empty((n_clips, len(times), SIZE, SIZE, 3), np.uint8)
    specs, caps, alls = [], [], []
    for i in range(n_clips):
        spec = sample_spec(clip_rng(seed, i), split)
        frames[i] = render(spec, times)
        specs.append(json.dumps(spec, sort_keys=True))
        caps.append(caption(spec, 'canonical'))
        alls.append(json.dumps({p: caption(spec, p) for p in PHRASINGS}, ensure_ascii=False, sort_keys=True))
        if progress and (i + 1) % 500 == 0:
            print('%d/%d clips, %.1f s' % (i + 1, n_clips, time.time() - t0), file=sys.stderr)
    t_render = time.time() - t0
    np.savez_compressed(path, frames=frames, times=np.asarray(times, np.float32), specs=np.array(specs),
                        captions=np.array(caps), captions_all=np.array(alls))
    return {'clips': n_clips, 'render_seconds': t_render, 'total_seconds': time.time() - t0}


# ---------------------------------------------------------------- PNG
def write_png(path, rgb):
    """Minimal PNG writer: 8-bit RGB, filter 0, zlib (stdlib)."""
    rgb = np.ascontiguousarray(rgb, np.uint8)
    h, w = rgb.shape[:2]
    raw = b''.join(b'\x00' + rgb[y].tobytes() for y in range(h))

    def chunk(tag, data):
        return struct.pack('>I', len(data)) + tag + data + struct.pack('>I', zlib.crc32(tag + data) & 0xffffffff)
    with open(path, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0))
                + chunk(b'IDAT', zlib.compress(raw, 9)) + chunk(b'IEND', b''))


def write_preview(outdir, n_clips, seed, split='any', scale=2):
    """For each clip: DIR/clipNN.png = the 5 keyframes (t = 0, 4, 8, 12, 16)
    side by side, scaled; DIR/clipNN_tXX.X.png single frames at t = 0, 0.5,
    1, 2, 4 s; DIR/captions.txt = all phrasings."""
    os.makedirs(outdir, exist_ok=True)
    lines = []
    for i in range(n_clips):
        spec = sample_spec(clip_rng(seed, i), split)
        keys = render(spec, [0, 4, 8, 12, 16])
        sheet = np.concatenate([np.pad(k, ((2, 2), (2, 2), (0, 0)), constant_values=90) for k in keys], axis=1)
        write_png(os.path.join(outdir, 'clip%02d.png' % i), sheet.repeat(scale, 0).repeat(scale, 1))
        for t, f in zip((0, 0.5, 1, 2, 4), render(spec, (0, 0.5, 1, 2, 4))):
            write_png(os.path.join(outdir, 'clip%02d_t%04.1f.png' % (i, t)), f)
        lines.append('clip%02d%s\t%s' % (i, ' [heldout]' if is_heldout(spec) else '',
                                         ' | '.join(caption(spec, p) for p in PHRASINGS)))
    with open(os.path.join(outdir, 'captions.txt'), 'w', encoding='utf-8') as f:
        f.write('\n'.join(lines) + '\n')


def self_test(n=2000, seed=0):
    """Round trips and invariants; returns a list of failures (empty = ok)."""
    bad = []
    rng = np.random.default_rng(seed)
    for i in range(n):
        split = ('train', 'heldout', 'any')[i % 3]
        spec = sample_spec(rng, split)
        if split != 'any' and is_heldout(spec) != (split == 'heldout'):
            bad.append('split %s gave %s' % (split, spec))
        for t in (0.0, CLIP_SECONDS):
            cx, cy, h = state(spec, t)
            if min(cx - h, cy - h) < 0 or max(cx + h, cy + h) > SIZE:
                bad.append('outside the frame at t=%g: %s' % (t, spec))
        for ph in PHRASINGS:
            c = caption(spec, ph)
            p = parse_caption(c)
            want = {k: spec[k] for k in ('shape', 'colour', 'motion', 'size')}
            want.update(background=None if ph == 'moving' else spec['background'], phrasing=ph)
            if p != want:
                bad.append('parse_caption(%r) = %s, expected %s' % (c, p, want))
    a = render(sample_spec(np.random.default_rng(1)), TIMES)
    b = render(sample_spec(np.random.default_rng(1)), TIMES)
    if a.shape != (33, SIZE, SIZE, 3) or a.dtype != np.uint8 or not np.array_equal(a, b):
        bad.append('render: shape %s dtype %s or not deterministic' % (a.shape, a.dtype))
    return bad


def main(argv=None):
    ap = argparse.ArgumentParser(description='cogvideo-tiny procedural clips (see tools/tinydata/README)')
    ap.add_argument('--clips', type=int, default=None, help='number of clips (default 3000; 8 with --preview)')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--split', choices=('train', 'heldout', 'any'), default=None,
                    help="default 'train' (or 'any' with --preview)")
    ap.add_argument('--out', help='output .npz')
    ap.add_argument('--preview', metavar='DIR', help='write PNG previews instead of a dataset')
    ap.add_argument('--self-test', action='store_true', help='check captions, splits, geometry; exit 1 on failure')
    a = ap.parse_args(argv)
    if a.self_test:
        bad = self_test()
        print('\n'.join(bad[:20]) if bad else 'tinydata self-test: ok')
        sys.exit(1 if bad else 0)
    if a.preview:
        write_preview(a.preview, a.clips or 8, a.seed, a.split or 'any')
        print('wrote', a.preview)
        return
    if not a.out:
        ap.error('--out FILE.npz (or --preview DIR) is required')
    r = write_dataset(a.out, a.clips or 3000, a.seed, a.split or 'train', progress=True)
    print('wrote %s: %d clips, render %.1f s (%.2f ms/clip), total %.1f s'
          % (a.out, r['clips'], r['render_seconds'], 1000 * r['render_seconds'] / max(r['clips'], 1),
             r['total_seconds']))


if __name__ == '__main__':
    main()
