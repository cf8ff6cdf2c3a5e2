/* ckpt_pickle.c — a pickle machine that builds values and calls nothing.
 *
 * Modeled on pickletools' description of each opcode; every case below names
 * its opcode as pickletools does.  The machine keeps Python's structures (a
 * value stack, a stack of MARK positions, a memo) with hard bounds, and
 * records every value it allocates so that freeing is one loop, whatever
 * sharing BINGET created (values may even form cycles: nothing here walks
 * them recursively). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "ckpt_pickle.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Limits far above what torch.save produces (a 48-layer state dict uses
 * ~10^4 memo slots and a stack depth of ~10) but small enough that a
 * hostile pickle cannot make us allocate much more than its own size. */
#define MAX_STACK (1u << 20)
#define MAX_MARKS 4096u
#define MAX_MEMO (1u << 20)
#define MAX_VALUES (1u << 22)   /* ~100 values per tensor: 40000 tensors */

struct cv_pickle {
    const uint8_t *buf;
    size_t len, pos;
    size_t op_at;          /* offset of the opcode being run, for messages */
    const char *what;
    cv_error *err;
    cv_pv **all;           /* every value allocated, to free them */
    size_t nall, capall;
    cv_pv **stack;
    size_t sp, capstack;
    size_t *marks;
    size_t nmarks;
    cv_pv **memo;
    size_t capmemo, memo_used;
    cv_pv *root;
};

/* ------------------------------------------------------------- small tools */

static const struct { const char *storage, *name; size_t size; } dtypes[] = {
    [CV_PT_F32] = { "FloatStorage", "f32", 4 },   [CV_PT_F16] = { "HalfStorage", "f16", 2 },
    [CV_PT_BF16] = { "BFloat16Storage", "bf16", 2 }, [CV_PT_F64] = { "DoubleStorage", "f64", 8 },
    [CV_PT_I64] = { "LongStorage", "i64", 8 },    [CV_PT_I32] = { "IntStorage", "i32", 4 },
    [CV_PT_I16] = { "ShortStorage", "i16", 2 },   [CV_PT_I8] = { "CharStorage", "i8", 1 },
    [CV_PT_U8] = { "ByteStorage", "u8", 1 },      [CV_PT_BOOL] = { "BoolStorage", "bool", 1 },
};

size_t cv_pt_dtype_size(cv_pt_dtype t) { return (unsigned)t <= CV_PT_BOOL ? dtypes[t].size : 0; }

const char *cv_pt_dtype_name(cv_pt_dtype t) { return (unsigned)t <= CV_PT_BOOL ? dtypes[t].name : "?"; }

const char *cv_pv_kind_name(cv_pv_kind k)
{
    static const char *const names[] = { "None", "bool", "int", "float", "str", "bytes", "tuple", "list",
                                         "dict", "global", "storage", "tensor", "unknown object" };
    return (unsigned)k <= CV_PV_UNKNOWN ? names[k] : "?";
}

static int pstr_eq(cv_pstr s, const char *c)
{
    size_t n = strlen(c);
    return s.n == n && memcmp(s.p, c, n) == 0;
}

static cv_status fail(cv_pickle *pk, cv_status s, const char *msg)
{
    return cv_error_set(pk->err, s, "%s: %s (opcode 0x%02x at offset %zu)", pk->what, msg,
                        pk->buf[pk->op_at], pk->op_at);
}

static cv_status nomem(cv_pickle *pk)
{
    return fail(pk, CV_ERR_NOMEM, pk->nall >= MAX_VALUES ? "too many values" : "out of memory");
}

/* Grows *arr (elements of `size` bytes) to hold at least `need`. */
static int grow(void **arr, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 1;
    size_t c = *cap ? *cap : 8;
    while (c < need)
        c *= 2;
    void *p = realloc(*arr, c * size);
    if (!p)
        return 0;
    *arr = p;
    *cap = c;
    return 1;
}

