/* ffn_graph.c — the notebook's feed-forward network (2 inputs -> 2 ReLU units -> 1 sigmoid
 * unit) with its weights as parameters, and the graph of one forward pass written as
 * Graphviz DOT on stdout, the way torchviz draws a PyTorch graph:
 *     build/examples/ffn_graph > ffn.dot && dot -Tsvg ffn.dot -o ffn.svg */
#include <agrad.h>
#include <stdio.h>

int main(void)
{
    ag_tensor *inputs = ag_from((ag_real[]){ 3, 4 }, 2, AG_SHAPE(2));
    ag_tensor *w1 = ag_from((ag_real[]){ 0.2f, 0.8f, 0.6f, -0.5f }, 4, AG_SHAPE(2, 2));
    ag_tensor *b1 = ag_from((ag_real[]){ 0.5f, -0.2f }, 2, AG_SHAPE(2));
    ag_tensor *w2 = ag_from((ag_real[]){ 0.4f, 0.9f }, 2, AG_SHAPE(2));
    ag_tensor *b2 = ag_scalar(0.1f);
    ag_tensor *params[] = { w1, b1, w2, b2 };
    const char *names[] = { "weights1", "bias1", "weights2", "bias2" };
    for (int i = 0; i < 4; i++)
        ag_set_requires_grad(params[i], true);

    ag_tensor *hidden = ag_relu(ag_linear(inputs, w1, b1));             // (2)
    ag_tensor *out = ag_sigmoid(ag_add(ag_matmul(hidden, w2), b2));     // ()
    ag_status st = ag_export_dot(out, &(ag_params){ 4, params, names }, stdout);
    if (st != AG_OK)
        fprintf(stderr, "ffn_graph: %s\n", ag_error_message());

    ag_step_end();
    ag_free(inputs);
    for (int i = 0; i < 4; i++)
        ag_free(params[i]);
    return st == AG_OK ? 0 : 1;
}
