/* test_smooth.c — silu, leaky_relu, elu, gelu, softplus, clamp, maximum, minimum, addcmul.
 *
 * Values and gradients from PyTorch 1.13 (the public.jsonl cases for the activations,
 * hand-derived ones for the broadcasting ops), gradients and second derivatives against
 * finite differences, the edge cases (bounds, ties, NaN, |x| = 1000) and the errors. */
#include <criterion/criterion.h>
#include "agrad.h"

#include <math.h>
#include <string.h>

/* The double build computes the float64 reference values almost exactly. */
#define RTOL 1e-9
#define ATOL 1e-12
#define PI 3.14159265358979323846

static void expect_values(const ag_tensor *t, const double *want, size_t n, const char *what)
{
    cr_assert_not_null(t, "%s: NULL (%s)", what, ag_error_message());
    cr_assert_eq(ag_numel(t), n, "%s: %zu elements, want %zu", what, ag_numel(t), n);
    const ag_real *d = ag_cdata(t);
    for (size_t i = 0; i < n; i++)
        cr_assert(fabs(d[i] - want[i]) <= ATOL + RTOL * fabs(want[i]),
                  "%s[%zu] = %.17g, want %.17g", what, i, (double)d[i], want[i]);
}

static ag_tensor *heap(const double *v, ag_shape s, bool grad)
{
    size_t n = ag_shape_numel(s);
    ag_real buf[64];
    cr_assert(n <= 64);
    for (size_t i = 0; i < n; i++)
        buf[i] = (ag_real)v[i];
    ag_tensor *t = ag_from(buf, n, s);
    cr_assert_not_null(t);
    return ag_set_requires_grad(t, grad);
}

/* Backward of y with grad_output go (heap, freed here). */
static void backward_with(ag_tensor *y, const double *go)
{
    ag_tensor *g = heap(go, ag_shape_of(y), false);
    cr_assert_eq(ag_backward_ex(y, (ag_backward_opts){ .grad_output = g }), AG_OK, "%s",
                 ag_error_message());
    ag_free(g);
}

static void expect_shape(const ag_tensor *t, ag_shape s)
{
    ag_shape got = ag_shape_of(t);
    char a[AG_SHAPE_STRLEN], b[AG_SHAPE_STRLEN];
    cr_assert(got.ndim == s.ndim && !memcmp(got.d, s.d, sizeof(int64_t) * (size_t)s.ndim),
              "shape %s, want %s", ag_shape_str(got, a), ag_shape_str(s, b));
}

static void expect_error(const char *needle)
{
    cr_assert_neq(ag_error(), AG_OK, "no error, expected one mentioning '%s'", needle);
    cr_assert_not_null(strstr(ag_error_message(), needle), "message '%s' lacks '%s'",
                       ag_error_message(), needle);
    ag_clear_error();
}

/* --- the activations, with their parameters in p ----------------------------------------- */

typedef ag_tensor *(*act_fn)(ag_tensor *x, const double *p);

static ag_tensor *w_silu(ag_tensor *x, const double *p) { return (void)p, ag_silu(x); }
static ag_tensor *w_leaky_relu(ag_tensor *x, const double *p) { return ag_leaky_relu(x, p[0]); }
static ag_tensor *w_elu(ag_tensor *x, const double *p) { return ag_elu(x, p[0]); }
static ag_tensor *w_gelu(ag_tensor *x, const double *p) { return ag_gelu(x, p[0] != 0); }
static ag_tensor *w_softplus(ag_tensor *x, const double *p) { return ag_softplus(x, p[0], p[1]); }
static ag_tensor *w_clamp(ag_tensor *x, const double *p) { return ag_clamp(x, p[0], p[1]); }

/* --- PyTorch's values: the public.jsonl cases of these ops ------------------------------- */

typedef struct vec_case {
    const char *id;
    act_fn fn;
    double p[2];
    ag_shape shape;
    const double *x, *y, *go, *g; /* input, output, grad_output, input's gradient */
} vec_case;

#define V(...) ((const double[]){ __VA_ARGS__ })

