/* tape.c — the per-thread tape: its arena, generation, grad mode and anomaly switch.
 *
 * The tape is a thread-local struct; its memory is released when the thread exits (a pthread
 * key destructor) or, for the main thread, at exit. Ending a step resets the arena and bumps
 * the generation, which is how a tensor from an ended step is recognised. */
#define _POSIX_C_SOURCE 200809L
#include "autograd_internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

_Thread_local agi_tape agi_tls_tape __attribute__((tls_model("initial-exec")));
#define tls_tape agi_tls_tape
static _Atomic uint32_t g_generation = 1;

/* A generation number no other step of any thread has had, so that a tensor from an ended
 * step or from another thread's tape never passes the liveness check. */
static uint32_t next_generation(void) { return ++g_generation; }
static pthread_key_t tape_key;
static pthread_once_t tape_once = PTHREAD_ONCE_INIT;

static void tape_destroy(void *p)
{
    agi_tape *t = p;
    agi_arena_free(&t->arena);
    t->last = NULL;
    t->gen = next_generation();
}

static void main_tape_at_exit(void) { tape_destroy(&tls_tape); }

static void tape_key_init(void)
{
    pthread_key_create(&tape_key, tape_destroy);
    atexit(main_tape_at_exit);
}

agi_tape *agi_tape_init(void)
{
    agi_tape *t = &tls_tape;
    if (!t->registered) {
        t->registered = true;
        t->gen = next_generation();
        pthread_once(&tape_once, tape_key_init);
        pthread_setspecific(tape_key, t);
    }
    return t;
}

bool ag_is_grad_enabled(void) { return !agi_tape_get()->no_grad; }

bool ag_set_grad_enabled(bool on)
{
    agi_tape *t = agi_tape_get();
    bool prev = !t->no_grad;
    t->no_grad = !on;
    return prev;
}

void ag_set_detect_anomaly(bool on) { agi_tape_get()->anomaly = on; }

void ag_step_end(void)
{
    agi_tape *t = agi_tape_get();
    agi_arena_reset(&t->arena);
    t->last = NULL;
    t->gen = next_generation();
}

void ag_tape_memory(size_t *in_use, size_t *reserved)
{
    agi_tape *t = agi_tape_get();
    size_t r = 0;
    for (agi_chunk *c = t->arena.head; c; c = c->next)
        r += c->size;
    if (in_use)
        *in_use = t->arena.in_use;
    if (reserved)
        *reserved = r;
}

agi_tape_mark agi_tape_mark_get(void)
{
    agi_tape *t = agi_tape_get();
    agi_chunk *c = t->arena.cur;
    return (agi_tape_mark){ c, c ? c->used : 0, t->arena.in_use, t->last };
}

void agi_tape_rewind(agi_tape_mark m)
{
    agi_tape *t = agi_tape_get();
    if (m.cur) {
        m.cur->used = m.used;
        for (agi_chunk *c = m.cur->next; c; c = c->next)
            c->used = 0;
    } else {
        for (agi_chunk *c = t->arena.head; c; c = c->next)
            c->used = 0;
    }
    t->arena.cur = m.cur ? m.cur : t->arena.head;
    t->arena.in_use = m.in_use;
    t->last = m.last;
}