static cv_pv *new_pv(cv_pickle *pk, cv_pv_kind kind)
{
    if (pk->nall >= MAX_VALUES || !grow((void **)&pk->all, &pk->capall, pk->nall + 1, sizeof *pk->all))
        return NULL;
    cv_pv *v = calloc(1, sizeof *v);
    if (v) {
        v->kind = kind;
        pk->all[pk->nall++] = v;
    }
    return v;
}

static cv_status push(cv_pickle *pk, cv_pv *v)
{
    if (!v)
        return nomem(pk);
    if (pk->sp >= MAX_STACK)
        return fail(pk, CV_ERR_FORMAT, "stack too deep");
    if (!grow((void **)&pk->stack, &pk->capstack, pk->sp + 1, sizeof *pk->stack))
        return nomem(pk);
    pk->stack[pk->sp++] = v;
    return CV_OK;
}

/* The stack items above the innermost MARK must number at least `n`. */
static size_t floor_of_stack(const cv_pickle *pk)
{
    return pk->nmarks ? pk->marks[pk->nmarks - 1] : 0;
}

static cv_status pop(cv_pickle *pk, cv_pv **v)
{
    if (pk->sp <= floor_of_stack(pk))
        return fail(pk, CV_ERR_FORMAT, "stack underflow");
    *v = pk->stack[--pk->sp];
    return CV_OK;
}

static cv_status top(cv_pickle *pk, cv_pv **v)
{
    if (pk->sp <= floor_of_stack(pk))
        return fail(pk, CV_ERR_FORMAT, "stack underflow");
    *v = pk->stack[pk->sp - 1];
    return CV_OK;
}

/* Reads n bytes of the current opcode's argument. */
static cv_status take(cv_pickle *pk, size_t n, const uint8_t **p)
{
    if (pk->len - pk->pos < n)
        return cv_error_set(pk->err, CV_ERR_FORMAT,
                            "%s: truncated pickle (opcode 0x%02x at offset %zu needs %zu bytes, %zu left)",
                            pk->what, pk->buf[pk->op_at], pk->op_at, n, pk->len - pk->pos);
    *p = pk->buf + pk->pos;
    pk->pos += n;
    return CV_OK;
}

/* A little-endian unsigned argument of n <= 8 bytes. */
static cv_status take_uint(cv_pickle *pk, size_t n, uint64_t *x)
{
    const uint8_t *p = NULL;
    cv_status s = take(pk, n, &p);
    *x = 0;
    for (size_t i = 0; !s && i < n; i++)
        *x |= (uint64_t)p[i] << (8 * i);
    return s;
}

/* Appends v to a tuple/list value (or a key/value to a dict when val). */
static cv_status seq_add(cv_pickle *pk, cv_pv *c, cv_pv *v, cv_pv *val)
{
    size_t cap = c->u.seq.cap;
    if (!grow((void **)&c->u.seq.items, &cap, c->u.seq.n + 1, sizeof(cv_pv *)))
        return nomem(pk);
    if (c->kind == CV_PV_DICT) {
        size_t cap2 = c->u.seq.cap;
        if (!grow((void **)&c->u.seq.vals, &cap2, c->u.seq.n + 1, sizeof(cv_pv *)))
            return nomem(pk);
        c->u.seq.vals[c->u.seq.n] = val;
    }
    c->u.seq.cap = cap;
    c->u.seq.items[c->u.seq.n++] = v;
    return CV_OK;
}

/* Pops everything above the innermost MARK into a new tuple/list, or into
 * key/value pairs of a new dict, and drops the mark. */
