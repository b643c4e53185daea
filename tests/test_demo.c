// test_demo.c: the C path of the demos' engine ops. The article's arrays through ew_apply's
// int32 add; every int32 op against 64-bit arithmetic (wrap-around included); grid_map's
// Mandelbrot against tests/fixtures/mandelbrot_*.txt, written by
// tests/oracles/mandelbrot_ref.py from plain Python floats (the sum of all counts and two
// checksums per row must match exactly); the argument checks.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../nn/common.h"
#include "../nn/elementwise.h"
#include "../nn/gridmap.h"
#include "test.h"

static nn_ctx cpu(void) { return (nn_ctx){.backend = NN_CPU, .threads = 0, .seed = 1}; }

// --- ew_apply on int32

static void test_article_arrays(void) {
    const int32_t a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {7, 8, 9, 10, 11, 12};
    int32_t c[6] = {0};
    nn_ctx ctx = cpu();
    CHECK(ew_apply(&ctx, EW_ADD, DT_I32, 6, a, b, c) == 0);
    // The article prints c[0] = 8 ... c[5] = 18: 8 + 2i.
    for (int i = 0; i < 6; i++) CHECK_MSG(c[i] == 8 + 2 * i, "c[%d] = %d, expected %d", i, c[i], 8 + 2 * i);
}

static uint64_t lcg(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 32;
}

static void test_ew_i32_ops(void) {
    // Odd n above the C path's OpenMP threshold, inputs spanning the whole int32 range, and the
    // extremes: the ops must wrap as 32-bit two's complement does (and as the GPU does).
    const size_t n = 200003;
    int32_t *a = nn_alloc(n * 4, "a"), *b = nn_alloc(n * 4, "b"), *c = nn_alloc(n * 4, "c");
    uint64_t s = 42;
    for (size_t i = 0; i < n; i++) a[i] = (int32_t)(uint32_t)lcg(&s), b[i] = (int32_t)(uint32_t)lcg(&s);
    a[0] = INT32_MAX, b[0] = 1;
    a[1] = INT32_MIN, b[1] = -1;
    a[2] = INT32_MIN, b[2] = INT32_MIN;
    nn_ctx ctx = cpu();
    const ew_op ops[3] = {EW_ADD, EW_SUB, EW_MUL};
    for (int k = 0; k < 3; k++) {
        CHECK(ew_apply(&ctx, ops[k], DT_I32, n, a, b, c) == 0);
        size_t bad = 0, first = 0;
        for (size_t i = n; i-- > 0;) {
            int64_t x = a[i], y = b[i];
            int64_t r = ops[k] == EW_ADD ? x + y : ops[k] == EW_SUB ? x - y : x * y;
            if (c[i] != (int32_t)(uint32_t)(uint64_t)r) bad++, first = i;
        }
        CHECK_MSG(!bad, "int32 %s: %zu elements wrong, the first at %zu", ew_op_name(ops[k]), bad, first);
    }
    // Activations are float-only: int32 must be refused, not computed as garbage.
    CHECK(ew_apply(&ctx, EW_RELU, DT_I32, n, a, NULL, c) == -1);
    CHECK(ew_apply(&ctx, EW_SIGMOID_GRAD, DT_I32, n, a, b, c) == -1);
    nn_free(a), nn_free(b), nn_free(c);
}

// --- grid_map's Mandelbrot against the Python oracle

typedef struct {
    int w, h;
    grid_params p;
    long long sum;
    long long *row_sum, *row_wsum;   // (h,)
} fixture;

static int fixture_read(const char *path, fixture *f) {
    FILE *fp = fopen(path, "r");
    if (!fp) return -1;
    char line[512];
    int rows = 0, ok = 0;
    memset(f, 0, sizeof *f);
    while (fgets(line, sizeof line, fp)) {
        int y;
        long long s, ws;
        if (line[0] == '#') continue;
        if (sscanf(line, "params %d %d %d %lf %lf %lf %lf", &f->w, &f->h, &f->p.max_iters, &f->p.min_x,
                   &f->p.max_x, &f->p.min_y, &f->p.max_y) == 7) {
            f->row_sum = nn_calloc(sizeof(long long) * f->h, "row sums");
            f->row_wsum = nn_calloc(sizeof(long long) * f->h, "row sums");
            ok = 1;
        } else if (sscanf(line, "sum %lld", &f->sum) == 1) {
        } else if (ok && sscanf(line, "row %d %lld %lld", &y, &s, &ws) == 3 && y >= 0 && y < f->h) {
            f->row_sum[y] = s, f->row_wsum[y] = ws, rows++;
        }
    }
    fclose(fp);
    return ok && rows == f->h ? 0 : -1;
}

