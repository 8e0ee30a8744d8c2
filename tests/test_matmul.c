/* test_matmul.c — torch.matmul semantics (1-d.1-d dot, 2-d @ 2-d, 1-d / 2-d promotion and
 * squeezing, batched and broadcast-batched products, a batch times one matrix) and linear
 * (with / without bias, 1-d, 2-d and 3-d inputs): values and gradients against PyTorch's
 * float64 numbers (tests/data/public.jsonl) and a naive triple loop, gradcheck /
 * gradgradcheck, and the shape errors. */
#include "test_util.h"

#include <stdlib.h>

/* --- reference cases (PyTorch 1.13, float64), copied from tests/data/public.jsonl ------- */
/* Where two arrays of a case hold the same numbers (the bias gradient of a one-row batch is
 * grad_output itself), the case names the one copy. */

/* matmul/3_3/0  attrs {} */
static const ag_real R_matmul_3_3_0_in0[] = {
    -0.05274511128664017, 0.319875568151474, -1.2586835622787476
};
static const ag_real R_matmul_3_3_0_in1[] = {
    1.0501912832260132, 0.1494397222995758, -1.7935141324996948
};
static const ag_real R_matmul_3_3_0_out[] = { 2.2498764172609533 };
static const ag_real R_matmul_3_3_0_go[] = { -0.6440945267677307 };
static const ag_real R_matmul_3_3_0_g0[] = {
    -0.6764224575850548, -0.09625330721484637, 1.155192636423628
};
static const ag_real R_matmul_3_3_0_g1[] = {
    0.03397283749347979, -0.20603010269308264, 0.8107111933962514
};
static const ref_case R_matmul_3_3_0 = {
    .id = "matmul/3_3/0",
    .n_in = 2,
    .in[0] = { { .ndim = 1, .d = { 3 } }, R_matmul_3_3_0_in0 },
    .in[1] = { { .ndim = 1, .d = { 3 } }, R_matmul_3_3_0_in1 },
    .requires_grad = { true, true },
    .out = { { .ndim = 0 }, R_matmul_3_3_0_out },
    .grad_output = R_matmul_3_3_0_go,
    .grads = { R_matmul_3_3_0_g0, R_matmul_3_3_0_g1 },
};

/* matmul/2x3_3x4/0  attrs {} */
static const ag_real R_matmul_2x3_3x4_0_in0[] = {
    -1.1834754943847656, -0.6178416609764099, -1.3206002712249756, -0.6278359889984131,
    2.8796653747558594, 0.75551438331604
};
static const ag_real R_matmul_2x3_3x4_0_in1[] = {
    -0.512360155582428, 0.7792569994926453, 0.4253234565258026, -0.06218263506889343,
    1.6853684186935425, 0.03516951948404312, 0.5614826083183289, 0.592430055141449,
    0.5727085471153259, -0.06949146091938019, -0.10854785889387131, 0.7264482975006104
};
static const ag_real R_matmul_2x3_3x4_0_out[] = {
    -1.1912441973851955, -0.8521903149231576, -0.7069189034219381, -1.2517841632108606,
    5.607664768815965, -0.4404709396976365, 1.2678391840573173, 2.293882950439702
};
static const ag_real R_matmul_2x3_3x4_0_go[] = {
    -1.0136090517044067, -0.6498256921768188, 1.0189787149429321, -1.1781338453292847,
    -0.5976551175117493, 1.3951457738876343, -0.33775046467781067, -1.392307162284851
};
static const ag_real R_matmul_2x3_3x4_0_g0[] = {
    0.5196066884842594, -1.8569818142521806, -1.5018065145850494, 1.3363159117036796,
    -1.972688074641332, -1.4140099899076939
};
static const ag_real R_matmul_2x3_3x4_0_g1[] = {
    1.5748108653616981, -0.10686994443281606, -0.9938844414089729, 2.2684330792751837,
    -1.0947968478584542, 4.419042362800859, -1.6021758201803422, -3.2814785544055027,
    0.8870353510543652, 1.91221268433236, -1.6008389013618753, 0.5039357885810318
};
static const ref_case R_matmul_2x3_3x4_0 = {
    .id = "matmul/2x3_3x4/0",
    .n_in = 2,
    .in[0] = { { .ndim = 2, .d = { 2, 3 } }, R_matmul_2x3_3x4_0_in0 },
    .in[1] = { { .ndim = 2, .d = { 3, 4 } }, R_matmul_2x3_3x4_0_in1 },
    .requires_grad = { true, true },
    .out = { { .ndim = 2, .d = { 2, 4 } }, R_matmul_2x3_3x4_0_out },
    .grad_output = R_matmul_2x3_3x4_0_go,
    .grads = { R_matmul_2x3_3x4_0_g0, R_matmul_2x3_3x4_0_g1 },
};

/* matmul/3_3x4/0  attrs {} */
static const ag_real R_matmul_3_3x4_0_in0[] = {
    0.5977465510368347, -0.188843235373497, -1.145086646080017
};
static const ag_real R_matmul_3_3x4_0_in1[] = {
    -0.7723387479782104, -1.387601613998413, 1.0331751108169556, 0.8917900323867798,
    -1.1573842763900757, -1.566900372505188, -0.6394592523574829, -0.5741175413131714,
    -0.021850965917110443, 1.72201406955719, -0.16969609260559082, -0.6047948002815247
};
static const ag_real R_matmul_3_3x4_0_out[] = {
    -0.21807738223653406, -2.505390858540723, 0.9326511427472592, 1.3340250795154862
};
static const ag_real R_matmul_3_3x4_0_go[] = {
    0.11525873094797134, 0.2603798806667328, -0.5157700777053833, -1.0795173645019531
};
static const ag_real R_matmul_3_3x4_0_g0[] = {
    -1.9459059592604033, 0.408195828465165, 1.1862699590700245
};
static const ag_real R_matmul_3_3x4_0_g1[] = {
    0.06889550890103235, 0.15564117562792212, -0.3082997850763931, -0.645277781415416,
    -0.021765831657258317, -0.04917097909127088, 0.09739969018272454, 0.2038595517544195,
    -0.13198123365265158, -0.29815752425938413, 0.5906014284280872, 1.2361409183026808
};
static const ref_case R_matmul_3_3x4_0 = {
    .id = "matmul/3_3x4/0",
    .n_in = 2,
    .in[0] = { { .ndim = 1, .d = { 3 } }, R_matmul_3_3x4_0_in0 },
    .in[1] = { { .ndim = 2, .d = { 3, 4 } }, R_matmul_3_3x4_0_in1 },
    .requires_grad = { true, true },
    .out = { { .ndim = 1, .d = { 4 } }, R_matmul_3_3x4_0_out },
    .grad_output = R_matmul_3_3x4_0_go,
    .grads = { R_matmul_3_3x4_0_g0, R_matmul_3_3x4_0_g1 },
};

