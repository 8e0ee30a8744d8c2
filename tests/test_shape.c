/* test_shape.c — reshape (with -1), transpose (any pair of dims, negative dims), expand and
 * sum_to: values, gradients against PyTorch's float64 numbers (tests/data/public.jsonl) and a
 * naive permutation, the expand / sum_to round trip, error messages, gradcheck and
 * gradgradcheck. */
#include "test_util.h"

/* --- reference cases (PyTorch 1.13, float64), copied from tests/data/public.jsonl ------- */
/* Where two arrays of a case hold the same numbers (reshape's output is its input, its gradient
 * grad_output itself), the case names the one copy. */

/* transpose/2x3_0_1/0  attrs {"dim0": 0, "dim1": 1} */
static const ag_real R_transpose_2x3_0_1_0_in0[] = {
    2.955075740814209, 1.40192449092865, -0.8139179348945618, -0.37860509753227234,
    -1.2900521755218506, -0.5258365869522095
};
static const ag_real R_transpose_2x3_0_1_0_out[] = {
    2.955075740814209, -0.37860509753227234, 1.40192449092865, -1.2900521755218506,
    -0.8139179348945618, -0.5258365869522095
};
static const ag_real R_transpose_2x3_0_1_0_go[] = {
    0.1808156818151474, -0.15380078554153442, 0.47548598051071167, 0.23141160607337952,
    0.07192526012659073, 0.18176811933517456
};
static const ag_real R_transpose_2x3_0_1_0_g0[] = {
    0.1808156818151474, 0.47548598051071167, 0.07192526012659073, -0.15380078554153442,
    0.23141160607337952, 0.18176811933517456
};
static const ref_case R_transpose_2x3_0_1_0 = {
    .id = "transpose/2x3_0_1/0",
    .n_in = 1,
    .in[0] = { { .ndim = 2, .d = { 2, 3 } }, R_transpose_2x3_0_1_0_in0 },
    .requires_grad = { true },
    .out = { { .ndim = 2, .d = { 3, 2 } }, R_transpose_2x3_0_1_0_out },
    .grad_output = R_transpose_2x3_0_1_0_go,
    .grads = { R_transpose_2x3_0_1_0_g0 },
};

/* transpose/2x3x4_0_2/0  attrs {"dim0": 0, "dim1": 2} */
static const ag_real R_transpose_2x3x4_0_2_0_in0[] = {
    -0.28301194310188293, -1.9396089315414429, -1.675405740737915, 1.3184173107147217,
    0.3778707981109619, 0.6256638169288635, -0.1317564994096756, 0.40193745493888855,
    -0.034846626222133636, 0.7289215326309204, 1.320574402809143, 0.7942102551460266,
    -0.41548576951026917, 1.2389121055603027, 1.3114545345306396, -0.21516364812850952,
    0.23332637548446655, 0.11514556407928467, 0.7504004836082458, -0.9452880024909973,
    0.607909619808197, 1.457520842552185, -0.35086295008659363, 0.533771812915802
};
static const ag_real R_transpose_2x3x4_0_2_0_out[] = {
    -0.28301194310188293, -0.41548576951026917, 0.3778707981109619, 0.23332637548446655,
    -0.034846626222133636, 0.607909619808197, -1.9396089315414429, 1.2389121055603027,
    0.6256638169288635, 0.11514556407928467, 0.7289215326309204, 1.457520842552185,
    -1.675405740737915, 1.3114545345306396, -0.1317564994096756, 0.7504004836082458,
    1.320574402809143, -0.35086295008659363, 1.3184173107147217, -0.21516364812850952,
    0.40193745493888855, -0.9452880024909973, 0.7942102551460266, 0.533771812915802
};
static const ag_real R_transpose_2x3x4_0_2_0_go[] = {
    -0.07104229182004929, -2.130181312561035, 0.4687209129333496, -1.908063530921936,
    -1.0642683506011963, 0.6945016384124756, 0.2339446097612381, -0.006958120036870241,
    -0.14994074404239655, -0.056743916124105453, 0.014049435034394264, 1.3483229875564575,
    0.6994752883911133, -0.15558817982673645, -0.7310382127761841, -0.16916364431381226,
    -0.7352022528648376, -1.2505395412445068, -0.7277652621269226, 0.5788113474845886,
    1.0323654413223267, -0.19092105329036713, -0.9504135847091675, 0.08085519075393677
};
static const ag_real R_transpose_2x3x4_0_2_0_g0[] = {
    -0.07104229182004929, 0.2339446097612381, 0.6994752883911133, -0.7277652621269226,
    0.4687209129333496, -0.14994074404239655, -0.7310382127761841, 1.0323654413223267,
    -1.0642683506011963, 0.014049435034394264, -0.7352022528648376, -0.9504135847091675,
    -2.130181312561035, -0.006958120036870241, -0.15558817982673645, 0.5788113474845886,
    -1.908063530921936, -0.056743916124105453, -0.16916364431381226, -0.19092105329036713,
    0.6945016384124756, 1.3483229875564575, -1.2505395412445068, 0.08085519075393677
};
static const ref_case R_transpose_2x3x4_0_2_0 = {
    .id = "transpose/2x3x4_0_2/0",
    .n_in = 1,
    .in[0] = { { .ndim = 3, .d = { 2, 3, 4 } }, R_transpose_2x3x4_0_2_0_in0 },
    .requires_grad = { true },
    .out = { { .ndim = 3, .d = { 4, 3, 2 } }, R_transpose_2x3x4_0_2_0_out },
    .grad_output = R_transpose_2x3x4_0_2_0_go,
    .grads = { R_transpose_2x3x4_0_2_0_g0 },
};

