// test_profile.c: the profile of nn/profile.h on the C path.
//  - the FLOP and byte counts of every layer and pass of the article's CNN at batch 32 equal the
//    counts worked out by hand below (the arithmetic is written out, one term per operand);
//  - the rows of a profiling pass add up to a normally timed training step within 10%, and the
//    profile leaves the model exactly as it found it;
//  - the printed table has a row per layer and pass, and its shares add up.
#include <stdio.h>
#include <string.h>

#include "../nn/common.h"
#include "../nn/model.h"
#include "../nn/profile.h"
#include "../run/profile_run.h"
#include "../nn/step.h"
#include "test.h"

static const char catdog_cfg[] = MODEL_CATDOG_CFG;

static int load_catdog(model *m) {
    char err[NN_ERRLEN];
    if (model_parse_cfg(m, catdog_cfg, "catdog", err) != 0) {
        FAILF("%s", err);
        return -1;
    }
    return 0;
}

#define EQ(got, want) CHECK_CLOSE((got), (want), 0, 0)

// A layer's counts, from its table entry.
static double FL(const layer *l, prof_pass p, int n, act_kind act) { return layer_ops_of(l->kind)->flops(l, p, n, act); }
static double BY(const layer *l, prof_pass p, int n, act_kind act) { return layer_ops_of(l->kind)->bytes(l, p, n, act); }

