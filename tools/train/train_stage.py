#!/usr/bin/python3
"""train_stage.py — train cogvideo-tiny's stage-1 or stage-2 transformer.

  train_stage.py --stage 1|2 --data TOKENS.npz --out SAT_DIR [--steps N]
                 [--layers L --hidden H --heads A --batch B --lr LR --seed S --threads T]
                 [--motion-weight MOTION=W ...]   (stage 1: draw MOTION's clips W x as often)
                 [--soft-targets D.npy:EPS:TAU]   (stage 2: soft targets, patch_distances.py)
                 [--window W] [--round-weights W1:W2:W3]   (stage 2: Swin window; how often each round is drawn)
                 [--parent-noise D.npy:P:TAU]     (stage 2: swap given tokens for look-alike codes)

TOKENS.npz comes from prepare.py.  The objectives are the original's
(CogVideo paper §3; the sequences are exactly those `cogvideo generate`
builds, golden/README.md "Pipeline sequence layout"):
  stage 1  a) CogView2 mode: enc(caption + " 高清摄影") + BOI + frame(t=0),
              enforce_no_swin;
           b) keyframes: enc("4.0秒") + <n> + enc(caption) + BOI + the frames
              at t = 0, 4, 8, 12, 16 s (frame 0 is given at inference; its loss
              is kept, it costs nothing and helps the image statistics);
              with --guided, the caption is the guided one (+ " 视频", as the
              release's guided stage 1) and, with probability --uncond, the
              text is the guider's ("视频"): classifier-free guidance then
              has an unconditional model to push away from;
  stage 2  one interpolation job of a random round r: parents at spacing
           4/2^r s (model-frames 0..2, time slots 0, 2, 4), the two frames
           between them (slots 1, 3) are the targets; the text's duration is
           the new spacing, 2.0 / 1.0 / 0.5 s.
The forward is cogvideo_torch.forward_teacher: at every position it equals
what the cached inference computes, so the loss trains exactly the
conditionals the sampler draws from.  Deterministic for a seed and thread
count.  Writes SAT_DIR (model_config.json, latest, 1/mp_rank_00_model_states.pt).
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, '..', 'tinydata'))
import cogvideo_torch  # noqa: E402
from tinydata import KEY_STEP, MOTIONS  # noqa: E402

FRAME = 64            # tokens per frame (8 x 8)


class Batches:
    """Draws training sequences from TOKENS.npz with a seeded numpy RNG."""

    def __init__(self, path, rng, guided=False, uncond=0.0, motion_weight=None, round_p=None, noise=None):
        d = np.load(path, allow_pickle=False)
        self.frames = d['frames'].astype(np.int64)
        # Keyframe clips drawn in proportion to their motion's weight (None:
        # uniformly, with rng.integers as before, so old recipes replay).
        self.p = None
        if motion_weight:
            w = np.array([motion_weight.get(s['motion'], 1.0) for s in json.loads(str(d['specs']))])
            self.p = w / w.sum()
        self.boi = int(d['boi'])
        self.phrasings = json.loads(str(d['phrasings']))
        self.text = {p: d['text_' + p] for p in self.phrasings}
        self.first = {p: d['text_first_' + p] for p in self.phrasings}
        self.dur = {k[4:]: d[k].astype(np.int64) for k in d.files if k.startswith('dur_')}
        self.rng = rng
        self.round_p = round_p          # None: rounds drawn uniformly (rng.integers, as before)
        self.noise = noise              # None, or (P, row-wise CDF [V, V]): --parent-noise
        self.uncond = uncond
        self.video = self.text
        if guided:
            self.video = {p: d['text_guided_' + p] for p in self.phrasings}
            self.guider = d['guider'].astype(np.int64)

    def _caption(self, table, i):
        p = self.phrasings[self.rng.integers(len(self.phrasings))]
        row = table[p][i]
        return row[row >= 0].astype(np.int64)

    def _pack(self, rows, tls):
        L = max(len(r) for r in rows)
        seq = torch.full((len(rows), L), -1, dtype=torch.long)
        for b, r in enumerate(rows):
            seq[b, :len(r)] = torch.from_numpy(r)
        return seq, torch.tensor(tls, dtype=torch.long)

    def _batch(self, B, one, p=None):
        """B sequences text + BOI + frames; one(i) gives clip i's text ids
        and the indices of its frames (in model-frame order); clips drawn
        with probabilities p, or uniformly."""
        rows, tls = [], []
        for _ in range(B):
            if p is None:
                i = self.rng.integers(len(self.frames))
            else:
                i = self.rng.choice(len(self.frames), p=p)
            text, times = one(i)
            rows.append(np.concatenate([text, [self.boi]] + [self.frames[i, k] for k in times]))
            tls.append(len(text))
        return self._pack(rows, tls)

    def first_frame(self, B):
        return self._batch(B, lambda i: (self._caption(self.first, i), [0]))

    def _keyframe_text(self, i):
        if self.uncond > 0 and self.rng.random() < self.uncond:
            return self.guider
        return self._caption(self.video, i)

    def keyframes(self, B):
        return self._batch(B, lambda i: (np.concatenate([self.dur['4.0'], self._keyframe_text(i)]),
                                         [k * KEY_STEP for k in range(5)]), self.p)

    def _interpolation_job(self, i):
        r = self.rng.integers(3) if self.round_p is None else self.rng.choice(3, p=self.round_p)  # round 0, 1, 2
        sp = KEY_STEP >> r                         # parent spacing, 0.5-s units
        a = 2 * sp * self.rng.integers(2 << r)     # triple j of 2, 4, 8: (F[2j], F[2j+1], F[2j+2])
        text = np.concatenate([self.dur[str(sp / 4.0)], self._caption(self.text, i)])
        return text, [a, a + sp, a + 2 * sp, a + sp // 2, a + 3 * sp // 2]

    def interpolation(self, B):
        seq, tl = self._batch(B, self._interpolation_job)
        if self.noise is not None:
            self._swap_parents(seq, tl)
        return seq, tl

    def _swap_parents(self, seq, tl):
        """--parent-noise: each token of the three given frames is, with
        probability P, replaced by another code drawn from softmax(-D[t] /
        TAU) over the codes != t.  Why: at inference the parents of round 1
        are stage 1's keyframes, whose edges are a little off where the
        training clips' are exact; stage 2 should interpolate the object
        they show, not copy their flaws."""
        P, cum = self.noise
        for b in range(seq.shape[0]):
            s = int(tl[b]) + 1
            given = seq[b, s:s + 3 * FRAME].numpy()
            hit = np.flatnonzero(self.rng.random(given.shape[0]) < P)
            u = self.rng.random(len(hit))
            new = (cum[given[hit]] < u[:, None]).sum(1)
            seq[b, s + hit] = torch.from_numpy(np.minimum(new, cum.shape[1] - 1))


def loss_of(model, seq, tl, mode, first_frame, n_frames, weight=None, soft=None):
    """Mean cross-entropy of the frame tokens seq[p + 1] predicted at model
    positions p = tl + 64 f + j, for model-frames f >= first_frame; with
    weight(seq, tl, tgt) -> [B, T], the weighted mean; with soft [V, V], the
    mean cross-entropy against the target rows soft[t] instead."""
    logits = model.forward_teacher(seq, tl, mode)
    B = seq.shape[0]
    j = torch.arange(FRAME * (n_frames - first_frame))
    pos = tl[:, None] + FRAME * first_frame + j[None, :]           # [B, T]
    lg = logits[torch.arange(B)[:, None], pos]                     # [B, T, V]
    tgt = seq[torch.arange(B)[:, None], pos + 1]
    if soft is not None:
        # soft [V, V]: row t = the target distribution for token t (a mix of
        # t itself and the codes whose mean pixel patch looks like t's).
        lp = torch.log_softmax(lg.reshape(-1, lg.shape[-1]), dim=-1)
        return -(soft[tgt.reshape(-1)] * lp).sum(-1).mean()
    if weight is None:
        return torch.nn.functional.cross_entropy(lg.reshape(-1, lg.shape[-1]), tgt.reshape(-1))
    ce = torch.nn.functional.cross_entropy(lg.reshape(-1, lg.shape[-1]), tgt.reshape(-1), reduction='none')
    w = weight(seq, tl, tgt).reshape(-1)
    return (ce * w).sum() / w.sum()


def changed_weight(k):
    """Stage-2 token weights: 1 + k where the target token differs from both
    parents' tokens at its grid position (model-frame 3 lies between
    model-frames 0 and 1, model-frame 4 between 1 and 2).  Those tokens
    carry the object's new position; the others can be copied."""
    def weight(seq, tl, tgt):
        B = seq.shape[0]
        start = tl[:, None] + 1 + torch.arange(3)[None, :] * FRAME     # the parents' first tokens
        par = torch.stack([seq[torch.arange(B)[:, None], start[:, f:f + 1] + torch.arange(FRAME)[None, :]]
                           for f in range(3)], 1)                       # [B, 3, 64]
        t = tgt.reshape(B, 2, FRAME)
        lo, hi = par[:, 0:2], par[:, 1:3]
        changed = (t != lo) & (t != hi)
        return (1.0 + k * changed.float()).reshape(B, -1)
    return weight