/* matmul/2x3_3/0  attrs {} */
static const ag_real R_matmul_2x3_3_0_in0[] = {
    -0.24508951604366302, -2.0491414070129395, -0.34082284569740295, 0.4867938160896301,
    0.507020115852356, 1.5608612298965454
};
static const ag_real R_matmul_2x3_3_0_in1[] = {
    0.5101851224899292, 1.904555320739746, 2.705376148223877
};
static const ag_real R_matmul_2x3_3_0_out[] = { -4.949798191957898, 5.436719564107214 };
static const ag_real R_matmul_2x3_3_0_go[] = { -0.5281143188476562, 1.7069973945617676 };
static const ag_real R_matmul_2x3_3_0_g0[] = {
    -0.26943606844997703, -1.0058229359201505, -1.4287478817459487, 0.8708846748344854,
    3.251070970301498, 4.618070036327708
};
static const ag_real R_matmul_2x3_3_0_g1[] = {
    0.9603910585758797, 1.9476629351375436, 2.844379477709083
};
static const ref_case R_matmul_2x3_3_0 = {
    .id = "matmul/2x3_3/0",
    .n_in = 2,
    .in[0] = { { .ndim = 2, .d = { 2, 3 } }, R_matmul_2x3_3_0_in0 },
    .in[1] = { { .ndim = 1, .d = { 3 } }, R_matmul_2x3_3_0_in1 },
    .requires_grad = { true, true },
    .out = { { .ndim = 1, .d = { 2 } }, R_matmul_2x3_3_0_out },
    .grad_output = R_matmul_2x3_3_0_go,
    .grads = { R_matmul_2x3_3_0_g0, R_matmul_2x3_3_0_g1 },
};

