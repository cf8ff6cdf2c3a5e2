#!/usr/bin/python3
"""The cogvideo-tiny VQVAE (issue 7, tools/train/TINY.md): 64x64 RGB frames <-> 8x8 grids of
512 image tokens.  torch + numpy + stdlib only.

The decoder is icetk's `decs[1]` Decoder (taming-transformers layout: conv_in, mid.block_1,
mid.attn_1, mid.block_2, up.L.block.0 / up.L.upsample.conv, norm_out, conv_out; GroupNorm 32
groups eps 1e-6, swish, nearest x2 upsampling), so `cogvideo convert-vqvae ice_image.pt
vq.gguf --grid 8x8` and `cogvideo decode` run it.  Pixels follow icetk's convention: the
network sees x = (rgb/255 - MEAN) / STD and its output o is the image o * STD + MEAN (the C
decoder's de-normalisation), turned into bytes as `cogvideo decode --pixel clamp` does.

The encoder (enc.*) is this file's own: three stride-2 convolutions 64 -> 8 with residual
blocks.  The quantizer has 512 codes updated by exponential moving averages of their
assigned encoder outputs (k-means style), initialised from encoder outputs and restarting
dead codes on encoder outputs of the current batch.

CLI
  vqvae.py train (--data FILE.npz | --generate N) [--minutes M | --steps S] --seed S --out DIR
  vqvae.py export DIR [-o DIR/ice_image.pt] [--f32] [--with-encoder]
  vqvae.py eval DIR (--data FILE.npz | --generate N)       held-out quality numbers
  vqvae.py bench DIR [--frames N]                          encode / decode speed
  Data: --generate N renders N clips with tools/tinydata/tinydata.py (write_dataset; the
  environment variable TINYDATA=DIR points at another copy); held-out frames (--val-generate
  N) use seed + 1000 and split 'any'.  The decoder's frames go to bytes with --pixel clamp;
  the pipeline's default --pixel normalize (per-frame min-max) would stretch the colours.

The shipped model (issue 7; 12 min on 2 threads, 5340 steps):
  tools/train/vqvae.py train --generate 2000 --val-generate 40 --minutes 12 --seed 0 \
      --threads 2 --out /work/tiny-artifacts/vqvae
  -> DIR/vqvae.pt (full model + config), DIR/ice_image.pt (export, f16), train.json
  Decoder(channels=32, channels_mult=[1,1,2,2], num_res_blocks=0, z_channels=32): 464,355
  parameters + codebook 512 x 32; ice_image.pt 983,584 bytes (f16).
Python API
  m = load(DIR or DIR/vqvae.pt)
  encode(frames_u8 [N,64,64,3], m) -> np.int64 [N,8,8]
  decode(ids [N,8,8], m) -> np.uint8 [N,64,64,3]    (the C decoder's --pixel clamp bytes)
  decode_float(ids, m) -> np.float32 [N,3,64,64]    (icetk's decode output, = decode --img)
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

MEAN = (0.79093, 0.76271, 0.75340)  # icetk ImageTokenizer de-normalisation (src/vqvae.c)
STD = (0.30379, 0.32279, 0.32800)
FRAME, GRID, CODES = 64, 8, 512

DEFAULT_CFG = dict(channels=32, channels_mult=[1, 1, 2, 2], num_res_blocks=0, z_channels=32, n_codes=CODES,
                   enc_channels=[32, 64, 128], beta=0.25, decay=0.97, zero_init=True)


# ------------------------------------------------------------------ pixels

def _mean_std(device=None):
    m = torch.tensor(MEAN, dtype=torch.float32, device=device).view(1, 3, 1, 1)
    s = torch.tensor(STD, dtype=torch.float32, device=device).view(1, 3, 1, 1)
    return m, s


def frames_to_input(frames):
    """uint8 [N,64,64,3] (numpy or torch) -> float32 [N,3,64,64], icetk-normalised."""
    x = torch.as_tensor(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 255.0
    m, s = _mean_std()
    return (x - m) / s


def output_to_image(o):
    """decoder output -> icetk's image (out * std + mean), float32 [N,3,H,W]."""
    m, s = _mean_std(o.device)
    return o * s + m


