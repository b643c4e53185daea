// cmd_demo.c: `nn demo add | mandelbrot`, the article's two demos, run through the engine's own
// tensor ops so that a reader sees the framework's kernel style: the array addition is
// ew_apply(EW_ADD, DT_I32) (the op the activation layers use), the Mandelbrot image is grid_map
// (tools/demo_mandelbrot.c). Each side (the C path with OpenMP, the CUDA twin) is timed and the
// two results are compared element by element.
//
//   nn demo add                       the article's arrays: c[0] = 8 ... c[5] = 18
//   nn demo add --n 268435456         a large int32 vector addition, timed, in GB/s and as a
//                                     fraction of the copy bandwidth measured on the same side
#include <limits.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "../nn/common.h"
#include "../nn/cuda_api.h"
#include "../nn/elementwise.h"
#include "cli.h"
#include "demo.h"

// --- sides: the C path, the GPU, or both

int demo_sides_open(const char *cmd, const char *device, demo_sides *d) {
    memset(d, 0, sizeof *d);
    d->cpu_ctx = (nn_ctx){.backend = NN_CPU, .threads = 0, .seed = 1};   // as nn_ctx_cpu()
    d->threads = d->cpu_ctx.threads > 0 ? d->cpu_ctx.threads : omp_get_max_threads();
    const int automatic = !device || !strcmp(device, "auto");
    if (!automatic && strcmp(device, "cpu") && strcmp(device, "cuda") && strcmp(device, "both")) {
        fprintf(stderr, "nn %s: --device '%s' must be cpu, cuda, both or auto\n", cmd, device);
        return 1;
    }
    d->cpu = automatic || !strcmp(device, "cpu") || !strcmp(device, "both");
    const int want_gpu = automatic || !strcmp(device, "cuda") || !strcmp(device, "both");
    if (!want_gpu) return 0;
    char err[NN_ERRLEN];
    if (cuda_ctx_init(&d->gpu_ctx, 0, err)) {
        if (automatic) {
            fprintf(stderr, "nn %s: running the C path only: %s\n", cmd, err);
            return 0;
        }
        fprintf(stderr, "nn %s: --device %s needs a GPU: %s (use --device cpu)\n", cmd, device, err);
        return 1;
    }
    d->cuda = 1;
    char why[NN_ERRLEN];
    if (!cuda_probe(0, d->gpu_name, sizeof d->gpu_name, why)) snprintf(d->gpu_name, sizeof d->gpu_name, "GPU 0");
    return 0;
}

void demo_sides_close(demo_sides *d) {
    if (d->cuda) cuda_ctx_free(&d->gpu_ctx);
    d->cuda = 0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double demo_median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// --- memory: a demo that asks for more than the machine has is swapped to a crawl or killed by
// the OOM killer halfway (nn demo add --n 2000000000 wanted 24 GB of a 23 GB machine), so the
// need is weighed against what is available first.

// The first number in a file (memory.max holds "max" when unlimited: -1).
static double read_number(const char *path) {
    FILE *f = fopen(path, "r");
    double v = -1;
    if (!f) return -1;
    if (fscanf(f, "%lf", &v) != 1) v = -1;
    fclose(f);
    return v;
}

// The bytes of memory of this process's own cgroup (v2) left under its limit, or -1.
static double cgroup_left(void) {
    char line[4096], path[4200];
    FILE *f = fopen("/proc/self/cgroup", "r");
    double left = -1;
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "0::", 3)) {
            line[strcspn(line, "\n")] = 0;
            snprintf(path, sizeof path, "/sys/fs/cgroup%s/memory.max", line + 3);
            double max = read_number(path);
            snprintf(path, sizeof path, "/sys/fs/cgroup%s/memory.current", line + 3);
            double cur = read_number(path);
            if (max >= 0 && cur >= 0) left = max > cur ? max - cur : 0;
        }
    fclose(f);
    return left;
}

// The address space left under ulimit -v, or -1 when unlimited.
static double rlimit_left(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return -1;
    double pages = read_number("/proc/self/statm");   // first field: the whole address space
    double used = pages > 0 ? pages * (double)sysconf(_SC_PAGESIZE) : 0;
    return (double)rl.rlim_cur > used ? (double)rl.rlim_cur - used : 0;
}

