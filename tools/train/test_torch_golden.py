#!/usr/bin/python3
"""test_torch_golden.py -- cogvideo_torch.py against the goldens of the
original CogVideo (../shared/golden/A): the three non-incremental forwards
(full_*: every layer's output, the final hidden, logits, probe logits) and the
teacher-forced cached runs s1_first, s1_video_noguide, s2_interp_noguide
(forward_teacher's logits at the golden's step_logits_idx steps, the probe
logits and final hidden of every step).  Run by hand:

    /usr/bin/python3 tools/train/test_torch_golden.py [GOLDEN_A_DIR]

Prints the measured max |diff| per file; exits 1 if any exceeds its bound
(logits 1e-4 abs, hidden 1e-5 relative to max |hidden| of the run).
"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cogvideo_torch as ct  # noqa: E402

torch.set_num_threads(1)
here = os.path.dirname(os.path.abspath(__file__))
G = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "..", "..", "shared", "golden", "A")
G = os.path.abspath(G)
LOGIT_TOL = 1e-4
HIDDEN_REL = 1e-5
A_CFG = dict(image_tokens=20000, frame_grid=(20, 20), frame_pos_offset=512, extra_pos_offset=912,
             max_text_len=64)
fails = []


def load(name):
    return np.load(os.path.join(G, name))


def meta(run):
    with open(os.path.join(G, run, "meta.json")) as f:
        return json.load(f)


def check(what, got, want, tol, rel=False):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        fails.append(what)
        print("FAIL %-40s shape %s (expected %s)" % (what, got.shape, want.shape))
        return
    d = float(np.abs(got - want).max())
    scale = float(np.abs(want).max()) if rel else 1.0
    bound = tol * scale
    ok = d <= bound
    if not ok:
        fails.append(what)
    print("%s %-40s max|diff| %.3g%s (bound %.3g)" % ("ok  " if ok else "FAIL", what, d,
                                                     " = %.3g x max|want|" % (d / scale) if rel else "",
                                                     bound))


def check_argmax(what, logits, want):
    got = np.asarray(logits).argmax(-1)
    same = float((got == want).mean())
    # argmax may differ only where the top-2 gap is below 1e-4
    srt = np.sort(np.asarray(logits), -1)
    gap = srt[..., -1] - srt[..., -2]
    bad = (got != want) & (gap >= 1e-4)
    if bad.any():
        fails.append(what)
    print("%s %-40s argmax equal on %.4f of rows" % ("FAIL" if bad.any() else "ok  ", what, same))


def fast_vs_dense():
    """forward_teacher's block-sparse path against the dense-mask path on
    random tiny models (TINY.md geometry): logits and the gradient of a
    training loss, texts of 1..32 tokens padded in one batch."""
    IMG, P = 512, 100
    BOI = IMG + P
    rng = np.random.default_rng(1)
    for stage in (1, 2):
        cfg = dict(num_layers=2, hidden_size=64, num_attention_heads=4, vocab_size=IMG + P + 10,
                   max_sequence_length=96, additional_seqlen=256, image_tokens=IMG, frame_grid=(8, 8),
                   frame_pos_offset=32, extra_pos_offset=96, max_text_len=32, cogvideo_stage=stage,
                   window_size=4 if stage == 2 else -1)
        m = ct.CogVideoTorch(cfg, init="golden", seed=3)
        for mode in (("s2-interp",) if stage == 2 else ("s1-first", "s1-video")):
            nf = {"s1-first": 1, "s1-video": 5, "s2-interp": 5}[mode]
            tls = [5, 32, 17, 1]
            s = np.full((4, max(tls) + 1 + nf * 64 + 3), -1, np.int64)
            for b, t in enumerate(tls):
                s[b, :t] = rng.integers(IMG + 5, BOI, size=t)
                s[b, t] = BOI
                s[b, t + 1:t + 1 + nf * 64] = rng.integers(0, IMG, size=nf * 64)
            seq = torch.from_numpy(s)
            for w in (0.0, 1.4):
                outs = []
                for fast in (True, False):
                    m.zero_grad()
                    lg = m.forward_teacher(seq, tls, mode, log_w=w, fast=fast)
                    tgt, mask = m.teacher_targets(seq, tls, mode, given_frames_too=mode != "s2-interp")
                    torch.nn.functional.cross_entropy(lg[mask], tgt[mask]).backward()
                    g = torch.cat([p.grad.reshape(-1) for p in m.parameters() if p.grad is not None])
                    outs.append((lg.detach()[mask].numpy(), g.numpy()))
                check("fast vs dense %s w=%g logits" % (mode, w), outs[0][0], outs[1][0], LOGIT_TOL)
                check("fast vs dense %s w=%g gradient" % (mode, w), outs[0][1], outs[1][1], 1e-5, rel=True)


def main():
    with open(os.path.join(G, "token_ids.json")) as f:
        probe = np.asarray(json.load(f)["probe_ids"])
    models = {}
    for s in (1, 2):
        m, cfg = ct.load_sat(os.path.join(G, "ckpt", "cogvideo-stage%d" % s), **A_CFG)
        models[s] = m
        # the key set and shapes of the checkpoint, exactly
        ck = torch.load(os.path.join(G, "ckpt", "cogvideo-stage%d" % s, "1", "mp_rank_00_model_states.pt"),
                        map_location="cpu")["module"]
        sd = m.state_dict()
        same = list(sd) == list(ck) and all(sd[k].shape == ck[k].shape for k in ck)
        if not same:
            fails.append("state dict keys stage %d" % s)
        print("%s stage %d: %d state-dict keys, names, order and shapes %s" %
              ("ok  " if same else "FAIL", s, len(ck), "equal the checkpoint's" if same else "DIFFER"))
        print("     cfg:", {k: cfg[k] for k in ("cogvideo_stage", "attention_plus", "window_size",
                                                   "swin_shift", "frame_pos_offset", "extra_pos_offset",
                                                   "boi_id", "layout")})

    # ---------------------------------------------------- full forwards
    for run, s in (("full_s1_first", 1), ("full_s1_video", 1), ("full_s2_given", 2)):
        mt = meta(run)
        ids = torch.from_numpy(load(run + "/input_ids.npy")).unsqueeze(0)
        pos = torch.from_numpy(load(run + "/position_ids.npy")).unsqueeze(0)
        with torch.no_grad():
            out = models[s].forward_ids(ids, pos, [mt["text_len"]], log_w=mt["log_text_attention_weights"],
                                        enforce_no_swin=mt["enforce_no_swin"], output="all")
        layers = torch.stack([x[0] for x in out["layers"]]).numpy()
        hf = out["hidden"][0].numpy()
        lg = out["logits"][0].numpy()
        check(run + "/hidden_layers", layers, load(run + "/hidden_layers.npy"), HIDDEN_REL, rel=True)
        check(run + "/final_hidden", hf, load(run + "/final_hidden.npy"), HIDDEN_REL, rel=True)
        idx = load(run + "/logits_pos_idx.npy")
        check(run + "/logits", lg[idx], load(run + "/logits.npy"), LOGIT_TOL)
        check(run + "/probe_logits", lg[:, probe], load(run + "/probe_logits.npy"), LOGIT_TOL)
        check(run + "/max", lg.max(-1), load(run + "/max.npy"), LOGIT_TOL)
        check_argmax(run + "/argmax", lg, load(run + "/argmax.npy"))

    # ---------------------------------------------------- cached runs
    for run, s, mode in (("s1_first", 1, "s1-first"), ("s1_video_noguide", 1, "s1-video"),
                         ("s2_interp_noguide", 2, "s2-interp")):
      for fast in (True, False):
        mt = meta(run)
        seq = torch.from_numpy(load(run + "/teacher.npy")).unsqueeze(0)
        tl = mt["text_len"]
        with torch.no_grad():
            out = models[s].forward_teacher(seq, [tl], mode, log_w=mt["log_text_attention_weights"],
                                            output="all", fast=fast)
        lg = out["logits"][0].numpy()
        hf = out["hidden"][0].numpy()
        counter = load(run + "/step_counter.npy")
        p = counter - 1  # the model position whose logits produced the token
        idx = load(run + "/step_logits_idx.npy")
        r = run + ("" if fast else " (dense)")
        check(r + "/step_logits (%d steps)" % len(idx), lg[p[idx]], load(run + "/step_logits.npy"), LOGIT_TOL)
        check(r + "/step_probe_logits (%d steps)" % len(p), lg[p][:, probe],
              load(run + "/step_probe_logits.npy"), LOGIT_TOL)
        check(r + "/step_max", lg[p].max(-1), load(run + "/step_max.npy"), LOGIT_TOL)
        check(r + "/step_hidden", hf[p], load(run + "/step_hidden.npy"), HIDDEN_REL, rel=True)
        check_argmax(r + "/step_argmax", lg[p], load(run + "/step_argmax.npy"))

    # ---------------------------------------------------- a padded batch
    # s1_first twice with different text lengths: the first row's text cut
    # (different tl), so its logits change, but row 1 must equal the run above
    run = "s1_first"
    mt = meta(run)
    full = load(run + "/teacher.npy")
    tl = mt["text_len"]
    short = full[3:]  # 3 fewer text tokens
    B = np.full((2, len(full)), -1, dtype=np.int64)
    B[0, :len(short)] = short
    B[1] = full
    with torch.no_grad():
        lgb = models[1].forward_teacher(torch.from_numpy(B), [tl - 3, tl], "s1-first", log_w=1.4)
        lg1 = models[1].forward_teacher(torch.from_numpy(short).unsqueeze(0), [tl - 3], "s1-first", log_w=1.4)
        lg2 = models[1].forward_teacher(torch.from_numpy(full).unsqueeze(0), [tl], "s1-first", log_w=1.4)
    check("batch of 2 (tl %d, %d): row 0 = alone" % (tl - 3, tl), lgb[0, :len(short) - 1].numpy(),
          lg1[0].numpy(), LOGIT_TOL)
    check("batch of 2: row 1 = alone", lgb[1].numpy(), lg2[0].numpy(), LOGIT_TOL)

    fast_vs_dense()
    print("%d failed" % len(fails) if fails else "all checks passed")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