def image_to_u8(img):
    """float [N,3,H,W] -> uint8 [N,H,W,3] exactly as cv_image_to_u8(--pixel clamp):
    clamp to [0,1], *255, +0.5, clamp to [0,255], truncate."""
    y = img.float().clamp(0.0, 1.0) * 255.0
    y = (y + 0.5).clamp(0.0, 255.0)
    return y.to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


# ------------------------------------------------------------------ icetk's decoder

def Normalize(c):
    return nn.GroupNorm(num_groups=32, num_channels=c, eps=1e-6, affine=True)


def swish(x):
    return x * torch.sigmoid(x)


class ResnetBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.norm1 = Normalize(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.norm2 = Normalize(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        if cin != cout:
            self.nin_shortcut = nn.Conv2d(cin, cout, 1, 1, 0)
        self.cin, self.cout = cin, cout

    def forward(self, x):
        h = self.conv1(swish(self.norm1(x)))
        h = self.conv2(swish(self.norm2(h)))
        if self.cin != self.cout:
            x = self.nin_shortcut(x)
        return x + h


class AttnBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.norm = Normalize(c)
        self.q = nn.Conv2d(c, c, 1)
        self.k = nn.Conv2d(c, c, 1)
        self.v = nn.Conv2d(c, c, 1)
        self.proj_out = nn.Conv2d(c, c, 1)

    def forward(self, x):
        h = self.norm(x)
        q, k, v = self.q(h), self.k(h), self.v(h)
        b, c, hh, ww = q.shape
        q = q.reshape(b, c, hh * ww).permute(0, 2, 1)  # b, hw, c
        k = k.reshape(b, c, hh * ww)  # b, c, hw
        w = torch.bmm(q, k) * (int(c) ** (-0.5))
        w = F.softmax(w, dim=2)
        v = v.reshape(b, c, hh * ww)
        h = torch.bmm(v, w.permute(0, 2, 1)).reshape(b, c, hh, ww)
        return x + self.proj_out(h)


class Upsample(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, 1, 1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Decoder(nn.Module):
    """icetk's Decoder(channels, channels_mult, num_res_blocks, z_channels, out_channels=3)
    with no attention outside the middle (as decs[1] at its resolutions)."""

    def __init__(self, channels, channels_mult, num_res_blocks, z_channels, out_channels=3):
        super().__init__()
        n = len(channels_mult)
        cin = channels * channels_mult[-1]
        self.conv_in = nn.Conv2d(z_channels, cin, 3, 1, 1)
        self.mid = nn.Module()
        self.mid.block_1 = ResnetBlock(cin, cin)
        self.mid.attn_1 = AttnBlock(cin)
        self.mid.block_2 = ResnetBlock(cin, cin)
        self.up = nn.ModuleList()
        ups = []
        for lvl in reversed(range(n)):
            cout = channels * channels_mult[lvl]
            up = nn.Module()
            up.block = nn.ModuleList()
            up.attn = nn.ModuleList()
            for _ in range(num_res_blocks + 1):
                up.block.append(ResnetBlock(cin, cout))
                cin = cout
            if lvl != 0:
                up.upsample = Upsample(cin)
            ups.insert(0, up)
        self.up = nn.ModuleList(ups)
        self.norm_out = Normalize(cin)
        self.conv_out = nn.Conv2d(cin, out_channels, 3, 1, 1)

    def forward(self, z):
        h = self.conv_in(z)
        h = self.mid.block_2(self.mid.attn_1(self.mid.block_1(h)))
        for lvl in reversed(range(len(self.up))):
            for blk in self.up[lvl].block:
                h = blk(h)
            if lvl != 0:
                h = self.up[lvl].upsample(h)
        return self.conv_out(swish(self.norm_out(h)))


# ------------------------------------------------------------------ encoder, quantizer

class EncBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, 1, 1)
        self.conv2 = nn.Conv2d(c, c, 3, 1, 1)

    def forward(self, x):
        return x + self.conv2(F.silu(self.conv1(F.silu(x))))


class Encoder(nn.Module):
    """64x64x3 -> 8x8xz: conv, then per level a stride-2 4x4 conv and a residual block."""

    def __init__(self, widths, z_channels):
        super().__init__()
        self.conv_in = nn.Conv2d(3, widths[0], 3, 1, 1)
        self.down = nn.ModuleList()
        self.block = nn.ModuleList()
        cin = widths[0]
        for w in widths:
            self.down.append(nn.Conv2d(cin, w, 4, 2, 1))
            self.block.append(EncBlock(w))
            cin = w
        self.conv_out = nn.Conv2d(cin, z_channels, 1)

    def forward(self, x):
        h = self.conv_in(x)
        for d, b in zip(self.down, self.block):
            h = b(d(F.silu(h)))
        return self.conv_out(F.silu(h))


class Quantizer(nn.Module):
    """EMA vector quantizer; embed.weight [n_codes, z] is what the decoder looks up."""

    def __init__(self, n_codes, dim, decay=0.99, eps=1e-5):
        super().__init__()
        self.embed = nn.Embedding(n_codes, dim)
        self.embed.weight.requires_grad_(False)
        self.register_buffer("cluster_size", torch.zeros(n_codes))
        self.register_buffer("embed_avg", self.embed.weight.detach().clone())
        self.register_buffer("initted", torch.zeros(()))
        self.n, self.decay, self.eps = n_codes, decay, eps

    def ids(self, flat):
        e = self.embed.weight
        d = (flat * flat).sum(1, keepdim=True) - 2 * flat @ e.t() + (e * e).sum(1)[None]
        return d.argmin(1)

    @torch.no_grad()
    def kmeans_init(self, flat, gen, iters=15):
        """the codebook from Lloyd's k-means on encoder outputs flat [M, z] (M >= n_codes)."""
        c = flat[torch.randperm(flat.shape[0], generator=gen)[:self.n]].clone()
        for _ in range(iters):
            d = (flat * flat).sum(1, keepdim=True) - 2 * flat @ c.t() + (c * c).sum(1)[None]
            a = d.argmin(1)
            cnt = torch.bincount(a, minlength=self.n).float()
            s = torch.zeros_like(c).index_add_(0, a, flat)
            empty = cnt == 0
            c = torch.where(empty[:, None], flat[torch.randint(0, flat.shape[0], (self.n,), generator=gen)],
                            s / cnt.clamp(min=1)[:, None])
        self.embed.weight.data.copy_(c)
        self.embed_avg.copy_(c)
        self.cluster_size.fill_(1.0)
        self.initted.fill_(1.0)

    def forward(self, z, gen=None):
        b, c, h, w = z.shape
        flat = z.permute(0, 2, 3, 1).reshape(-1, c)
        if self.training and not bool(self.initted):
            sel = torch.randint(0, flat.shape[0], (self.n,), generator=gen)
            self.embed.weight.data.copy_(flat[sel].detach())
            self.embed_avg.copy_(flat[sel].detach())
            self.cluster_size.fill_(1.0)
            self.initted.fill_(1.0)
        idx = self.ids(flat.detach())
        q = self.embed(idx)
        if self.training:
            with torch.no_grad():
                onehot = F.one_hot(idx, self.n).type(flat.dtype)
                cnt = onehot.sum(0)
                self.cluster_size.mul_(self.decay).add_(cnt, alpha=1 - self.decay)
                self.embed_avg.mul_(self.decay).add_(onehot.t() @ flat.detach(), alpha=1 - self.decay)
                n = self.cluster_size.sum()
                cs = (self.cluster_size + self.eps) / (n + self.n * self.eps) * n
                self.embed.weight.data.copy_(self.embed_avg / cs[:, None])
        q = q.view(b, h, w, c).permute(0, 3, 1, 2)
        commit = F.mse_loss(z, q.detach())
        return z + (q - z).detach(), commit, idx.view(b, h, w)

    @torch.no_grad()
    def restart_dead(self, flat, gen, thresh):
        """codes whose EMA count fell below `thresh` move onto random current encoder outputs."""
        dead = (self.cluster_size < thresh).nonzero().flatten()
        if len(dead) == 0:
            return 0
        sel = torch.randint(0, flat.shape[0], (len(dead),), generator=gen)
        new = flat[sel] + 0.01 * flat.std() * torch.randn(len(dead), flat.shape[1], generator=gen)
        self.embed.weight.data[dead] = new
        self.embed_avg[dead] = new
        self.cluster_size[dead] = 1.0
        return len(dead)


class VQVAE(nn.Module):
    def __init__(self, cfg=None):
        super().__init__()
        self.cfg = dict(DEFAULT_CFG, **(cfg or {}))
        c = self.cfg
        self.enc = Encoder(c["enc_channels"], c["z_channels"])
        self.quantize = Quantizer(c["n_codes"], c["z_channels"], c["decay"])
        self.dec = Decoder(c["channels"], c["channels_mult"], c["num_res_blocks"], c["z_channels"])
        if c.get("zero_init", True):  # residual branches start at zero: a deep net that trains fast
            for mod in self.modules():
                if isinstance(mod, (ResnetBlock, EncBlock)):
                    nn.init.zeros_(mod.conv2.weight), nn.init.zeros_(mod.conv2.bias)
                elif isinstance(mod, AttnBlock):
                    nn.init.zeros_(mod.proj_out.weight), nn.init.zeros_(mod.proj_out.bias)

    def forward(self, x, gen=None, quantize=True):
        z = self.enc(x)
        if not quantize:
            return self.dec(z), torch.zeros(()), torch.zeros(z.shape[0], z.shape[2], z.shape[3], dtype=torch.long), z
        zq, commit, idx = self.quantize(z, gen)
        return self.dec(zq), commit, idx, z

    @torch.no_grad()
    def encode_ids(self, x):
        z = self.enc(x)
        b, c, h, w = z.shape
        return self.quantize.ids(z.permute(0, 2, 3, 1).reshape(-1, c)).view(b, h, w)

    @torch.no_grad()
    def decode_ids(self, ids):
        q = self.quantize.embed(ids).permute(0, 3, 1, 2)
        return self.dec(q)


# ------------------------------------------------------------------ API

_DEFAULT = [None]


def load(path):
    """a model from DIR (DIR/vqvae.pt) or a vqvae.pt; also becomes encode/decode's default."""
    if os.path.isdir(path):
        path = os.path.join(path, "vqvae.pt")
    ck = torch.load(path, map_location="cpu")
    m = VQVAE(ck["cfg"])
    m.load_state_dict(ck["model"])
    m.eval()
    _DEFAULT[0] = m
    return m


def _model(m):
    m = m if m is not None else _DEFAULT[0]
    if m is None:
        raise ValueError("no model: pass model= or call load(DIR) first")
    return m


def encode(frames, model=None, batch=256):
    """uint8 [N,64,64,3] -> int64 [N,8,8] token ids."""
    m = _model(model)
    frames = np.asarray(frames)
    assert frames.dtype == np.uint8 and frames.shape[1:] == (FRAME, FRAME, 3), frames.shape
    out = [m.encode_ids(frames_to_input(frames[i:i + batch])).numpy() for i in range(0, len(frames), batch)]
    return np.concatenate(out).astype(np.int64) if out else np.zeros((0, GRID, GRID), np.int64)


def decode_float(ids, model=None, batch=256):
    """int [N,8,8] -> float32 [N,3,64,64], icetk's decode output (decoder out * std + mean)."""
    m = _model(model)
    ids = torch.as_tensor(np.asarray(ids, dtype=np.int64))
    with torch.no_grad():
        out = [output_to_image(m.decode_ids(ids[i:i + batch])) for i in range(0, len(ids), batch)]
    return torch.cat(out).numpy()


def decode(ids, model=None, batch=256):
    """int [N,8,8] -> uint8 [N,64,64,3] (as `cogvideo decode --pixel clamp`)."""
    return image_to_u8(torch.as_tensor(decode_float(ids, model, batch)))


def export_state_dict(m, half=True, with_encoder=False):
    """bare icetk-layout state dict: quantize.embed.weight + decs.1.* (+ enc.*)."""
    sd = {"quantize.embed.weight": m.quantize.embed.weight.detach().clone()}
    for k, v in m.dec.state_dict().items():
        sd["decs.1." + k] = v.detach().clone()
    if with_encoder:
        for k, v in m.enc.state_dict().items():
            sd["enc." + k] = v.detach().clone()
    return {k: (v.half() if half else v.float()).contiguous() for k, v in sd.items()}


# ------------------------------------------------------------------ data

def _tinydata():
    """tools/tinydata/tinydata.py (TINYDATA=path/to/dir overrides)."""
    here = os.path.dirname(os.path.abspath(__file__))
    for d in [os.environ.get("TINYDATA"), os.path.join(here, "..", "tinydata")]:
        if d and os.path.exists(os.path.join(d, "tinydata.py")):
            sys.path.insert(0, os.path.abspath(d))
            import tinydata
            return tinydata
    raise SystemExit("tools/tinydata/tinydata.py not found (set TINYDATA=DIR)")


def load_frames(data=None, generate=0, seed=0, split="train", cache=None):
    """uint8 [N,64,64,3]: every frame of an npz's `frames` [clips,T,64,64,3], or of N clips
    written by tinydata.write_dataset(cache, N, seed, split)."""
    if data:
        fr = np.load(data)["frames"]
    else:
        td = _tinydata()
        cache = cache or "/tmp/vqvae_gen_%s_%d_%d.npz" % (split, generate, seed)
        if not os.path.exists(cache):
            td.write_dataset(cache, generate, seed, split)
        fr = np.load(cache)["frames"]
    return np.ascontiguousarray(fr.reshape(-1, FRAME, FRAME, 3))


# ------------------------------------------------------------------ metrics

def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * math.log10(255.0 ** 2 / max(mse, 1e-10))


def shape_metrics(orig, rec, min_px=12):
    """Per frame (tinydata: one flat shape on a flat background): bg = the most frequent RGB
    value, fg = the next most frequent one (seen >= min_px times).  Coverage of a pixel =
    its projection onto fg - bg, clipped to [0, 1] (anti-aliased edges count partly), in the
    original and in the reconstruction; the centroid error is the distance (px) between the
    two coverage-weighted centroids, the colour error the max over channels of |mean colour
    of the reconstruction - fg| inside the original's pure-fg pixels eroded by one pixel.
    Returns (centroid errors, colour errors), inf where the reconstruction lost the shape."""
    cerr, colerr = [], []
    yy, xx = np.mgrid[0:FRAME, 0:FRAME]
    for o, r in zip(orig, rec):
        cols, cnt = np.unique(o.reshape(-1, 3), axis=0, return_counts=True)
        order = np.argsort(-cnt)
        if len(cols) < 2 or cnt[order[1]] < min_px:
            continue
        bg, fg = cols[order[0]].astype(np.float64), cols[order[1]].astype(np.float64)
        d = fg - bg
        dd = (d * d).sum()

        def cover(img):
            return np.clip(((img.astype(np.float64) - bg) * d).sum(-1) / dd, 0, 1)

        co, cr = cover(o), cover(r)
        if cr.sum() < 1:
            cerr.append(float("inf"))
            continue
        c0 = np.array([(xx * co).sum(), (yy * co).sum()]) / co.sum()
        c1 = np.array([(xx * cr).sum(), (yy * cr).sum()]) / cr.sum()
        cerr.append(float(np.linalg.norm(c0 - c1)))
        mo = (o == cols[order[1]]).all(-1)
        inner = mo.copy()
        inner[1:] &= mo[:-1]
        inner[:-1] &= mo[1:]
        inner[:, 1:] &= mo[:, :-1]
        inner[:, :-1] &= mo[:, 1:]
        if inner.sum() >= 4:
            colerr.append(float(np.abs(r[inner].astype(np.float64).mean(0) - fg).max()))
    return np.array(cerr), np.array(colerr)


def evaluate(m, frames, tag="held-out"):
    t0 = time.time()
    ids = encode(frames, m)
    t1 = time.time()
    rec = decode(ids, m)
    used = np.unique(ids)
    hist = np.bincount(ids.ravel(), minlength=m.cfg["n_codes"]) / ids.size
    perp = float(np.exp(-(hist[hist > 0] * np.log(hist[hist > 0])).sum()))
    ce, col = shape_metrics(frames, rec)
    fin = ce[np.isfinite(ce)]
    res = dict(frames=len(frames), psnr=psnr(frames, rec), codes_used=int(len(used)), perplexity=perp,
               centroid_mean=float(fin.mean()) if len(fin) else None,
               centroid_max=float(fin.max()) if len(fin) else None,
               centroid_p99=float(np.percentile(fin, 99)) if len(fin) else None,
               shapes=int(len(ce)), shapes_lost=int((~np.isfinite(ce)).sum()),
               colour_mean=float(col.mean()) if len(col) else None, colour_max=float(col.max()) if len(col) else None,
               max_abs_u8=int(np.abs(frames.astype(int) - rec.astype(int)).max()),
               encode_fps=len(frames) / max(t1 - t0, 1e-9))
    print("%s: %s" % (tag, json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in res.items()})),
          flush=True)
    return res


