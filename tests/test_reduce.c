/* test_reduce.c — sum, mean, max, logsumexp: over everything, one dim, several dims, negative
 * dims, keepdim on and off. Values and gradients against PyTorch's float64 numbers
 * (tests/data/public.jsonl) and against a naive reducer for every subset of dims of a 4-d
 * tensor; max's gradient to the arg-max; logsumexp at large magnitudes; accuracy of long
 * sums; the errors for bad and repeated dims; gradcheck / gradgradcheck. */
#include "test_util.h"

/* --- reference cases (PyTorch 1.13, float64), copied from tests/data/public.jsonl ------- */

/* sum/2x3_dall_k0/0  attrs {"dim": null, "keepdim": false} */
static const ag_real R_sum_2x3_dall_k0_0_in0[] = {
    0.13219566643238068, -0.9443178772926331, 0.17137537896633148, -0.8571383953094482,
    0.7672627568244934, -1.2680350542068481
};
static const ag_real R_sum_2x3_dall_k0_0_out[] = { -1.9986575245857239 };
static const ag_real R_sum_2x3_dall_k0_0_go[] = { -0.8806820511817932 };
static const ag_real R_sum_2x3_dall_k0_0_g0[] = {
    -0.8806820511817932, -0.8806820511817932, -0.8806820511817932, -0.8806820511817932,
    -0.8806820511817932, -0.8806820511817932
};
static const ref_case R_sum_2x3_dall_k0_0 = {
    .id = "sum/2x3_dall_k0/0",
    .n_in = 1,
    .in[0] = { { .ndim = 2, .d = { 2, 3 } }, R_sum_2x3_dall_k0_0_in0 },
    .requires_grad = { true },
    .out = { { .ndim = 0 }, R_sum_2x3_dall_k0_0_out },
    .grad_output = R_sum_2x3_dall_k0_0_go,
    .grads = { R_sum_2x3_dall_k0_0_g0 },
};

/* sum/2x3x4_d0_2_k1/0  attrs {"dim": [0, 2], "keepdim": true} */
static const ag_real R_sum_2x3x4_d0_2_k1_0_in0[] = {
    -0.4284203052520752, -1.452583909034729, -0.8241627812385559, -1.532400369644165,
    -1.5564754009246826, -1.0051017999649048, 0.07495070993900299, -0.18419459462165833,
    -0.1804111897945404, -1.2288957834243774, -1.7100011110305786, -0.32787448167800903,
    -0.6909359693527222, -1.4697248935699463, -1.8546171188354492, 0.1839977651834488,
    1.2134268283843994, 0.11180348694324493, 0.11012096703052521, -0.2851593494415283,
    -0.8667796850204468, -0.07772829383611679, -1.7663954496383667, 0.6563224792480469
};
static const ag_real R_sum_2x3x4_d0_2_k1_0_out[] = {
    -8.068847581744194, -1.5206291526556015, -5.501763515174389
};
static const ag_real R_sum_2x3x4_d0_2_k1_0_go[] = {
    -0.3166024088859558, 0.3836003541946411, 0.021380631253123283
};
static const ag_real R_sum_2x3x4_d0_2_k1_0_g0[] = {
    -0.3166024088859558, -0.3166024088859558, -0.3166024088859558, -0.3166024088859558,
    0.3836003541946411, 0.3836003541946411, 0.3836003541946411, 0.3836003541946411,
    0.021380631253123283, 0.021380631253123283, 0.021380631253123283, 0.021380631253123283,
    -0.3166024088859558, -0.3166024088859558, -0.3166024088859558, -0.3166024088859558,
    0.3836003541946411, 0.3836003541946411, 0.3836003541946411, 0.3836003541946411,
    0.021380631253123283, 0.021380631253123283, 0.021380631253123283, 0.021380631253123283
};
static const ref_case R_sum_2x3x4_d0_2_k1_0 = {
    .id = "sum/2x3x4_d0_2_k1/0",
    .n_in = 1,
    .in[0] = { { .ndim = 3, .d = { 2, 3, 4 } }, R_sum_2x3x4_d0_2_k1_0_in0 },
    .requires_grad = { true },
    .out = { { .ndim = 3, .d = { 1, 3, 1 } }, R_sum_2x3x4_d0_2_k1_0_out },
    .grad_output = R_sum_2x3x4_d0_2_k1_0_go,
    .grads = { R_sum_2x3x4_d0_2_k1_0_g0 },
};

/* sum/2x3x4_d-1_k0/0  attrs {"dim": -1, "keepdim": false} */
static const ag_real R_sum_2x3x4_dm1_k0_0_in0[] = {
    0.42253759503364563, 0.37194597721099854, 1.730271816253662, 0.7301899194717407,
    0.5797807574272156, 0.2330089807510376, -1.2156803607940674, -0.46142563223838806,
    0.10802853107452393, -0.17808733880519867, 0.4977516531944275, 0.06857392191886902,
    -0.867382824420929, 1.9896711111068726, 1.9259061813354492, 1.1416096687316895,
    0.10763029009103775, -0.0014285448705777526, 0.015537516213953495, 0.7483276128768921,
    -0.9946941137313843, 0.9266531467437744, 2.074859619140625, 0.7816609144210815
};
static const ag_real R_sum_2x3x4_dm1_k0_0_out[] = {
    3.254945307970047, -0.8643162548542023, 0.49626676738262177, 4.189804136753082,
    0.8700668743113056, 2.7884795665740967
};
static const ag_real R_sum_2x3x4_dm1_k0_0_go[] = {
    2.3529772758483887, 1.2836334705352783, -0.5959899425506592, 2.6204049587249756,
    -0.7922430634498596, 0.7080736756324768
};
static const ag_real R_sum_2x3x4_dm1_k0_0_g0[] = {
    2.3529772758483887, 2.3529772758483887, 2.3529772758483887, 2.3529772758483887,
    1.2836334705352783, 1.2836334705352783, 1.2836334705352783, 1.2836334705352783,
    -0.5959899425506592, -0.5959899425506592, -0.5959899425506592, -0.5959899425506592,
    2.6204049587249756, 2.6204049587249756, 2.6204049587249756, 2.6204049587249756,
    -0.7922430634498596, -0.7922430634498596, -0.7922430634498596, -0.7922430634498596,
    0.7080736756324768, 0.7080736756324768, 0.7080736756324768, 0.7080736756324768
};
static const ref_case R_sum_2x3x4_dm1_k0_0 = {
    .id = "sum/2x3x4_d-1_k0/0",
    .n_in = 1,
    .in[0] = { { .ndim = 3, .d = { 2, 3, 4 } }, R_sum_2x3x4_dm1_k0_0_in0 },
    .requires_grad = { true },
    .out = { { .ndim = 2, .d = { 2, 3 } }, R_sum_2x3x4_dm1_k0_0_out },
    .grad_output = R_sum_2x3x4_dm1_k0_0_go,
    .grads = { R_sum_2x3x4_dm1_k0_0_g0 },
};

