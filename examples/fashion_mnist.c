/* fashion_mnist.c — a multilayer perceptron learns Fashion-MNIST (Zalando's 28x28 grey
 * images of clothes in 10 classes, 60,000 to train on and 10,000 to test; Debian's package
 * dataset-fashion-mnist installs them): 784 -> 256 -> 128 -> 10 with ReLU, trained with Adam
 * in batches of 128, the lr annealed to 0 over the run. It reaches about 89.5% test accuracy
 * in 15 epochs (docs/training.md has the numbers and PyTorch's beside them).
 *
 *   fashion_mnist [--optim sgd|adam] [--batch N] [--epochs N] [--lr X]
 *                 [--schedule cosine|constant] [--seed N] [--threads N] [--data DIR]
 *                 [--csv FILE] [--svg FILE]
 *
 * --data defaults to /usr/share/datasets/fashion-mnist, where the package puts the IDX files
 * (gzip-compressed, as Zalando ships them). */
#include "classify.h"

#include <stdio.h>

#define HINT "Install the Debian package dataset-fashion-mnist (apt-get install " \
             "dataset-fashion-mnist), or pass --data DIR with the four IDX files."

/* The images and labels of one part ("train" or "t10k"): each image flattened to 784 values,
 * its pixels 0..255 scaled to [0, 1]. */
static ag_dataset *load(const run_opts *o, const char *part)
{
    char images[4096], labels[4096], name[64];
    snprintf(name, sizeof name, "%s-images-idx3-ubyte.gz", part);
    dataset_file(o, name, HINT, images, sizeof images);
    snprintf(name, sizeof name, "%s-labels-idx1-ubyte.gz", part);
    dataset_file(o, name, HINT, labels, sizeof labels);
    ag_dataset *ds = ag_dataset_read_idx(images, labels);
    ag_dataset_reshape(ds, AG_SHAPE(784));
    ag_dataset_normalize(ds, 0, 255);
    return ds;
}

int main(int argc, char **argv)
{
    run_opts o = { .name = "fashion_mnist", .optim = "adam", .batch = 128, .epochs = 15,
                   .lr = 1e-3, .schedule = "cosine", .threads = 1,
                   .data = "/usr/share/datasets/fashion-mnist" };
    if (!parse_flags(argc, argv, &o))
        return 1;
    ag_dataset *train = load(&o, "train"), *test = load(&o, "t10k");
    double mean = 0, std = 1; /* standardise with the training set's numbers */
    ag_dataset_stats(train, &mean, &std);
    ag_dataset_normalize(train, mean, std);
    ag_dataset_normalize(test, mean, std);

    ag_manual_seed(o.seed);
    ag_module *model = ag_sequential_new(5, (ag_module *[]){
        ag_linear_new(784, 256, true), ag_relu_new(), ag_linear_new(256, 128, true),
        ag_relu_new(), ag_linear_new(128, ag_dataset_num_classes(train), true) });
    int status = 1;
    if (ag_error() != AG_OK)
        fprintf(stderr, "fashion_mnist: %s\n", ag_error_message());
    else
        status = train_classifier(model, train, test, &o);
    ag_module_free(model);
    ag_dataset_free(train), ag_dataset_free(test);
    return status;
}
