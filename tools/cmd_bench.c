// cmd_bench.c: `nn bench`: how fast a model trains (or predicts) on this machine, on random
// data, so that the figure depends on the engine only (no decoding, no disk). It builds the
// model from a cfg, runs a few warm-up steps (first-touch page faults, thread start-up, CUDA
// context and graph capture), then times full training steps: forward, binary cross-entropy,
// backward and Adam, exactly what `nn train` runs per batch.
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../nn/common.h"
#include "../nn/bench.h"
#include "../nn/model.h"
#include "../nn/profile.h"
#include "../run/profile_run.h"
#include "cli.h"
#include "setup.h"

static void usage(FILE *f) {
    fprintf(f,
"usage: nn bench [--model F] [--batch N] [--steps N] [--warmup N] [--mode train|predict]\n"
"                [--device cpu|cuda] [--threads N] [--seed N] [--profile] [--tf32]\n"
"Times full training steps (forward, loss, backward, Adam) of a model on random inputs and\n"
"labels after a warm-up, and prints images per second and milliseconds per step.\n"
"  --model F      model file (default models/catdog.cfg; where that file is not found, nn run\n"
"                 outside the repository, the same CNN built in, as nn train does, and says so)\n"
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

int cmd_bench(int argc, char **argv) {
    const char *model_path = NULL, *device = "cpu", *mode = "train";
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
    int loaded;
    if (model_path) {
        loaded = model_load_cfg(&m, model_path, err);
    } else if (access("models/catdog.cfg", R_OK) == 0) {
        model_path = "models/catdog.cfg";
        loaded = model_load_cfg(&m, model_path, err);
    } else {   // nn run from another folder: the article's CNN, as nn train falls back to it
        model_path = "built-in catdog.cfg";
        printf("models/catdog.cfg is not here: timing the article's CNN built into nn (as nn train "
               "uses it); --model FILE picks another\n");
        loaded = model_parse_cfg(&m, MODEL_CATDOG_CFG, model_path, err);
    }
    if (loaded != 0) {
        fprintf(stderr, "nn bench: %s\n", err);
        return 1;
    }
    if (train && model_loss_kind(&m) == LOSS_NONE) {
        fprintf(stderr, "nn bench: %s: training needs one sigmoid output (binary) or a softmax over N "
                "outputs, this model has %zu outputs\n", model_path, model_output_size(&m));
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
    char dev[300];
    nn_ctx_describe(&ctx, dev, sizeof dev);
    printf("model %s (%zu parameters), %s, batch %d, device %s\n", model_path, m.nparams,
           train ? "training steps" : "prediction", batch, dev);

    int rc;
    if (profile) {   // --profile (issue 9): the per-layer table instead of the step timing
        rc = profile_bench(&m, &ctx, batch, warmup, steps, stdout, err);
    } else {
        bench_result b;
        rc = model_bench(&m, &ctx, batch, warmup, steps, train, (uint64_t)seed + 1, &b, err);
        if (rc == 0 && b.device_timed) {
            printf("warm-up %d, timed %d %s (CUDA events): %.4f ms/%s median, p10 %.4f, p90 %.4f", warmup,
                   steps, train ? "steps" : "calls", b.median_ms, train ? "step" : "call", b.p10_ms, b.p90_ms);
            if (train) printf("; eager launches %.4f ms/step median (%.0f img/s)", b.eager_ms, batch / b.eager_ms * 1e3);
            printf("\n%.0f img/s\n", batch / b.median_ms * 1e3);
        } else if (rc == 0) {
            printf("warm-up %d, timed %d %s: %.3f ms/%s mean, %.3f median, %.3f best", warmup, steps,
                   train ? "steps" : "calls", b.mean_ms, train ? "step" : "call", b.median_ms, b.best_ms);
            if (train) printf("; last loss %.4f", b.last_loss);
            printf("\n%.0f img/s\n", batch / b.mean_ms * 1e3);
        }
    }
    if (rc != 0) fprintf(stderr, "nn bench: %s\n", err);
    model_free(&m);   // before the context: the model's device buffers belong to its device
    nn_ctx_free(&ctx);
    return rc ? 1 : 0;
}
