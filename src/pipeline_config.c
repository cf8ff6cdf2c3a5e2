/* pipeline_config.c — the pipeline's defaults as model metadata, their JSON
 * overrides, and the cluster labels (see pipeline_config.h).
 *
 * One table describes every key: its name, type, field and range, so the
 * writer, the GGUF reader, the JSON reader and the range check cannot
 * disagree about a key. */
#include "pipeline_config.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pyfloat.h"

typedef enum { F_STR, F_INT, F_FLOAT, F_BOOL } field_type;

typedef struct {
    const char *key; /* without CV_PIPE_PREFIX */
    field_type type;
    size_t off;      /* into cv_pipeline_config */
    int lo, hi;      /* F_INT: the range */
    bool positive;   /* F_FLOAT: > 0 (else any finite value) */
} field;

#define FLD(k, t, m, lo, hi, pos) {k, t, offsetof(cv_pipeline_config, m), lo, hi, pos}

/* keyframes <= 65535 and rounds <= 15 keep the frame count of the whole
 * video, (keyframes - 1) * 2^rounds + 1, inside an int. */
static const field k_fields[] = {
    FLD("first_frame_suffix", F_STR, first_frame_suffix, 0, 0, false),
    FLD("duration_format", F_STR, duration_format, 0, 0, false),
    FLD("guided_suffix", F_STR, guided_suffix, 0, 0, false),
    FLD("guider_text", F_STR, guider_text, 0, 0, false),
    FLD("keyframes", F_INT, keyframes, 2, 65535, false),
    FLD("keyframe_seconds", F_FLOAT, keyframe_seconds, 0, 0, true),
    FLD("rounds", F_INT, rounds, 0, 15, false),
    FLD("log_text_weight", F_FLOAT, log_text_weight, 0, 0, false),
    FLD("guidance_alpha", F_FLOAT, guidance_alpha, 0, 0, false),
    FLD("guided", F_BOOL, guided, 0, 0, false),
    FLD("sampler.first.temperature", F_FLOAT, first.temperature, 0, 0, true),
    FLD("sampler.first.top_k", F_INT, first.top_k, 1, INT32_MAX, false),
    FLD("sampler.first.temperature2", F_FLOAT, first.t2, 0, 0, true),
    FLD("sampler.video.temperature", F_FLOAT, video.temperature, 0, 0, true),
    FLD("sampler.video.top_k", F_INT, video.top_k, 1, INT32_MAX, false),
    FLD("sampler.video.temperature2", F_FLOAT, video.t2, 0, 0, true),
    FLD("sampler.faithful_off_by_one", F_BOOL, faithful_off_by_one, 0, 0, false),
};
#define N_FIELDS (sizeof k_fields / sizeof k_fields[0])

/* The field f of c, to write and to read. */
static void *at(cv_pipeline_config *c, const field *f) { return (char *)c + f->off; }
static const void *cat(const cv_pipeline_config *c, const field *f) { return (const char *)c + f->off; }

static const field *find_field(const char *key)
{
    for (size_t i = 0; i < N_FIELDS; i++)
        if (!strcmp(k_fields[i].key, key))
            return &k_fields[i];
    return NULL;
}

/* ------------------------------------------------------------ defaults, check */

void cv_pipeline_config_default(cv_pipeline_config *c, int stage)
{
    memset(c, 0, sizeof *c);
    strcpy(c->first_frame_suffix, " \xe9\xab\x98\xe6\xb8\x85\xe6\x91\x84\xe5\xbd\xb1"); /* " 高清摄影" */
    strcpy(c->duration_format, "{}\xe7\xa7\x92");                                    /* "{}秒" */
    strcpy(c->guided_suffix, " \xe8\xa7\x86\xe9\xa2\x91");                           /* " 视频" */
    strcpy(c->guider_text, "\xe8\xa7\x86\xe9\xa2\x91");                              /* "视频" */
    c->keyframes = 5;
    c->keyframe_seconds = 4.0f;
    c->rounds = 3; /* read by stage 2 only; kept in stage 1 so both files list every key */
    c->log_text_weight = 1.4f;
    c->guidance_alpha = 3.0f;
    c->guided = stage == 1; /* the release guides stage 1 only */
    c->first = (cv_sampler_settings){.temperature = 1.0f, .top_k = 16, .t2 = 0.89f};
    c->video = (cv_sampler_settings){.temperature = 1.05f, .top_k = 12, .t2 = 0.89f};
    c->faithful_off_by_one = true;
}

/* An F_INT field's range for messages: "2 .. 65535", or ">= 1" when only
 * the int bounds it. */