static cv_status pop_mark(cv_pickle *pk, cv_pv_kind kind, cv_pv **out)
{
    if (!pk->nmarks)
        return fail(pk, CV_ERR_FORMAT, "no MARK to pop to");
    size_t m = pk->marks[--pk->nmarks], n = pk->sp - m;
    if (kind == CV_PV_DICT && n % 2)
        return fail(pk, CV_ERR_FORMAT, "odd number of items for a dict");
    cv_pv *c = new_pv(pk, kind);
    if (!c)
        return nomem(pk);
    for (size_t i = m; i < pk->sp; i += kind == CV_PV_DICT ? 2 : 1) {
        cv_status s = seq_add(pk, c, pk->stack[i], kind == CV_PV_DICT ? pk->stack[i + 1] : NULL);
        if (s)
            return s;
    }
    pk->sp = m;
    *out = c;
    return CV_OK;
}

static cv_status op_tuple_n(cv_pickle *pk, size_t n)
{
    cv_pv *t = new_pv(pk, CV_PV_TUPLE);
    if (!t)
        return nomem(pk);
    if (pk->sp - floor_of_stack(pk) < n)
        return fail(pk, CV_ERR_FORMAT, "stack underflow");
    for (size_t i = pk->sp - n; i < pk->sp; i++) {
        cv_status s = seq_add(pk, t, pk->stack[i], NULL);
        if (s)
            return s;
    }
    pk->sp -= n;
    return push(pk, t);
}

/* TUPLE, LIST, DICT: a new container from the items above the MARK. */
static cv_status op_from_mark(cv_pickle *pk, cv_pv_kind kind)
{
    cv_pv *c = NULL;
    cv_status s = pop_mark(pk, kind, &c);
    return s ? s : push(pk, c);
}

/* APPEND(S), SETITEM(S): add to the container below.  Python would call the
 * object's append/__setitem__; on an opaque object we just drop the items. */
static cv_status add_items(cv_pickle *pk, cv_pv *c, cv_pv *items)
{
    int dict = c->kind == CV_PV_DICT;
    if (c->kind == CV_PV_UNKNOWN)
        return CV_OK;
    if (!dict && c->kind != CV_PV_LIST)
        return fail(pk, CV_ERR_FORMAT, "items added to something that is neither a list nor a dict");
    if (dict != (items->kind == CV_PV_DICT))
        return fail(pk, CV_ERR_FORMAT, dict ? "APPEND to a dict" : "SETITEM on a list");
    for (size_t i = 0; i < items->u.seq.n; i++) {
        cv_status s = seq_add(pk, c, items->u.seq.items[i], dict ? items->u.seq.vals[i] : NULL);
        if (s)
            return s;
    }
    return CV_OK;
}

/* APPEND and SETITEM: 1 or 2 values on top of the container. */
static cv_status op_add_one(cv_pickle *pk, int dict)
{
    if (pk->sp - floor_of_stack(pk) < (size_t)(dict ? 3 : 2))
        return fail(pk, CV_ERR_FORMAT, "stack underflow");
    cv_pv tmp = { .kind = dict ? CV_PV_DICT : CV_PV_LIST };
    cv_pv **base = &pk->stack[pk->sp - (dict ? 2 : 1)];
    cv_pv *vals[1] = { dict ? base[1] : NULL };
    tmp.u.seq.items = base;
    tmp.u.seq.vals = vals;
    tmp.u.seq.n = 1;
    cv_pv *c = base[-1];
    pk->sp -= dict ? 2 : 1;
    return add_items(pk, c, &tmp);
}

/* APPENDS and SETITEMS: the items above the MARK go into the value below it. */
static cv_status op_add_many(cv_pickle *pk, int dict)
{
    cv_pv *items = NULL, *c = NULL;
    cv_status s = pop_mark(pk, dict ? CV_PV_DICT : CV_PV_LIST, &items);
    if (!s)
        s = top(pk, &c);
    return s ? s : add_items(pk, c, items);
}

static cv_status op_mark(cv_pickle *pk)
{
    if (pk->nmarks >= MAX_MARKS)
        return fail(pk, CV_ERR_FORMAT, "MARKs nested too deeply");
    if (!pk->marks && !(pk->marks = malloc(MAX_MARKS * sizeof *pk->marks)))
        return nomem(pk);
    pk->marks[pk->nmarks++] = pk->sp;
    return CV_OK;
}

