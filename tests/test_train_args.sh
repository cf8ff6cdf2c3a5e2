#!/bin/sh
# test_train_args.sh — issue 7: the training tools' inputs
# (tools/train/train_stage.py --soft-targets, --round-weights, --window,
# --parent-noise, data whose needed frames are not encoded;
# patch_distances.py) refuse bad input with a one-line error naming the
# flag or file and exit 2 (argparse), before any training starts.  Needs a
# Python with torch and numpy; skipped (exit 77) without one.
set -u
NAME=train_args
. "${top_srcdir:-.}/tests/cli_lib.sh"
SRC="${top_srcdir:-.}"

torch_python "training tools"
TS="$SRC/tools/train/train_stage.py"
PD="$SRC/tools/train/patch_distances.py"

# refuses MSG WHAT CMD...: exit 2, and the last stderr line (argparse prints
# its usage first) names the problem.
refuses() {
  msg=$1; what=$2; shift 2
  n=$((n + 1))
  "$@" >"$tmp/out" 2>"$tmp/err"
  got=$?
  if [ "$got" -ne 2 ] || ! tail -n 1 "$tmp/err" | grep -q "error: .*$msg"; then
    fail "$what: exit $got (expected 2 and '$msg')"; sed 's/^/  stderr: /' "$tmp/err"; return 1
  fi
  echo "ok: $what: $(tail -n 1 "$tmp/err")"
}

