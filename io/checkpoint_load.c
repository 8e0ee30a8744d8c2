/* checkpoint_load.c — loading a checkpoint in three phases, so that a bad file changes
 * nothing:
 *
 *   1. parse: every length and count is checked against the bytes that are really there
 *      before it is used, every checksum is verified (each record's, the header's, the
 *      whole file's); any problem is AG_ERR_FORMAT. Nothing is trusted, nothing is changed.
 *   2. match: the file's tensors against the model's parameters by name and shape, its
 *      optimizer section against the optimizer (algorithm, buffers). Still nothing changed.
 *   3. apply: copy the values, set the optimizer's step count and learning rate, set the
 *      generator. Nothing here can fail.
 *
 * The file is read whole (through the allocation hook) and parsed in place; records point
 * into it. The byte layout is docs/checkpoint-format.md. */
#include "io_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#define OP "checkpoint_load"

#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
#define CHECKSUMS_MATTER 0 /* let a fuzzer's mutations through to the checks behind them */
#else
#define CHECKSUMS_MATTER 1
#endif

/* A tensor record, located in the file: name, dims (ndim little-endian int64s) and data. */
typedef struct rec {
    const unsigned char *name, *dims, *data;
    uint32_t name_len, ndim;
    size_t numel;
} rec;

/* A parsed file. states holds count * nstate records: tensor j's buffers at j * nstate. */
typedef struct parsed {
    uint32_t flags, elem, count, nstate;
    rec *tensors, *states;
    const unsigned char *algo;
    uint32_t algo_len;
    int64_t step;
    double lr;
    ag_rng_state rng;
} parsed;

/* The bytes being parsed, the position, and what is being read (for messages). */
typedef struct reader {
    const unsigned char *p;
    size_t pos, end; /* end: where the trailer starts */
    const char *label;
    char who[200];
} reader;

/* ---------------------------------------------------------------------------------------
 * Messages
 * ------------------------------------------------------------------------------------- */

/* Records "checkpoint_load: 'label': <message>" and returns code. */
static ag_status bad(const reader *r, ag_status code, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ag_fail(code, OP ": '%s': %s", r->label, msg);
}

/* A name from the file or the model for a message: quoted, at most 64 bytes, bytes that are
 * not printable ASCII shown as '?'. buf holds at least 72 bytes. */
static const char *show(const void *s, size_t n, char *buf)
{
    const unsigned char *c = s;
    size_t k = n < 64 ? n : 64, o = 0;
    buf[o++] = '\'';
    for (size_t i = 0; i < k; i++)
        buf[o++] = c[i] >= 0x20 && c[i] < 0x7f ? (char)c[i] : '?';
    if (k < n)
        memcpy(buf + o, "...", 3), o += 3;
    buf[o++] = '\'';
    buf[o] = 0;
    return buf;
}

/* ---------------------------------------------------------------------------------------
 * Phase 1: parsing
 * ------------------------------------------------------------------------------------- */

/* The n-byte little-endian integer at b (any alignment, any host byte order). */
static uint64_t le_load(const unsigned char *b, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | b[i];
    return v;
}

/* Does the stored checksum match the computed one? (Always, in a fuzzing build.) */
static bool checksum_ok(uint64_t computed, const unsigned char *stored)
{
    return computed == le_load(stored, 8) || !CHECKSUMS_MATTER;
}

/* The next n bytes, or NULL (AG_ERR_FORMAT) if the data ends first. */
static const unsigned char *take(reader *r, size_t n, const char *what)
{
    if (n > r->end - r->pos) {
        bad(r, AG_ERR_FORMAT, "%s: %s at byte %zu needs %zu bytes, only %zu are left", r->who,
            what, r->pos, n, r->end - r->pos);
        return NULL;
    }
    r->pos += n;
    return r->p + r->pos - n;
}

/* A little-endian field of n bytes. */
static bool get(reader *r, int n, uint64_t *v, const char *what)
{
    const unsigned char *b = take(r, (size_t)n, what);
    if (b)
        *v = le_load(b, n);
    return b != NULL;
}

