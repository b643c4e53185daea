// batchnorm.c: Keras's BatchNormalization over the last axis (the channels), after a conv
// (NHWC: statistics over the n*H*W positions of each channel) or after a dense layer (over the n
// samples). The C path and the reference for cuda/batchnorm_cuda.cu.
//
// Tensors, in Keras's weight order and contiguous (model_finalize lays a layer's tensors one
// after another; w points at the first): gamma (C), beta (C), trained; moving_mean (C) and
// moving_variance (C), `fixed`: not trained, not in Adam's state, saved as Keras saves its
// non-trainable weights.
//
// As Keras 3 computes it (keras/src/layers/normalization/batch_normalization.py, the TensorFlow
// backend's tf.nn.batch_normalization):
//   training:  mean, var = the batch's mean and biased variance (ops.moments)
//              moving_mean = moving_mean * momentum + mean * (1 - momentum), the same for the
//              variance (the biased one: tests/oracles/bn_dropout_keras.py checks it)
//   inference: mean, var = the moving statistics
//   both:      inv = gamma / sqrt(var + epsilon) (rsqrt, then times gamma);
//              y = x * inv + (beta - mean * inv)
// The sums behind mean and variance are in double, over blocks of a fixed number of rows added
// in a fixed order, so the result does not depend on the number of threads.
//
// A training forward writes the moving statistics into the weight arena: they are the layer's
// own fixed tensors, which the walk hands over as const only because no other layer writes
// weights in forward. Backward needs the batch's mean and 1/sqrt(var + epsilon); forward keeps
// them as floats in aux (aux_per_sample = 2C int32 slots: the first sample's room holds them),
// which costs 8C bytes a sample of memory and saves backward a second reduction over x.
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "../nn/adam.h"
#include "../nn/common.h"
#include "layer.h"

static int batchnorm_setup(layer *l, shape3 in, char *err) {
    const int last = in.flat ? 1 : 3;   // (N, C) or (N, H, W, C)
    if (l->axis != -1 && l->axis != last)
        return nn_fail(err, "batchnorm normalises over the channels (axis -1 or %d), not axis %d",
                       last, l->axis);
    l->axis = -1;   // written back as Keras 3 writes the default
    if (!(l->momentum >= 0 && l->momentum <= 1) || !(l->epsilon > 0))
        return nn_fail(err, "batchnorm needs 0 <= momentum <= 1 and epsilon > 0 (got %g and %g)",
                       l->momentum, l->epsilon);
    l->in = in;
    l->out = in;
    const int c = in.c;
    layer_add_param(l, "gamma", 1, &c);
    layer_add_param(l, "beta", 1, &c);
    layer_add_param(l, "moving_mean", 1, &c);
    layer_add_param(l, "moving_variance", 1, &c);
    l->params[2].fixed = l->params[3].fixed = 1;
    l->aux_per_sample = 2 * (size_t)c;
    return 0;
}

static void batchnorm_init(const layer *l, float *w, rng *r) {
    (void)r;
    const int C = l->in.c;
    for (int c = 0; c < C; c++) w[c] = 1.0f, w[C + c] = 0.0f, w[2 * C + c] = 0.0f, w[3 * C + c] = 1.0f;
}

// --- per-channel sums in a fixed order

#define BN_BLOCK_ROWS 512

static size_t bn_blocks(size_t rows) { return (rows + BN_BLOCK_ROWS - 1) / BN_BLOCK_ROWS; }

// Two doubles per channel per block of rows.
static size_t batchnorm_scratch(const layer *l, const nn_ctx *ctx, int n) {
    (void)ctx;
    size_t rows = (size_t)n * l->in.h * l->in.w;
    return bn_blocks(rows) * (size_t)l->in.c * 2 * (sizeof(double) / sizeof(float));
}

// s0[c] = sum over rows of a[r, c]; s1[c] = sum of a[r, c] * b[r, c] (b NULL: a^2), or with
// `centre` the sum of a * ((b - centre[c]) * scale[c]) (backward's dy * xhat). Rows are (rows, C).
static void channel_sums(const float *a, const float *b, const float *centre, const float *scale,
                         size_t rows, int C, double *part, double *s0, double *s1) {
    const size_t nb = bn_blocks(rows);
#pragma omp parallel for schedule(static) if (rows * C > 65536)
    for (size_t k = 0; k < nb; k++) {
        double *p0 = part + k * 2 * C, *p1 = p0 + C;
        for (int c = 0; c < C; c++) p0[c] = p1[c] = 0;
        size_t r1 = NN_MIN(rows, (k + 1) * BN_BLOCK_ROWS);
        for (size_t r = k * BN_BLOCK_ROWS; r < r1; r++) {
            const float *ar = a + r * C, *br = b ? b + r * C : NULL;
            for (int c = 0; c < C; c++) {
                double v = ar[c];
                p0[c] += v;
                if (!br) p1[c] += v * v;
                else p1[c] += v * (double)((br[c] - centre[c]) * scale[c]);
            }
        }
    }
    for (int c = 0; c < C; c++) s0[c] = s1[c] = 0;
    for (size_t k = 0; k < nb; k++)
        for (int c = 0; c < C; c++) s0[c] += part[k * 2 * C + c], s1[c] += part[k * 2 * C + C + c];
}