static const vec_case CASES[] = {
    { "silu/5/0", w_silu, { 0 }, AG_SHAPE(5),
      .x = V(-1.050005555152893, -0.6318981051445007, 0.6063433885574341, 3.6327617168426514,
              -0.7898659110069275),
      .y = V(-0.2721866758104548, -0.21931936677477976, 0.39236858366919536, 3.5391751137928664,
              -0.24659413245963277),
      .go = V(1.3964084386825562, -0.32876983284950256, 0.22714459896087646, 0.03709499165415764,
              1.6163816452026367),
      .g = V(0.08042570610204106, -0.06703036014369604, 0.17843813209721282, 0.03952151627506921,
              0.2304788750613685), },
    { "silu/2x3/0", w_silu, { 0 }, AG_SHAPE(2, 3),
      .x = V(1.1457009315490723, -0.5170923471450806, 2.9942047595977783, -0.8567028045654297,
              2.754028558731079, 1.4777495861053467),
      .y = V(0.8692717086749567, -0.19315074087360595, 2.851416013614402, -0.2553220096603206,
              2.589173689526244, 1.203231633955645),
      .go = V(-0.5582969784736633, 0.8340705037117004, -0.05909627676010132, 0.4117739200592041,
              -0.26866045594215393, -0.3676363527774811),
      .g = V(-0.540687457228413, 0.2106275810584291, -0.06431394689036911, 0.048918724088018034,
              -0.2942173724002095, -0.38151603943850343), },
    { "silu/2x2x3/0", w_silu, { 0 }, AG_SHAPE(2, 2, 3),
      .x = V(-1.0561800003051758, -2.595001220703125, -0.3502756655216217, 0.7192835211753845,
              -0.13060058653354645, -3.6728193759918213, 0.3010738790035248, -1.344995141029358,
              1.5781290531158447, 0.8737685084342957, -2.4885730743408203, -0.6145058274269104),
      .y = V(-0.27253683315184807, -0.18025093085379185, -0.14477438793135677,
              0.4836816456780478, -0.061042215576080174, -0.09099532087580842,
              0.17302866798322053, -0.27799678955512863, 1.3081733236623057, 0.6164692323183256,
              -0.19078183242153876, -0.21571123677615206),
      .go = V(-0.17259901762008667, 1.8873465061187744, 0.9063738584518433, -0.24777750670909882,
              -1.9501819610595703, -0.6135625839233398, -1.4766452312469482, 0.42378607392311096,
              0.3039834201335907, 1.6680728197097778, 0.6671912670135498, 1.5097196102142334),
      .g = V(-0.00963598689227506, -0.18546902238172405, 0.29763386563528316,
              -0.20587325643558826, -0.8481046197181171, 0.03924686762290707, -0.9572991202614071,
              -0.005868537217020758, 0.32000830704156974, 1.4796830168129707,
              -0.06638069728025489, 0.3186147952595099), },
    { "silu/0d/0", w_silu, { 0 }, AG_SCALAR,
      .x = V(0.5443078875541687),
      .y = V(0.34444563626500246),
      .go = V(-1.8998035192489624),
      .g = V(-1.442501048477368), },
    { "leaky_relu/slope0.01/0", w_leaky_relu, { 0.01 }, AG_SHAPE(5),
      .x = V(0.5337164402008057, 0.7296602725982666, -0.1014067605137825, -0.47953879833221436,
              1.1372509002685547),
      .y = V(0.5337164402008057, 0.7296602725982666, -0.001014067605137825,
              -0.004795387983322143, 1.1372509002685547),
      .go = V(-0.17722590267658234, -0.8400221467018127, -0.7028586864471436, 0.6175623536109924,
              -1.4878463745117188),
      .g = V(-0.17722590267658234, -0.8400221467018127, -0.007028586864471435,
              0.0061756235361099246, -1.4878463745117188), },
    { "leaky_relu/slope0.2/0", w_leaky_relu, { 0.2 }, AG_SHAPE(2, 3),
      .x = V(1.1365255117416382, -0.09303854405879974, -1.3358008861541748, -1.222387433052063,
              0.20528800785541534, -0.39594516158103943),
      .y = V(1.1365255117416382, -0.018607708811759948, -0.26716017723083496,
              -0.2444774866104126, 0.20528800785541534, -0.07918903231620789),
      .go = V(-1.0931161642074585, -0.13265392184257507, 0.6219493746757507, 1.215325951576233,
              -0.29547035694122314, -0.22153377532958984),
      .g = V(-1.0931161642074585, -0.026530784368515015, 0.12438987493515015, 0.2430651903152466,
              -0.29547035694122314, -0.04430675506591797), },
    { "leaky_relu/slope0.01/1", w_leaky_relu, { 0.01 }, AG_SHAPE(2, 2, 3),
      .x = V(-0.5056008696556091, -0.020134318619966507, -0.5247990489006042, 1.6393744945526123,
              -0.9203895926475525, -0.11185594648122787, -1.3014249801635742, 0.0406896248459816,
              0.051008615642786026, 0.15332096815109253, 2.0535526275634766, 0.020457865670323372),
      .y = V(-0.005056008696556091, -0.00020134318619966508, -0.005247990489006042,
              1.6393744945526123, -0.009203895926475525, -0.0011185594648122788,
              -0.013014249801635742, 0.0406896248459816, 0.051008615642786026,
              0.15332096815109253, 2.0535526275634766, 0.020457865670323372),
      .go = V(0.5750886797904968, 0.7473883628845215, 2.05058217048645, 0.4519907832145691,
              -0.8877359628677368, 1.1602858304977417, -1.4622137546539307, 0.19827203452587128,
              0.11863616108894348, 0.07792065292596817, 0.3768722712993622, 0.744153618812561),
      .g = V(0.005750886797904968, 0.007473883628845215, 0.020505821704864504,
              0.4519907832145691, -0.008877359628677368, 0.011602858304977417,
              -0.014622137546539307, 0.19827203452587128, 0.11863616108894348,
              0.07792065292596817, 0.3768722712993622, 0.744153618812561), },
    { "elu/alpha1.0/0", w_elu, { 1.0 }, AG_SHAPE(5),
      .x = V(0.5671811699867249, -1.056475281715393, 0.7712228894233704, -0.8793488144874573,
              2.264540672302246),
      .y = V(0.5671811699867249, -0.6523208758887382, 0.7712228894233704, -0.5849468997335829,
              2.264540672302246),
      .go = V(0.6421133875846863, 0.3993167281150818, 1.4115947484970093, 0.19449616968631744,
              0.6462409496307373),
      .g = V(0.6421133875846863, 0.13883409027402652, 1.4115947484970093, 0.08072623821824919,
              0.6462409496307373), },
    { "elu/alpha0.5/0", w_elu, { 0.5 }, AG_SHAPE(2, 3),
      .x = V(-0.07186800241470337, 1.6710478067398071, 1.3805104494094849, -1.9367636442184448,
              -0.5352346897125244, -0.40785667300224304),
      .y = V(-0.03467313412532902, 1.6710478067398071, 1.3805104494094849, -0.42791510986179004,
              -0.20723407214234524, -0.1674629024603957),
      .go = V(2.0635123252868652, -0.7363324165344238, 0.14224423468112946, 1.276918888092041,
              1.3821337223052979, -0.7900546193122864),
      .g = V(0.9602077230194915, -0.7363324165344238, 0.14224423468112946, 0.09204655776351998,
              0.4046416616340647, -0.2627224700038647), },
    { "elu/alpha2.0/0", w_elu, { 2.0 }, AG_SHAPE(2, 2, 3),
      .x = V(2.2268459796905518, -2.241115093231201, 2.138643741607666, -0.7524693012237549,
              1.6012287139892578, 2.935368299484253, -2.930541753768921, 1.7738585472106934,
              -1.0395311117172241, -2.4274065494537354, 0.741341233253479, -2.2019803524017334),
      .y = V(2.2268459796905518, -1.7873202812319495, 2.138643741607666, -1.057596847269971,
              1.6012287139892578, 2.935368299484253, -1.893263764133886, 1.7738585472106934,
              -1.2927590968433562, -1.8234691038454478, 0.741341233253479, -1.7788321076162648),
      .go = V(0.8257911205291748, 0.10486859828233719, -0.3202109634876251, 0.4625895321369171,
              1.0135387182235718, -0.3112955391407013, 0.6171836853027344, 0.08955055475234985,
              -0.8879169225692749, 0.4242059290409088, 1.0416134595870972, -0.4123460650444031),
      .g = V(0.8257911205291748, 0.022303423990287126, -0.3202109634876251, 0.43594583350573973,
              1.0135387182235718, -0.3112955391407013, 0.06587586340719015, 0.08955055475234985,
              -0.6279711662459617, 0.07488545280766601, 1.0416134595870972, -0.09119771013859725),
    },
    { "gelu/none/0", w_gelu, { 0 }, AG_SHAPE(5),
      .x = V(-1.6851602792739868, -0.1531922072172165, 1.2787405252456665, -0.5666611790657043,
              -4.933178901672363),
      .y = V(-0.07748169147694266, -0.06727027544752291, 1.1502344911309785, -0.1617660136760091,
              -1.995519968560542e-06),
      .go = V(0.347303569316864, 1.032952070236206, 0.5837534070014954, 2.0940070152282715,
              -1.6132166385650635),
      .g = V(-0.040474814113487016, 0.3912010843147076, 0.6565659241513543, 0.19461412388665716,
              1.5835863687976698e-05), },
    { "gelu/tanh/0", w_gelu, { 1 }, AG_SHAPE(2, 3),
      .x = V(1.1228071451187134, -0.58829665184021, -0.00799617450684309, 4.005272388458252,
              -4.582702159881592, -2.9269227981567383),
      .y = V(0.9757959841819075, -0.16367522863204004, -0.003972579633219775, 4.005203889064451,
              -3.182063152060918e-06, -0.004573402838233361),
      .go = V(-0.7360018491744995, -1.762430191040039, -0.7146418690681458, 1.3636274337768555,
              -1.4323369264602661, -1.2559702396392822),
      .g = V(-0.8150685842996963, -0.14266170118570648, -0.35276159978059574, 1.3640739296765094,
              2.6768584925769118e-05, 0.01770673780260733), },
    { "gelu/none/1", w_gelu, { 0 }, AG_SHAPE(2, 2, 3),
      .x = V(0.4455563724040985, 1.717773199081421, 0.9516022205352783, 0.7993835210800171,
              -2.185469388961792, -2.3564748764038086, 2.770934581756592, -0.7244510650634766,
              0.8803618550300598, 0.5256389379501343, -4.561920166015625, -0.3041422367095947),
      .y = V(0.2994322100438424, 1.6440480981781003, 0.7892118939906474, 0.6298870105079679,
              -0.03153025643777495, -0.021737674341489842, 2.7631904215270984,
              -0.16980729420531712, 0.7136814863528149, 0.3681735185873635,
              -1.1561712517904868e-05, -0.11572909098447956),
      .go = V(0.9462047815322876, 0.05176661163568497, 0.6570338606834412, 1.1535412073135376,
              2.703408718109131, 0.5720964074134827, -2.220053195953369, 0.09983218461275101,
              0.43927261233329773, 0.8050366044044495, 0.7026202082633972, 0.6203556060791016),
      .g = V(0.7881849529469351, 0.05765780454326157, 0.7035162237013759, 1.1762138463097238,
              -0.17737439425715754, -0.028205975581068066, -2.2666476866384393,
              0.0012066767587019247, 0.46081924822613873, 0.710905635209639,
              -3.691848763157932e-05, 0.16418249029126727), },
    { "gelu/tanh/1", w_gelu, { 1 }, AG_SCALAR,
      .x = V(-0.876747727394104),
      .y = V(-0.16696480802614197),
      .go = V(-1.3004735708236694),
      .g = V(0.06177656677721795), },
    { "softplus/beta1.0_th20.0/0", w_softplus, { 1.0, 20.0 }, AG_SHAPE(5),
      .x = V(0.21998286247253418, 3.4209601879119873, 0.3314632177352905, -0.06820455938577652,
              -0.33690840005874634),
      .y = V(0.809175511442484, 3.45311855973051, 0.8725498596808203, 0.6596262709347316,
              0.5388147890857553),
      .go = V(0.6653692126274109, 0.5338007211685181, -1.2785390615463257, 0.48005449771881104,
              -0.5098504424095154),
      .g = V(0.36913020636395977, 0.5169076418842926, -0.7442572230259861, 0.2318449441516345,
              -0.21238363606475866), },
    { "softplus/beta2.0_th1.0/0", w_softplus, { 2.0, 1.0 }, AG_SHAPE(2, 3),
      .x = V(-1.7128020524978638, -2.0146989822387695, 2.237647294998169, 0.218195840716362,
              -3.490525484085083, -1.128027319908142),
      .y = V(0.016005868359457578, 0.008814365377325559, 2.237647294998169, 0.4674806047896294,
              0.0004644472208453713, 0.0498154153602565),
      .go = V(1.7080646753311157, -0.2556608319282532, 1.3523682355880737, 0.853560745716095,
              0.09392315149307251, 0.7710404992103577),
      .g = V(0.053812210266097255, -0.004467482252857806, 1.3523682355880737, 0.5184518628129671,
              8.720418535615087e-05, 0.07311660019352485), },
    { "softplus/beta0.5_th20.0/0", w_softplus, { 0.5, 20.0 }, AG_SHAPE(2, 2, 3),
      .x = V(-3.164193630218506, 3.1216931343078613, -2.9087014198303223, 1.8678117990493774,
              -0.6439430713653564, -2.1508655548095703, 0.8073261380195618, 4.312703609466553,
              -2.2714359760284424, -1.1045382022857666, 1.8769326210021973, 2.6007144451141357),
      .y = V(0.3738612689637442, 3.5028648476793833, 0.41979555646795974, 2.530753627819508,
              1.090128067046012, 0.587055030976046, 1.8304197962865656, 4.531751196191188,
              0.5570678513272018, 0.9093257905525207, 2.537305374613851, 3.082578365104884),
      .go = V(1.7259770631790161, -0.44328251481056213, 0.4311060905456543, 0.942329466342926,
              -1.2545644044876099, -1.8219841718673706, 0.7417250275611877, -0.03040977753698826,
              -0.06821590662002563, 1.1235121488571167, 1.0401263236999512, 0.15105366706848145),
      .g = V(0.294276891800402, -0.36636182612962376, 0.08162256220995354, 0.6764672604841576,
              -0.5271621224968931, -0.46346047100066995, 0.4447141706058667,
              -0.027255092730610803, -0.016583792431656787, 0.41046181692523653,
              0.7476321455981638, 0.11871233631415137), },
    { "clamp/-0.5_0.5/0", w_clamp, { -0.5, 0.5 }, AG_SHAPE(2, 4),
      .x = V(-0.5, 0.5, -0.7580208778381348, 1.2696443796157837, 1.0803011655807495,
              0.15297026932239532, 0.3488222658634186, 0.3957153558731079),
      .y = V(-0.5, 0.5, -0.5, 0.5, 0.5, 0.15297026932239532, 0.3488222658634186,
              0.3957153558731079),
      .go = V(0.10597710311412811, -1.0870918035507202, 0.20378971099853516, 0.30157265067100525,
              0.3511214852333069, -0.058255791664123535, -0.7945644855499268, -1.1901381015777588),
      .g = V(0.10597710311412811, -1.0870918035507202, 0.0, 0.0, 0.0, -0.058255791664123535,
              -0.7945644855499268, -1.1901381015777588), },
    { "clamp/0.0_none/0", w_clamp, { 0.0, INFINITY }, AG_SHAPE(6),
      .x = V(0.0, -0.6098801493644714, 1.0373398065567017, -0.8894482851028442,
              -0.29840195178985596, 1.75042724609375),
      .y = V(0.0, 0.0, 1.0373398065567017, 0.0, 0.0, 1.75042724609375),
      .go = V(1.1388952732086182, -1.8117291927337646, 2.415966272354126, 1.6100733280181885,
              -1.4486050605773926, 1.6030464172363281),
      .g = V(1.1388952732086182, 0.0, 2.415966272354126, 0.0, 0.0, 1.6030464172363281), },
    { "clamp/none_0.25/0", w_clamp, { -INFINITY, 0.25 }, AG_SHAPE(2, 3),
      .x = V(0.25, 0.8151547312736511, 0.3188978135585785, 0.10788895189762115,
              0.1089647114276886, -0.9730117321014404),
      .y = V(0.25, 0.25, 0.25, 0.10788895189762115, 0.1089647114276886, -0.9730117321014404),
      .go = V(-1.3375024795532227, 0.6603718996047974, 0.2175217568874359, 0.7359838485717773,
              0.7407478094100952, -0.735738217830658),
      .g = V(-1.3375024795532227, 0.0, 0.0, 0.7359838485717773, 0.7407478094100952,
              -0.735738217830658), },
};

