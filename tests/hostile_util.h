/* hostile_util.h — the error checks shared by the hostile tests (test_hostile_autograd.c,
 * test_hostile_ops.c, test_hostile_nn.c, test_hostile_optim.c). Include it after Criterion
 * (or, in test_hostile_optim.c's standalone mode, after its stand-ins for cr_assert_*): it
 * includes neither, so it works with both.
 *
 *   EXPECT_ERR(code, msg)     the pending error is exactly (code, msg); it is cleared
 *   EXPECT_NO_ERR()           no error is pending
 *   FAILS(expr, code, msg)    expr gives NULL with exactly (code, msg)
 *   STALE(op, i)              the message for argument i of op coming from an ended step
 *   quarantine_start() / quarantine_drain()   an allocator that keeps up to 64 freed
 *                             blocks unreleased, so that a freed tensor stays detectable
 */
#ifndef AG_HOSTILE_UTIL_H
#define AG_HOSTILE_UTIL_H

#include <stdlib.h>

#include "agrad.h"

/* The pending error must be exactly (code, msg); it is cleared afterwards. */
#define EXPECT_ERR(code, msg)                                                              \
    do {                                                                                   \
        cr_assert_eq(ag_error(), (code), "error code %d, expected %d (message: %s)",       \
                     (int)ag_error(), (int)(code), ag_error_message());                    \
        cr_assert_str_eq(ag_error_message(), (msg));                                       \
        ag_clear_error();                                                                  \
    } while (0)

/* No error may be pending. */
#define EXPECT_NO_ERR() cr_assert_eq(ag_error(), AG_OK, "unexpected error: %s", ag_error_message())

/* expr must give NULL with exactly (code, msg). */
#define FAILS(expr, code, msg)                                                             \
    do {                                                                                   \
        cr_assert_null((expr), "%s should fail", #expr);                                   \
        EXPECT_ERR(code, msg);                                                             \
    } while (0)

/* The message for argument i of op when it is a result of an ended step. */
#define STALE(op, i)                                                                       \
    op ": argument " #i " belongs to a step that has ended or to another thread's tape "   \
       "(ag_step_end frees op results; keep values with ag_clone)"

/* --- a quarantine: freed blocks stay unreleased (up to 64), so a freed tensor is detectable  */

typedef struct quarantine {
    void *blocks[64];
    int n;
} quarantine;

/* The blocks held back (one quarantine per test process). */
static inline quarantine *quarantine_state(void)
{
    static quarantine q;
    return &q;
}

/* The allocator's hooks: plain malloc, and a release that holds the block back while there
 * is room. */
static inline void *quarantine_alloc(size_t n, void *u)
{
    (void)u;
    return malloc(n);
}

static inline void quarantine_release(void *p, void *u)
{
    (void)u;
    quarantine *q = quarantine_state();
    if (q->n < 64)
        q->blocks[q->n++] = p;
    else
        free(p);
}

/* Installs the quarantine as the allocator. */
static inline void quarantine_start(void)
{
    ag_set_allocator(&(ag_allocator){ quarantine_alloc, quarantine_release, NULL });
}

/* Restores the default allocator and frees what the quarantine kept. */
static inline void quarantine_drain(void)
{
    ag_set_allocator(NULL);
    quarantine *q = quarantine_state();
    while (q->n)
        free(q->blocks[--q->n]);
}

#endif
