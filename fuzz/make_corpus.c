/* make_corpus.c — writes the seed corpus of fuzz_checkpoint into the folder given: valid
 * checkpoints of the fuzz model (fuzz_fixture.h) in each form the saver makes (with Adam,
 * with SGD-momentum, parameters only, an unnamed list, another model's), and damaged copies
 * (truncated, a flipped byte, a future version). Built and run by `fuzz/run.sh --seeds`.
 * Usage: make_corpus DIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_fixture.h"

static char dir[512];

/* DIR/name. */
static const char *at(const char *name)
{
    static char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return p;
}

static void check(ag_status st)
{
    if (st != AG_OK) {
        fprintf(stderr, "make_corpus: %s\n", ag_error_message());
        exit(1);
    }
}

static unsigned char *slurp(const char *name, size_t *n)
{
    FILE *f = fopen(at(name), "rb");
    if (!f)
        exit(1);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    rewind(f);
    unsigned char *b = malloc(*n);
    if (fread(b, 1, *n, f) != *n)
        exit(1);
    fclose(f);
    return b;
}

static void spit(const char *name, const unsigned char *b, size_t n)
{
    FILE *f = fopen(at(name), "wb");
    if (!f || fwrite(b, 1, n, f) != n || fclose(f) != 0)
        exit(1);
}

/* The damaged copies of `name`: cut in half, one byte flipped in the middle, version 2. */
static void damaged(const char *name)
{
    size_t n;
    unsigned char *b = slurp(name, &n);
    char out[256];
    snprintf(out, sizeof out, "%s.half", name);
    spit(out, b, n / 2);
    b[n / 2] ^= 0x40;
    snprintf(out, sizeof out, "%s.flip", name);
    spit(out, b, n);
    b[n / 2] ^= 0x40;
    b[8] = 2;
    snprintf(out, sizeof out, "%s.v2", name);
    spit(out, b, n);
    free(b);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make_corpus DIR\n");
        return 2;
    }
    snprintf(dir, sizeof dir, "%s", argv[1]);
    fixture f = fixture_new();
    const ag_params *p = ag_parameters(f.model);
    check(fixture_step(&f, f.adam));
    check(fixture_step(&f, f.sgd));
    check(ag_checkpoint_save(at("adam.ckpt"), p, f.adam));
    check(ag_checkpoint_save(at("sgd.ckpt"), p, f.sgd));
    check(ag_checkpoint_save(at("params.ckpt"), p, NULL));
    check(ag_checkpoint_save(at("unnamed.ckpt"), &(ag_params){ p->n, p->tensors, NULL }, NULL));
    ag_module *other = ag_linear_new(3, 5, true);
    check(ag_checkpoint_save(at("other.ckpt"), ag_parameters(other), NULL));
    damaged("adam.ckpt");
    damaged("params.ckpt");
    ag_module_free(other);
    fixture_free(&f);
    return 0;
}
