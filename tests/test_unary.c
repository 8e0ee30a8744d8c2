/* test_unary.c — elementwise math and activations: pow (2, 3, 0.5, -1.5), exp, log, sqrt,
 * abs, sign, sin, cos, relu, sigmoid, tanh. Values and gradients against PyTorch's float64
 * numbers (tests/data/public.jsonl) and libm, the conventions at kinks (abs'(0) = relu'(0)
 * = 0, sign has a zero gradient), saturation of sigmoid / tanh, gradcheck / gradgradcheck. */
#include "test_util.h"

/* --- reference cases (PyTorch 1.13, float64), copied from tests/data/public.jsonl ------- */

/* pow/e2/0  attrs {"exponent": 2} */
static const ag_real R_pow_e2_0_in0[] = {
    0.847093939781189, 0.593427836894989, 0.9946832656860352, 0.7104118466377258,
    0.991767406463623, 1.9578779935836792
};
static const ag_real R_pow_e2_0_out[] = {
    0.7175681428140166, 0.3521565976018657, 0.9893947990358356, 0.5046849918432237,
    0.9836025885235813, 3.8332862377592534
};
static const ag_real R_pow_e2_0_go[] = {
    -1.3477649688720703, 1.4707398414611816, 0.3372209370136261, 1.0080654621124268,
    0.7852269411087036, -0.6648677587509155
};
static const ag_real R_pow_e2_0_g0[] = {
    -2.283367074761827, 1.7455559255071762, 0.6708560457728368, 1.432283292942003,
    1.557524973737486, -2.6034599070034403
};
static const ref_case R_pow_e2_0 = {
    .id = "pow/e2/0",
    .n_in = 1,
    .in[0] = { { .ndim = 2, .d = { 2, 3 } }, R_pow_e2_0_in0 },
    .requires_grad = { true },
    .out = { { .ndim = 2, .d = { 2, 3 } }, R_pow_e2_0_out },
    .grad_output = R_pow_e2_0_go,
    .grads = { R_pow_e2_0_g0 },
};

/* pow/e3/1  attrs {"exponent": 3} */
static const ag_real R_pow_e3_1_in0[] = { 0.9040234684944153 };
static const ag_real R_pow_e3_1_out[] = { 0.738820801981098 };
static const ag_real R_pow_e3_1_go[] = { 1.0 };
static const ag_real R_pow_e3_1_g0[] = { 2.451775294766019 };
static const ref_case R_pow_e3_1 = {
    .id = "pow/e3/1",
    .n_in = 1,
    .in[0] = { { .ndim = 0 }, R_pow_e3_1_in0 },
    .requires_grad = { true },
    .out = { { .ndim = 0 }, R_pow_e3_1_out },
    .grad_output = R_pow_e3_1_go,
    .grads = { R_pow_e3_1_g0 },
};

/* pow/e0.5/0  attrs {"exponent": 0.5} */
static const ag_real R_pow_e0p5_0_in0[] = {
    0.398013174533844, 1.3737993240356445, 1.5024381875991821, 1.3431007862091064,
    1.4021316766738892, 0.5888991951942444
};
static const ag_real R_pow_e0p5_0_out[] = {
    0.6308828532571193, 1.1720918581901525, 1.2257398531495916, 1.1589222520122333,
    1.1841164117914629, 0.767397677344833
};
static const ag_real R_pow_e0p5_0_go[] = {
    0.04809702932834625, -1.1894543170928955, -0.17677217721939087, 0.20993231236934662,
    -2.3976433277130127, -1.2537140846252441
};
static const ag_real R_pow_e0p5_0_g0[] = {
    0.03811882751292979, -0.5074066118544466, -0.07210835837847938, 0.09057221569645495,
    -1.012418755384697, -0.8168607500631534
};
static const ref_case R_pow_e0p5_0 = {
    .id = "pow/e0.5/0",
    .n_in = 1,
    .in[0] = { { .ndim = 2, .d = { 2, 3 } }, R_pow_e0p5_0_in0 },
    .requires_grad = { true },
    .out = { { .ndim = 2, .d = { 2, 3 } }, R_pow_e0p5_0_out },
    .grad_output = R_pow_e0p5_0_go,
    .grads = { R_pow_e0p5_0_g0 },
};

