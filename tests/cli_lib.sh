# cli_lib.sh — the harness the command-line tests share (sourced, not run):
# the programs under test, a scratch directory removed on exit, and checks
# that count themselves.  Before sourcing, set NAME (the scratch prefix).
#   check DESCRIPTION [--] command...     the command must succeed
#   expect CODE DESCRIPTION -- command... exit CODE (stdout in $tmp/out,
#                                         stderr in $tmp/err)
#   one_line_error PART                   $tmp/err is exactly one line
#                                         "cogvideo: ...PART..."
#   contains FILE TEXT                    FILE has a line matching TEXT
#   expect_error CODE PART DESCRIPTION -- command...
#                                         exit CODE and exactly one stderr
#                                         line "cogvideo: ...PART..."
#   no_files DIR DESCRIPTION              DIR must be empty
#   finish                                prints the count; exit status
#   torch_python WHAT                     sets PY to a Python with torch and
#                                         numpy, or skips the test (exit 77)
CV="${CV_EXEC:+$CV_EXEC }${top_builddir:-.}/cogvideo"
DIFF="${CV_EXEC:+$CV_EXEC }${top_builddir:-.}/tests/npy_diff"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cv_${NAME:-test}.XXXXXX") || exit 99
# (tests make directories read-only to provoke write errors)
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
fails=0
n=0

fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

check() {
  what=$1; shift
  [ "${1:-}" = "--" ] && shift
  n=$((n + 1))
  if "$@" >"$tmp/log" 2>&1; then echo "ok: $what"
  else fail "$what"; sed 's/^/  | /' "$tmp/log"; return 1; fi
}

expect() {
  want=$1; what=$2; shift 3
  n=$((n + 1))
  "$@" >"$tmp/out" 2>"$tmp/err"
  got=$?
  if [ "$got" -ne "$want" ]; then
    fail "$what: exit $got (expected $want)"; sed 's/^/  stderr: /' "$tmp/err"; return 1
  fi
  echo "ok: $what"
}

one_line_error() {
  n=$((n + 1))
  if [ "$(wc -l <"$tmp/err")" -ne 1 ] || ! grep -q -- "^cogvideo: .*$1" "$tmp/err"; then
    fail "expected one error line mentioning '$1', got:"; sed 's/^/  stderr: /' "$tmp/err"; return 1
  fi
}

contains() {
  n=$((n + 1))
  if ! grep -q -- "$2" "$1"; then
    fail "$(basename "$1") lacks '$2':"; sed 's/^/  | /' "$1"; return 1
  fi
}

expect_error() {
  want=$1; msg=$2; what=$3; shift 4
  n=$((n + 1))
  "$@" >"$tmp/out" 2>"$tmp/err"
  got=$?
  if [ "$got" -ne "$want" ] || [ "$(wc -l <"$tmp/err")" -ne 1 ] || ! grep -q "^cogvideo: .*$msg" "$tmp/err"; then
    fail "$what: exit $got (expected $want, one line with '$msg')"; sed 's/^/  stderr: /' "$tmp/err"; return 1
  fi
  echo "ok: $what: $(cat "$tmp/err")"
}

no_files() {
  n=$((n + 1))
  if [ -n "$(ls -A "$1")" ]; then fail "$2 left files behind: $(ls -A "$1" | tr '\n' ' ')"; fi
}

finish() {
  echo "$n checks, $fails failed"
  [ "$fails" -eq 0 ]
}

# The training tools' tests need Debian's python3-torch, which building and
# testing the C code never do: without it they skip, saying what they skip.
torch_python() {
  for PY in ${PYTHON:-} python3 /usr/bin/python3; do
    "$PY" -c 'import torch, numpy' >/dev/null 2>&1 && return 0
  done
  echo "SKIP: $1: no Python with torch and numpy (tried \$PYTHON, python3, /usr/bin/python3)"
  exit 77
}
