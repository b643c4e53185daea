// profile.h: where a training step's time goes (`nn bench --profile`, `nn train --profile`).
//
// A profile is a table: one row per node of the step's plan (nn/step.h: a layer, or layers the
// backend runs fused) and pass (forward, backward), plus the loss (or the fused head), Adam,
// augmentation and waiting for data. The rows come from a hook on the step walk itself
// (step_hook): the walk tells the profiler where each pass begins and ends, so the profile times
// exactly the code training runs. Each row has its time, its share of the step, and the FLOPs
// and bytes the pass must do at least (the layer table's counts, layers/layer.h), hence its
// achieved GFLOP/s and GB/s and the fraction of the machine's peaks each reaches. The peaks are
// measured by the tool itself, once per profile: a large copy for bandwidth, a tight FMA loop
// and the project's own SGEMM for arithmetic. A row is bound by memory or by arithmetic,
// whichever fraction is larger (the roofline's reading).
//
// Counting rules, the same on every path:
//  - FLOPs of conv2d and dense are their products only, 2 per multiply-add (the bias and
//    activation epilogue is left out, as FLOP counters usually do); layers without products,
//    the loss, Adam and augmentation count their elementwise operations, one each. A backward
//    row counts the weight part and, unless the node gives no input gradient, the input part.
//  - bytes are the minimal traffic of the pass as one operation: every input it needs read once,
//    every output written once, 4 bytes a float (int32 indices 4, uint8 window positions 1).
// The C path (profile_cpu, nn/profile.c) and the CUDA path (profile_cuda, cuda/profile_cuda.cu)
// fill the same struct; profile_print prints it. The commands' entry points, which add the data
// pipeline's rows (augmentation, waiting for the loader), are above the engine: run/profile_run.h.
#ifndef NN_PROFILE_H
#define NN_PROFILE_H

#include <stdio.h>

#include "cuda_api.h"
#include "model.h"
#include "step.h"

// --- what a pass must do, counted from its shapes ---------------------------------------------
// A layer's counts are its table entry's (layers/layer.h: flops, bytes); a fused node's are the
// fusion's (step_node_flops); the rest are here.

// Binary cross-entropy from logits with its gradient (nn/loss.c), n samples.
double flops_loss(int n);
double bytes_loss(int n);
// Categorical cross-entropy from c logits with its gradient (nn/loss.c), n samples.
double flops_cce(int n, int c);
double bytes_cce(int n, int c);
// Adam over nparams parameters (nn/adam.c).
double flops_adam(size_t nparams);
double bytes_adam(size_t nparams);

// --- the table --------------------------------------------------------------------------------

#define PROF_MAX_ROWS (2 * MODEL_MAX_LAYERS + 8)

typedef struct prof_row {
    char what[136];     // layer name ("conv2d", "dense_1"), "loss", "Adam", ...
    char pass[28];      // "forward", "backward", "backward+Adam", "update", ...
    double ms;          // per step (median)
    double flops;       // per step, analytic (0: none counted)
    double bytes;       // per step, analytic
    int in_sum;         // 1: part of the step the table adds up; 0: shown for information
                        //    (work overlapped with the step, or outside the timed step)
} prof_row;

typedef struct prof_peaks {
    double gflops;          // the arithmetic peak fractions are taken of: max of the two below
    double fma_gflops;      // a tight FMA loop on every core / SM
    double gemm_gflops;     // the project's SGEMM on a large square product
    int gemm_n;             // its size
    double gbs;             // bandwidth peak, bytes read + bytes written
    char gbs_how[120];      // how it was measured
} prof_peaks;

typedef struct profile {
    char device[300];       // "cpu (2 threads, sgemm avx512f+fma)", "cuda (NVIDIA H100 ...)"
    int batch, reps;
    prof_peaks peak;
    int nrows;
    prof_row rows[PROF_MAX_ROWS];
    // The step the rows are compared with: shares are of step_ms. step2 is a second reference
    // shown below it (the GPU's eager launches; nn train's model_train_step now), 0 = none.
    double step_ms, step2_ms;
    char step_what[160], step2_what[160];
    char note[1024];         // printed under the table (how the split was measured)
} profile;

// Appends a row (or finds the row with the same what and pass) and returns its index.
int profile_row(profile *p, const char *what, const char *pass, double flops, double bytes,
                int in_sum);
// Sum of the rows with in_sum set.
double profile_sum_ms(const profile *p);
// Median of v[0..n) (sorts v).
double profile_median(double *v, int n);
void profile_print(const profile *p, FILE *f);
// The checks and start both profilers share: a binary model, batch and rounds in range; p
// cleared with batch and reps set. 0, or -1 with err.
int profile_begin(const model *m, int batch, int warmup, int reps, profile *p, char *err);

// The rows of a run's plan, in the order the step walk visits them: each node's forward, the
// loss (or the fused head), each node's backward from the last down, Adam. row_of gives the row
// of a hook's (node, phase); the profilers' hooks add their clocks into it.
typedef struct prof_plan_rows {
    int fwd[MODEL_MAX_LAYERS], bwd[MODEL_MAX_LAYERS];
    int loss, head, adam;
} prof_plan_rows;
void profile_plan_rows(const model *m, const model_run *r, int n, profile *p, prof_plan_rows *ro);
int profile_row_of(const prof_plan_rows *ro, const model_run *r, const step_node *nd, step_phase ph);

// --- measuring ----------------------------------------------------------------------------------

// The C path's peaks: the better of a memcpy and a STREAM triad (c = a + s b) over 64 MiB
// arrays, split over the threads; an FMA loop (AVX-512, AVX2 or plain C, as sgemm picks) on
// every thread; sgemm on an n x n x n product (n = 1024).
void profile_peaks_cpu(prof_peaks *pk);

// Profiles training steps of `batch` random samples on the C path: `warmup` untimed rounds, then
// `reps` rounds, each one normal model_train_step (the reference, step_ms) and one step walked
// with the clock hook (a clock around each node's pass); rows are medians.
// The model is left as it was (weights, Adam's state and step count are restored).
int profile_cpu(model *m, const nn_ctx *ctx, int batch, int warmup, int reps, profile *p,
                char *err);
// Building the batch on the GPU, a row the engine cannot make itself (the data pipeline's
// work: run/profile_run.c gives augmentation from uint8 images on the device): before each
// round's step, src (nn/cuda_api.h) writes the round's `batch` inputs, at step 0, into the
// model's device batch, timed as the row what / pass with the given counts, outside the sum.
typedef struct prof_input {
    const char *what, *pass;
    double flops, bytes;
    cuda_batch_source src;
} prof_input;

// The same on the GPU (cuda/profile_cuda.cu): the step walked with a hook that puts each node's
// pass between CUDA events (after a spin kernel, so that the host's launches are queued
// before the GPU reaches them and the events time the device alone); step_ms is the whole step
// replayed as one CUDA graph, step2_ms the same kernels launched one by one (cuda_bench_train).
// in (may be NULL) adds its row. The device's weights and Adam state are restored afterwards.
// -1 with err without CUDA.
int profile_cuda(model *m, const nn_ctx *ctx, int batch, int warmup, int reps,
                 const prof_input *in, profile *p, char *err);

#endif
