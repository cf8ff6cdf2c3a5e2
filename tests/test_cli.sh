#!/bin/sh
# test_cli.sh — the command-line contract of DESIGN.md §5 for what exists so
# far: help, version, exit codes, one-line errors, `info --cpu`, COGVIDEO_ISA.
set -u
NAME=cli
. "${top_srcdir:-.}/tests/cli_lib.sh"

expect 0 "--help" -- $CV --help && contains "$tmp/out" "usage: cogvideo COMMAND"
expect 0 "--version" -- $CV --version && contains "$tmp/out" "^cogvideo [0-9]"
expect 2 "no arguments" -- $CV
expect 2 "unknown command" -- $CV frobnicate && one_line_error "unknown command 'frobnicate'"
expect 0 "generate --help" -- $CV generate --help && contains "$tmp/out" "usage: cogvideo generate"
expect 2 "generate without a prompt" -- $CV generate && one_line_error "either -p PROMPT or --prompt-file"
expect 2 "generate --bogus" -- $CV generate --bogus && one_line_error "unknown option '--bogus'"
expect 2 "generate --seed -1" -- $CV generate -p x --seed -1 && one_line_error "--seed"
expect 2 "generate --rounds 9" -- $CV generate -p x --rounds 9 && one_line_error "--rounds"
expect 2 "generate --threads 0" -- $CV generate -p x --threads 0 && one_line_error "--threads"
expect 2 "generate --guidance nan" -- $CV generate -p x --guidance nan && one_line_error "--guidance"
expect 2 "generate -p and --prompt-file" -- $CV generate -p x --prompt-file y && one_line_error "either -p"
expect 2 "generate --max-jobs 0" -- $CV generate -p x --max-jobs 0 && one_line_error "--max-jobs"
expect 2 "generate --size 0" -- $CV generate -p x --size 0 && one_line_error "--size"
expect 1 "generate --prompt-file missing" -- $CV generate --prompt-file "$tmp/none.txt" && one_line_error "none.txt"
# Without -m: ./models/cogvideo-tiny, else the installed copy (--help names it).
inst=$($CV generate --help | sed -n 's|^ *\(/.*/models/cogvideo-tiny\)$|\1|p')
if [ ! -d models/cogvideo-tiny ] && [ -n "$inst" ] && [ ! -d "$inst" ]; then
  expect 1 "generate without the default model" -- $CV generate -p x -o "$tmp/gen" &&
    one_line_error "default model is neither in ./models/cogvideo-tiny nor in $inst"
fi
expect 0 "info --help" -- $CV info --help && contains "$tmp/out" "usage: cogvideo info"
expect 2 "info without arguments" -- $CV info
expect 2 "info --bogus" -- $CV info --bogus && one_line_error "unknown option '--bogus'"
expect 0 "info --cpu" -- $CV info --cpu && contains "$tmp/out" "^chosen: "
expect 1 "info on a missing file" -- $CV info "$tmp/missing.gguf" && one_line_error "missing.gguf"

# info on a GGUF we wrote, and on broken copies of it: one-line errors, exit 1.
sample="${top_builddir:-.}/tests/gguf_write_sample"
if ${CV_EXEC:-} "$sample" "$tmp/s.gguf" >/dev/null 2>&1; then
  expect 0 "info FILE.gguf" -- $CV info "$tmp/s.gguf" && contains "$tmp/out" "GGUF"
  head -c 100 "$tmp/s.gguf" >"$tmp/trunc.gguf"
  expect 1 "info on a truncated GGUF" -- $CV info "$tmp/trunc.gguf" && one_line_error "trunc.gguf"
  { printf 'GGUX'; tail -c +5 "$tmp/s.gguf"; } >"$tmp/magic.gguf"
  expect 1 "info on a GGUF with bad magic" -- $CV info "$tmp/magic.gguf" && one_line_error "magic.gguf"
  : >"$tmp/empty.gguf"
  expect 1 "info on an empty file" -- $CV info "$tmp/empty.gguf" && one_line_error "empty.gguf"
