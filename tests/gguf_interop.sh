#!/bin/sh
# gguf_interop.sh — our GGUF files against an independent reading of the spec.
#
# For alignments 32 and 64:
#   1. tests/gguf_write_sample (C writer) writes the sample;
#   2. tests/gguf_reader.py (Python, from the spec, numpy + struct only)
#      validates it byte by byte and checks every value against the recipe;
#   3. gguf_reader.py writes the same recipe with its own writer; the two
#      files must be byte-identical;
#   4. gguf_write_sample --check reads the Python file with our C reader.
# Exits 77 (automake SKIP) when no python3 with numpy is available.
#
# Environment (set by Makefile.am): PYTHON, top_srcdir, top_builddir, and
# CV_EXEC (a runner such as qemu-aarch64 for cross builds, else empty).
set -u

srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
builddir=${top_builddir:-.}
sample="$builddir/tests/gguf_write_sample"
reader="$srcdir/tests/gguf_reader.py"

py=""
for cand in "${PYTHON:-}" /usr/bin/python3 python3; do
    if [ -n "$cand" ] && "$cand" -c 'import numpy' >/dev/null 2>&1; then
        py=$cand
        break
    fi
done
if [ -z "$py" ]; then
    echo "gguf_interop: SKIP: no python3 with numpy (set PYTHON to one)"
    exit 77
fi
if [ ! -x "$sample" ]; then
    echo "gguf_interop: $sample is not built"
    exit 99
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gguf_interop.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT HUP INT TERM

fail() {
    echo "gguf_interop: FAIL: $*"
    exit 1
}

for align in 32 64; do
    c_file="$tmp/c$align.gguf"
    py_file="$tmp/py$align.gguf"
    ${CV_EXEC:-} "$sample" "$c_file" "$align" || fail "gguf_write_sample $align"
    "$py" "$reader" --expect-sample "$c_file" "$align" || fail "python reader on the C file (alignment $align)"
    "$py" "$reader" --write-sample "$py_file" "$align" || fail "python writer (alignment $align)"
    cmp "$c_file" "$py_file" || fail "C and Python files differ (alignment $align)"
    ${CV_EXEC:-} "$sample" --check "$py_file" "$align" || fail "C reader on the Python file (alignment $align)"
done
echo "gguf_interop: PASS (alignments 32 and 64)"
exit 0
