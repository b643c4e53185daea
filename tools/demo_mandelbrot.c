// demo_mandelbrot.c: `nn demo mandelbrot`, the article's Mandelbrot image as the engine's
// index-grid op (grid_map, nn/gridmap.h): the C path over all cores, the CUDA twin one thread
// per pixel; each side timed, the two compared on every pixel, the sum of all iteration counts
// printed (tests compare it with an independent Python computation), and the image written as a
// PNG in a perceptual colour map.
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../nn/common.h"
#include "../nn/cuda_api.h"
#include "../nn/gridmap.h"
#include "chart.h"
#include "cli.h"
#include "demo.h"
#include "outfile.h"

// --- colour map

// A viridis-like map, computed rather than copied: five of viridis's colours (at 0, 1/4, 1/2,
// 3/4, 1) joined by straight lines in OKLab, a perceptually uniform colour space, so lightness
// rises evenly from dark violet to yellow and the map reads in grey print and to colour-blind
// eyes. OKLab's matrices are Bjorn Ottosson's (2020).
static double srgb_to_linear(double c) { return c <= 0.04045 ? c / 12.92 : pow((c + 0.055) / 1.055, 2.4); }
static double linear_to_srgb(double c) {
    c = c < 0 ? 0 : c > 1 ? 1 : c;
    return c <= 0.0031308 ? 12.92 * c : 1.055 * pow(c, 1 / 2.4) - 0.055;
}

static void rgb_to_oklab(const double rgb[3], double lab[3]) {
    double r = srgb_to_linear(rgb[0]), g = srgb_to_linear(rgb[1]), b = srgb_to_linear(rgb[2]);
    double l = cbrt(0.4122214708 * r + 0.5363325363 * g + 0.0514459929 * b);
    double m = cbrt(0.2119034982 * r + 0.6806995451 * g + 0.1073969566 * b);
    double s = cbrt(0.0883024619 * r + 0.2817188376 * g + 0.6299787005 * b);
    lab[0] = 0.2104542553 * l + 0.7936177850 * m - 0.0040720468 * s;
    lab[1] = 1.9779984951 * l - 2.4285922050 * m + 0.4505937099 * s;
    lab[2] = 0.0259040371 * l + 0.7827717662 * m - 0.8086757660 * s;
}

static void oklab_to_rgb(const double lab[3], double rgb[3]) {
    double l = lab[0] + 0.3963377774 * lab[1] + 0.2158037573 * lab[2];
    double m = lab[0] - 0.1055613458 * lab[1] - 0.0638541728 * lab[2];
    double s = lab[0] - 0.0894841775 * lab[1] - 1.2914855480 * lab[2];
    l = l * l * l, m = m * m * m, s = s * s * s;
    rgb[0] = linear_to_srgb(4.0767416621 * l - 3.3077115913 * m + 0.2309699292 * s);
    rgb[1] = linear_to_srgb(-1.2684380046 * l + 2.6097574011 * m - 0.3413193965 * s);
    rgb[2] = linear_to_srgb(-0.0041960863 * l - 0.7034186147 * m + 1.7076147010 * s);
}

// map: 256 RGB entries, index 0 dark, 255 bright.
static void colormap_build(uint8_t map[256][3]) {
    static const uint32_t anchors[5] = {0x440154, 0x3b528b, 0x21918c, 0x5ec962, 0xfde725};
    double lab[5][3];
    for (int k = 0; k < 5; k++) {
        double rgb[3] = {(anchors[k] >> 16 & 255) / 255.0, (anchors[k] >> 8 & 255) / 255.0,
                         (anchors[k] & 255) / 255.0};
        rgb_to_oklab(rgb, lab[k]);
    }
    for (int i = 0; i < 256; i++) {
        double t = i / 255.0 * 4;
        int k = t >= 4 ? 3 : (int)t;
        double f = t - k, mix[3], rgb[3];
        for (int j = 0; j < 3; j++) mix[j] = lab[k][j] + f * (lab[k + 1][j] - lab[k][j]);
        oklab_to_rgb(mix, rgb);
        for (int j = 0; j < 3; j++) map[i][j] = (uint8_t)lrint(rgb[j] * 255);
    }
}