else
  n=$((n + 1)); fails=$((fails + 1)); echo "FAIL: $sample could not write a sample GGUF"
fi

# COGVIDEO_ISA: ref always works; unknown names and absent levels are refused.
expect 0 "COGVIDEO_ISA=ref" -- env COGVIDEO_ISA=ref $CV info --cpu &&
  contains "$tmp/out" "^chosen: *ref (forced"
expect 2 "COGVIDEO_ISA=bogus" -- env COGVIDEO_ISA=bogus $CV info --cpu &&
  one_line_error "COGVIDEO_ISA=bogus: unknown level"
case "$(uname -m)" in aarch64) absent=avx2 ;; *) absent=neon ;; esac
if [ -n "${CV_EXEC:-}" ]; then absent=avx2; fi   # cross run: the target is aarch64
expect 2 "COGVIDEO_ISA=$absent on a CPU without it" -- env COGVIDEO_ISA=$absent $CV info --cpu &&
  one_line_error "COGVIDEO_ISA=$absent"
# The best level this CPU has can be forced by name.
$CV info --cpu >"$tmp/cpu" 2>&1
best=$(sed -n 's/^chosen: *\([a-z0-9]*\).*/\1/p' "$tmp/cpu")
expect 0 "COGVIDEO_ISA=$best (the detected best)" -- env COGVIDEO_ISA="$best" $CV info --cpu &&
  contains "$tmp/out" "^chosen: *$best"

# convert: usage errors exit 2, bad folders exit 1, never an output file.
sat="${CV_TESTDATA:-${srcdir:-.}/testdata}/sat-tiny"
expect 0 "convert --help" -- $CV convert --help && contains "$tmp/out" "usage: cogvideo convert"
expect 2 "convert without arguments" -- $CV convert && one_line_error "expected SAT_MODEL_DIR and OUT.gguf"
expect 2 "convert --type q4" -- $CV convert "$sat" "$tmp/c.gguf" --type q4 &&
  one_line_error "--type: 'q4' is not one of f32, f16, bf16, q8_0"
expect 2 "convert --boi x" -- $CV convert "$sat" "$tmp/c.gguf" --boi x && one_line_error "--boi: 'x'"
expect 1 "convert a missing folder" -- $CV convert "$tmp/nope" "$tmp/c.gguf" && one_line_error "model_config.json"
expect 2 "convert with 20000 image tokens > vocab 110" -- $CV convert "$sat" "$tmp/c.gguf" &&
  one_line_error "see --image-tokens"
[ ! -e "$tmp/c.gguf" ] || { echo "FAIL: convert left $tmp/c.gguf"; fails=$((fails + 1)); }
expect 0 "convert sat-tiny --type q8_0" -- $CV convert "$sat" "$tmp/c.gguf" --image-tokens 64 --type q8_0 --quiet
expect 0 "info on the converted file" -- $CV info "$tmp/c.gguf" && contains "$tmp/out" "cogvideo.boi_id"
# the sequence-layout keys: the release's defaults, then each flag's override
for kv in "frame_height *uint32 *20$" "frame_width *uint32 *20$" "max_text_len *uint32 *74$" \
          "frame_pos_offset *uint32 *512$" "extra_pos_offset *uint32 *912$" "local3d_kernel *uint32 *0$"; do
  contains "$tmp/out" "cogvideo\.$kv"
done
rm -f "$tmp/c.gguf"
expect 0 "convert with --frame-grid 3x5 --max-text-len 9 --frame-pos-offset 4" -- \
  $CV convert "$sat" "$tmp/c.gguf" --image-tokens 64 --frame-grid 3x5 --max-text-len 9 --frame-pos-offset 4 --quiet
expect 0 "info on it" -- $CV info "$tmp/c.gguf" &&
for kv in "frame_height *uint32 *3$" "frame_width *uint32 *5$" "max_text_len *uint32 *9$" \
          "frame_pos_offset *uint32 *4$" "extra_pos_offset *uint32 *19$"; do
  contains "$tmp/out" "cogvideo\.$kv"
