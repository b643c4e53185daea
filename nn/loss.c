// loss.c: binary and categorical cross-entropy and their accuracies from logits, the C path.
// Accumulated in double so the mean does not depend on the batch's order more than rounding
// allows.
#include "loss.h"

#include <math.h>
#include <stddef.h>

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

// ---------------------------------------------------------------------------------------------
// categorical cross-entropy (cuda/loss_cuda.cu's cce_kernel is the twin: the same arithmetic in
// the same order, so both paths give the same floats but for the last bit of exp)

const char *loss_keras_name(loss_kind k) {
    return k == LOSS_BCE ? "binary_crossentropy" : k == LOSS_CCE ? "categorical_crossentropy" : "none";
}

int label_index(float y, int c) {
    if (!(y >= 0.0f && y < (float)c)) return -1;   // NaN fails too
    int k = (int)y;
    return (float)k == y ? k : -1;
}

int argmax_row(int c, const float *z) {
    int best = 0;
    for (int j = 1; j < c; j++)
        if (z[j] > z[best] || z[best] != z[best]) best = j;
    return best;
}

float cce_logits_n(int n, int c, const float *z, const float *y, float *dz, int grad_n) {
    double sum = 0;
    for (int i = 0; i < n; i++) {
        const float *zi = z + (size_t)i * c;
        const int k = label_index(y[i], c);
        float mx = zi[0];
        for (int j = 1; j < c; j++) mx = zi[j] > mx ? zi[j] : mx;
        double se = 0;
        for (int j = 0; j < c; j++) se += exp((double)zi[j] - mx);
        // -log softmax(z)_k = log(sum exp(z - max)) + max - z_k
        sum += k >= 0 ? log(se) + (double)mx - zi[k] : NAN;
        if (!dz) continue;
        float *di = dz + (size_t)i * c;
        for (int j = 0; j < c; j++) {
            double p = exp((double)zi[j] - mx) / se;
            di[j] = k >= 0 ? (float)(p - (j == k)) / (float)grad_n : NAN;
        }
    }
    return n ? (float)(sum / n) : 0.0f;
}

float cce_logits(int n, int c, const float *z, const float *y, float *dz) {
    return cce_logits_n(n, c, z, y, dz, n);
}

int categorical_correct(int n, int c, const float *z, const float *y) {
    int right = 0;
    for (int i = 0; i < n; i++) right += argmax_row(c, z + (size_t)i * c) == label_index(y[i], c);
    return right;
}

void softmax_logits(int n, int c, const float *z, float *out) {
    for (int i = 0; i < n; i++) {
        const float *zi = z + (size_t)i * c;
        float *oi = out + (size_t)i * c;
        float mx = zi[0];
        for (int j = 1; j < c; j++) mx = zi[j] > mx ? zi[j] : mx;
        double se = 0;
        for (int j = 0; j < c; j++) se += exp((double)zi[j] - mx);
        for (int j = 0; j < c; j++) oi[j] = (float)(exp((double)zi[j] - mx) / se);
    }
}