# ------------------------------------------------------------------ training

def edge_weight(x_u8, boost):
    """1 + boost where a pixel differs from a 4-neighbour (the shapes' edges)."""
    x = x_u8.float()
    e = torch.zeros(x.shape[0], x.shape[2], x.shape[3])
    dy = (x[:, :, 1:] - x[:, :, :-1]).abs().amax(1) > 0
    dx = (x[:, :, :, 1:] - x[:, :, :, :-1]).abs().amax(1) > 0
    e[:, 1:] += dy
    e[:, :-1] += dy
    e[:, :, 1:] += dx
    e[:, :, :-1] += dx
    return (1 + boost * (e > 0).float())[:, None]


def train(a):
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)
    torch.set_num_threads(a.threads)
    gen = torch.Generator().manual_seed(a.seed)
    os.makedirs(a.out, exist_ok=True)
    frames = load_frames(a.data, a.generate, a.seed, "train")
    val = load_frames(a.val_data, a.val_generate, a.seed + 1000, a.val_split) if (a.val_data or a.val_generate) \
        else None
    print("train frames %d%s" % (len(frames), "" if val is None else ", held-out frames %d" % len(val)), flush=True)
    cfg = dict(DEFAULT_CFG)
    cfg.update(channels=a.channels, channels_mult=[int(v) for v in a.mult.split(",")], z_channels=a.z,
               enc_channels=[int(v) for v in a.enc.split(",")], decay=a.decay)
    m = VQVAE(cfg)
    ndec = sum(p.numel() for p in m.dec.parameters())
    nenc = sum(p.numel() for p in m.enc.parameters())
    print("config %s; decoder %d params, encoder %d params" % (json.dumps(m.cfg), ndec, nenc), flush=True)
    opt = torch.optim.Adam([p for p in m.parameters() if p.requires_grad], lr=a.lr, betas=(0.9, 0.99))
    rng = np.random.default_rng(a.seed)
    t0 = time.time()
    last = t0
    step, hist, seen = 0, np.zeros(cfg["n_codes"]), 0.0
    budget = a.minutes * 60 if a.minutes else None
    m.train()
    while True:
        el = time.time() - t0
        frac = max(el / budget if budget else 0.0, step / a.steps if a.steps else 0.0)
        if frac >= 1.0:
            break
        lr = a.lr * min(1.0, (step + 1) / a.warmup) * (0.5 * (1 + math.cos(math.pi * frac)) * 0.95 + 0.05)
        for g in opt.param_groups:
            g["lr"] = lr
        crop = a.crop if (a.crop and frac < a.crop_frac) else FRAME
        bs = a.batch * (FRAME // crop) ** 2 // a.crop_batch_div if crop < FRAME else a.batch
        sel = rng.integers(0, len(frames), bs)
        if crop < FRAME:
            oy, ox = rng.integers(0, (FRAME - crop) // GRID + 1, 2) * GRID
            xb = torch.from_numpy(np.ascontiguousarray(frames[sel, oy:oy + crop, ox:ox + crop]))
        else:
            xb = torch.from_numpy(frames[sel])
        quant = frac >= a.ae_frac
        if quant and not bool(m.quantize.initted):
            with torch.no_grad():
                zs = [m.enc(frames_to_input(frames[rng.integers(0, len(frames), 64)])) for _ in range(8)]
                flat = torch.cat([z.permute(0, 2, 3, 1).reshape(-1, z.shape[1]) for z in zs])
            m.quantize.kmeans_init(flat, gen)
            print("step %d: codebook from k-means on %d encoder outputs; quantizing from now on" % (
                step, flat.shape[0]), flush=True)
        if a.flip:
            fl = torch.from_numpy(rng.random(bs) < 0.5)
            xb = torch.where(fl[:, None, None, None], xb.flip(2), xb)
        x = frames_to_input(xb)
        out, commit, idx, z = m(x, gen, quant)
        w = edge_weight(xb.permute(0, 3, 1, 2), a.edge)
        d = out - x
        rec = (w * (d.abs() + d * d)).mean()
        loss = rec + a.beta * commit
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        seen += bs * (crop / FRAME) ** 2
        hist += np.bincount(idx.flatten().numpy(), minlength=cfg["n_codes"])
        step += 1
        if quant and step % a.restart_every == 0 and frac < 0.9:
            flat = z.detach().permute(0, 2, 3, 1).reshape(-1, z.shape[1])
            nd = m.quantize.restart_dead(flat, gen, a.dead)
        else:
            nd = None
        if time.time() - last > a.log_every or frac >= 1.0:
            last = time.time()
            with torch.no_grad():
                img = output_to_image(out.detach())
                p = psnr(xb.numpy(), image_to_u8(img))
            used = int((hist > 0).sum())
            print("step %d  %.0fs  lr %.2e  loss %.4f  commit %.4f  PSNR %.2f dB  codes used %d/%d%s" % (
                step, time.time() - t0, lr, rec.item(), commit.item(), p, used, cfg["n_codes"],
                "" if nd is None else "  restarted %d" % nd), flush=True)
            hist[:] = 0
    print("trained %d steps in %.1f s (%.1f whole-frame equivalents/s)" % (step, time.time() - t0,
                                                                         seen / (time.time() - t0)))
    m.eval()
    torch.save(dict(cfg=m.cfg, model=m.state_dict(), steps=step, args=vars(a)), os.path.join(a.out, "vqvae.pt"))
    res = {}
    if val is not None:
        res = evaluate(m, val)
    torch.save(export_state_dict(m), os.path.join(a.out, "ice_image.pt"))
    with open(os.path.join(a.out, "train.json"), "w") as f:
        json.dump(dict(steps=step, seconds=time.time() - t0, args=vars(a), cfg=m.cfg, heldout=res), f, indent=1)
    print("wrote %s/vqvae.pt, %s/ice_image.pt" % (a.out, a.out))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train a model into --out DIR")
    t.add_argument("--data", help="npz with frames [clips,T,64,64,3] uint8")
    t.add_argument("--generate", type=int, default=0, help="N clips from tinydata.write_dataset instead")
    t.add_argument("--val-data")
    t.add_argument("--val-generate", type=int, default=0, help="held-out clips (seed+1000)")
    t.add_argument("--val-split", default="any")
    t.add_argument("--minutes", type=float, default=0)
    t.add_argument("--steps", type=int, default=0)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--out", required=True)
    t.add_argument("--threads", type=int, default=1)
    t.add_argument("--batch", type=int, default=32)
    t.add_argument("--lr", type=float, default=3e-3)
    t.add_argument("--beta", type=float, default=0.25)
    t.add_argument("--warmup", type=int, default=50)
    t.add_argument("--ae-frac", type=float, default=0.1, help="first fraction trained without quantizing")
    t.add_argument("--crop", type=int, default=32, help="token-aligned crops of this size (0: whole frames)")
    t.add_argument("--crop-frac", type=float, default=0.7, help="fraction of training on crops")
    t.add_argument("--crop-batch-div", type=int, default=4, help="crop batch = batch * (64/crop)^2 / this")
    t.add_argument("--decay", type=float, default=DEFAULT_CFG["decay"], help="codebook EMA decay")
    t.add_argument("--edge", type=float, default=4.0, help="extra loss weight on edge pixels")
    t.add_argument("--flip", type=int, default=1, help="random horizontal flips")
    t.add_argument("--channels", type=int, default=DEFAULT_CFG["channels"])
    t.add_argument("--mult", default=",".join(map(str, DEFAULT_CFG["channels_mult"])))
    t.add_argument("--z", type=int, default=DEFAULT_CFG["z_channels"])
    t.add_argument("--enc", default=",".join(map(str, DEFAULT_CFG["enc_channels"])))
    t.add_argument("--dead", type=float, default=0.25, help="EMA count below which a code restarts")
    t.add_argument("--restart-every", type=int, default=25)
    t.add_argument("--log-every", type=float, default=30)
    e = sub.add_parser("export", help="DIR/vqvae.pt -> bare icetk state dict")
    e.add_argument("dir")
    e.add_argument("-o", "--output")
    e.add_argument("--f32", action="store_true")
    e.add_argument("--with-encoder", action="store_true")
    v = sub.add_parser("eval", help="held-out quality")
    v.add_argument("dir")
    v.add_argument("--data")
    v.add_argument("--generate", type=int, default=0)
    v.add_argument("--seed", type=int, default=1000)
    v.add_argument("--split", default="any")
    v.add_argument("--threads", type=int, default=1)
    b = sub.add_parser("bench", help="encode/decode speed (frames/s)")
    b.add_argument("dir")
    b.add_argument("--frames", type=int, default=1024)
    b.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    if a.cmd == "train":
        if not a.data and not a.generate:
            ap.error("train: --data or --generate")
        if not a.minutes and not a.steps:
            ap.error("train: --minutes or --steps")
        train(a)
    elif a.cmd == "export":
        m = load(a.dir)
        out = a.output or os.path.join(a.dir if os.path.isdir(a.dir) else os.path.dirname(a.dir), "ice_image.pt")
        sd = export_state_dict(m, half=not a.f32, with_encoder=a.with_encoder)
        torch.save(sd, out)
        n = sum(v.numel() for k, v in sd.items())
        print("wrote %s: %d tensors, %d values, %d bytes" % (out, len(sd), n, os.path.getsize(out)))
    elif a.cmd == "eval":
        torch.set_num_threads(a.threads)
        m = load(a.dir)
        evaluate(m, load_frames(a.data, a.generate, a.seed, a.split))
    elif a.cmd == "bench":
        torch.set_num_threads(a.threads)
        m = load(a.dir)
        rng = np.random.default_rng(0)
        fr = rng.integers(0, 256, (a.frames, FRAME, FRAME, 3), dtype=np.uint8)
        encode(fr[:64], m)
        t0 = time.time()
        ids = encode(fr, m)
        t1 = time.time()
        decode(ids, m)
        t2 = time.time()
        print("threads %d: encode %.0f frames/s, decode %.0f frames/s" % (
            a.threads, a.frames / (t1 - t0), a.frames / (t2 - t1)))


if __name__ == "__main__":
    main()