// y = x * inv[c] + shift[c] over (rows, C).
static void apply(const float *x, float *y, size_t rows, int C, const float *inv, const float *shift) {
#pragma omp parallel for schedule(static) if (rows * C > 65536)
    for (size_t r = 0; r < rows; r++)
        for (int c = 0; c < C; c++) y[r * C + c] = x[r * C + c] * inv[c] + shift[c];
}

// --- passes

static void batchnorm_fwd(const layer *l, const nn_ctx *ctx, const layer_io *io) {
    (void)ctx;
    const int C = l->in.c;
    const size_t rows = (size_t)io->n * l->in.h * l->in.w;
    const float *gamma = io->w, *beta = io->w + C;
    // The moving statistics: this layer's own fixed tensors (see the top of the file).
    float *mmean = (float *)io->w + 2 * C, *mvar = (float *)io->w + 3 * C;
    float *inv = nn_alloc(2 * (size_t)C * sizeof(float), "batchnorm factors"), *shift = inv + C;
    if (io->training) {
        double *part = (double *)io->ws, *s0 = nn_alloc(2 * (size_t)C * sizeof(double), "batchnorm sums");
        if (!part || io->ws_floats < batchnorm_scratch(l, ctx, io->n))
            NN_DIE("batchnorm: %zu floats of scratch, needs %zu", io->ws_floats, batchnorm_scratch(l, ctx, io->n));
        channel_sums(io->x, NULL, NULL, NULL, rows, C, part, s0, s0 + C);
        float *keep = (float *)io->aux;   // (C) mean, (C) 1/sqrt(var + epsilon)
        if (!keep) NN_DIE("batchnorm: a training forward needs aux (%zu values a sample)", l->aux_per_sample);
        const float mom = l->momentum, om = adam_one_minus(l->momentum);
        for (int c = 0; c < C; c++) {
            double mean = s0[c] / (double)rows, var = s0[C + c] / (double)rows - mean * mean;
            float m = (float)mean, v = (float)(var > 0 ? var : 0);
            float is = 1.0f / sqrtf(v + l->epsilon);
            inv[c] = is * gamma[c];
            shift[c] = beta[c] - m * inv[c];
            keep[c] = m, keep[C + c] = is;
            float a = mmean[c] * mom, b = m * om;
            mmean[c] = a + b;
            a = mvar[c] * mom, b = v * om;
            mvar[c] = a + b;
        }
        nn_free(s0);
    } else {
        for (int c = 0; c < C; c++) {
            float is = 1.0f / sqrtf(mvar[c] + l->epsilon);
            inv[c] = is * gamma[c];
            shift[c] = beta[c] - mmean[c] * inv[c];
        }
    }
    apply(io->x, io->y, rows, C, inv, shift);
    nn_free(inv);
}

// With xhat = (x - mean) * is and k = gamma * is, over the M rows of the batch:
//   dgamma = sum dy * xhat, dbeta = sum dy, dx = k * (dy - dbeta / M - xhat * dgamma / M).
static void batchnorm_bwd(const layer *l, const nn_ctx *ctx, const layer_io *io) {
    (void)ctx;
    const int C = l->in.c;
    const size_t rows = (size_t)io->n * l->in.h * l->in.w;
    const float *gamma = io->w, *keep = (const float *)io->aux, *mean = keep, *is = keep + C;
    double *part = (double *)io->ws, *s = nn_alloc(2 * (size_t)C * sizeof(double), "batchnorm sums");
    if (!part || io->ws_floats < batchnorm_scratch(l, ctx, io->n))
        NN_DIE("batchnorm: %zu floats of scratch, needs %zu", io->ws_floats, batchnorm_scratch(l, ctx, io->n));
    channel_sums(io->dy, io->x, mean, is, rows, C, part, s, s + C);
    float *f = nn_alloc(3 * (size_t)C * sizeof(float), "batchnorm factors");
    float *k = f, *db = f + C, *dg = f + 2 * C;
    for (int c = 0; c < C; c++) {
        io->dw[c] = (float)s[C + c];          // gamma
        io->dw[C + c] = (float)s[c];          // beta
        io->dw[2 * C + c] = io->dw[3 * C + c] = 0.0f;   // the moving statistics: not trained
        k[c] = gamma[c] * is[c];
        db[c] = (float)(s[c] / (double)rows);
        dg[c] = (float)(s[C + c] / (double)rows);
    }
    if (io->dx) {
        const float *x = io->x, *dy = io->dy;
        float *dx = io->dx;
#pragma omp parallel for schedule(static) if (rows * C > 65536)
        for (size_t r = 0; r < rows; r++)
            for (int c = 0; c < C; c++) {
                size_t i = r * C + c;
                float xh = (x[i] - mean[c]) * is[c];
                dx[i] = k[c] * (dy[i] - db[c] - xh * dg[c]);
            }
    }
    nn_free(f);
    nn_free(s);
}