/* transpose/2x3x4_1_-1/0  attrs {"dim0": 1, "dim1": -1} */
static const ag_real R_transpose_2x3x4_1_m1_0_in0[] = {
    0.7443417906761169, 1.1231094598770142, 0.8956907391548157, -1.0786855220794678,
    0.39117807149887085, 0.8221771717071533, -0.6174958944320679, -0.8432621955871582,
    0.6409064531326294, 0.42518380284309387, -1.3362586498260498, 0.34845155477523804,
    -1.0590590238571167, -0.2483145296573639, 0.11602556705474854, 0.18307359516620636,
    -2.996328353881836, 0.6592143774032593, -0.2909132242202759, -0.64521324634552,
    0.2818728983402252, -0.37874215841293335, -1.5194180011749268, 0.2500603497028351
};
static const ag_real R_transpose_2x3x4_1_m1_0_out[] = {
    0.7443417906761169, 0.39117807149887085, 0.6409064531326294, 1.1231094598770142,
    0.8221771717071533, 0.42518380284309387, 0.8956907391548157, -0.6174958944320679,
    -1.3362586498260498, -1.0786855220794678, -0.8432621955871582, 0.34845155477523804,
    -1.0590590238571167, -2.996328353881836, 0.2818728983402252, -0.2483145296573639,
    0.6592143774032593, -0.37874215841293335, 0.11602556705474854, -0.2909132242202759,
    -1.5194180011749268, 0.18307359516620636, -0.64521324634552, 0.2500603497028351
};
static const ag_real R_transpose_2x3x4_1_m1_0_go[] = {
    -0.7347441911697388, -0.8457380533218384, -0.913743793964386, -1.5552031993865967,
    1.0398274660110474, -1.172415852546692, -0.06457620114088058, -0.1746653914451599,
    -0.6195000410079956, 0.7236180305480957, -0.6790944933891296, -0.5857189893722534,
    -0.31037360429763794, 0.4528694152832031, -0.8055075407028198, 0.8703335523605347,
    -0.44202595949172974, 0.24325333535671234, 0.37021344900131226, -0.1430920958518982,
    0.6906498670578003, 0.15160022675991058, 0.039587974548339844, -1.1141752004623413
};
static const ag_real R_transpose_2x3x4_1_m1_0_g0[] = {
    -0.7347441911697388, -1.5552031993865967, -0.06457620114088058, 0.7236180305480957,
    -0.8457380533218384, 1.0398274660110474, -0.1746653914451599, -0.6790944933891296,
    -0.913743793964386, -1.172415852546692, -0.6195000410079956, -0.5857189893722534,
    -0.31037360429763794, 0.8703335523605347, 0.37021344900131226, 0.15160022675991058,
    0.4528694152832031, -0.44202595949172974, -0.1430920958518982, 0.039587974548339844,
    -0.8055075407028198, 0.24325333535671234, 0.6906498670578003, -1.1141752004623413
};
static const ref_case R_transpose_2x3x4_1_m1_0 = {
    .id = "transpose/2x3x4_1_-1/0",
    .n_in = 1,
    .in[0] = { { .ndim = 3, .d = { 2, 3, 4 } }, R_transpose_2x3x4_1_m1_0_in0 },
    .requires_grad = { true },
    .out = { { .ndim = 3, .d = { 2, 4, 3 } }, R_transpose_2x3x4_1_m1_0_out },
    .grad_output = R_transpose_2x3x4_1_m1_0_go,
    .grads = { R_transpose_2x3x4_1_m1_0_g0 },
};

