#!/bin/sh
# test_tokenize.sh — `cogvideo tokenize` and `cogvideo convert-tokenizer`:
# every golden string of both golden models (testdata/tokenizer, made by the
# official SentencePiece library) through the CLI, from the .model and from
# the GGUF that convert-tokenizer writes, in both output formats; help,
# usage errors and one-line errors on bad input.
set -u
NAME=tok
. "${top_srcdir:-.}/tests/cli_lib.sh"
CHECK="${CV_EXEC:+$CV_EXEC }${top_builddir:-.}/tests/tok_check"
TD="${CV_TESTDATA:-${srcdir:-.}/testdata}/tokenizer"

same() { # FILE1 FILE2 DESCRIPTION
  n=$((n + 1))
  if ! cmp -s "$1" "$2"; then echo "FAIL: $3"; fails=$((fails + 1)); return 1; fi
  echo "ok: $3"
}

expect 0 "tokenize --help" -- $CV tokenize --help && grep -q "usage: cogvideo tokenize" "$tmp/out"
expect 0 "convert-tokenizer --help" -- $CV convert-tokenizer --help && grep -q "usage: cogvideo convert-tokenizer" "$tmp/out"

for m in uni bpe idn; do
  mkdir -p "$tmp/$m"
  expect 0 "convert-tokenizer $m.model" -- $CV convert-tokenizer "$TD/$m.model" "$tmp/$m.gguf"
  for src in "$TD/$m.model" "$tmp/$m.gguf"; do
    expect 0 "$m golden through the CLI from $(basename "$src")" -- \
      $CHECK "$TD/$m.golden" "$src" "$tmp/$m" "$CV" && cat "$tmp/out"
    expect 0 "$m golden through the CLI from $(basename "$src") --json" -- \
      $CHECK "$TD/$m.golden" "$src" "$tmp/$m" "$CV" --json --no-decode && cat "$tmp/out"
  done
done
# The checker can fail: the BPE golden against the unigram model differs.
expect 1 "tok_check reports a wrong model" -- $CHECK "$TD/bpe.golden" "$TD/uni.model" "$tmp/uni" "$CV" --every 50

# TEXT forms: after --, verbatim (empty, leading dash); same as --input.
M="$TD/uni.model"
expect 0 "empty TEXT after --" -- $CV tokenize -m "$M" -- "" && same "$tmp/out" /dev/null "empty TEXT gives no tokens"
printf '%s' '-4.0秒<n>一只猫 ' >"$tmp/t"
expect 0 "TEXT starting with - after --" -- $CV tokenize -m "$M" -- '-4.0秒<n>一只猫 ' && cp "$tmp/out" "$tmp/a"
expect 0 "--input FILE" -- $CV tokenize -m "$M" --input "$tmp/t" && same "$tmp/a" "$tmp/out" "TEXT and --input agree"
expect 0 "plain TEXT" -- $CV tokenize -m "$M" "a cat" && cp "$tmp/out" "$tmp/a"
expect 0 "--image-tokens 0" -- $CV tokenize -m "$M" --image-tokens 0 "a cat"
awk -F'\t' '{ printf "%d\t%s\n", $1 + 20000, $2 }' "$tmp/out" >"$tmp/b"
same "$tmp/a" "$tmp/b" "--image-tokens 0 shifts every id by -20000"
expect 0 "convert-tokenizer --image-tokens 7" -- $CV convert-tokenizer "$M" "$tmp/i7.gguf" --image-tokens 7
expect 0 "the GGUF keeps its image-token count" -- $CV tokenize -m "$tmp/i7.gguf" "a cat"
awk -F'\t' '{ printf "%d\t%s\n", $1 + 19993, $2 }' "$tmp/out" >"$tmp/b"
same "$tmp/a" "$tmp/b" "ids from a GGUF with 7 image tokens"
expect 0 "info on a tokenizer GGUF" -- $CV info "$tmp/uni.gguf" && grep -q "tokenizer.ggml.tokens" "$tmp/out"

# usage errors (exit 2) and runtime errors (exit 1), one line each
expect 2 "tokenize without -m" -- $CV tokenize "x" && one_line_error "-m MODEL is required"
expect 2 "tokenize without TEXT" -- $CV tokenize -m "$M" && one_line_error "expected one of TEXT"
expect 2 "tokenize --bogus" -- $CV tokenize -m "$M" --bogus x && one_line_error "unknown option '--bogus'"
expect 2 "two TEXTs" -- $CV tokenize -m "$M" a b && one_line_error "unexpected argument 'b'"
expect 2 "--decode of an image id" -- $CV tokenize -m "$M" --decode 20005 5 && one_line_error "id 5 at position 1"
expect 2 "--decode of a non-number" -- $CV tokenize -m "$M" --decode 2x && one_line_error "'2x' is not an integer id"
expect 1 "missing model" -- $CV tokenize -m "$tmp/none.model" x && one_line_error "none.model"
head -c 1003 "$M" >"$tmp/cut.model"   # inside a piece record
expect 1 "truncated model" -- $CV tokenize -m "$tmp/cut.model" x && one_line_error "cut.model: truncated protobuf field"
head -c 1000 "$tmp/uni.gguf" >"$tmp/cut.gguf"
expect 1 "truncated GGUF" -- $CV tokenize -m "$tmp/cut.gguf" x && one_line_error "cut.gguf"
expect 1 "convert-tokenizer of a truncated model" -- $CV convert-tokenizer "$tmp/cut.model" "$tmp/o.gguf" &&
  one_line_error "cut.model"
n=$((n + 1))
if ls "$tmp" | grep -q "^o.gguf"; then echo "FAIL: a failed convert-tokenizer left a file"; fails=$((fails + 1)); fi
expect 2 "convert-tokenizer with one path" -- $CV convert-tokenizer "$M" && one_line_error "expected ICE_TEXT.model and OUT.gguf"

# testdata/tokenizer-A fits the golden-A checkpoints: <n> 20004, BOI 20400.
A="${CV_TESTDATA:-${srcdir:-.}/testdata}/tokenizer-A/a400.model"
expect 0 "tokenizer-A: '4.0秒<n>a red circle<start_of_image>'" -- \
  $CV tokenize -m "$A" --json -- '4.0秒<n>a red circle<start_of_image>' &&
  printf '{"ids":[20084,20010,20004,20399,20030,20044,20051,20400],"pieces":["\342\226\2014.0","\347\247\222","<n>","a","\342\226\201re","d","\342\226\201circle","<start_of_image>"]}\n' >"$tmp/want" &&
  same "$tmp/out" "$tmp/want" "tokenizer-A ids: <n> 20004, <start_of_image> 20400"

echo "$((n - fails))/$n passed"
[ "$fails" -eq 0 ]