// What this process may still allocate: the tightest of MemAvailable, its cgroup's limit and
// ulimit -v (source says which). -1 when none can be read.
static double memory_available(const char **source) {
    double best = -1, v;
    char line[256];
    FILE *f = fopen("/proc/meminfo", "r");
    unsigned long long kb;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
            best = (double)kb * 1024, *source = "MemAvailable in /proc/meminfo";
    if (f) fclose(f);
    if ((v = cgroup_left()) >= 0 && (best < 0 || v < best)) best = v, *source = "this cgroup's memory.max";
    if ((v = rlimit_left()) >= 0 && (best < 0 || v < best)) best = v, *source = "ulimit -v";
    return best;
}

// A tenth of what is available is left to the rest of the machine: taking all of MemAvailable
// would push the system itself into swapping or the OOM killer.
#define MEMORY_SHARE 0.9

int demo_check_memory(const char *cmd, double need, const char *what, const char *hint) {
    const char *source = "";
    double avail = memory_available(&source);
    if (avail < 0 || need <= MEMORY_SHARE * avail) return 0;
    fprintf(stderr, "nn %s: %s needs %.1f GB of memory but %.1f GB is available (%s; nn takes at most "
            "%.0f%% of it): %s\n", cmd, what, need / 1e9, avail / 1e9, source, MEMORY_SHARE * 100, hint);
    return -1;
}

double demo_memory_available(void) {
    const char *source;
    double avail = memory_available(&source);
    return avail < 0 ? -1 : MEMORY_SHARE * avail;
}

// --- the article's arrays

static void print_c(const int32_t *c, int n) {
    for (int i = 0; i < n; i++) printf("c[%d] = %d\n", i, c[i]);
}

static int add_article(demo_sides *d) {
    const int32_t a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {7, 8, 9, 10, 11, 12};
    int32_t c_cpu[6], c_gpu[6];
    char err[NN_ERRLEN];
    if (d->cpu && ew_apply(&d->cpu_ctx, EW_ADD, DT_I32, 6, a, b, c_cpu)) {
        fprintf(stderr, "nn demo add: ew_apply refused int32 add\n");
        return 1;
    }
    if (d->cuda) {
        cuda_demo_times t;
        if (cuda_demo_add(&d->gpu_ctx, 6, a, b, c_gpu, 0, &t, err)) {
            fprintf(stderr, "nn demo add: %s\n", err);
            return 1;
        }
    }
    print_c(d->cuda ? c_gpu : c_cpu, 6);
    if (d->cuda && d->cpu) {
        if (memcmp(c_cpu, c_gpu, sizeof c_cpu)) {
            fprintf(stderr, "nn demo add: the C path and CUDA disagree:\n");
            print_c(c_cpu, 6);
            return 1;
        }
        printf("(ew_apply int32 add on %s; the C path gives the same)\n", d->gpu_name);
    } else {
        printf("(ew_apply int32 add on %s)\n", d->cuda ? d->gpu_name : "the C path");
    }
    return 0;
}

// --- the large timed addition

// Inputs that exercise int32 wrap-around and are not constant (a constant array could hide
// indexing mistakes).
static void fill_inputs(int threads, size_t n, int32_t *a, int32_t *b) {
#pragma omp parallel for schedule(static) num_threads(threads)
    for (size_t i = 0; i < n; i++) {
        a[i] = (int32_t)(uint32_t)(i * 2654435761u);
        b[i] = (int32_t)((uint32_t)i ^ 0x9e3779b9u);
    }
}

// Elements where c != a + b (wrapping), checked with a plain loop, independent of ew_apply.
static size_t count_wrong(int threads, size_t n, const int32_t *a, const int32_t *b, const int32_t *c,
                          size_t *first) {
    size_t wrong = 0, lo = SIZE_MAX;
#pragma omp parallel for schedule(static) num_threads(threads) reduction(+ : wrong) reduction(min : lo)
    for (size_t i = 0; i < n; i++)
        if (c[i] != (int32_t)((uint32_t)a[i] + (uint32_t)b[i])) {
            wrong++;
            if (i < lo) lo = i;
        }
    *first = lo;
    return wrong;
}