// Batch 32. Shapes: conv2d 64x64x3 -> 62x62x32 (K = 3*3*3 = 27 taps, P = 62*62 outputs per
// sample), max_pooling2d -> 31x31x32, flatten -> 30752, dense -> 128 (relu), dense_1 -> 1 (its
// sigmoid goes to the loss in training, so its passes are linear). Bytes are 4 per float.
static void test_counts_catdog(void) {
    model m;
    if (load_catdog(&m)) return;
    const int n = 32;
    const layer *conv = &m.layers[0], *pool = &m.layers[1], *flat = &m.layers[2];
    const layer *d1 = &m.layers[3], *d2 = &m.layers[4];
    CHECK(model_pass_act(&m, 0, 1) == ACT_RELU && model_pass_act(&m, 3, 1) == ACT_RELU);
    CHECK(model_pass_act(&m, 4, 1) == ACT_LINEAR);

    // conv2d forward: 2 FLOPs per multiply-add, 32 samples x 62x62 outputs x 32 filters x 27 taps;
    // reads x (32*64*64*3), the kernel (3*3*3*32) and bias (32), writes y (32*62*62*32).
    EQ(FL(conv, PROF_FORWARD, n, ACT_RELU), 2.0 * 32 * 62 * 62 * 32 * 27);   // 212,557,824
    EQ(BY(conv, PROF_FORWARD, n, ACT_RELU),
       4.0 * (32 * 64 * 64 * 3 + 3 * 3 * 3 * 32 + 32 + 32 * 62 * 62 * 32));          // 17,321,472
    // bwd weights: dW = col^T dz, the same products; reads x, dy and y (relu's gradient),
    // writes dW and db.
    EQ(FL(conv, PROF_BWD_WEIGHTS, n, ACT_RELU), 2.0 * 32 * 62 * 62 * 32 * 27);
    EQ(BY(conv, PROF_BWD_WEIGHTS, n, ACT_RELU),
       4.0 * (32 * 64 * 64 * 3 + 2.0 * 32 * 62 * 62 * 32 + 3 * 3 * 3 * 32 + 32));   // 33,066,496
    // bwd input (never run for a first layer, counted all the same): dz W^T; reads dz and the
    // kernel, writes dx.
    EQ(FL(conv, PROF_BWD_INPUT, n, ACT_RELU), 2.0 * 32 * 62 * 62 * 32 * 27);
    EQ(BY(conv, PROF_BWD_INPUT, n, ACT_RELU),
       4.0 * (32 * 62 * 62 * 32 + 3 * 3 * 3 * 32 + 32 * 64 * 64 * 3));               // 17,321,344

    // max_pooling2d forward: 3 comparisons per output of a 2x2 window; reads x (32*62*62*32),
    // writes y and the int32 index of each max (32*31*31*32 each).
    EQ(FL(pool, PROF_FORWARD, n, ACT_LINEAR), 3.0 * 32 * 31 * 31 * 32);             // 2,952,192
    EQ(BY(pool, PROF_FORWARD, n, ACT_LINEAR), 4.0 * (32 * 62 * 62 * 32 + 2 * 32 * 31 * 31 * 32));
    // bwd input: one add per output into dx; reads dy and the indices, writes dx.
    EQ(FL(pool, PROF_BWD_INPUT, n, ACT_LINEAR), 1.0 * 32 * 31 * 31 * 32);           // 984,064
    EQ(BY(pool, PROF_BWD_INPUT, n, ACT_LINEAR), 4.0 * (2 * 32 * 31 * 31 * 32 + 32 * 62 * 62 * 32));
    EQ(FL(pool, PROF_BWD_WEIGHTS, n, ACT_LINEAR), 0);

    // flatten: an alias of its input's memory (no pass runs): nothing to count.
    EQ(FL(flat, PROF_FORWARD, n, ACT_LINEAR), 0);
    EQ(BY(flat, PROF_FORWARD, n, ACT_LINEAR), 0);
    EQ(BY(flat, PROF_BWD_INPUT, n, ACT_LINEAR), 0);

    // dense (30752 -> 128, relu): 2 * 32 * 30752 * 128 per product (251,920,384).
    EQ(FL(d1, PROF_FORWARD, n, ACT_RELU), 2.0 * 32 * 30752 * 128);
    EQ(FL(d1, PROF_BWD_WEIGHTS, n, ACT_RELU), 2.0 * 32 * 30752 * 128);
    EQ(FL(d1, PROF_BWD_INPUT, n, ACT_RELU), 2.0 * 32 * 30752 * 128);
    // forward reads x (32*30752), W (30752*128) and b (128), writes y (32*128);
    EQ(BY(d1, PROF_FORWARD, n, ACT_RELU), 4.0 * (32 * 30752 + 30752 * 128 + 128 + 32 * 128));
    // bwd weights reads x, dy and y (relu), writes dW and db;
    EQ(BY(d1, PROF_BWD_WEIGHTS, n, ACT_RELU),
       4.0 * (32 * 30752 + 32 * 128 + 32 * 128 + 30752 * 128 + 128));                 // 19,714,560
    // bwd input reads dz and W, writes dx.
    EQ(BY(d1, PROF_BWD_INPUT, n, ACT_RELU), 4.0 * (32 * 128 + 30752 * 128 + 32 * 30752));

    // dense_1 (128 -> 1, linear in training: no y to read for the gradient).
    EQ(FL(d2, PROF_FORWARD, n, ACT_LINEAR), 2.0 * 32 * 128 * 1);             // 8,192
    EQ(BY(d2, PROF_FORWARD, n, ACT_LINEAR), 4.0 * (32 * 128 + 128 + 1 + 32 * 1));
    EQ(BY(d2, PROF_BWD_WEIGHTS, n, ACT_LINEAR), 4.0 * (32 * 128 + 32 * 1 + 128 + 1));
    EQ(BY(d2, PROF_BWD_INPUT, n, ACT_LINEAR), 4.0 * (32 * 1 + 128 + 32 * 128));

    // Loss: 13 ops a sample; reads z and y, writes dz.
    EQ(flops_loss(n), 13.0 * 32);
    EQ(bytes_loss(n), 4.0 * 3 * 32);
    // Adam over 896 + 3,936,384 + 129 = 3,937,409 parameters: 12 ops each; reads w, g, m, v and
    // writes w, m, v (110,247,452 bytes, the ~110 MB of issue 6).
    CHECK(m.nparams == 896 + 3936384 + 129);
    EQ(flops_adam(m.nparams), 12.0 * 3937409);
    EQ(bytes_adam(m.nparams), 4.0 * 7 * 3937409);
    // Augmentation of 32 images of 64x64: 40 ops a pixel; 1 byte in and 4 out per value.
    EQ(flops_augment(n, 64, 64), 32.0 * 64 * 64 * 40);
    EQ(bytes_augment(n, 64, 64), 32.0 * 64 * 64 * 3 * (1 + 4));
    model_free(&m);
}