done
rm -f "$tmp/c.gguf"
expect 0 "convert with --extra-pos-offset 7" -- \
  $CV convert "$sat" "$tmp/c.gguf" --image-tokens 64 --extra-pos-offset 7 --quiet
expect 0 "info on it" -- $CV info "$tmp/c.gguf" && contains "$tmp/out" "cogvideo\.extra_pos_offset *uint32 *7$"
rm -f "$tmp/c.gguf"
expect 0 "convert --help lists the layout flags" -- $CV convert --help &&
for f in --frame-grid --max-text-len --frame-pos-offset --extra-pos-offset; do contains "$tmp/out" "^  $f "; done
# bad layout flags: usage errors (exit 2) naming the flag, no output file
expect 2 "convert --frame-grid 20" -- $CV convert "$sat" "$tmp/c.gguf" --image-tokens 64 --frame-grid 20 &&
  one_line_error "--frame-grid: '20' is not HxW"
expect 2 "convert --frame-grid 0x20" -- $CV convert "$sat" "$tmp/c.gguf" --image-tokens 64 --frame-grid 0x20 &&
  one_line_error "--frame-grid: 0x20 (expected HxW with H, W >= 1"
expect 2 "convert --frame-grid 20x0" -- $CV convert "$sat" "$tmp/c.gguf" --image-tokens 64 --frame-grid 20x0 &&
  one_line_error "--frame-grid: 20x0"
expect 2 "convert --max-text-len 0" -- $CV convert "$sat" "$tmp/c.gguf" --image-tokens 64 --max-text-len 0 &&
  one_line_error "--max-text-len: 0 (expected 1 .. 2147483647)"
expect 2 "convert --max-text-len -3" -- $CV convert "$sat" "$tmp/c.gguf" --image-tokens 64 --max-text-len -3 &&
  one_line_error "--max-text-len: '-3' is not an integer"
expect 2 "convert --frame-pos-offset without a value" -- $CV convert "$sat" "$tmp/c.gguf" --frame-pos-offset &&
  one_line_error "--frame-pos-offset needs a value"
[ ! -e "$tmp/c.gguf" ] || { echo "FAIL: convert left $tmp/c.gguf"; fails=$((fails + 1)); }
# broken checkpoints: exit 1, one line naming the tensor or fault, no output
cp -R "$sat" "$tmp/bad" && chmod -R u+w "$tmp/bad"
for v in "missing_tensor:missing tensor 'mixins.attention_plus.attn_distribution.0'" \
         "extra_tensor:unknown tensor 'transformer.layers.1.input_layernorm.weight'" \
         "wrong_shape:has shape (128, 32) (expected (32, 128))" \
         "bad_opcode:unsupported pickle opcode 0xff"; do
  cp "$sat-bad/${v%%:*}.pt" "$tmp/bad/1/mp_rank_00_model_states.pt"
  expect 1 "convert a checkpoint with ${v%%:*}" -- $CV convert "$tmp/bad" "$tmp/c.gguf" --image-tokens 64 &&
    one_line_error "${v#*:}"
done
head -c 1000 "$sat/1/mp_rank_00_model_states.pt" >"$tmp/bad/1/mp_rank_00_model_states.pt"
expect 1 "convert a truncated checkpoint" -- $CV convert "$tmp/bad" "$tmp/c.gguf" --image-tokens 64 &&
  one_line_error "mp_rank_00_model_states.pt: not a zip archive"
[ ! -e "$tmp/c.gguf" ] || { echo "FAIL: convert left $tmp/c.gguf"; fails=$((fails + 1)); }
[ -z "$(ls "$tmp" | grep -v '^bad$\|^out$\|^err$\|^cpu$\|\.gguf$')" ] ||
  { echo "FAIL: stray files in $tmp: $(ls "$tmp")"; fails=$((fails + 1)); }