/* sum/4_d0_k1/0  attrs {"dim": 0, "keepdim": true} */
static const ag_real R_sum_4_d0_k1_0_in0[] = {
    -1.2247196435928345, -1.1381251811981201, -0.3641805648803711, -0.35639435052871704
};
static const ag_real R_sum_4_d0_k1_0_out[] = { -3.0834197402000427 };
static const ag_real R_sum_4_d0_k1_0_go[] = { -0.5717599391937256 };
static const ag_real R_sum_4_d0_k1_0_g0[] = {
    -0.5717599391937256, -0.5717599391937256, -0.5717599391937256, -0.5717599391937256
};
static const ref_case R_sum_4_d0_k1_0 = {
    .id = "sum/4_d0_k1/0",
    .n_in = 1,
    .in[0] = { { .ndim = 1, .d = { 4 } }, R_sum_4_d0_k1_0_in0 },
    .requires_grad = { true },
    .out = { { .ndim = 1, .d = { 1 } }, R_sum_4_d0_k1_0_out },
    .grad_output = R_sum_4_d0_k1_0_go,
    .grads = { R_sum_4_d0_k1_0_g0 },
};

/* mean/2x3_dall_k0/0  attrs {"dim": null, "keepdim": false} */
static const ag_real R_mean_2x3_dall_k0_0_in0[] = {
    -0.5860652923583984, 0.5364476442337036, 1.4050356149673462, 0.21593300998210907,
    -0.9789552092552185, -0.5265166163444519
};
static const ag_real R_mean_2x3_dall_k0_0_out[] = { 0.010979858537515005 };
static const ag_real R_mean_2x3_dall_k0_0_go[] = { -1.5024335384368896 };
static const ag_real R_mean_2x3_dall_k0_0_g0[] = {
    -0.2504055897394816, -0.2504055897394816, -0.2504055897394816, -0.2504055897394816,
    -0.2504055897394816, -0.2504055897394816
};
static const ref_case R_mean_2x3_dall_k0_0 = {
    .id = "mean/2x3_dall_k0/0",
    .n_in = 1,
    .in[0] = { { .ndim = 2, .d = { 2, 3 } }, R_mean_2x3_dall_k0_0_in0 },
    .requires_grad = { true },
    .out = { { .ndim = 0 }, R_mean_2x3_dall_k0_0_out },
    .grad_output = R_mean_2x3_dall_k0_0_go,
    .grads = { R_mean_2x3_dall_k0_0_g0 },
};

/* mean/2x3_d0_k0/0  attrs {"dim": 0, "keepdim": false} */
static const ag_real R_mean_2x3_d0_k0_0_in0[] = {
    0.8013076186180115, 0.39583054184913635, 0.2935720980167389, -0.36140385270118713,
    0.47279301285743713, 1.0542070865631104
};
static const ag_real R_mean_2x3_d0_k0_0_out[] = {
    0.21995188295841217, 0.43431177735328674, 0.6738895922899246
};
static const ag_real R_mean_2x3_d0_k0_0_go[] = {
    -0.6604431867599487, -0.8168444037437439, 1.189010739326477
};
static const ag_real R_mean_2x3_d0_k0_0_g0[] = {
    -0.33022159337997437, -0.40842220187187195, 0.5945053696632385, -0.33022159337997437,
    -0.40842220187187195, 0.5945053696632385
};
static const ref_case R_mean_2x3_d0_k0_0 = {
    .id = "mean/2x3_d0_k0/0",
    .n_in = 1,
    .in[0] = { { .ndim = 2, .d = { 2, 3 } }, R_mean_2x3_d0_k0_0_in0 },
    .requires_grad = { true },
    .out = { { .ndim = 1, .d = { 3 } }, R_mean_2x3_d0_k0_0_out },
    .grad_output = R_mean_2x3_d0_k0_0_go,
    .grads = { R_mean_2x3_d0_k0_0_g0 },
};

/* mean/2x3x4_d0_2_k1/0  attrs {"dim": [0, 2], "keepdim": true} */
static const ag_real R_mean_2x3x4_d0_2_k1_0_in0[] = {
    -2.3184285163879395, -2.6172900199890137, -1.8147270679473877, 0.18174102902412415,
    0.15237420797348022, 0.4965050518512726, 0.07597728818655014, 1.5373798608779907,
    1.5757834911346436, 1.159010648727417, -1.155800223350525, 0.36357787251472473,
    -0.8662026524543762, -0.5007103681564331, -1.023362159729004, 0.010712427087128162,
    0.5441240668296814, 0.07869204878807068, -1.193368673324585, -1.526035189628601,
    -0.7620847821235657, -0.7776383757591248, 0.7842731475830078, -0.31928086280822754
};
static const ag_real R_mean_2x3x4_d0_2_k1_0_out[] = {
    -1.1185334160691127, 0.020706082694232464, 0.10848011448979378
};
static const ag_real R_mean_2x3x4_d0_2_k1_0_go[] = {
    -0.18866634368896484, -0.15693506598472595, 1.0968481302261353
};
static const ag_real R_mean_2x3x4_d0_2_k1_0_g0[] = {
    -0.023583292961120605, -0.023583292961120605, -0.023583292961120605,
    -0.023583292961120605, -0.019616883248090744, -0.019616883248090744,
    -0.019616883248090744, -0.019616883248090744, 0.1371060162782669, 0.1371060162782669,
    0.1371060162782669, 0.1371060162782669, -0.023583292961120605, -0.023583292961120605,
    -0.023583292961120605, -0.023583292961120605, -0.019616883248090744,
    -0.019616883248090744, -0.019616883248090744, -0.019616883248090744, 0.1371060162782669,
    0.1371060162782669, 0.1371060162782669, 0.1371060162782669
};
static const ref_case R_mean_2x3x4_d0_2_k1_0 = {
    .id = "mean/2x3x4_d0_2_k1/0",
    .n_in = 1,
    .in[0] = { { .ndim = 3, .d = { 2, 3, 4 } }, R_mean_2x3x4_d0_2_k1_0_in0 },
    .requires_grad = { true },
    .out = { { .ndim = 3, .d = { 1, 3, 1 } }, R_mean_2x3x4_d0_2_k1_0_out },
    .grad_output = R_mean_2x3x4_d0_2_k1_0_go,
    .grads = { R_mean_2x3x4_d0_2_k1_0_g0 },
};

