#!/usr/bin/env python3
"""Writes testdata/sat-tiny/: a SAT checkpoint folder with the real key set
and config keys but tiny sizes (L=1, H=32, 2 heads, vocab 110), stdlib only.
Word embeddings are stored f16 (as in the fp16 release), every other tensor
f32, so one fixture exercises both source dtypes.  Usage: make_sat_fixture.py OUTDIR"""
import json
import os
import random
import sys

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


def main(outdir):
    rnd = random.Random(1234)
    tensors, storages = [], []
    for k, (name, shape) in enumerate(expected()):
        n = 1
        for s in shape:
            n *= s
        vals = [rnd.gauss(0.0, 0.5) for _ in range(n)]
        half = name == "transformer.word_embeddings.weight"
        stride = [shape[1], 1] if len(shape) == 2 else [1]
        tensors.append((name, "HalfStorage" if half else "FloatStorage", str(k), n, 0, shape, stride))
        storages.append((str(k), mk.f16(vals) if half else mk.f32(vals)))
    blob = mk.checkpoint("archive", mk.deepspeed_pickle(tensors), storages)
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
    main(sys.argv[1] if len(sys.argv) > 1 else "testdata/sat-tiny")