/* matmul/5x2x3_5x3x4/0  attrs {} */
static const ag_real R_matmul_5x2x3_5x3x4_0_in0[] = {
    -2.5345089435577393, 1.6259034872055054, 0.13147388398647308, 0.13799536228179932,
    -1.717422366142273, -1.7006715536117554, 0.4964052438735962, -0.5614652633666992,
    -1.1027199029922485, 0.10123483091592789, -0.14515428245067596, -0.6830151677131653,
    0.9466288685798645, 1.4290341138839722, 1.8913004398345947, 0.6352159976959229,
    -0.2881712019443512, 0.8423701524734497, -1.3177107572555542, -0.3251887559890747,
    0.2012765258550644, -1.4895862340927124, 1.9119600057601929, 1.6914560794830322,
    1.9916330575942993, 0.5176389813423157, 0.2555429935455322, -0.06343363970518112,
    0.738993227481842, -0.5942599177360535
};
static const ag_real R_matmul_5x2x3_5x3x4_0_in1[] = {
    -1.1006308794021606, -0.6536458730697632, -0.019197599962353706, 0.444528728723526,
    -0.06539846211671829, -0.40364861488342285, -0.7396899461746216, 0.5510551929473877,
    0.9593647718429565, -0.4410221576690674, 0.2229604721069336, 2.0848326683044434,
    1.350298285484314, 0.52427738904953, 0.43109506368637085, 0.90706866979599,
    0.492973268032074, 0.15160056948661804, -0.331354558467865, 0.5160701870918274,
    -0.47534576058387756, 0.46738719940185547, 1.0411748886108398, 0.30492040514945984,
    0.3819524943828583, -0.3780274987220764, 1.0484141111373901, -1.6113693714141846,
    -0.3853725492954254, 0.5141810178756714, 0.5873141884803772, 0.8686468005180359,
    0.6868203282356262, -0.20775647461414337, -0.8695831894874573, 1.1679635047912598,
    0.03336922079324722, -0.6370303630828857, 1.8906384706497192, 0.8348217010498047,
    -1.0261629819869995, 0.4851386249065399, 0.913960337638855, 0.9604385495185852,
    -0.6531662344932556, -1.5771054029464722, 0.6031765341758728, -0.63414067029953,
    -0.4733216166496277, -0.48045310378074646, 0.23016910254955292, -0.7776546478271484,
    -1.2777973413467407, -0.2906263470649719, -1.3922828435897827, 0.9045348763465881,
    0.2981879413127899, 1.0143961906433105, 2.3714234828948975, -1.2491848468780518
};
static const ag_real R_matmul_5x2x3_5x3x4_0_out[] = {
    2.8093586325011364, 0.9423947246774453, -1.1246944948933844, 0.04340156960159902,
    -1.6711295524016245, 1.3530688982651355, 0.8885283453170139, -4.430667223407678,
    0.9176810149383989, -0.34026157568903415, -0.7480823475070579, -0.17572363885780717,
    0.38980840201545064, -0.2881628854359155, -0.6193988721111245, -0.19134811594789225,
    1.1098403269906871, -0.01599943996765063, 0.1871080059852943, 1.9249270362528463,
    0.9322325501363844, -0.5633091298935025, -0.2357885439256382, -0.2900289998754726,
    0.15825865186925725, 0.3642258398048046, -2.66711899880024, -1.5400149840068993,
    -3.1164909111334387, -0.7911272141811985, -0.048566811376062446, -0.4798399111613705,
    -1.527920853567771, -0.8481039711612937, 0.3437131763614385, -1.399800627286691,
    -1.0914602099287403, -0.7871090099317974, -2.4527299799368705, 1.4601150967294565
};
static const ag_real R_matmul_5x2x3_5x3x4_0_go[] = {
    -0.6144020557403564, -1.4969604015350342, -0.3368156850337982, 0.5607580542564392,
    -1.07180655002594, 1.5127402544021606, 0.020501496270298958, 1.8945112228393555,
    0.4514152407646179, 0.9967167377471924, 0.2084294855594635, 0.6526626944541931,
    -1.3687446117401123, 0.382878839969635, 0.882696807384491, -0.08863218873739243,
    -0.5629362463951111, 1.529395580291748, 1.75570547580719, -0.14938350021839142,
    0.31395795941352844, -0.53360515832901, 1.0353432893753052, -0.11027690023183823,
    -0.41736066341400146, 0.164349764585495, 0.3737398684024811, -1.0598138570785522,
    -1.2690117359161377, 0.2892080247402191, -0.15554076433181763, -1.315071940422058,
    -0.5393734574317932, 1.544568419456482, -0.7151159644126892, 1.4053540229797363,
    -0.6097507476806641, 0.005028636660426855, -1.4663848876953125, 0.5907701849937439
};
static const ag_real R_matmul_5x2x3_5x3x4_0_g0[] = {
    1.9104509812906525, 1.202574755900221, 1.1647471445854478, 1.0326380473047747,
    0.4882944884605489, 2.2589044938174947, 1.8139640789694216, 0.641394170214129,
    0.6672960433217021, -1.3473480291009339, -0.9549358952629894, 1.721595604442929,
    1.2882499034205797, 1.904715589792409, -2.4055843355027555, 1.5847997828982168,
    0.11691970459652845, -0.7026238794147632, -0.29677142407954005, -0.1682901856102843,
    0.9109111794738443, -1.6185021729177596, 0.03731497408174267, 1.1128861413214324,
    -1.744273261840573, 2.507153108188895, -2.045420080992413, -0.5107394881969028,
    3.3536711874372838, -4.392120011016755
};
static const ag_real R_matmul_5x2x3_5x3x4_0_g1[] = {
    1.409303172047359, 4.002810665286816, 0.856491477453827, -1.1598125411423297,
    0.8417860962178594, -5.031927084138388, -0.5828395250759575, -2.3419374711177383,
    1.7420130860064127, -2.769485516828926, -0.07914877781233298, -3.1482163053113217,
    0.08552026334342067, 0.5335360898999029, 0.19282515165519198, 0.3150125193671936,
    -0.05477483506828307, -0.6151983289425642, -0.24515313770042813, -0.353582089873134,
    0.4370887600389821, -1.3606114394550168, -0.8327346500324495, -0.6591670138599324,
    -0.3334605835841593, 1.1088154747589698, 2.319668108641146, -0.21146038499981668,
    -0.8949287425645993, 2.339328097699658, 2.2106068987370655, -0.18169549097696902,
    -0.8002127562644823, 2.443053475104641, 4.1927088231475835, -0.37542304892966794,
    2.4402630485587196, -0.6473657451888997, -0.2607896636202902, 3.355441179455198,
    -2.290578690977597, 0.49950948115554894, -0.41892372353713014, -2.169725405021069,
    -2.2304825200112024, 0.522262421322989, -0.18786530915091015, -2.437702079790265,
    -1.035555298971751, 3.0758945391795818, -1.3312304641025534, 2.761474826726125,
    -0.7298024000560766, 0.8032449516964862, -1.4538204002487696, 1.1640411905891277,
    0.22451732120508439, 0.39171532043565094, 0.6886708884529895, 0.008057332488203173
};
static const ref_case R_matmul_5x2x3_5x3x4_0 = {
    .id = "matmul/5x2x3_5x3x4/0",
    .n_in = 2,
    .in[0] = { { .ndim = 3, .d = { 5, 2, 3 } }, R_matmul_5x2x3_5x3x4_0_in0 },
    .in[1] = { { .ndim = 3, .d = { 5, 3, 4 } }, R_matmul_5x2x3_5x3x4_0_in1 },
    .requires_grad = { true, true },
    .out = { { .ndim = 3, .d = { 5, 2, 4 } }, R_matmul_5x2x3_5x3x4_0_out },
    .grad_output = R_matmul_5x2x3_5x3x4_0_go,
    .grads = { R_matmul_5x2x3_5x3x4_0_g0, R_matmul_5x2x3_5x3x4_0_g1 },
};