/* mean/3x4_d1_k1/0  attrs {"dim": 1, "keepdim": true} */
static const ag_real R_mean_3x4_d1_k1_0_in0[] = {
    0.9525478482246399, -1.680674433708191, -1.811753749847412, -1.137304425239563,
    -0.8030726909637451, 1.3149408102035522, -0.018257535994052887, 0.2910045385360718,
    1.0748997926712036, -0.6978098750114441, -0.5783256888389587, -0.8474525213241577
};
static const ag_real R_mean_3x4_d1_k1_0_out[] = {
    -0.9192961901426315, 0.1961537804454565, -0.26217207312583923
};
static const ag_real R_mean_3x4_d1_k1_0_go[] = {
    0.7849046587944031, 1.6332762241363525, 0.25874248147010803
};
static const ag_real R_mean_3x4_d1_k1_0_g0[] = {
    0.19622616469860077, 0.19622616469860077, 0.19622616469860077, 0.19622616469860077,
    0.40831905603408813, 0.40831905603408813, 0.40831905603408813, 0.40831905603408813,
    0.06468562036752701, 0.06468562036752701, 0.06468562036752701, 0.06468562036752701
};
static const ref_case R_mean_3x4_d1_k1_0 = {
    .id = "mean/3x4_d1_k1/0",
    .n_in = 1,
    .in[0] = { { .ndim = 2, .d = { 3, 4 } }, R_mean_3x4_d1_k1_0_in0 },
    .requires_grad = { true },
    .out = { { .ndim = 2, .d = { 3, 1 } }, R_mean_3x4_d1_k1_0_out },
    .grad_output = R_mean_3x4_d1_k1_0_go,
    .grads = { R_mean_3x4_d1_k1_0_g0 },
};

/* max/2x3_dall_k0/0  attrs {"dim": null, "keepdim": false} */
static const ag_real R_max_2x3_dall_k0_0_in0[] = {
    -0.6232799887657166, -0.5203610062599182, -1.1123143434524536, 0.7311453819274902,
    -1.0629287958145142, -0.2546330690383911
};
static const ag_real R_max_2x3_dall_k0_0_out[] = { 0.7311453819274902 };
static const ag_real R_max_2x3_dall_k0_0_go[] = { 1.0 };
static const ag_real R_max_2x3_dall_k0_0_g0[] = { 0.0, 0.0, 0.0, 1.0, 0.0, 0.0 };
static const ref_case R_max_2x3_dall_k0_0 = {
    .id = "max/2x3_dall_k0/0",
    .n_in = 1,
    .in[0] = { { .ndim = 2, .d = { 2, 3 } }, R_max_2x3_dall_k0_0_in0 },
    .requires_grad = { true },
    .out = { { .ndim = 0 }, R_max_2x3_dall_k0_0_out },
    .grad_output = R_max_2x3_dall_k0_0_go,
    .grads = { R_max_2x3_dall_k0_0_g0 },
};

/* max/2x3_d1_k0/0  attrs {"dim": 1, "keepdim": false} */
static const ag_real R_max_2x3_d1_k0_0_in0[] = {
    -1.1689612865447998, -1.8994630575180054, -2.5399553775787354, -0.8899614810943604,
    0.21807849407196045, -0.3178155720233917
};
static const ag_real R_max_2x3_d1_k0_0_out[] = { -1.1689612865447998, 0.21807849407196045 };
static const ag_real R_max_2x3_d1_k0_0_go[] = { -0.22357489168643951, -1.0713798999786377 };
static const ag_real R_max_2x3_d1_k0_0_g0[] = {
    -0.22357489168643951, 0.0, 0.0, 0.0, -1.0713798999786377, 0.0
};
static const ref_case R_max_2x3_d1_k0_0 = {
    .id = "max/2x3_d1_k0/0",
    .n_in = 1,
    .in[0] = { { .ndim = 2, .d = { 2, 3 } }, R_max_2x3_d1_k0_0_in0 },
    .requires_grad = { true },
    .out = { { .ndim = 1, .d = { 2 } }, R_max_2x3_d1_k0_0_out },
    .grad_output = R_max_2x3_d1_k0_0_go,
    .grads = { R_max_2x3_d1_k0_0_g0 },
};

/* max/2x3x4_d0_k1/0  attrs {"dim": 0, "keepdim": true} */
static const ag_real R_max_2x3x4_d0_k1_0_in0[] = {
    -0.9316815733909607, -1.067702293395996, 0.21123366057872772, 2.047654867172241,
    -0.13637250661849976, -1.369280457496643, 1.2726233005523682, -0.9985663890838623,
    0.5575326681137085, -0.44265541434288025, 0.08108320832252502, 3.4326634407043457,
    -0.7475262880325317, -0.5866804122924805, 0.3752354383468628, -0.02194676361978054,
    -0.40607088804244995, -0.6884075403213501, 0.5904938578605652, 1.0773766040802002,
    -0.9520840644836426, -1.1364331245422363, 1.8299062252044678, -1.4251561164855957
};
static const ag_real R_max_2x3x4_d0_k1_0_out[] = {
    -0.7475262880325317, -0.5866804122924805, 0.3752354383468628, 2.047654867172241,
    -0.13637250661849976, -0.6884075403213501, 1.2726233005523682, 1.0773766040802002,
    0.5575326681137085, -0.44265541434288025, 1.8299062252044678, 3.4326634407043457
};
static const ag_real R_max_2x3x4_d0_k1_0_go[] = {
    0.7153334617614746, 0.4391273856163025, -1.1029695272445679, 0.7594935894012451,
    -1.103216290473938, -1.0895510911941528, -1.3895502090454102, 0.8342832326889038,
    -0.4493458569049835, 1.0852513313293457, -0.8101400136947632, 0.6146625876426697
};
static const ag_real R_max_2x3x4_d0_k1_0_g0[] = {
    0.0, 0.0, 0.0, 0.7594935894012451, -1.103216290473938, 0.0, -1.3895502090454102, 0.0,
    -0.4493458569049835, 1.0852513313293457, 0.0, 0.6146625876426697, 0.7153334617614746,
    0.4391273856163025, -1.1029695272445679, 0.0, 0.0, -1.0895510911941528, 0.0,
    0.8342832326889038, 0.0, 0.0, -0.8101400136947632, 0.0
};
static const ref_case R_max_2x3x4_d0_k1_0 = {
    .id = "max/2x3x4_d0_k1/0",
    .n_in = 1,
    .in[0] = { { .ndim = 3, .d = { 2, 3, 4 } }, R_max_2x3x4_d0_k1_0_in0 },
    .requires_grad = { true },
    .out = { { .ndim = 3, .d = { 1, 3, 4 } }, R_max_2x3x4_d0_k1_0_out },
    .grad_output = R_max_2x3x4_d0_k1_0_go,
    .grads = { R_max_2x3x4_d0_k1_0_g0 },
};

