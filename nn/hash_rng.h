// hash_rng.h: counter-based random bits, the same on the C path and on the GPU.
//
// Dropout's mask must be a pure function of (the layer's seed, the training step t, the element's
// index in the batch): then the C path and the CUDA kernels draw the same mask, a resumed run
// draws what the unbroken run would have drawn (nothing is carried from step to step), and
// backward regenerates forward's mask instead of storing it. A stateful generator (nn/rng.h)
// gives none of that, so this is a hash: the key of a pass is splitmix64 of (seed, t), computed
// once; each element's 32 bits are two rounds of 32-bit mixing of its index under that key
// (murmur3's finalizer, then a second round with other constants after adding the key's high
// half), all 32-bit multiplies so the GPU spends a few integer instructions an element.
//
// Keep-or-drop is decided in integers so both paths agree bit for bit: Keras keeps an element
// when a uniform u in [0, 1) is >= rate; with u = (bits >> 8) * 2^-24 (24 bits, exact in a
// float) that is (bits >> 8) >= ceil(rate * 2^24), the threshold hr_threshold gives.
#ifndef NN_HASH_RNG_H
#define NN_HASH_RNG_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#ifdef __CUDACC__
#define HR_FN __host__ __device__ static inline
#else
#define HR_FN static inline
#endif

// splitmix64's finalizer: a bijection of 64-bit words with full avalanche.
HR_FN uint64_t hr_mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

// The key of one pass: the layer's seed and the step.
HR_FN uint64_t hr_key(uint64_t seed, int64_t t) {
    return hr_mix64(seed ^ hr_mix64((uint64_t)t + 0x9e3779b97f4a7c15ull));
}

// The mixing of hr_bits: x is the element's low 32 bits xor the key's, k2 what the key's high
// half and the element's high 32 bits add in the middle (hr_k2). Apart so that a loop over
// elements whose high bits agree is 32-bit arithmetic a compiler vectorizes (layers/dropout.c).
HR_FN uint32_t hr_mix32(uint32_t x, uint32_t k2) {
    x ^= x >> 16;
    x *= 0x85ebca6bu;
    x ^= x >> 13;
    x *= 0xc2b2ae35u;
    x ^= x >> 16;
    x += k2;
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    return x;
}

HR_FN uint32_t hr_k2(uint64_t key, uint64_t i) { return (uint32_t)(key >> 32) + (uint32_t)(i >> 32) * 0x632be5abu; }

// 32 random bits of element i under key.
HR_FN uint32_t hr_bits(uint64_t key, uint64_t i) { return hr_mix32((uint32_t)i ^ (uint32_t)key, hr_k2(key, i)); }

// The keep threshold for a drop rate in [0, 1]: 0 keeps everything, 2^24 nothing.
HR_FN uint32_t hr_threshold(float rate) {
    double r = rate <= 0 ? 0.0 : rate >= 1 ? 1.0 : (double)rate;
    return (uint32_t)ceil(r * 16777216.0);
}

// Element i is kept (u >= rate).
HR_FN int hr_keep(uint64_t key, uint64_t i, uint32_t threshold) {
    return (hr_bits(key, i) >> 8) >= threshold;
}

// Keras's scale of the kept values, 1 / (1 - rate): TensorFlow computes it in double from the
// rate the user wrote (a Python float) and rounds it to float32 once. The decimal is recovered
// as the shortest one that reads back as the float (Python's repr), as nn/adam.c does for
// 1 - beta. Host only: the kernels get the scale as an argument.
static inline float hr_scale(float rate) {
    if (rate >= 1) return 0.0f;
    char buf[32];
    double r = rate;
    for (int p = 1; p <= 9; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, (double)rate);
        if (strtof(buf, NULL) == rate) {
            r = strtod(buf, NULL);
            break;
        }
    }
    return (float)(1.0 / (1.0 - r));
}

#undef HR_FN
#endif