/* reshape/2x3_to_3x2/0  attrs {"shape": [3, 2]} */
static const ag_real R_reshape_2x3_to_3x2_0_in0[] = {
    -0.9303279519081116, 0.5216183066368103, -1.3102972507476807, 0.9278026819229126,
    0.027042999863624573, -0.1757277101278305
};
static const ag_real R_reshape_2x3_to_3x2_0_go[] = {
    -0.8366153836250305, -0.4614359438419342, 0.5492626428604126, 0.3194374442100525,
    -0.2810845673084259, 0.319339781999588
};
static const ref_case R_reshape_2x3_to_3x2_0 = {
    .id = "reshape/2x3_to_3x2/0",
    .n_in = 1,
    .in[0] = { { .ndim = 2, .d = { 2, 3 } }, R_reshape_2x3_to_3x2_0_in0 },
    .requires_grad = { true },
    .out = { { .ndim = 2, .d = { 3, 2 } }, R_reshape_2x3_to_3x2_0_in0 },
    .grad_output = R_reshape_2x3_to_3x2_0_go,
    .grads = { R_reshape_2x3_to_3x2_0_go },
};

/* reshape/2x3x4_to_4x-1/0  attrs {"shape": [4, -1]} */
static const ag_real R_reshape_2x3x4_to_4xm1_0_in0[] = {
    1.6923516988754272, -0.34699222445487976, -0.03931844234466553, 0.805220365524292,
    0.14153829216957092, -0.8367297053337097, -0.6888291835784912, 0.8734667301177979,
    -0.06528542190790176, 1.5341002941131592, -1.1548253297805786, -1.1305431127548218,
    0.043669767677783966, -0.5813885927200317, 0.07332700490951538, -0.9811078310012817,
    1.2782078981399536, 1.0510846376419067, -0.10050343722105026, -0.040612202137708664,
    -1.422699213027954, -0.4436894953250885, -0.12615659832954407, 0.5239466428756714
};
static const ag_real R_reshape_2x3x4_to_4xm1_0_go[] = {
    0.48841366171836853, -1.8145802021026611, 0.3746471703052521, 0.4470558166503906,
    -0.6660585999488831, 1.8125426769256592, -1.0240137577056885, 0.6867058873176575,
    0.9355304837226868, -0.7275468111038208, -1.4016878604888916, -0.3311243951320648,
    1.368972659111023, 0.9237434267997742, -0.21788182854652405, 0.7993141412734985,
    0.541792631149292, 0.039067670702934265, -0.7663648724555969, 1.137969970703125,
    0.07446528971195221, -0.8560914397239685, -0.5684043765068054, 1.3391519784927368
};
static const ref_case R_reshape_2x3x4_to_4xm1_0 = {
    .id = "reshape/2x3x4_to_4x-1/0",
    .n_in = 1,
    .in[0] = { { .ndim = 3, .d = { 2, 3, 4 } }, R_reshape_2x3x4_to_4xm1_0_in0 },
    .requires_grad = { true },
    .out = { { .ndim = 2, .d = { 4, 6 } }, R_reshape_2x3x4_to_4xm1_0_in0 },
    .grad_output = R_reshape_2x3x4_to_4xm1_0_go,
    .grads = { R_reshape_2x3x4_to_4xm1_0_go },
};

