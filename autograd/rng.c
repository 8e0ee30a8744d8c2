/* rng.c — the per-thread generator: xoshiro256** seeded through splitmix64.
 *
 * Chosen for speed and a small, checkpointable state (four words). Its numbers are not
 * PyTorch's; results that depend on them agree with PyTorch in distribution, not bitwise. */
#include "autograd_internal.h"

#include <math.h>

static _Thread_local ag_rng_state tls_rng;
static _Thread_local bool tls_seeded;

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void ag_manual_seed(uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        tls_rng.s[i] = splitmix64(&seed);
    tls_seeded = true;
}

static ag_rng_state *rng(void)
{
    if (!tls_seeded)
        ag_manual_seed(0);
    return &tls_rng;
}

ag_rng_state ag_get_rng_state(void) { return *rng(); }

void ag_set_rng_state(ag_rng_state st)
{
    if (!(st.s[0] | st.s[1] | st.s[2] | st.s[3])) { /* xoshiro would give zeros forever */
        ag_fail(AG_ERR_ARG, "set_rng_state: the all-zero state is not a valid generator state");
        return;
    }
    tls_rng = st;
    tls_seeded = true;
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t next_u64(void)
{
    uint64_t *s = rng()->s;
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

double ag_rand_uniform(void) { return (double)(next_u64() >> 11) * 0x1p-53; }

/* Box-Muller; uses one of the pair so that the state alone determines the stream. */
double ag_rand_normal(void)
{
    double u1 = 1.0 - ag_rand_uniform(); /* (0, 1]: log is finite */
    double u2 = ag_rand_uniform();
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}