Test(smooth, pytorch_vectors)
{
    for (size_t k = 0; k < sizeof CASES / sizeof CASES[0]; k++) {
        const vec_case *c = &CASES[k];
        size_t n = ag_shape_numel(c->shape);
        ag_tensor *x = heap(c->x, c->shape, true);
        ag_tensor *y = c->fn(x, c->p);
        expect_values(y, c->y, n, c->id);
        expect_shape(y, c->shape);
        backward_with(y, c->go);
        expect_values(ag_grad(x), c->g, n, c->id);
        ag_free(x);
        ag_step_end();
    }
}

/* --- gradients and second derivatives against finite differences ------------------------- */

typedef struct act_call {
    act_fn fn;
    double p[2];
} act_call;

static ag_tensor *call_act(ag_tensor *const *in, int n, void *user)
{
    const act_call *c = user;
    (void)n;
    return c->fn(in[0], c->p);
}

/* gradcheck and gradgradcheck of one activation at x (12 values, away from its kinks). */
static void check_act(act_call c, const double *x, const char *what)
{
    ag_tensor *t = heap(x, AG_SHAPE(3, 4), true);
    ag_gradcheck_report r;
    cr_assert(ag_gradcheck(call_act, &t, 1, &c, (ag_gradcheck_opts){ 0 }, &r),
              "%s gradcheck: analytic %g numeric %g (%s)", what, r.analytic, r.numeric,
              ag_error_message());
    cr_assert(ag_gradgradcheck(call_act, &t, 1, &c, (ag_gradcheck_opts){ 0 }, &r),
              "%s gradgradcheck: analytic %g numeric %g (%s)", what, r.analytic, r.numeric,
              ag_error_message());
    ag_free(t);
    ag_step_end();
}