/* pow/e-1.5/0  attrs {"exponent": -1.5} */
static const ag_real R_pow_em1p5_0_in0[] = {
    0.5472915172576904, 1.1663426160812378, 0.8048100471496582, 1.761406660079956,
    1.441717267036438, 1.3769057989120483, 0.5120772123336792, 1.0999994277954102
};
static const ag_real R_pow_em1p5_0_out[] = {
    2.4698576571898183, 0.7938908264193053, 1.385032345506018, 0.42777022169355183,
    0.5776700480491891, 0.6189330251941109, 2.7289578324560675, 0.8667848483753623
};
static const ag_real R_pow_em1p5_0_go[] = {
    -0.9797126650810242, 0.40813204646110535, 0.9267500042915344, 1.9636256694793701,
    -2.495232105255127, -1.0864821672439575, 1.0851407051086426, 0.30780261754989624
};
static const ag_real R_pow_em1p5_0_g0[] = {
    6.631979716643991, -0.41670296941800317, -2.392326120966521, -0.715320834472895,
    1.499691600177157, 0.73257701629599, -8.674384902896701, -0.36381652359206756
};
static const ref_case R_pow_em1p5_0 = {
    .id = "pow/e-1.5/0",
    .n_in = 1,
    .in[0] = { { .ndim = 3, .d = { 2, 2, 2 } }, R_pow_em1p5_0_in0 },
    .requires_grad = { true },
    .out = { { .ndim = 3, .d = { 2, 2, 2 } }, R_pow_em1p5_0_out },
    .grad_output = R_pow_em1p5_0_go,
    .grads = { R_pow_em1p5_0_g0 },
};

/* pow/e-1.5/1  attrs {"exponent": -1.5} */
static const ag_real R_pow_em1p5_1_in0[] = { 1.5769057273864746 };
static const ag_real R_pow_em1p5_1_out[] = { 0.5050000302954905 };
static const ag_real R_pow_em1p5_1_go[] = { 1.1173206567764282 };
static const ag_real R_pow_em1p5_1_g0[] = { -0.5367286284675775 };
static const ref_case R_pow_em1p5_1 = {
    .id = "pow/e-1.5/1",
    .n_in = 1,
    .in[0] = { { .ndim = 0 }, R_pow_em1p5_1_in0 },
    .requires_grad = { true },
    .out = { { .ndim = 0 }, R_pow_em1p5_1_out },
    .grad_output = R_pow_em1p5_1_go,
    .grads = { R_pow_em1p5_1_g0 },
};

/* exp/2x3/0  attrs {} */
static const ag_real R_exp_2x3_0_in0[] = {
    -0.273018479347229, 4.5881733894348145, -1.2075369358062744, -0.19083404541015625,
    1.413458228111267, -0.5303860902786255
};
static const ag_real R_exp_2x3_0_out[] = {
    0.7610787232609888, 98.3146834088369, 0.29893266374913147, 0.8262697000228746,
    4.110144672915038, 0.5883777588863731
};
static const ag_real R_exp_2x3_0_go[] = {
    0.5410146117210388, -0.9094263315200806, -1.1984680891036987, -1.4834433794021606,
    0.25211194157600403, -0.8697186708450317
};
static const ag_real R_exp_2x3_0_g0[] = {
    0.41175470995418784, -89.40996186705667, -0.3582612582941001, -1.2257243160995426,
    1.0362165536468804, -0.511723122413435
};
static const ref_case R_exp_2x3_0 = {
    .id = "exp/2x3/0",
    .n_in = 1,
    .in[0] = { { .ndim = 2, .d = { 2, 3 } }, R_exp_2x3_0_in0 },
    .requires_grad = { true },
    .out = { { .ndim = 2, .d = { 2, 3 } }, R_exp_2x3_0_out },
    .grad_output = R_exp_2x3_0_go,
    .grads = { R_exp_2x3_0_g0 },
};

/* exp/0d/0  attrs {} */
static const ag_real R_exp_0d_0_in0[] = { 0.06620975583791733 };
static const ag_real R_exp_0d_0_out[] = { 1.06845080745744 };
static const ag_real R_exp_0d_0_go[] = { -0.5640774965286255 };
static const ag_real R_exp_0d_0_g0[] = { -0.6026890566345812 };
static const ref_case R_exp_0d_0 = {
    .id = "exp/0d/0",
    .n_in = 1,
    .in[0] = { { .ndim = 0 }, R_exp_0d_0_in0 },
    .requires_grad = { true },
    .out = { { .ndim = 0 }, R_exp_0d_0_out },
    .grad_output = R_exp_0d_0_go,
    .grads = { R_exp_0d_0_g0 },
};

