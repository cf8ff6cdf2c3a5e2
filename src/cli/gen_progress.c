/* gen_progress.c — the progress line of `cogvideo generate` on stderr: only
 * when stderr is a terminal (DESIGN.md §5), rewritten in place at most 10
 * times a second.  The ETA spreads the elapsed time over "units", one per
 * sequence row and token step, summed over every phase of the run. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "gen.h"

double gen_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

void gen_progress_init(gen_progress *p, bool quiet, double units_total)
{
    *p = (gen_progress){isatty(2) != 0, quiet, gen_now(), 0, units_total, 0, 0, 0, -1};
}

static void clock_text(double s, char *buf, size_t n)
{
    const long t = s < 0 ? 0 : (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

static const char *phase_name(const cv_pipeline_progress *s, char *buf, size_t n)
{
    if (s->phase == CV_PHASE_FIRST)
        return "stage 1, first frame";
    if (s->phase == CV_PHASE_VIDEO)
        return "stage 1, keyframes";
    snprintf(buf, n, "stage 2, round %d", s->round + 1);
    return buf;
}

void gen_progress_step(void *ctx, const cv_pipeline_progress *s)
{
    gen_progress *p = ctx;
    const int key = s->phase == CV_PHASE_ROUND ? 2 + s->round : (int)s->phase;
    const double now = gen_now();
    if (key != p->phase_key) {
        p->phase_key = key;
        p->phase_t0 = now;
        p->units_done += p->phase_units;
        p->phase_units = 0;
    }
    p->phase_units = (double)s->rows * s->step;
    if (p->quiet || !p->tty || (now - p->last < 0.1 && s->step < s->steps))
        return;
    p->last = now;
    const double done = p->units_done + p->phase_units, dt = now - p->phase_t0;
    const double eta = done > 0 ? (now - p->t0) * (p->units_total - done) / done : 0;
    char nb[32], eb[32];
    clock_text(eta, eb, sizeof eb);
    const int L = s->frame_len > 0 ? s->frame_len : 1;
    fprintf(stderr, "\r%s: frame %d/%d, token %d/%d (x%d), %.1f tok/s, ETA %s \x1b[K", phase_name(s, nb, sizeof nb),
            (s->step - 1) / L + 1, (s->steps + L - 1) / L, s->step, s->steps, s->jobs,
            dt > 0 ? s->step * (double)s->jobs / dt : 0.0, eb);
    fflush(stderr);
}

void gen_progress_done(gen_progress *p, const char *what, double tokens, double seconds)
{
    if (p->quiet)
        return;
    fprintf(stderr, "%s%s: %.0f tokens in %.1f s (%.1f tok/s)\n", p->tty ? "\r\x1b[K" : "", what, tokens, seconds,
            seconds > 0 ? tokens / seconds : 0.0);
}