/* matmul/5x2x3_3x4/0  attrs {} */
static const ag_real R_matmul_5x2x3_3x4_0_in0[] = {
    -0.8687011003494263, 0.8179938793182373, -1.2924985885620117, -2.3314976692199707,
    -0.9540695548057556, 0.3628978431224823, 1.409394383430481, 0.2318004071712494,
    0.10078182816505432, -1.2640928030014038, -0.8768678307533264, -0.08896640688180923,
    0.5246289968490601, -0.49008652567863464, 0.4827325642108917, -1.4077680110931396,
    -0.7225099205970764, 1.6638729572296143, 0.046087466180324554, 1.279767632484436,
    0.10036876797676086, 0.35641077160835266, -0.29504474997520447, -0.995161235332489,
    -0.4649394452571869, -0.7756132483482361, 0.2634168863296509, -0.7273752689361572,
    0.9811763763427734, 0.11737384647130966
};
static const ag_real R_matmul_5x2x3_3x4_0_in1[] = {
    0.9995042085647583, 0.7112955451011658, -2.131010055541992, -0.46374958753585815,
    0.39175257086753845, -1.855804443359375, -0.030539680272340775, 1.763960361480713,
    0.0201775711029768, -0.10793282836675644, 0.5722304582595825, 0.7232198715209961
};
static const ag_real R_matmul_5x2x3_3x4_0_out[] = {
    -0.5738986827784647, -1.9964368702590463, 1.0866224489332064, 0.9110078928693142,
    -2.6967785364931673, 0.07301402293610049, 5.20524315581321, -0.3392548628530392,
    1.501537555707466, 0.5614420528619617, -2.952842281921642, -0.17183191314888546,
    -1.6087764296256164, 0.7377540331059569, 2.6696644497468753, -1.0248798530622452,
    0.3421166045416854, 1.2305683292745802, -0.8267883054790253, -0.7586679028234116,
    -1.6565422557408174, 0.15991149187205345, 3.974151794279689, 0.5817189601356603,
    0.5494420745005306, -2.353049734460477, -0.07986248208939672, 2.3086750196577372,
    0.22056959029175738, 0.9084693188753215, -1.3199659356070867, -1.4054529729057972,
    -0.7632423033480251, 1.080245826878687, 1.1652127792584561, -0.9620272232706224,
    -0.3402679554680304, -2.350918758573154, 1.5872440893851971, 2.152963314607767
};
static const ag_real R_matmul_5x2x3_3x4_0_go[] = {
    -0.5271498560905457, -1.1181695461273193, 3.0251200199127197, 0.16140872240066528,
    -1.2402375936508179, 1.9890609979629517, -0.3104446530342102, 0.8988481760025024,
    -0.37667539715766907, 0.5737826228141785, 2.401876449584961, 1.3684102296829224,
    -0.6257617473602295, -0.5932009220123291, -1.715847134590149, 0.5718828439712524,
    -0.19866696000099182, -1.4124207496643066, 1.7029448747634888, 1.2423840761184692,
    1.0490344762802124, -0.44305121898651123, -2.623237371444702, -1.1542373895645142,
    0.23832091689109802, -0.9495642781257629, -0.9849419593811035, 0.12373457849025726,
    0.756139874458313, -0.2837967872619629, 1.3739426136016846, 0.3601066470146179,
    0.11149057000875473, 0.269381582736969, 1.744297742843628, 0.8489749431610107,
    1.9905812740325928, -0.34602516889572144, -0.8834401369094849, 0.8551352620124817
};
static const ag_real R_matmul_5x2x3_3x4_0_g0[] = {
    -7.8436519266283575, 2.0609240908947166, 1.9578504087657733, 0.4199077387379333,
    -2.58216107002818, 0.23270901476078953, -5.721382167088059, 1.1280769684213867,
    2.29455795597128, 2.3438843913513594, 1.9169012246591692, -0.5168634540362871,
    -5.4083648046841795, 4.6828572828042905, 2.0214317276307803, 6.858796345606066,
    -0.722737798485988, -2.2668770008598713, 1.6043212784311889, 2.1039111428123745,
    -0.3668285873172638, -2.5409832380535313, 1.416145161673941, 1.09253615040269,
    -3.807782595906027, 0.9880450314861229, 1.5853103388149643, 3.22951938993522,
    2.9573750627893163, 0.1904320302951641
};
static const ref_case R_matmul_5x2x3_3x4_0 = {
    .id = "matmul/5x2x3_3x4/0",
    .n_in = 2,
    .in[0] = { { .ndim = 3, .d = { 5, 2, 3 } }, R_matmul_5x2x3_3x4_0_in0 },
    .in[1] = { { .ndim = 2, .d = { 3, 4 } }, R_matmul_5x2x3_3x4_0_in1 },
    .requires_grad = { true, false },
    .out = { { .ndim = 3, .d = { 5, 2, 4 } }, R_matmul_5x2x3_3x4_0_out },
    .grad_output = R_matmul_5x2x3_3x4_0_go,
    .grads = { R_matmul_5x2x3_3x4_0_g0, NULL },
};

/* linear/4x3_out2_bias/0  attrs {"bias": true} */
static const ag_real R_linear_4x3_out2_bias_0_in0[] = {
    -0.35365554690361023, -0.7406439185142517, -0.8489142060279846, 0.8681138753890991,
    -0.1299666166305542, -1.1904436349868774, 0.8175104260444641, 0.9142839312553406,
    -0.3078691065311432, -2.178483009338379, 0.413878858089447, 0.38412341475486755
};
static const ag_real R_linear_4x3_out2_bias_0_in1[] = {
    -0.14379121363162994, -1.765860915184021, 0.4087250232696533, -0.3626328110694885,
    3.382861614227295, 0.4206889569759369
};
static const ag_real R_linear_4x3_out2_bias_0_in2[] = {
    0.10465367883443832, -1.8483060598373413
};
static const ag_real R_linear_4x3_out2_bias_0_out[] = {
    1.116407908291595, -4.582683668362087, -0.27723460270283873, -3.103578204469887,
    -1.7532292047985552, 0.8186167185243578, -0.15595125286395728, 0.5033747383804306
};
static const ag_real R_linear_4x3_out2_bias_0_go[] = {
    -1.3104650974273682, -0.9173415303230286, 0.04546388238668442, -0.8642412424087524,
    2.586209774017334, -0.07476136088371277, -0.7725834846496582, -0.46054592728614807
};
static const ag_real R_linear_4x3_out2_bias_0_g0[] = {
    0.5210915046327997, -0.7891403538064878, -0.9215353290223742, 0.3068649243520861,
    -3.0038914173358444, -0.34499452045809953, -0.3447633196552946, -4.819794096365015,
    1.025597371133169, 0.27809978112790823, -0.19368815974551978, -0.5095207885307067
};
static const ag_real R_linear_4x3_out2_bias_0_g1[] = {
    4.300234526659694, 3.0094532866960675, -0.03463125043474857, 0.5163363920103876,
    0.5327826024450637, 1.6536849821270394
};
static const ag_real R_linear_4x3_out2_bias_0_g2[] = { 0.548625074326992, -2.316890060901642 };
static const ref_case R_linear_4x3_out2_bias_0 = {
    .id = "linear/4x3_out2_bias/0",
    .n_in = 3,
    .in[0] = { { .ndim = 2, .d = { 4, 3 } }, R_linear_4x3_out2_bias_0_in0 },
    .in[1] = { { .ndim = 2, .d = { 2, 3 } }, R_linear_4x3_out2_bias_0_in1 },
    .in[2] = { { .ndim = 1, .d = { 2 } }, R_linear_4x3_out2_bias_0_in2 },
    .requires_grad = { true, true, true },
    .out = { { .ndim = 2, .d = { 4, 2 } }, R_linear_4x3_out2_bias_0_out },
    .grad_output = R_linear_4x3_out2_bias_0_go,
    .grads = { R_linear_4x3_out2_bias_0_g0, R_linear_4x3_out2_bias_0_g1, R_linear_4x3_out2_bias_0_g2 },
};