/* log/2x3/0  attrs {} */
static const ag_real R_log_2x3_0_in0[] = {
    0.5146821141242981, 2.2692360877990723, 2.6236016750335693, 0.41559135913848877,
    2.337136745452881, 1.5179928541183472
};
static const ag_real R_log_2x3_0_out[] = {
    -0.6642058230257346, 0.8194432496573532, 0.9645480588857719, -0.8780528112665446,
    0.848926567089595, 0.41738897153043936
};
static const ag_real R_log_2x3_0_go[] = {
    0.6479063034057617, -2.5653913021087646, 0.2818149924278259, 0.030845891684293747,
    0.5350682735443115, -0.44887617230415344
};
static const ag_real R_log_2x3_0_g0[] = {
    1.2588475208782743, -1.130508771609098, 0.10741531197727264, 0.07422168677480823,
    0.22894179152560803, -0.29570374530179294
};
static const ref_case R_log_2x3_0 = {
    .id = "log/2x3/0",
    .n_in = 1,
    .in[0] = { { .ndim = 2, .d = { 2, 3 } }, R_log_2x3_0_in0 },
    .requires_grad = { true },
    .out = { { .ndim = 2, .d = { 2, 3 } }, R_log_2x3_0_out },
    .grad_output = R_log_2x3_0_go,
    .grads = { R_log_2x3_0_g0 },
};

/* sqrt/5/0  attrs {} */
static const ag_real R_sqrt_5_0_in0[] = {
    2.1648716926574707, 3.810711145401001, 1.318841576576233, 3.027043581008911,
    2.1215813159942627
};
static const ag_real R_sqrt_5_0_out[] = {
    1.4713502957003375, 1.9521042865075116, 1.1484082795662145, 1.7398401021383865,
    1.4565649027744225
};
static const ag_real R_sqrt_5_0_go[] = {
    0.6537277698516846, -0.22846409678459167, -0.48159828782081604, 1.4883723258972168,
    1.2611478567123413
};
static const ag_real R_sqrt_5_0_g0[] = {
    0.22215232217713368, -0.05851739027563284, -0.20968078008055158, 0.4277325037133878,
    0.43291852436858236
};
static const ref_case R_sqrt_5_0 = {
    .id = "sqrt/5/0",
    .n_in = 1,
    .in[0] = { { .ndim = 1, .d = { 5 } }, R_sqrt_5_0_in0 },
    .requires_grad = { true },
    .out = { { .ndim = 1, .d = { 5 } }, R_sqrt_5_0_out },
    .grad_output = R_sqrt_5_0_go,
    .grads = { R_sqrt_5_0_g0 },
};

/* sqrt/0d/0  attrs {} */
static const ag_real R_sqrt_0d_0_in0[] = { 3.882925271987915 };
static const ag_real R_sqrt_0d_0_out[] = { 1.970513961378583 };
static const ag_real R_sqrt_0d_0_go[] = { 0.8002731800079346 };
static const ag_real R_sqrt_0d_0_g0[] = { 0.20306204261756633 };
static const ref_case R_sqrt_0d_0 = {
    .id = "sqrt/0d/0",
    .n_in = 1,
    .in[0] = { { .ndim = 0 }, R_sqrt_0d_0_in0 },
    .requires_grad = { true },
    .out = { { .ndim = 0 }, R_sqrt_0d_0_out },
    .grad_output = R_sqrt_0d_0_go,
    .grads = { R_sqrt_0d_0_g0 },
};

/* abs/2x3/0  attrs {} */
static const ag_real R_abs_2x3_0_in0[] = {
    -0.44669920206069946, 0.20437739789485931, 0.612232506275177, 0.7448845505714417,
    -0.0362812876701355, -0.8323953747749329
};
static const ag_real R_abs_2x3_0_out[] = {
    0.44669920206069946, 0.20437739789485931, 0.612232506275177, 0.7448845505714417,
    0.0362812876701355, 0.8323953747749329
};
static const ag_real R_abs_2x3_0_go[] = {
    1.923815369606018, -0.6059813499450684, 1.8035889863967896, -0.45252496004104614,
    1.161285638809204, 1.0699654817581177
};
static const ag_real R_abs_2x3_0_g0[] = {
    -1.923815369606018, -0.6059813499450684, 1.8035889863967896, -0.45252496004104614,
    -1.161285638809204, -1.0699654817581177
};
static const ref_case R_abs_2x3_0 = {
    .id = "abs/2x3/0",
    .n_in = 1,
    .in[0] = { { .ndim = 2, .d = { 2, 3 } }, R_abs_2x3_0_in0 },
    .requires_grad = { true },
    .out = { { .ndim = 2, .d = { 2, 3 } }, R_abs_2x3_0_out },
    .grad_output = R_abs_2x3_0_go,
    .grads = { R_abs_2x3_0_g0 },
};

