// rng.h: a small seeded generator (splitmix64 to seed, xoshiro256** to draw). Every random
// choice in the project (weights, shuffles, augmentation) goes through an rng the caller owns,
// so a seed reproduces a run exactly.
#ifndef NN_RNG_H
#define NN_RNG_H

#include <stdint.h>

typedef struct rng { uint64_t s[4]; } rng;

void rng_seed(rng *r, uint64_t seed);
uint64_t rng_next(rng *r);
double rng_uniform(rng *r);                       // [0, 1)
double rng_uniform_range(rng *r, double lo, double hi);  // [lo, hi)
uint32_t rng_below(rng *r, uint32_t n);           // [0, n), unbiased
void rng_shuffle(rng *r, int32_t *a, int n);      // Fisher-Yates

#endif