/* Spread over [-3.5, 3.5], at least 0.1 away from 0, +-0.5 and +-1. */
static const double XS[12] = { -3.4, -2.2, -1.3, -0.8, -0.35, -0.15,
                               0.2,  0.4,  0.7,  1.6,  2.5,   3.3 };

Test(smooth, gradcheck_silu) { check_act((act_call){ w_silu, { 0 } }, XS, "silu"); }

Test(smooth, gradcheck_leaky_relu)
{
    check_act((act_call){ w_leaky_relu, { 0.01 } }, XS, "leaky_relu 0.01");
    check_act((act_call){ w_leaky_relu, { -0.3 } }, XS, "leaky_relu -0.3");
}

Test(smooth, gradcheck_elu)
{
    check_act((act_call){ w_elu, { 1.0 } }, XS, "elu 1");
    check_act((act_call){ w_elu, { 0.4 } }, XS, "elu 0.4");
}

Test(smooth, gradcheck_gelu)
{
    check_act((act_call){ w_gelu, { 0 } }, XS, "gelu erf");
    check_act((act_call){ w_gelu, { 1 } }, XS, "gelu tanh");
}

Test(smooth, gradcheck_softplus)
{
    /* beta 2, threshold 1: the kink is at x = 0.5, both branches are sampled */
    check_act((act_call){ w_softplus, { 2.0, 1.0 } }, XS, "softplus 2 1");
    check_act((act_call){ w_softplus, { 1.0, 20.0 } }, XS, "softplus 1 20");
    check_act((act_call){ w_softplus, { -1.5, 2.0 } }, XS, "softplus -1.5 2");
}