/* reshape/6_to_2x3/0  attrs {"shape": [2, 3]} */
static const ag_real R_reshape_6_to_2x3_0_in0[] = {
    1.532723307609558, 0.42744335532188416, 0.15176665782928467, 0.5956601500511169,
    -0.6943293213844299, -0.3287205100059509
};
static const ag_real R_reshape_6_to_2x3_0_go[] = {
    -0.21714189648628235, -0.5131188631057739, 1.274242639541626, 1.050196886062622,
    0.45461273193359375, -1.8585002422332764
};
static const ref_case R_reshape_6_to_2x3_0 = {
    .id = "reshape/6_to_2x3/0",
    .n_in = 1,
    .in[0] = { { .ndim = 1, .d = { 6 } }, R_reshape_6_to_2x3_0_in0 },
    .requires_grad = { true },
    .out = { { .ndim = 2, .d = { 2, 3 } }, R_reshape_6_to_2x3_0_in0 },
    .grad_output = R_reshape_6_to_2x3_0_go,
    .grads = { R_reshape_6_to_2x3_0_go },
};

typedef struct tr {
    int d0, d1;
} tr;

DEF_FN(f_reshape, ag_reshape(in[0], *(const ag_shape *)user))
DEF_FN(f_transpose, ag_transpose(in[0], ((const tr *)user)->d0, ((const tr *)user)->d1))
DEF_FN(f_expand, ag_expand(in[0], *(const ag_shape *)user))
DEF_FN(f_sum_to, ag_sum_to(in[0], *(const ag_shape *)user))
/* The shape ops are linear: square them for gradgradcheck so that their backward gets an
 * input-dependent gradient to differentiate. */
static ag_tensor *sq(ag_tensor *t) { return ag_mul(t, t); }
DEF_FN(f_reshape_sq, sq(f_reshape(in, n, user)))
DEF_FN(f_transpose_sq, sq(f_transpose(in, n, user)))
DEF_FN(f_expand_sq, sq(f_expand(in, n, user)))
DEF_FN(f_sum_to_sq, sq(f_sum_to(in, n, user)))

Test(shape, reference)
{
    tr t01 = { 0, 1 }, t02 = { 0, 2 }, t1m1 = { 1, -1 };
    ag_shape s32 = AG_SHAPE(3, 2), s4m1 = AG_SHAPE(4, -1), s23 = AG_SHAPE(2, 3);
    run_ref_case(&R_transpose_2x3_0_1_0, f_transpose, &t01);
    run_ref_case(&R_transpose_2x3x4_0_2_0, f_transpose, &t02);
    run_ref_case(&R_transpose_2x3x4_1_m1_0, f_transpose, &t1m1);
    run_ref_case(&R_reshape_2x3_to_3x2_0, f_reshape, &s32);
    run_ref_case(&R_reshape_2x3x4_to_4xm1_0, f_reshape, &s4m1);
    run_ref_case(&R_reshape_6_to_2x3_0, f_reshape, &s23);
    test_done();
}

/* --- reshape ------------------------------------------------------------------------------ */

static const ag_real SIX[] = { 1, 2, 3, 4, 5, 6 };

Test(shape, reshape_shapes_and_values)
{
    ag_tensor *x = leaf(SIX, AG_SHAPE(2, 3), true);
    struct {
        ag_shape to, want;
    } cases[] = {
        { AG_SHAPE(3, 2), AG_SHAPE(3, 2) },       { AG_SHAPE(6), AG_SHAPE(6) },
        { AG_SHAPE(-1), AG_SHAPE(6) },            { AG_SHAPE(3, -1), AG_SHAPE(3, 2) },
        { AG_SHAPE(-1, 1, 2), AG_SHAPE(3, 1, 2) }, { AG_SHAPE(1, 6, 1), AG_SHAPE(1, 6, 1) },
        { AG_SHAPE(2, 3), AG_SHAPE(2, 3) },
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        ag_tensor *y = ag_reshape(x, cases[k].to);
        expect_shape(y, cases[k].want);
        expect_tensor(y, SIX, 6, 0, 0);
    }
    /* gradient: the grad_output's values, in x's shape */
    ag_tensor *y = ag_reshape(x, AG_SHAPE(3, -1));
    BACKWARD_WITH(y, 10, 20, 30, 40, 50, 60);
    expect_shape(ag_grad(x), AG_SHAPE(2, 3));
    EXPECT_VALUES(ag_grad(x), 0, 10, 20, 30, 40, 50, 60);
    /* 0-d <-> one element */
    ag_tensor *s = leaf((const ag_real[]){ 7 }, AG_SCALAR, true);
    ag_tensor *o = ag_reshape(s, AG_SHAPE(1, 1));
    expect_shape(o, AG_SHAPE(1, 1));
    ag_tensor *back = ag_reshape(o, AG_SCALAR);
    expect_shape(back, AG_SCALAR);
    expect_shape(ag_reshape(s, AG_SHAPE(-1)), AG_SHAPE(1));
    BACKWARD_WITH(ag_mul_scalar(back, 3), 2);
    EXPECT_VALUES(ag_grad(s), 0, 6);
    test_done();
}

