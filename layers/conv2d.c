// conv2d.c: 2-D convolution, NHWC input, HWIO kernel, valid or same padding, any stride, bias,
// fused activation. The C path and the reference for cuda/conv2d_cuda.cu.
//
// Each sample is lowered to a matrix product (im2col): row p = (oy, ox) of `col` holds the
// kh x kw x cin input patch under output pixel p, in HWIO order, so the kernel viewed as a
// (kh*kw*cin, cout) matrix multiplies it directly:
//     forward:  y_s (P, cout) = col_s (P, KK) . W (KK, cout) + b
//     backward: dW (KK, cout) = sum_s col_s^T . dz_s,  db = sum over pixels of dz,
//               dcol_s (P, KK) = dz_s . W^T, then scattered back onto dx_s (col2im)
// Each sample's dW and db are kept apart and added in sample order at the end, so gradients
// are the same bit for bit whatever the number of threads (as sgemm's are).
// Samples are handed out to threads one at a time (a thread the OS pauses on a busy machine
// does not hold the others up), one col buffer per thread (about 400 KB for the cat/dog
// model, kept in L2 while it is written and multiplied); sgemm runs serially inside that
// region. With fewer samples than threads (one-image prediction) the samples run one after
// the other and sgemm spreads each product over the threads instead.
#include <omp.h>
#include <stddef.h>
#include <string.h>

#include "../nn/common.h"
#include "../nn/gemm.h"
#include "layer.h"

// Output size as Keras computes it: valid: ceil((in - k + 1) / s); same: ceil(in / s).
static int conv2d_setup(layer *l, shape3 in, char *err) {
    if (in.flat) return nn_fail(err, "conv2d needs an image input (H, W, C), got a flat vector of %d", in.c);
    if (!l->sh) l->sh = l->sw = 1;
    int oh, ow;
    if (l->padding == PAD_SAME) {
        oh = (in.h + l->sh - 1) / l->sh;
        ow = (in.w + l->sw - 1) / l->sw;
        int ph = NN_MAX((oh - 1) * l->sh + l->kh - in.h, 0);
        int pw = NN_MAX((ow - 1) * l->sw + l->kw - in.w, 0);
        l->pad_top = ph / 2;
        l->pad_left = pw / 2;
    } else {
        if (l->kh > in.h || l->kw > in.w)
            return nn_fail(err, "kernel %dx%d is larger than the input %dx%d", l->kh, l->kw, in.h, in.w);
        oh = (in.h - l->kh) / l->sh + 1;
        ow = (in.w - l->kw) / l->sw + 1;
        l->pad_top = l->pad_left = 0;
    }
    if ((double)l->kh * l->kw * in.c * l->filters > LAYER_MAX_PARAMS)
        return nn_fail(err, "a %dx%d kernel over %d channels with %d filters is %.3g weights, beyond "
                       "nn's limit of %u", l->kh, l->kw, in.c, l->filters,
                       (double)l->kh * l->kw * in.c * l->filters, LAYER_MAX_PARAMS);
    l->in = in;
    l->out = (shape3){oh, ow, l->filters, 0};
    layer_add_param(l, "kernel", 4, (int[]){l->kh, l->kw, in.c, l->filters});
    if (l->use_bias) layer_add_param(l, "bias", 1, (int[]){l->filters});
    return 0;
}

// --- im2col and its adjoint

static size_t col_floats(const layer *l) {
    return (size_t)l->out.h * l->out.w * l->kh * l->kw * l->in.c;
}

// A 1x1 kernel with stride 1 and no padding needs no lowering: the input already is col.
static int col_is_input(const layer *l) {
    return l->kh == 1 && l->kw == 1 && l->sh == 1 && l->sw == 1 && l->pad_top == 0 && l->pad_left == 0;
}

// Samples that run at once, each with its own col buffer.
static int conv_slots(int n) { return NN_MAX(1, NN_MIN(n, omp_get_num_procs())); }

// Scratch: a col buffer per thread, then the per-sample weight and bias gradients that
// backward sums in sample order (so dW does not depend on which thread took which sample).
static size_t conv2d_scratch(const layer *l, const nn_ctx *ctx, int n) {
    (void)ctx;
    return (col_is_input(l) ? 0 : (size_t)conv_slots(n) * col_floats(l)) +
           (size_t)n * (l->wsize + l->bsize);
}