Test(smooth, gradcheck_clamp)
{
    check_act((act_call){ w_clamp, { -0.5, 1.0 } }, XS, "clamp [-0.5, 1]");
    check_act((act_call){ w_clamp, { -INFINITY, 0.0 } }, XS, "clamp (-inf, 0]");
    check_act((act_call){ w_clamp, { 0.0, INFINITY } }, XS, "clamp [0, inf)");
}

/* Second derivatives at hand-derived points, through create_graph. */
static double second_derivative(act_call c, double x0)
{
    ag_tensor *x = heap(&x0, AG_SCALAR, true), *d1, *d2;
    ag_tensor *y = c.fn(x, c.p);
    cr_assert_eq(ag_grad_of(y, 1, &x, &d1, (ag_backward_opts){ .create_graph = true }), AG_OK,
                 "%s", ag_error_message());
    cr_assert_eq(ag_grad_of(d1, 1, &x, &d2, (ag_backward_opts){ 0 }), AG_OK, "%s",
                 ag_error_message());
    double v = d2 ? ag_item(d2) : 0;
    ag_free(x);
    ag_step_end();
    return v;
}

Test(smooth, second_derivatives)
{
    double s = 1 / (1 + exp(-0.5)); /* sigmoid(0.5) */
    double want[] = {
        s * (1 - s) * (2 + 0.5 * (1 - 2 * s)),               /* silu''(0.5) */
        exp(-0.5 * 0.49) / sqrt(2 * PI) * (2 - 0.49),      /* gelu''(0.7) */
        1.5 * exp(-0.3),                                      /* elu''(-0.3), alpha 1.5 */
        0,                                                    /* elu''(0.3) */
        2 * s * (1 - s),                                      /* softplus''(0.25), beta 2 */
        0,                                                    /* softplus''(3), linear */
        0,                                                    /* leaky_relu''(-1) */
    };
    act_call calls[] = { { w_silu, { 0 } },          { w_gelu, { 0 } },
                         { w_elu, { 1.5 } },          { w_elu, { 1.5 } },
                         { w_softplus, { 2, 1 } },    { w_softplus, { 2, 1 } },
                         { w_leaky_relu, { 0.1 } } };
    double at[] = { 0.5, 0.7, -0.3, 0.3, 0.25, 3, -1 };
    for (size_t k = 0; k < sizeof at / sizeof at[0]; k++) {
        double got = second_derivative(calls[k], at[k]);
        cr_assert(fabs(got - want[k]) <= 1e-12, "case %zu: f'' = %.17g, want %.17g", k, got,
                  want[k]);
    }
}