# convert --pipeline / --clusters: the pipeline settings and the cluster labels
# as model metadata (pipeline_config.h), shown by info; bad files are runtime
# errors (exit 1) naming the file, and leave no output.
ga="${CV_TESTDATA:-${srcdir:-.}/testdata}/golden-A/ckpt/cogvideo-stage1"
labels="${CV_TESTDATA:-${srcdir:-.}/testdata}/strategy/labels_random.npy" # int64 [20000] in [0, 500)
pc="$tmp/pc" && mkdir "$pc"
expect 0 "convert golden-A stage 1 --clusters" -- $CV convert "$ga" "$pc/l.gguf" --clusters "$labels" --quiet
expect 0 "info shows the cluster labels and the pipeline" -- $CV info "$pc/l.gguf" &&
  contains "$tmp/out" "^cluster labels: 500 clusters$" && contains "$tmp/out" "cogvideo\.n_clusters *uint32 *500$" &&
  contains "$tmp/out" "cogvideo\.cluster_labels *int32\[20000\]" &&
  contains "$tmp/out" "cogvideo\.pipeline\.guided *bool *true$" && contains "$tmp/out" "guidance *on by default"
rm -f "$pc/l.gguf"
expect 0 "convert golden-A stage 2" -- $CV convert "${ga%1}2" "$pc/s2.gguf" --quiet
expect 0 "info: stage 2 is unguided by default, no labels" -- $CV info "$pc/s2.gguf" &&
  contains "$tmp/out" "cogvideo\.pipeline\.guided *bool *false$" && contains "$tmp/out" "^cluster labels: none"
rm -f "$pc/s2.gguf"
# int64 labels of the wrong length (header and data of the first 19999), and
# with a negative first label
{ head -c 128 "$labels" | LC_ALL=C sed 's/(20000,)/(19999,)/'; tail -c +129 "$labels" | head -c 159992; } >"$pc/short.npy"
{ head -c 128 "$labels"; printf '\377\377\377\377\377\377\377\377'; tail -c +137 "$labels"; } >"$pc/neg.npy"
expect 1 "convert --clusters with 19999 labels" -- $CV convert "$ga" "$pc/c.gguf" --clusters "$pc/short.npy" &&
  one_line_error "short.npy: 19999 labels (expected image_tokens = 20000 labels)"
expect 1 "convert --clusters with a negative label" -- $CV convert "$ga" "$pc/c.gguf" --clusters "$pc/neg.npy" &&
  one_line_error "neg.npy: label -1 of token 0 is negative"
expect 1 "convert --clusters with float labels" -- $CV convert "$ga" "$pc/c.gguf" --clusters "${labels%/*}/logits.npy" &&
  one_line_error "logits.npy: dtype '<f4' (expected int64 or int32 cluster labels)"
expect 2 "convert --clusters without a value" -- $CV convert "$ga" "$pc/c.gguf" --clusters &&
  one_line_error "--clusters needs a value"
printf '{"sampler.video.top_k": 12, "bogus": 1}\n' >"$pc/bad.json"
expect 1 "convert --pipeline with an unknown key" -- $CV convert "$sat" "$pc/c.gguf" --image-tokens 64 --pipeline "$pc/bad.json" &&
  one_line_error "bad.json: unknown key 'bogus'"
printf '{"rounds": "2"}\n' >"$pc/type.json"
expect 1 "convert --pipeline with a string for a number" -- $CV convert "$sat" "$pc/c.gguf" --image-tokens 64 --pipeline "$pc/type.json" &&
  one_line_error "type.json: key 'rounds' is a JSON string (expected an integer)"
[ ! -e "$pc/c.gguf" ] || { echo "FAIL: convert left $pc/c.gguf"; fails=$((fails + 1)); }
[ -z "$(ls "$pc" | grep -v '\.npy$\|\.json$')" ] || { echo "FAIL: stray files in $pc: $(ls "$pc")"; fails=$((fails + 1)); }
printf '{"guided": true, "sampler.video.top_k": 7, "duration_format": "{} seconds"}\n' >"$pc/good.json"
expect 0 "convert --pipeline with overrides" -- $CV convert "$sat" "$pc/c.gguf" --image-tokens 64 --pipeline "$pc/good.json" --quiet
expect 0 "info shows them, and no labels" -- $CV info "$pc/c.gguf" &&
  contains "$tmp/out" "cogvideo\.pipeline\.sampler\.video\.top_k *uint32 *7$" &&
  contains "$tmp/out" "duration prefix \"4.0 seconds\"" && contains "$tmp/out" "^cluster labels: none"