static const char *range_text(const field *f, char buf[32])
{
    if (f->hi == INT32_MAX)
        snprintf(buf, 32, ">= %d", f->lo);
    else
        snprintf(buf, 32, "%d .. %d", f->lo, f->hi);
    return buf;
}

/* Occurrences of "{}" in s. */
static int count_braces(const char *s)
{
    int k = 0;
    for (const char *p = strstr(s, "{}"); p; p = strstr(p + 2, "{}"))
        k++;
    return k;
}

/* The range of one field of c; `what` and `pre` (a key prefix, "" or
 * CV_PIPE_PREFIX) name the place in the message. */
static cv_status check_field(const cv_pipeline_config *c, const field *f, const char *what, const char *pre,
                             cv_error *err)
{
    if (f->type == F_STR) {
        const char *s = cat(c, f);
        if (!memchr(s, '\0', CV_PIPE_MAX_TEXT))
            return cv_error_set(err, CV_ERR_FORMAT, "%s: key '%s%s' is too long (expected at most %d bytes)", what, pre,
                                f->key, CV_PIPE_MAX_TEXT - 1);
        if (f->off == offsetof(cv_pipeline_config, duration_format) && count_braces(s) != 1)
            return cv_error_set(err, CV_ERR_FORMAT, "%s: key '%s%s' is \"%s\" "
                                "(expected exactly one \"{}\", e.g. \"{}\xe7\xa7\x92\")",
                                what, pre, f->key, s);
    } else if (f->type == F_INT) {
        const int v = *(const int *)cat(c, f);
        char r[32];
        if (v < f->lo || v > f->hi)
            return cv_error_set(err, CV_ERR_FORMAT, "%s: key '%s%s' is %d (expected %s)", what, pre, f->key, v,
                                range_text(f, r));
    } else if (f->type == F_FLOAT) {
        const float v = *(const float *)cat(c, f);
        if (!isfinite(v) || (f->positive && !(v > 0)))
            return cv_error_set(err, CV_ERR_FORMAT, "%s: key '%s%s' is %g (expected %s)", what, pre, f->key, (double)v,
                                f->positive ? "a finite number > 0" : "a finite number");
    }
    return CV_OK;
}

cv_status cv_pipeline_config_check(const cv_pipeline_config *c, const char *what, cv_error *err)
{
    cv_status s = CV_OK;
    for (size_t i = 0; i < N_FIELDS && !s; i++)
        s = check_field(c, &k_fields[i], what, "", err);
    return s;
}

/* ------------------------------------------------------------ JSON */

static const char *json_type_name(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "real";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    case JSON_NULL: return "null";
    }
    return "unknown";
}

/* A JSON value into field f of c: the type must match (an integer is also
 * a number; 12.0 is not an integer), the value must fit the field. */
static cv_status json_field(cv_pipeline_config *c, const field *f, json_t *j, const char *path, cv_error *err)
{
    static const char *const want[] = {"a string", "an integer", "a number", "true or false"};
    const bool ok = f->type == F_STR     ? json_is_string(j)
                    : f->type == F_INT   ? json_is_integer(j)
                    : f->type == F_FLOAT ? json_is_number(j)
                                         : json_is_boolean(j);
    if (!ok)
        return cv_error_set(err, CV_ERR_FORMAT, "%s: key '%s' is a JSON %s (expected %s)", path, f->key,
                            json_type_name(j), want[f->type]);
    if (f->type == F_STR) {
        if (json_string_length(j) >= CV_PIPE_MAX_TEXT || strlen(json_string_value(j)) != json_string_length(j))
            return cv_error_set(err, CV_ERR_FORMAT, "%s: key '%s' is too long or holds a NUL "
                                "(expected at most %d bytes)",
                                path, f->key, CV_PIPE_MAX_TEXT - 1);
        strcpy(at(c, f), json_string_value(j));
    } else if (f->type == F_INT) {
        const json_int_t v = json_integer_value(j);
        char r[32];
        if (v < f->lo || v > f->hi)
            return cv_error_set(err, CV_ERR_FORMAT, "%s: key '%s' is %lld (expected %s)", path, f->key, (long long)v,
                                range_text(f, r));
        *(int *)at(c, f) = (int)v;
    } else if (f->type == F_FLOAT) {
        *(float *)at(c, f) = (float)json_number_value(j);
    } else {
        *(bool *)at(c, f) = json_is_true(j);
    }
    return check_field(c, f, path, "", err);
}