/* sin/5/0  attrs {} */
static const ag_real R_sin_5_0_in0[] = {
    0.3723604381084442, 0.552205502986908, -0.49403297901153564, -0.24177862703800201,
    -0.5211212038993835
};
static const ag_real R_sin_5_0_out[] = {
    0.36381512351737066, 0.5245662015477024, -0.4741804810839119, -0.23942989751362737,
    -0.4978528275745645
};
static const ag_real R_sin_5_0_go[] = {
    0.4230031967163086, -0.13424856960773468, -1.7877377271652222, -0.1858108639717102,
    2.2347216606140137
};
static const ag_real R_sin_5_0_g0[] = {
    0.3940152860464944, -0.11429515923787205, -1.5739737507925695, -0.18040630495415308,
    1.9380881273560933
};
static const ref_case R_sin_5_0 = {
    .id = "sin/5/0",
    .n_in = 1,
    .in[0] = { { .ndim = 1, .d = { 5 } }, R_sin_5_0_in0 },
    .requires_grad = { true },
    .out = { { .ndim = 1, .d = { 5 } }, R_sin_5_0_out },
    .grad_output = R_sin_5_0_go,
    .grads = { R_sin_5_0_g0 },
};

/* cos/2x3/0  attrs {} */
static const ag_real R_cos_2x3_0_in0[] = {
    -5.108930587768555, 0.27055588364601135, 1.447501301765442, 2.9163856506347656,
    -3.0120580196380615, -1.3593266010284424
};
static const ag_real R_cos_2x3_0_out[] = {
    0.38623062930505025, 0.9636224758242007, 0.12298288080544728, -0.9747479025079538,
    -0.9916221136722062, 0.20989711141792758
};
static const ag_real R_cos_2x3_0_go[] = {
    1.7032395601272583, 0.4503948390483856, -0.9137393832206726, -0.5340895652770996,
    -0.8339414000511169, 0.17360152304172516
};
static const ag_real R_cos_2x3_0_g0[] = {
    -1.571071993485394, -0.12037574047175836, 0.9068029977764189, 0.11926654880990946,
    -0.10772245341250729, 0.1697342851773002
};
static const ref_case R_cos_2x3_0 = {
    .id = "cos/2x3/0",
    .n_in = 1,
    .in[0] = { { .ndim = 2, .d = { 2, 3 } }, R_cos_2x3_0_in0 },
    .requires_grad = { true },
    .out = { { .ndim = 2, .d = { 2, 3 } }, R_cos_2x3_0_out },
    .grad_output = R_cos_2x3_0_go,
    .grads = { R_cos_2x3_0_g0 },
};

/* relu/2x3/0  attrs {} */
static const ag_real R_relu_2x3_0_in0[] = {
    0.4340763986110687, 1.332291603088379, 0.019660910591483116, 1.2031171321868896,
    -0.04745727404952049, -0.4467805027961731
};
static const ag_real R_relu_2x3_0_out[] = {
    0.4340763986110687, 1.332291603088379, 0.019660910591483116, 1.2031171321868896, 0.0, 0.0
};
static const ag_real R_relu_2x3_0_go[] = {
    1.54899263381958, -0.07221994549036026, -1.0676084756851196, 0.6640039086341858,
    -0.20988117158412933, 0.2154824137687683
};
static const ag_real R_relu_2x3_0_g0[] = {
    1.54899263381958, -0.07221994549036026, -1.0676084756851196, 0.6640039086341858, 0.0, 0.0
};
static const ref_case R_relu_2x3_0 = {
    .id = "relu/2x3/0",
    .n_in = 1,
    .in[0] = { { .ndim = 2, .d = { 2, 3 } }, R_relu_2x3_0_in0 },
    .requires_grad = { true },
    .out = { { .ndim = 2, .d = { 2, 3 } }, R_relu_2x3_0_out },
    .grad_output = R_relu_2x3_0_go,
    .grads = { R_relu_2x3_0_g0 },
};

/* relu/0d/0  attrs {} */
static const ag_real R_relu_0d_0_in0[] = { -0.6104182600975037 };
static const ag_real R_relu_0d_0_out[] = { 0.0 };
static const ag_real R_relu_0d_0_go[] = { -0.8051507472991943 };
static const ag_real R_relu_0d_0_g0[] = { 0.0 };
static const ref_case R_relu_0d_0 = {
    .id = "relu/0d/0",
    .n_in = 1,
    .in[0] = { { .ndim = 0 }, R_relu_0d_0_in0 },
    .requires_grad = { true },
    .out = { { .ndim = 0 }, R_relu_0d_0_out },
    .grad_output = R_relu_0d_0_go,
    .grads = { R_relu_0d_0_g0 },
};