/* max/3x4_d-1_k1/0  attrs {"dim": -1, "keepdim": true} */
static const ag_real R_max_3x4_dm1_k1_0_in0[] = {
    1.4074106216430664, -0.08601351082324982, -1.1254527568817139, -0.3425709307193756,
    1.256737470626831, 0.7390938401222229, -0.3859880864620209, -1.7443723678588867,
    0.7155367732048035, 1.6309062242507935, 1.6485940217971802, 0.43279018998146057
};
static const ag_real R_max_3x4_dm1_k1_0_out[] = {
    1.4074106216430664, 1.256737470626831, 1.6485940217971802
};
static const ag_real R_max_3x4_dm1_k1_0_go[] = {
    -0.19102917611598969, -0.7861212491989136, -0.5726017951965332
};
static const ag_real R_max_3x4_dm1_k1_0_g0[] = {
    -0.19102917611598969, 0.0, 0.0, 0.0, -0.7861212491989136, 0.0, 0.0, 0.0, 0.0, 0.0,
    -0.5726017951965332, 0.0
};
static const ref_case R_max_3x4_dm1_k1_0 = {
    .id = "max/3x4_d-1_k1/0",
    .n_in = 1,
    .in[0] = { { .ndim = 2, .d = { 3, 4 } }, R_max_3x4_dm1_k1_0_in0 },
    .requires_grad = { true },
    .out = { { .ndim = 2, .d = { 3, 1 } }, R_max_3x4_dm1_k1_0_out },
    .grad_output = R_max_3x4_dm1_k1_0_go,
    .grads = { R_max_3x4_dm1_k1_0_g0 },
};

/* logsumexp/2x3_d1_k0/0  attrs {"dim": 1, "keepdim": false} */
static const ag_real R_logsumexp_2x3_d1_k0_0_in0[] = {
    -3.2995007038116455, 4.269103050231934, -0.05392877757549286, 4.768810272216797,
    -0.1489948332309723, -3.23663592338562
};
static const ag_real R_logsumexp_2x3_d1_k0_0_out[] = { 4.2827850578639355, 4.776429978245966 };
static const ag_real R_logsumexp_2x3_d1_k0_0_go[] = { 1.861565113067627, -0.8598270416259766 };
static const ag_real R_logsumexp_2x3_d1_k0_0_g0[] = {
    0.0009482729557560957, 1.836268613054833, 0.02434822705703747, -0.8533003098002081,
    -0.006242036199381865, -0.00028469562638664276
};
static const ref_case R_logsumexp_2x3_d1_k0_0 = {
    .id = "logsumexp/2x3_d1_k0/0",
    .n_in = 1,
    .in[0] = { { .ndim = 2, .d = { 2, 3 } }, R_logsumexp_2x3_d1_k0_0_in0 },
    .requires_grad = { true },
    .out = { { .ndim = 1, .d = { 2 } }, R_logsumexp_2x3_d1_k0_0_out },
    .grad_output = R_logsumexp_2x3_d1_k0_0_go,
    .grads = { R_logsumexp_2x3_d1_k0_0_g0 },
};

/* logsumexp/2x3x4_d1_2_k1/0  attrs {"dim": [1, 2], "keepdim": true} */
static const ag_real R_logsumexp_2x3x4_d1_2_k1_0_in0[] = {
    -0.8758164048194885, 3.297102212905884, 2.917546510696411, -4.052412986755371,
    0.0021095399279147387, -2.179069995880127, 1.0782763957977295, 3.624354124069214,
    -1.0349797010421753, 2.986445665359497, -1.8572885990142822, 4.344541072845459,
    -1.6513078212738037, -0.9266759157180786, 0.5939147472381592, -2.8011889457702637,
    3.099217653274536, -2.140033721923828, 1.227903127670288, -2.5782601833343506,
    0.21956589818000793, -0.021052351221442223, -0.7764818072319031, 0.9784383773803711
};
static const ag_real R_logsumexp_2x3x4_d1_2_k1_0_out[] = { 5.219828251431996, 3.514308899895571 };
static const ag_real R_logsumexp_2x3x4_d1_2_k1_0_go[] = {
    -1.1168322563171387, 1.521865725517273
};
static const ag_real R_logsumexp_2x3x4_d1_2_k1_0_g0[] = {
    -0.0025158405392293045, -0.1632896431719197, -0.1117171101296511, -0.0001049795590184829,
    -0.006052872198203324, -0.0006834193448574985, -0.017755578686909107,
    -0.22650737090798223, -0.002145652414165929, -0.11968568662232133, -0.0009428338206059682,
    -0.46543126892227465, 0.008689154084358821, 0.017934163989118776, 0.08204748454497571,
    0.0027516327601966872, 1.004857546344321, 0.005329991749908708, 0.1546688747583585,
    0.003438802254437962, 0.056427087070544286, 0.04435968498023076, 0.020840570776315882,
    0.12052073220450589
};
static const ref_case R_logsumexp_2x3x4_d1_2_k1_0 = {
    .id = "logsumexp/2x3x4_d1_2_k1/0",
    .n_in = 1,
    .in[0] = { { .ndim = 3, .d = { 2, 3, 4 } }, R_logsumexp_2x3x4_d1_2_k1_0_in0 },
    .requires_grad = { true },
    .out = { { .ndim = 3, .d = { 2, 1, 1 } }, R_logsumexp_2x3x4_d1_2_k1_0_out },
    .grad_output = R_logsumexp_2x3x4_d1_2_k1_0_go,
    .grads = { R_logsumexp_2x3x4_d1_2_k1_0_g0 },
};

