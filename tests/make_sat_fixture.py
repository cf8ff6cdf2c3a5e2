#!/usr/bin/env python3
"""Writes testdata/sat-tiny/: a SAT checkpoint folder with the real key set
and config keys but tiny sizes (L=1, H=32, 2 heads, vocab 110), stdlib only.
Word embeddings are stored f16 (as in the fp16 release), every other tensor
f32, so one fixture exercises both source dtypes.

Usage: make_sat_fixture.py OUTDIR                writes the folder (testdata/sat-tiny)
       make_sat_fixture.py OUTDIR VARIANT...     writes OUTDIR/VARIANT.pt, a broken .pt
                                                 for sat-tiny's config (testdata/sat-tiny-bad);
                                                 VARIANT: missing_tensor, extra_tensor,
                                                 wrong_shape, bad_opcode, or all"""
import io
import json
import os
import random
import sys
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_ckpt_fixtures as mk  # noqa: E402

L, H, HEADS, VOCAB, MAXSEQ, ADDSEQ = 1, 32, 2, 110, 16, 8


def expected():
    t = [("transformer.word_embeddings.weight", [VOCAB, H]),
         ("transformer.position_embeddings.weight", [MAXSEQ, H])]
    for l in range(L):
        p = "transformer.layers.%d." % l
        for ln in ("input_layernorm", "third_layernorm", "fourth_layernorm", "post_attention_layernorm"):
            t += [(p + ln + ".weight", [H]), (p + ln + ".bias", [H])]
        for nm, o, i in (("attention.query_key_value", 3 * H, H), ("attention.dense", H, H),
                         ("mlp.dense_h_to_4h", 4 * H, H), ("mlp.dense_4h_to_h", H, 4 * H)):
            t += [(p + nm + ".weight", [o, i]), (p + nm + ".bias", [o])]
    t += [("transformer.final_layernorm.weight", [H]), ("transformer.final_layernorm.bias", [H]),
          ("mixins.extra_position_embedding.position_embeddings.weight", [ADDSEQ, H])]
    for l in range(L):
        t += [("mixins.attention_plus.query_key_value.%d.weight" % l, [3 * H, H]),
              ("mixins.attention_plus.query_key_value.%d.bias" % l, [3 * H]),
              ("mixins.attention_plus.dense.%d.weight" % l, [H, H]),
              ("mixins.attention_plus.dense.%d.bias" % l, [H]),
              ("mixins.attention_plus.attn_distribution.%d" % l, [H])]
    return t


def values():
    """[(name, shape, values, is_f16)] in state-dict order, always drawn in the
    same order from the same seed, so every variant shares sat-tiny's values."""
    rnd = random.Random(1234)
    out = []
    for name, shape in expected():
        n = 1
        for s in shape:
            n *= s
        vals = [rnd.gauss(0.0, 0.5) for _ in range(n)]
        out.append((name, shape, vals, name == "transformer.word_embeddings.weight"))
    return out


def pt_blob(entries):
    tensors, storages = [], []
    for k, (name, shape, vals, half) in enumerate(entries):
        stride = [shape[1], 1] if len(shape) == 2 else [1]
        tensors.append((name, "HalfStorage" if half else "FloatStorage", str(k), len(vals), 0, shape, stride))
        storages.append((str(k), mk.f16(vals) if half else mk.f32(vals)))
    return mk.checkpoint("archive", mk.deepspeed_pickle(tensors), storages)


def with_pickle(blob, change):
    """blob with its data.pkl changed (storages kept), not checked."""
    z = zipfile.ZipFile(io.BytesIO(blob))
    pkl = change(z.read("archive/data.pkl"))
    storages = [(n[len("archive/data/"):], z.read(n)) for n in z.namelist() if n.startswith("archive/data/")]
    return mk.checkpoint("archive", pkl, storages, check=False)


MISSING = "mixins.attention_plus.attn_distribution.0"
EXTRA = "transformer.layers.1.input_layernorm.weight"      # as if the checkpoint had 2 layers
TRANSPOSED = "transformer.layers.0.mlp.dense_4h_to_h.weight"  # [4H, H] instead of [H, 4H]


def bad_opcode(pkl):
    """The first tensor's requires_grad NEWFALSE (0x89) becomes 0xff, a byte
    that is no pickle opcode at all."""
    at = pkl.index(b"\x89ccollections\nOrderedDict\n")
    return pkl[:at] + b"\xff" + pkl[at + 1:]


def variant(name):
    """The .pt of a broken copy of sat-tiny; tests/test_convert.c names the
    error each must produce with sat-tiny's model_config.json."""
    e = values()
    if name == "missing_tensor":
        return pt_blob([t for t in e if t[0] != MISSING])
    if name == "extra_tensor":
        return pt_blob(e + [(EXTRA, [H], [1.0] * H, False)])
    if name == "wrong_shape":
        return pt_blob([(n, [4 * H, H] if n == TRANSPOSED else s, v, h) for n, s, v, h in e])
    if name == "bad_opcode":
        return with_pickle(pt_blob(e), bad_opcode)
    raise SystemExit("make_sat_fixture.py: unknown variant '%s' (expected one of %s)" % (name, ", ".join(VARIANTS)))


VARIANTS = ("missing_tensor", "extra_tensor", "wrong_shape", "bad_opcode")


def main(outdir):
    blob = pt_blob(values())
    os.makedirs(os.path.join(outdir, "1"), exist_ok=True)
    with open(os.path.join(outdir, "1", "mp_rank_00_model_states.pt"), "wb") as f:
        f.write(blob)
    with open(os.path.join(outdir, "latest"), "w") as f:
        f.write("1")
    cfg = {"model_class": "CogVideoModel", "num_layers": L, "hidden_size": H, "num_attention_heads": HEADS,
           "vocab_size": VOCAB, "hidden_dropout": 0.1, "attention_dropout": 0.1, "layernorm_order": "sandwich",
           "model_parallel_size": 1, "max_sequence_length": MAXSEQ, "layout": [8, 16, 32], "window_size": -1,
           "additional_seqlen": ADDSEQ, "cogvideo_stage": 1}
    with open(os.path.join(outdir, "model_config.json"), "w") as f:
        json.dump(cfg, f, indent=4)


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else "testdata/sat-tiny"
    if len(sys.argv) > 2:   # VARIANT (or "all"): OUTDIR/VARIANT.pt only
        os.makedirs(out, exist_ok=True)
        for v in VARIANTS if sys.argv[2] == "all" else sys.argv[2:]:
            with open(os.path.join(out, v + ".pt"), "wb") as f:
                f.write(variant(v))
    else:
        main(out)
