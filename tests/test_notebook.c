/* test_notebook.c — runs build/examples/notebook and checks what it prints against the
 * notebook's outputs: the deterministic cells line for line, the training cells by what
 * they must achieve (their exact numbers depend on the initialisation, as in PyTorch). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef NOTEBOOK_BIN
#error "NOTEBOOK_BIN must name the notebook example"
#endif

static char out[16384];
static char *lines[256];
static int n_lines;

static void run_notebook(void)
{
    FILE *p = popen(NOTEBOOK_BIN, "r");
    cr_assert_not_null(p);
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    cr_assert_eq(pclose(p), 0, "the notebook exited with an error:\n%s", out);
    n_lines = 0;
    for (char *s = strtok(out, "\n"); s && n_lines < 256; s = strtok(NULL, "\n"))
        lines[n_lines++] = s;
}

/* The first line starting with `prefix`, or NULL. */
static const char *find(const char *prefix)
{
    for (int i = 0; i < n_lines; i++)
        if (strncmp(lines[i], prefix, strlen(prefix)) == 0)
            return lines[i];
    return NULL;
}

static void expect_line(const char *want)
{
    for (int i = 0; i < n_lines; i++)
        if (strcmp(lines[i], want) == 0)
            return;
    cr_assert_fail("missing line \"%s\"", want);
}

/* A line `prefix` + number whose number agrees with the notebook's to float32's precision
 * (relative 1e-6): the notebook computed some cells in float64 (NumPy), and float32 rounding
 * may change the 7th digit. */
static void expect_value(const char *prefix, double want, const char *suffix)
{
    const char *l = find(prefix);
    cr_assert_not_null(l, "missing a line starting \"%s\"", prefix);
    char *end;
    double got = strtod(l + strlen(prefix), &end);
    cr_assert(fabs(got - want) <= 1e-6 * fabs(want) + 1e-12, "%s: got %.9g, notebook %.9g", prefix, got, want);
    cr_assert_str_eq(end, suffix, "after the number in \"%s\"", l);
}

Test(notebook, deterministic_cells_print_the_notebooks_numbers)
{
    run_notebook();
    expect_line("Neuron raw output:  2.90");
    expect_line("Sigmoidal functions for 3.3 ans 3.5");
    expect_line("0.9644288  Close to 1");
    expect_line("0.03916572 Close to 0");
    expect_line("Tanh function for 2.0 and -2.0");
    expect_line("0.9640276  Positive outcome");
    expect_line("-0.9640276  Negative outcome");
    expect_line("3.3  Keeps positive");
    expect_line("0  Zeroes out");
    expect_line("Layer 1 output:  [4.3 0. ]");
    expect_value("Final decision (probability) ", 0.86056612703835, "");
    expect_value("MSE Loss: ", 0.15000002086162567, "");
    expect_value("MAE Loss: ", 0.3500000238418579, "");
    expect_value("Huber Loss: ", 0.07500001043081284, "");
    expect_value("Binary Cross-Entropy Loss: ", 0.18388254940509796, "");
    expect_value("Categorical Cross-Entropy Loss: ", 0.5162140727043152, "");
}

Test(notebook, gradient_descent_cell_learns_y_equals_2x)
{
    run_notebook();
    double loss[5];
    for (int k = 0; k < 5; k++) {
        char prefix[64];
        snprintf(prefix, sizeof prefix, "Epoch [%d/100], Loss: ", 20 * (k + 1));
        const char *l = find(prefix);
        cr_assert_not_null(l, "missing \"%s\"", prefix);
        loss[k] = atof(l + strlen(prefix));
    }
    cr_assert_lt(loss[4], loss[0], "the loss falls from epoch 20 to epoch 100");
    const char *w = find("Learned weight: "), *b = find("Learned bias: ");
    cr_assert(w && b);
    double wv = atof(w + strlen("Learned weight: "));
    cr_assert(wv > 1.5 && wv < 2.5, "learned weight %g is within 0.5 of 2", wv);
}

Test(notebook, complete_example_predicts_10_for_5)
{
    run_notebook();
    for (int e = 10; e <= 100; e += 10) {
        char prefix[64];
        snprintf(prefix, sizeof prefix, "Epoch %d: Loss =  ", e);
        cr_assert_not_null(find(prefix), "missing \"%s\"", prefix);
    }
    const char *p = find("Prediction for input 5.0:  ");
    cr_assert_not_null(p);
    double v = atof(p + strlen("Prediction for input 5.0:  "));
    cr_assert(v > 9.99 && v < 10.01, "prediction %g is within 0.01 of 10", v);
}