/* sigmoid/2x2x3/0  attrs {} */
static const ag_real R_sigmoid_2x2x3_0_in0[] = {
    -0.9917807579040527, -0.39539673924446106, -0.21650762856006622, 2.057512044906616,
    -1.5582106113433838, 1.6706634759902954, -2.972912311553955, 3.815556287765503,
    -1.8868803977966309, -0.5959548950195312, -0.4259795844554901, -0.2589682638645172
};
static const ag_real R_sigmoid_2x2x3_0_out[] = {
    0.2705604881459223, 0.40241882345457436, 0.44608354214869933, 0.8867044711899391,
    0.17390356260372636, 0.8416642596814936, 0.048664715917730375, 0.9784492075342802,
    0.13160057384431775, 0.3552696943770309, 0.39508677720297386, 0.43561734868397817
};
static const ag_real R_sigmoid_2x2x3_0_go[] = {
    1.064672827720642, -0.8683791160583496, 1.5613393783569336, 1.0415719747543335,
    -1.5740394592285156, 0.018605312332510948, -0.43879222869873047, -0.4528418183326721,
    -0.24529507756233215, 0.6649276614189148, 0.2459612935781479, 1.483694076538086
};
static const ag_real R_sigmoid_2x2x3_0_g0[] = {
    0.2101211786696471, -0.20882599837699087, 0.3857960553307272, 0.10463595807689087,
    -0.22612826143318626, 0.0024794468768341536, -0.02031452745328621, -0.009548783706928257,
    -0.028032778401496393, 0.1523037678127556, 0.05878308048563004, 0.3647734205526804
};
static const ref_case R_sigmoid_2x2x3_0 = {
    .id = "sigmoid/2x2x3/0",
    .n_in = 1,
    .in[0] = { { .ndim = 3, .d = { 2, 2, 3 } }, R_sigmoid_2x2x3_0_in0 },
    .requires_grad = { true },
    .out = { { .ndim = 3, .d = { 2, 2, 3 } }, R_sigmoid_2x2x3_0_out },
    .grad_output = R_sigmoid_2x2x3_0_go,
    .grads = { R_sigmoid_2x2x3_0_g0 },
};

/* sigmoid/0d/0  attrs {} */
static const ag_real R_sigmoid_0d_0_in0[] = { -0.1387435644865036 };
static const ag_real R_sigmoid_0d_0_out[] = { 0.4653696432831893 };
static const ag_real R_sigmoid_0d_0_go[] = { 1.0 };
static const ag_real R_sigmoid_0d_0_g0[] = { 0.24880073839366645 };
static const ref_case R_sigmoid_0d_0 = {
    .id = "sigmoid/0d/0",
    .n_in = 1,
    .in[0] = { { .ndim = 0 }, R_sigmoid_0d_0_in0 },
    .requires_grad = { true },
    .out = { { .ndim = 0 }, R_sigmoid_0d_0_out },
    .grad_output = R_sigmoid_0d_0_go,
    .grads = { R_sigmoid_0d_0_g0 },
};

/* tanh/2x3/0  attrs {} */
static const ag_real R_tanh_2x3_0_in0[] = {
    -0.717454195022583, -1.7914179563522339, 2.449169397354126, -1.2588801383972168,
    2.477872133255005, -0.2240142971277237
};
static const ag_real R_tanh_2x3_0_out[] = {
    -0.6153298958492762, -0.9459100118740842, 0.9851925211374014, -0.8507550807574308,
    0.9860128361470171, -0.22034082492951443
};
static const ag_real R_tanh_2x3_0_go[] = {
    -1.1010433435440063, -1.1237337589263916, -0.6597447395324707, 0.2156195193529129,
    0.48410487174987793, 1.4761289358139038
};
static const ag_real R_tanh_2x3_0_g0[] = {
    -0.6841543326605704, -0.118277753362108, -0.019393655995474785, 0.0595575164306392,
    0.01344779768491489, 1.4044627591731424
};
static const ref_case R_tanh_2x3_0 = {
    .id = "tanh/2x3/0",
    .n_in = 1,
    .in[0] = { { .ndim = 2, .d = { 2, 3 } }, R_tanh_2x3_0_in0 },
    .requires_grad = { true },
    .out = { { .ndim = 2, .d = { 2, 3 } }, R_tanh_2x3_0_out },
    .grad_output = R_tanh_2x3_0_go,
    .grads = { R_tanh_2x3_0_g0 },
};

/* tanh/0d/0  attrs {} */
static const ag_real R_tanh_0d_0_in0[] = { 0.5503841638565063 };
static const ag_real R_tanh_0d_0_out[] = { 0.5008080787664658 };
static const ag_real R_tanh_0d_0_go[] = { 0.8140761852264404 };
static const ag_real R_tanh_0d_0_g0[] = { 0.6098987696556027 };
static const ref_case R_tanh_0d_0 = {
    .id = "tanh/0d/0",
    .n_in = 1,
    .in[0] = { { .ndim = 0 }, R_tanh_0d_0_in0 },
    .requires_grad = { true },
    .out = { { .ndim = 0 }, R_tanh_0d_0_out },
    .grad_output = R_tanh_0d_0_go,
    .grads = { R_tanh_0d_0_g0 },
};