Test(shape, reshape_of_an_op_result)
{
    ag_tensor *x = leaf(SIX, AG_SHAPE(6), true);
    ag_tensor *y = ag_reshape(ag_mul(x, x), AG_SHAPE(3, 2));
    expect_shape(y, AG_SHAPE(3, 2));
    EXPECT_VALUES(y, 0, 1, 4, 9, 16, 25, 36);
    ag_tensor *z = ag_sum_dim(y, 0, false);
    EXPECT_VALUES(z, 0, 35, 56);
    BACKWARD_WITH(z, 1, -1);
    EXPECT_VALUES(ag_grad(x), 0, 2, -4, 6, -8, 10, -12);
    test_done();
}

Test(shape, reshape_errors)
{
    ag_tensor *x = leaf(SIX, AG_SHAPE(2, 3), true);
    expect_error(ag_reshape(x, AG_SHAPE(4)), AG_ERR_SHAPE,
                 "reshape: shape [4] is invalid for input of shape [2,3]");
    expect_error(ag_reshape(x, AG_SHAPE(2, 2, 2)), AG_ERR_SHAPE,
                 "reshape: shape [2,2,2] is invalid for input of shape [2,3]");
    expect_error(ag_reshape(x, AG_SHAPE(-1, 4)), AG_ERR_SHAPE,
                 "reshape: shape [-1,4] is invalid for input of shape [2,3]");
    expect_error(ag_reshape(x, AG_SHAPE(-1, 0)), AG_ERR_SHAPE,
                 "reshape: shape [-1,0] is invalid for input of shape [2,3]");
    expect_error(ag_reshape(x, AG_SHAPE(-1, -1)), AG_ERR_SHAPE,
                 "reshape: invalid shape [-1,-1]");
    expect_error(ag_reshape(x, AG_SHAPE(-2, -3)), AG_ERR_SHAPE,
                 "reshape: invalid shape [-2,-3]");
    expect_error(ag_reshape(x, AG_SCALAR), AG_ERR_SHAPE,
                 "reshape: shape [] is invalid for input of shape [2,3]");
    test_done();
}

/* --- transpose ----------------------------------------------------------------------------- */

Test(shape, transpose_2d)
{
    ag_tensor *x = leaf(SIX, AG_SHAPE(2, 3), true);
    ag_tensor *y = ag_transpose(x, 0, 1);
    expect_shape(y, AG_SHAPE(3, 2));
    EXPECT_VALUES(y, 0, 1, 4, 2, 5, 3, 6);
    expect_shape(ag_transpose(x, -1, -2), AG_SHAPE(3, 2));
    EXPECT_VALUES(ag_transpose(x, 1, -2), 0, 1, 4, 2, 5, 3, 6);
    BACKWARD_WITH(y, 10, 40, 20, 50, 30, 60);
    EXPECT_VALUES(ag_grad(x), 0, 10, 20, 30, 40, 50, 60);
    /* a dim with itself is the identity */
    ag_tensor *same = ag_transpose(x, 1, 1);
    expect_shape(same, AG_SHAPE(2, 3));
    expect_tensor(same, SIX, 6, 0, 0);
    /* transposing twice gives x back */
    expect_tensor(ag_transpose(ag_transpose(x, 0, 1), 1, 0), SIX, 6, 0, 0);
    test_done();
}

/* x[i0..i3] of shape s moved to the transposed position: out index of flat input index i. */
static size_t transposed_index(size_t i, ag_shape s, int d0, int d1)
{
    int64_t idx[AG_MAX_DIMS];
    for (int d = s.ndim - 1; d >= 0; d--) {
        idx[d] = (int64_t)(i % (size_t)s.d[d]);
        i /= (size_t)s.d[d];
    }
    int64_t t = idx[d0];
    idx[d0] = idx[d1], idx[d1] = t;
    t = s.d[d0];
    s.d[d0] = s.d[d1], s.d[d1] = t;
    size_t o = 0;
    for (int d = 0; d < s.ndim; d++)
        o = o * (size_t)s.d[d] + (size_t)idx[d];
    return o;
}

