#!/bin/sh
# test_clusters.sh — `cogvideo clusters` (DESIGN.md §5 conventions): help,
# k-means labels from a .npy and from a VQVAE GGUF, the same labels for any
# --threads, usage errors (exit 2) and runtime errors (exit 1) as one line,
# and no output file left behind by a failure.
set -u
NAME=clusters
. "${top_srcdir:-.}/tests/cli_lib.sh"
FIX="${CV_EXEC:+$CV_EXEC }${top_builddir:-.}/tests/clusters_fixture"

absent() { # FILE: a failed run left nothing under that name
  n=$((n + 1))
  if [ -e "$1" ] || ls "$1".tmp.* >/dev/null 2>&1; then
    echo "FAIL: a failed run left $1 (or a temporary)"; fails=$((fails + 1)); fi
}

d="$tmp/fix"
mkdir "$d" && $FIX "$d" || { echo "FAIL: clusters_fixture could not write its files"; exit 1; }

expect 0 "clusters --help" -- $CV clusters --help && contains "$tmp/out" "usage: cogvideo clusters" &&
  contains "$tmp/out" "quantize.embed.weight"
expect 0 "clusters on a .npy codebook" -- $CV clusters --codebook "$d/cb.npy" --k 4 --seed 3 -o "$tmp/a.npy" &&
  contains "$tmp/out" "240 codes x 6, k 4" && contains "$tmp/out" "converged"
check "the 4 blobs are recovered" -- $FIX --same-partition "$tmp/a.npy" "$d/truth.npy"
expect 0 "clusters --threads 1" -- $CV clusters --codebook "$d/cb.npy" --k 7 --seed 5 --threads 1 -o "$tmp/t1.npy"
expect 0 "clusters --threads 2" -- $CV clusters --codebook "$d/cb.npy" --k 7 --seed 5 --threads 2 -o "$tmp/t2.npy"
check "labels identical for 1 and 2 threads" -- cmp "$tmp/t1.npy" "$tmp/t2.npy"
expect 0 "clusters -m VQVAE.gguf (f16 codebook)" -- $CV clusters -m "$d/cb.gguf" --k 7 --seed 5 -o "$tmp/g.npy"
check "the GGUF's f16 codebook gives the .npy's labels" -- cmp "$tmp/t1.npy" "$tmp/g.npy"
expect 0 "clusters --iters 0 (k-means++ only)" -- $CV clusters --codebook "$d/cb.npy" --k 4 --iters 0 -o "$tmp/i0.npy" &&
  contains "$tmp/out" "0 iterations (iteration limit)"
# the default k is 500: more than the 240 codes here
expect 2 "default --k 500 on 240 codes" -- $CV clusters --codebook "$d/cb.npy" -o "$tmp/k.npy" &&
  one_line_error "--k: 500 clusters for the 240 codes of .*cb.npy (expected 1..240)"
absent "$tmp/k.npy"

# usage errors: exit 2, one line
expect 2 "clusters without arguments" -- $CV clusters && one_line_error "required"
expect 2 "clusters -m and --codebook" -- $CV clusters -m "$d/cb.gguf" --codebook "$d/cb.npy" -o "$tmp/x.npy" &&
  one_line_error "one of -m and --codebook"
expect 2 "clusters without -o" -- $CV clusters --codebook "$d/cb.npy" && one_line_error "required"
expect 2 "clusters --bogus" -- $CV clusters --bogus x && one_line_error "unknown argument '--bogus'"
expect 2 "clusters --k 0" -- $CV clusters --codebook "$d/cb.npy" --k 0 -o "$tmp/x.npy" &&
  one_line_error "--k: '0' is not an integer in 1 .."
expect 2 "clusters --k 241" -- $CV clusters --codebook "$d/cb.npy" --k 241 -o "$tmp/x.npy" &&
  one_line_error "--k: 241 clusters for the 240 codes"
expect 2 "clusters --seed -1" -- $CV clusters --codebook "$d/cb.npy" --seed -1 -o "$tmp/x.npy" &&
  one_line_error "--seed: '-1' is not an integer in 0 .. 18446744073709551615"
expect 2 "clusters --threads 0" -- $CV clusters --codebook "$d/cb.npy" --threads 0 -o "$tmp/x.npy" &&
  one_line_error "--threads: '0' is not an integer"
expect 2 "clusters --iters missing value" -- $CV clusters --codebook "$d/cb.npy" -o "$tmp/x.npy" --iters &&
  one_line_error "missing value for '--iters'"
absent "$tmp/x.npy"

# runtime errors: exit 1, one line naming the file
expect 1 "clusters on a missing file" -- $CV clusters --codebook "$tmp/none.npy" -o "$tmp/x.npy" &&
  one_line_error "none.npy"
expect 1 "clusters on a 3-D array" -- $CV clusters --codebook "$d/cube.npy" --k 2 -o "$tmp/x.npy" &&
  one_line_error "cube.npy: the array has 3 dimensions (expected 2: \[codes, dim\])"
expect 1 "clusters on labels (int64) as a codebook" -- $CV clusters --codebook "$d/truth.npy" --k 2 -o "$tmp/x.npy" &&
  one_line_error "truth.npy"
expect 1 "clusters -m without the codebook tensor" -- $CV clusters -m "$d/other.gguf" --k 2 -o "$tmp/x.npy" &&
  one_line_error "other.gguf: missing tensor 'quantize.embed.weight'"
expect 1 "clusters -m on a .npy" -- $CV clusters -m "$d/cb.npy" --k 2 -o "$tmp/x.npy" && one_line_error "cb.npy"
absent "$tmp/x.npy"
mkdir "$tmp/ro" && chmod a-w "$tmp/ro"
if [ -w "$tmp/ro" ]; then
  echo "skip: unwritable output (running as root: the directory stays writable)"
else
  expect 1 "clusters into an unwritable directory" -- $CV clusters --codebook "$d/cb.npy" --k 4 -o "$tmp/ro/l.npy" &&
    one_line_error "ro/l.npy"
  [ -z "$(ls -A "$tmp/ro")" ] || { echo "FAIL: files left in $tmp/ro"; fails=$((fails + 1)); }
fi
expect 1 "clusters into a missing directory" -- $CV clusters --codebook "$d/cb.npy" --k 4 -o "$tmp/nodir/l.npy" &&
  one_line_error "nodir/l.npy"

echo "test_clusters.sh: $((n - fails)) of $n checks passed"
[ "$fails" -eq 0 ]