static double P2 = 2, P3 = 3, P05 = 0.5, PM15 = -1.5;

DEF_FN(f_pow, ag_pow(in[0], *(const double *)user))
DEF_FN(f_exp, ag_exp(in[0]))
DEF_FN(f_log, ag_log(in[0]))
DEF_FN(f_sqrt, ag_sqrt(in[0]))
DEF_FN(f_abs, ag_abs(in[0]))
DEF_FN(f_sign, ag_sign(in[0]))
DEF_FN(f_sin, ag_sin(in[0]))
DEF_FN(f_cos, ag_cos(in[0]))
DEF_FN(f_relu, ag_relu(in[0]))
DEF_FN(f_sigmoid, ag_sigmoid(in[0]))
DEF_FN(f_tanh, ag_tanh(in[0]))
/* piecewise-linear ops have a zero second derivative: square them so that the backward is
 * differentiated with an input-dependent incoming gradient */
static ag_tensor *sq(ag_tensor *t) { return ag_mul(t, t); }
DEF_FN(f_abs_sq, sq(ag_abs(in[0])))
DEF_FN(f_relu_sq, sq(ag_relu(in[0])))
DEF_FN(f_sign_times_x, ag_mul(ag_sign(in[0]), sq(in[0])))

Test(unary, pow_reference)
{
    run_ref_case(&R_pow_e2_0, f_pow, &P2);
    run_ref_case(&R_pow_e3_1, f_pow, &P3);
    run_ref_case(&R_pow_e0p5_0, f_pow, &P05);
    run_ref_case(&R_pow_em1p5_0, f_pow, &PM15);
    run_ref_case(&R_pow_em1p5_1, f_pow, &PM15);
    test_done();
}

Test(unary, elementwise_reference)
{
    run_ref_case(&R_exp_2x3_0, f_exp, NULL);
    run_ref_case(&R_exp_0d_0, f_exp, NULL);
    run_ref_case(&R_log_2x3_0, f_log, NULL);
    run_ref_case(&R_sqrt_5_0, f_sqrt, NULL);
    run_ref_case(&R_sqrt_0d_0, f_sqrt, NULL);
    run_ref_case(&R_abs_2x3_0, f_abs, NULL);
    run_ref_case(&R_sin_5_0, f_sin, NULL);
    run_ref_case(&R_cos_2x3_0, f_cos, NULL);
    test_done();
}

Test(unary, activation_reference)
{
    run_ref_case(&R_relu_2x3_0, f_relu, NULL);
    run_ref_case(&R_relu_0d_0, f_relu, NULL);
    run_ref_case(&R_sigmoid_2x2x3_0, f_sigmoid, NULL);
    run_ref_case(&R_sigmoid_0d_0, f_sigmoid, NULL);
    run_ref_case(&R_tanh_2x3_0, f_tanh, NULL);
    run_ref_case(&R_tanh_0d_0, f_tanh, NULL);
    test_done();
}

/* --- values and first derivatives against libm ------------------------------------------ */

typedef struct unary_ref {
    const char *name;
    ag_fn fn;
    void *user;
    double (*f)(double, double);  /* value */
    double (*df)(double, double); /* derivative */
    double p;
    bool positive; /* domain x > 0 */
} unary_ref;

static double v_pow(double x, double p) { return pow(x, p); }
static double d_pow(double x, double p) { return p * pow(x, p - 1); }
static double v_exp(double x, double p) { return (void)p, exp(x); }
static double v_log(double x, double p) { return (void)p, log(x); }
static double d_log(double x, double p) { return (void)p, 1 / x; }
static double v_sqrt(double x, double p) { return (void)p, sqrt(x); }
static double d_sqrt(double x, double p) { return (void)p, 0.5 / sqrt(x); }
static double v_sin(double x, double p) { return (void)p, sin(x); }
static double v_cos(double x, double p) { return (void)p, cos(x); }
static double d_cos(double x, double p) { return (void)p, -sin(x); }
static double v_tanh(double x, double p) { return (void)p, tanh(x); }
static double d_tanh(double x, double p) { return (void)p, 1 - tanh(x) * tanh(x); }
static double v_sigmoid(double x, double p) { return (void)p, 1 / (1 + exp(-x)); }
static double d_sigmoid(double x, double p)
{
    double s = v_sigmoid(x, p);
    return s * (1 - s);
}

