/* fuzz_checkpoint.c — libFuzzer harness for the checkpoint loader.
 *
 * Each input is loaded, as a file's bytes, into a fixed small model (fuzz_fixture.h) three
 * times: with Adam, with SGD-momentum, with no optimizer. A load that succeeds is followed by
 * a training step, so that values and counts which pass the loader's checks are also shown to
 * be harmless to what runs next (when the parameters are finite: NaN and Inf through the ops
 * are the ops' business, fuzzed elsewhere, not the loader's). The loader must never crash, leak or trip a sanitizer; every
 * refusal must come with an error. Built with FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION, the
 * loader ignores checksum mismatches, so mutations reach the checks behind them. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_fixture.h"
#include "io_internal.h"

/* True if every parameter value of the model is finite. */
static int params_finite(fixture *f)
{
    const ag_params *p = ag_parameters(f->model);
    for (int i = 0; i < p->n; i++)
        for (size_t k = 0; k < ag_numel(p->tensors[i]); k++)
            if (!isfinite(ag_cdata(p->tensors[i])[k]))
                return 0;
    return 1;
}

/* Loads the input with opt; a refusal must have recorded an error, a success is trained on. */
static void load_and_step(fixture *f, const uint8_t *data, size_t size, ag_optimizer *opt)
{
    ag_status st = agi_checkpoint_load_mem(data, size, "fuzz input", ag_parameters(f->model),
                                           opt);
    if (st != AG_OK && ag_error_message()[0] == 0) {
        fprintf(stderr, "load refused (status %d) without a message\n", (int)st);
        abort();
    }
    if (st == AG_OK && params_finite(f))
        fixture_step(f, opt ? opt : f->adam);
    ag_clear_error();
    ag_step_end();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fixture f;
    static int ready;
    if (!ready) {
        f = fixture_new();
        ready = 1;
    }
    load_and_step(&f, data, size, f.adam);
    load_and_step(&f, data, size, f.sgd);
    load_and_step(&f, data, size, NULL);
    return 0;
}