/* ------------------------------------------------------------------ memo */

static cv_status memo_put(cv_pickle *pk, uint64_t idx)
{
    cv_pv *v = NULL;
    cv_status s = top(pk, &v);
    if (s)
        return s;
    if (idx >= MAX_MEMO)
        return fail(pk, CV_ERR_FORMAT, "memo index too large");
    size_t old = pk->capmemo;
    if (!grow((void **)&pk->memo, &pk->capmemo, (size_t)idx + 1, sizeof *pk->memo))
        return nomem(pk);
    if (pk->capmemo > old)
        memset(pk->memo + old, 0, (pk->capmemo - old) * sizeof *pk->memo);
    pk->memo_used += pk->memo[idx] == NULL;
    pk->memo[idx] = v;
    return CV_OK;
}

static cv_status memo_get(cv_pickle *pk, uint64_t idx)
{
    if (idx >= pk->capmemo || !pk->memo[idx])
        return fail(pk, CV_ERR_FORMAT, "memo index not defined");
    return push(pk, pk->memo[idx]);
}

/* BINPUT/LONG_BINPUT/BINGET/LONG_BINGET: an index of n bytes. */
static cv_status op_memo(cv_pickle *pk, size_t n, int put)
{
    uint64_t idx = 0;
    cv_status s = take_uint(pk, n, &idx);
    return s ? s : put ? memo_put(pk, idx) : memo_get(pk, idx);
}

/* --------------------------------------------------------------- scalars */

static cv_status push_int(cv_pickle *pk, int64_t x)
{
    cv_pv *v = new_pv(pk, CV_PV_INT);
    if (v)
        v->u.i = x;
    return push(pk, v);
}

/* BININT1, BININT2 (unsigned), BININT (signed 32-bit). */
static cv_status op_binint(cv_pickle *pk, size_t n)
{
    uint64_t x = 0;
    cv_status s = take_uint(pk, n, &x);
    if (s)
        return s;
    return push_int(pk, n == 4 ? (int64_t)(int32_t)(uint32_t)x : (int64_t)x);
}

/* LONG1: a little-endian two's complement integer of n bytes. */
static cv_status op_long1(cv_pickle *pk)
{
    uint64_t n = 0, x = 0;
    cv_status s = take_uint(pk, 1, &n);
    if (s)
        return s;
    if (n > 8)
        return fail(pk, CV_ERR_UNSUPPORTED, "integer wider than 64 bits");
    if ((s = take_uint(pk, (size_t)n, &x)))
        return s;
    if (n > 0 && n < 8 && (x >> (8 * n - 1)) & 1)
        x |= ~(uint64_t)0 << (8 * n);            /* sign-extend */
    int64_t v;
    memcpy(&v, &x, sizeof v);                     /* two's complement, no UB */
    return push_int(pk, v);
}

/* BINFLOAT: a big-endian IEEE double. */
static cv_status op_binfloat(cv_pickle *pk)
{
    const uint8_t *p = NULL;
    cv_status s = take(pk, 8, &p);
    if (s)
        return s;
    uint64_t bits = 0;
    for (int i = 0; i < 8; i++)
        bits = bits << 8 | p[i];
    cv_pv *v = new_pv(pk, CV_PV_FLOAT);
    if (v)
        memcpy(&v->u.f, &bits, sizeof bits);
    return push(pk, v);
}

static cv_status op_const(cv_pickle *pk, cv_pv_kind kind, int b)
{
    cv_pv *v = new_pv(pk, kind);
    if (v)
        v->u.b = b;
    return push(pk, v);
}