/* logsumexp/5_d0_k0/0  attrs {"dim": 0, "keepdim": false} */
static const ag_real R_logsumexp_5_d0_k0_0_in0[] = {
    0.40489470958709717, -5.582888126373291, 4.011123180389404, 0.9054272174835205,
    3.107130527496338
};
static const ag_real R_logsumexp_5_d0_k0_0_out[] = { 4.401112581514751 };
static const ag_real R_logsumexp_5_d0_k0_0_go[] = { 1.0502127408981323 };
static const ag_real R_logsumexp_5_d0_k0_0_g0[] = {
    0.01930820550158499, 4.8448559397748935e-05, 0.7110612923202093, 0.031850805399815336,
    0.2879439891171247
};
static const ref_case R_logsumexp_5_d0_k0_0 = {
    .id = "logsumexp/5_d0_k0/0",
    .n_in = 1,
    .in[0] = { { .ndim = 1, .d = { 5 } }, R_logsumexp_5_d0_k0_0_in0 },
    .requires_grad = { true },
    .out = { { .ndim = 0 }, R_logsumexp_5_d0_k0_0_out },
    .grad_output = R_logsumexp_5_d0_k0_0_go,
    .grads = { R_logsumexp_5_d0_k0_0_g0 },
};

/* logsumexp/3x4_d0_k1/0  attrs {"dim": 0, "keepdim": true} */
static const ag_real R_logsumexp_3x4_d0_k1_0_in0[] = {
    1.0946155786514282, 0.0955207347869873, -2.680715560913086, 2.6104068756103516,
    2.3828237056732178, 0.8547439575195312, 0.4163416028022766, -1.3647351264953613,
    -2.5551583766937256, 1.483302116394043, 0.1604577898979187, -0.16116732358932495
};
static const ag_real R_logsumexp_3x4_d0_k1_0_out[] = {
    2.631972978500482, 2.061593167416774, 1.0148560132377642, 2.6886079576231006
};
static const ag_real R_logsumexp_3x4_d0_k1_0_go[] = {
    -0.5657647848129272, 0.2197067141532898, 0.9174131751060486, -0.4178030788898468
};
static const ag_real R_logsumexp_3x4_d0_k1_0_g0[] = {
    -0.12161022065555326, 0.030760183398078355, 0.02278235582994453, -0.3863752843417523,
    -0.4409930626917593, 0.06572269696815973, 0.5042355565424805, -0.007254827680792122,
    -0.0031615014656146815, 0.12322383378705168, 0.3903952627336235, -0.024172966867302272
};
static const ref_case R_logsumexp_3x4_d0_k1_0 = {
    .id = "logsumexp/3x4_d0_k1/0",
    .n_in = 1,
    .in[0] = { { .ndim = 2, .d = { 3, 4 } }, R_logsumexp_3x4_d0_k1_0_in0 },
    .requires_grad = { true },
    .out = { { .ndim = 2, .d = { 1, 4 } }, R_logsumexp_3x4_d0_k1_0_out },
    .grad_output = R_logsumexp_3x4_d0_k1_0_go,
    .grads = { R_logsumexp_3x4_d0_k1_0_g0 },
};

/* --- the reductions as ag_fn's: user is a `red` --------------------------------------- */

typedef struct red {
    bool all; /* over every element (dims/n ignored; keepdim false) */
    int n;
    int dims[4];
    bool keepdim;
} red;

static ag_tensor *f_sum(ag_tensor *const *in, int n, void *user)
{
    (void)n;
    const red *r = user;
    if (r->all)
        return ag_sum(in[0]);
    return r->n == 1 ? ag_sum_dim(in[0], r->dims[0], r->keepdim)
                     : ag_sum_dims(in[0], r->dims, r->n, r->keepdim);
}
static ag_tensor *f_mean(ag_tensor *const *in, int n, void *user)
{
    (void)n;
    const red *r = user;
    if (r->all)
        return ag_mean(in[0]);
    return r->n == 1 ? ag_mean_dim(in[0], r->dims[0], r->keepdim)
                     : ag_mean_dims(in[0], r->dims, r->n, r->keepdim);
}
static ag_tensor *f_max(ag_tensor *const *in, int n, void *user)
{
    (void)n;
    const red *r = user;
    return r->all ? ag_max(in[0]) : ag_max_dim(in[0], r->dims[0], r->keepdim);
}
static ag_tensor *f_lse(ag_tensor *const *in, int n, void *user)
{
    (void)n;
    const red *r = user;
    return r->n == 1 ? ag_logsumexp(in[0], r->dims[0], r->keepdim)
                     : ag_logsumexp_dims(in[0], r->dims, r->n, r->keepdim);
}
/* sum, mean and max are (piecewise) linear: square the result for gradgradcheck, so that
 * their backward gets an input-dependent gradient to differentiate */
static ag_tensor *sq(ag_tensor *t) { return ag_mul(t, t); }
DEF_FN(f_sum_sq, sq(f_sum(in, n, user)))
DEF_FN(f_mean_sq, sq(f_mean(in, n, user)))
DEF_FN(f_max_sq, sq(f_max(in, n, user)))

Test(reduce, sum_mean_reference)
{
    red all = { .all = true }, d02k = { .n = 2, .dims = { 0, 2 }, .keepdim = true };
    red dm1 = { .n = 1, .dims = { -1 } }, d0k = { .n = 1, .dims = { 0 }, .keepdim = true };
    red d0 = { .n = 1, .dims = { 0 } }, d1k = { .n = 1, .dims = { 1 }, .keepdim = true };
    run_ref_case(&R_sum_2x3_dall_k0_0, f_sum, &all);
    run_ref_case(&R_sum_2x3x4_d0_2_k1_0, f_sum, &d02k);
    run_ref_case(&R_sum_2x3x4_dm1_k0_0, f_sum, &dm1);
    run_ref_case(&R_sum_4_d0_k1_0, f_sum, &d0k);
    run_ref_case(&R_mean_2x3_dall_k0_0, f_mean, &all);
    run_ref_case(&R_mean_2x3_d0_k0_0, f_mean, &d0);
    run_ref_case(&R_mean_2x3x4_d0_2_k1_0, f_mean, &d02k);
    run_ref_case(&R_mean_3x4_d1_k1_0, f_mean, &d1k);
    test_done();
}

