/* error.c — the sticky, per-thread error: the first failure's message is kept until cleared. */
#include "autograd_internal.h"

#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

ag_status ag_error(void) { return agi_tape_get()->err; }

const char *ag_error_message(void)
{
    agi_tape *t = agi_tape_get();
    return t->err ? t->msg : "";
}

void ag_clear_error(void)
{
    agi_tape *t = agi_tape_get();
    t->err = AG_OK;
    t->msg[0] = 0;
}

ag_status ag_fail(ag_status code, const char *fmt, ...)
{
    agi_tape *t = agi_tape_get();
    if (t->err == AG_OK && code != AG_OK) {
        if (fmt) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(t->msg, sizeof t->msg, fmt, ap);
            va_end(ap);
        } else {
            snprintf(t->msg, sizeof t->msg, "error %d (no message given)", (int)code);
        }
        t->err = code;
    }
    return code;
}

char *ag_shape_str(ag_shape s, char *buf)
{
    if (!buf)
        return NULL;
    char *p = buf;
    *p++ = '[';
    int nd = s.ndim < 0 ? 0 : s.ndim > AG_MAX_DIMS ? AG_MAX_DIMS : s.ndim;
    for (int i = 0; i < nd; i++)
        p += sprintf(p, i ? ",%" PRId64 : "%" PRId64, s.d[i]);
    *p++ = ']';
    *p = 0;
    return buf;
}