/* String opcodes: a length of `lenbytes` bytes, then the bytes. */
static cv_status op_string(cv_pickle *pk, size_t lenbytes, cv_pv_kind kind, int is_signed)
{
    uint64_t n = 0;
    const uint8_t *p = NULL;
    cv_status s = take_uint(pk, lenbytes, &n);
    if (s)
        return s;
    if (is_signed && n >> 31)
        return fail(pk, CV_ERR_FORMAT, "negative string length");
    if (n > pk->len - pk->pos)
        return cv_error_set(pk->err, CV_ERR_FORMAT,
                            "%s: truncated pickle (string at offset %zu needs %" PRIu64 " bytes, %zu left)",
                            pk->what, pk->op_at, n, pk->len - pk->pos);
    if ((s = take(pk, (size_t)n, &p)))
        return s;
    cv_pv *v = new_pv(pk, kind);
    if (v)
        v->u.s = (cv_pstr){ (const char *)p, (size_t)n };
    return push(pk, v);
}

/* ------------------------------------------------------ globals and calls */

static int is_global(const cv_pv *v, const char *mod, const char *name)
{
    return v->kind == CV_PV_GLOBAL && pstr_eq(v->u.global.mod, mod) && pstr_eq(v->u.global.name, name);
}

static cv_status push_global(cv_pickle *pk, cv_pstr mod, cv_pstr name)
{
    cv_pv *v = new_pv(pk, CV_PV_GLOBAL);
    if (v) {
        v->u.global.mod = mod;
        v->u.global.name = name;
    }
    return push(pk, v);
}

/* GLOBAL: "module\nname\n".  Nothing is imported: the pair is just a name. */
static cv_status op_global(cv_pickle *pk)
{
    cv_pstr part[2];
    for (int i = 0; i < 2; i++) {
        const uint8_t *p = pk->buf + pk->pos;
        const uint8_t *nl = memchr(p, '\n', pk->len - pk->pos);
        if (!nl)
            return fail(pk, CV_ERR_FORMAT, "truncated pickle (GLOBAL without a newline)");
        part[i] = (cv_pstr){ (const char *)p, (size_t)(nl - p) };
        pk->pos += part[i].n + 1;
    }
    return push_global(pk, part[0], part[1]);
}

/* STACK_GLOBAL: module and name strings from the stack. */
static cv_status op_stack_global(cv_pickle *pk)
{
    cv_pv *mod = NULL, *name = NULL;
    cv_status s = pop(pk, &name);
    if (!s)
        s = pop(pk, &mod);
    if (!s && (mod->kind != CV_PV_STR || name->kind != CV_PV_STR))
        s = fail(pk, CV_ERR_FORMAT, "STACK_GLOBAL needs two strings");
    return s ? s : push_global(pk, mod->u.s, name->u.s);
}

/* An opaque value standing for the result of calling `callable`. */
static cv_pv *unknown(cv_pickle *pk, const cv_pv *callable)
{
    cv_pv *v = new_pv(pk, CV_PV_UNKNOWN);
    if (v && callable->kind == CV_PV_GLOBAL)
        v->u.global = callable->u.global;
    return v;
}

static int is_int_tuple(const cv_pv *t, int64_t min)
{
    if (t->kind != CV_PV_TUPLE || t->u.seq.n > CV_PT_MAX_DIMS)
        return 0;
    for (size_t i = 0; i < t->u.seq.n; i++)
        if (t->u.seq.items[i]->kind != CV_PV_INT || t->u.seq.items[i]->u.i < min)
            return 0;
    return 1;
}

/* _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad,
 * backward_hooks[, metadata]) -> a tensor description. */
