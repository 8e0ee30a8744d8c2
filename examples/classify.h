/* classify.h — what the two classifier examples (digits.c, fashion_mnist.c) share: their
 * command-line flags, the training loop with its monitor, the evaluation and the parameter
 * fingerprint. Each example only loads its data and builds its model. */
#ifndef EXAMPLES_CLASSIFY_H
#define EXAMPLES_CLASSIFY_H

#include <agrad.h>

/* A run's settings: the example's defaults, then whatever the flags say. */
typedef struct run_opts {
    const char *name;   /* the program, for messages */
    const char *optim;  /* "sgd" or "adam" */
    size_t batch;       /* 1: stochastic; 0: the whole training set */
    int epochs;
    double lr;
    const char *schedule; /* "cosine" (annealed to 0 over the run) or "constant" */
    uint64_t seed;      /* initialisation and shuffling */
    int threads;
    const char *data;   /* the dataset's directory */
    const char *csv;    /* the per-epoch log; NULL: none */
    const char *svg;    /* the plot; NULL: none */
} run_opts;

/* Reads --optim sgd|adam, --batch N, --epochs N, --lr X, --schedule cosine|constant,
 * --seed N, --threads N, --data DIR,
 * --csv FILE, --svg FILE into o. Prints usage and returns false on --help or a bad flag. */
bool parse_flags(int argc, char **argv, run_opts *o);

/* "DIR/file" into buf. Exits with status 2 and a message saying what to install (`hint`)
 * if the file cannot be read. */
const char *dataset_file(const run_opts *o, const char *file, const char *hint, char *buf,
                         size_t size);

/* Trains model (logits out) on train with cross-entropy (the lr following o->schedule),
 * measures the test accuracy after every epoch, shows the run through a monitor and ends
 * with the parameters' XXH3-64 fingerprint. Returns the program's exit status. */
int train_classifier(ag_module *model, const ag_dataset *train, const ag_dataset *test,
                     const run_opts *o);

#endif