static cv_status unknown_key(const char *path, const char *key, cv_error *err)
{
    if (!strncmp(key, CV_PIPE_PREFIX, strlen(CV_PIPE_PREFIX)) && find_field(key + strlen(CV_PIPE_PREFIX)))
        return cv_error_set(err, CV_ERR_FORMAT, "%s: unknown key '%s' (expected it without the '%s' prefix)", path, key,
                            CV_PIPE_PREFIX);
    char list[1024] = "";
    for (size_t i = 0; i < N_FIELDS; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", k_fields[i].key);
    return cv_error_set(err, CV_ERR_FORMAT, "%s: unknown key '%s' (expected one of %s)", path, key, list);
}

cv_status cv_pipeline_config_load_json(cv_pipeline_config *c, const char *path, cv_error *err)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return cv_error_set(err, CV_ERR_IO, "%s: %s", path, strerror(errno));
    json_error_t je;
    json_t *root = json_loadf(fp, JSON_REJECT_DUPLICATES, &je);
    fclose(fp);
    if (!root)
        return cv_error_set(err, CV_ERR_FORMAT, "%s: %s (line %d)", path, je.text, je.line);
    cv_pipeline_config t = *c; /* c stays untouched on failure */
    cv_status s = json_is_object(root) ? CV_OK
                                       : cv_error_set(err, CV_ERR_FORMAT,
                                                      "%s: not a JSON object (expected {\"key\": value, ...})", path);
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        const field *f = find_field(key);
        if (!s)
            s = f ? json_field(&t, f, v, path, err) : unknown_key(path, key, err);
    }
    json_decref(root);
    if (!s)
        *c = t;
    return s;
}

/* ------------------------------------------------------------ GGUF */

cv_status cv_pipeline_config_write(const cv_pipeline_config *c, cv_gguf_writer *w, cv_error *err)
{
    cv_status s = cv_pipeline_config_check(c, "pipeline settings", err);
    for (size_t i = 0; i < N_FIELDS && !s; i++) {
        const field *f = &k_fields[i];
        char key[128];
        snprintf(key, sizeof key, "%s%s", CV_PIPE_PREFIX, f->key);
        const void *v = cat(c, f);
        s = f->type == F_STR     ? cv_gguf_writer_set_str(w, key, v, err)
            : f->type == F_INT   ? cv_gguf_writer_set_u32(w, key, (uint32_t) * (const int *)v, err)
            : f->type == F_FLOAT ? cv_gguf_writer_set_f32(w, key, *(const float *)v, err)
                                 : cv_gguf_writer_set_bool(w, key, *(const bool *)v, err);
    }
    return s;
}

/* One key of the GGUF into field f of c. */
static cv_status read_field(const cv_gguf *g, const field *f, cv_pipeline_config *c, cv_error *err)
{
    char key[128];
    snprintf(key, sizeof key, "%s%s", CV_PIPE_PREFIX, f->key);
    const char *path = cv_gguf_path(g);
    if (!cv_gguf_find_kv(g, key))
        return cv_error_set(err, CV_ERR_FORMAT, "%s: missing metadata key '%s' "
                                "(re-convert the model with cogvideo convert)",
                            path, key);
    cv_status s;
    if (f->type == F_STR) {
        const char *v;
        size_t len;
        if ((s = cv_gguf_get_str(g, key, &v, &len, err)))
            return s;
        if (len >= CV_PIPE_MAX_TEXT || strlen(v) != len)
            return cv_error_set(err, CV_ERR_FORMAT, "%s: metadata key '%s' is too long or holds a NUL "
                                "(expected at most %d bytes)",
                                path, key, CV_PIPE_MAX_TEXT - 1);
        memcpy(at(c, f), v, len + 1);
    } else if (f->type == F_INT) {
        uint32_t v;
        if ((s = cv_gguf_get_u32(g, key, &v, err)))
            return s;
        char r[32];
        if (v > (uint32_t)f->hi) /* before it goes into the int */
            return cv_error_set(err, CV_ERR_FORMAT, "%s: key '%s' is %lu (expected %s)", path, key, (unsigned long)v,
                                range_text(f, r));
        *(int *)at(c, f) = (int)v;
    } else if (f->type == F_FLOAT) {
        if ((s = cv_gguf_get_f32(g, key, at(c, f), err)))
            return s;
    } else if ((s = cv_gguf_get_bool(g, key, at(c, f), err))) {
        return s;
    }
    return check_field(c, f, path, CV_PIPE_PREFIX, err);
}