def distance_spec(ap, flag, x, spec, n_codes=512):
    """FLAG D.npy:X:TAU -> (D [n_codes, n_codes] float64, X, TAU), with
    0 <= X <= 1 and TAU > 0; argparse errors naming the flag otherwise."""
    try:
        f, xs, t = spec.rsplit(':', 2)
        xv, tau = float(xs), float(t)
    except ValueError:
        ap.error('%s %s: expected D.npy:%s:TAU' % (flag, spec, x))
    if not (0 <= xv <= 1 and tau > 0):
        ap.error('%s %s: expected 0 <= %s <= 1 and TAU > 0' % (flag, spec, x))
    try:
        d = np.load(f).astype(np.float64)
    except (OSError, ValueError) as e:
        ap.error('%s %s: cannot read %s (%s)' % (flag, spec, f, e))
    if d.shape != (n_codes, n_codes):
        ap.error('%s %s: D is %s, expected [%d, %d]' % (flag, spec, tuple(d.shape), n_codes, n_codes))
    return d, xv, tau


def soft_targets(ap, spec, n_codes=512):
    """--soft-targets D.npy:EPS:TAU -> [n_codes, n_codes] target rows
    (1 - EPS) one-hot(t) + EPS softmax(-D[t] / TAU); D from
    patch_distances.py (mean squared difference of the codes' pixel
    patches).  The ninth version's stage 2 (TINY.md, "Soft targets and a
    larger stage-2 learning rate")."""
    d, eps, tau = distance_spec(ap, '--soft-targets', 'EPS', spec, n_codes)
    d = torch.from_numpy(d)
    return ((1 - eps) * torch.eye(n_codes, dtype=torch.float64) + eps * torch.softmax(-d / tau, dim=1)).float()


