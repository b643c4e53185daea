// profile.c: the per-layer, per-pass profile of a training step (see profile.h): the analytic
// FLOP and byte counts, the table, the C path's peaks and profiling pass, and the entry points
// of `nn bench --profile` and `nn train --profile`. The GPU's pass is cuda/profile_cuda.cu.
#include "profile.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "gemm.h"
#include "loss.h"
#include "rng.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define PROF_X86 1
#endif

// --- counts -------------------------------------------------------------------------------------
// Sizes in floats per batch; every byte count is 4 per float unless said otherwise.

static double in_floats(const layer *l, int n) { return (double)n * shape3_size(l->in); }
static double out_floats(const layer *l, int n) { return (double)n * shape3_size(l->out); }
static double param_floats(const layer *l) { return (double)l->wsize + (double)l->bsize; }

// conv2d, K = kh*kw*cin taps, P = oh*ow output pixels, F filters:
//   forward      y (n,P,F) = x . W + b          2 n P F K;  reads x, W, b, writes y
//   bwd weights  dz = dy act'(y); dW = col^T dz; db = sum dz
//                                               2 n P F K;  reads x, dy (and y unless linear), writes dW, db
//   bwd input    dx = col2im(dz . W^T)          2 n P F K;  reads dz, W, writes dx
double flops_conv2d(const layer *l, prof_pass p, int n, act_kind act) {
    (void)p, (void)act;
    double K = (double)l->kh * l->kw * l->in.c;
    return 2.0 * out_floats(l, n) * K;
}

double bytes_conv2d(const layer *l, prof_pass p, int n, act_kind act) {
    double x = in_floats(l, n), y = out_floats(l, n), w = param_floats(l);
    switch (p) {
    case PROF_FORWARD: return 4 * (x + w + y);
    case PROF_BWD_WEIGHTS: return 4 * (x + y + (act != ACT_LINEAR ? y : 0) + w);
    case PROF_BWD_INPUT: return 4 * (y + (double)l->wsize + x);
    }
    return 0;
}

// dense, (n, in) -> (n, out): the same three products as conv2d with P = 1, K = in.
double flops_dense(const layer *l, prof_pass p, int n, act_kind act) {
    (void)p, (void)act;
    return 2.0 * n * (double)l->in.c * l->units;
}

double bytes_dense(const layer *l, prof_pass p, int n, act_kind act) {
    return bytes_conv2d(l, p, n, act);   // same operands: x, W (+ b), y / dy, dx
}

// maxpool2d: forward compares kh*kw - 1 times per output and writes the output and the int32
// index of its max; bwd input adds each output's gradient into dx at that index (dx zeroed).
double flops_maxpool2d(const layer *l, prof_pass p, int n) {
    if (p == PROF_BWD_WEIGHTS) return 0;
    double y = out_floats(l, n);
    return p == PROF_FORWARD ? y * (l->kh * l->kw - 1) : y;
}

double bytes_maxpool2d(const layer *l, prof_pass p, int n) {
    if (p == PROF_BWD_WEIGHTS) return 0;
    double x = in_floats(l, n), y = out_floats(l, n);
    return 4 * (x + 2 * y);   // forward: x in, y and index out; backward: dy and index in, dx out
}

// flatten moves no arithmetic; counted as the copy the C path makes (the GPU aliases instead and
// has no such row).
double flops_flatten(const layer *l, prof_pass p, int n) {
    (void)l, (void)p, (void)n;
    return 0;
}

double bytes_flatten(const layer *l, prof_pass p, int n) {
    return p == PROF_BWD_WEIGHTS ? 0 : 4 * 2 * in_floats(l, n);
}

// activation layer: relu 1 op per element (max, or the gradient's select); sigmoid forward 3
// (exp, add, divide), its gradient 3 (dy * y * (1 - y)); linear none. Forward reads x and
// writes y; backward reads y and dy and writes dx.
double flops_activation(const layer *l, prof_pass p, int n, act_kind act) {
    if (p == PROF_BWD_WEIGHTS || act == ACT_LINEAR) return 0;
    return in_floats(l, n) * (act == ACT_RELU ? 1 : 3);
}