static void check_fixture(const char *path) {
    fixture f;
    if (fixture_read(path, &f)) {
        FAILF("%s: missing or malformed (run tests/oracles/mandelbrot_ref.py)", path);
        return;
    }
    int32_t *out = nn_alloc(sizeof(int32_t) * f.w * f.h, "counts");
    char err[NN_ERRLEN];
    nn_ctx ctx = cpu();
    CHECK_MSG(grid_map(&ctx, GRID_MANDELBROT, f.w, f.h, &f.p, out, err) == 0, "grid_map: %s", err);
    long long sum = 0;
    int bad_rows = 0, first_bad = -1;
    for (int y = 0; y < f.h; y++) {
        long long s = 0, ws = 0;
        for (int x = 0; x < f.w; x++) s += out[y * f.w + x], ws += (long long)(x + 1) * out[y * f.w + x];
        sum += s;
        if (s != f.row_sum[y] || ws != f.row_wsum[y]) {
            if (first_bad < 0) first_bad = y;
            bad_rows++;
        }
    }
    CHECK_MSG(sum == f.sum, "%s: sum of iteration counts %lld, the oracle says %lld", path, sum, f.sum);
    CHECK_MSG(!bad_rows, "%s: %d rows differ from the oracle, the first is row %d", path, bad_rows, first_bad);
    nn_free(out), nn_free(f.row_sum), nn_free(f.row_wsum);
}

// The article's image: 1536 x 1024, 20 iterations, x -2:1, y -1:1.
static void test_mandelbrot_article_size(void) { check_fixture("tests/fixtures/mandelbrot_1536x1024x20.txt"); }

// A window on the set's border (seahorse valley) with 500 iterations: most pixels take many
// iterations and sit where one rounding difference changes the count.
static void test_mandelbrot_border(void) { check_fixture("tests/fixtures/mandelbrot_256x160x500.txt"); }

static void test_mandelbrot_point_matches_grid(void) {
    // grid_map's cells are grid_mandelbrot_point at the article's pixel coordinates.
    grid_params p = {-2.0, 1.0, -1.0, 1.0, 50};
    const int w = 97, h = 61;
    int32_t out[97 * 61];
    char err[NN_ERRLEN];
    nn_ctx ctx = cpu();
    CHECK(grid_map(&ctx, GRID_MANDELBROT, w, h, &p, out, err) == 0);
    int bad = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double cr = p.min_x + x * ((p.max_x - p.min_x) / w), ci = p.min_y + y * ((p.max_y - p.min_y) / h);
            bad += out[y * w + x] != grid_mandelbrot_point(cr, ci, p.max_iters);
        }
    CHECK_MSG(!bad, "%d cells differ from grid_mandelbrot_point", bad);
    // Far outside the set the first iterate already escapes (count 0); the origin never does.
    CHECK(grid_mandelbrot_point(3.0, 0.0, 20) == 0);
    CHECK(grid_mandelbrot_point(0.0, 0.0, 20) == 20);
}

static void test_grid_check(void) {
    char err[NN_ERRLEN] = "";
    grid_params ok = {-2, 1, -1, 1, 20}, p;
    int32_t out[4];
    nn_ctx ctx = cpu();
    CHECK(grid_map(&ctx, GRID_MANDELBROT, 0, 5, &ok, out, err) == -1 && strstr(err, "1 x 1"));
    p = ok, p.max_x = p.min_x;
    CHECK(grid_map(&ctx, GRID_MANDELBROT, 2, 2, &p, out, err) == -1 && strstr(err, "x range"));
    p = ok, p.min_y = NAN;
    CHECK(grid_map(&ctx, GRID_MANDELBROT, 2, 2, &p, out, err) == -1 && strstr(err, "y range"));
    p = ok, p.max_iters = 0;
    CHECK(grid_map(&ctx, GRID_MANDELBROT, 2, 2, &p, out, err) == -1 && strstr(err, "max_iters"));
    CHECK(grid_map(&ctx, (grid_fn)7, 2, 2, &ok, out, err) == -1 && strstr(err, "unknown function"));
}

int main(void) {
    RUN(test_article_arrays);
    RUN(test_ew_i32_ops);
    RUN(test_mandelbrot_article_size);
    RUN(test_mandelbrot_border);
    RUN(test_mandelbrot_point_matches_grid);
    RUN(test_grid_check);
    TEST_EXIT();
}