// counts: (height, width), 0..max_iters; the brightest colour is the set itself (max_iters), as
// in the article's picture (imshow scales the counts onto viridis).
static int write_png(const char *path, int width, int height, const int32_t *counts, int max_iters,
                     char *err) {
    uint8_t map[256][3];
    colormap_build(map);
    size_t n = (size_t)width * height;
    uint8_t *rgb = nn_alloc(n * 3, "the Mandelbrot image");
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        int v = counts[i] < 0 ? 0 : counts[i] > max_iters ? max_iters : counts[i];
        const uint8_t *c = map[(int)((int64_t)v * 255 / max_iters)];
        rgb[3 * i] = c[0], rgb[3 * i + 1] = c[1], rgb[3 * i + 2] = c[2];
    }
    int rc = png_write_rgb(path, width, height, rgb, err);
    nn_free(rgb);
    return rc;
}

// --- the demo

static int64_t sum_counts(const int32_t *c, size_t n) {
    int64_t s = 0;
#pragma omp parallel for reduction(+ : s) schedule(static)
    for (size_t i = 0; i < n; i++) s += c[i];
    return s;
}

// "A:B" into two numbers with A < B.
static int parse_range(const char *opt, const char *v, double *lo, double *hi) {
    char *end;
    *lo = strtod(v, &end);
    if (end == v || *end != ':') goto bad;
    const char *rest = end + 1;
    *hi = strtod(rest, &end);
    if (end == rest || *end || !isfinite(*lo) || !isfinite(*hi) || !(*hi > *lo)) goto bad;
    return 0;
bad:
    fprintf(stderr, "nn demo mandelbrot: %s '%s' must be MIN:MAX with MIN < MAX, e.g. -2:1\n", opt, v);
    return -1;
}

static void mandel_usage(FILE *f) {
    fprintf(f,
            "usage: nn demo mandelbrot [--width 1536] [--height 1024] [--iters 20] [--x -2:1] [--y -1:1]\n"
            "                          [--out mandelbrot.png | --no-png] [--reps 50] [--device cpu|cuda|both|auto]\n"
            "  the article's Mandelbrot image (float64, z = z^2 + c from 0, the count of the escape\n"
            "  iteration, else --iters), on the C path (OpenMP) and on the GPU (one thread per pixel)\n"
            "  --reps R    GPU timing: the median of R kernel launches (default 50)\n"
            "  --device    cpu, cuda, both, or auto = both when a GPU works (default)\n");
}