double bytes_activation(const layer *l, prof_pass p, int n, act_kind act) {
    (void)act;
    if (p == PROF_BWD_WEIGHTS) return 0;
    return 4 * in_floats(l, n) * (p == PROF_FORWARD ? 2 : 3);
}

double flops_layer(const layer *l, prof_pass p, int n, act_kind act) {
    switch (l->kind) {
    case LAYER_CONV2D: return flops_conv2d(l, p, n, act);
    case LAYER_DENSE: return flops_dense(l, p, n, act);
    case LAYER_MAXPOOL2D: return flops_maxpool2d(l, p, n);
    case LAYER_FLATTEN: return flops_flatten(l, p, n);
    case LAYER_ACTIVATION: return flops_activation(l, p, n, act);
    default: return 0;
    }
}

double bytes_layer(const layer *l, prof_pass p, int n, act_kind act) {
    switch (l->kind) {
    case LAYER_CONV2D: return bytes_conv2d(l, p, n, act);
    case LAYER_DENSE: return bytes_dense(l, p, n, act);
    case LAYER_MAXPOOL2D: return bytes_maxpool2d(l, p, n);
    case LAYER_FLATTEN: return bytes_flatten(l, p, n);
    case LAYER_ACTIVATION: return bytes_activation(l, p, n, act);
    default: return 0;
    }
}

// Fused conv + ReLU + 2x2 pool: the conv's products and the pool's comparisons; forward reads x,
// W, b and writes the pooled y and its uint8 window positions; the weight pass reads x, the
// pooled y (the ReLU gate), the positions and dy, and writes dW, db.
double flops_conv_pool(const layer *conv, const layer *pool, prof_pass p, int n) {
    if (p == PROF_BWD_INPUT) return 0;
    double f = flops_conv2d(conv, p, n, ACT_RELU);
    return p == PROF_FORWARD ? f + flops_maxpool2d(pool, PROF_FORWARD, n) : f;
}

double bytes_conv_pool(const layer *conv, const layer *pool, prof_pass p, int n) {
    double x = in_floats(conv, n), w = param_floats(conv), y = out_floats(pool, n);
    if (p == PROF_FORWARD) return 4 * (x + w + y) + y;
    if (p == PROF_BWD_WEIGHTS) return 4 * (x + 2 * y + w) + y;
    return 0;
}

double flops_dense_adam(const layer *l, int n, act_kind act) {
    return flops_dense(l, PROF_BWD_WEIGHTS, n, act) + flops_adam(l->wsize);
}

double bytes_dense_adam(const layer *l, int n, act_kind act) {
    double x = in_floats(l, n), y = out_floats(l, n);
    return 4 * (x + y + (act != ACT_LINEAR ? y : 0) + (double)l->bsize) + 4.0 * 6 * (double)l->wsize;
}

// Per sample: the loss max(z,0) - z y + log1p(exp(-|z|)) and its sum, 7 ops (max, multiply,
// subtract, |z|, exp, log1p, add); the gradient (sigmoid(z) - y) / n, 5 (exp, add, divide,
// subtract, divide); the accuracy's comparison 1. Reads z and y, writes dz.
double flops_loss(int n) { return 13.0 * n; }
double bytes_loss(int n) { return 4.0 * 3 * n; }

// Per parameter (nn/adam.c): m += (g - m) a1: 3; v += (g g - v) a2: 4; w -= alpha m / (sqrt(v) +
// eps): 5; reads w, g, m, v and writes w, m, v.
double flops_adam(size_t nparams) { return 12.0 * (double)nparams; }
double bytes_adam(size_t nparams) { return 4.0 * 7 * (double)nparams; }

// Per output pixel (data/augment.c): the sample position, 6 ops (two affine rows of 2 multiplies
// and 2 adds, less the zero terms) + 2 clamps + 2 fractions = 10; per channel the bilinear blend
// (3 lerps of 3 ops) and the rescale, 10. Reads the uint8 image (1 byte a value), writes floats.
double flops_augment(int n, int h, int w) { return (double)n * h * w * (10 + 3 * 10); }
double bytes_augment(int n, int h, int w) { return (double)n * h * w * 3 * (1 + 4); }