Test(reduce, max_logsumexp_reference)
{
    red all = { .all = true }, d1 = { .n = 1, .dims = { 1 } };
    red d0k = { .n = 1, .dims = { 0 }, .keepdim = true };
    red dm1k = { .n = 1, .dims = { -1 }, .keepdim = true };
    red d12k = { .n = 2, .dims = { 1, 2 }, .keepdim = true }, d0 = { .n = 1, .dims = { 0 } };
    run_ref_case(&R_max_2x3_dall_k0_0, f_max, &all);
    run_ref_case(&R_max_2x3_d1_k0_0, f_max, &d1);
    run_ref_case(&R_max_2x3x4_d0_k1_0, f_max, &d0k);
    run_ref_case(&R_max_3x4_dm1_k1_0, f_max, &dm1k);
    run_ref_case(&R_logsumexp_2x3_d1_k0_0, f_lse, &d1);
    run_ref_case(&R_logsumexp_2x3x4_d1_2_k1_0, f_lse, &d12k);
    run_ref_case(&R_logsumexp_5_d0_k0_0, f_lse, &d0);
    run_ref_case(&R_logsumexp_3x4_d0_k1_0, f_lse, &d0k);
    test_done();
}

/* --- small hand-computed cases ------------------------------------------------------------ */

Test(reduce, sum_and_mean_by_hand)
{
    ag_tensor *x = leaf((const ag_real[]){ 1, 2, 3, 4, 5, 6 }, AG_SHAPE(2, 3), true);
    ag_tensor *s = ag_sum(x);
    expect_shape(s, AG_SCALAR);
    EXPECT_VALUES(s, 0, 21);
    ag_tensor *r = ag_sum_dim(x, 1, false);
    expect_shape(r, AG_SHAPE(2));
    EXPECT_VALUES(r, 0, 6, 15);
    ag_tensor *c = ag_sum_dim(x, -2, true);
    expect_shape(c, AG_SHAPE(1, 3));
    EXPECT_VALUES(c, 0, 5, 7, 9);
    ag_tensor *m = ag_mean_dim(x, 0, false);
    expect_shape(m, AG_SHAPE(3));
    EXPECT_VALUES(m, 0, 2.5, 3.5, 4.5);
    ag_tensor *ma = ag_mean(x);
    expect_shape(ma, AG_SCALAR);
    EXPECT_VALUES(ma, 0, 3.5);
    /* both dims, keepdim */
    int both[] = { 1, 0 };
    ag_tensor *k = ag_sum_dims(x, both, 2, true);
    expect_shape(k, AG_SHAPE(1, 1));
    EXPECT_VALUES(k, 0, 21);
    /* gradients: L = sum(go_r * r) + sum(go_m * m) */
    ag_tensor *L = ag_add(ag_sum(ag_mul(r, leaf((const ag_real[]){ 1, 10 }, AG_SHAPE(2), false))),
                          ag_sum(ag_mul(m, leaf((const ag_real[]){ 2, 4, 6 }, AG_SHAPE(3), false))));
    cr_assert(ag_backward(L) == AG_OK, "%s", ag_error_message());
    EXPECT_VALUES(ag_grad(x), 0, 1 + 1, 1 + 2, 1 + 3, 10 + 1, 10 + 2, 10 + 3);
    test_done();
}

Test(reduce, zero_d_input)
{
    ag_tensor *x = leaf((const ag_real[]){ 2.5 }, AG_SCALAR, true);
    ag_tensor *s = ag_sum_dim(x, 0, false);
    expect_shape(s, AG_SCALAR);
    EXPECT_VALUES(s, 0, 2.5);
    expect_shape(ag_sum_dim(x, -1, true), AG_SCALAR);
    expect_shape(ag_max_dim(x, 0, true), AG_SCALAR);
    expect_shape(ag_mean(x), AG_SCALAR);
    ag_tensor *l = ag_logsumexp(x, 0, false);
    expect_shape(l, AG_SCALAR);
    EXPECT_VALUES(l, 1e-15, 2.5);
    BACKWARD_WITH(ag_mul(ag_max(x), ag_mean_dim(x, 0, false)), 3);
    EXPECT_VALUES(ag_grad(x), 1e-15, 15);
    test_done();
}

Test(reduce, max_gradient_goes_to_argmax)
{
    ag_tensor *x = leaf((const ag_real[]){ 1, 9, 3, 7, -2, 5, -4, -1, -8 }, AG_SHAPE(3, 3), true);
    ag_tensor *m = ag_max_dim(x, 1, false);
    expect_shape(m, AG_SHAPE(3));
    EXPECT_VALUES(m, 0, 9, 7, -1);
    BACKWARD_WITH(m, 10, 20, 30);
    EXPECT_VALUES(ag_grad(x), 0, 0, 10, 0, 20, 0, 0, 0, 30, 0);
    ag_zero_grad(x);
    ag_tensor *c = ag_max_dim(x, 0, true);
    expect_shape(c, AG_SHAPE(1, 3));
    EXPECT_VALUES(c, 0, 7, 9, 5);
    BACKWARD_WITH(c, 1, 2, 3);
    EXPECT_VALUES(ag_grad(x), 0, 0, 2, 0, 1, 0, 3, 0, 0, 0);
    ag_zero_grad(x);
    ag_tensor *a = ag_max(x);
    expect_shape(a, AG_SCALAR);
    EXPECT_VALUES(a, 0, 9);
    BACKWARD_WITH(a, -4);
    EXPECT_VALUES(ag_grad(x), 0, 0, -4, 0, 0, 0, 0, 0, 0, 0);
    test_done();
}

Test(reduce, max_dim_tie_goes_to_first)
{
    /* torch.max(x, dim) returns the first index of a tie and sends the gradient there */
    ag_tensor *x = leaf((const ag_real[]){ 3, 1, 3, 2, 2, 0 }, AG_SHAPE(2, 3), true);
    BACKWARD_WITH(ag_max_dim(x, 1, false), 1, 1);
    EXPECT_VALUES(ag_grad(x), 0, 1, 0, 0, 1, 0, 0);
    test_done();
}