int demo_mandelbrot(int argc, char **argv) {
    const char *cmd = "demo mandelbrot", *device = NULL, *out = "mandelbrot.png";
    int width = 1536, height = 1024, reps = 50;
    grid_params p = {-2.0, 1.0, -1.0, 1.0, 20};
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (cli_is_help(argv[i])) return mandel_usage(stdout), 0;
        if (!strcmp(argv[i], "--no-png")) {
            out = NULL;
            continue;
        }
        if (strncmp(argv[i], "--", 2)) return cli_unknown(cmd, argv[i]);
        if (!(v = cli_value(cmd, argc, argv, &i))) return 2;
        const char *o = argv[i - 1];
        int bad = 0;
        if (!strcmp(o, "--width")) bad = cli_int(cmd, o, v, 1, 1 << 16, &width);
        else if (!strcmp(o, "--height")) bad = cli_int(cmd, o, v, 1, 1 << 16, &height);
        else if (!strcmp(o, "--iters")) bad = cli_int(cmd, o, v, 1, 1 << 30, &p.max_iters);
        else if (!strcmp(o, "--reps")) bad = cli_int(cmd, o, v, 1, 100000, &reps);
        else if (!strcmp(o, "--x")) bad = parse_range(o, v, &p.min_x, &p.max_x);
        else if (!strcmp(o, "--y")) bad = parse_range(o, v, &p.min_y, &p.max_y);
        else if (!strcmp(o, "--out")) out = v;
        else if (!strcmp(o, "--device")) device = v;
        else return cli_unknown(cmd, o);
        if (bad) return 2;
    }
    char err[NN_ERRLEN];
    // --out is checked before the work: its folder, and that it is absent or a PNG nn drew
    // (never a photo of the same name, nor a device).
    if (out && (outfile_check_folder("--out", out, err) || outfile_check_kind("--out", out, OUTFILE_PNG, err))) {
        fprintf(stderr, "nn %s: %s\n", cmd, err);
        return 1;
    }
    demo_sides d;
    if (demo_sides_open(cmd, device, &d)) return 1;
    const size_t n = (size_t)width * height;
    // counts per side, and for the PNG the RGB pixels, stb's filtered copy and the file itself
    double need = (double)n * sizeof(int32_t) * (d.cpu + d.cuda) + (out ? 3.0 * n * 3 : 0);
    char what[128];
    snprintf(what, sizeof what, "a %d x %d image (%.2f G pixels)", width, height, n / 1e9);
    if (demo_check_memory(cmd, need, what, "choose a smaller --width and --height")) {
        demo_sides_close(&d);
        return 1;
    }
    int32_t *c_cpu = d.cpu ? nn_alloc(n * sizeof(int32_t), "Mandelbrot counts (C path)") : NULL;
    int32_t *c_gpu = d.cuda ? nn_alloc(n * sizeof(int32_t), "Mandelbrot counts (GPU)") : NULL;
    int rc = 0;
    double cpu_ms = 0;
    printf("mandelbrot %d x %d, %d iterations, x %g:%g, y %g:%g (float64)\n", width, height, p.max_iters,
           p.min_x, p.max_x, p.min_y, p.max_y);
    if (d.cpu) {
        // One run, or the median of three when a run is short enough for that to be cheap.
        double ts[3];
        int runs = 0;
        do {
            double t0 = nn_now();
            if (grid_map(&d.cpu_ctx, GRID_MANDELBROT, width, height, &p, c_cpu, err)) {
                fprintf(stderr, "nn %s: %s\n", cmd, err);
                rc = 1;
                goto done;
            }
            ts[runs++] = (nn_now() - t0) * 1e3;
        } while (runs < 3 && ts[0] < 1000);
        cpu_ms = demo_median(ts, runs);
        printf("  C path (%d threads, OpenMP)   %12.4f ms   sum of iterations %lld   (median of %d)\n", d.threads,
               cpu_ms, (long long)sum_counts(c_cpu, n), runs);
    }
    if (d.cuda) {
        cuda_demo_times t;
        if (cuda_demo_grid(&d.gpu_ctx, GRID_MANDELBROT, width, height, &p, c_gpu, reps, &t, err)) {
            fprintf(stderr, "nn %s: %s\n", cmd, err);
            rc = 1;
            goto done;
        }
        printf("  CUDA (%s)   kernel %10.4f ms   sum of iterations %lld   (median of %d launches)\n", d.gpu_name,
               t.op_ms, (long long)sum_counts(c_gpu, n), reps);
        printf("    back to back: %.4f ms a launch; with the copy of the counts to the host: %.3f ms\n",
               t.op_burst_ms, t.total_ms);
        if (d.cpu) {
            printf("  speed-up of CUDA over the C path: %.0fx (kernel), %.0fx (with the copy)\n", cpu_ms / t.op_ms,
                   cpu_ms / t.total_ms);
            size_t wrong = 0, first = 0;
            for (size_t i = n; i-- > 0;)
                if (c_cpu[i] != c_gpu[i]) wrong++, first = i;
            if (wrong) {
                fprintf(stderr,
                        "nn %s: the C path and CUDA disagree on %zu pixels; the first, (x %zu, y %zu), has %d "
                        "iterations on the C path and %d on CUDA\n",
                        cmd, wrong, first % (size_t)width, first / (size_t)width, c_cpu[first], c_gpu[first]);
                rc = 1;
                goto done;
            }
            printf("  the C path and CUDA agree on every pixel\n");
        }
    }
    printf("  (the article, 1536 x 1024 x 20: Python on the CPU 4.07 s, Numba CUDA 0.0046 s)\n");
    if (out) {
        if (write_png(out, width, height, d.cuda ? c_gpu : c_cpu, p.max_iters, err)) {
            fprintf(stderr, "nn %s: %s\n", cmd, err);
            rc = 1;
            goto done;
        }
        printf("wrote %s (%d x %d)\n", out, width, height);
    }
done:
    nn_free(c_cpu);
    nn_free(c_gpu);
    demo_sides_close(&d);
    return rc;
}
