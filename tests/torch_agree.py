"""torch_agree.py -- the PyTorch side of tests/test_torch_agree.sh (issue 7:
"C logits equal PyTorch logits on the exported checkpoints within 1e-4").

  torch_agree.py make DIR
      random stage-1 and stage-2 models of the cogvideo-tiny geometry
      (tools/train/TINY.md: 8x8 grid, 512 image tokens, text limit 32,
      positions 32 / 96; here 2 layers, hidden 64, 4 heads, P = 100 text
      pieces), golden-style random init, written with save_sat to DIR/s1,
      DIR/s2 (Swin window 4, half the grid as in the release) and DIR/s2w8
      (window 8 = the whole grid, shift 4); for each mode (s1-first,
      s1-video, s2-interp on both stage-2 models), each
      log_text_attention_weights (0 and 1.4) and two text lengths: a random
      teacher sequence DIR/<case>/{seq,teacher,steps}.npy and
      cogvideo_torch's forward_teacher logits and final hidden at every step
      (the two text lengths in one padded batch; its block-sparse path
      checked against the dense-mask path).  DIR/cases lists
      "case mode model w" (model: s1, s2 or s2w8).
  torch_agree.py compare DIR
      compares DIR/<case>/run/step_logits.npy, step_hidden.npy and
      step_counter.npy (written by `cogvideo logits`) with the PyTorch ones;
      prints max |diff| per case; exit 1 beyond 1e-4 (logits and hidden).
"""
import os
import sys

import numpy as np
import torch

srcdir = os.environ.get("top_srcdir") or os.environ.get("srcdir") or \
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(srcdir, "tools", "train"))
import cogvideo_torch as ct  # noqa: E402

torch.set_num_threads(1)
TOL = 1e-4
P = 100                      # text pieces
IMG = 512
FL = 64                      # 8 x 8
BOI = IMG + P
CFG = dict(num_layers=2, hidden_size=64, num_attention_heads=4, vocab_size=IMG + P + 10,
           max_sequence_length=96, additional_seqlen=256, image_tokens=IMG, frame_grid=(8, 8),
           frame_pos_offset=32, extra_pos_offset=96, max_text_len=32)
# model name: stage, Swin window
MODELS = {"s1": (1, -1), "s2": (2, 4), "s2w8": (2, 8)}
MODES = (("s1-first", "s1", 0), ("s1-video", "s1", 1), ("s2-interp", "s2", 3),
         ("s2-interp", "s2w8", 3))  # mode, model, given frames
NFRAMES = {"s1-first": 1, "s1-video": 5, "s2-interp": 5}
WEIGHTS = (0.0, 1.4)
TEXT_LENS = (7, 19)