// col (P, kh*kw*cin) from one sample x (H, W, Cin); padding reads as zero. In NHWC the kw*cin
// values of one kernel row are contiguous in x, so an interior patch row is one memcpy.
static void im2col(const layer *l, const float *x, float *col) {
    const int H = l->in.h, W = l->in.w, C = l->in.c, kh = l->kh, kw = l->kw;
    const size_t run = (size_t)kw * C, kk = (size_t)kh * run;
    for (int oy = 0; oy < l->out.h; oy++)
        for (int ox = 0; ox < l->out.w; ox++) {
            float *dst = col + ((size_t)oy * l->out.w + ox) * kk;
            int iy0 = oy * l->sh - l->pad_top, ix0 = ox * l->sw - l->pad_left;
            int inside_x = ix0 >= 0 && ix0 + kw <= W;
            for (int ky = 0; ky < kh; ky++, dst += run) {
                int iy = iy0 + ky;
                if (iy < 0 || iy >= H) {
                    memset(dst, 0, run * sizeof(float));
                } else if (inside_x) {
                    memcpy(dst, x + ((size_t)iy * W + ix0) * C, run * sizeof(float));
                } else {
                    for (int kx = 0; kx < kw; kx++) {
                        int ix = ix0 + kx;
                        if (ix < 0 || ix >= W) memset(dst + kx * C, 0, C * sizeof(float));
                        else memcpy(dst + kx * C, x + ((size_t)iy * W + ix) * C, C * sizeof(float));
                    }
                }
            }
        }
}

// dx (H, W, Cin) = the adjoint of im2col applied to dcol: every patch entry adds back onto
// the input pixel it was copied from (overlapping patches sum); padding entries are dropped.
static void col2im(const layer *l, const float *dcol, float *dx) {
    const int H = l->in.h, W = l->in.w, C = l->in.c, kh = l->kh, kw = l->kw;
    const size_t kk = (size_t)kh * kw * C;
    memset(dx, 0, (size_t)H * W * C * sizeof(float));
    for (int oy = 0; oy < l->out.h; oy++)
        for (int ox = 0; ox < l->out.w; ox++) {
            const float *src = dcol + ((size_t)oy * l->out.w + ox) * kk;
            int iy0 = oy * l->sh - l->pad_top, ix0 = ox * l->sw - l->pad_left;
            for (int ky = 0; ky < kh; ky++) {
                int iy = iy0 + ky;
                if (iy < 0 || iy >= H) continue;
                for (int kx = 0; kx < kw; kx++) {
                    int ix = ix0 + kx;
                    if (ix < 0 || ix >= W) continue;
                    float *d = dx + ((size_t)iy * W + ix) * C;
                    const float *s = src + ((size_t)ky * kw + kx) * C;
                    for (int c = 0; c < C; c++) d[c] += s[c];
                }
            }
        }
}

// --- forward

// One sample: y_s (P, cout) = act(col_s . W + b).
static void forward_one(const layer *l, const float *xs, const float *w, const float *bias,
                        float *ys, act_kind act, float *col) {
    const int P = l->out.h * l->out.w, KK = l->kh * l->kw * l->in.c, F = l->filters;
    const float *a = xs;
    if (!col_is_input(l)) {
        im2col(l, xs, col);
        a = col;
    }
    sgemm(0, 0, P, F, KK, 1.0f, a, KK, w, F, 0.0f, ys, F);
    if (bias)
        for (int p = 0; p < P; p++) {
            float *yr = ys + (size_t)p * F;
            for (int f = 0; f < F; f++) yr[f] += bias[f];
        }
    act_forward(act, (size_t)P * F, F, ys);
}

static void conv2d_fwd(const layer *l, const nn_ctx *ctx, const layer_io *io) {
    (void)ctx;
    const int n = io->n;
    const float *x = io->x, *w = io->w;
    float *y = io->y, *scratch = io->ws;
    const act_kind act = io->act;
    const size_t in_sz = shape3_size(l->in), out_sz = shape3_size(l->out), cf = col_floats(l);
    const float *bias = l->use_bias ? w + (l->boff - l->woff) : NULL;
    int nth = NN_MIN(conv_slots(n), omp_get_max_threads()), par = n >= 2 && nth >= 2;
#pragma omp parallel for schedule(dynamic, 1) num_threads(nth) if (par)
    for (int s = 0; s < n; s++)
        forward_one(l, x + s * in_sz, w, bias, y + s * out_sz, act,
                    scratch ? scratch + (size_t)omp_get_thread_num() * cf : NULL);
}

// --- backward

// One sample: dz_s = dy_s * act'(y_s) in place; dw_s = col_s^T dz_s; db_s = sum of dz_s over
// pixels (when db_s != NULL); dx_s from dz_s W^T when asked.
static void backward_one(const layer *l, const float *xs, const float *w, const float *ys,
                         float *dys, float *dxs, float *dw_s, float *db_s, act_kind act,
                         float *col) {
    const int P = l->out.h * l->out.w, KK = l->kh * l->kw * l->in.c, F = l->filters;
    act_backward(act, (size_t)P * F, F, ys, dys);
    if (db_s) {
        memset(db_s, 0, F * sizeof(float));
        for (int p = 0; p < P; p++) {
            const float *dr = dys + (size_t)p * F;
            for (int f = 0; f < F; f++) db_s[f] += dr[f];
        }
    }
    const float *a = xs;
    if (!col_is_input(l)) {
        im2col(l, xs, col);
        a = col;
    }
    sgemm(1, 0, KK, F, P, 1.0f, a, KK, dys, F, 0.0f, dw_s, F);
    if (!dxs) return;
    if (col_is_input(l)) {
        sgemm(0, 1, P, KK, F, 1.0f, dys, F, w, F, 0.0f, dxs, KK);
    } else {
        sgemm(0, 1, P, KK, F, 1.0f, dys, F, w, F, 0.0f, col, KK);
        col2im(l, col, dxs);
    }
}

