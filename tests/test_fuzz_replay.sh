#!/bin/sh
# test_fuzz_replay.sh — every input in testdata/fuzz/TARGET/ (the seeds, the
# corpus a fuzzing campaign kept and every crash it found, minimized) through
# its fuzz target (tests/fuzz/fuzz_TARGET.c) with the replay driver: the
# readers of model files, checkpoints, tokenizers, .npy and JSON must return
# an error or a result, never crash; under --enable-sanitizers also never
# read out of bounds, overflow or leak.  tests/fuzz/README says how to fuzz.
set -u
NAME=fuzz
. "${top_srcdir:-.}/tests/cli_lib.sh"
D="${CV_TESTDATA:-${top_srcdir:-.}/testdata}/fuzz"
# the targets that take a path write their input to a file here
TMPDIR=$tmp; export TMPDIR
for t in gguf pt convert npy sp_model config; do
  if check "replay $t corpus" ${CV_EXEC:+$CV_EXEC }"${top_builddir:-.}/tests/fuzz/replay_$t" "$D/$t"; then
    ran=$(sed -n 's/.*: \([0-9]*\) inputs replayed$/\1/p' "$tmp/log")
    n=$((n + 1))
    # an empty or missing corpus would prove nothing
    [ "${ran:-0}" -ge 5 ] && echo "ok: $t: $ran inputs" || fail "$t: only ${ran:-0} inputs replayed"
  fi
done
finish