def parent_noise(ap, spec, n_codes=512):
    """--parent-noise D.npy:P:TAU -> (P, CDF rows of softmax(-D[t] / TAU)
    with the diagonal removed)."""
    d, p, tau = distance_spec(ap, '--parent-noise', 'P', spec, n_codes)
    np.fill_diagonal(d, np.inf)
    w = np.exp(-(d - d.min(1, keepdims=True)) / tau)
    return p, np.cumsum(w / w.sum(1, keepdims=True), axis=1)


def step_loss(model, data, stage, B, weight=None, soft=None):
    """The objective of one training step (a fresh batch from data)."""
    if stage == 1:
        seq, tl = data.keyframes(B)
        loss = loss_of(model, seq, tl, 's1-video', 0, 5)
        seq, tl = data.first_frame(B)
        return loss + loss_of(model, seq, tl, 's1-first', 0, 1)
    seq, tl = data.interpolation(B)
    return loss_of(model, seq, tl, 's2-interp', 3, 5, weight, soft)


def val_loss(model, path, stage, B, guided, n=8):
    """Mean objective over n fixed batches (their own RNG, seed 12345): the
    same figure for every recipe, to compare runs (the clips are training
    clips; the held-out combinations are measured by tools/eval_tiny)."""
    data = Batches(path, np.random.default_rng(12345), guided)
    with torch.no_grad():
        return sum(step_loss(model, data, stage, B).item() for _ in range(n)) / n