static void check_every_pair(ag_shape s)
{
    ag_tensor *x = randn_leaf(s, true);
    size_t n = ag_numel(x);
    ag_real ey[120], go[120], eg[120];
    for (size_t i = 0; i < n; i++)
        go[i] = (ag_real)i;
    for (int d0 = -4; d0 < 4; d0++) {
        for (int d1 = -4; d1 < 4; d1++) {
            int a = d0 < 0 ? d0 + 4 : d0, b = d1 < 0 ? d1 + 4 : d1;
            ag_zero_grad(x);
            ag_tensor *y = ag_transpose(x, d0, d1);
            ag_shape ts = s;
            ts.d[a] = s.d[b], ts.d[b] = s.d[a];
            char what[96], sb[AG_SHAPE_STRLEN];
            snprintf(what, sizeof what, "transpose(%s, %d, %d)", ag_shape_str(s, sb), d0, d1);
            expect_shape(y, ts);
            for (size_t i = 0; i < n; i++) {
                size_t o = transposed_index(i, s, a, b);
                ey[o] = ag_cdata(x)[i];
                eg[i] = go[o];
            }
            tu_expect_data_(ag_cdata(y), ey, n, 0, 0, what, __FILE__, __LINE__);
            backward_with(y, go);
            cr_assert(ag_grad(x));
            strcat(what, " gradient");
            tu_expect_data_(ag_cdata(ag_grad(x)), eg, n, 0, 0, what, __FILE__, __LINE__);
            ag_step_end();
        }
    }
    test_done();
}

Test(shape, transpose_every_pair_of_a_4d_tensor)
{
    ag_manual_seed(3);
    check_every_pair(AG_SHAPE(2, 3, 4, 5));
}

/* Regression (fixed): ag_transpose treated any swap involving a size-1 dim as a
 * reshape (no data movement). That is only right when no dim of size > 1 lies between the
 * two: [1,3,1,4] with dims (0,3), or [3,1,2,1] with dims (1,3) or (0,3), reorder the data. */
Test(shape, transpose_every_pair_with_size_one_dims)
{
    ag_manual_seed(4);
    check_every_pair(AG_SHAPE(1, 3, 1, 4));
    check_every_pair(AG_SHAPE(3, 1, 2, 1));
}

Test(shape, transpose_with_size_one_dims)
{
    /* Regression (fixed): see above; [1,2,3,1] (0,2) must move data */
    ag_tensor *x = leaf(SIX, AG_SHAPE(1, 2, 3, 1), true);
    ag_tensor *y = ag_transpose(x, 0, 3);
    expect_shape(y, AG_SHAPE(1, 2, 3, 1));
    expect_tensor(y, SIX, 6, 0, 0);
    ag_tensor *y2 = ag_transpose(x, 0, 1); /* only the unit dim moves: a view is fine */
    expect_shape(y2, AG_SHAPE(2, 1, 3, 1));
    expect_tensor(y2, SIX, 6, 0, 0);
    ag_tensor *z = ag_transpose(x, 0, 2);
    expect_shape(z, AG_SHAPE(3, 2, 1, 1));
    EXPECT_VALUES(z, 0, 1, 4, 2, 5, 3, 6);
    ag_tensor *v = leaf(SIX, AG_SHAPE(2, 3, 1), true);
    ag_tensor *w = ag_transpose(v, 0, 2);
    expect_shape(w, AG_SHAPE(1, 3, 2));
    EXPECT_VALUES(w, 0, 1, 4, 2, 5, 3, 6);
    /* [1,2,3,1] -> [1,1,3,2]: grad x[0,j,i,0] = go[0,0,i,j] */
    BACKWARD_WITH(ag_transpose(x, -1, 1), 1, 2, 3, 4, 5, 6);
    expect_shape(ag_grad(x), AG_SHAPE(1, 2, 3, 1));
    EXPECT_VALUES(ag_grad(x), 0, 1, 3, 5, 2, 4, 6);
    test_done();
}

