/* pyfloat.c — Python's str(float) (see pyfloat.h). */
#include "pyfloat.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The shortest significant digits of x that strtod reads back as x ("%.17g"
 * always does): into digits (no sign, no point); returns the decimal
 * exponent of the first digit.  Why the loop: C has no shortest-repr
 * format, and at each precision printf rounds correctly, so the first
 * precision that round-trips gives Python's digits. */
static int shortest_digits(double x, char digits[24])
{
    char d[40];
    for (int p = 1; p <= 17; p++) {
        snprintf(d, sizeof d, "%.*e", p - 1, fabs(x));
        if (strtod(d, NULL) == fabs(x))
            break;
    }
    char *e = strchr(d, 'e');
    const int exp = atoi(e + 1);
    size_t nd = 0;
    for (const char *c = d; c < e; c++)
        if (*c >= '0' && *c <= '9')
            digits[nd++] = *c;
    digits[nd] = '\0';
    return exp;
}

size_t cv_python_float_str(double x, char *buf, size_t n)
{
    if (!isfinite(x))
        return 0;
    char digits[24];
    const int exp = shortest_digits(x, digits);
    const int nd = (int)strlen(digits);
    const char *sign = signbit(x) ? "-" : "";
    int w;
    if (exp < -4 || exp >= 16) /* float_repr_style 'r': d[.ddd]e[+-]XX */
        w = snprintf(buf, n, "%s%c%s%se%c%02d", sign, digits[0], nd > 1 ? "." : "", digits + 1,
                     exp < 0 ? '-' : '+', abs(exp));
    else if (exp < 0) /* 0.000ddd */
        w = snprintf(buf, n, "%s0.%.*s%s", sign, -exp - 1, "0000", digits);
    else if (exp + 1 >= nd) /* integral: ddd000.0 */
        w = snprintf(buf, n, "%s%s%.*s.0", sign, digits, exp + 1 - nd, "000000000000000");
    else /* ddd.ddd */
        w = snprintf(buf, n, "%s%.*s.%s", sign, exp + 1, digits, digits + exp + 1);
    return w < 0 || (size_t)w >= n ? 0 : (size_t)w;
}