/* A record's shape, decoded from the file (ndim is already known to be <= AG_MAX_DIMS). */
static ag_shape rec_shape(const rec *x)
{
    ag_shape s = { .ndim = (int)x->ndim };
    for (uint32_t i = 0; i < x->ndim; i++)
        s.d[i] = (int64_t)le_load(x->dims + 8 * i, 8);
    return s;
}

/* Sets r->who to "tensor 3" / "tensor 'w'", or for a state buffer "optimizer state 0 of
 * tensor 'w'" / "optimizer state 'exp_avg' of tensor 'w'" (owner: the tensor's record). */
static void set_who(reader *r, const rec *x, uint32_t index, const rec *owner)
{
    char id[80], on[80];
    if (x->name)
        show(x->name, x->name_len, id);
    else
        snprintf(id, sizeof id, "%u", index);
    if (owner)
        snprintf(r->who, sizeof r->who, "optimizer state %s of tensor %s", id,
                 show(owner->name, owner->name_len, on));
    else
        snprintf(r->who, sizeof r->who, "tensor %s", id);
}

/* Checks the dims (none negative) and counts the elements, refusing a count whose data could
 * not fit in what is left of the file (so no product can overflow). */
static bool count_elements(reader *r, rec *x, uint32_t elem)
{
    ag_shape s = rec_shape(x);
    char b[AG_SHAPE_STRLEN];
    bool zero = false;
    for (int i = 0; i < s.ndim; i++) {
        if (s.d[i] < 0)
            return bad(r, AG_ERR_FORMAT, "%s: negative dimension in shape %s", r->who,
                       ag_shape_str(s, b)),
                   false;
        zero |= s.d[i] == 0;
    }
    size_t n = 1, limit = (r->end - r->pos) / elem;
    for (int i = 0; i < s.ndim && !zero; i++) {
        if ((uint64_t)s.d[i] > limit / n)
            return bad(r, AG_ERR_FORMAT, "%s: shape %s needs more bytes than the file has",
                       r->who, ag_shape_str(s, b)),
                   false;
        n *= (size_t)s.d[i];
    }
    x->numel = zero ? 0 : n;
    return true;
}

/* One record (name, shape, byte length, data, checksum) at the current position. */
static bool parse_record(reader *r, uint32_t elem, rec *x, uint32_t index, const rec *owner)
{
    size_t start = r->pos;
    uint64_t v;
    *x = (rec){ 0 };
    set_who(r, x, index, owner);
    if (!get(r, 4, &v, "the name length"))
        return false;
    if (v == 0 || v > AGI_CKPT_MAX_NAME)
        return bad(r, AG_ERR_FORMAT, "%s: name length %llu (must be 1 to %d)", r->who,
                   (unsigned long long)v, AGI_CKPT_MAX_NAME),
               false;
    x->name_len = (uint32_t)v;
    if (!(x->name = take(r, x->name_len, "the name")))
        return false;
    set_who(r, x, index, owner);
    if (!get(r, 4, &v, "the dimension count"))
        return false;
    if (v > AG_MAX_DIMS)
        return bad(r, AG_ERR_FORMAT, "%s: %llu dimensions (at most %d)", r->who,
                   (unsigned long long)v, AG_MAX_DIMS),
               false;
    x->ndim = (uint32_t)v;
    if (!(x->dims = take(r, 8 * (size_t)x->ndim, "the dimensions")) ||
        !count_elements(r, x, elem) || !get(r, 8, &v, "the byte length"))
        return false;
    if (v != (uint64_t)x->numel * elem)
        return bad(r, AG_ERR_FORMAT, "%s: byte length %llu, but the shape needs %llu", r->who,
                   (unsigned long long)v, (unsigned long long)x->numel * elem),
               false;
    const unsigned char *sum;
    if (!(x->data = take(r, (size_t)v, "the data")) || !(sum = take(r, 8, "the checksum")))
        return false;
    if (!checksum_ok(XXH3_64bits(r->p + start, r->pos - 8 - start), sum))
        return bad(r, AG_ERR_FORMAT, "%s: checksum mismatch", r->who), false;
    return true;
}

/* Allocates n records, refusing counts that the rest of the file cannot hold (each record
 * takes at least AGI_CKPT_MIN_RECORD bytes), so that a lying count allocates nothing. */