// The rows of a profiling pass add up to a normal model_train_step within 10%, and the model
// comes back unchanged. On a shared machine a burst of another process can land in either
// measurement, so up to three attempts are made; each prints its figures.
static void test_rows_add_up_to_the_step(void) {
    model m;
    if (load_catdog(&m)) return;
    model_init_weights(&m, 3);
    nn_ctx ctx = nn_ctx_cpu();
    const int batch = 8;
    model_alloc_batch(&m, batch);
    // Some Adam state, so that restoring it is tested too.
    for (size_t i = 0; i < m.nparams; i++) m.m[i] = 1e-4f * (float)(i % 13), m.v[i] = 1e-6f * (float)(i % 7);
    m.t = 41;
    size_t P = m.nparams;
    float *w0 = nn_alloc(P * 3 * sizeof(float), "test copy");
    memcpy(w0, m.w, P * sizeof(float));
    memcpy(w0 + P, m.m, P * sizeof(float));
    memcpy(w0 + 2 * P, m.v, P * sizeof(float));

    profile *p = nn_calloc(sizeof *p, "profile");
    char err[NN_ERRLEN];
    double ratio = 0;
    for (int attempt = 1; attempt <= 3; attempt++) {
        if (profile_cpu(&m, &ctx, batch, 1, 5, p, err) != 0) {
            FAILF("profile_cpu: %s", err);
            break;
        }
        double sum = profile_sum_ms(p);
        ratio = sum / p->step_ms;
        printf("# attempt %d: rows %.3f ms, model_train_step %.3f ms (%.1f%%)\n", attempt, sum,
               p->step_ms, 100 * ratio);
        if (ratio >= 0.9 && ratio <= 1.1) break;
    }
    CHECK_MSG(ratio >= 0.9 && ratio <= 1.1, "the rows add up to %.1f%% of the step", 100 * ratio);
    // One row per node of the C path's plan (every layer but flatten, an alias) and pass: 4
    // forward, the loss, 4 backward (weights and input together), Adam.
    CHECK_MSG(p->nrows == 4 + 1 + 4 + 1, "%d rows", p->nrows);
    for (int i = 0; i < p->nrows; i++) CHECK(p->rows[i].ms >= 0 && p->rows[i].in_sum);
    CHECK(p->peak.gflops > 0 && p->peak.gbs > 0 && p->peak.fma_gflops > 0 && p->peak.gemm_gflops > 0);
    CHECK(m.t == 41);
    CHECK(!memcmp(m.w, w0, P * sizeof(float)));
    CHECK(!memcmp(m.m, w0 + P, P * sizeof(float)));
    CHECK(!memcmp(m.v, w0 + 2 * P, P * sizeof(float)));
    nn_free(w0);
    nn_free(p);
    model_free(&m);
}

// The line of text that starts with prefix, copied into line.
static int line_of(const char *text, const char *prefix, char *line, size_t len) {
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (!strncmp(l, prefix, strlen(prefix))) {
            size_t n = strcspn(l, "\n");
            snprintf(line, len, "%.*s", (int)n, l);
            return 1;
        }
    return 0;
}

// The printed table: a line per row with its pass, the sum and the step; shares add up.
static void test_table(void) {
    profile *p = nn_calloc(sizeof *p, "profile");
    p->batch = 32;
    p->reps = 3;
    snprintf(p->device, sizeof p->device, "test");
    p->peak.gflops = 100, p->peak.gbs = 10;
    int a = profile_row(p, "conv2d", "forward", 2e9, 1e6, 1);   // 2 GFLOP in 40 ms: 50 GFLOP/s
    int b = profile_row(p, "Adam", "update", 1e6, 1e8, 1);       // 100 MB in 20 ms: 5 GB/s
    int c = profile_row(p, "augmentation (C)", "loader", 1e6, 1e6, 0);
    CHECK(profile_row(p, "conv2d", "forward", 0, 0, 1) == a);    // found, not added
    p->rows[a].ms = 40, p->rows[b].ms = 20, p->rows[c].ms = 5;
    p->step_ms = 80;
    snprintf(p->step_what, sizeof p->step_what, "the step");
    CHECK_CLOSE(profile_sum_ms(p), 60, 1e-12, 0);
    char buf[8192] = "";
    FILE *f = fmemopen(buf, sizeof buf - 1, "w");
    profile_print(p, f);
    fclose(f);
    char line[512];
    // conv2d: 50% of the step, 50 GFLOP/s = 50% of the arithmetic peak, 0.025 GB/s: arithmetic.
    CHECK_MSG(line_of(buf, "conv2d ", line, sizeof line) && strstr(line, " forward ") &&
                  strstr(line, " 50.0% ") && strstr(line, " 50.00 ") && strstr(line, "arithmetic"),
              "table:\n%s", buf);
    // Adam: 5 GB/s = 50% of the bandwidth peak: memory.
    CHECK_MSG(line_of(buf, "Adam ", line, sizeof line) && strstr(line, " 5.00 ") &&
                  strstr(line, " 50.0%  memory"), "table:\n%s", buf);
    CHECK_MSG(line_of(buf, "augmentation (C) ", line, sizeof line) && strstr(line, "loader *"),
              "the row outside the sum is marked:\n%s", buf);
    CHECK_MSG(line_of(buf, "sum of the rows ", line, sizeof line) && strstr(line, " 60.0000 ") &&
                  strstr(line, " 75.0%"), "table:\n%s", buf);
    nn_free(p);
}

int main(void) {
    RUN(test_counts_catdog);
    RUN(test_table);
    RUN(test_rows_add_up_to_the_step);
    TEST_EXIT();
}