Test(reduce, logsumexp_large_magnitudes)
{
    ag_tensor *x = leaf((const ag_real[]){ 1000, 1000, -1000, -1000, 1000, 0, 1e4, -1e4 },
                        AG_SHAPE(4, 2), true);
    ag_tensor *y = ag_logsumexp(x, 1, false);
    expect_shape(y, AG_SHAPE(4));
    EXPECT_VALUES(y, 1e-15, 1000 + log(2.0), -1000 + log(2.0), 1000 + log1p(exp(-1000.0)), 1e4);
    BACKWARD_WITH(y, 1, 2, 3, 4);
    /* exp(x - y) with |x| ~ 1000 loses ~1e-13 to the subtraction (as in PyTorch) */
    EXPECT_VALUES(ag_grad(x), 1e-12, 0.5, 0.5, 1, 1, 3, 0, 4, 0);
    ag_zero_grad(x);
    /* over both dims, keepdim */
    int both[] = { -1, 0 };
    ag_tensor *z = ag_logsumexp_dims(x, both, 2, true);
    expect_shape(z, AG_SHAPE(1, 1));
    EXPECT_VALUES(z, 1e-15, 1e4);
    BACKWARD_WITH(z, 1);
    EXPECT_VALUES(ag_grad(x), 1e-300, 0, 0, 0, 0, 0, 0, 1, 0);
    test_done();
}

/* Regression (fixed): with a plain double accumulator in the double build,
 * summing 100000 copies of 0.1 one after another is off by 1.9e-8 (10000.000000018848); the
 * exact sum of the inputs is 10000.000000000000555 and PyTorch's cascade summation is good to
 * ~1e-12. Fixed with pairwise summation in reduce.c. */
Test(reduce, long_sum_is_accurate)
{
    enum { N = 100000 };
    ag_tensor *x = track(ag_full(AG_SHAPE(N), 0.1));
    ag_tensor *s = ag_sum(x);
    cr_assert(s);
    cr_expect(fabs(ag_item(s) - 10000) <= 1e-9, "sum = %.17g", ag_item(s));
    ag_tensor *m = ag_mean(x);
    cr_expect(fabs(ag_item(m) - 0.1) <= 1e-13, "mean = %.17g", ag_item(m));
    /* along a dim of a 2-d tensor, both the inner (contiguous) and the outer direction */
    ag_tensor *x2 = track(ag_full(AG_SHAPE(1000, 100), 0.1));
    ag_tensor *r = ag_sum_dim(x2, 0, false), *c = ag_sum_dim(x2, 1, false);
    cr_assert(r && c);
    for (int i = 0; i < 100; i++)
        cr_expect(fabs(ag_cdata(r)[i] - 100) <= 1e-11, "r[%d] = %.17g", i, ag_cdata(r)[i]);
    for (int i = 0; i < 1000; i++)
        cr_expect(fabs(ag_cdata(c)[i] - 10) <= 1e-12, "c[%d] = %.17g", i, ag_cdata(c)[i]);
    ag_tensor *l = ag_logsumexp(x, 0, false);
    cr_expect(fabs(ag_item(l) - (0.1 + log((double)N))) <= 1e-12, "lse = %.17g", ag_item(l));
    test_done();
}

/* --- every subset of dims of a 4-d tensor against a naive reducer -------------------------- */

static const ag_shape X4 = { 4, { 2, 3, 4, 5 } };

/* Position of flat index i of X4 in the keepdim-reduced output for dims in mask. */
static size_t out_index(size_t i, unsigned mask)
{
    size_t o = 0, stride = 1;
    for (int d = X4.ndim - 1; d >= 0; d--) {
        size_t k = i % (size_t)X4.d[d];
        i /= (size_t)X4.d[d];
        if (!(mask & (1u << d))) {
            o += k * stride;
            stride *= (size_t)X4.d[d];
        }
    }
    return o;
}

static ag_shape reduced(unsigned mask, bool keepdim)
{
    ag_shape s = { 0 };
    for (int d = 0; d < X4.ndim; d++) {
        if (!(mask & (1u << d)))
            s.d[s.ndim++] = X4.d[d];
        else if (keepdim)
            s.d[s.ndim++] = 1;
    }
    return s;
}

enum { KIND_SUM, KIND_MEAN, KIND_LSE, KIND_MAX };

/* The expected output and gradient (for grad_output go) of reduction `kind` over mask. */
static void naive(int kind, const ag_real *x, unsigned mask, const ag_real *go, ag_real *y,
                  ag_real *g)
{
    size_t n = ag_shape_numel(X4), m = ag_shape_numel(reduced(mask, false)), cnt = n / m;
    ag_real mx[120];
    size_t arg[120];
    for (size_t o = 0; o < m; o++)
        mx[o] = -INFINITY, y[o] = 0, arg[o] = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        size_t o = out_index(i, mask);
        if (arg[o] == SIZE_MAX || x[i] > mx[o])
            mx[o] = x[i], arg[o] = i;
    }
    for (size_t i = 0; i < n; i++) {
        size_t o = out_index(i, mask);
        y[o] += kind == KIND_LSE ? exp(x[i] - mx[o]) : x[i];
    }
    for (size_t o = 0; o < m; o++) {
        if (kind == KIND_MEAN)
            y[o] /= (ag_real)cnt;
        else if (kind == KIND_LSE)
            y[o] = mx[o] + log(y[o]);
        else if (kind == KIND_MAX)
            y[o] = mx[o];
    }
    for (size_t i = 0; i < n; i++) {
        size_t o = out_index(i, mask);
        g[i] = kind == KIND_SUM    ? go[o]
               : kind == KIND_MEAN ? go[o] / (ag_real)cnt
               : kind == KIND_LSE  ? go[o] * exp(x[i] - y[o])
                                   : (arg[o] == i ? go[o] : 0);
    }
}