static rec *alloc_records(reader *r, uint64_t n, const char *what)
{
    if (n > (r->end - r->pos) / AGI_CKPT_MIN_RECORD)
        return bad(r, AG_ERR_FORMAT, "%s %llu exceeds what the file can hold (%zu bytes)", what,
                   (unsigned long long)n, r->end + AGI_CKPT_TRAILER),
               NULL;
    return agi_alloc(n ? n * sizeof(rec) : 1);
}

/* The file starts with the magic; then, in this order so that each message is the useful
 * one: the header's 40 bytes, the version, the header checksum, the fields, the file size. */
static bool parse_header(reader *r, size_t size, parsed *c)
{
    const unsigned char *h = r->p;
    size_t m = size < 8 ? size : 8;
    if (m && memcmp(h, AGI_CKPT_MAGIC, m) != 0)
        return bad(r, AG_ERR_FORMAT, "not an agrad checkpoint (it does not start with %s)",
                   AGI_CKPT_MAGIC),
               false;
    if (size < AGI_CKPT_HEADER)
        return bad(r, AG_ERR_FORMAT, "truncated at byte %zu (the header needs %d bytes)", size,
                   AGI_CKPT_HEADER),
               false;
    uint64_t version = le_load(h + 8, 4), total = le_load(h + 24, 8);
    if (version != AGI_CKPT_VERSION)
        return bad(r, AG_ERR_FORMAT, "format version %llu is not supported (this build reads "
                   "version %u)", (unsigned long long)version, AGI_CKPT_VERSION),
               false;
    if (!checksum_ok(XXH3_64bits(h, 32), h + 32))
        return bad(r, AG_ERR_FORMAT, "header checksum mismatch"), false;
    c->flags = (uint32_t)le_load(h + 12, 4);
    c->elem = (uint32_t)le_load(h + 16, 4);
    c->count = (uint32_t)le_load(h + 20, 4);
    if (c->flags & ~AGI_CKPT_HAS_OPTIM)
        return bad(r, AG_ERR_FORMAT, "unknown flags 0x%x", c->flags), false;
    if (c->elem != 4 && c->elem != 8)
        return bad(r, AG_ERR_FORMAT, "element size %u is not supported (4: float32, "
                   "8: float64)", c->elem),
               false;
    if (total != size)
        return bad(r, AG_ERR_FORMAT, total > size ? "truncated at byte %zu (the header says "
                   "the file has %llu bytes)" : "the file has %zu bytes, the header says %llu",
                   size, (unsigned long long)total),
               false;
    if (size < AGI_CKPT_HEADER + AGI_CKPT_RNG + AGI_CKPT_TRAILER)
        return bad(r, AG_ERR_FORMAT, "a file of %zu bytes is too small to be a checkpoint",
                   size),
               false;
    r->pos = AGI_CKPT_HEADER;
    r->end = size - AGI_CKPT_TRAILER;
    return true;
}

/* The tensor records, whose names must be in strictly increasing order (the order the saver
 * writes; it also rules out a name appearing twice). */
static bool parse_tensors(reader *r, parsed *c)
{
    if (!(c->tensors = alloc_records(r, c->count, "tensor count")))
        return false;
    for (uint32_t j = 0; j < c->count; j++) {
        rec *x = &c->tensors[j];
        if (!parse_record(r, c->elem, x, j, NULL))
            return false;
        const rec *p = j ? x - 1 : NULL;
        char a[80], b[80];
        if (p && agi_ckpt_name_cmp((const char *)p->name, p->name_len, (const char *)x->name,
                                   x->name_len) >= 0)
            return bad(r, AG_ERR_FORMAT, "tensor %s follows tensor %s (names must be in "
                       "increasing order, each once)", show(x->name, x->name_len, a),
                       show(p->name, p->name_len, b)),
                   false;
    }
    return true;
}