def make(d):
    rng = np.random.default_rng(7)
    models = {}
    for name, (stage, window) in MODELS.items():
        cfg = dict(CFG, cogvideo_stage=stage, window_size=window)
        m = ct.CogVideoTorch(cfg, init="golden", seed=100 + stage).eval()
        ct.save_sat(m, cfg, os.path.join(d, name))
        back, bcfg = ct.load_sat(os.path.join(d, name))
        sd, bsd = m.state_dict(), back.state_dict()
        if list(sd) != list(bsd) or any(not torch.equal(sd[k], bsd[k]) for k in sd) or bcfg != m.cfg:
            sys.exit("FAIL: load_sat(save_sat(model)) differs from the model")
        models[name] = m
    lines = []
    for mode, name, given in MODES:
        for w in WEIGHTS:
            seqs = []
            for tl in TEXT_LENS:
                text = rng.integers(IMG + 5, BOI, size=tl)
                frames = rng.integers(0, IMG, size=NFRAMES[mode] * FL)
                seqs.append(np.concatenate([text, [BOI], frames]).astype(np.int64))
            Lmax = max(len(s) for s in seqs)
            batch = np.full((len(seqs), Lmax), -1, dtype=np.int64)
            for i, s in enumerate(seqs):
                batch[i, :len(s)] = s
            with torch.no_grad():
                out = models[name].forward_teacher(torch.from_numpy(batch), list(TEXT_LENS), mode, log_w=w,
                                                    output="all")
                dense = models[name].forward_teacher(torch.from_numpy(batch), list(TEXT_LENS), mode, log_w=w,
                                                      output="all", fast=False)
            # the block-sparse path (used below) = the dense-mask path
            for i, s in enumerate(seqs):
                dd = float((out["logits"][i, :len(s) - 1] - dense["logits"][i, :len(s) - 1]).abs().max())
                print("torch fast vs dense %s %s w=%g tl=%d: logits max|diff| %.2e" % (name, mode, w, TEXT_LENS[i], dd))
                if not dd <= TOL:
                    sys.exit("FAIL: forward_teacher fast and dense paths differ")
            for i, (s, tl) in enumerate(zip(seqs, TEXT_LENS)):
                case = "%s_%s_w%g_tl%d" % (name, mode, w, tl)
                cd = os.path.join(d, case)
                os.makedirs(cd)
                seq_in = s.copy()
                seq_in[tl + 1 + given * FL:] = -1
                prefix = tl + given * FL
                steps = len(s) - 1 - prefix
                pos = np.arange(prefix, len(s) - 1)  # model positions of the steps
                np.save(os.path.join(cd, "seq.npy"), seq_in)
                np.save(os.path.join(cd, "teacher.npy"), s)
                np.save(os.path.join(cd, "steps.npy"), np.arange(steps, dtype=np.int64))
                np.save(os.path.join(cd, "want_logits.npy"), out["logits"][i, pos].numpy())
                np.save(os.path.join(cd, "want_hidden.npy"), out["hidden"][i, pos].numpy())
                np.save(os.path.join(cd, "want_counter.npy"), (pos + 1).astype(np.int64))
                lines.append("%s %s %s %g\n" % (case, mode, name, w))
    with open(os.path.join(d, "cases"), "w") as f:
        f.writelines(lines)


def compare(d):
    bad = 0
    with open(os.path.join(d, "cases")) as f:
        cases = [ln.split() for ln in f if ln.strip()]
    for case, mode, _model, w in cases:
        cd = os.path.join(d, case)
        run = os.path.join(cd, "run")
        try:
            got_c = np.load(os.path.join(run, "step_counter.npy"))
            got_l = np.load(os.path.join(run, "step_logits.npy"))
            got_h = np.load(os.path.join(run, "step_hidden.npy"))
        except OSError as e:
            print("FAIL %s: %s" % (case, e))
            bad += 1
            continue
        want_c = np.load(os.path.join(cd, "want_counter.npy"))
        want_l = np.load(os.path.join(cd, "want_logits.npy"))
        want_h = np.load(os.path.join(cd, "want_hidden.npy"))
        if got_c.shape != want_c.shape or (got_c != want_c).any() or got_l.shape != want_l.shape:
            print("FAIL %s: steps/shapes differ (counter %s vs %s, logits %s vs %s)"
                  % (case, got_c.shape, want_c.shape, got_l.shape, want_l.shape))
            bad += 1
            continue
        dl = float(np.abs(got_l.astype(np.float64) - want_l).max())
        dh = float(np.abs(got_h.astype(np.float64) - want_h).max())
        am = float((got_l.argmax(-1) == want_l.argmax(-1)).mean())
        ok = dl <= TOL and dh <= TOL
        bad += not ok
        print("%s C vs torch %-27s %3d steps: logits max|diff| %.2e, hidden %.2e, argmax equal %.3f, "
              "max|logit| %.1f" % ("ok  " if ok else "FAIL", case, len(got_c), dl, dh, am,
                                    float(np.abs(want_l).max())))
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("make", "compare"):
        sys.exit("usage: torch_agree.py make|compare DIR")
    if sys.argv[1] == "make":
        make(sys.argv[2])
        sys.exit(0)
    sys.exit(compare(sys.argv[2]))
