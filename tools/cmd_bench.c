// cmd_bench.c: `nn bench`: how fast a model trains (or predicts) on this machine, on random
// data, so that the figure depends on the engine only (no decoding, no disk). It builds the
// model from a cfg, runs a few warm-up steps (first-touch page faults, thread start-up, CUDA
// context and graph capture), then times full training steps: forward, binary cross-entropy,
// backward and Adam, exactly what `nn train` runs per batch.
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../nn/common.h"
#include "../nn/cuda_api.h"
#include "../nn/gemm.h"
#include "../nn/model.h"
#include "../nn/profile.h"
#include "../nn/rng.h"
#include "cli.h"
#include "setup.h"

static void usage(FILE *f) {
    fprintf(f,
"usage: nn bench [--model F] [--batch N] [--steps N] [--warmup N] [--mode train|predict]\n"
"                [--device cpu|cuda] [--threads N] [--seed N] [--profile] [--tf32]\n"
"Times full training steps (forward, loss, backward, Adam) of a model on random inputs and\n"
"labels after a warm-up, and prints images per second and milliseconds per step.\n"
"  --model F      model file (default models/catdog.cfg)\n"
"  --batch N      images per step (default 32)\n"
"  --steps N      timed steps (default 20)\n"
"  --warmup N     untimed steps first (default 3)\n"
"  --mode M       train (default) or predict: time model_predict on --batch images instead\n"
"                 (--batch 1 gives the one-image latency)\n"
"  --device D     cpu (default) or cuda (fails with the reason when no GPU can be used)\n"
"  --threads N    CPU threads (default: all cores; one in predict mode below 8 images, as\n"
"                nn predict does: there starting and joining threads costs more than it saves)\n"
"  --seed N       seed of the weights and the random data (default 1)\n"
"  --profile      where a training step's time goes instead: per layer and pass, with GFLOP/s,\n"
"                 GB/s and the fraction of this machine's peaks (nn/profile.h)\n"
"  --tf32         with --device cuda: the large dense products on TF32 tensor cores (the same as\n"
"                 NN_TF32=1; GEMM error ~3e-4 relative, bench/RESULTS.md); default exact FP32\n"
"The last line is 'N img/s'. Steps are timed one by one; the median and best are shown too,\n"
"since a shared machine makes single steps noisy.\n");
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int cmd_bench(int argc, char **argv) {
    const char *model_path = "models/catdog.cfg", *device = "cpu", *mode = "train";
    int batch = 32, steps = 20, warmup = 3, threads = 0, seed = 1, profile = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (cli_is_help(a)) {
            usage(stdout);
            return 0;
        }
#define VALUE() if (!(v = cli_value("bench", argc, argv, &i))) return 2
        if (!strcmp(a, "--model")) { VALUE(); model_path = v; }
        else if (!strcmp(a, "--device")) { VALUE(); device = v; }
        else if (!strcmp(a, "--mode")) { VALUE(); mode = v; }
        else if (!strcmp(a, "--batch")) { VALUE(); if (cli_int("bench", a, v, 1, 65536, &batch)) return 2; }
        else if (!strcmp(a, "--steps")) { VALUE(); if (cli_int("bench", a, v, 1, 1000000, &steps)) return 2; }
        else if (!strcmp(a, "--warmup")) { VALUE(); if (cli_int("bench", a, v, 0, 1000000, &warmup)) return 2; }
        else if (!strcmp(a, "--threads")) { VALUE(); if (cli_int("bench", a, v, 1, 4096, &threads)) return 2; }
        else if (!strcmp(a, "--seed")) { VALUE(); if (cli_int("bench", a, v, 0, 2147483647, &seed)) return 2; }
        else if (!strcmp(a, "--profile")) profile = 1;
        else if (!strcmp(a, "--tf32")) setenv("NN_TF32", "1", 1);   // read at CUDA context init
        else return cli_unknown("bench", a);
#undef VALUE
    }
    int train = !strcmp(mode, "train");
    if (!train && strcmp(mode, "predict")) {
        fprintf(stderr, "nn bench: --mode '%s' is not train or predict\n", mode);
        return 2;
    }
    if (profile && !train) {
        fprintf(stderr, "nn bench: --profile profiles training steps: leave out --mode predict\n");
        return 2;
    }
    if (strcmp(device, "cpu") && strcmp(device, "cuda")) {
        fprintf(stderr, "nn bench: --device '%s' is not cpu or cuda\n", device);
        return 2;
    }

    char err[NN_ERRLEN];
    model m;
    if (model_load_cfg(&m, model_path, err) != 0) {
        fprintf(stderr, "nn bench: %s\n", err);
        return 1;
    }
    if (train && model_output_size(&m) != 1) {
        fprintf(stderr, "nn bench: %s: training needs one sigmoid output (binary), this model has %zu outputs\n",
                model_path, model_output_size(&m));
        model_free(&m);
        return 1;
    }
    nn_ctx ctx;
    if (threads == 0 && !train && batch < 8) threads = 1;   // what nn predict does (cmd_predict.c)
    if (setup_device(device, threads, &ctx, NULL, NULL, err) != 0) {
        fprintf(stderr, "nn bench: %s\n", err);
        model_free(&m);
        return 1;
    }
    model_init_weights(&m, (uint64_t)seed);
    model_alloc_batch(&m, batch);
    if (ctx.backend == NN_CUDA && cuda_model_upload(&m, &ctx, batch, err) != 0) {
        fprintf(stderr, "nn bench: %s\n", err);
        model_free(&m);
        cuda_ctx_free(&ctx);
        return 1;
    }

    size_t in = shape3_size(m.input);
    float *x = nn_alloc((size_t)batch * in * sizeof(float), "bench inputs");
    float *labels = nn_alloc((size_t)batch * sizeof(float), "bench labels");
    float *out = nn_alloc((size_t)batch * model_output_size(&m) * sizeof(float), "bench outputs");
    rng r;
    rng_seed(&r, (uint64_t)seed + 1);
    for (size_t i = 0; i < (size_t)batch * in; i++) x[i] = (float)rng_uniform(&r);
    for (int i = 0; i < batch; i++) labels[i] = (float)rng_below(&r, 2);

    char dev[300];
    if (ctx.backend == NN_CUDA) {
        char name[256] = "", why[NN_ERRLEN];
        cuda_probe(ctx.device, name, sizeof name, why);
        snprintf(dev, sizeof dev, "cuda (%s)", name);
    } else {
        snprintf(dev, sizeof dev, "cpu (%d threads, sgemm %s)", omp_get_max_threads(), sgemm_isa());
    }
    printf("model %s (%zu parameters), %s, batch %d, device %s\n", model_path, m.nparams,
           train ? "training steps" : "prediction", batch, dev);

    if (profile) {   // --profile (issue 9): the per-layer table instead of the step timing
        int rc = profile_bench(&m, &ctx, batch, warmup, steps, stdout, err);
        if (rc != 0) fprintf(stderr, "nn bench: %s\n", err);
        nn_free(x), nn_free(labels), nn_free(out);
        model_free(&m);
        if (ctx.backend == NN_CUDA) cuda_ctx_free(&ctx);
        return rc ? 1 : 0;
    }

    if (ctx.backend == NN_CUDA) {
        // On the GPU, steps are timed on the device (cuda/train_cuda.cu): inputs already there,
        // CUDA events around each step, median; the step replayed as one CUDA graph, then the
        // same kernels launched one by one. (Added by the CUDA work, issue 6.)
        double med = 0, p10 = 0, p90 = 0, eager = 0;
        int rc = train ? cuda_bench_train(&m, &ctx, batch, warmup, steps, 1, &med, &p10, &p90, err)
                       : cuda_bench_predict(&m, &ctx, batch, warmup, steps, &med, &p10, &p90, err);
        if (rc == 0 && train) rc = cuda_bench_train(&m, &ctx, batch, warmup, steps, 0, &eager, NULL, NULL, err);
        if (rc != 0) fprintf(stderr, "nn bench: %s\n", err);
        else {
            printf("warm-up %d, timed %d %s (CUDA events): %.4f ms/%s median, p10 %.4f, p90 %.4f", warmup,
                   steps, train ? "steps" : "calls", med, train ? "step" : "call", p10, p90);
            if (train) printf("; eager launches %.4f ms/step median (%.0f img/s)", eager, batch / eager * 1e3);
            printf("\n%.0f img/s\n", batch / med * 1e3);
        }
        nn_free(x), nn_free(labels), nn_free(out);
        model_free(&m);
        cuda_ctx_free(&ctx);
        return rc ? 1 : 0;
    }

    adam_cfg opt = adam_defaults();
    float loss = 0;
    for (int s = 0; s < warmup; s++) {
        if (train) loss = model_train_step(&m, &ctx, batch, x, labels, &opt, NULL);
        else model_predict(&m, &ctx, batch, x, out);
    }
    double *t = nn_alloc((size_t)steps * sizeof(double), "step times");
    double t0 = nn_now();
    for (int s = 0; s < steps; s++) {
        double a = nn_now();
        if (train) loss = model_train_step(&m, &ctx, batch, x, labels, &opt, NULL);
        else model_predict(&m, &ctx, batch, x, out);
        t[s] = nn_now() - a;
    }
    double total = nn_now() - t0;
    qsort(t, (size_t)steps, sizeof *t, cmp_double);
    double mean = total / steps, median = t[steps / 2], best = t[0];
    printf("warm-up %d, timed %d %s: %.3f ms/%s mean, %.3f median, %.3f best", warmup, steps,
           train ? "steps" : "calls", mean * 1e3, train ? "step" : "call", median * 1e3, best * 1e3);
    if (train) printf("; last loss %.4f", loss);
    printf("\n%.0f img/s\n", batch / mean);

    nn_free(t);
    nn_free(x);
    nn_free(labels);
    nn_free(out);
    model_free(&m);
    if (ctx.backend == NN_CUDA) cuda_ctx_free(&ctx);
    return 0;
}
