// profile.c: the per-layer, per-pass profile of a training step (see profile.h): the analytic
// FLOP and byte counts, the table, the C path's peaks and profiling pass. The GPU's pass is
// cuda/profile_cuda.cu; the commands' entry points, which add the data pipeline's rows, are
// run/profile_run.c.
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

// --- counts ---------------------------------------------------------------------------------

// Per sample: the loss max(z,0) - z y + log1p(exp(-|z|)) and its sum, 7 ops (max, multiply,
// subtract, |z|, exp, log1p, add); the gradient (sigmoid(z) - y) / n, 5 (exp, add, divide,
// subtract, divide); the accuracy's comparison 1. Reads z and y, writes dz.
double flops_loss(int n) { return 13.0 * n; }
double bytes_loss(int n) { return 4.0 * 3 * n; }

// Per sample of c logits (nn/loss.c, cce_logits_n): per logit the max's comparison 1, the sum's
// subtract, exp and add 3, the gradient's subtract, exp, divide, subtract and divide 5; per
// sample the log, add, subtract 3 and the accuracy's comparison 1. Reads z and y, writes dz.
double flops_cce(int n, int c) { return (double)n * (9.0 * c + 4); }
double bytes_cce(int n, int c) { return 4.0 * n * (2.0 * c + 1); }

// Per parameter (nn/adam.c): m += (g - m) a1: 3; v += (g g - v) a2: 4; w -= alpha m / (sqrt(v) +
// eps): 5; reads w, g, m, v and writes w, m, v.
double flops_adam(size_t nparams) { return 12.0 * (double)nparams; }
double bytes_adam(size_t nparams) { return 4.0 * 7 * (double)nparams; }

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

// --- the rows of a plan -------------------------------------------------------------------------

static double node_backward(const model *m, const step_node *nd, int n,
                            double (*count)(const model *, const step_node *, prof_pass, int)) {
    double c = count(m, nd, PROF_BWD_WEIGHTS, n);
    if (nd->first > 0 && !nd->no_dx) c += count(m, nd, PROF_BWD_INPUT, n);
    return c;
}

// Parameters Adam updates in its own pass (the plan's ranges, or every one).
static size_t adam_count(const model *m, const model_run *r) {
    if (!r->adam_partial) return m->nparams;
    size_t c = 0;
    for (int j = 0; j < r->nranges; j++) c += r->rlen[j];
    return c;
}

void profile_plan_rows(const model *m, const model_run *r, int n, profile *p, prof_plan_rows *ro) {
    const int head = r->be->head_ok && r->be->head_ok(m, r, n);
    const int last = r->nnodes - 1;
    ro->loss = ro->head = -1;
    for (int k = 0; k < r->nnodes; k++) {
        ro->fwd[k] = ro->bwd[k] = -1;
        if (head && k == last) continue;
        const step_node *nd = &r->nodes[k];
        ro->fwd[k] = profile_row(p, nd->what, nd->forward ? "forward (fused)" : "forward",
                                 step_node_flops(m, nd, PROF_FORWARD, n),
                                 step_node_bytes(m, nd, PROF_FORWARD, n), 1);
    }
    if (head) {
        const step_node *nd = &r->nodes[last];
        double f = step_node_flops(m, nd, PROF_FORWARD, n) + node_backward(m, nd, n, step_node_flops)
                   + flops_loss(n) + flops_adam(m->layers[nd->first].wsize + m->layers[nd->first].bsize);
        double b = step_node_bytes(m, nd, PROF_FORWARD, n) + node_backward(m, nd, n, step_node_bytes)
                   + bytes_loss(n) + bytes_adam(m->layers[nd->first].wsize + m->layers[nd->first].bsize);
        ro->head = profile_row(p, nd->what, "head: fwd+loss+bwd+Adam", f, b, 1);
    } else if (model_loss_kind(m) == LOSS_CCE) {
        const int c = (int)model_output_size(m);
        ro->loss = profile_row(p, "loss (CCE from logits)", "forward+grad", flops_cce(n, c), bytes_cce(n, c), 1);
    } else {
        ro->loss = profile_row(p, "loss (BCE from logits)", "forward+grad", flops_loss(n), bytes_loss(n), 1);
    }
    for (int k = head ? last - 1 : last; k >= 0; k--) {
        const step_node *nd = &r->nodes[k];
        const char *pass = nd->adam_fused ? "backward+Adam" : nd->backward ? "backward (fused)" : "backward";
        double f = node_backward(m, nd, n, step_node_flops), b = node_backward(m, nd, n, step_node_bytes);
        ro->bwd[k] = profile_row(p, nd->what, pass, f, b, 1);
    }
    size_t rest = adam_count(m, r);
    ro->adam = profile_row(p, r->adam_partial ? "Adam (rest of the arena)" : "Adam", "update",
                           flops_adam(rest), bytes_adam(rest), 1);
}