/* The tanh form of gelu against its closed form f'' = (1 - t^2)(u' + 3kc x^2 - x t u'^2). */
Test(smooth, gelu_tanh_second_derivative)
{
    double x = -0.9, k = sqrt(2 / PI), c = 0.044715;
    double t = tanh(k * (x + c * x * x * x)), du = k * (1 + 3 * c * x * x);
    double want = (1 - t * t) * (du + 3 * k * c * x * x - x * t * du * du);
    double got = second_derivative((act_call){ w_gelu, { 1 } }, x);
    cr_assert(fabs(got - want) <= 1e-12, "gelu tanh'' = %.17g, want %.17g", got, want);
}

/* --- edge cases -------------------------------------------------------------------------- */

/* Inputs exactly on the bounds get the full gradient; lo > hi gives hi; NaN passes through. */
Test(smooth, clamp_edges)
{
    ag_tensor *x = heap(V(-1, 0, 1, 2), AG_SHAPE(4), true);
    ag_tensor *y = ag_clamp(x, 0, 1);
    expect_values(y, V(0, 0, 1, 1), 4, "clamp");
    backward_with(y, V(1, 2, 3, 4));
    expect_values(ag_grad(x), V(0, 2, 3, 0), 4, "clamp grad");

    expect_values(ag_clamp(x, 1.5, 0.5), V(0.5, 0.5, 0.5, 0.5), 4, "clamp lo > hi");
    expect_values(ag_clamp(x, -INFINITY, INFINITY), V(-1, 0, 1, 2), 4, "clamp unbounded");

    ag_real nan_in[2] = { NAN, 3 };
    ag_tensor *xn = ag_from(nan_in, 2, AG_SHAPE(2));
    ag_tensor *yn = ag_clamp(xn, 0, 1);
    cr_assert(isnan(ag_cdata(yn)[0]) && ag_cdata(yn)[1] == 1);
    ag_free(x);
    ag_free(xn);
    ag_step_end();
}

/* Far from 0 softplus is x or 0 and its gradient 1 or 0, finite on either branch. */
Test(smooth, softplus_large_inputs)
{
    const double xs[] = { -3000, -1000, 1000, 3000 };
    ag_tensor *x = heap(xs, AG_SHAPE(4), true);
    /* threshold 20: the linear branch above; threshold 1e30: log1p form everywhere */
    const double thresholds[] = { 20, 1e30 };
    for (int k = 0; k < 2; k++) {
        ag_tensor *y = ag_softplus(x, 1, thresholds[k]);
        expect_values(y, V(0, 0, 1000, 3000), 4, "softplus(+-1000)");
        backward_with(y, V(1, 1, 1, 1));
        expect_values(ag_grad(x), V(0, 0, 1, 1), 4, "softplus'(+-1000)");
        ag_clear_grad(x);
        /* beta 0.5: log(1 + e^(0.5 x)) / 0.5 */
        ag_tensor *y2 = ag_softplus(x, 0.5, thresholds[k]);
        expect_values(y2, V(0, 0, 1000, 3000), 4, "softplus beta 0.5");
    }
    /* a negative beta flips the function: log(1 + e^(-x)) / -1 = -softplus(-x) */
    expect_values(ag_softplus(x, -1, 20), V(-3000, -1000, 0, 0), 4, "softplus beta -1");
    ag_free(x);
    ag_step_end();
}

/* Each activation is finite at |x| = 1000 and gives the limits there. */
Test(smooth, activations_large_inputs)
{
    ag_tensor *x = heap(V(-1000, 1000), AG_SHAPE(2), true);
    expect_values(ag_silu(x), V(0, 1000), 2, "silu");
    expect_values(ag_gelu(x, false), V(0, 1000), 2, "gelu");
    expect_values(ag_gelu(x, true), V(0, 1000), 2, "gelu tanh");
    expect_values(ag_elu(x, 2), V(-2, 1000), 2, "elu");
    ag_tensor *y = ag_add(ag_add(ag_silu(x), ag_gelu(x, false)),
                          ag_add(ag_gelu(x, true), ag_elu(x, 2)));
    backward_with(y, V(1, 1));
    expect_values(ag_grad(x), V(0, 4), 2, "sum of gradients");
    ag_free(x);
    ag_step_end();
}

/* At 0: leaky_relu'(0) = slope and elu'(0) = alpha, as PyTorch (the x <= 0 branch). */
Test(smooth, kinks_at_zero)
{
    ag_tensor *x = heap(V(0), AG_SCALAR, true);
    cr_assert_eq(ag_backward(ag_leaky_relu(x, 0.2)), AG_OK);
    expect_values(ag_grad(x), V(0.2), 1, "leaky_relu'(0)");
    ag_clear_grad(x);
    cr_assert_eq(ag_backward(ag_elu(x, 0.7)), AG_OK);
    expect_values(ag_grad(x), V(0.7), 1, "elu'(0)");
    ag_free(x);
    ag_step_end();
}