/* Tensor j's state buffers, each with the tensor's shape. */
static bool parse_states_of(reader *r, parsed *c, uint32_t j)
{
    const rec *t = &c->tensors[j];
    ag_shape ts = rec_shape(t);
    for (uint32_t k = 0; k < c->nstate; k++) {
        rec *x = &c->states[(size_t)j * c->nstate + k];
        if (!parse_record(r, c->elem, x, k, t))
            return false;
        ag_shape xs = rec_shape(x);
        char a[AG_SHAPE_STRLEN], b[AG_SHAPE_STRLEN];
        if (!agi_ckpt_same_shape(xs, ts))
            return bad(r, AG_ERR_FORMAT, "%s: shape %s, but the tensor's is %s", r->who,
                       ag_shape_str(xs, a), ag_shape_str(ts, b)),
                   false;
    }
    return true;
}

/* The optimizer section: name, step count (0 to 2^53), learning rate (finite, >= 0), buffers per
 * tensor, then the buffers. */
static bool parse_optim(reader *r, parsed *c)
{
    uint64_t v, step, lr_bits;
    snprintf(r->who, sizeof r->who, "optimizer");
    if (!get(r, 4, &v, "the name length"))
        return false;
    if (v == 0 || v > AGI_CKPT_MAX_ALGO)
        return bad(r, AG_ERR_FORMAT, "optimizer: name length %llu (must be 1 to %d)",
                   (unsigned long long)v, AGI_CKPT_MAX_ALGO),
               false;
    c->algo_len = (uint32_t)v;
    if (!(c->algo = take(r, c->algo_len, "the name")) || !get(r, 8, &step, "the step count") ||
        !get(r, 8, &lr_bits, "the learning rate") || !get(r, 4, &v, "the state count"))
        return false;
    c->step = (int64_t)step;
    memcpy(&c->lr, &lr_bits, 8);
    c->nstate = (uint32_t)v;
    if (c->step < 0 || c->step > AGI_CKPT_MAX_STEP)
        return bad(r, AG_ERR_FORMAT, "optimizer: step count %lld is out of range (0 to 2^53)",
                   (long long)c->step),
               false;
    if (!isfinite(c->lr) || c->lr < 0)
        return bad(r, AG_ERR_FORMAT, "optimizer: learning rate %g is not a finite number >= 0",
                   c->lr),
               false;
    if (c->nstate > AGI_CKPT_MAX_STATE)
        return bad(r, AG_ERR_FORMAT, "optimizer: %u state buffers per tensor (at most %d)",
                   c->nstate, AGI_CKPT_MAX_STATE),
               false;
    if (!(c->states = alloc_records(r, (uint64_t)c->count * c->nstate, "optimizer state count")))
        return false;
    for (uint32_t j = 0; j < c->count; j++)
        if (!parse_states_of(r, c, j))
            return false;
    return true;
}

/* The generator's four words (not all zero: xoshiro256** would then give zeros forever),
 * nothing after them but the trailer, and the trailer: the whole file's checksum. */
static bool parse_tail(reader *r, parsed *c)
{
    snprintf(r->who, sizeof r->who, "generator state");
    for (int i = 0; i < 4; i++)
        if (!get(r, 8, &c->rng.s[i], "a word"))
            return false;
    if (!(c->rng.s[0] | c->rng.s[1] | c->rng.s[2] | c->rng.s[3]))
        return bad(r, AG_ERR_FORMAT, "generator state is all zeros"), false;
    if (r->pos != r->end)
        return bad(r, AG_ERR_FORMAT, "%zu bytes of unexpected data at byte %zu",
                   r->end - r->pos, r->pos),
               false;
    if (!checksum_ok(XXH3_64bits(r->p, r->end), r->p + r->end))
        return bad(r, AG_ERR_FORMAT, "file checksum mismatch"), false;
    return true;
}

/* Phase 1: the whole file, section by section. */
static bool parse(reader *r, size_t size, parsed *c)
{
    return parse_header(r, size, c) && parse_tensors(r, c) &&
           (!(c->flags & AGI_CKPT_HAS_OPTIM) || parse_optim(r, c)) && parse_tail(r, c);
}

/* ---------------------------------------------------------------------------------------
 * Phase 2: matching the file to the model and the optimizer
 * ------------------------------------------------------------------------------------- */

/* One merge of the model's sorted names with the file's: a name on one side only is an
 * error (AG_ERR_FORMAT), and so is a shape that differs (AG_ERR_SHAPE). Afterwards model
 * name k is file tensor k. */