int profile_row_of(const prof_plan_rows *ro, const model_run *r, const step_node *nd, step_phase ph) {
    switch (ph) {
    case STEP_FORWARD: return ro->fwd[nd - r->nodes];
    case STEP_BACKWARD: return ro->bwd[nd - r->nodes];
    case STEP_HEAD: return ro->head;
    case STEP_LOSS: return ro->loss;
    case STEP_ADAM: return ro->adam;
    }
    return -1;
}

// --- the C path's clock hook ----------------------------------------------------------------------

typedef struct cpu_clock {
    const model_run *r;
    const prof_plan_rows *ro;
    double *sample;   // seconds per row, this round
    int row;
    double t0;
} cpu_clock;

static void clock_begin(void *user, const model *m, const step_node *nd, step_phase ph, int n) {
    (void)m, (void)n;
    cpu_clock *c = user;
    c->row = profile_row_of(c->ro, c->r, nd, ph);
    c->t0 = nn_now();
}

static void clock_end(void *user) {
    cpu_clock *c = user;
    if (c->row >= 0) c->sample[c->row] += nn_now() - c->t0;
}

int profile_begin(const model *m, int batch, int warmup, int reps, profile *p, char *err) {
    if (model_loss_kind(m) == LOSS_NONE)   // labels 0 and 1 below: classes of any classifier
        return nn_fail(err, "the profile trains a classifier (one sigmoid unit or a softmax); this "
                       "one has %zu outputs", model_output_size(m));
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

    // Random inputs and labels, as nn bench uses.
    size_t in = shape3_size(m->input), P = m->nparams;
    float *x = nn_alloc((size_t)batch * in * sizeof(float), "profile inputs");    // (B, H, W, C)
    float *lab = nn_alloc((size_t)batch * sizeof(float), "profile labels");      // (B)
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

    model_run *run = step_host_run(m, ctx, batch);
    prof_plan_rows ro;
    profile_plan_rows(m, run, batch, p, &ro);
    double *sample = nn_calloc((size_t)p->nrows * sizeof(double), "profile samples");
    double *per_row = nn_calloc((size_t)p->nrows * reps * sizeof(double), "profile samples");
    double *step = nn_alloc((size_t)reps * sizeof(double), "profile step times");
    adam_cfg opt = m->opt.lr > 0 ? m->opt : adam_defaults();
    cpu_clock clk = {.r = run, .ro = &ro, .sample = sample};
    const step_hook hook = {.begin = clock_begin, .end = clock_end, .user = &clk};
    for (int k = -warmup; k < reps; k++) {
        double t = nn_now();
        model_train_step(m, ctx, batch, x, lab, &opt, NULL);
        t = nn_now() - t;
        memset(sample, 0, (size_t)p->nrows * sizeof(double));
        m->t++;
        step_train(m, run, ctx, batch, batch, x, lab, &opt, &hook);
        if (k < 0) continue;
        step[k] = t * 1e3;
        for (int j = 0; j < p->nrows; j++) per_row[(size_t)j * reps + k] = sample[j] * 1e3;
    }
    for (int j = 0; j < p->nrows; j++) p->rows[j].ms = NN_MAX(0.0, profile_median(per_row + (size_t)j * reps, reps));
    p->step_ms = profile_median(step, reps);
    snprintf(p->step_what, sizeof p->step_what,
             "training step (model_train_step), median of %d, timed beside the rows", reps);
    snprintf(p->note, sizeof p->note,
             "Each round runs one normal step, then one step walked with a clock around each "
             "node's pass (the same code\ntraining runs, nn/step.c). FLOPs and bytes are counted "
             "from the shapes (the layer table, layers/layer.h).");

    memcpy(m->w, keep, P * sizeof(float));
    memcpy(m->m, keep + P, P * sizeof(float));
    memcpy(m->v, keep + 2 * P, P * sizeof(float));
    m->t = t_keep;
    nn_free(keep), nn_free(sample), nn_free(per_row), nn_free(step);
    nn_free(x), nn_free(lab);
    return 0;
}

#ifndef NN_HAVE_CUDA
int profile_cuda(model *m, const nn_ctx *ctx, int batch, int warmup, int reps,
                 const prof_input *in, profile *p, char *err) {
    (void)m, (void)ctx, (void)batch, (void)warmup, (void)reps, (void)in, (void)p;
    return nn_fail(err, "the GPU profile needs a build with CUDA (nvcc was not found, or NO_CUDA=1)");
}
#endif