/* A saved input changed in place is reported at backward, first and second order. */
Test(smooth, saved_input_modified)
{
    ag_tensor *x = heap(V(0.3, -0.2), AG_SHAPE(2), true), *d1;
    ag_tensor *y = ag_sum(ag_softplus(x, 2, 1));
    ag_bump_version(x);
    cr_assert_neq(ag_backward(y), AG_OK);
    expect_error("modified in place");
    ag_step_end();

    y = ag_sum(ag_softplus(x, 2, 1));
    cr_assert_eq(ag_grad_of(y, 1, &x, &d1, (ag_backward_opts){ .create_graph = true }), AG_OK);
    ag_bump_version(x);
    cr_assert_neq(ag_backward(ag_sum(d1)), AG_OK);
    expect_error("modified in place");
    ag_free(x);
    ag_step_end();
}

/* --- maximum, minimum -------------------------------------------------------------------- */

static const double A23[] = { 1, 5, 3, 4, 2, 6 }, B3[] = { 3, 5, 4 }, GO23[] = { 1, 2, 3, 4, 5, 6 };

/* One broadcast extremum: y = f(a, b) for a [2,3] = A23 and b [3] = B3 (f(b, a) if
 * b_first), its values, and the gradients for grad_output GO23; the messages name the op. */
typedef struct extremum_case {
    const char *name;
    ag_tensor *(*f)(ag_tensor *, ag_tensor *);
    bool b_first;
    double y[6], da[6], db[3];
} extremum_case;

static void check_extremum(const extremum_case *c)
{
    char what[64];
    ag_tensor *a = heap(A23, AG_SHAPE(2, 3), true), *b = heap(B3, AG_SHAPE(3), true);
    ag_tensor *y = c->b_first ? c->f(b, a) : c->f(a, b);
    expect_shape(y, AG_SHAPE(2, 3));
    expect_values(y, c->y, 6, c->name);
    backward_with(y, GO23);
    snprintf(what, sizeof what, "%s da", c->name);
    expect_values(ag_grad(a), c->da, 6, what);
    snprintf(what, sizeof what, "%s db", c->name);
    expect_values(ag_grad(b), c->db, 3, what);
    ag_free(a);
    ag_free(b);
    ag_step_end();
}

/* a [2,3] against b [3] broadcast; the tie 5 == 5 splits the gradient in half. */
Test(smooth, maximum_broadcast)
{
    check_extremum(&(extremum_case){ "maximum", ag_maximum, false, { 3, 5, 4, 4, 5, 6 },
                                     { 0, 1, 0, 4, 0, 6 }, { 1, 6, 3 } });
}

/* The other order: b [3] first. */
Test(smooth, minimum_broadcast)
{
    check_extremum(&(extremum_case){ "minimum", ag_minimum, true, { 1, 5, 3, 3, 2, 4 },
                                     { 1, 1, 3, 0, 5, 0 }, { 4, 1, 6 } });
}

/* A 0-d operand, and NaN on either side propagating as torch.maximum / minimum do. */
Test(smooth, extremum_scalar_and_nan)
{
    ag_tensor *a = heap(V(-1, 2, 0.5), AG_SHAPE(3), true), *s = heap(V(0.5), AG_SCALAR, true);
    ag_tensor *y = ag_maximum(s, a);
    expect_values(y, V(0.5, 2, 0.5), 3, "maximum 0-d");
    backward_with(y, V(1, 1, 1));
    expect_values(ag_grad(s), V(1.5), 1, "maximum 0-d ds");
    expect_values(ag_grad(a), V(0, 1, 0.5), 3, "maximum 0-d da");

    ag_real v[2] = { NAN, 1 }, w[2] = { 1, NAN };
    ag_tensor *p = ag_from(v, 2, AG_SHAPE(2)), *q = ag_from(w, 2, AG_SHAPE(2));
    ag_tensor *mx = ag_maximum(p, q), *mn = ag_minimum(p, q);
    for (int i = 0; i < 2; i++)
        cr_assert(isnan(ag_cdata(mx)[i]) && isnan(ag_cdata(mn)[i]), "NaN lost at %d", i);
    ag_free(a);
    ag_free(s);
    ag_free(p);
    ag_free(q);
    ag_step_end();
}

static ag_tensor *call_maximum(ag_tensor *const *in, int n, void *user)
{
    (void)n, (void)user;
    return ag_maximum(in[0], in[1]);
}
static ag_tensor *call_minimum(ag_tensor *const *in, int n, void *user)
{
    (void)n, (void)user;
    return ag_minimum(in[0], in[1]);
}

Test(smooth, gradcheck_extremum)
{
    ag_tensor *in[2] = { heap(XS, AG_SHAPE(3, 4), true),
                         heap(V(-1, 0.1, 2, -0.5), AG_SHAPE(4), true) };
    cr_assert(ag_gradcheck(call_maximum, in, 2, NULL, (ag_gradcheck_opts){ 0 }, NULL), "%s",
              ag_error_message());
    cr_assert(ag_gradcheck(call_minimum, in, 2, NULL, (ag_gradcheck_opts){ 0 }, NULL), "%s",
              ag_error_message());
    ag_free(in[0]);
    ag_free(in[1]);
    ag_step_end();
}

/* --- addcmul ----------------------------------------------------------------------------- */

