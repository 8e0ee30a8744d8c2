/* hostile_util.h — the error checks shared by the hostile tests (test_hostile_autograd.c,
 * test_hostile_ops.c, test_hostile_nn.c, test_hostile_optim.c). Include it after Criterion
 * (or, in test_hostile_optim.c's standalone mode, after its stand-ins for cr_assert_*): it
 * includes neither, so it works with both.
 *
 *   EXPECT_ERR(code, msg)     the pending error is exactly (code, msg); it is cleared
 *   EXPECT_NO_ERR()           no error is pending
 *   FAILS(expr, code, msg)    expr gives NULL with exactly (code, msg)
 *   STALE(op, i)              the message for argument i of op coming from an ended step
 */
#ifndef AG_HOSTILE_UTIL_H
#define AG_HOSTILE_UTIL_H

#include "agrad.h"

#define EXPECT_ERR(code, msg)                                                              \
    do {                                                                                   \
        cr_assert_eq(ag_error(), (code), "error code %d, expected %d (message: %s)",       \
                     (int)ag_error(), (int)(code), ag_error_message());                    \
        cr_assert_str_eq(ag_error_message(), (msg));                                       \
        ag_clear_error();                                                                  \
    } while (0)

#define EXPECT_NO_ERR() cr_assert_eq(ag_error(), AG_OK, "unexpected error: %s", ag_error_message())

#define FAILS(expr, code, msg)                                                             \
    do {                                                                                   \
        cr_assert_null((expr), "%s should fail", #expr);                                   \
        EXPECT_ERR(code, msg);                                                             \
    } while (0)

#define STALE(op, i)                                                                       \
    op ": argument " #i " belongs to a step that has ended or to another thread's tape "   \
       "(ag_step_end frees op results; keep values with ag_clone)"

#endif