def config(a, vocab):
    stage2 = a.stage == 2
    return {
        'num_layers': a.layers, 'hidden_size': a.hidden, 'num_attention_heads': a.heads,
        'vocab_size': vocab, 'max_sequence_length': 96, 'additional_seqlen': 256,
        'layout': [32, 96, 352], 'cogvideo_stage': a.stage, 'window_size': (a.window or 4) if stage2 else -1,
        'image_tokens': 512, 'frame_grid': [8, 8], 'frame_pos_offset': 32, 'extra_pos_offset': 96,
        'attention_plus': 'swin' if stage2 else 'full',
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--stage', type=int, choices=(1, 2), required=True)
    ap.add_argument('--data', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--steps', type=int, default=3000)
    ap.add_argument('--layers', type=int, default=4)
    ap.add_argument('--hidden', type=int, default=256)
    ap.add_argument('--heads', type=int, default=8)
    ap.add_argument('--batch', type=int, default=8)
    ap.add_argument('--window', type=int, choices=(1, 2, 4, 8),
                    help='stage 2: Swin window, a divisor of the 8x8 grid (default 4; shift = window / 2)')
    ap.add_argument('--lr', type=float, default=1e-3)
    ap.add_argument('--warmup', type=int, default=100)
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--guided', action='store_true', help='stage 1: train for classifier-free guidance')
    ap.add_argument('--uncond', type=float, default=0.1, help='with --guided: share of guider-text keyframe sequences')
    ap.add_argument('--changed-weight', type=float, default=0.0, metavar='K',
                    help='stage 2: weight 1 + K on target tokens that differ from both parents\' (default 0)')
    ap.add_argument('--motion-weight', action='append', default=[], metavar='MOTION=W',
                    help='stage 1: draw keyframe clips of MOTION W times as often (repeatable; default 1 each)')
    ap.add_argument('--soft-targets', metavar='D.npy:EPS:TAU',
                    help='stage 2: targets (1-EPS) one-hot + EPS softmax(-D[t]/TAU), D [V, V] the codes\' patch distances')
    ap.add_argument('--round-weights', metavar='W1:W2:W3',
                    help='stage 2: draw interpolation rounds 1, 2, 3 in these proportions (default equally)')
    ap.add_argument('--parent-noise', metavar='D.npy:P:TAU',
                    help='stage 2: replace each given-frame token, with probability P, by a look-alike code '
                         '(softmax(-D[t]/TAU) over the others)')
    ap.add_argument('--init', metavar='SAT_DIR', help='start from this checkpoint (same sizes) instead of random weights')
    a = ap.parse_args()
    if a.guided and a.stage != 1:
        ap.error('--guided is for stage 1 (the release guides stage 1 only)')
    if a.changed_weight and a.stage != 2:
        ap.error('--changed-weight is for stage 2 (its targets lie between parents)')
    if a.changed_weight < 0:
        ap.error('--changed-weight %g: expected K >= 0' % a.changed_weight)

    mw = {}
    for item in a.motion_weight:
        m, _, w = item.partition('=')
        try:
            mw[m] = float(w)
        except ValueError:
            ap.error('--motion-weight %s: expected MOTION=W, W a number' % item)
        if m not in MOTIONS or not 0 < mw[m] < math.inf:
            ap.error('--motion-weight %s: expected one of %s and a finite W > 0' % (item, ', '.join(MOTIONS)))
    if a.window and a.stage != 2:
        ap.error('--window is for stage 2 (stage 1 attends to all earlier frames)')
    if mw and a.stage != 1:
        ap.error('--motion-weight is for stage 1 (its keyframes carry the motion)')
    if a.soft_targets and a.stage != 2:
        ap.error('--soft-targets is for stage 2')
    if a.soft_targets and a.changed_weight:
        ap.error('--soft-targets and --changed-weight: choose one (the soft loss has no token weights)')
    soft = soft_targets(ap, a.soft_targets) if a.soft_targets else None
    round_p = None
    if a.round_weights:
        try:
            rw = [float(x) for x in a.round_weights.split(':')]
        except ValueError:
            rw = []
        if len(rw) != 3 or not all(0 <= x < math.inf for x in rw) or sum(rw) <= 0:
            ap.error('--round-weights %s: expected W1:W2:W3, three finite weights >= 0, not all 0' % a.round_weights)
        if a.stage != 2:
            ap.error('--round-weights is for stage 2')
        round_p = np.array(rw) / sum(rw)

    if a.parent_noise and a.stage != 2:
        ap.error('--parent-noise is for stage 2 (its given frames are parents)')
    noise = parent_noise(ap, a.parent_noise) if a.parent_noise else None

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    data = Batches(a.data, np.random.default_rng(a.seed), a.guided, a.uncond if a.guided else 0.0, mw, round_p, noise)
    need = data.frames if a.stage == 2 else data.frames[:, ::KEY_STEP]
    if (need < 0).any():        # prepare.py --keyframes-only writes -1 for frames it skipped
        ap.error('--data %s: frames stage %d trains on are not encoded (prepare.py --keyframes-only '
                 'encodes stage 1\'s only)' % (a.data, a.stage))
    vocab = data.boi + 10                                          # TINY.md: 512 + P + 10
    cfg = config(a, vocab)
    model = cogvideo_torch.CogVideoTorch(cfg)
    if a.init:
        init, icfg = cogvideo_torch.load_sat(a.init)
        if any(icfg[k] != cfg[k] for k in ('num_layers', 'hidden_size', 'num_attention_heads', 'vocab_size')):
            ap.error('--init %s: its sizes differ from --layers/--hidden/--heads or the vocabulary' % a.init)
        model.load_state_dict(init.state_dict())
        model.train()
    n_par = sum(p.numel() for p in model.parameters())
    print('stage %d: %d layers, hidden %d, %d heads, vocab %d: %.2f M parameters'
          % (a.stage, a.layers, a.hidden, a.heads, vocab, n_par / 1e6), file=sys.stderr)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    other = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{'params': decay, 'weight_decay': 0.01}, {'params': other, 'weight_decay': 0.0}],
                            lr=a.lr, betas=(0.9, 0.95))
    weight = changed_weight(a.changed_weight) if a.changed_weight > 0 else None      # stage 2 only (checked above)
    t0, avg = time.time(), None
    for step in range(a.steps):
        lr = a.lr * min(1.0, (step + 1) / a.warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / a.steps)))
        for g in opt.param_groups:
            g['lr'] = lr
        loss = step_loss(model, data, a.stage, a.batch, weight, soft)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        avg = loss.item() if avg is None else 0.98 * avg + 0.02 * loss.item()
        if step % 50 == 0 or step == a.steps - 1:
            el = time.time() - t0
            eta = el / (step + 1) * (a.steps - step - 1)
            print('stage %d step %d/%d loss %.4f lr %.2e  %.0f s, ETA %.0f s'
                  % (a.stage, step, a.steps, avg, lr, el, eta), file=sys.stderr, flush=True)
    cogvideo_torch.save_sat(model, cfg, a.out)
    train_s = time.time() - t0
    print('stage %d: saved %s after %.0f s, loss %.4f, validation loss %.4f'
          % (a.stage, a.out, train_s, avg, val_loss(model, a.data, a.stage, a.batch, a.guided)), file=sys.stderr)


if __name__ == '__main__':
    main()