static bool match_tensors(const reader *r, const parsed *c, const agi_ckpt_name *names,
                          const ag_params *params)
{
    size_t n = (size_t)params->n, i = 0, j = 0;
    char a[80], b[AG_SHAPE_STRLEN], d[AG_SHAPE_STRLEN];
    while (i < n || j < c->count) {
        const rec *x = j < c->count ? &c->tensors[j] : NULL;
        int cmp = i == n ? 1 : !x ? -1 : agi_ckpt_name_cmp(names[i].s, names[i].len,
                                                        (const char *)x->name, x->name_len);
        if (cmp < 0)
            return bad(r, AG_ERR_FORMAT, "the model's tensor %s is not in the file",
                       show(names[i].s, names[i].len, a)),
                   false;
        if (cmp > 0)
            return bad(r, AG_ERR_FORMAT, "tensor %s of the file is not in the model",
                       show(x->name, x->name_len, a)),
                   false;
        ag_shape fs = rec_shape(x), ms = params->tensors[names[i].index]->shape;
        if (!agi_ckpt_same_shape(fs, ms))
            return bad(r, AG_ERR_SHAPE, "tensor %s: shape %s in file, model has %s",
                       show(x->name, x->name_len, a), ag_shape_str(fs, b), ag_shape_str(ms, d)),
                   false;
        i++, j++;
    }
    return true;
}

/* The buffers of model tensor k: the same names in the same order as in the file, each of
 * the parameter's shape (an optimizer over other parameters fails here). */
static bool match_states_of(const reader *r, const parsed *c, const agi_ckpt_name *names,
                            size_t k, ag_optimizer *opt)
{
    char a[80], b[80], t[80];
    show(names[k].s, names[k].len, t);
    for (uint32_t s = 0;; s++) {
        const char *name;
        ag_tensor *buf = ag_optim_state(opt, names[k].index, (int)s, &name);
        const rec *x = s < c->nstate ? &c->states[k * c->nstate + s] : NULL;
        if (ag_error())
            return false;
        if (!buf && !x)
            return true;
        if (!buf || !x || agi_ckpt_name_cmp(name, strlen(name), (const char *)x->name,
                                            x->name_len) != 0)
            return bad(r, AG_ERR_FORMAT, "tensor %s: optimizer state %s in the file, %s here",
                       t, x ? show(x->name, x->name_len, a) : "none",
                       buf ? show(name, strlen(name), b) : "none"),
                   false;
        if (!agi_ckpt_same_shape(rec_shape(x), buf->shape))
            return bad(r, AG_ERR_SHAPE, "tensor %s: the optimizer's state %s has shape %s "
                       "(was the optimizer made over these parameters?)", t,
                       show(name, strlen(name), b), ag_shape_str(buf->shape, a)),
                   false;
    }
}

/* The optimizer: the file must hold a section for the same algorithm, with the same buffers
 * for every parameter. */
static bool match_optim(const reader *r, const parsed *c, const agi_ckpt_name *names,
                        const ag_params *params, ag_optimizer *opt)
{
    char a[80];
    const char *algo = ag_optim_name(opt);
    if (!(c->flags & AGI_CKPT_HAS_OPTIM))
        return bad(r, AG_ERR_FORMAT, "the file holds no optimizer state"), false;
    if (agi_ckpt_name_cmp(algo, strlen(algo), (const char *)c->algo, c->algo_len) != 0)
        return bad(r, AG_ERR_FORMAT, "the optimizer is %s in the file, '%s' here",
                   show(c->algo, c->algo_len, a), algo),
               false;
    for (size_t k = 0; k < (size_t)params->n; k++)
        if (!match_states_of(r, c, names, k, opt))
            return false;
    return true;
}

/* ---------------------------------------------------------------------------------------
 * Phase 3: applying (cannot fail)
 * ------------------------------------------------------------------------------------- */

/* Values stored as binary32 (elem 4) or binary64 (elem 8) into ag_real: exact when they are
 * the same type, rounded to nearest when a float build reads a double build's file. */
