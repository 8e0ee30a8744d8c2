/* agrad.h — the umbrella header: everything a user of the library needs.
 *
 * Layers, each with one public header: autograd.h (tensors, the tape, backward, errors, op
 * definition, gradcheck), ops.h (differentiable functions and losses), nn.h (modules,
 * initialisation), optim.h (optimizers), io.h (checkpoints),
 * data.h (datasets, loaders, training monitors). Every public name starts with ag_ / AG_. */
#ifndef AGRAD_H
#define AGRAD_H

#include "autograd.h"
#include "ops.h"
#include "nn.h"
#include "optim.h"
#include "io.h"
#include "data.h"

#endif
