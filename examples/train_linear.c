/* train_linear.c — the notebook's complete example as a program to copy: fit y = 2x. */
#include <agrad.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    int epochs = argc > 1 ? atoi(argv[1]) : 100;       /* optional: how long to train */
    ag_tensor *X = ag_from((float[]){ 0, 1, 2, 3 }, 4, AG_SHAPE(4, 1));
    ag_tensor *y = ag_from((float[]){ 0, 2, 4, 6 }, 4, AG_SHAPE(4, 1));
    ag_manual_seed(0);
    ag_module *model = ag_sequential_new(1, (ag_module *[]){ ag_linear_new(1, 1, true) });
    ag_loss *loss_fn = ag_mse_loss_new(AG_MEAN);
    ag_optimizer *opt = ag_sgd_new(ag_parameters(model), (ag_sgd_opts){ .lr = 0.1 });

    for (int epoch = 0; epoch < epochs; epoch++) {
        ag_tensor *loss = ag_loss_forward(loss_fn, ag_forward(model, X), y);
        ag_optim_zero_grad(opt);
        ag_backward(loss);
        if (ag_optim_step(opt) != AG_OK) {      /* any error above lands here */
            fprintf(stderr, "training failed: %s\n", ag_error_message());
            return 1;
        }
        if ((epoch + 1) % (epochs / 10 ? epochs / 10 : 1) == 0)
            printf("Epoch %d: Loss = %.4f\n", epoch + 1, ag_item(loss));
        ag_step_end();                          /* frees this step's graph in O(1) */
    }
    ag_tensor *x5 = ag_from((float[]){ 5 }, 1, AG_SHAPE(1));
    printf("Prediction for input 5.0: %.4f\n", ag_item(ag_forward(model, x5)));

    ag_step_end();
    ag_free(x5), ag_free(X), ag_free(y);
    ag_optim_free(opt), ag_loss_free(loss_fn), ag_module_free(model);
    return 0;
}
