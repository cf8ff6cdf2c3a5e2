/* gen_dump.c — `cogvideo generate --dump DIR`: sample 0's first job of
 * every phase, the sequences as given and filled, and the sampler's logits
 * at steps 0, 1, steps/2 and steps-1, in the layout `cogvideo logits` reads
 * and writes (tests/test_generate.sh replays each phase and compares). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "gen.h"
#include "npy.h"

void gen_dump_probe(gen_dump *d, const cv_pipeline_probe *p)
{
    const int want[4] = {0, 1, p->steps / 2, p->steps - 1};
    for (int i = 0; i < 4; i++)
        if (p->step == want[i] && (d->n_logits == 0 || d->idx[d->n_logits - 1] < p->step) && d->n_logits < 4) {
            d->idx[d->n_logits] = p->step;
            memcpy(d->logits + (size_t)d->n_logits++ * (size_t)d->image_tokens, p->logits,
                   (size_t)d->image_tokens * sizeof(float));
            return;
        }
}

static const char *phase_dir(cv_pipeline_phase ph, int round, char *buf, size_t n)
{
    if (ph == CV_PHASE_ROUND)
        snprintf(buf, n, "s2_round%d", round);
    else
        snprintf(buf, n, "%s", ph == CV_PHASE_FIRST ? "s1_first" : "s1_video");
    return buf;
}

static cv_status dump_meta(const char *dir, cv_pipeline_phase ph, float log_w, float alpha, cv_error *err)
{
    static const char *const modes[] = {"s1-first", "s1-video", "s2-interp"};
    char *p = gen_path(dir, "meta.json");
    json_t *j = json_pack("{s:s, s:f, s:f}", "mode", modes[ph], "log_w", (double)log_w, "alpha", (double)alpha);
    cv_status s = p && j && !json_dump_file(j, p, JSON_INDENT(1))
                      ? CV_OK
                      : cv_error_set(err, CV_ERR_IO, "%s: cannot write", p ? p : dir);
    json_decref(j);
    free(p);
    return s;
}

static cv_status dump_npy(const char *dir, const char *name, cv_dtype dt, int ndim, const int64_t *shape,
                          const void *data, cv_error *err)
{
    char *p = gen_path(dir, name);
    cv_status s = p ? cv_npy_save(p, dt, ndim, shape, data, err) : cv_error_set(err, CV_ERR_NOMEM, "out of memory");
    free(p);
    return s;
}

void gen_dump_seqs(gen_dump *d, cv_pipeline_phase ph, int round, const int64_t *in, const int64_t *out, int len,
                      const int64_t *g, int glen, float log_w, float alpha)
{
    char name[32];
    char *dir = gen_path(d->dir, phase_dir(ph, round, name, sizeof name));
    cv_error *e = &d->err;
    cv_status s = dir ? cv_cli_make_dir(dir, e) : cv_error_set(e, CV_ERR_NOMEM, "out of memory");
    const int64_t n1[1] = {len}, gn[1] = {glen}, ni[1] = {d->n_logits}, nl[2] = {d->n_logits, d->image_tokens};
    if (!s)
        s = dump_npy(dir, "seq_in.npy", CV_DT_I64, 1, n1, in, e);
    if (!s)
        s = dump_npy(dir, "teacher.npy", CV_DT_I64, 1, n1, out, e);
    if (!s && g)
        s = dump_npy(dir, "guider_seq_in.npy", CV_DT_I64, 1, gn, g, e);
    if (!s)
        s = dump_npy(dir, "step_logits_idx.npy", CV_DT_I64, 1, ni, d->idx, e);
    if (!s)
        s = dump_npy(dir, "step_logits.npy", CV_DT_F32, 2, nl, d->logits, e);
    if (!s)
        s = dump_meta(dir, ph, log_w, alpha, e);
    if (s && !d->status)
        d->status = s;
    d->n_logits = 0;
    free(dir);
}