// --- the table entry

// Training forward: the sums (3 a value) and the affine map (2); reads x twice, writes y.
// Backward's weight pass: the two sums (5 a value) over x and dy; its input pass: dx (6 a value)
// from x and dy. (Prediction reads x once; the profiler counts training passes.)
static double batchnorm_flops(const layer *l, prof_pass p, int n, act_kind act) {
    (void)act;
    double v = (double)n * shape3_size(l->in);
    return p == PROF_FORWARD ? 5 * v : p == PROF_BWD_WEIGHTS ? 5 * v : 6 * v;
}

static double batchnorm_bytes(const layer *l, prof_pass p, int n, act_kind act) {
    (void)act;
    double v = (double)n * shape3_size(l->in), w = 4.0 * l->in.c;
    return p == PROF_FORWARD ? 4 * 3 * v + 4 * w : p == PROF_BWD_WEIGHTS ? 4 * 2 * v + 2 * w : 4 * 3 * v;
}

#define KERAS_ONES                                                                          \
    "{\"module\": \"keras.initializers\", \"class_name\": \"Ones\", \"config\": {}, "      \
    "\"registered_name\": null}"

static const layer_opt batchnorm_opts[] = {
    {.keras = "axis", .type = OPT_INT, .off = offsetof(layer, axis), .def = -1, .lo = -4, .hi = 3},
    {.cfg = "momentum", .keras = "momentum", .type = OPT_FLOAT, .off = offsetof(layer, momentum),
     .fdef = 0.99, .flo = 0, .fhi = 1},
    {.cfg = "epsilon", .keras = "epsilon", .type = OPT_FLOAT, .off = offsetof(layer, epsilon),
     .fdef = 1e-3, .flo = 1e-12, .fhi = 1e6},
    // Without beta or gamma the layer would have other tensors: nn needs both.
    {.keras = "center", .type = OPT_FIXED, .json = "true", .check = 1},
    {.keras = "scale", .type = OPT_FIXED, .json = "true", .check = 1},
    {.keras = "beta_initializer", .type = OPT_FIXED, .json = KERAS_ZEROS},
    {.keras = "gamma_initializer", .type = OPT_FIXED, .json = KERAS_ONES},
    {.keras = "moving_mean_initializer", .type = OPT_FIXED, .json = KERAS_ZEROS},
    {.keras = "moving_variance_initializer", .type = OPT_FIXED, .json = KERAS_ONES},
    {.keras = "beta_regularizer", .type = OPT_FIXED, .json = "null"},
    {.keras = "gamma_regularizer", .type = OPT_FIXED, .json = "null"},
    {.keras = "beta_constraint", .type = OPT_FIXED, .json = "null"},
    {.keras = "gamma_constraint", .type = OPT_FIXED, .json = "null"},
    // Keras 3.15 also writes renorm, renorm_clipping and renorm_momentum; older Keras 3 releases
    // refuse them, so nn leaves them out (their defaults: no renormalisation).
    {.keras = "synchronized", .type = OPT_FIXED, .json = "false"},
    {0},
};

extern const layer_impl batchnorm_cuda;
const layer_ops batchnorm_ops = {
    .type = "batchnorm", .keras_class = "BatchNormalization", .keras_prefix = "batch_normalization",
    .opts = batchnorm_opts, .setup = batchnorm_setup, .init = batchnorm_init,
    .flops = batchnorm_flops, .bytes = batchnorm_bytes,
    .c = {batchnorm_scratch, batchnorm_fwd, batchnorm_bwd}, .cuda = &batchnorm_cuda,
};