static void conv2d_bwd(const layer *l, const nn_ctx *ctx, const layer_io *io) {
    (void)ctx;
    const int n = io->n;
    const float *x = io->x, *w = io->w, *y = io->y;
    float *dy = io->dy, *dx = io->dx, *dw = io->dw, *scratch = io->ws;
    const act_kind act = io->act;
    const size_t in_sz = shape3_size(l->in), out_sz = shape3_size(l->out), cf = col_floats(l);
    const size_t wn = l->wsize, bn = l->bsize, pn = wn + bn;
    float *db = l->use_bias ? dw + (l->boff - l->woff) : NULL;
    float *cols = col_is_input(l) ? NULL : scratch;
    float *part = scratch + (cols ? (size_t)conv_slots(n) * cf : 0);   // (n, wn + bn)
    int nth = NN_MIN(conv_slots(n), omp_get_max_threads()), par = n >= 2 && nth >= 2;
#pragma omp parallel for schedule(dynamic, 1) num_threads(nth) if (par)
    for (int s = 0; s < n; s++)
        backward_one(l, x + s * in_sz, w, y + s * out_sz, dy + s * out_sz,
                     dx ? dx + s * in_sz : NULL, part + s * pn, db ? part + s * pn + wn : NULL,
                     act, cols ? cols + (size_t)omp_get_thread_num() * cf : NULL);
    // dw, db = the per-sample sums added in sample order.
#pragma omp parallel for schedule(static) if (pn * n > 65536)
    for (size_t i = 0; i < pn; i++) {
        if (i >= wn && !db) continue;
        float sum = 0.0f;
        for (int s = 0; s < n; s++) sum += part[s * pn + i];
        if (i < wn) dw[i] = sum;
        else db[i - wn] = sum;
    }
}

// --- the table entry

static void conv2d_init(const layer *l, float *w, rng *r) {
    layer_glorot(w, l->wsize, (double)l->kh * l->kw * l->in.c, (double)l->kh * l->kw * l->filters, r);
    if (l->bsize) memset(w + (l->boff - l->woff), 0, l->bsize * sizeof(float));
}

// K = kh*kw*cin taps, P = oh*ow output pixels, F filters: each of the three passes (forward
// y = x . W + b; weights dW = col^T dz; input dx = col2im(dz . W^T)) is 2 n P F K.
static double conv2d_flops(const layer *l, prof_pass p, int n, act_kind act) {
    (void)p, (void)act;
    return 2.0 * n * (double)shape3_size(l->out) * l->kh * l->kw * l->in.c;
}

static const layer_opt conv2d_opts[] = {
    {.cfg = "filters", .keras = "filters", .type = OPT_INT, .off = offsetof(layer, filters), .lo = 1, .hi = 1 << 20, .required = 1},
    {.cfg = "kernel", .keras = "kernel_size", .type = OPT_DIMS, .off = offsetof(layer, kh), .required = 1},
    {.cfg = "stride", .keras = "strides", .type = OPT_DIMS, .off = offsetof(layer, sh)},
    {.cfg = "padding", .keras = "padding", .type = OPT_PAD, .off = offsetof(layer, padding)},
    {.keras = "data_format", .type = OPT_FIXED, .json = "\"channels_last\"", .check = 1},
    {.keras = "dilation_rate", .type = OPT_FIXED, .json = "[1, 1]", .check = 1},
    {.keras = "groups", .type = OPT_FIXED, .json = "1", .check = 1},
    {.cfg = "activation", .keras = "activation", .type = OPT_ACT, .off = offsetof(layer, act)},
    {.cfg = "bias", .keras = "use_bias", .type = OPT_BOOL, .off = offsetof(layer, use_bias), .def = 1},
    {.keras = "kernel_initializer", .type = OPT_FIXED, .json = KERAS_GLOROT},
    {.keras = "bias_initializer", .type = OPT_FIXED, .json = KERAS_ZEROS},
    {.keras = "kernel_regularizer", .type = OPT_FIXED, .json = "null"},
    {.keras = "bias_regularizer", .type = OPT_FIXED, .json = "null"},
    {.keras = "activity_regularizer", .type = OPT_FIXED, .json = "null"},
    {.keras = "kernel_constraint", .type = OPT_FIXED, .json = "null"},
    {.keras = "bias_constraint", .type = OPT_FIXED, .json = "null"},
    {0},
};

extern const layer_impl conv2d_cuda;
const layer_ops conv2d_ops = {
    .type = "conv2d", .keras_class = "Conv2D", .keras_alias = "Convolution2D", .keras_prefix = "conv2d",
    .opts = conv2d_opts, .setup = conv2d_setup, .init = conv2d_init,
    .flops = conv2d_flops, .bytes = layer_bytes_product,
    .c = {conv2d_scratch, conv2d_fwd, conv2d_bwd}, .cuda = &conv2d_cuda,
};
