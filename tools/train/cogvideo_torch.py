"""cogvideo_torch.py -- a PyTorch re-implementation of the CogVideo transformer
for training (issue 7), whose full-sequence ("teacher-forced") forward gives at
every position exactly what the original cached inference computes there.

The semantics are those of ../shared/golden/README.md ("The model, as executed
by the original code"), quirks included:

  * embedding E[id] + P(pos); ids < 0 or >= vocab embed to 0; P(q) is the base
    table for q < extra_pos_offset, else the extra table at q - extra_pos_offset;
  * sandwich LayerNorm layers (eps 1e-5), tanh GELU, logits = LN_final(h) @
    E[:image_tokens]^T (tied, no bias);
  * dual-channel attention: base channel (text + the query's model-frame) and
    the attention-plus channel (stage 1 'full': causal over all frames; stage 2
    'swin': NAR wrap-around windows over the given frames, AR clipped windows
    over every earlier model-frame), mixed per channel by
    g = sigmoid(attn_distribution[l]); text queries and enforce_no_swin use
    the base channel only;
  * log_text_attention_weights w (quirk 1): +w on text keys in the base channel
    always, in the plus channel only for queries of incremental (AR) calls;
  * my_filling_sequence's schedule: the fed ids are seq with BOI written at the
    start of every model-frame; one NAR call over the given prefix, then one
    token per AR call; stage-2 position ids use the time slots [0,2,4,1,3].

Every position's hidden state depends only on the keys of its own call type,
so one masked dense pass over the whole sequence equals the KV-cache path.

Parameters are named exactly as the SAT state dict of the released
checkpoints, so `state_dict()` is the checkpoint's 'module' dict.

Only torch, numpy and the standard library.
"""

import functools
import json
import math
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

MODES = ("s1-first", "s1-video", "s2-interp")
TIME_SLOTS = (0, 2, 4, 1, 3)

# cfg keys and their defaults (None = required)
CFG_DEFAULTS = {
    "num_layers": None,
    "hidden_size": None,
    "num_attention_heads": None,
    "vocab_size": None,
    "max_sequence_length": None,
    "additional_seqlen": None,
    "cogvideo_stage": 1,
    "window_size": -1,
    "image_tokens": 20000,
    "frame_grid": (20, 20),
    "frame_pos_offset": 512,
    "extra_pos_offset": None,   # default frame_pos_offset + h*w
    "attention_plus": None,     # default 'full' (stage 1) / 'swin' (stage 2)
    "boi_id": None,             # default vocab_size - 10
    "max_text_len": None,       # default min(64, frame_pos_offset); SAT 'layout'
    "layout": None,             # default [T, T + frame_len, T + 5 frame_len]
    "swin_shift": None,         # default window_size // 2 (the release)
    "time_slots": TIME_SLOTS,
    "hidden_dropout": 0.0,      # training only (eval: none, as inference)
    "attention_dropout": 0.0,
}


def complete_cfg(cfg):
    """A copy of cfg with every default filled in (and checked)."""
    c = dict(CFG_DEFAULTS)
    unknown = set(cfg) - set(c)
    if unknown:
        raise ValueError("cfg: unknown keys %s" % sorted(unknown))
    c.update({k: v for k, v in cfg.items() if v is not None})
    for k, v in c.items():
        if v is None and CFG_DEFAULTS[k] is None and k in (
                "num_layers", "hidden_size", "num_attention_heads", "vocab_size",
                "max_sequence_length", "additional_seqlen"):
            raise ValueError("cfg: '%s' is required" % k)
    c["frame_grid"] = tuple(int(x) for x in c["frame_grid"])
    fh, fw = c["frame_grid"]
    fl = fh * fw
    if c["extra_pos_offset"] is None:
        c["extra_pos_offset"] = c["frame_pos_offset"] + fl
    if c["attention_plus"] is None:
        c["attention_plus"] = "swin" if c["cogvideo_stage"] == 2 else "full"
    if c["attention_plus"] not in ("full", "swin"):
        raise ValueError("cfg: attention_plus '%s' (expected full or swin)" % c["attention_plus"])
    if c["boi_id"] is None:
        c["boi_id"] = c["vocab_size"] - 10
    if c["max_text_len"] is None:
        c["max_text_len"] = min(64, c["frame_pos_offset"])
    if c["layout"] is None:
        t = c["max_text_len"]
        c["layout"] = [t, t + fl, t + 5 * fl]
    c["layout"] = [int(x) for x in c["layout"]]
    if c["attention_plus"] == "swin":
        if c["window_size"] is None or c["window_size"] < 1:
            raise ValueError("cfg: swin needs window_size >= 1")
        if c["swin_shift"] is None:
            c["swin_shift"] = c["window_size"] // 2
    else:
        c["swin_shift"] = 0
    c["time_slots"] = tuple(int(x) for x in c["time_slots"])
    if c["extra_pos_offset"] > c["max_sequence_length"]:
        raise ValueError("cfg: extra_pos_offset %d > max_sequence_length %d"
                         % (c["extra_pos_offset"], c["max_sequence_length"]))
    if c["hidden_size"] % c["num_attention_heads"]:
        raise ValueError("cfg: hidden_size not a multiple of num_attention_heads")
    if c["image_tokens"] > c["vocab_size"]:
        raise ValueError("cfg: image_tokens > vocab_size")
    return c


