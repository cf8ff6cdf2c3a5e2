/* npy_diff — compares two .npy files for the golden tests (the C twin of
 * golden/compare_run.py, so `make check` needs no Python):
 *
 *   npy_diff GOLD.npy OUT.npy TOL            float arrays: max |gold - out| <= TOL
 *   npy_diff --equal GOLD.npy OUT.npy FRAC   integer arrays: at most FRAC of the
 *                                            elements differ (0 = identical)
 *
 * Shapes must match.  Prints one line "NAME: max|diff| D (tol T) ok|OVER";
 * exit 0 within tolerance, 1 otherwise, 2 on usage or I/O errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "npy.h"

static double value(const cv_npy *a, size_t i)
{
    const unsigned char *p = a->data;
    switch (a->dtype) {
    case CV_DT_F32: { float v; memcpy(&v, p + 4 * i, 4); return v; }
    case CV_DT_F64: { double v; memcpy(&v, p + 8 * i, 8); return v; }
    case CV_DT_I64: { int64_t v; memcpy(&v, p + 8 * i, 8); return (double)v; }
    case CV_DT_I32: { int32_t v; memcpy(&v, p + 4 * i, 4); return v; }
    case CV_DT_I8: return (double)(int8_t)p[i];
    case CV_DT_U8: return p[i];
    default: return NAN;
    }
}

int main(int argc, char **argv)
{
    const int equal = argc == 5 && !strcmp(argv[1], "--equal");
    if (argc != 4 + equal) {
        fprintf(stderr, "usage: npy_diff [--equal] GOLD.npy OUT.npy TOL\n");
        return 2;
    }
    const char *gp = argv[1 + equal], *op = argv[2 + equal];
    const double tol = atof(argv[3 + equal]);
    cv_npy g = {0}, o = {0};
    cv_error err;
    if (cv_npy_load(gp, &g, &err) || cv_npy_load(op, &o, &err)) {
        fprintf(stderr, "npy_diff: %s\n", err.msg);
        return 2;
    }
    int rc = 0;
    if (g.ndim != o.ndim || g.count != o.count || memcmp(g.shape, o.shape, sizeof g.shape)) {
        printf("%s: shape differs from the golden one\n", op);
        rc = 1;
    } else if (equal) {
        size_t bad = 0;
        for (size_t i = 0; i < g.count; i++)
            bad += value(&g, i) != value(&o, i);
        rc = (double)bad > tol * (double)g.count;
        printf("%s: %zu of %zu differ (allowed fraction %g) %s\n", op, bad, g.count, tol, rc ? "OVER" : "ok");
    } else {
        double d = 0;
        for (size_t i = 0; i < g.count; i++) {
            double x = fabs(value(&g, i) - value(&o, i));
            d = x > d || isnan(x) ? x : d;
        }
        rc = !(d <= tol);
        printf("%s: max|diff| %.3g (tol %g) %s\n", op, d, tol, rc ? "OVER" : "ok");
    }
    cv_npy_free(&g);
    cv_npy_free(&o);
    return rc;
}
