# cv_flags.m4 — compiler-flag and ISA probes for cogvideo.c.

# CV_CHECK_CFLAG(FLAG, [ACTION-IF-OK], [ACTION-IF-NOT], [EXTRA-LDFLAGS])
# Succeeds when $CC compiles and links a trivial program with FLAG (and
# -Werror, so that "unknown option" warnings count as failures).
AC_DEFUN([CV_CHECK_CFLAG], [
  AS_VAR_PUSHDEF([cv_var], [cv_cv_cflag_$1])
  AC_CACHE_CHECK([whether $CC accepts $1], [cv_var], [
    cv_save_CFLAGS=$CFLAGS; cv_save_LDFLAGS=$LDFLAGS
    CFLAGS="$CFLAGS -Werror $1"; LDFLAGS="$LDFLAGS $4"
    AC_LINK_IFELSE([AC_LANG_PROGRAM([], [return 0;])],
                   [AS_VAR_SET([cv_var], [yes])], [AS_VAR_SET([cv_var], [no])])
    CFLAGS=$cv_save_CFLAGS; LDFLAGS=$cv_save_LDFLAGS])
  AS_VAR_IF([cv_var], [yes], [$2], [$3])
  AS_VAR_POPDEF([cv_var])
])

# CV_CHECK_AVX2([ACTION-IF-OK])
# The AVX2 tier is AVX2 + FMA + F16C.  Like libsodium: check that the flags
# are accepted AND that intrinsics from all three compile and link; only then
# substitute CFLAGS_AVX2 (used on simd/x86/*_avx2.c files only, so the rest of
# the library still runs on CPUs without AVX2).
AC_DEFUN([CV_CHECK_AVX2], [
  AC_CACHE_CHECK([for AVX2+FMA+F16C intrinsics], [cv_cv_avx2], [
    cv_save_CFLAGS=$CFLAGS
    CFLAGS="$CFLAGS -mavx2 -mfma -mf16c"
    AC_LINK_IFELSE([AC_LANG_PROGRAM([[#include <immintrin.h>]], [[
      __m256 a = _mm256_set1_ps(1.0f);
      __m256i i = _mm256_add_epi32(_mm256_set1_epi32(1), _mm256_set1_epi32(2));
      a = _mm256_fmadd_ps(a, a, _mm256_cvtepi32_ps(i));
      __m128i h = _mm256_cvtps_ph(a, 0);
      a = _mm256_cvtph_ps(h);
      return (int)_mm256_cvtss_f32(a);]])],
      [cv_cv_avx2=yes], [cv_cv_avx2=no])
    CFLAGS=$cv_save_CFLAGS])
  AS_IF([test "x$cv_cv_avx2" = xyes], [
    AC_SUBST([CFLAGS_AVX2], ["-mavx2 -mfma -mf16c"])
    $1])
])

# CV_CHECK_NEON([ACTION-IF-OK])
# AArch64 always has Advanced SIMD; still check that arm_neon.h works.
AC_DEFUN([CV_CHECK_NEON], [
  AC_CACHE_CHECK([for NEON intrinsics], [cv_cv_neon], [
    AC_LINK_IFELSE([AC_LANG_PROGRAM([[#include <arm_neon.h>]], [[
      float32x4_t a = vdupq_n_f32(1.0f);
      a = vfmaq_f32(a, a, a);
      float16x4_t h = vcvt_f16_f32(a);
      a = vcvt_f32_f16(h);
      return (int)vaddvq_f32(a);]])],
      [cv_cv_neon=yes], [cv_cv_neon=no])])
  AS_IF([test "x$cv_cv_neon" = xyes], [$1])
])

# CV_CHECK_AVX512([ACTION-IF-OK])
# The AVX-512 tier adds F + BW + VL to the AVX2 tier (its files use the AVX2
# helpers too).  Checked like CV_CHECK_AVX2: the flags are accepted AND
# intrinsics of each part compile and link (F: 512-bit FMA, f16 widening;
# BW+VL: the 16-bit masked load at 256 bits that reads ragged f16 tails).
AC_DEFUN([CV_CHECK_AVX512], [
  AC_CACHE_CHECK([for AVX-512 F+BW+VL intrinsics], [cv_cv_avx512], [
    cv_save_CFLAGS=$CFLAGS
    CFLAGS="$CFLAGS -mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl"
    AC_LINK_IFELSE([AC_LANG_PROGRAM([[#include <immintrin.h>
      static unsigned short h[16];]], [[
      __m512 a = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16((__mmask16)7, h));
      a = _mm512_fmadd_ps(a, a, _mm512_set1_ps(1.0f));
      return (int)_mm512_reduce_add_ps(a);]])],
      [cv_cv_avx512=yes], [cv_cv_avx512=no])
    CFLAGS=$cv_save_CFLAGS])
  AS_IF([test "x$cv_cv_avx512" = xyes], [
    AC_SUBST([CFLAGS_AVX512], ["-mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl"])
    $1])
])

# CV_CHECK_AVX512VNNI([ACTION-IF-OK])
# The AVX-512 VNNI rung (the q8_0 integer kernels) adds -mavx512vnni to the
# AVX-512 flags; checked the same way: vpdpbusd on zmm compiles and links.
AC_DEFUN([CV_CHECK_AVX512VNNI], [
  AC_CACHE_CHECK([for AVX-512 VNNI intrinsics], [cv_cv_avx512vnni], [
    cv_save_CFLAGS=$CFLAGS
    CFLAGS="$CFLAGS $CFLAGS_AVX512 -mavx512vnni"
    AC_LINK_IFELSE([AC_LANG_PROGRAM([[#include <immintrin.h>
      static signed char q[64];]], [[
      __m512i v = _mm512_loadu_si512((const void *)q);
      v = _mm512_dpbusd_epi32(v, v, v);
      return _mm512_reduce_add_epi32(v);]])],
      [cv_cv_avx512vnni=yes], [cv_cv_avx512vnni=no])
    CFLAGS=$cv_save_CFLAGS])
  AS_IF([test "x$cv_cv_avx512vnni" = xyes], [
    AC_SUBST([CFLAGS_AVX512VNNI], ["$CFLAGS_AVX512 -mavx512vnni"])
    $1])
])