act_kind profile_act(const model *m, int i) {
    const layer *l = &m->layers[i];
    if (i == m->nlayers - 1 && l->act == ACT_SIGMOID) return ACT_LINEAR;
    return l->act;
}

// --- the table ------------------------------------------------------------------------------------

int profile_row(profile *p, const char *what, const char *pass, double flops, double bytes,
                int in_sum) {
    for (int i = 0; i < p->nrows; i++)
        if (!strcmp(p->rows[i].what, what) && !strcmp(p->rows[i].pass, pass)) return i;
    if (p->nrows >= PROF_MAX_ROWS) NN_DIE("profile: more than %d rows", PROF_MAX_ROWS);
    prof_row *r = &p->rows[p->nrows];
    memset(r, 0, sizeof *r);
    snprintf(r->what, sizeof r->what, "%s", what);
    snprintf(r->pass, sizeof r->pass, "%s", pass);
    r->flops = flops;
    r->bytes = bytes;
    r->in_sum = in_sum;
    return p->nrows++;
}

double profile_sum_ms(const profile *p) {
    double s = 0;
    for (int i = 0; i < p->nrows; i++)
        if (p->rows[i].in_sum) s += p->rows[i].ms;
    return s;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double profile_median(double *v, int n) {
    if (n <= 0) return 0;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

void profile_print(const profile *p, FILE *f) {
    const prof_peaks *pk = &p->peak;
    fprintf(f, "profile: batch %d, %s, median of %d rounds\n", p->batch, p->device, p->reps);
    fprintf(f, "peaks measured now: arithmetic %.1f GFLOP/s (FMA loop %.1f, sgemm %d^3 %.1f), "
               "memory %.1f GB/s (%s; bytes read + written)\n\n",
            pk->gflops, pk->fma_gflops, pk->gemm_n, pk->gemm_gflops, pk->gbs, pk->gbs_how);
    fprintf(f, "%-26s %-18s %10s %7s %9s %9s %9s %8s %7s %7s  %s\n", "layer", "pass", "ms",
            "share", "MFLOP", "MB", "GFLOP/s", "GB/s", "%FLOP", "%BW", "bound by");
    int outside = 0, cached = 0;
    for (int i = 0; i < p->nrows; i++) {
        const prof_row *r = &p->rows[i];
        char pass[40];
        snprintf(pass, sizeof pass, "%s%s", r->pass, r->in_sum ? "" : " *");
        outside |= !r->in_sum;
        double s = r->ms * 1e-3;
        double gfs = s > 0 ? r->flops / s * 1e-9 : 0, gbs = s > 0 ? r->bytes / s * 1e-9 : 0;
        double ffl = pk->gflops > 0 ? gfs / pk->gflops : 0, fbw = pk->gbs > 0 ? gbs / pk->gbs : 0;
        cached |= fbw > 1;
        const char *bound = (r->flops <= 0 && r->bytes <= 0) || s <= 0 ? "-"
                            : ffl >= fbw ? "arithmetic" : "memory";
        fprintf(f, "%-26s %-18s %10.4f %6.1f%% %9.2f %9.2f %9.2f %8.2f %6.1f%% %6.1f%%  %s\n",
                r->what, pass, r->ms, p->step_ms > 0 ? 100 * r->ms / p->step_ms : 0,
                r->flops * 1e-6, r->bytes * 1e-6, gfs, gbs, 100 * ffl, 100 * fbw, bound);
    }
    double sum = profile_sum_ms(p);
    fprintf(f, "%-45s %10.4f %6.1f%%\n", "sum of the rows", sum,
            p->step_ms > 0 ? 100 * sum / p->step_ms : 0);
    fprintf(f, "%-45s %10.4f %6.1f%%   %s\n", "step", p->step_ms, 100.0, p->step_what);
    if (p->step2_ms > 0)
        fprintf(f, "%-45s %10.4f %6.1f%%   %s\n", "", p->step2_ms, 100 * p->step2_ms / p->step_ms,
                p->step2_what);
    if (outside) fprintf(f, "* not part of the sum (see below)\n");
    if (cached)
        fprintf(f, "%%BW above 100%%: that pass's data came from the caches, faster than the "
                   "main-memory peak.\n");
    if (p->note[0]) fprintf(f, "%s\n", p->note);
    fflush(f);
}

// --- the C path's peaks ----------------------------------------------------------------------------

#define FMA_CHAINS 12   // independent accumulators: more than FMA latency x units (4 x 2)

#ifdef PROF_X86
__attribute__((target("avx512f,fma"))) static float fma_loop_avx512(long iters) {
    const __m512 k = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-6f);
    __m512 a[FMA_CHAINS];
    for (int j = 0; j < FMA_CHAINS; j++) a[j] = _mm512_set1_ps(1.0f + j);
    for (long i = 0; i < iters; i++)
#pragma GCC unroll 12
        for (int j = 0; j < FMA_CHAINS; j++) a[j] = _mm512_fmadd_ps(a[j], k, c);
    __m512 s = a[0];
    for (int j = 1; j < FMA_CHAINS; j++) s = _mm512_add_ps(s, a[j]);
    return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx2,fma"))) static float fma_loop_avx2(long iters) {
    const __m256 k = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-6f);
    __m256 a[FMA_CHAINS];
    for (int j = 0; j < FMA_CHAINS; j++) a[j] = _mm256_set1_ps(1.0f + j);
    for (long i = 0; i < iters; i++)
#pragma GCC unroll 12
        for (int j = 0; j < FMA_CHAINS; j++) a[j] = _mm256_fmadd_ps(a[j], k, c);
    float out[8], sum = 0;
    __m256 s = a[0];
    for (int j = 1; j < FMA_CHAINS; j++) s = _mm256_add_ps(s, a[j]);
    _mm256_storeu_ps(out, s);
    for (int j = 0; j < 8; j++) sum += out[j];
    return sum;
}
#endif

