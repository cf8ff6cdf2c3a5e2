/* pyfloat.h — Python's str(float) (= repr since Python 3.1) in C, for text
 * the original builds with it: CogVideo's duration prefix "4.0秒" comes from
 * str(float(duration)) + "秒", and the pipeline's duration_format likewise. */
#ifndef CV_PYFLOAT_H
#define CV_PYFLOAT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Python's str(x): the shortest digits that read back as x, fixed notation
 * when -4 <= exponent < 16 (".0" when integral: "4.0", "100.0", "0.5",
 * "1e-05", "1.5e+16").  Returns the length, 0 if it does not fit in n bytes
 * (NUL included) or x is not finite. */
size_t cv_python_float_str(double x, char *buf, size_t n);

#ifdef __cplusplus
}
#endif
#endif