Test(shape, transpose_errors)
{
    ag_tensor *x = leaf(SIX, AG_SHAPE(2, 3), true);
    expect_error(ag_transpose(x, 0, 2), AG_ERR_ARG,
                 "transpose: dimension 2 out of range for a 2-d tensor");
    expect_error(ag_transpose(x, -3, 0), AG_ERR_ARG,
                 "transpose: dimension -3 out of range for a 2-d tensor");
    test_done();
}

/* --- expand and sum_to --------------------------------------------------------------------- */

Test(shape, expand_values_and_grads)
{
    ag_tensor *r = leaf((const ag_real[]){ 1, 2, 3 }, AG_SHAPE(3), true);
    ag_tensor *y = ag_expand(r, AG_SHAPE(2, 3));
    expect_shape(y, AG_SHAPE(2, 3));
    EXPECT_VALUES(y, 0, 1, 2, 3, 1, 2, 3);
    BACKWARD_WITH(y, 1, 2, 3, 4, 5, 6);
    EXPECT_VALUES(ag_grad(r), 0, 5, 7, 9);

    ag_tensor *c = leaf((const ag_real[]){ 1, 2 }, AG_SHAPE(2, 1), true);
    ag_tensor *z = ag_expand(c, AG_SHAPE(2, 2, 3));
    expect_shape(z, AG_SHAPE(2, 2, 3));
    EXPECT_VALUES(z, 0, 1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2);
    BACKWARD_WITH(z, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12);
    expect_shape(ag_grad(c), AG_SHAPE(2, 1));
    EXPECT_VALUES(ag_grad(c), 0, 1 + 2 + 3 + 7 + 8 + 9, 4 + 5 + 6 + 10 + 11 + 12);

    ag_tensor *s = leaf((const ag_real[]){ 5 }, AG_SCALAR, true);
    ag_tensor *w = ag_expand(s, AG_SHAPE(2, 2));
    EXPECT_VALUES(w, 0, 5, 5, 5, 5);
    BACKWARD_WITH(w, 1, 2, 3, 4);
    expect_shape(ag_grad(s), AG_SCALAR);
    EXPECT_VALUES(ag_grad(s), 0, 10);

    /* expanding to its own shape is the identity */
    EXPECT_VALUES(ag_expand(r, AG_SHAPE(3)), 0, 1, 2, 3);
    test_done();
}

Test(shape, sum_to_values)
{
    ag_tensor *x = leaf(SIX, AG_SHAPE(2, 3), true);
    ag_tensor *a = ag_sum_to(x, AG_SHAPE(3));
    expect_shape(a, AG_SHAPE(3));
    EXPECT_VALUES(a, 0, 5, 7, 9);
    ag_tensor *b = ag_sum_to(x, AG_SHAPE(2, 1));
    expect_shape(b, AG_SHAPE(2, 1));
    EXPECT_VALUES(b, 0, 6, 15);
    ag_tensor *c = ag_sum_to(x, AG_SCALAR);
    expect_shape(c, AG_SCALAR);
    EXPECT_VALUES(c, 0, 21);
    ag_tensor *d = ag_sum_to(x, AG_SHAPE(1, 3));
    expect_shape(d, AG_SHAPE(1, 3));
    EXPECT_VALUES(d, 0, 5, 7, 9);
    ag_tensor *e = ag_sum_to(x, AG_SHAPE(1, 1));
    expect_shape(e, AG_SHAPE(1, 1));
    EXPECT_VALUES(e, 0, 21);
    expect_tensor(ag_sum_to(x, AG_SHAPE(2, 3)), SIX, 6, 0, 0);
    BACKWARD_WITH(b, 1, 10);
    EXPECT_VALUES(ag_grad(x), 0, 1, 1, 1, 10, 10, 10);
    test_done();
}