/* c [3] + a [2,1] * b [1,3] -> [2,3] */
Test(smooth, addcmul_broadcast)
{
    ag_tensor *c = heap(V(1, 2, 3), AG_SHAPE(3), true);
    ag_tensor *a = heap(V(1, 2), AG_SHAPE(2, 1), true);
    ag_tensor *b = heap(V(10, 20, 30), AG_SHAPE(1, 3), true);
    ag_tensor *y = ag_addcmul(c, a, b);
    expect_shape(y, AG_SHAPE(2, 3));
    expect_values(y, V(11, 22, 33, 21, 42, 63), 6, "addcmul");
    backward_with(y, GO23);
    expect_values(ag_grad(c), V(5, 7, 9), 3, "addcmul dc");
    expect_values(ag_grad(a), V(140, 320), 2, "addcmul da");
    expect_values(ag_grad(b), V(9, 12, 15), 3, "addcmul db");
    ag_free(c);
    ag_free(a);
    ag_free(b);
    ag_step_end();
}

static ag_tensor *call_addcmul(ag_tensor *const *in, int n, void *user)
{
    (void)n, (void)user;
    return ag_addcmul(in[0], in[1], in[2]);
}

/* Three different broadcasts into [2,4,3] (the strided path), and same shapes (the flat
 * one): equal to c + a*b computed with add and mul, and gradient-checked twice. */
Test(smooth, addcmul_matches_add_mul)
{
    ag_shape shapes[2][3] = { { AG_SHAPE(2, 1, 3), AG_SHAPE(4, 1), AG_SHAPE(3) },
                              { AG_SHAPE(2, 3), AG_SHAPE(2, 3), AG_SHAPE(2, 3) } };
    for (int k = 0; k < 2; k++) {
        ag_manual_seed(7 + (uint64_t)k);
        ag_tensor *in[3];
        for (int i = 0; i < 3; i++)
            in[i] = ag_set_requires_grad(ag_randn(shapes[k][i]), true);
        ag_tensor *y = ag_addcmul(in[0], in[1], in[2]);
        ag_tensor *ref = ag_add(in[0], ag_mul(in[1], in[2]));
        cr_assert_not_null(y, "%s", ag_error_message());
        expect_shape(y, ag_shape_of(ref));
        const ag_real *r = ag_cdata(ref);
        double want[64];
        for (size_t i = 0; i < ag_numel(ref); i++)
            want[i] = r[i];
        expect_values(y, want, ag_numel(ref), "addcmul vs add(mul)");
        ag_step_end();
        cr_assert(ag_gradcheck(call_addcmul, in, 3, NULL, (ag_gradcheck_opts){ 0 }, NULL),
                  "%s", ag_error_message());
        cr_assert(ag_gradgradcheck(call_addcmul, in, 3, NULL, (ag_gradcheck_opts){ 0 }, NULL),
                  "%s", ag_error_message());
        for (int i = 0; i < 3; i++)
            ag_free(in[i]);
        ag_step_end();
    }
}

Test(smooth, addcmul_scalar)
{
    ag_tensor *c = heap(V(0.5), AG_SCALAR, true), *a = heap(V(2), AG_SCALAR, true);
    ag_tensor *b = heap(V(1, -1, 3), AG_SHAPE(3), false);
    ag_tensor *y = ag_addcmul(c, a, b);
    expect_values(y, V(2.5, -1.5, 6.5), 3, "addcmul 0-d");
    backward_with(y, V(1, 1, 1));
    expect_values(ag_grad(c), V(3), 1, "addcmul 0-d dc");
    expect_values(ag_grad(a), V(3), 1, "addcmul 0-d da");
    cr_assert_null(ag_grad(b));
    ag_free(c);
    ag_free(a);
    ag_free(b);
    ag_step_end();
}

/* --- errors ------------------------------------------------------------------------------ */

Test(smooth, errors)
{
    ag_tensor *x = heap(V(1, 2, 3), AG_SHAPE(3), true);
    ag_tensor *m = heap(V(1, 2, 3, 4), AG_SHAPE(2, 2), false);

    cr_assert_null(ag_softplus(x, 0, 20));
    expect_error("softplus");
    cr_assert_null(ag_softplus(x, INFINITY, 20));
    expect_error("beta");
    cr_assert_null(ag_softplus(x, 1, NAN));
    expect_error("threshold");
    cr_assert_null(ag_clamp(x, NAN, 1));
    expect_error("clamp");
    cr_assert_null(ag_clamp(x, 0, NAN));
    expect_error("NaN");
    cr_assert_null(ag_leaky_relu(x, NAN));
    expect_error("leaky_relu");
    cr_assert_null(ag_elu(x, NAN));
    expect_error("elu");

    cr_assert_null(ag_maximum(x, m));
    expect_error("maximum: shapes [3] and [2,2]");
    cr_assert_null(ag_minimum(m, x));
    expect_error("minimum: shapes [2,2] and [3]");
    cr_assert_null(ag_addcmul(x, m, x));
    expect_error("addcmul: shapes [3], [2,2] and [3] cannot be broadcast");

    /* NULL in, NULL out: an error naming the op if none is pending, ... */
    cr_assert_null(ag_silu(NULL));
    expect_error("silu");
    cr_assert_null(ag_maximum(x, NULL));
    expect_error("maximum");
    cr_assert_null(ag_addcmul(x, NULL, x));
    expect_error("addcmul");
    /* ... and the first error kept through a chain of ops */
    cr_assert_null(ag_gelu(ag_softplus(ag_clamp(x, NAN, 1), 1, 20), true));
    expect_error("clamp");

    ag_free(x);
    ag_free(m);
    ag_step_end();
}