static cv_status rebuild_tensor(cv_pickle *pk, const cv_pv *args, cv_pv **out)
{
    cv_pv *const *a = args->u.seq.items;
    if (args->u.seq.n < 6 || args->u.seq.n > 7 || a[0]->kind != CV_PV_STORAGE || a[1]->kind != CV_PV_INT ||
        a[1]->u.i < 0 || !is_int_tuple(a[2], 0) || !is_int_tuple(a[3], INT64_MIN) ||
        a[2]->u.seq.n != a[3]->u.seq.n || a[4]->kind != CV_PV_BOOL)
        return fail(pk, CV_ERR_FORMAT,
                    "malformed _rebuild_tensor_v2 arguments (expected storage, offset >= 0, size and stride "
                    "tuples of equal length <= 8, requires_grad, hooks)");
    cv_pv *t = new_pv(pk, CV_PV_TENSOR);
    if (!t)
        return nomem(pk);
    t->u.tensor.storage = a[0];
    t->u.tensor.offset = a[1]->u.i;
    t->u.tensor.ndim = (int)a[2]->u.seq.n;
    for (int d = 0; d < t->u.tensor.ndim; d++) {
        t->u.tensor.shape[d] = a[2]->u.seq.items[d]->u.i;
        t->u.tensor.stride[d] = a[3]->u.seq.items[d]->u.i;
    }
    *out = t;
    return CV_OK;
}

/* Evaluates callable(*args) for the allow-list; anything else is opaque. */
static cv_status call(cv_pickle *pk, const cv_pv *fn, const cv_pv *args, cv_pv **out)
{
    int tuple = args->kind == CV_PV_TUPLE;
    size_t n = tuple ? args->u.seq.n : 0;
    if (is_global(fn, "torch._utils", "_rebuild_tensor_v2"))
        return tuple ? rebuild_tensor(pk, args, out) : fail(pk, CV_ERR_FORMAT, "REDUCE arguments are not a tuple");
    if ((is_global(fn, "torch._utils", "_rebuild_parameter") ||
         is_global(fn, "torch._utils", "_rebuild_parameter_with_state")) &&
        n >= 1 && args->u.seq.items[0]->kind == CV_PV_TENSOR)
        *out = args->u.seq.items[0];   /* a Parameter is its tensor */
    else if (is_global(fn, "collections", "OrderedDict") && tuple && n == 0)
        *out = new_pv(pk, CV_PV_DICT);
    else
        *out = unknown(pk, fn);
    return *out ? CV_OK : nomem(pk);
}

/* REDUCE: callable, args -> callable(*args).  NEWOBJ: cls, args -> cls.__new__(cls, *args). */
static cv_status op_reduce(cv_pickle *pk, int newobj)
{
    cv_pv *fn = NULL, *args = NULL, *r = NULL;
    cv_status s = pop(pk, &args);
    if (!s)
        s = pop(pk, &fn);
    if (!s && newobj)
        r = is_global(fn, "collections", "OrderedDict") ? new_pv(pk, CV_PV_DICT) : unknown(pk, fn);
    else if (!s)
        s = call(pk, fn, args, &r);
    return s ? s : push(pk, r);
}

/* BUILD: obj.__setstate__(state).  For an OrderedDict the state is its
 * __dict__ (a state dict's _metadata); for anything else we do not model
 * attributes.  Either way the state is dropped. */
static cv_status op_build(cv_pickle *pk)
{
    cv_pv *state = NULL, *obj = NULL;
    cv_status s = pop(pk, &state);
    return s ? s : top(pk, &obj);
}

/* BINPERSID: ('storage', torch.<Type>Storage, key, location, numel). */
static cv_status op_persid(cv_pickle *pk)
{
    cv_pv *pid = NULL;
    cv_status s = pop(pk, &pid);
    if (s)
        return s;
    cv_pv *const *a = pid->u.seq.items;
    if (pid->kind != CV_PV_TUPLE || pid->u.seq.n != 5 || a[0]->kind != CV_PV_STR || !pstr_eq(a[0]->u.s, "storage") ||
        a[1]->kind != CV_PV_GLOBAL || !pstr_eq(a[1]->u.global.mod, "torch") || a[2]->kind != CV_PV_STR ||
        a[4]->kind != CV_PV_INT || a[4]->u.i < 0)
        return fail(pk, CV_ERR_FORMAT,
                    "unsupported persistent id (expected ('storage', torch.<Type>Storage, key, location, numel))");
    int dt = -1;
    for (int t = 0; t <= CV_PT_BOOL; t++)
        if (pstr_eq(a[1]->u.global.name, dtypes[t].storage))
            dt = t;
    if (pstr_eq(a[1]->u.global.name, "UntypedStorage"))
        dt = CV_PT_U8;
    if (dt < 0)
        return fail(pk, CV_ERR_UNSUPPORTED, "unsupported storage type (expected torch.FloatStorage, "
                                            "HalfStorage, BFloat16Storage, DoubleStorage, LongStorage, ...)");
    cv_pv *v = new_pv(pk, CV_PV_STORAGE);
    if (v) {
        v->u.storage.dtype = (cv_pt_dtype)dt;
        v->u.storage.key = a[2]->u.s;
        v->u.storage.numel = a[4]->u.i;
    }
    return push(pk, v);
}

