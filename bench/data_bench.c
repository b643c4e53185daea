// data_bench.c: decode + resize throughput of the data pipeline, images per second.
// Lists DIR as flow_from_directory does (recursively), then times image_cache_load (decode
// (JPEG with libjpeg-turbo, as Pillow), NEAREST resize to SIZE x SIZE, threads as given, no cache
// file), best of REPS runs.
// With --slow, times the plain decode (no JPEG row-skipping shortcut) on one thread instead,
// which shows what the shortcut is worth. With --loader, times one augmented epoch of batches
// of 32 from the decoded images instead (the per-epoch cost once the cache is warm).
// Prints one line: "DIR images N threads T seconds S img_per_s R img_per_cpu_s C" (best wall
// time, and best process CPU time: all threads' seconds together).
// With --train CFG, trains one augmented epoch of the model CFG on the C path (batch 32, all
// cores for the model, T loader threads) from the warm cache and prints the epoch's time and
// how much of it was spent waiting for the loader (loader_next's wait_s).
//   data_bench DIR [--threads T] [--size 64] [--reps 3] [--slow | --loader | --train CFG]
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../data/data.h"
#include "../nn/common.h"
#include "../run/train.h"

// CPU seconds of the whole process (every thread): images per CPU-second is the per-core
// throughput, and is much less disturbed than wall time when other jobs share the cores.
static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int train_one_epoch(const char *dir, const image_cache *c, const char *cfg, int threads) {
    char err[NN_ERRLEN];
    model m;
    if (model_load_cfg(&m, cfg, err) < 0) return fprintf(stderr, "data_bench: %s\n", err), 1;
    if (m.input.h != c->h || m.input.w != c->w)
        return fprintf(stderr, "data_bench: %s takes %dx%d images, not %dx%d\n", cfg, m.input.h,
                       m.input.w, c->h, c->w), 1;
    nn_ctx ctx = nn_ctx_cpu();
    model_init_weights(&m, 1);
    model_alloc_batch(&m, 32);
    adam_cfg opt = adam_defaults();
    loader *L = loader_create(c, 32, 1, 1, 1, threads);
    train_stats st;
    train_epoch(&m, &ctx, L, 32, 0, 0, &opt, NULL, NULL, NULL, &st);
    printf("%s images %ld loader_threads %d epoch_s %.2f wait_s %.3f wait_pct %.2f loss %.4f acc %.4f\n",
           dir, st.seen, threads, st.seconds, st.wait_s, 100 * st.wait_s / st.seconds,
           train_stats_loss(&st), train_stats_acc(&st));
    loader_free(L);
    model_free(&m);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: data_bench DIR [--threads T] [--size 64] [--reps 3] [--slow | --loader]\n");
        return 2;
    }
    const char *dir = argv[1];
    int threads = 1, size = 64, reps = 3, slow = 0, use_loader = 0;
    const char *train_cfg = NULL;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--size") && i + 1 < argc) size = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--slow")) slow = 1;
        else if (!strcmp(argv[i], "--loader")) use_loader = 1;
        else if (!strcmp(argv[i], "--train") && i + 1 < argc) train_cfg = argv[++i], use_loader = 1;
        else return fprintf(stderr, "data_bench: unknown option %s\n", argv[i]), 2;
    }
    if (threads <= 0) threads = data_default_threads();
    char err[NN_ERRLEN];
    dataset d;
    if (dataset_open(&d, dir, err) < 0) return fprintf(stderr, "data_bench: %s\n", err), 1;
    double best = 1e30, best_cpu = 1e30;
    int n = 0;
    if (slow) {
        uint8_t *out = nn_alloc((size_t)size * size * 3, "image");
        threads = 1;
        for (int r = 0; r < reps; r++) {
            double t = nn_now(), tc = cpu_now();
            n = 0;
            for (int i = 0; i < d.n; i++) n += image_load_rgb_slow(d.paths[i], size, size, out, err) == 0;
            best = NN_MIN(best, nn_now() - t);
            best_cpu = NN_MIN(best_cpu, cpu_now() - tc);
        }
        nn_free(out);
    } else {
        image_cache c;
        if (image_cache_load(&c, &d, size, size, use_loader ? 0 : threads, NULL, err) < 0)
            return fprintf(stderr, "data_bench: %s\n", err), 1;
        n = c.n;
        if (train_cfg) {
            int rc = train_one_epoch(dir, &c, train_cfg, threads);
            image_cache_free(&c);
            dataset_free(&d);
            return rc;
        }
        if (use_loader) {
            loader *L = loader_create(&c, 32, 1, 1, 1, threads);
            float *x = nn_alloc((size_t)32 * size * size * 3 * sizeof(float), "batch"), y[32];
            for (int r = 0; r < reps; r++) {
                loader_start_epoch(L, r);
                double t = nn_now();
                while (loader_next(L, x, y, NULL) > 0) {}
                best = NN_MIN(best, nn_now() - t);
            }
            nn_free(x);
            loader_free(L);
        } else {
            for (int r = 0; r < reps; r++) {
                image_cache_free(&c);
                double tc = cpu_now();
                if (image_cache_load(&c, &d, size, size, threads, NULL, err) < 0)
                    return fprintf(stderr, "data_bench: %s\n", err), 1;
                best_cpu = NN_MIN(best_cpu, cpu_now() - tc);
                best = NN_MIN(best, c.seconds);
            }
        }
        image_cache_free(&c);
    }
    printf("%s images %d threads %d seconds %.4f img_per_s %.0f img_per_cpu_s %.0f\n", dir, n,
           threads, best, n / best, best_cpu < 1e30 ? n / best_cpu : 0.0);
    dataset_free(&d);
    return 0;
}
