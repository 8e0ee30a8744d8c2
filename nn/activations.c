/* activations.c — ReLU, Sigmoid and Tanh as modules: no parameters, forward is the op. */
#include "nn_internal.h"

/* The forwards: each is its op; the module holds nothing. */
static ag_tensor *relu_forward(ag_module *m, ag_tensor *x) { return (void)m, ag_relu(x); }
static ag_tensor *sigmoid_forward(ag_module *m, ag_tensor *x) { return (void)m, ag_sigmoid(x); }
static ag_tensor *tanh_forward(ag_module *m, ag_tensor *x) { return (void)m, ag_tanh(x); }

static const ag_module_def RELU = { "ReLU", relu_forward, NULL };
static const ag_module_def SIGMOID = { "Sigmoid", sigmoid_forward, NULL };
static const ag_module_def TANH = { "Tanh", tanh_forward, NULL };

/* The constructors: modules without parameters, children or state. */
ag_module *ag_relu_new(void) { return ag_module_new(&RELU, NULL); }
ag_module *ag_sigmoid_new(void) { return ag_module_new(&SIGMOID, NULL); }
ag_module *ag_tanh_new(void) { return ag_module_new(&TANH, NULL); }
