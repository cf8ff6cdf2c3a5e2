#!/bin/sh
# test_torch_agree.sh — issue 7: the C logits equal the PyTorch logits
# (tools/train/cogvideo_torch.py, the training model) on checkpoints that
# PyTorch exported, within 1e-4.  tests/torch_agree.py builds random stage-1
# and stage-2 models of the cogvideo-tiny geometry (tools/train/TINY.md; 2
# layers, hidden 64, 4 heads), writes them with save_sat in the released SAT
# layout and computes forward_teacher's logits for random teacher sequences:
# every mode (s1-first, s1-video, s2-interp with Swin windows 4 and 8, as
# train_stage.py --window), log_text_attention_weights 0 and 1.4 (quirk 1:
# the w asymmetry of the attention-plus channel), two text lengths (one
# padded batch on the PyTorch side).  Then `cogvideo convert`
# (f32) and `cogvideo logits` (the cache path) on every case, and the
# comparison: step counters equal, logits and final hidden of every step
# within 1e-4.  Needs a Python with torch ($PYTHON, python3 or
# /usr/bin/python3); without one the test is skipped (exit 77).
set -u
OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
export OMP_WAIT_POLICY
NAME=torch_agree
. "${top_srcdir:-.}/tests/cli_lib.sh"
SRC="${top_srcdir:-.}"

torch_python "C vs PyTorch logits"
echo "python with torch: $PY"
export top_srcdir="$SRC"
PYTHONDONTWRITEBYTECODE=1   # no __pycache__ in the source tree
export PYTHONDONTWRITEBYTECODE

# train_stage.py --motion-weight: bad values are refused before any data is read.
TS="$SRC/tools/train/train_stage.py --data $tmp/none.npz --out $tmp/none"
for bad in foo=2 shrink=x shrink=0 shrink=inf; do
  expect 2 "train_stage.py --motion-weight $bad" -- "$PY" $TS --stage 1 --motion-weight "$bad" &&
    contains "$tmp/err" "error: --motion-weight $bad: expected"
done
expect 2 "train_stage.py --motion-weight with --stage 2" -- "$PY" $TS --stage 2 --motion-weight shrink=2 &&
  contains "$tmp/err" "error: --motion-weight is for stage 1"

check "torch_agree.py make (random tiny models, save_sat, forward_teacher)" \
  "$PY" "$SRC/tests/torch_agree.py" make "$tmp/d" || { finish; exit 1; }
cat "$tmp/log"
TINY="--image-tokens 512 --frame-grid 8x8 --max-text-len 32 --frame-pos-offset 32 --extra-pos-offset 96"
# the models torch_agree.py made: the third column of its cases file
for m in $(cut -d' ' -f3 "$tmp/d/cases" | sort -u); do
  check "convert the PyTorch checkpoint $m" \
    $CV convert "$tmp/d/$m" "$tmp/$m.gguf" --type f32 $TINY --quiet || { finish; exit 1; }
done
while read -r c mode model w; do
  check "logits $c" $CV logits -m "$tmp/$model.gguf" --mode "$mode" --seq "$tmp/d/$c/seq.npy" \
    --teacher "$tmp/d/$c/teacher.npy" --log-text-weight "$w" --logits-steps "$tmp/d/$c/steps.npy" \
    --threads 1 -o "$tmp/d/$c/run"
done <"$tmp/d/cases"
check "C logits = PyTorch logits within 1e-4 (every step, every case)" "$PY" "$SRC/tests/torch_agree.py" compare "$tmp/d"
cat "$tmp/log"
finish