expect 0 "convert --help lists --pipeline and --clusters" -- $CV convert --help &&
  contains "$tmp/out" "^  --pipeline FILE.json " && contains "$tmp/out" "^  --clusters LABELS.npy "
rm -rf "$pc"

# forward / logits / bench: usage errors exit 2, runtime errors exit 1, one line each
for c in forward logits bench; do
  expect 0 "$c --help" -- $CV $c --help && contains "$tmp/out" "usage: cogvideo $c"
  expect 2 "$c without arguments" -- $CV $c && one_line_error "required"
  expect 2 "$c --bogus" -- $CV $c --bogus x && one_line_error "unknown argument '--bogus'"
done
expect 2 "logits --mode s3" -- $CV logits -m x.gguf --mode s3 --seq a.npy --teacher b.npy -o "$tmp/r" &&
  one_line_error "--mode: 's3' is not one of s1-first, s1-video, s2-interp"
expect 2 "forward --text-len -1" -- $CV forward -m x.gguf --ids a.npy --positions b.npy --text-len -1 -o "$tmp/r" &&
  one_line_error "--text-len: '-1' is not an integer"
expect 2 "logits --log-text-weight nan" -- $CV logits -m x --mode s1-first --seq a --teacher b --log-text-weight nan -o "$tmp/r" &&
  one_line_error "--log-text-weight: 'nan' is not a number"
expect 1 "forward with a missing ids file" -- $CV forward -m "$tmp/none.gguf" --ids "$tmp/none.npy" --positions "$tmp/none.npy" --text-len 1 -o "$tmp/r" &&
  one_line_error "none.npy"
expect 2 "bench --batch 0" -- $CV bench --random-weights --layers 1 --hidden 64 --heads 4 --batch 0 &&
  one_line_error "--batch: '0' is not an integer in 1 .. 64"
expect 2 "bench --hidden 65 --heads 4" -- $CV bench --random-weights --layers 1 --hidden 65 --heads 4 &&
  one_line_error "expected a multiple of --heads"
expect 2 "bench --batch 1,x" -- $CV bench --random-weights --layers 1 --hidden 64 --heads 4 --batch 1,x &&
  one_line_error "--batch: 'x' is not an integer in 1 .. 64"
expect 2 "bench --threads 1,2,3,4,5,6,7,8,9" -- $CV bench --random-weights --layers 1 --hidden 64 --heads 4 \
  --threads 1,2,3,4,5,6,7,8,9 && one_line_error "--threads: more than 8 values"
expect 2 "bench --bandwidth-mib 8" -- $CV bench --random-weights --layers 1 --hidden 64 --heads 4 --bandwidth-mib 8 &&
  one_line_error "--bandwidth-mib: '8' is not an integer in 16 .. 1048576"
expect 0 "bench on a tiny random model" -- $CV bench --random-weights --layers 1 --hidden 64 --heads 4 --tokens 2 --prefill 8 --bandwidth-mib 16 &&
  contains "$tmp/out" "tokens/s" && contains "$tmp/out" "read bandwidth" && contains "$tmp/out" "decode best step"
expect 0 "bench with lists of batches and threads" -- $CV bench --random-weights --layers 1 --hidden 64 --heads 4 \
  --tokens 2 --prefill 8 --bandwidth-mib 16 --batch 1,2 --threads 1,2 &&
  contains "$tmp/out" "-- threads 1, batch 2" && contains "$tmp/out" "-- threads 2, batch 1" &&
  contains "$tmp/out" "-- threads 2, batch 2"
[ ! -e "$tmp/r" ] || { echo "FAIL: a failed run left $tmp/r"; fails=$((fails + 1)); }

echo "$((n - fails)) of $n checks passed"
[ "$fails" -eq 0 ]
