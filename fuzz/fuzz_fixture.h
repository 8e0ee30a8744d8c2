/* fuzz_fixture.h — the model every checkpoint input is loaded into, shared by the fuzzer
 * (fuzz_checkpoint.c) and the seed generator (make_corpus.c), so that the seeds are valid
 * checkpoints of exactly this model: Linear(3,4) - Tanh - Linear(4,2) with Adam (amsgrad:
 * three buffers) and SGD with momentum (one), over the same parameters. */
#ifndef AG_FUZZ_FIXTURE_H
#define AG_FUZZ_FIXTURE_H

#include "agrad.h"

typedef struct fixture {
    ag_module *model;
    ag_optimizer *adam, *sgd;
    ag_tensor *x; /* an input, for a training step after a successful load */
} fixture;

static inline fixture fixture_new(void)
{
    fixture f;
    ag_manual_seed(1);
    f.model = ag_sequential_new(3, (ag_module *[]){ ag_linear_new(3, 4, true), ag_tanh_new(),
                                                    ag_linear_new(4, 2, true) });
    f.adam = ag_adam_new(ag_parameters(f.model), (ag_adam_opts){ .lr = 0.01, .amsgrad = true });
    f.sgd = ag_sgd_new(ag_parameters(f.model), (ag_sgd_opts){ .lr = 0.1, .momentum = 0.9 });
    f.x = ag_randn(AG_SHAPE(5, 3));
    return f;
}

/* One training step of the model with opt (what a program does right after loading). */
static inline ag_status fixture_step(fixture *f, ag_optimizer *opt)
{
    ag_optim_zero_grad(opt);
    ag_backward(ag_sum(ag_forward(f->model, f->x)));
    ag_status st = ag_optim_step(opt);
    ag_step_end();
    return st;
}

static inline void fixture_free(fixture *f)
{
    ag_optim_free(f->adam);
    ag_optim_free(f->sgd);
    ag_module_free(f->model);
    ag_free(f->x);
}

#endif