static void check_all_masks(int kind)
{
    static const char *names[] = { "sum", "mean", "logsumexp", "max" };
    ag_manual_seed(11);
    ag_tensor *x = randn_leaf(X4, true);
    ag_real go[120], ey[120], eg[120];
    for (int i = 0; i < 120; i++)
        go[i] = (ag_real)(0.5 + 0.25 * (i % 7) - 0.1 * (i % 3));
    for (int mask = 1; mask <= 15; mask++) {
        int dims[4], nd = 0;
        for (int d = 0; d < 4; d++)
            if (mask & (1 << d))
                dims[nd++] = d;
        if (kind == KIND_MAX && nd != 1)
            continue;
        for (int neg = 0; neg < 2; neg++) {
            int dd[4];
            /* the same dims spelled negatively and in reverse order */
            for (int k = 0; k < nd; k++)
                dd[k] = neg ? dims[nd - 1 - k] - 4 : dims[k];
            for (int keep = 0; keep < 2; keep++) {
                ag_zero_grad(x);
                red r = { .n = nd, .keepdim = keep };
                memcpy(r.dims, dd, sizeof dd);
                ag_fn f = kind == KIND_SUM    ? f_sum
                          : kind == KIND_MEAN ? f_mean
                          : kind == KIND_LSE  ? f_lse
                                              : f_max;
                cr_log_info("%s mask %d neg %d keepdim %d", names[kind], mask, neg, keep);
                ag_tensor *y = f(&x, 1, &r);
                expect_shape(y, reduced((unsigned)mask, keep));
                naive(kind, ag_cdata(x), (unsigned)mask, go, ey, eg);
                expect_tensor(y, ey, ag_numel(y), 1e-13, 1e-13);
                backward_with(y, go);
                expect_tensor(ag_grad(x), eg, 120, 1e-13, 1e-13);
                ag_step_end();
            }
        }
    }
    /* everything, through the "all" entry points */
    if (kind != KIND_LSE) {
        red all = { .all = true };
        ag_tensor *y = kind == KIND_SUM    ? f_sum(&x, 1, &all)
                       : kind == KIND_MEAN ? f_mean(&x, 1, &all)
                                           : f_max(&x, 1, &all);
        expect_shape(y, AG_SCALAR);
        ag_zero_grad(x);
        naive(kind, ag_cdata(x), 15, go, ey, eg);
        expect_tensor(y, ey, 1, 1e-13, 1e-13);
        backward_with(y, go);
        expect_tensor(ag_grad(x), eg, 120, 1e-13, 1e-13);
    }
    test_done();
}

Test(reduce, sum_every_dim_subset) { check_all_masks(KIND_SUM); }
Test(reduce, mean_every_dim_subset) { check_all_masks(KIND_MEAN); }
Test(reduce, logsumexp_every_dim_subset) { check_all_masks(KIND_LSE); }
Test(reduce, max_every_dim) { check_all_masks(KIND_MAX); }

/* --- gradcheck / gradgradcheck ------------------------------------------------------------- */

Test(reduce, gradchecks)
{
    ag_manual_seed(5);
    ag_tensor *x = randn_leaf(AG_SHAPE(2, 3, 4), true);
    red cases[] = {
        { .all = true },
        { .n = 1, .dims = { 0 } },
        { .n = 1, .dims = { -1 }, .keepdim = true },
        { .n = 2, .dims = { 0, 2 }, .keepdim = true },
        { .n = 2, .dims = { -1, 1 } },
        { .n = 3, .dims = { 0, 1, 2 } },
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        red *r = &cases[k];
        expect_gradcheck(f_sum, &x, 1, r);
        expect_gradgradcheck(f_sum_sq, &x, 1, r);
        expect_gradcheck(f_mean, &x, 1, r);
        expect_gradgradcheck(f_mean_sq, &x, 1, r);
        if (!r->all) {
            expect_gradchecks(f_lse, &x, 1, r);
        }
        if (r->all || r->n == 1) {
            expect_gradcheck(f_max, &x, 1, r); /* randn: no ties */
            expect_gradgradcheck(f_max_sq, &x, 1, r);
        }
    }
    test_done();
}

Test(reduce, gradcheck_logsumexp_large)
{
    ag_tensor *x = leaf((const ag_real[]){ 1000, 999, 1001.5, -1000, -999.5, -1001 },
                        AG_SHAPE(2, 3), true);
    red d1 = { .n = 1, .dims = { 1 } };
    expect_gradchecks(f_lse, &x, 1, &d1);
    test_done();
}

/* --- errors -------------------------------------------------------------------------------- */

Test(reduce, bad_dims)
{
    ag_tensor *x = randn_leaf(AG_SHAPE(2, 3), true);
    expect_error(ag_sum_dim(x, 2, false), AG_ERR_ARG,
                 "sum: dimension 2 out of range for a 2-d tensor");
    expect_error(ag_sum_dim(x, -3, true), AG_ERR_ARG,
                 "sum: dimension -3 out of range for a 2-d tensor");
    expect_error(ag_max_dim(x, 5, false), AG_ERR_ARG,
                 "max: dimension 5 out of range for a 2-d tensor");
    expect_error(ag_logsumexp(x, -3, false), AG_ERR_ARG,
                 "logsumexp: dimension -3 out of range for a 2-d tensor");
    int rep[] = { 0, -2 };
    expect_error(ag_sum_dims(x, rep, 2, false), AG_ERR_ARG, "sum: dim 0 appears more than once");
    expect_error(ag_logsumexp_dims(x, rep, 2, true), AG_ERR_ARG,
                 "logsumexp: dim 0 appears more than once");
    int rep2[] = { 1, 1 };
    expect_error(ag_sum_dims(x, rep2, 2, false), AG_ERR_ARG, "sum: dim 1 appears more than once");
    ag_tensor *s = randn_leaf(AG_SCALAR, false);
    expect_error(ag_sum_dim(s, 1, false), AG_ERR_ARG,
                 "sum: dimension 1 out of range for a 0-d tensor");
    test_done();
}

Test(reduce, bad_dims_mean_names_mean)
{
    /* Regression (fixed): ag_mean_dim / ag_mean_dims go through ag_sum_dims and
     * report their errors as "sum: ..." */
    ag_tensor *x = randn_leaf(AG_SHAPE(2, 3), true);
    expect_error(ag_mean_dim(x, 2, false), AG_ERR_ARG,
                 "mean: dimension 2 out of range for a 2-d tensor");
    int rep[] = { 1, -1 };
    expect_error(ag_mean_dims(x, rep, 2, false), AG_ERR_ARG,
                 "mean: dim 1 appears more than once");
    test_done();
}