/* linear/1x5_out3_bias/0  attrs {"bias": true} */
static const ag_real R_linear_1x5_out3_bias_0_in0[] = {
    0.39729830622673035, -0.6294382214546204, -0.7744041681289673, 0.5662688612937927,
    1.7206180095672607
};
static const ag_real R_linear_1x5_out3_bias_0_in1[] = {
    -1.5798038244247437, 0.2961494028568268, -0.3888738751411438, 1.4531759023666382,
    1.5133416652679443, 1.0830827951431274, 0.1854427605867386, 1.8156325817108154,
    -0.9554981589317322, 0.21899574995040894, 0.5673465132713318, 0.9153478741645813,
    -1.5027607679367065, -1.345257043838501, -1.1259998083114624
};
static const ag_real R_linear_1x5_out3_bias_0_in2[] = {
    -1.103663444519043, 0.3580736219882965, 0.6769503951072693
};
static const ag_real R_linear_1x5_out3_bias_0_out[] = {
    1.810192155614482, -0.8986384415142163, -1.2092472549738051
};
static const ag_real R_linear_1x5_out3_bias_0_go[] = {
    -0.02014450542628765, -1.1990408897399902, -0.44750750064849854
};
static const ag_real R_linear_1x5_out3_bias_0_g0[] = {
    -1.5207280117925908, -0.6379442752939124, -1.4966873189955554, 1.7184204701978067,
    0.21082298169051894
};
static const ag_real R_linear_1x5_out3_bias_0_g1[] = {
    -0.008003377885639262, 0.012679721667605448, 0.015599988967013756, -0.011407206149070537,
    -0.03466099883029594, -0.47637691459028986, 0.754722165089305, 0.9285422627717139,
    -0.6789795192777603, -2.0630913490941793, -0.1777939720314059, 0.2816783252957933,
    0.3465516737711738, -0.2534095628126565, -0.7699894650322392
};
static const ref_case R_linear_1x5_out3_bias_0 = {
    .id = "linear/1x5_out3_bias/0",
    .n_in = 3,
    .in[0] = { { .ndim = 2, .d = { 1, 5 } }, R_linear_1x5_out3_bias_0_in0 },
    .in[1] = { { .ndim = 2, .d = { 3, 5 } }, R_linear_1x5_out3_bias_0_in1 },
    .in[2] = { { .ndim = 1, .d = { 3 } }, R_linear_1x5_out3_bias_0_in2 },
    .requires_grad = { true, true, true },
    .out = { { .ndim = 2, .d = { 1, 3 } }, R_linear_1x5_out3_bias_0_out },
    .grad_output = R_linear_1x5_out3_bias_0_go,
    .grads = { R_linear_1x5_out3_bias_0_g0, R_linear_1x5_out3_bias_0_g1,
               R_linear_1x5_out3_bias_0_go },
};

/* linear/3x4_out2_nobias/0  attrs {"bias": false} */
static const ag_real R_linear_3x4_out2_nobias_0_in0[] = {
    1.2258821725845337, -0.11205309629440308, 0.3181467354297638, 0.3325733542442322,
    1.4743391275405884, -0.05037974566221237, 0.3492449223995209, -0.8123916983604431,
    -1.400665521621704, -0.05461158603429794, -0.13184763491153717, 0.15673312544822693
};
static const ag_real R_linear_3x4_out2_nobias_0_in1[] = {
    1.3266245126724243, 0.7659897804260254, 2.0106594562530518, 0.9780526161193848,
    -0.35838791728019714, -0.7113776803016663, -1.7544827461242676, 1.4595285654067993
};
static const ag_real R_linear_3x4_out2_nobias_0_out[] = {
    2.5054127944102262, -0.43241193438563386, 1.8249548361455616, -2.2909993832584807,
    -2.0117965823758652, 1.0009119367976154
};
static const ag_real R_linear_3x4_out2_nobias_0_go[] = {
    0.9117528200149536, 0.4247089922428131, 0.570948600769043, -0.15052340924739838,
    1.2691054344177246, 0.5135223269462585
};
static const ag_real R_linear_3x4_out2_nobias_0_g0[] = {
    1.0573430693499732, 0.396264844701113, 1.0880798303146122, 1.5116171370333724,
    0.811380180398324, 0.5444197870391383, 1.4120739275830871, 0.33872455709286875,
    1.4995861812331892, 0.6068134713209652, 1.6507727803173395, 1.990752395415818
};
static const ag_real R_linear_3x4_out2_nobias_0_g1[] = {
    0.18188116449671554, -0.2002368324490682, 0.322143532994982, 0.03830165139834918,
    -0.42055238767400915, -0.06805089526934827, 0.014843538725663574, 0.3440168214991113
};
static const ref_case R_linear_3x4_out2_nobias_0 = {
    .id = "linear/3x4_out2_nobias/0",
    .n_in = 2,
    .in[0] = { { .ndim = 2, .d = { 3, 4 } }, R_linear_3x4_out2_nobias_0_in0 },
    .in[1] = { { .ndim = 2, .d = { 2, 4 } }, R_linear_3x4_out2_nobias_0_in1 },
    .requires_grad = { true, true },
    .out = { { .ndim = 2, .d = { 3, 2 } }, R_linear_3x4_out2_nobias_0_out },
    .grad_output = R_linear_3x4_out2_nobias_0_go,
    .grads = { R_linear_3x4_out2_nobias_0_g0, R_linear_3x4_out2_nobias_0_g1 },
};

DEF_FN(f_matmul, ag_matmul(in[0], in[1]))
DEF_FN(f_linear, ag_linear(in[0], in[1], n > 2 ? in[2] : NULL))
/* with one operand constant the product is linear: square it for gradgradcheck */
DEF_FN(f_matmul_sq, ag_mul(ag_matmul(in[0], in[1]), ag_matmul(in[0], in[1])))

Test(matmul, reference)
{
    RUN_REF_CASES(f_matmul, NULL, &R_matmul_3_3_0, &R_matmul_2x3_3x4_0, &R_matmul_3_3x4_0,
                  &R_matmul_2x3_3_0, &R_matmul_5x2x3_5x3x4_0, &R_matmul_5x2x3_3x4_0);
    test_done();
}

Test(matmul, linear_reference)
{
    RUN_REF_CASES(f_linear, NULL, &R_linear_4x3_out2_bias_0, &R_linear_1x5_out3_bias_0,
                  &R_linear_3x4_out2_nobias_0);
    test_done();
}

/* --- a naive torch.matmul ---------------------------------------------------------------- */

/* y = a @ b and, for grad_output go, da = dL/da and db = dL/db (zeroed here); returns y's
 * shape. */