cv_status cv_pipeline_config_read(const cv_gguf *g, cv_pipeline_config *c, cv_error *err)
{
    cv_pipeline_config t;
    memset(&t, 0, sizeof t);
    cv_status s = CV_OK;
    for (size_t i = 0; i < N_FIELDS && !s; i++)
        s = read_field(g, &k_fields[i], &t, err);
    if (!s)
        *c = t;
    return s;
}

size_t cv_pipeline_duration_text(const cv_pipeline_config *c, double seconds, char *buf, size_t n)
{
    const char *fmt = c->duration_format;
    const char *at = strstr(fmt, "{}");
    char num[40];
    const size_t k = cv_python_float_str(seconds, num, sizeof num);
    if (!at || k == 0 || !memchr(fmt, '\0', CV_PIPE_MAX_TEXT))
        return 0;
    const int w = snprintf(buf, n, "%.*s%s%s", (int)(at - fmt), fmt, num, at + 2);
    return w < 0 || (size_t)w >= n ? 0 : (size_t)w;
}

/* ------------------------------------------------------------ cluster labels */

/* The first label outside [0, n_clusters) as an error naming `what`. */
static cv_status check_labels(const int32_t *labels, int n, int n_clusters, const char *what, cv_error *err)
{
    for (int t = 0; t < n; t++)
        if (labels[t] < 0 || labels[t] >= n_clusters)
            return cv_error_set(err, CV_ERR_FORMAT, "%s: label %ld of token %d out of range (expected 0 .. %d)", what,
                                (long)labels[t], t, n_clusters - 1);
    return CV_OK;
}

cv_status cv_cluster_labels_write(cv_gguf_writer *w, const int32_t *labels, int n, int n_clusters, cv_error *err)
{
    if (n < 1 || n_clusters < 1)
        return cv_error_set(err, CV_ERR_ARG, "cluster labels: %d labels, %d clusters (expected at least 1 of each)", n,
                            n_clusters);
    cv_status s = check_labels(labels, n, n_clusters, "cluster labels", err);
    if (s)
        return s == CV_ERR_FORMAT ? CV_ERR_ARG : s;
    if ((s = cv_gguf_writer_set_array(w, CV_KEY_CLUSTER_LABELS, CV_GGUF_INT32, labels, (size_t)n, err)))
        return s;
    return cv_gguf_writer_set_u32(w, CV_KEY_N_CLUSTERS, (uint32_t)n_clusters, err);
}

bool cv_cluster_labels_present(const cv_gguf *g)
{
    return cv_gguf_find_kv(g, CV_KEY_CLUSTER_LABELS) != NULL;
}

cv_status cv_cluster_labels_read(const cv_gguf *g, int expect_n, int32_t **labels, int *n_clusters, cv_error *err)
{
    const char *path = cv_gguf_path(g);
    const cv_gguf_kv *kv;
    uint32_t nc;
    *labels = NULL;
    if (!cv_cluster_labels_present(g))
        return cv_error_set(err, CV_ERR_FORMAT, "%s: missing metadata key '%s' "
                            "(re-convert the model with --clusters LABELS.npy)",
                            path, CV_KEY_CLUSTER_LABELS);
    cv_status s;
    if ((s = cv_gguf_get_array(g, CV_KEY_CLUSTER_LABELS, CV_GGUF_INT32, &kv, err)) ||
        (s = cv_gguf_get_u32(g, CV_KEY_N_CLUSTERS, &nc, err)))
        return s;
    if (kv->count != (uint64_t)expect_n || expect_n < 1)
        return cv_error_set(err, CV_ERR_FORMAT, "%s: metadata key '%s' has %llu labels "
                            "(expected image_tokens = %d)", path,
                            CV_KEY_CLUSTER_LABELS, (unsigned long long)kv->count, expect_n);
    if (nc < 1 || nc > (uint32_t)expect_n)
        return cv_error_set(err, CV_ERR_FORMAT, "%s: metadata key '%s' is %lu (expected 1 .. %d)",
                            path, CV_KEY_N_CLUSTERS, (unsigned long)nc, expect_n);
    int32_t *l = malloc((size_t)expect_n * sizeof *l);
    if (!l)
        return cv_error_set(err, CV_ERR_NOMEM, "%s: out of memory for %d cluster labels", path, expect_n);
    memcpy(l, kv->data, (size_t)expect_n * sizeof *l); /* the mapping may be unaligned */
    char what[600];
    snprintf(what, sizeof what, "%s: metadata key '%s'", path, CV_KEY_CLUSTER_LABELS);
    if ((s = check_labels(l, expect_n, (int)nc, what, err))) {
        free(l);
        return s;
    }
    *labels = l;
    *n_clusters = (int)nc;
    return CV_OK;
}
