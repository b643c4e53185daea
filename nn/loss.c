// loss.c: binary cross-entropy and accuracy from logits, the C path. Accumulated in double so
// the mean does not depend on the batch's order more than rounding allows.
#include "loss.h"

#include <math.h>

float sigmoidf_stable(float z) {
    // Never evaluates exp of a large positive number.
    if (z >= 0) return 1.0f / (1.0f + expf(-z));
    float e = expf(z);
    return e / (1.0f + e);
}

float bce_logits(int n, const float *z, const float *y, float *dz) { return bce_logits_n(n, z, y, dz, n); }

float bce_logits_n(int n, const float *z, const float *y, float *dz, int grad_n) {
    double sum = 0;
    for (int i = 0; i < n; i++) {
        double zi = z[i], yi = y[i];
        // -[y log s(z) + (1-y) log(1-s(z))] rewritten without log(0) or exp overflow.
        sum += fmax(zi, 0.0) - zi * yi + log1p(exp(-fabs(zi)));
        if (dz) dz[i] = (sigmoidf_stable(z[i]) - y[i]) / (float)grad_n;
    }
    return n ? (float)(sum / n) : 0.0f;
}

int binary_correct(int n, const float *z, const float *y) {
    int c = 0;
    for (int i = 0; i < n; i++) c += (z[i] > 0.0f) == (y[i] > 0.5f);
    return c;
}