Test(shape, expand_sum_to_round_trip)
{
    ag_manual_seed(9);
    struct {
        ag_shape from, to;
    } cases[] = {
        { AG_SHAPE(3), AG_SHAPE(2, 3) },         { AG_SHAPE(2, 1), AG_SHAPE(2, 5) },
        { AG_SCALAR, AG_SHAPE(2, 3, 4) },        { AG_SHAPE(1, 3), AG_SHAPE(4, 2, 3) },
        { AG_SHAPE(2, 1, 4), AG_SHAPE(3, 2, 5, 4) }, { AG_SHAPE(1, 1), AG_SHAPE(1, 1) },
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        ag_tensor *x = randn_leaf(cases[k].from, true);
        ag_tensor *e = ag_expand(x, cases[k].to);
        expect_shape(e, cases[k].to);
        ag_tensor *back = ag_sum_to(e, cases[k].from);
        expect_shape(back, cases[k].from);
        /* each element was copied numel(to) / numel(from) times */
        double times = (double)ag_shape_numel(cases[k].to) / (double)ag_shape_numel(cases[k].from);
        ag_real want[120];
        for (size_t i = 0; i < ag_numel(x); i++)
            want[i] = (ag_real)(times * ag_cdata(x)[i]);
        expect_tensor(back, want, ag_numel(x), 1e-14, 1e-14);
        /* and the gradient of sum(sum_to(expand(x))) is `times` everywhere */
        cr_assert(ag_backward(ag_sum(back)) == AG_OK, "%s", ag_error_message());
        for (size_t i = 0; i < ag_numel(x); i++)
            want[i] = (ag_real)times;
        expect_tensor(ag_grad(x), want, ag_numel(x), 0, 0);
    }
    test_done();
}

Test(shape, expand_errors)
{
    ag_tensor *x = leaf(SIX, AG_SHAPE(2, 3), true);
    expect_error(ag_expand(x, AG_SHAPE(3)), AG_ERR_SHAPE,
                 "expand: shapes [2,3] and [3] cannot be expanded (the second is the target)");
    expect_error(ag_expand(x, AG_SHAPE(2, 4)), AG_ERR_SHAPE,
                 "expand: shapes [2,3] and [2,4] cannot be broadcast");
    expect_error(ag_expand(x, AG_SHAPE(1, 3)), AG_ERR_SHAPE,
                 "expand: shapes [2,3] and [1,3] cannot be expanded (the second is the target)");
    test_done();
}

Test(shape, sum_to_errors)
{
    ag_tensor *x = leaf(SIX, AG_SHAPE(2, 3), true);
    ag_tensor *v = leaf((const ag_real[]){ 1, 2, 3 }, AG_SHAPE(3), true);
    expect_error(ag_sum_to(v, AG_SHAPE(2, 3)), AG_ERR_SHAPE,
                 "sum_to: shape [3] cannot be summed to shape [2,3]");
    expect_error(ag_sum_to(x, AG_SHAPE(4)), AG_ERR_SHAPE,
                 "sum_to: shape [2,3] cannot be summed to shape [4]");
    test_done();
}

/* --- gradcheck / gradgradcheck -------------------------------------------------------------- */

Test(shape, gradchecks)
{
    ag_manual_seed(21);
    ag_tensor *x = randn_leaf(AG_SHAPE(2, 3, 4), true);
    ag_shape rs[] = { AG_SHAPE(4, -1), AG_SHAPE(24), AG_SHAPE(2, 12), AG_SHAPE(3, 2, 2, 2) };
    for (int k = 0; k < 4; k++) {
        expect_gradcheck(f_reshape, &x, 1, &rs[k]);
        expect_gradgradcheck(f_reshape_sq, &x, 1, &rs[k]);
    }
    tr ts[] = { { 0, 1 }, { 0, 2 }, { 1, 2 }, { -1, 0 }, { -2, -1 }, { 2, 2 } };
    for (int k = 0; k < 6; k++) {
        expect_gradcheck(f_transpose, &x, 1, &ts[k]);
        expect_gradgradcheck(f_transpose_sq, &x, 1, &ts[k]);
    }
    ag_tensor *r = randn_leaf(AG_SHAPE(3, 1), true);
    ag_shape es[] = { AG_SHAPE(3, 4), AG_SHAPE(2, 3, 4), AG_SHAPE(3, 1) };
    for (int k = 0; k < 3; k++) {
        expect_gradcheck(f_expand, &r, 1, &es[k]);
        expect_gradgradcheck(f_expand_sq, &r, 1, &es[k]);
    }
    ag_shape ss[] = { AG_SHAPE(3, 4), AG_SHAPE(2, 1, 4), AG_SHAPE(1, 1), AG_SCALAR, AG_SHAPE(4) };
    for (int k = 0; k < 5; k++) {
        expect_gradcheck(f_sum_to, &x, 1, &ss[k]);
        expect_gradgradcheck(f_sum_to_sq, &x, 1, &ss[k]);
    }
    test_done();
}
