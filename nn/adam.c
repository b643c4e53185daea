// adam.c: the C path of Adam, one pass over an arena (see adam.h for the exact Keras formula).
#include "adam.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

// Keras computes 1 - beta in Python (double) from the value the user wrote, then float32:
// 1 - 0.999 gives 0.001f, whereas 1 - 0.999f in float gives 0.00099998713 (1.3e-5 off, which
// shows in v at once). Recover the decimal the float came from as the shortest one that
// rounds back to it (what Python's repr prints), and subtract in double as Keras does.
float adam_one_minus(float beta) {
    char buf[32];
    for (int p = 1; p <= 9; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, (double)beta);
        if (strtof(buf, NULL) == beta) return (float)(1.0 - strtod(buf, NULL));
    }
    return 1.0f - beta;
}

float adam_alpha(const adam_cfg *c, long t) {
    // Keras computes these powers and the ratio in float32; do the same to match its weights.
    float b1p = powf(c->beta1, (float)t), b2p = powf(c->beta2, (float)t);
    return c->lr * sqrtf(1.0f - b2p) / (1.0f - b1p);
}

void adam_step(const adam_cfg *c, long t, size_t n, float *w, const float *g, float *m, float *v) {
    const float alpha = adam_alpha(c, t), eps = c->epsilon;
    const float a1 = adam_one_minus(c->beta1), a2 = adam_one_minus(c->beta2);
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