static const unary_ref UNARY[] = {
    { "pow2", f_pow, &P2, v_pow, d_pow, 2, false },
    { "pow3", f_pow, &P3, v_pow, d_pow, 3, false },
    { "pow0.5", f_pow, &P05, v_pow, d_pow, 0.5, true },
    { "pow-1.5", f_pow, &PM15, v_pow, d_pow, -1.5, true },
    { "exp", f_exp, NULL, v_exp, v_exp, 0, false },
    { "log", f_log, NULL, v_log, d_log, 0, true },
    { "sqrt", f_sqrt, NULL, v_sqrt, d_sqrt, 0, true },
    { "sin", f_sin, NULL, v_sin, v_cos, 0, false },
    { "cos", f_cos, NULL, v_cos, d_cos, 0, false },
    { "tanh", f_tanh, NULL, v_tanh, d_tanh, 0, false },
    { "sigmoid", f_sigmoid, NULL, v_sigmoid, d_sigmoid, 0, false },
};
#define N_UNARY (sizeof UNARY / sizeof UNARY[0])

Test(unary, values_and_grads_against_libm)
{
    const ag_real any[] = { -3.5, -1.25, -0.5, -1e-3, 0, 0.75, 1, 2.5, 4 };
    const ag_real pos[] = { 1e-3, 0.1, 0.5, 1, 1.5, 2, 3.75, 10, 100 };
    const ag_real go[] = { 1, -2, 0.5, 3, -1, 0.25, 2, -0.75, 1.5 };
    for (size_t k = 0; k < N_UNARY; k++) {
        const unary_ref *u = &UNARY[k];
        const ag_real *xv = u->positive ? pos : any;
        ag_tensor *x = leaf(xv, AG_SHAPE(3, 3), true);
        ag_tensor *y = u->fn(&x, 1, u->user);
        expect_shape(y, AG_SHAPE(3, 3));
        ag_real ey[9], eg[9];
        for (int i = 0; i < 9; i++) {
            ey[i] = u->f(xv[i], u->p);
            eg[i] = go[i] * u->df(xv[i], u->p);
        }
        cr_log_info("%s", u->name);
        expect_tensor(y, ey, 9, 1e-14, 1e-300);
        backward_with(y, go);
        expect_tensor(ag_grad(x), eg, 9, 1e-13, 1e-300);
    }
    test_done();
}

Test(unary, pow_special_exponents)
{
    ag_tensor *x = leaf((const ag_real[]){ -2, -0.5, 0.5, 3 }, AG_SHAPE(4), true);
    /* squares and cubes of negative numbers */
    EXPECT_VALUES(ag_pow(x, 2), 0, 4, 0.25, 0.25, 9);
    EXPECT_VALUES(ag_pow(x, 3), 0, -8, -0.125, 0.125, 27);
    BACKWARD_WITH(ag_pow(x, 3), 1, 1, 1, 1);
    EXPECT_VALUES(ag_grad(x), 1e-15, 12, 0.75, 0.75, 27);
    /* exponent 1: identity; exponent 0: ones with a zero gradient */
    EXPECT_VALUES(ag_pow(x, 1), 0, -2, -0.5, 0.5, 3);
    ag_zero_grad(x);
    BACKWARD_WITH(ag_pow(x, 0), 1, 2, 3, 4);
    EXPECT_VALUES(ag_grad(x), 0, 0, 0, 0, 0);
    EXPECT_VALUES(ag_pow(x, 0), 0, 1, 1, 1, 1);
    /* 0-d */
    ag_tensor *s = leaf((const ag_real[]){ 4 }, AG_SCALAR, true);
    ag_tensor *y = ag_pow(s, -1.5);
    expect_shape(y, AG_SCALAR);
    EXPECT_VALUES(y, 1e-16, 0.125);
    test_done();
}

/* --- kinks and saturation ---------------------------------------------------------------- */

Test(unary, abs_relu_sign_at_zero)
{
    ag_tensor *x = leaf((const ag_real[]){ -2, 0, 3, -0.0 }, AG_SHAPE(4), true);
    const ag_real go[] = { 5, 7, 11, 13 };
    EXPECT_VALUES(ag_abs(x), 0, 2, 0, 3, 0);
    backward_with(ag_abs(x), go);
    EXPECT_VALUES(ag_grad(x), 0, -5, 0, 11, 0); /* abs'(0) = 0 */
    ag_zero_grad(x);
    EXPECT_VALUES(ag_relu(x), 0, 0, 0, 3, 0);
    backward_with(ag_relu(x), go);
    EXPECT_VALUES(ag_grad(x), 0, 0, 0, 11, 0); /* relu'(0) = 0 */
    ag_zero_grad(x);
    ag_tensor *s = ag_sign(x);
    EXPECT_VALUES(s, 0, -1, 0, 1, 0);
    backward_with(ag_add(s, x), go); /* sign contributes nothing */
    EXPECT_VALUES(ag_grad(x), 0, 5, 7, 11, 13);
    test_done();
}