"$PY" -c "import numpy as np; np.save('$tmp/d512.npy', np.zeros((512, 512))); np.save('$tmp/d3.npy', np.zeros((3, 3)))"
printf 'not an npy file\n' >"$tmp/junk.npy"
head -c 200 "$tmp/d512.npy" >"$tmp/short.npy"
S2="$PY $TS --stage 2 --data $tmp/none.npz --out $tmp/out-sat"
# --soft-targets D.npy:EPS:TAU and --parent-noise D.npy:P:TAU share one
# reader (train_stage.py distance_spec): the same refusals for both.
for fx in --soft-targets:EPS --parent-noise:P; do
  f=${fx%%:*} x=${fx#*:}
  refuses "expected D.npy:$x:TAU" "$f: no $x/TAU" $S2 $f "$tmp/d512.npy:0.3"
  refuses "expected D.npy:$x:TAU" "$f: $x not a number" $S2 $f "$tmp/d512.npy:x:0.1"
  refuses "expected 0 <= $x <= 1 and TAU > 0" "$f: $x > 1" $S2 $f "$tmp/d512.npy:1.5:0.1"
  refuses "expected 0 <= $x <= 1 and TAU > 0" "$f: TAU 0" $S2 $f "$tmp/d512.npy:0.3:0"
  refuses "expected 0 <= $x <= 1 and TAU > 0" "$f: TAU < 0" $S2 $f "$tmp/d512.npy:0.3:-1"
  refuses "cannot read $tmp/missing.npy" "$f: missing D" $S2 $f "$tmp/missing.npy:0.3:0.1"
  refuses "cannot read $tmp/junk.npy" "$f: not an .npy" $S2 $f "$tmp/junk.npy:0.3:0.1"
  refuses "cannot read $tmp/short.npy" "$f: truncated .npy" $S2 $f "$tmp/short.npy:0.3:0.1"
  refuses "D is (3, 3), expected \[512, 512\]" "$f: D of the wrong shape" $S2 $f "$tmp/d3.npy:0.3:0.1"
  refuses "is for stage 2" "$f for stage 1" $PY $TS --stage 1 --data "$tmp/none.npz" --out "$tmp/o" $f "$tmp/d512.npy:0.3:0.1"
done
refuses "choose one" "with --changed-weight" $S2 --soft-targets "$tmp/d512.npy:0.3:0.1" --changed-weight 2
# stage 2's Swin window and round draw.
refuses "expected W1:W2:W3" "two round weights" $S2 --round-weights 1:2
refuses "expected W1:W2:W3" "a negative round weight" $S2 --round-weights 1:-1:2
refuses "expected W1:W2:W3" "round weights all 0" $S2 --round-weights 0:0:0
refuses "expected W1:W2:W3" "an infinite round weight" $S2 --round-weights 1:inf:1
refuses "is for stage 2" "round weights for stage 1" $PY $TS --stage 1 --data "$tmp/none.npz" --out "$tmp/o" --round-weights 1:1:2
refuses "invalid choice: 3" "a window that does not divide the grid" $S2 --window 3
refuses "is for stage 2" "a window for stage 1" $PY $TS --stage 1 --data "$tmp/none.npz" --out "$tmp/o" --window 8
n=$((n + 1)); [ ! -e "$tmp/out-sat" ] || fail "a refused run wrote $tmp/out-sat"

# A keyframes-only TOKENS.npz (prepare.py --keyframes-only: frames other
# than every 8th are -1): stage 2, which trains on every frame, refuses it;
# stage 1, which reads only the keyframes, trains on it.
"$PY" -c "
import numpy as np
f = np.full((2, 33, 64), -1, np.int16); f[:, ::8] = 7
t = np.full((2, 32), -1, np.int32); t[:, :3] = [520, 521, 522]
d = {'frames': f, 'boi': np.int64(612), 'n_id': np.int64(516), 'phrasings': np.array('[\"canonical\"]'),
     'specs': np.array('[{}, {}]'), 'guider': np.array([530], np.int32)}
for k in ('text_first_', 'text_', 'text_guided_'):
    d[k + 'canonical'] = t
for s in ('4.0', '2.0', '1.0', '0.5'):
    d['dur_' + s] = np.array([540, 516], np.int32)
np.savez('$tmp/keyframes.npz', **d)"
refuses "frames stage 2 trains on are not encoded" "stage 2 on keyframes-only tokens" \
  $PY $TS --stage 2 --data "$tmp/keyframes.npz" --out "$tmp/out-sat" --layers 1 --hidden 16 --heads 2 --steps 1
n=$((n + 1)); [ ! -e "$tmp/out-sat" ] || fail "a refused run wrote $tmp/out-sat"
check "stage 1 on keyframes-only tokens" $PY $TS --stage 1 --guided --data "$tmp/keyframes.npz" --out "$tmp/s1-sat" \
  --layers 1 --hidden 16 --heads 2 --steps 1

# patch_distances.py: clips and tokens that do not match.
"$PY" -c "
import numpy as np
np.savez('$tmp/clips.npz', frames=np.zeros((2, 3, 64, 64, 3), np.uint8))
np.savez('$tmp/tok.npz', frames=np.zeros((2, 4, 64), np.int64))
np.savez('$tmp/tok-ok.npz', frames=np.zeros((2, 3, 64), np.int64))"
refuses "$tmp/missing.npz: cannot read" "missing clips" $PY "$PD" --clips "$tmp/missing.npz" --tokens "$tmp/tok.npz" --out "$tmp/d.npy"
refuses "$tmp/junk.npy: cannot read" "tokens not an .npz" $PY "$PD" --clips "$tmp/clips.npz" --tokens "$tmp/junk.npy" --out "$tmp/d.npy"
refuses "do not match" "clips and tokens of other sizes" $PY "$PD" --clips "$tmp/clips.npz" --tokens "$tmp/tok.npz" --out "$tmp/d.npy"
n=$((n + 1)); [ ! -e "$tmp/d.npy" ] || fail "a refused patch_distances wrote $tmp/d.npy"
check "patch_distances on matching inputs" $PY "$PD" --clips "$tmp/clips.npz" --tokens "$tmp/tok-ok.npz" --out "$tmp/d.npy"
n=$((n + 1)); "$PY" -c "import numpy as np; d = np.load('$tmp/d.npy'); assert d.shape == (512, 512) and (d >= 0).all()" ||
  fail "patch_distances: D is not [512, 512] and >= 0"
finish
