#!/bin/sh
# test_decode.sh — `cogvideo convert-vqvae` and `cogvideo decode` from the
# command line.  Always: the tiny icetk-layout fixture (testdata/vqvae-tiny)
# converted and decoded to PNG, numbered PNGs, GIF and a contact sheet, the
# golden-A-sized fixture (testdata/vqvae-A) converted and decoded, and
# the bad-input contract (one-line error, exit code, no file left behind).
# With ../shared/golden/vqvae_full: icetk's real decoder converted and run on
# the golden ids; dec_raw and dec_img within 1e-4 (absolute; tests/npy_diff),
# frame160_u8 / frame480_u8 equal on all but at most 0.1 % of the values
# (tests/test_vqvae.c checks that those differ by at most 1), with the best
# kernels and with COGVIDEO_ISA=ref, with 1 and 2 threads (same bytes).
set -u
NAME=decode
. "${top_srcdir:-.}/tests/cli_lib.sh"
T="${CV_TESTDATA:-testdata}/vqvae-tiny"
G="${CV_SHARED:-../shared}/golden/vqvae_full"

# ---------------------------------------------------------------- tiny fixture
check "convert-vqvae --help" $CV convert-vqvae --help
check "decode --help" $CV decode --help
check "convert-vqvae tiny" $CV convert-vqvae "$T/ice_image_tiny.pt" "$tmp/tiny.gguf" --grid 3x5 --norm-groups 4
check "decode one frame to PNG" $CV decode -m "$tmp/tiny.gguf" --ids "$T/ids_3x5.npy" -o "$tmp/one.png" \
  --raw "$tmp/raw.npy" --u8 "$tmp/u8.npy" --size 18
check "decode reference path" $CV decode -m "$tmp/tiny.gguf" --ids "$T/ids_3x5.npy" -o "$tmp/one_ref.png" \
  --raw "$tmp/raw_ref.npy" --reference
check "optimized vs reference raw" $DIFF "$tmp/raw_ref.npy" "$tmp/raw.npy" 1e-5
# The pixel convention stored by convert-vqvae --pixel is decode's default.
check "convert-vqvae --pixel clamp" $CV convert-vqvae "$T/ice_image_tiny.pt" "$tmp/tinyc.gguf" --grid 3x5 \
  --norm-groups 4 --pixel clamp
check "info shows the pixel convention" $CV info "$tmp/tinyc.gguf"
contains "$tmp/log" "cogvideo.vqvae.pixel.*\"clamp\""
check "decode, the model's clamp" $CV decode -m "$tmp/tinyc.gguf" --ids "$T/ids_3x5.npy" -o "$tmp/c1.png" \
  --u8 "$tmp/u8_c1.npy" --size 18
check "decode --pixel clamp" $CV decode -m "$tmp/tiny.gguf" --ids "$T/ids_3x5.npy" -o "$tmp/c2.png" \
  --u8 "$tmp/u8_c2.npy" --size 18 --pixel clamp
check "the model's clamp = --pixel clamp" cmp "$tmp/u8_c1.npy" "$tmp/u8_c2.npy"
n=$((n + 1)); ! cmp -s "$tmp/u8.npy" "$tmp/u8_c1.npy" || fail "clamp and normalize gave the same bytes"
check "decode --pixel normalize overrides the model's" $CV decode -m "$tmp/tinyc.gguf" --ids "$T/ids_3x5.npy" \
  -o "$tmp/c3.png" --u8 "$tmp/u8_c3.npy" --size 18 --pixel normalize
check "--pixel normalize = a model without the key" cmp "$tmp/u8.npy" "$tmp/u8_c3.npy"
mkdir "$tmp/frames"
check "decode 4 frames to numbered PNGs + sheet" $CV decode -m "$tmp/tiny.gguf" --ids "$T/ids_4x3x5.npy" \
  -o "$tmp/frames/f.png" --sheet "$tmp/sheet.png" --pixel clamp