/* ------------------------------------------------------------ the machine */

/* Runs one opcode; *stop is set by STOP. */
static cv_status step(cv_pickle *pk, int *stop)
{
    const uint8_t *p = NULL;
    uint64_t x = 0;
    cv_status s;
    pk->op_at = pk->pos;
    if ((s = take(pk, 1, &p)))
        return s;
    switch (*p) {
    case 0x80: /* PROTO */
        if ((s = take_uint(pk, 1, &x)))
            return s;
        return x <= 5 ? CV_OK : fail(pk, CV_ERR_UNSUPPORTED, "pickle protocol above 5");
    case 0x95: /* FRAME: only a read-ahead hint */
        if ((s = take_uint(pk, 8, &x)))
            return s;
        return x <= pk->len - pk->pos ? CV_OK : fail(pk, CV_ERR_FORMAT, "truncated pickle (FRAME longer than the rest)");
    case '}': return push(pk, new_pv(pk, CV_PV_DICT));       /* EMPTY_DICT */
    case ']': return push(pk, new_pv(pk, CV_PV_LIST));       /* EMPTY_LIST */
    case ')': return push(pk, new_pv(pk, CV_PV_TUPLE));      /* EMPTY_TUPLE */
    case '(': return op_mark(pk);                            /* MARK */
    case 'X': return op_string(pk, 4, CV_PV_STR, 0);         /* BINUNICODE */
    case 0x8c: return op_string(pk, 1, CV_PV_STR, 0);        /* SHORT_BINUNICODE */
    case 0x8d: return op_string(pk, 8, CV_PV_STR, 0);        /* BINUNICODE8 */
    case 'C': return op_string(pk, 1, CV_PV_BYTES, 0);       /* SHORT_BINBYTES */
    case 'B': return op_string(pk, 4, CV_PV_BYTES, 0);       /* BINBYTES */
    case 0x8e: return op_string(pk, 8, CV_PV_BYTES, 0);      /* BINBYTES8 */
    case 'T': return op_string(pk, 4, CV_PV_STR, 1);         /* BINSTRING */
    case 'U': return op_string(pk, 1, CV_PV_STR, 0);         /* SHORT_BINSTRING */
    case 'J': return op_binint(pk, 4);                       /* BININT */
    case 'K': return op_binint(pk, 1);                       /* BININT1 */
    case 'M': return op_binint(pk, 2);                       /* BININT2 */
    case 0x8a: return op_long1(pk);                          /* LONG1 */
    case 'G': return op_binfloat(pk);                        /* BINFLOAT */
    case 0x88: return op_const(pk, CV_PV_BOOL, 1);           /* NEWTRUE */
    case 0x89: return op_const(pk, CV_PV_BOOL, 0);           /* NEWFALSE */
    case 'N': return op_const(pk, CV_PV_NONE, 0);            /* NONE */
    case 't': return op_from_mark(pk, CV_PV_TUPLE);          /* TUPLE */
    case 0x85: return op_tuple_n(pk, 1);                     /* TUPLE1 */
    case 0x86: return op_tuple_n(pk, 2);                     /* TUPLE2 */
    case 0x87: return op_tuple_n(pk, 3);                     /* TUPLE3 */
    case 'l': return op_from_mark(pk, CV_PV_LIST);           /* LIST */
    case 'a': return op_add_one(pk, 0);                      /* APPEND */
    case 'e': return op_add_many(pk, 0);                     /* APPENDS */
    case 'd': return op_from_mark(pk, CV_PV_DICT);           /* DICT */
    case 's': return op_add_one(pk, 1);                      /* SETITEM */
    case 'u': return op_add_many(pk, 1);                     /* SETITEMS */
    case 'q': return op_memo(pk, 1, 1);                      /* BINPUT */
    case 'r': return op_memo(pk, 4, 1);                      /* LONG_BINPUT */
    case 'h': return op_memo(pk, 1, 0);                      /* BINGET */
    case 'j': return op_memo(pk, 4, 0);                      /* LONG_BINGET */
    case 0x94: return memo_put(pk, pk->memo_used);           /* MEMOIZE */
    case 'c': return op_global(pk);                          /* GLOBAL */
    case 0x93: return op_stack_global(pk);                   /* STACK_GLOBAL */
    case 'R': return op_reduce(pk, 0);                       /* REDUCE */
    case 0x81: return op_reduce(pk, 1);                      /* NEWOBJ */
    case 'b': return op_build(pk);                           /* BUILD */
    case 'Q': return op_persid(pk);                          /* BINPERSID */
    case '.':                                                /* STOP */
        *stop = 1;
        return pop(pk, &pk->root);
    default:
        return cv_error_set(pk->err, CV_ERR_UNSUPPORTED, "%s: unsupported pickle opcode 0x%02x at offset %zu",
                            pk->what, *p, pk->op_at);
    }
}