static ag_shape naive_matmul(ag_shape sa, const ag_real *a, ag_shape sb, const ag_real *b,
                             const ag_real *go, ag_real *y, ag_real *da, ag_real *db)
{
    ag_shape A = sa, B = sb;
    if (sa.ndim == 1)
        A = (ag_shape){ 2, { 1, sa.d[0] } };
    if (sb.ndim == 1)
        B = (ag_shape){ 2, { sb.d[0], 1 } };
    int64_t M = A.d[A.ndim - 2], K = A.d[A.ndim - 1], N = B.d[B.ndim - 1];
    cr_assert_eq(K, B.d[B.ndim - 2]);
    int na = A.ndim - 2, nb = B.ndim - 2, nd = na > nb ? na : nb;
    ag_shape bs = { .ndim = nd };
    for (int i = 0; i < nd; i++) {
        int ia = na - nd + i, ib = nb - nd + i;
        int64_t x = ia >= 0 ? A.d[ia] : 1, z = ib >= 0 ? B.d[ib] : 1;
        cr_assert(x == z || x == 1 || z == 1);
        bs.d[i] = x == 1 ? z : x;
    }
    size_t nbatch = 1;
    for (int i = 0; i < nd; i++)
        nbatch *= (size_t)bs.d[i];
    memset(da, 0, ag_shape_numel(sa) * sizeof(ag_real));
    memset(db, 0, ag_shape_numel(sb) * sizeof(ag_real));
    for (size_t t = 0; t < nbatch; t++) {
        /* the batch index of t, and the matching batch of a and b */
        size_t rem = t, oa = 0, ob = 0, stA = 1, stB = 1;
        for (int i = nd - 1; i >= 0; i--) {
            size_t k = rem % (size_t)bs.d[i];
            rem /= (size_t)bs.d[i];
            int ia = na - nd + i, ib = nb - nd + i;
            if (ia >= 0) {
                oa += (A.d[ia] == 1 ? 0 : k) * stA;
                stA *= (size_t)A.d[ia];
            }
            if (ib >= 0) {
                ob += (B.d[ib] == 1 ? 0 : k) * stB;
                stB *= (size_t)B.d[ib];
            }
        }
        const ag_real *pa = a + oa * (size_t)(M * K), *pb = b + ob * (size_t)(K * N);
        ag_real *pda = da + oa * (size_t)(M * K), *pdb = db + ob * (size_t)(K * N);
        ag_real *py = y + t * (size_t)(M * N);
        const ag_real *pg = go + t * (size_t)(M * N);
        for (int64_t m = 0; m < M; m++)
            for (int64_t n = 0; n < N; n++) {
                double s = 0;
                for (int64_t k = 0; k < K; k++) {
                    s += (double)pa[m * K + k] * pb[k * N + n];
                    pda[m * K + k] += pg[m * N + n] * pb[k * N + n];
                    pdb[k * N + n] += pa[m * K + k] * pg[m * N + n];
                }
                py[m * N + n] = (ag_real)s;
            }
    }
    ag_shape ys = bs;
    if (sa.ndim != 1)
        ys.d[ys.ndim++] = M;
    if (sb.ndim != 1)
        ys.d[ys.ndim++] = N;
    return ys;
}

static void check_against_naive(ag_shape sa, ag_shape sb)
{
    char s1[AG_SHAPE_STRLEN], s2[AG_SHAPE_STRLEN], what[2 * AG_SHAPE_STRLEN + 32];
    snprintf(what, sizeof what, "%s @ %s", ag_shape_str(sa, s1), ag_shape_str(sb, s2));
    ag_tensor *a = randn_leaf(sa, true), *b = randn_leaf(sb, true);
    ag_tensor *y = ag_matmul(a, b);
    cr_assert(y, "%s: %s", what, ag_error_message());
    size_t ny = ag_numel(y);
    ag_real *go = malloc(ny * sizeof *go), *ey = malloc(ny * sizeof *ey);
    ag_real *ea = malloc(ag_numel(a) * sizeof *ea), *eb = malloc(ag_numel(b) * sizeof *eb);
    cr_assert(go && ey && ea && eb);
    for (size_t i = 0; i < ny; i++)
        go[i] = (ag_real)ag_rand_normal();
    ag_shape ys = naive_matmul(sa, ag_cdata(a), sb, ag_cdata(b), go, ey, ea, eb);
    cr_assert(tu_same_shape(ag_shape_of(y), ys), "%s: shape %s, expected %s", what,
              ag_shape_str(ag_shape_of(y), s1), ag_shape_str(ys, s2));
    tu_expect_data_(ag_cdata(y), ey, ny, 1e-12, 1e-12, what, __FILE__, __LINE__);
    backward_with(y, go);
    cr_assert(ag_grad(a) && ag_grad(b));
    expect_shape(ag_grad(a), sa);
    expect_shape(ag_grad(b), sb);
    tu_expect_data_(ag_cdata(ag_grad(a)), ea, ag_numel(a), 1e-12, 1e-12, what, "grad a", 0);
    tu_expect_data_(ag_cdata(ag_grad(b)), eb, ag_numel(b), 1e-12, 1e-12, what, "grad b", 0);
    free(go), free(ey), free(ea), free(eb);
    ag_step_end();
}

/* The shapes torch.matmul distinguishes. */
static const ag_shape CASES[][2] = {
    { { 1, { 3 } }, { 1, { 3 } } },                         /* dot */
    { { 2, { 2, 3 } }, { 2, { 3, 4 } } },                   /* matrix product */
    { { 1, { 3 } }, { 2, { 3, 4 } } },                      /* 1-d @ 2-d */
    { { 2, { 2, 3 } }, { 1, { 3 } } },                      /* 2-d @ 1-d */
    { { 3, { 5, 2, 3 } }, { 3, { 5, 3, 4 } } },             /* batched */
    { { 4, { 2, 1, 3, 4 } }, { 3, { 5, 4, 2 } } },          /* batch broadcast */
    { { 3, { 5, 2, 3 } }, { 2, { 3, 4 } } },                /* batch @ one matrix */
    { { 4, { 4, 5, 2, 3 } }, { 2, { 3, 6 } } },             /* 4-d @ 2-d */
    { { 2, { 2, 3 } }, { 3, { 4, 3, 5 } } },                /* one matrix @ batch */
    { { 1, { 3 } }, { 3, { 5, 3, 4 } } },                   /* 1-d @ batch */
    { { 3, { 5, 2, 3 } }, { 1, { 3 } } },                   /* batch @ 1-d */
    { { 3, { 1, 2, 3 } }, { 3, { 4, 3, 2 } } },             /* size-1 batch broadcast */
    { { 4, { 3, 1, 2, 3 } }, { 4, { 1, 2, 3, 1 } } },       /* both broadcast, N = 1 */
    { { 2, { 1, 1 } }, { 2, { 1, 1 } } },                   /* 1x1 */
};
#define N_CASES (sizeof CASES / sizeof CASES[0])