for f in f_0000.png f_0001.png f_0002.png f_0003.png; do
  n=$((n + 1)); [ -f "$tmp/frames/$f" ] || fail "missing $f"
done
n=$((n + 1)); [ "$(ls "$tmp/frames" | wc -l)" -eq 4 ] || fail "frames/: expected 4 files"
check "decode 4 frames to GIF" $CV decode -m "$tmp/tiny.gguf" --ids "$T/ids_4x3x5.npy" -o "$tmp/clip.gif" \
  --fps 4 --dither --size 60
if command -v gifsicle >/dev/null 2>&1; then
  check "gifsicle --info" gifsicle --info "$tmp/clip.gif"
  n=$((n + 1)); grep -q "4 images" "$tmp/log" || fail "gifsicle: not 4 images"
  n=$((n + 1)); grep -q "logical screen 100x60" "$tmp/log" || fail "gifsicle: not 100x60"
  n=$((n + 1)); [ "$(grep -c "delay 0.25s" "$tmp/log")" -eq 4 ] || fail "gifsicle: delays are not 0.25 s"
  n=$((n + 1)); grep -q "loop forever" "$tmp/log" || fail "gifsicle: no loop forever"
else
  echo "gifsicle not installed: the GIF is checked by tests/test_image only"
fi

# ---------------------------------------------------------------- vqvae-A
# The decoder that fits the golden-A checkpoints (20000 codes, 20x20 tokens):
# convert-vqvae with its defaults, one frame to PNG and two to GIF, 80x80.
A="${CV_TESTDATA:-testdata}/vqvae-A"
check "convert-vqvae vqvae-A with the defaults" $CV convert-vqvae "$A/ice_image_A.pt" "$tmp/a.gguf"
check "decode vqvae-A one 20x20 frame to PNG" $CV decode -m "$tmp/a.gguf" --ids "$A/ids_20x20.npy" \
  -o "$tmp/a.png" --u8 "$tmp/a_u8.npy"
n=$((n + 1)); head -c 128 "$tmp/a_u8.npy" | grep -q "'shape': (80, 80, 3)" || fail "vqvae-A: frame not 80x80x3"
check "decode vqvae-A two frames to GIF" $CV decode -m "$tmp/a.gguf" --ids "$A/ids_2x20x20.npy" -o "$tmp/a.gif"

# ---------------------------------------------------------------- bad input
mkdir "$tmp/bad"
expect_error 2 "outside the codebook" "id >= codebook" -- \
  $CV decode -m "$tmp/tiny.gguf" --ids "$T/ids_bad.npy" -o "$tmp/bad/x.png"
expect_error 2 "does not fit the model's 3x5 token grid" "rank-1 ids" -- \
  $CV decode -m "$tmp/tiny.gguf" --ids "$T/ids_rank1.npy" -o "$tmp/bad/x.png"
expect_error 2 "does not end in .png or .gif" "-o x.jpg" -- \
  $CV decode -m "$tmp/tiny.gguf" --ids "$T/ids_3x5.npy" -o "$tmp/bad/x.jpg"
expect_error 2 "is not normalize or clamp" "--pixel bogus" -- \
  $CV decode -m "$tmp/tiny.gguf" --ids "$T/ids_3x5.npy" -o "$tmp/bad/x.png" --pixel bogus
expect_error 2 "is not normalize or clamp" "convert-vqvae --pixel bogus" -- \
  $CV convert-vqvae "$T/ice_image_tiny.pt" "$tmp/bad/t.gguf" --norm-groups 4 --pixel bogus
expect_error 1 "no/such/dir" "unwritable output directory" -- \
  $CV decode -m "$tmp/tiny.gguf" --ids "$T/ids_4x3x5.npy" -o "$tmp/bad/no/such/dir/x.gif"
expect_error 1 "no/such" "unwritable GIF after the raw dump" -- \
  $CV decode -m "$tmp/tiny.gguf" --ids "$T/ids_4x3x5.npy" --raw "$tmp/bad/raw.npy" -o "$tmp/bad/no/such/x.gif"