cv_status cv_pickle_load(const void *buf, size_t len, const char *what, cv_pickle **out, cv_error *err)
{
    *out = NULL;
    cv_pickle *pk = calloc(1, sizeof *pk);
    if (!pk)
        return cv_error_set(err, CV_ERR_NOMEM, "%s: out of memory", what);
    pk->buf = buf;
    pk->len = len;
    pk->what = what;
    pk->err = err;
    cv_status s = CV_OK;
    int stop = 0;
    while (!s && !stop) {
        if (pk->pos == pk->len)
            s = cv_error_set(err, CV_ERR_FORMAT, "%s: truncated pickle (no STOP opcode in %zu bytes)", what, len);
        else
            s = step(pk, &stop);
    }
    free(pk->stack);   /* only the values stay */
    free(pk->marks);
    free(pk->memo);
    pk->stack = NULL;
    pk->marks = NULL;
    pk->memo = NULL;
    pk->what = NULL;   /* the caller's string; not kept */
    pk->err = NULL;
    if (s) {
        cv_pickle_free(pk);
        return s;
    }
    *out = pk;
    return CV_OK;
}

const cv_pv *cv_pickle_root(const cv_pickle *pk) { return pk->root; }

const cv_pv *cv_pv_dict_get(const cv_pv *dict, const char *key)
{
    if (!dict || dict->kind != CV_PV_DICT)
        return NULL;
    for (size_t i = dict->u.seq.n; i-- > 0;)   /* the last assignment wins, as in Python */
        if (dict->u.seq.items[i]->kind == CV_PV_STR && pstr_eq(dict->u.seq.items[i]->u.s, key))
            return dict->u.seq.vals[i];
    return NULL;
}

void cv_pickle_free(cv_pickle *pk)
{
    if (!pk)
        return;
    for (size_t i = 0; i < pk->nall; i++) {
        cv_pv *v = pk->all[i];
        if (v->kind == CV_PV_TUPLE || v->kind == CV_PV_LIST || v->kind == CV_PV_DICT) {
            free(v->u.seq.items);
            free(v->u.seq.vals);
        }
        free(v);
    }
    free(pk->all);
    free(pk->stack);
    free(pk->marks);
    free(pk->memo);
    free(pk);
}