// memcpy split over the threads, each copying its own contiguous slice: the C path's copy
// bandwidth, measured like the add (same threads, same pages).
static void parallel_memcpy(int threads, void *dst, const void *src, size_t bytes) {
#pragma omp parallel num_threads(threads)
    {
        size_t t = (size_t)omp_get_thread_num(), nt = (size_t)omp_get_num_threads();
        size_t lo = (bytes * t / nt) & ~(size_t)63, hi = t + 1 == nt ? bytes : (bytes * (t + 1) / nt) & ~(size_t)63;
        if (hi > lo) memcpy((char *)dst + lo, (const char *)src + lo, hi - lo);
    }
}

static int add_large(demo_sides *d, size_t n, int reps) {
    const size_t bytes = n * sizeof(int32_t);
    const double moved = 3.0 * (double)bytes;   // a and b read, c written
    const int arrays = d->cuda ? 4 : 3;          // a, b, c, and the GPU's c copied back
    char what[128], hint[128];
    snprintf(what, sizeof what, "--n %zu (%d int32 arrays of %.1f GB)", n, arrays, bytes / 1e9);
    double avail = demo_memory_available();
    snprintf(hint, sizeof hint, "choose a smaller --n (at most about %.0f here)",
             avail > 0 ? avail / (arrays * sizeof(int32_t)) : 0.0);
    if (demo_check_memory("demo add", (double)arrays * bytes, what, hint)) return 1;
    int32_t *a = nn_alloc(bytes, "demo array a"), *b = nn_alloc(bytes, "demo array b");
    int32_t *c = nn_alloc(bytes, "demo array c"), *g = d->cuda ? nn_alloc(bytes, "demo array c (GPU)") : NULL;
    fill_inputs(d->threads, n, a, b);
    printf("vector add c = a + b, n = %zu int32: %.3g GB moved per add (a and b read, c written)\n", n,
           moved / 1e9);
    double cpu_ms = 0;
    int rc = 0;
    char err[NN_ERRLEN];
    if (d->cpu) {
        double *ts = nn_alloc(sizeof(double) * (size_t)reps, "timings");
        parallel_memcpy(d->threads, c, a, bytes);   // warm-up: first touch of c's pages
        for (int r = 0; r < reps; r++) {
            double t0 = nn_now();
            parallel_memcpy(d->threads, c, a, bytes);
            ts[r] = (nn_now() - t0) * 1e3;
        }
        double copy_ms = demo_median(ts, reps);
        ew_apply(&d->cpu_ctx, EW_ADD, DT_I32, n, a, b, c);
        for (int r = 0; r < reps; r++) {
            double t0 = nn_now();
            ew_apply(&d->cpu_ctx, EW_ADD, DT_I32, n, a, b, c);
            ts[r] = (nn_now() - t0) * 1e3;
        }
        cpu_ms = demo_median(ts, reps);
        nn_free(ts);
        double gbs = moved / cpu_ms / 1e6, copy_gbs = 2.0 * bytes / copy_ms / 1e6;
        printf("  C path (%d threads)   %10.3f ms %9.1f GB/s = %5.1f%% of memcpy (%.1f GB/s, parallel memcpy, "
               "read + written), median of %d\n",
               d->threads, cpu_ms, gbs, 100 * gbs / copy_gbs, copy_gbs, reps);
        size_t first, wrong = count_wrong(d->threads, n, a, b, c, &first);
        if (wrong) {
            fprintf(stderr, "nn demo add: the C path got %zu elements wrong, the first at %zu\n", wrong, first);
            rc = 1;
        }
    }
    if (d->cuda) {
        cuda_demo_times t;
        if (cuda_demo_add(&d->gpu_ctx, n, a, b, g, reps, &t, err)) {
            fprintf(stderr, "nn demo add: %s\n", err);
            rc = 1;
        } else {
            double gbs = moved / t.op_ms / 1e6, copy_gbs = 2.0 * bytes / t.copy_ms / 1e6;
            printf("  CUDA (%s) %10.3f ms %9.1f GB/s = %5.1f%% of device copy (%.1f GB/s, cudaMemcpy device to "
                   "device, read + written), median of %d\n",
                   d->gpu_name, t.op_ms, gbs, 100 * gbs / copy_gbs, copy_gbs, reps);
            printf("    back to back: %.3f ms a launch (%.1f GB/s); with the host<->device transfers: %.1f ms\n",
                   t.op_burst_ms, moved / t.op_burst_ms / 1e6, t.total_ms);
            if (d->cpu) printf("  speed-up of CUDA over the C path: %.1fx\n", cpu_ms / t.op_ms);
            size_t first, wrong = count_wrong(d->threads, n, a, b, g, &first);
            if (wrong) {
                fprintf(stderr, "nn demo add: CUDA got %zu elements wrong, the first at %zu\n", wrong, first);
                rc = 1;
            } else if (d->cpu && memcmp(c, g, bytes)) {
                fprintf(stderr, "nn demo add: the C path and CUDA disagree\n");
                rc = 1;
            }
        }
    }
    if (!rc) printf("  check: every c[i] equals a[i] + b[i]%s\n", d->cpu && d->cuda ? " on both sides" : "");
    nn_free(a), nn_free(b), nn_free(c), nn_free(g);
    return rc;
}