// Portable: 64 lanes of multiply then add (no contraction in this build), vectorised by the
// compiler with whatever it targets.
static float fma_loop_c(long iters) {
    float a[64];
    for (int j = 0; j < 64; j++) a[j] = 1.0f + j;
    for (long i = 0; i < iters; i++)
        for (int j = 0; j < 64; j++) a[j] = a[j] * 0.999999f + 1e-6f;
    float s = 0;
    for (int j = 0; j < 64; j++) s += a[j];
    return s;
}

static volatile float fma_sink;

// FLOPs of one iteration of the kernel sgemm uses on this CPU, and the loop itself.
static double fma_run(long iters) {
    const char *isa = sgemm_isa();
    float s = 0;
    double per;
#ifdef PROF_X86
    if (!strcmp(isa, "avx512f+fma")) {
        per = FMA_CHAINS * 16 * 2;
#pragma omp parallel reduction(+ : s)
        s += fma_loop_avx512(iters);
    } else if (!strcmp(isa, "avx2+fma")) {
        per = FMA_CHAINS * 8 * 2;
#pragma omp parallel reduction(+ : s)
        s += fma_loop_avx2(iters);
    } else
#endif
    {
        (void)isa;
        per = 64 * 2;
#pragma omp parallel reduction(+ : s)
        s += fma_loop_c(iters);
    }
    fma_sink = s;
    return per * (double)iters * omp_get_max_threads();
}

