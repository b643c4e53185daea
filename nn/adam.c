// adam.c: the C path of Adam, one pass over an arena (see adam.h for the exact Keras formula).
#include "adam.h"

#include <math.h>

float adam_alpha(const adam_cfg *c, long t) {
    // Keras computes these powers and the ratio in float32; do the same to match its weights.
    float b1p = powf(c->beta1, (float)t), b2p = powf(c->beta2, (float)t);
    return c->lr * sqrtf(1.0f - b2p) / (1.0f - b1p);
}

void adam_step(const adam_cfg *c, long t, size_t n, float *w, const float *g, float *m, float *v) {
    const float alpha = adam_alpha(c, t), a1 = 1.0f - c->beta1, a2 = 1.0f - c->beta2, eps = c->epsilon;
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) {
        float gi = g[i];
        float mi = m[i] + (gi - m[i]) * a1;
        float vi = v[i] + (gi * gi - v[i]) * a2;
        m[i] = mi;
        v[i] = vi;
        w[i] -= alpha * mi / (sqrtf(vi) + eps);
    }
}