static void decode(const rec *x, uint32_t elem, ag_real *out)
{
    if (elem == 4)
        for (size_t i = 0; i < x->numel; i++) {
            uint32_t u = (uint32_t)le_load(x->data + 4 * i, 4);
            float f;
            memcpy(&f, &u, 4);
            out[i] = (ag_real)f;
        }
    else
        for (size_t i = 0; i < x->numel; i++) {
            uint64_t u = le_load(x->data + 8 * i, 8);
            double d;
            memcpy(&d, &u, 8);
            out[i] = (ag_real)d;
        }
}

/* Copies everything in: parameters (their versions bumped: a graph that saved the old
 * values must not backpropagate through the new ones), the optimizer, the generator. */
static void apply(const parsed *c, const agi_ckpt_name *names, const ag_params *params,
                  ag_optimizer *opt)
{
    for (size_t k = 0; k < (size_t)params->n; k++) {
        ag_tensor *t = params->tensors[names[k].index];
        decode(&c->tensors[k], c->elem, t->data);
        ag_bump_version(t);
        for (uint32_t s = 0; opt && s < c->nstate; s++)
            decode(&c->states[k * c->nstate + s], c->elem,
                   ag_optim_state(opt, names[k].index, (int)s, NULL)->data);
    }
    if (opt) {
        ag_optim_set_lr(opt, c->lr);
        ag_optim_set_step_count(opt, c->step);
    }
    ag_set_rng_state(c->rng);
}

/* The three phases over a checked parameter list's sorted names. */
static ag_status load_names(const unsigned char *data, size_t size, const char *label,
                            const agi_ckpt_name *names, const ag_params *params,
                            ag_optimizer *opt)
{
    reader r = { .p = data, .label = label };
    parsed c = { 0 };
    if (parse(&r, size, &c) && match_tensors(&r, &c, names, params) &&
        (!opt || match_optim(&r, &c, names, params, opt)))
        apply(&c, names, params, opt);
    agi_release(c.tensors);
    agi_release(c.states);
    return ag_error();
}

/* The fuzzers' entry (io_internal.h): the public loader without the file. */
ag_status agi_checkpoint_load_mem(const void *data, size_t size, const char *label,
                                  const ag_params *params, ag_optimizer *opt)
{
    agi_ckpt_name *names;
    ag_status st = agi_ckpt_begin(OP, false, NULL, params, &names);
    if (st != AG_OK)
        return st;
    load_names(data, size, label, names, params, opt);
    agi_release(names);
    return ag_error();
}

/* ---------------------------------------------------------------------------------------
 * The file
 * ------------------------------------------------------------------------------------- */

/* Reads the regular file at path whole into *data (through the allocation hook). A folder,
 * a device or a FIFO is refused (O_NONBLOCK: opening a FIFO does not hang). */
static ag_status read_file(const char *path, unsigned char **data, size_t *size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return agi_io_fail(OP, "open", path, errno);
    struct stat st;
    unsigned char *buf = NULL;
    size_t got = 0;
    if (fstat(fd, &st) != 0)
        agi_io_fail(OP, "stat", path, errno);
    else if (!S_ISREG(st.st_mode))
        ag_fail(AG_ERR_IO, OP ": '%s' is not a regular file", path);
    else if ((buf = agi_alloc((size_t)st.st_size)))
        while (got < (size_t)st.st_size) {
            ssize_t k = read(fd, buf + got, (size_t)st.st_size - got);
            if (k > 0)
                got += (size_t)k;
            else if (k == 0)
                break; /* the file shrank: the header's size will say so */
            else if (errno != EINTR) {
                agi_io_fail(OP, "read", path, errno);
                break;
            }
        }
    close(fd);
    *data = buf;
    *size = got;
    return ag_error();
}

/* Checks the arguments (the list before the file, so that a bad list costs no read), reads
 * the file, and runs the three phases on it. */
ag_status ag_checkpoint_load(const char *path, const ag_params *params, ag_optimizer *opt)
{
    agi_ckpt_name *names;
    ag_status st = agi_ckpt_begin(OP, true, path, params, &names);
    if (st != AG_OK)
        return st;
    unsigned char *data = NULL;
    size_t size = 0;
    if (read_file(path, &data, &size) == AG_OK)
        load_names(data, size, path, names, params, opt);
    agi_release(data);
    agi_release(names);
    return ag_error();
}