Test(matmul, against_naive_loop)
{
    ag_manual_seed(42);
    for (size_t k = 0; k < N_CASES; k++)
        check_against_naive(CASES[k][0], CASES[k][1]);
    test_done();
}

Test(matmul, larger_sizes_against_naive_loop)
{
    /* sizes that are not multiples of any block size, to reach the GEMM's edge handling */
    ag_manual_seed(43);
    check_against_naive(AG_SHAPE(37, 53), AG_SHAPE(53, 29));
    check_against_naive(AG_SHAPE(3, 17, 33), AG_SHAPE(33, 9));
    check_against_naive(AG_SHAPE(65), AG_SHAPE(65, 70));
    check_against_naive(AG_SHAPE(2, 1, 19, 31), AG_SHAPE(3, 31, 23));
    test_done();
}

Test(matmul, shapes_by_hand)
{
    ag_tensor *v = leaf((const ag_real[]){ 1, 2, 3 }, AG_SHAPE(3), true);
    ag_tensor *m = leaf((const ag_real[]){ 1, 0, 2, -1, 1, 1 }, AG_SHAPE(3, 2), true);
    ag_tensor *d = ag_matmul(v, v);
    expect_shape(d, AG_SCALAR);
    EXPECT_VALUES(d, 0, 14);
    ag_tensor *r = ag_matmul(v, m); /* [3] @ [3,2] -> [2] */
    expect_shape(r, AG_SHAPE(2));
    EXPECT_VALUES(r, 0, 1 + 4 + 3, 0 - 2 + 3);
    ag_tensor *c = ag_matmul(ag_transpose(m, 0, 1), v); /* [2,3] @ [3] -> [2] */
    expect_shape(c, AG_SHAPE(2));
    EXPECT_VALUES(c, 0, 8, 1);
    BACKWARD_WITH(d, 0.5);
    EXPECT_VALUES(ag_grad(v), 0, 1, 2, 3); /* d(v.v)/dv = 2v, times 0.5 */
    test_done();
}

Test(matmul, batch_times_matrix_sums_the_matrix_gradient)
{
    /* a [2,1,2] @ b [2,2]: b's gradient sums over the batch */
    ag_tensor *a = leaf((const ag_real[]){ 1, 2, 3, 4 }, AG_SHAPE(2, 1, 2), true);
    ag_tensor *b = leaf((const ag_real[]){ 1, 0, 0, 1 }, AG_SHAPE(2, 2), true);
    ag_tensor *y = ag_matmul(a, b);
    expect_shape(y, AG_SHAPE(2, 1, 2));
    EXPECT_VALUES(y, 0, 1, 2, 3, 4);
    BACKWARD_WITH(y, 1, 1, 1, 1);
    /* db[k][n] = sum_batch a[k] * 1 */
    EXPECT_VALUES(ag_grad(b), 0, 4, 4, 6, 6);
    EXPECT_VALUES(ag_grad(a), 0, 1, 1, 1, 1);
    test_done();
}

/* --- gradcheck / gradgradcheck --------------------------------------------------------------- */

Test(matmul, gradchecks)
{
    ag_manual_seed(44);
    for (size_t k = 0; k < N_CASES; k++) {
        ag_tensor *in[2] = { randn_leaf(CASES[k][0], true), randn_leaf(CASES[k][1], true) };
        char s1[AG_SHAPE_STRLEN], s2[AG_SHAPE_STRLEN];
        cr_log_info("%s @ %s", ag_shape_str(CASES[k][0], s1), ag_shape_str(CASES[k][1], s2));
        expect_gradchecks(f_matmul, in, 2, NULL);
        /* one side constant */
        ag_set_requires_grad(in[1], false);
        expect_gradcheck(f_matmul, in, 2, NULL);
        expect_gradgradcheck(f_matmul_sq, in, 2, NULL);
        ag_set_requires_grad(in[1], true);
        ag_set_requires_grad(in[0], false);
        expect_gradcheck(f_matmul, in, 2, NULL);
        expect_gradgradcheck(f_matmul_sq, in, 2, NULL);
    }
    test_done();
}

/* --- linear ------------------------------------------------------------------------------------ */

/* y = x @ w^T + b for x [..., I], w [O, I], b [O] or NULL. */
static void naive_linear(const ag_real *x, size_t rows, int64_t I, const ag_real *w, int64_t O,
                         const ag_real *b, ag_real *y)
{
    for (size_t r = 0; r < rows; r++)
        for (int64_t o = 0; o < O; o++) {
            double s = b ? b[o] : 0;
            for (int64_t i = 0; i < I; i++)
                s += x[r * (size_t)I + (size_t)i] * w[o * I + i];
            y[r * (size_t)O + (size_t)o] = (ag_real)s;
        }
}