Test(unary, sigmoid_and_tanh_saturate_finitely)
{
    ag_tensor *x = leaf((const ag_real[]){ -1000, -100, 100, 1000, -40, 40 }, AG_SHAPE(6), true);
    ag_tensor *y = ag_sigmoid(x);
    const double e100 = exp(-100.0);
    const ag_real ys[] = { 0, e100 / (1 + e100), 1 / (1 + e100), 1, exp(-40.0) / (1 + exp(-40.0)),
                           1 / (1 + exp(-40.0)) };
    expect_tensor(y, ys, 6, 1e-14, 1e-300);
    BACKWARD_WITH(y, 1, 1, 1, 1, 1, 1);
    ag_tensor *g = ag_grad(x);
    cr_assert(g);
    for (int i = 0; i < 6; i++)
        cr_expect(isfinite(ag_cdata(g)[i]) && ag_cdata(g)[i] >= 0, "sigmoid grad %d = %g", i,
                  ag_cdata(g)[i]);
    /* sigmoid'(-100) = s(1-s), about 3.7e-44: tiny but right */
    cr_expect(fabs(ag_cdata(g)[1] - ys[1] * (1 - ys[1])) <= 1e-14 * ys[1]);
    cr_expect(ag_cdata(g)[0] == 0 && ag_cdata(g)[3] == 0);

    ag_zero_grad(x);
    ag_tensor *t = ag_tanh(x);
    EXPECT_VALUES(t, 0, -1, -1, 1, 1, -1, 1);
    BACKWARD_WITH(t, 1, 1, 1, 1, 1, 1);
    for (int i = 0; i < 6; i++)
        cr_expect(ag_cdata(ag_grad(x))[i] == 0, "tanh grad %d = %g", i, ag_cdata(ag_grad(x))[i]);
    test_done();
}

Test(unary, sigmoid_symmetry)
{
    /* sigmoid(-x) = 1 - sigmoid(x) on both branches of the stable formula */
    ag_tensor *x = leaf((const ag_real[]){ 0, 0.5, 3, 20 }, AG_SHAPE(4), false);
    ag_tensor *a = ag_sigmoid(x), *b = ag_sigmoid(ag_neg(x));
    cr_assert(a && b);
    for (int i = 0; i < 4; i++)
        cr_expect(fabs(ag_cdata(a)[i] + ag_cdata(b)[i] - 1) <= 1e-15);
    /* within 2 ulp of libm (vmath.h's exp is accurate to 2 ulp of double) */
    EXPECT_VALUES(a, 4.5e-16, 0.5, 1 / (1 + exp(-0.5)), 1 / (1 + exp(-3.0)), 1 / (1 + exp(-20.0)));
    test_done();
}

/* --- gradcheck / gradgradcheck ----------------------------------------------------------- */

Test(unary, gradchecks)
{
    ag_manual_seed(7);
    ag_shape shapes[] = { AG_SHAPE(2, 3), AG_SCALAR, AG_SHAPE(2, 2, 3) };
    for (int s = 0; s < 3; s++) {
        ag_tensor *xa = signed_leaf(shapes[s], 0.2, 2, true); /* away from kinks */
        ag_tensor *xp = uniform_leaf(shapes[s], 0.3, 3, true); /* positive */
        for (size_t k = 0; k < N_UNARY; k++) {
            ag_tensor *x = UNARY[k].positive ? xp : xa;
            cr_log_info("%s", UNARY[k].name);
            expect_gradchecks(UNARY[k].fn, &x, 1, UNARY[k].user);
        }
        expect_gradcheck(f_abs, &xa, 1, NULL);
        expect_gradgradcheck(f_abs_sq, &xa, 1, NULL);
        expect_gradcheck(f_relu, &xa, 1, NULL);
        expect_gradgradcheck(f_relu_sq, &xa, 1, NULL);
        expect_gradcheck(f_sign, &xa, 1, NULL); /* zero both ways */
        expect_gradchecks(f_sign_times_x, &xa, 1, NULL);
    }
    test_done();
}

Test(unary, gradcheck_sigmoid_tanh_wide_range)
{
    ag_tensor *x = leaf((const ag_real[]){ -8, -3, -0.5, 0, 0.5, 3, 8 }, AG_SHAPE(7), true);
    expect_gradchecks(f_sigmoid, &x, 1, NULL);
    expect_gradchecks(f_tanh, &x, 1, NULL);
    test_done();
}

Test(unary, null_propagates)
{
    cr_expect(ag_exp(ag_log(ag_pow(NULL, 2))) == NULL);
    ag_clear_error();
    test_done();
}