static void add_usage(FILE *f) {
    fprintf(f,
            "usage: nn demo add [--n N] [--reps R] [--device cpu|cuda|both|auto]\n"
            "  without --n: the article's arrays A = [1..6], B = [7..12], printed as c[i] = ...\n"
            "  --n N       a timed int32 addition of N elements (e.g. 268435456 = 2^28)\n"
            "  --reps R    timed repetitions per side, the median is reported (default 10)\n"
            "  --device    cpu, cuda, both, or auto = both when a GPU works (default)\n");
}

int demo_add(int argc, char **argv) {
    const char *device = NULL;
    int n = 0, reps = 10;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (cli_is_help(argv[i])) return add_usage(stdout), 0;
        if (!strcmp(argv[i], "--n")) {
            if (!(v = cli_value("demo add", argc, argv, &i)) || cli_int("demo add", "--n", v, 1, INT_MAX, &n)) return 2;
        } else if (!strcmp(argv[i], "--reps")) {
            if (!(v = cli_value("demo add", argc, argv, &i)) || cli_int("demo add", "--reps", v, 1, 10000, &reps))
                return 2;
        } else if (!strcmp(argv[i], "--device")) {
            if (!(device = cli_value("demo add", argc, argv, &i))) return 2;
        } else {
            return cli_unknown("demo add", argv[i]);
        }
    }
    demo_sides d;
    if (demo_sides_open("demo add", device, &d)) return 1;
    int rc = n ? add_large(&d, (size_t)n, reps) : add_article(&d);
    demo_sides_close(&d);
    return rc;
}

// --- dispatch

static void demo_usage(FILE *f) {
    fprintf(f,
            "usage: nn demo add [--n N] [--device cpu|cuda|both]\n"
            "       nn demo mandelbrot [--width 1536] [--height 1024] [--iters 20] [--x -2:1] [--y -1:1]\n"
            "                          [--out mandelbrot.png] [--device cpu|cuda|both]\n"
            "the article's array addition and Mandelbrot image, through the engine's own ops, timed on\n"
            "the C path and on the GPU (nn demo add --help, nn demo mandelbrot --help for details)\n");
}

int cmd_demo(int argc, char **argv) {
    if (argc < 2) return demo_usage(stderr), 2;
    if (cli_is_help(argv[1])) return demo_usage(stdout), 0;
    if (!strcmp(argv[1], "add")) return demo_add(argc - 1, argv + 1);
    if (!strcmp(argv[1], "mandelbrot")) return demo_mandelbrot(argc - 1, argv + 1);
    fprintf(stderr, "nn demo: unknown demo '%s' (add or mandelbrot)\n", argv[1]);
    return 2;
}