no_files "$tmp/bad" "failed decodes"
head -c 50000 "$T/ice_image_tiny.pt" >"$tmp/trunc.pt"
expect_error 1 "trunc.pt" "truncated .pt" -- $CV convert-vqvae "$tmp/trunc.pt" "$tmp/bad/t.gguf" --norm-groups 4
expect_error 1 "missing tensor 'decs.1.mid.attn_1.v.bias'" "missing tensor" -- \
  $CV convert-vqvae "$T/missing_tensor.pt" "$tmp/bad/t.gguf" --norm-groups 4
expect_error 1 "multiple of norm_groups" "widths not divisible by 32 groups" -- \
  $CV convert-vqvae "$T/ice_image_tiny.pt" "$tmp/bad/t.gguf"
expect_error 2 "is not HxW" "--grid 20" -- $CV convert-vqvae "$T/ice_image_tiny.pt" "$tmp/bad/t.gguf" --grid 20
expect_error 1 "not a GGUF file" "a .pt given as the model" -- \
  $CV decode -m "$T/ice_image_tiny.pt" --ids "$T/ids_3x5.npy" -o "$tmp/bad/x.png"
# A stored pixel convention that is neither value: the same file with its
# string's bytes "clamp" changed to "clamq" (same length, so still a GGUF).
LC_ALL=C sed 's/clamp/clamq/' "$tmp/tinyc.gguf" >"$tmp/badpixel.gguf"
n=$((n + 1)); [ "$(LC_ALL=C grep -c clamq "$tmp/badpixel.gguf")" = 1 ] || fail "badpixel.gguf: the patch did not apply"
expect_error 1 "badpixel.gguf: metadata key 'cogvideo.vqvae.pixel' is \"clamq\"" "invalid cogvideo.vqvae.pixel" -- \
  $CV decode -m "$tmp/badpixel.gguf" --ids "$T/ids_3x5.npy" -o "$tmp/bad/x.png"
no_files "$tmp/bad" "failed conversions"

# ---------------------------------------------------------------- golden
if [ ! -f "$G/ice_image_decs1_fp16.pt" ]; then
  echo "$G not found: the real-width golden decode is skipped (CI has it)"
elif [ -n "${CV_SLOW:-}" ]; then
  echo "slow build ($CV_SLOW): the real-width golden decode is left to tests/test_vqvae (a prefix) and native builds"
else
  check "convert-vqvae golden" $CV convert-vqvae "$G/ice_image_decs1_fp16.pt" "$tmp/real.gguf"
  for isa in best ref; do
    for th in 1 2; do
      o="$tmp/g_${isa}_$th"
      mkdir "$o"
      if [ $isa = ref ]; then env="COGVIDEO_ISA=ref"; else env="COGVIDEO_ISA="; fi
      check "decode golden ($isa kernels, $th threads)" env $env $CV decode -m "$tmp/real.gguf" --ids "$G/ids.npy" \
        -o "$o/f.png" --raw "$o/raw.npy" --img "$o/img.npy" --u8 "$o/u8.npy" --threads $th
      check "decode golden 480 ($isa, $th)" env $env $CV decode -m "$tmp/real.gguf" --ids "$G/ids.npy" \
        -o "$o/f480.png" --u8 "$o/u480.npy" --size 480 --threads $th
      check "dec_raw ($isa, $th)" $DIFF "$G/dec_raw.npy" "$o/raw.npy" 1e-4
      check "dec_img ($isa, $th)" $DIFF "$G/dec_img.npy" "$o/img.npy" 1e-4
      check "frame160_u8 ($isa, $th)" $DIFF --equal "$G/frame160_u8.npy" "$o/u8.npy" 0.001
      check "frame480_u8 ($isa, $th)" $DIFF --equal "$G/frame480_u8.npy" "$o/u480.npy" 0.001
    done
    check "1 and 2 threads: same raw bits ($isa)" $DIFF "$tmp/g_${isa}_1/raw.npy" "$tmp/g_${isa}_2/raw.npy" 0
  done
fi

finish