# --------------------------------------------------------------------- modules
# Module tree = SAT key names:
#   transformer.word_embeddings.weight, transformer.position_embeddings.weight,
#   transformer.layers.{l}.{input_layernorm,attention.query_key_value,
#     attention.dense,post_attention_layernorm,third_layernorm,fourth_layernorm,
#     mlp.dense_h_to_4h,mlp.dense_4h_to_h}.{weight,bias},
#   transformer.final_layernorm.{weight,bias},
#   mixins.extra_position_embedding.position_embeddings.weight,
#   mixins.attention_plus.{query_key_value,dense}.{l}.{weight,bias},
#   mixins.attention_plus.attn_distribution.{l}

def _ln(h):
    return nn.LayerNorm(h, eps=1e-5)


class _Attention(nn.Module):
    def __init__(self, h):
        super().__init__()
        self.query_key_value = nn.Linear(h, 3 * h)
        self.dense = nn.Linear(h, h)


class _MLP(nn.Module):
    def __init__(self, h):
        super().__init__()
        self.dense_h_to_4h = nn.Linear(h, 4 * h)
        self.dense_4h_to_h = nn.Linear(4 * h, h)


class _Layer(nn.Module):
    def __init__(self, h):
        super().__init__()
        self.input_layernorm = _ln(h)
        self.attention = _Attention(h)
        self.post_attention_layernorm = _ln(h)
        self.third_layernorm = _ln(h)
        self.fourth_layernorm = _ln(h)
        self.mlp = _MLP(h)


class _Transformer(nn.Module):
    def __init__(self, c):
        super().__init__()
        h = c["hidden_size"]
        self.word_embeddings = nn.Embedding(c["vocab_size"], h)
        self.position_embeddings = nn.Embedding(c["max_sequence_length"], h)
        self.layers = nn.ModuleList([_Layer(h) for _ in range(c["num_layers"])])
        self.final_layernorm = _ln(h)