Test(matmul, linear_shapes_and_values)
{
    ag_manual_seed(45);
    ag_tensor *w = randn_leaf(AG_SHAPE(2, 3), true), *b = randn_leaf(AG_SHAPE(2), true);
    struct {
        ag_shape x, y;
    } cases[] = {
        { AG_SHAPE(3), AG_SHAPE(2) },
        { AG_SHAPE(4, 3), AG_SHAPE(4, 2) },
        { AG_SHAPE(2, 4, 3), AG_SHAPE(2, 4, 2) },
        { AG_SHAPE(1, 1, 1, 3), AG_SHAPE(1, 1, 1, 2) },
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        ag_tensor *x = randn_leaf(cases[k].x, true);
        size_t rows = ag_numel(x) / 3;
        ag_real ey[64];
        for (int with_bias = 0; with_bias < 2; with_bias++) {
            ag_tensor *y = ag_linear(x, w, with_bias ? b : NULL);
            expect_shape(y, cases[k].y);
            naive_linear(ag_cdata(x), rows, 3, ag_cdata(w), 2, with_bias ? ag_cdata(b) : NULL, ey);
            expect_tensor(y, ey, rows * 2, 1e-14, 1e-14);
            /* same as matmul with the transpose, plus b */
            ag_tensor *z = ag_matmul(x, ag_transpose(w, 0, 1));
            if (with_bias)
                z = ag_add(z, b);
            expect_tensor(y, ag_cdata(z), rows * 2, 1e-14, 1e-14);
        }
        ag_tensor *in3[3] = { x, w, b };
        expect_gradchecks(f_linear, in3, 3, NULL);
        expect_gradchecks(f_linear, in3, 2, NULL);
    }
    test_done();
}

Test(matmul, linear_gradients_by_hand)
{
    ag_tensor *x = leaf((const ag_real[]){ 1, 2, 3, 4 }, AG_SHAPE(2, 2), true);
    ag_tensor *w = leaf((const ag_real[]){ 1, -1, 2, 0, 0, 1 }, AG_SHAPE(3, 2), true);
    ag_tensor *b = leaf((const ag_real[]){ 10, 20, 30 }, AG_SHAPE(3), true);
    ag_tensor *y = ag_linear(x, w, b);
    expect_shape(y, AG_SHAPE(2, 3));
    EXPECT_VALUES(y, 0, 10 - 1, 20 + 2, 30 + 2, 10 - 1, 20 + 6, 30 + 4);
    BACKWARD_WITH(y, 1, 2, 3, 4, 5, 6);
    /* dx = go @ w, dw = go^T @ x, db = column sums of go */
    EXPECT_VALUES(ag_grad(x), 0, 1 + 4, -1 + 3, 4 + 10, -4 + 6);
    EXPECT_VALUES(ag_grad(w), 0, 1 + 12, 2 + 16, 2 + 15, 4 + 20, 3 + 18, 6 + 24);
    EXPECT_VALUES(ag_grad(b), 0, 5, 7, 9);
    test_done();
}

Test(matmul, linear_only_some_inputs_require_grad)
{
    ag_manual_seed(46);
    ag_tensor *x = randn_leaf(AG_SHAPE(4, 3), false);
    ag_tensor *w = randn_leaf(AG_SHAPE(2, 3), true);
    ag_tensor *b = randn_leaf(AG_SHAPE(2), false);
    BACKWARD_WITH(ag_sum(ag_linear(x, w, b)), 1);
    cr_expect(ag_grad(x) == NULL && ag_grad(b) == NULL);
    cr_assert(ag_grad(w));
    /* dw[o][i] = sum_rows x[r][i] */
    ag_real e[6];
    for (int o = 0; o < 2; o++)
        for (int i = 0; i < 3; i++) {
            e[o * 3 + i] = 0;
            for (int r = 0; r < 4; r++)
                e[o * 3 + i] += ag_cdata(x)[r * 3 + i];
        }
    expect_tensor(ag_grad(w), e, 6, 1e-14, 1e-14);
    test_done();
}

/* --- errors ------------------------------------------------------------------------------------ */

Test(matmul, errors)
{
    ag_tensor *a = randn_leaf(AG_SHAPE(2, 3), true);
    ag_tensor *b = randn_leaf(AG_SHAPE(4, 5), true);
    ag_tensor *v = randn_leaf(AG_SHAPE(4), true);
    ag_tensor *s = randn_leaf(AG_SCALAR, true);
    expect_error(ag_matmul(a, b), AG_ERR_SHAPE,
                 "matmul: shapes [2,3] and [4,5] cannot be multiplied (inner sizes differ)");
    expect_error(ag_matmul(v, a), AG_ERR_SHAPE,
                 "matmul: shapes [4] and [2,3] cannot be multiplied (inner sizes differ)");
    expect_error(ag_matmul(a, v), AG_ERR_SHAPE,
                 "matmul: shapes [2,3] and [4] cannot be multiplied (inner sizes differ)");
    expect_error(ag_matmul(s, v), AG_ERR_SHAPE,
                 "matmul: shapes [] and [4] cannot be multiplied (both must be at least 1-d)");
    expect_error(ag_matmul(v, s), AG_ERR_SHAPE,
                 "matmul: shapes [4] and [] cannot be multiplied (both must be at least 1-d)");
    ag_tensor *c = randn_leaf(AG_SHAPE(2, 2, 3), true), *d = randn_leaf(AG_SHAPE(3, 3, 4), true);
    /* batch dims that do not broadcast; the message currently names only the batch shapes
     * ("matmul: shapes [2] and [3] cannot be broadcast"), so only its start is checked */
    ag_clear_error();
    cr_expect(ag_matmul(c, d) == NULL);
    cr_expect_eq(ag_error(), AG_ERR_SHAPE);
    cr_expect(strncmp(ag_error_message(), "matmul: shapes ", 15) == 0, "%s",
              ag_error_message());
    ag_clear_error();
    test_done();
}

Test(matmul, linear_errors)
{
    ag_tensor *x = randn_leaf(AG_SHAPE(4, 3), true);
    ag_tensor *w = randn_leaf(AG_SHAPE(2, 4), true);
    ag_tensor *w2 = randn_leaf(AG_SHAPE(2, 3), true);
    ag_tensor *b = randn_leaf(AG_SHAPE(3), true);
    ag_tensor *s = randn_leaf(AG_SCALAR, true);
    expect_error(ag_linear(x, w, NULL), AG_ERR_SHAPE,
                 "linear: shapes [4,3] and [2,4] do not fit (input [..., in] and weight [out, in])");
    expect_error(ag_linear(x, w2, b), AG_ERR_SHAPE,
                 "linear: bias of shape [3] does not fit weight of shape [2,3]");
    expect_error(ag_linear(s, w2, NULL), AG_ERR_SHAPE,
                 "linear: shapes [] and [2,3] do not fit (input [..., in] and weight [out, in])");
    expect_error(ag_linear(x, b, NULL), AG_ERR_SHAPE,
                 "linear: shapes [4,3] and [3] do not fit (input [..., in] and weight [out, in])");
    test_done();
}