void profile_peaks_cpu(prof_peaks *pk) {
    memset(pk, 0, sizeof *pk);
    // Arithmetic: the FMA loop on every thread, best of 3.
    const long iters = 1L << 21;
    fma_run(iters / 16);   // start the threads, raise the clocks
    for (int r = 0; r < 3; r++) {
        double t = nn_now(), fl = fma_run(iters);
        t = nn_now() - t;
        pk->fma_gflops = NN_MAX(pk->fma_gflops, fl / t * 1e-9);
    }
    // The project's sgemm on an n x n x n product, best of 3 after one warm-up.
    const int n = 1024;
    float *a = nn_alloc((size_t)n * n * sizeof(float), "peak sgemm A");
    float *b = nn_alloc((size_t)n * n * sizeof(float), "peak sgemm B");
    float *c = nn_alloc((size_t)n * n * sizeof(float), "peak sgemm C");
    for (size_t i = 0; i < (size_t)n * n; i++) a[i] = b[i] = (float)(i % 7) * 0.125f;
    for (int r = 0; r < 4; r++) {
        double t = nn_now();
        sgemm(0, 0, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        t = nn_now() - t;
        if (r) pk->gemm_gflops = NN_MAX(pk->gemm_gflops, 2.0 * n * n * n / t * 1e-9);
    }
    nn_free(a), nn_free(b), nn_free(c);
    pk->gemm_n = n;
    pk->gflops = NN_MAX(pk->fma_gflops, pk->gemm_gflops);
    // Bandwidth: 64 MiB arrays (pages touched first), split over the threads; the better of a
    // memcpy (2 arrays' traffic) and a STREAM triad c = a + s b (3 arrays'), best of 5 each.
    const size_t nf = 16u << 20, bytes = nf * sizeof(float);
    float *x = nn_alloc(bytes, "peak copy a"), *y = nn_alloc(bytes, "peak copy b");
    float *z = nn_alloc(bytes, "peak copy c");
    memset(x, 0, bytes), memset(y, 0, bytes), memset(z, 0, bytes);
    double copy = 0, triad = 0;
    for (int r = 0; r < 6; r++) {
        double t = nn_now();
#pragma omp parallel
        {
            int nt = omp_get_num_threads(), id = omp_get_thread_num();
            size_t per = (nf / nt + 15) & ~(size_t)15, o = per * id;
            if (o < nf) memcpy(y + o, x + o, NN_MIN(per, nf - o) * sizeof(float));
        }
        t = nn_now() - t;
        if (r) copy = NN_MAX(copy, 2.0 * bytes / t * 1e-9);
        t = nn_now();
#pragma omp parallel for simd schedule(static)
        for (size_t i = 0; i < nf; i++) z[i] = x[i] + 1.5f * y[i];
        t = nn_now() - t;
        if (r) triad = NN_MAX(triad, 3.0 * bytes / t * 1e-9);
    }
    nn_free(x), nn_free(y), nn_free(z);
    pk->gbs = NN_MAX(copy, triad);
    snprintf(pk->gbs_how, sizeof pk->gbs_how, "64 MiB arrays: memcpy %.1f, STREAM triad %.1f", copy, triad);
}

// --- the C path's profiling pass ---------------------------------------------------------------

// Row indices of one model's passes (-1: no such row).
typedef struct rows_of {
    int fwd[MODEL_MAX_LAYERS], bwi[MODEL_MAX_LAYERS], bww[MODEL_MAX_LAYERS];
    int loss, adam;
} rows_of;

// The rows in the order the step runs them: forward, loss, backward from the last layer down
// (weights, then input, as each layer computes them), Adam.
static void make_rows(const model *m, int n, profile *p, rows_of *r) {
    for (int i = 0; i < m->nlayers; i++) {
        const layer *l = &m->layers[i];
        act_kind a = profile_act(m, i);
        r->fwd[i] = profile_row(p, l->name, "forward", flops_layer(l, PROF_FORWARD, n, a),
                                bytes_layer(l, PROF_FORWARD, n, a), 1);
    }
    r->loss = profile_row(p, "loss (BCE from logits)", "forward+grad", flops_loss(n), bytes_loss(n), 1);
    for (int i = m->nlayers - 1; i >= 0; i--) {
        const layer *l = &m->layers[i];
        act_kind a = profile_act(m, i);
        r->bww[i] = r->bwi[i] = -1;
        if (l->wsize + l->bsize > 0)
            r->bww[i] = profile_row(p, l->name, "bwd weights", flops_layer(l, PROF_BWD_WEIGHTS, n, a),
                                    bytes_layer(l, PROF_BWD_WEIGHTS, n, a), 1);
        if (i > 0)   // the first layer's input gradient is never computed
            r->bwi[i] = profile_row(p, l->name, "bwd input", flops_layer(l, PROF_BWD_INPUT, n, a),
                                    bytes_layer(l, PROF_BWD_INPUT, n, a), 1);
    }
    r->adam = profile_row(p, "Adam", "update", flops_adam(m->nparams), bytes_adam(m->nparams), 1);
}

// One profiling pass (the same calls as model_train_step, one layer at a time) into
// sample[row] (seconds). The backward of a layer with weights that also gives dx runs twice:
// first with dx = NULL, which is its weight part alone (activation gradient, bias sum, dW), then
// whole from the same dy (saved and put back: backward overwrites dy in place); the input part
// (dx's product, col2im) is the difference. Calling the layer's own function both times keeps
// the split honest whatever its inside looks like, and the two calls' sum is not counted: the
// table adds the whole call only, once.
static void cpu_pass(model *m, const nn_ctx *ctx, int n, const float *x, const float *lab,
                     const adam_cfg *opt, const rows_of *r, float *dsave, double *sample) {
    const float *cur = x;
    double t;
    for (int i = 0; i < m->nlayers; i++) {
        const layer *l = &m->layers[i];
        t = nn_now();
        layer_ops_of(l->kind)->forward(l, ctx, n, cur, m->w + l->woff, m->y[i], m->aux[i],
                                       profile_act(m, i), m->scratch);
        sample[r->fwd[i]] = nn_now() - t;
        cur = m->y[i];
    }
    float *dcur = m->dbuf[0], *dnext = m->dbuf[1];
    t = nn_now();
    bce_logits(n, cur, lab, dcur);
    binary_correct(n, cur, lab);
    sample[r->loss] = nn_now() - t;
    for (int i = m->nlayers - 1; i >= 0; i--) {
        const layer *l = &m->layers[i];
        const layer_ops *ops = layer_ops_of(l->kind);
        const float *xin = i ? m->y[i - 1] : x;
        float *dx = i ? dnext : NULL, *g = m->g + l->woff;
        act_kind a = profile_act(m, i);
        size_t ny = (size_t)n * shape3_size(l->out);
        if (r->bww[i] >= 0 && dx) {
            memcpy(dsave, dcur, ny * sizeof(float));
            t = nn_now();
            ops->backward(l, ctx, n, xin, m->w + l->woff, m->y[i], dcur, NULL, g, m->aux[i], a, m->scratch);
            double tw = nn_now() - t;
            memcpy(dcur, dsave, ny * sizeof(float));
            t = nn_now();
            ops->backward(l, ctx, n, xin, m->w + l->woff, m->y[i], dcur, dx, g, m->aux[i], a, m->scratch);
            double ta = nn_now() - t;
            sample[r->bww[i]] = tw;
            sample[r->bwi[i]] = ta - tw;
        } else if (r->bww[i] >= 0 || dx) {
            t = nn_now();
            ops->backward(l, ctx, n, xin, m->w + l->woff, m->y[i], dcur, dx, g, m->aux[i], a, m->scratch);
            sample[r->bww[i] >= 0 ? r->bww[i] : r->bwi[i]] = nn_now() - t;
        }
        float *tmp = dcur;
        dcur = dnext;
        dnext = tmp;
    }
    m->t++;
    t = nn_now();
    adam_step(opt, m->t, m->nparams, m->w, m->g, m->m, m->v);
    sample[r->adam] = nn_now() - t;
}

int profile_begin(const model *m, int batch, int warmup, int reps, profile *p, char *err) {
    if (model_output_size(m) != 1)
        return nn_fail(err, "the profile trains a binary model; this one has %zu outputs",
                       model_output_size(m));
    if (batch < 1 || reps < 1 || warmup < 0)
        return nn_fail(err, "profile: batch %d, rounds %d, warm-up %d out of range", batch, reps, warmup);
    memset(p, 0, sizeof *p);
    p->batch = batch;
    p->reps = reps;
    return 0;
}

int profile_cpu(model *m, const nn_ctx *ctx, int batch, int warmup, int reps, profile *p,
                char *err) {
    if (ctx->backend != NN_CPU) return nn_fail(err, "profile_cpu: not a CPU context");
    if (profile_begin(m, batch, warmup, reps, p, err)) return -1;
    snprintf(p->device, sizeof p->device, "cpu (%d threads, sgemm %s)", omp_get_max_threads(), sgemm_isa());
    profile_peaks_cpu(&p->peak);
    model_alloc_batch(m, batch);

    // Random inputs and labels, as nn bench uses.
    size_t in = shape3_size(m->input), most = in, P = m->nparams;
    for (int i = 0; i < m->nlayers; i++) most = NN_MAX(most, shape3_size(m->layers[i].out));
    float *x = nn_alloc((size_t)batch * in * sizeof(float), "profile inputs");    // (B, H, W, C)
    float *lab = nn_alloc((size_t)batch * sizeof(float), "profile labels");      // (B)
    float *dsave = nn_alloc((size_t)batch * most * sizeof(float), "profile gradient copy");
    rng r;
    rng_seed(&r, 12345);
    for (size_t i = 0; i < (size_t)batch * in; i++) x[i] = (float)rng_uniform(&r);
    for (int i = 0; i < batch; i++) lab[i] = (float)rng_below(&r, 2);
    // The model's state, put back at the end: both the normal steps and the pass train it.
    float *keep = nn_alloc((P ? P : 1) * 3 * sizeof(float), "profile: saved weights");
    memcpy(keep, m->w, P * sizeof(float));
    memcpy(keep + P, m->m, P * sizeof(float));
    memcpy(keep + 2 * P, m->v, P * sizeof(float));
    long t_keep = m->t;

    rows_of ro;
    make_rows(m, batch, p, &ro);
    double *sample = nn_calloc((size_t)p->nrows * sizeof(double), "profile samples");
    double *per_row = nn_calloc((size_t)p->nrows * reps * sizeof(double), "profile samples");
    double *step = nn_alloc((size_t)reps * sizeof(double), "profile step times");
    adam_cfg opt = m->opt.lr > 0 ? m->opt : adam_defaults();
    for (int k = -warmup; k < reps; k++) {
        double t = nn_now();
        model_train_step(m, ctx, batch, x, lab, &opt, NULL);
        t = nn_now() - t;
        memset(sample, 0, (size_t)p->nrows * sizeof(double));
        cpu_pass(m, ctx, batch, x, lab, &opt, &ro, dsave, sample);
        if (k < 0) continue;
        step[k] = t * 1e3;
        for (int j = 0; j < p->nrows; j++) per_row[(size_t)j * reps + k] = sample[j] * 1e3;
    }
    for (int j = 0; j < p->nrows; j++) p->rows[j].ms = NN_MAX(0.0, profile_median(per_row + (size_t)j * reps, reps));
    p->step_ms = profile_median(step, reps);
    snprintf(p->step_what, sizeof p->step_what,
             "training step (model_train_step), median of %d, timed beside the rows", reps);
    snprintf(p->note, sizeof p->note,
             "Each round runs one normal step, then the same layers one at a time with a clock "
             "around each. A layer with weights\nruns its backward twice: with no input gradient "
             "(bwd weights: activation gradient, bias sum, dW), then whole;\nbwd input is the "
             "difference (the dx product, col2im). FLOPs and bytes are counted from the shapes "
             "(nn/profile.h).");

    memcpy(m->w, keep, P * sizeof(float));
    memcpy(m->m, keep + P, P * sizeof(float));
    memcpy(m->v, keep + 2 * P, P * sizeof(float));
    m->t = t_keep;
    nn_free(keep), nn_free(sample), nn_free(per_row), nn_free(step);
    nn_free(x), nn_free(lab), nn_free(dsave);
    return 0;
}

#ifndef NN_HAVE_CUDA
int profile_cuda(model *m, const nn_ctx *ctx, int batch, int warmup, int reps, profile *p,
                 char *err) {
    (void)m, (void)ctx, (void)batch, (void)warmup, (void)reps, (void)p;
    return nn_fail(err, "the GPU profile needs a build with CUDA (nvcc was not found, or NO_CUDA=1)");
}
#endif

// --- the commands' entry points ----------------------------------------------------------------

int profile_bench(model *m, const nn_ctx *ctx, int batch, int warmup, int reps, FILE *f,
                  char *err) {
    profile *p = nn_calloc(sizeof *p, "profile");
    int rc = ctx->backend == NN_CUDA ? profile_cuda(m, ctx, batch, warmup, reps, p, err)
                                     : profile_cpu(m, ctx, batch, warmup, reps, p, err);
    if (rc == 0) profile_print(p, f);
    nn_free(p);
    return rc;
}

// Milliseconds the loader's work on one batch takes on one thread: augmentation (or the plain
// rescale) of `batch` images of the cache, median of 3.
static double loader_batch_ms(const image_cache *c, int batch, int augment) {
    int k = NN_MIN(batch, c->n);
    size_t img = (size_t)c->h * c->w * 3;
    float *out = nn_alloc((size_t)k * img * sizeof(float), "profile augmentation");
    double t[3];
    rng r;
    rng_seed(&r, 7);
    for (int rep = 0; rep < 3; rep++) {
        double t0 = nn_now();
        for (int i = 0; i < k; i++) {
            const uint8_t *src = c->pixels + (size_t)i * img;
            if (augment) {
                aug_params ap;
                augment_draw(&r, &ap);
                augment_apply(src, c->h, c->w, &ap, out + (size_t)i * img);
            } else {
                image_to_float(src, img, out + (size_t)i * img);
            }
        }
        t[rep] = (nn_now() - t0) * 1e3 * batch / k;
    }
    nn_free(out);
    return profile_median(t, 3);
}

int profile_train_report(model *m, const nn_ctx *ctx, int batch, const image_cache *train,
                         int augment, int workers, const prof_train_totals *t, FILE *f,
                         char *err) {
    if (!t->steps) return nn_fail(err, "--profile: no training step was run");
    profile *p = nn_calloc(sizeof *p, "profile");
    int gpu = ctx->backend == NN_CUDA;
    int rc = gpu ? profile_cuda(m, ctx, batch, 5, 50, p, err)
                 : profile_cpu(m, ctx, batch, 1, 5, p, err);
    if (rc) {
        nn_free(p);
        return rc;
    }
    // The reference becomes the training loop's own step; the pass's step is shown below it.
    p->step2_ms = p->step_ms;
    snprintf(p->step2_what, sizeof p->step2_what, "%s", p->step_what);
    p->step_ms = t->seconds / t->steps * 1e3;
    snprintf(p->step_what, sizeof p->step_what,
             "nn train's step in this run (loader, step, progress), mean of %ld", t->steps);
    int w = profile_row(p, "waiting for data", "loader", 0, 0, 1);
    p->rows[w].ms = t->wait_s / t->steps * 1e3;
    workers = NN_MAX(workers, 1);
    char pass[32];
    snprintf(pass, sizeof pass, "loader, %d thread%s", workers, workers > 1 ? "s" : "");
    int h = train->h, wd = train->w;
    int a = profile_row(p, augment ? "augmentation (C)" : "rescale 1/255 (C)", pass,
                        augment ? flops_augment(batch, h, wd) : (double)batch * h * wd * 3,
                        augment ? bytes_augment(batch, h, wd) : (double)batch * h * wd * 3 * 5, 0);
    p->rows[a].ms = loader_batch_ms(train, batch, augment) / workers;
    double rest = p->step_ms - profile_sum_ms(p);
    size_t len = strlen(p->note);
    snprintf(p->note + len, sizeof p->note - len,
             "\nThe layer rows come from a profiling pass after training; waiting for data is "
             "what the loop waited in training.\nThe loader's rows run on its threads while the "
             "model trains (one batch's work over the threads).\nRest of the loop's step (batch "
             "copy, progress bar, differences between training and the pass): %.3f ms.", rest);
    profile_print(p, f);
    nn_free(p);
    return 0;
}