class _ExtraPositions(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.position_embeddings = nn.Embedding(c["additional_seqlen"], c["hidden_size"])


class _AttentionPlus(nn.Module):
    def __init__(self, c):
        super().__init__()
        h, n = c["hidden_size"], c["num_layers"]
        self.query_key_value = nn.ModuleList([nn.Linear(h, 3 * h) for _ in range(n)])
        self.dense = nn.ModuleList([nn.Linear(h, h) for _ in range(n)])
        self.attn_distribution = nn.ParameterList([nn.Parameter(torch.zeros(h)) for _ in range(n)])


# --------------------------------------------------------------- key sets
def _swin_box(x, s, win, size):
    """AR window rows [lo, hi) of coordinate(s) x: xs = ((x+s) div win) win - s
    (s > 0) or win (x div win); clipped to [0, size], no wrap-around."""
    xs = ((x + s) // win) * win - s if s > 0 else (x // win) * win
    return np.clip(xs, 0, size), np.clip(xs + win, 0, size)


def _swin_nar_window(x, s, win, size):
    """NAR window index: the frame rolled by -s, cut into win-sized windows."""
    return ((x - s) % size) // win


@functools.lru_cache(maxsize=256)
def _plan(stage, plus, fh, fw, window, shift, tl, n, prefix, L):
    """Key sets of one sequence of n model positions (text tl) padded to L:
    positions < prefix were fed in one non-incremental (NAR) call, the rest one
    per incremental (AR) call.  Returns numpy arrays (bool unless stated):
      local [L,L]   base-channel keys (text + same model-frame)
      plus0/plus1   attention-plus keys for even/odd layers [L,L]
      lbias [L,L]   where the base channel adds w (text keys)
      pbias [L,L]   where the plus channel adds w (text keys of AR queries)
      frameq [L]    frame queries of the sequence (mix both channels)
    Padding rows (p >= n) see only themselves."""
    fl = fh * fw
    p = np.arange(L)[:, None]
    k = np.arange(L)[None, :]
    inq = p < n
    ink = k < n
    qt, kt = p < tl, k < tl
    qf = inq & ~qt
    kf = ink & ~kt
    Fp, ip = (p - tl) // fl, (p - tl) % fl
    Fk, ik = (k - tl) // fl, (k - tl) % fl
    nar = p < prefix
    eye = p == k

    # base channel: text; frame queries also their model-frame, causal, or
    # whole (stage-2 NAR calls are bidirectional within a model-frame)
    same = kf & (Fk == Fp)
    if stage == 2:
        frame_part = same & ((k <= p) | (nar & (k < prefix)))
    else:
        frame_part = same & (k <= p)
    local = (inq & kt) | (qf & frame_part)
    local |= ~inq & eye
    lbias = inq & kt

    pluses = []
    for s in (0, shift):
        if plus == "full":
            keys = kt | (kf & (k <= p))
        else:
            xp, yp = ip // fw, ip % fw
            xk, yk = ik // fw, ik % fw
            # NAR: same wrapped window in any frame of the call, no mask at all
            wn = ((_swin_nar_window(xk, s, window, fh) == _swin_nar_window(xp, s, window, fh))
                  & (_swin_nar_window(yk, s, window, fw) == _swin_nar_window(yp, s, window, fw)))
            nar_keys = kt | (kf & (k < prefix) & wn)
            # AR: the clipped box in every earlier model-frame, the box's cells
            # of the current frame before the query, and the query itself
            x0, x1 = _swin_box(xp, s, window, fh)
            y0, y1 = _swin_box(yp, s, window, fw)
            box = (xk >= x0) & (xk < x1) & (yk >= y0) & (yk < y1)
            ar_keys = kt | (kf & box & ((Fk < Fp) | ((Fk == Fp) & (ik < ip)))) | eye
            keys = np.where(nar, nar_keys, ar_keys)
        keys = (qf & keys) | (~qf & eye)
        pluses.append(keys)
    pbias = qf & ~nar & kt
    return {"local": local, "plus0": pluses[0], "plus1": pluses[1],
            "lbias": lbias, "pbias": pbias, "frameq": qf[:, 0]}


def _gelu(x):
    # SAT gelu_impl: 0.5 x (1 + tanh(0.7978845608028654 x (1 + 0.044715 x^2)))
    return F.gelu(x, approximate="tanh")


# --------------------------------------------------------------------- model
class CogVideoTorch(nn.Module):
    """The CogVideo transformer (stage 1 or 2) with SAT parameter names."""

    def __init__(self, cfg, init="train", seed=None):
        super().__init__()
        c = complete_cfg(cfg)
        self.cfg = c
        # registration order = the checkpoint's key order (mixins first)
        self.mixins = nn.ModuleDict({
            "extra_position_embedding": _ExtraPositions(c),
            "attention_plus": _AttentionPlus(c),
        })
        self.transformer = _Transformer(c)
        self.reset_parameters(init, seed)

    # ------------------------------------------------------------ init
    def reset_parameters(self, init="train", seed=None):
        """init='train': N(0, 0.02) weights and embeddings, output projections
        (attention dense, dense_4h_to_h) N(0, 0.02/sqrt(2 layers)), zero
        biases, LayerNorm gamma 1 beta 0, attn_distribution 0 (g = 0.5).
        init='golden': the golden README's random init (embeddings N(0,0.25),
        qkv N(0,sqrt(1.5/H)), other linears N(0,1/sqrt(fan_in)), biases
        N(0,0.05), LN gamma 1+N(0,0.1) beta N(0,0.05), attn_distribution
        N(0,1)) -- non-trivial softmaxes, for tests."""
        gen = torch.Generator().manual_seed(seed) if seed is not None else None

        def normal_(t, std, mean=0.0):
            with torch.no_grad():
                t.copy_(torch.randn(t.shape, generator=gen) * std + mean)

        c = self.cfg
        H, nl = c["hidden_size"], c["num_layers"]
        golden = init == "golden"
        if init not in ("train", "golden"):
            raise ValueError("init: '%s' (expected train or golden)" % init)
        for name, t in self.named_parameters():
            if name.endswith("embeddings.weight"):
                normal_(t, 0.25 if golden else 0.02)
            elif "attn_distribution" in name:
                normal_(t, 1.0) if golden else nn.init.zeros_(t)
            elif "layernorm" in name:
                if name.endswith("weight"):
                    normal_(t, 0.1 if golden else 0.0, 1.0)
                else:
                    normal_(t, 0.05 if golden else 0.0)
            elif name.endswith("bias"):
                normal_(t, 0.05 if golden else 0.0)
            elif name.endswith("weight"):
                fan_in = t.shape[1]
                if golden:
                    std = math.sqrt(1.5 / H) if "query_key_value" in name else 1.0 / math.sqrt(fan_in)
                else:
                    out_proj = "dense_4h_to_h" in name or name.endswith("attention.dense.weight") \
                        or ".dense." in name and "attention_plus" in name
                    std = 0.02 / math.sqrt(2 * nl) if out_proj else 0.02
                normal_(t, std)
            else:
                raise AssertionError(name)

    # ------------------------------------------------------------ pieces
    def _embed(self, ids, pos):
        c = self.cfg
        V = c["vocab_size"]
        E = self.transformer.word_embeddings.weight
        ok = (ids >= 0) & (ids < V)
        h = F.embedding(ids.clamp(0, V - 1), E) * ok.unsqueeze(-1).to(E.dtype)
        off = c["extra_pos_offset"]
        table = torch.cat([self.transformer.position_embeddings.weight[:off],
                           self.mixins["extra_position_embedding"].position_embeddings.weight], 0)
        if pos.min() < 0 or pos.max() >= table.shape[0]:
            raise ValueError("position id out of range [0, %d)" % table.shape[0])
        return h + F.embedding(pos, table)

    def _attend(self, qkv, add):
        """Scores (q/sqrt(dh)) k^T + add (add: [B,L,L], -inf outside the key
        set, w on the biased keys), softmax, times v."""
        B, L, H3 = qkv.shape
        H = H3 // 3
        nh = self.cfg["num_attention_heads"]
        dh = H // nh
        q, k, v = qkv.split(H, dim=-1)
        q = q.reshape(B, L, nh, dh).transpose(1, 2)
        k = k.reshape(B, L, nh, dh).transpose(1, 2)
        v = v.reshape(B, L, nh, dh).transpose(1, 2)
        s = torch.matmul(q / math.sqrt(dh), k.transpose(-1, -2)) + add.unsqueeze(1)
        p = torch.softmax(s, dim=-1)
        if self.training and self.cfg["attention_dropout"] > 0:
            p = F.dropout(p, self.cfg["attention_dropout"])
        return torch.matmul(p, v).transpose(1, 2).reshape(B, L, H)

    def _drop(self, x):
        if self.training and self.cfg["hidden_dropout"] > 0:
            return F.dropout(x, self.cfg["hidden_dropout"])
        return x

    def _masks(self, text_len, n, prefix, L, log_w, dev):
        """Additive attention biases [B,L,L] (local, plus even, plus odd) and
        the frame-query mask [B,L]."""
        c = self.cfg
        fh, fw = c["frame_grid"]
        plans = [_plan(c["cogvideo_stage"], c["attention_plus"], fh, fw, c["window_size"],
                       c["swin_shift"], int(t), int(m), int(pf), int(L))
                 for t, m, pf in zip(text_len, n, prefix)]

        def add(mask_key, bias_key):
            m = torch.from_numpy(np.stack([pl[mask_key] for pl in plans])).to(dev)
            b = torch.from_numpy(np.stack([pl[bias_key] for pl in plans])).to(dev)
            a = b.to(torch.float32) * float(log_w)
            return a.masked_fill(~m, float("-inf"))

        frameq = torch.from_numpy(np.stack([pl["frameq"] for pl in plans])).to(dev)
        return add("local", "lbias"), add("plus0", "pbias"), add("plus1", "pbias"), frameq

    # ------------------------------------------------------------ forward
    def forward_ids(self, ids, pos, text_len, log_w=0.0, n=None, prefix=None,
                    enforce_no_swin=False, output="logits"):
        """The model on explicit fed ids and position ids [B, L] (padded rows:
        any ids, position 0).  n[b] = model positions of row b (default L),
        prefix[b] = how many leading positions were one non-incremental call
        (default n: the whole row is one NAR call, like `cogvideo forward`);
        later positions are incremental calls.  output: 'logits' [B,L,N],
        'hidden' (final LayerNorm) [B,L,H], 'layers' (list of every layer's
        output + final hidden), 'all' (dict of all three)."""
        c = self.cfg
        B, L = ids.shape
        text_len = [int(t) for t in torch.as_tensor(text_len).reshape(-1).tolist()]
        n = [L] * B if n is None else [int(x) for x in n]
        prefix = n if prefix is None else [int(x) for x in prefix]
        dev = ids.device
        h = self._embed(ids, pos)
        a_loc, a_p0, a_p1, frameq = self._masks(text_len, n, prefix, L, log_w, dev)
        hs = self._layers(h, lambda li, qkv: self._attend(qkv, a_loc),
                          lambda li, qkv: self._attend(qkv, a_p1 if li % 2 == 1 else a_p0),
                          frameq.unsqueeze(-1), not enforce_no_swin, output in ("layers", "all"))
        return self._outputs(hs, output)

    def _layers(self, h, attn_local, attn_plus, frameq, use_plus, keep):
        """The layer stack; attn_local(l, qkv) / attn_plus(l, qkv) give the
        context of each channel; frameq [B,L,1] = rows that mix the channels.
        Returns every layer's output (keep) or just the last, then the final
        LayerNorm output."""
        plus = self.mixins["attention_plus"]
        layers = []
        for li, lay in enumerate(self.transformer.layers):
            a = lay.input_layernorm(h)
            o = lay.attention.dense(attn_local(li, lay.attention.query_key_value(a)))
            if use_plus:
                op = plus.dense[li](attn_plus(li, plus.query_key_value[li](a)))
                g = torch.sigmoid(plus.attn_distribution[li])
                o = torch.where(frameq, o * g + op * (1.0 - g), o)
            h = h + lay.third_layernorm(self._drop(o))
            m = lay.post_attention_layernorm(h)
            f = lay.mlp.dense_4h_to_h(_gelu(lay.mlp.dense_h_to_4h(m)))
            h = h + lay.fourth_layernorm(self._drop(f))
            if keep:
                layers.append(h)
        return layers, self.transformer.final_layernorm(h)

    def _outputs(self, hs, output, gather=None):
        layers, hf = hs
        if gather is not None:
            layers = [gather(x) for x in layers]
            hf = gather(hf)
        if output == "hidden":
            return hf
        if output == "layers":
            return layers + [hf]
        logits = self.logits(hf)
        if output == "logits":
            return logits
        if output == "all":
            return {"logits": logits, "hidden": hf, "layers": layers}
        raise ValueError("output: '%s'" % output)

    def logits(self, hidden):
        """hidden @ E[:image_tokens]^T (tied, no bias)."""
        return torch.matmul(hidden, self.transformer.word_embeddings.weight[: self.cfg["image_tokens"]].t())

    def teacher_inputs(self, seq, text_len, mode):
        """Fed ids, position ids [B, L = Lmax-1] and per-row n (model
        positions), prefix (the first call's length) of forward_teacher."""
        c = self.cfg
        if mode not in MODES:
            raise ValueError("mode '%s' (expected one of %s)" % (mode, ", ".join(MODES)))
        if (mode == "s2-interp") != (c["cogvideo_stage"] == 2):
            raise ValueError("mode %s does not fit a stage-%d model" % (mode, c["cogvideo_stage"]))
        seq = torch.as_tensor(seq)
        if seq.dim() == 1:
            seq = seq.unsqueeze(0)
        B, Lmax = seq.shape
        L = Lmax - 1
        fh, fw = c["frame_grid"]
        fl = fh * fw
        tl = torch.as_tensor(text_len).reshape(-1).tolist()
        if len(tl) != B:
            raise ValueError("text_len: %d values for %d rows" % (len(tl), B))
        s_np = seq.cpu().numpy()
        ids = np.full((B, L), -1, dtype=np.int64)
        pos = np.zeros((B, L), dtype=np.int64)
        ns, prefixes = [], []
        for b in range(B):
            t = int(tl[b])
            row = s_np[b]
            nonneg = np.nonzero(row >= 0)[0]
            length = int(nonneg[-1]) + 1 if len(nonneg) else 0
            if (row[:length] < 0).any():
                raise ValueError("row %d: -1 inside the sequence (teacher sequences are complete)" % b)
            if not (0 < t <= c["max_text_len"]) or row[t] != c["boi_id"]:
                raise ValueError("row %d: text_len %d: seq[%d] is %d, not BOI %d (or text_len > %d)"
                                 % (b, t, t, row[t] if t < Lmax else -1, c["boi_id"], c["max_text_len"]))
            if (length - 1 - t) % fl or length - 1 - t <= 0:
                raise ValueError("row %d: %d tokens after the text, not BOI + whole frames" % (b, length - t))
            nf = (length - 1 - t) // fl
            given = {"s1-first": 0, "s1-video": 1, "s2-interp": 3}[mode]
            if mode == "s1-first" and nf != 1:
                raise ValueError("row %d: s1-first has one frame (got %d)" % (b, nf))
            if nf <= given or (mode == "s2-interp" and nf > len(c["time_slots"])):
                raise ValueError("row %d: %d frames do not fit mode %s" % (b, nf, mode))
            n = length - 1
            p = np.arange(n)
            fr = p >= t
            ids[b, :n] = np.where(fr & ((p - t) % fl == 0), c["boi_id"], row[:n])
            if mode == "s2-interp":
                slots = np.asarray(c["time_slots"])
                Fq = np.where(fr, (p - t) // fl, 0)
                pos[b, :n] = np.where(fr, c["frame_pos_offset"] + fl * slots[Fq] + (p - t) % fl, p)
            else:
                pos[b, :n] = np.where(fr, c["frame_pos_offset"] + (p - t), p)
            ns.append(n)
            prefixes.append(t + fl * given)
        dev = seq.device
        return torch.from_numpy(ids).to(dev), torch.from_numpy(pos).to(dev), ns, prefixes

    def forward_teacher(self, seq, text_len, mode, log_w=0.0, output="logits", fast=True):
        """Teacher-forced forward.  seq [B, Lmax] int64: each row text(tl_b) +
        [BOI] + frames (row-major), padded with -1 at the end; text_len [B].
        mode: 's1-first' (one frame, enforce_no_swin), 's1-video' (frame 0
        given, then AR), 's2-interp' (3 given model-frames in one NAR call,
        then AR, slots [0,2,4,1,3]).  Returns logits [B, Lmax-1, image_tokens]:
        logits[b, p] predict seq[b, p+1] exactly as the cached inference
        computes them (for p at or after the given prefix; positions of the
        given prefix get what its non-incremental call computes there).
        output as in forward_ids.  fast (default): the block-sparse path
        (_teacher_aligned); fast=False: forward_ids with dense [L, L] masks.
        Both give the same values (up to float rounding); rows after a
        row's end hold unspecified (finite) values."""
        ids, pos, n, prefix = self.teacher_inputs(seq, text_len, mode)
        if fast:
            out = self._teacher_aligned(ids, pos, text_len, n, prefix, mode, log_w, output)
            if out is not None:
                return out
        return self.forward_ids(ids, pos, text_len, log_w=log_w, n=n, prefix=prefix,
                                enforce_no_swin=(mode == "s1-first"), output=output)

    def _teacher_aligned(self, ids, pos, text_len, n, prefix, mode, log_w, output):
        """forward_teacher's fast path (same results as forward_ids with the
        dense masks): the rows are re-laid so that every text is padded to
        the batch's longest (T) and all frames start at T; then the base
        channel is computed per model-frame block (text keys + its own
        frame) instead of over the whole sequence, and the plus channel with
        one [La, La] mask shared by the batch.  None if the rows have
        different numbers of frames."""
        c = self.cfg
        fh, fw = c["frame_grid"]
        fl = fh * fw
        B, L = ids.shape
        tl = [int(t) for t in torch.as_tensor(text_len).reshape(-1).tolist()]
        nfs = {(m - t) // fl for m, t in zip(n, tl)}
        gvs = {(pf - t) // fl for pf, t in zip(prefix, tl)}
        if len(nfs) != 1 or len(gvs) != 1:
            return None
        nF, given = nfs.pop(), gvs.pop()
        T = max(tl)
        La = T + nF * fl
        dev = ids.device
        nh = c["num_attention_heads"]
        H = c["hidden_size"]
        dh = H // nh
        ninf = float("-inf")
        w = float(log_w)
        a = torch.arange(La, device=dev).unsqueeze(0)
        tlt = torch.tensor(tl, device=dev).unsqueeze(1)
        valid = (a >= T) | (a < tlt)                        # [B, La]
        src = torch.where(a < T, a, a - T + tlt).clamp(max=L - 1)
        ids_a = torch.where(valid, ids.gather(1, src), torch.full_like(src, -1))
        pos_a = torch.where(valid, pos.gather(1, src), torch.zeros_like(src))
        h = self._embed(ids_a, pos_a)

        # base channel: text keys (+w; -inf on the padding), own frame
        tkey = valid[:, :T]                                 # [B, T]
        add_t = torch.full((B, T), ninf, device=dev).masked_fill(tkey, w)
        add_tt = add_t[:, None, None, :]                    # [B,1,1,T]
        add_ft = add_t[:, None, None, None, :]              # [B,1,1,1,T]
        ff = torch.ones(fl, fl, dtype=torch.bool, device=dev).tril()
        ff = ff.expand(nF, fl, fl).clone()
        if c["cogvideo_stage"] == 2:
            ff[:given] = True                               # stage-2 NAR: whole frame
        add_ff = torch.zeros(nF, fl, fl, device=dev).masked_fill(~ff, ninf)

        def heads(x):
            return x.reshape(B, La, nh, dh).transpose(1, 2)

        def attn_local(li, qkv):
            q, k, v = (heads(x) for x in qkv.split(H, dim=-1))
            q = q / math.sqrt(dh)
            qt, qf = q[:, :, :T], q[:, :, T:]
            kt, kf = k[:, :, :T], k[:, :, T:]
            vt, vf = v[:, :, :T], v[:, :, T:]
            pt = torch.softmax(torch.matmul(qt, kt.transpose(-1, -2)) + add_tt, dim=-1)
            if self.training and c["attention_dropout"] > 0:
                pt = F.dropout(pt, c["attention_dropout"])
            ct_ = torch.matmul(pt, vt)
            s1 = torch.matmul(qf, kt.transpose(-1, -2)).reshape(B, nh, nF, fl, T) + add_ft
            kf5 = kf.reshape(B, nh, nF, fl, dh)
            vf5 = vf.reshape(B, nh, nF, fl, dh)
            s2 = torch.matmul(qf.reshape(B, nh, nF, fl, dh), kf5.transpose(-1, -2)) + add_ff
            pf = torch.softmax(torch.cat([s1, s2], dim=-1), dim=-1)
            if self.training and c["attention_dropout"] > 0:
                pf = F.dropout(pf, c["attention_dropout"])
            cf = torch.matmul(pf[..., :T].reshape(B, nh, nF * fl, T), vt) + \
                torch.matmul(pf[..., T:], vf5).reshape(B, nh, nF * fl, dh)
            return torch.cat([ct_, cf], dim=2).transpose(1, 2).reshape(B, La, H)

        use_plus = mode != "s1-first"
        adds = {}
        if use_plus:
            pl = _plan(c["cogvideo_stage"], c["attention_plus"], fh, fw, c["window_size"],
                       c["swin_shift"], T, La, T + given * fl, La)
            for par in (0, 1):
                m = torch.from_numpy(pl["plus%d" % par]).to(dev)
                ad = torch.from_numpy(pl["pbias"]).to(dev).to(torch.float32) * w
                ad = ad.masked_fill(~m, ninf)
                ad[:T] = ninf                               # text queries: unused,
                ad[:T, 0] = 0.0                             # one valid key (no NaN)
                adds[par] = ad.unsqueeze(0).masked_fill(~valid.unsqueeze(1), ninf)

        def attn_plus(li, qkv):
            return self._attend(qkv, adds[li % 2])

        frameq = (a >= T).expand(B, La).unsqueeze(-1)
        hs = self._layers(h, attn_local, attn_plus, frameq, use_plus, output in ("layers", "all"))
        # back to the caller's layout: p < tl -> p, else p - tl + T
        p = torch.arange(L, device=dev).unsqueeze(0)
        back = torch.where(p < tlt, p, p - tlt + T).clamp(max=La - 1).unsqueeze(-1)

        def gather(x):
            return x.gather(1, back.expand(B, L, x.shape[-1]))
        return self._outputs(hs, output, gather)

    def teacher_targets(self, seq, text_len, mode, given_frames_too=False):
        """Targets [B, Lmax-1] (= seq[:, 1:], -1 clamped to 0) and a bool loss
        mask: by default the positions whose prediction the pipeline samples
        (the frame tokens after the given prefix).  given_frames_too also
        counts the tokens of the given frames (from position tl on): sound for
        stage 1, whose first call is causal, but refused for s2-interp, whose
        first call is bidirectional within each frame (its logits see their
        own targets)."""
        if given_frames_too and mode == "s2-interp":
            raise ValueError("given_frames_too: the s2-interp prefix is bidirectional (its targets are visible)")
        c = self.cfg
        seq = torch.as_tensor(seq)
        if seq.dim() == 1:
            seq = seq.unsqueeze(0)
        fl = c["frame_grid"][0] * c["frame_grid"][1]
        given = {"s1-first": 0, "s1-video": 1, "s2-interp": 3}[mode]
        tgt = seq[:, 1:].clone()
        B, L = tgt.shape
        p = torch.arange(L, device=seq.device).unsqueeze(0)
        tl = torch.as_tensor(text_len, device=seq.device).reshape(-1, 1)
        start = tl if given_frames_too else tl + fl * given
        mask = (p >= start) & (tgt >= 0)
        return tgt.clamp(min=0), mask


# ------------------------------------------------------------- checkpoints
def _sat_config(c):
    return {
        "model_class": "CogVideoModel",
        "num_layers": c["num_layers"],
        "hidden_size": c["hidden_size"],
        "num_attention_heads": c["num_attention_heads"],
        "vocab_size": c["vocab_size"],
        "hidden_dropout": float(c["hidden_dropout"]),
        "attention_dropout": float(c["attention_dropout"]),
        "layernorm_order": "sandwich",
        "model_parallel_size": 1,
        "max_sequence_length": c["max_sequence_length"],
        "layout": list(c["layout"]),
        "window_size": c["window_size"] if c["cogvideo_stage"] == 2 else -1,
        "additional_seqlen": c["additional_seqlen"],
        "cogvideo_stage": c["cogvideo_stage"],
    }


SIDECAR = "cogvideo_torch.json"
_SIDECAR_KEYS = ("image_tokens", "frame_grid", "frame_pos_offset", "extra_pos_offset",
                 "attention_plus", "boi_id", "max_text_len", "swin_shift", "time_slots")


def save_sat(model, cfg=None, dir=".", dtype=torch.float32):
    """Writes the released SAT layout: DIR/model_config.json, DIR/latest ("1"),
    DIR/1/mp_rank_00_model_states.pt = torch.save({'module': state_dict}) with
    tensors in dtype; plus DIR/cogvideo_torch.json, the non-SAT settings
    (image tokens, grid, offsets...) that load_sat reads back."""
    c = complete_cfg(cfg) if cfg is not None else model.cfg
    os.makedirs(os.path.join(dir, "1"), exist_ok=True)
    with open(os.path.join(dir, "model_config.json"), "w") as f:
        json.dump(_sat_config(c), f, indent=4)
    with open(os.path.join(dir, "latest"), "w") as f:
        f.write("1")
    sd = {k: v.detach().to("cpu", dtype).contiguous().clone() for k, v in model.state_dict().items()}
    torch.save({"module": sd}, os.path.join(dir, "1", "mp_rank_00_model_states.pt"))
    side = {k: (list(c[k]) if isinstance(c[k], tuple) else c[k]) for k in _SIDECAR_KEYS}
    with open(os.path.join(dir, SIDECAR), "w") as f:
        json.dump(side, f, indent=2)


def load_sat(dir, map_location="cpu", **overrides):
    """Reads a SAT checkpoint directory (model_config.json, latest,
    <latest>/mp_rank_00_model_states.pt['module']) into a float32 model in
    eval mode.  Settings the SAT config does not hold come from
    DIR/cogvideo_torch.json when present, else the release's defaults
    (image_tokens 20000, grid 20x20, frame_pos_offset 512, ...); keyword
    arguments (cfg keys) override both.  Returns (model, cfg)."""
    with open(os.path.join(dir, "model_config.json")) as f:
        sat = json.load(f)
    with open(os.path.join(dir, "latest")) as f:
        tag = f.read().strip()
    cfg = {k: sat[k] for k in ("num_layers", "hidden_size", "num_attention_heads", "vocab_size",
                                "max_sequence_length", "additional_seqlen", "cogvideo_stage",
                                "window_size", "layout")}
    cfg["hidden_dropout"] = sat.get("hidden_dropout", 0.0)
    cfg["attention_dropout"] = sat.get("attention_dropout", 0.0)
    side = os.path.join(dir, SIDECAR)
    if os.path.exists(side):
        with open(side) as f:
            cfg.update(json.load(f))
    cfg.update(overrides)
    model = CogVideoTorch(cfg)
    ck = torch.load(os.path.join(dir, tag, "mp_rank_00_model_states.pt"), map_location=map_location)
    sd = {k: v.float() for k, v in ck["module"].items()}
    model.load_state_dict(sd, strict=True)
    model.eval()
    return model, model.cfg
