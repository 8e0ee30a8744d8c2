/* memory.c — the allocation hook and the tape's arena.
 *
 * The arena is a list of chunks handed out with a bump pointer, and resetting it rewinds every
 * chunk in O(chunks). Each new chunk is at least as large as all the earlier ones together,
 * so a step of B bytes needs O(log B) chunks, and the next step, making the same requests,
 * finds them all where they were: from the second step on a training loop with a fixed graph
 * calls malloc zero times and touches no new page. (Merging the chunks into one at reset,
 * as this once did, cost the second step a fresh round of page faults.) */
#define _POSIX_C_SOURCE 200809L
#include "autograd_internal.h"

#include <stdlib.h>
#include <string.h>

#define MIN_CHUNK ((size_t)1 << 20)

static void *default_alloc(size_t size, void *user)
{
    (void)user;
    return malloc(size);
}

static void default_release(void *p, void *user)
{
    (void)user;
    free(p);
}

static ag_allocator g_alloc = { default_alloc, default_release, NULL };

void ag_set_allocator(const ag_allocator *a)
{
    if (a && a->alloc && a->release)
        g_alloc = *a;
    else
        g_alloc = (ag_allocator){ default_alloc, default_release, NULL };
}

/* Every library allocation comes here, so that a user's hook sees (and can fail) it. */
void *agi_alloc(size_t size)
{
    void *p = g_alloc.alloc(size ? size : 1, g_alloc.user);
    if (!p)
        ag_fail(AG_ERR_OOM, "out of memory allocating %zu bytes", size);
    return p;
}

void agi_release(void *p)
{
    if (p)
        g_alloc.release(p, g_alloc.user);
}

static agi_chunk *chunk_new(size_t size)
{
    agi_chunk *c = agi_alloc(sizeof(agi_chunk) + AGI_ALIGN + size);
    if (!c)
        return NULL;
    c->next = NULL;
    c->size = size;
    c->used = 0;
    return c;
}

/* The bump allocation proper: `size` bytes at an `align`-aligned offset of some chunk. */
void *agi_arena_alloc_aligned(agi_arena *a, size_t size, size_t align)
{
    size = size ? size : 1;
    for (agi_chunk *c = a->cur; c; c = c->next) {
        size_t off = (c->used + align - 1) & ~(align - 1);
        if (off <= c->size && c->size - off >= size) {
            a->in_use += off + size - c->used;
            c->used = off + size;
            a->cur = c;
            return agi_chunk_base(c) + off;
        }
    }
    /* No chunk after cur has room: append one at the end of the list. */
    if (size > SIZE_MAX / 2 - AGI_ALIGN - sizeof(agi_chunk)) {
        ag_fail(AG_ERR_OOM, "out of memory: tape allocation of %zu bytes", size);
        return NULL;
    }
    size_t reserved = 0;
    for (agi_chunk *t = a->head; t; t = t->next)
        reserved += t->size;
    size_t want = size > reserved ? size : reserved; /* doubles the arena: O(log) chunks */
    agi_chunk *c = chunk_new(want > MIN_CHUNK ? want : MIN_CHUNK);
    if (!c)
        return NULL;
    if (!a->head) {
        a->head = c;
    } else {
        agi_chunk *t = a->cur ? a->cur : a->head;
        while (t->next)
            t = t->next;
        t->next = c;
    }
    c->used = size;
    a->cur = c;
    a->in_use += size;
    return agi_chunk_base(c);
}

void *agi_arena_alloc(agi_arena *a, size_t size) { return agi_arena_alloc_aligned(a, size, AGI_ALIGN); }

/* Frees every chunk. */
void agi_arena_free(agi_arena *a)
{
    agi_chunk *c = a->head;
    while (c) {
        agi_chunk *n = c->next;
        agi_release(c);
        c = n;
    }
    a->head = a->cur = NULL;
    a->in_use = 0;
}

void agi_arena_reset(agi_arena *a)
{
    for (agi_chunk *c = a->head; c; c = c->next)
        c->used = 0;
    a->cur = a->head;
    a->in_use = 0;
}
