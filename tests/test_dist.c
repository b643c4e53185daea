// test_dist.c: the parts of data-parallel training (issue 16) that one process can check; the
// ranks themselves are tests/test_mpi.sh's (mpirun) and tests/cuda/test_cuda_nccl.c's.
//  - dist_share: every split covers the items once, in order, parts differing by one at most;
//  - the sharded loader: the ranks' parts of every batch, put side by side in rank order, are
//    exactly the batch one process gets (images, augmentation and labels, bit for bit), for
//    batches that do and do not divide by the ranks, and a last batch smaller than the ranks;
//  - loader_start_epoch_at: a mid-epoch start gives the batches of an uninterrupted epoch;
//  - not started by mpirun: rank 0 of 1, and the collectives leave their data alone;
//  - the step walk's gradient hook (nn/step.h): the spans `ready` gets during the backward pass
//    come from the top of the arena down, each once, and tile it (what the GPU's buckets rely
//    on), and reduce sees the whole arena after them, before Adam; a step without samples
//    (step_grad_hook_run) makes the very same calls;
//  - train_evaluate's sharded pass: the parts' sums (as the ranks would add them) equal the
//    whole set's accuracy and confusion matrix, and its loss to float rounding (each batch's
//    mean loss is a float, and the shares cut the set into other batches).
#include <stdint.h>

#include "../data/data.h"
#include "../nn/common.h"
#include "../nn/dist.h"
#include "../nn/model.h"
#include "../nn/step.h"
#include "../run/train.h"
#include "test.h"
#include "test_data.h"

static void test_share_covers(void) {
    for (int count = 0; count <= 40; count++)
        for (int size = 1; size <= 7; size++) {
            int next = 0, least = count, most = 0;
            for (int r = 0; r < size; r++) {
                int lo, hi;
                dist_share(count, r, size, &lo, &hi);
                CHECK_MSG(lo == next && hi >= lo, "count %d size %d rank %d: [%d, %d) after %d", count, size, r, lo, hi, next);
                next = hi;
                least = NN_MIN(least, hi - lo), most = NN_MAX(most, hi - lo);
            }
            CHECK_MSG(next == count, "count %d size %d: the parts end at %d", count, size, next);
            CHECK(most - least <= 1);
        }
}

// N images of S x S, augmented; a loader of batch B for each shard of R ranks.
enum { N = 37, S = 8, IMG = S * S * 3 };

static void make_cache(image_cache *c) {
    memset(c, 0, sizeof *c);
    c->n = N, c->h = S, c->w = S;
    c->pixels = nn_alloc((size_t)N * IMG, "pixels");
    c->labels = nn_alloc(N * sizeof(int32_t), "labels");
    for (int i = 0; i < N; i++) {
        fill_pixels(c->pixels + (size_t)i * IMG, S, S, 3, 900u + (unsigned)i);
        c->labels[i] = i;   // the label says which image it is
    }
}

static void test_loader_shards_make_the_batch(void) {
    image_cache c;
    make_cache(&c);
    const int batches[] = {8, 7, 36};   // 37 images: last batches of 5, 2 and 1
    for (size_t bi = 0; bi < sizeof batches / sizeof *batches; bi++) {
        const int B = batches[bi];
        loader *whole = loader_create(&c, B, 1, 1, 77, 2);
        float *x = nn_alloc((size_t)B * IMG * sizeof(float), "x"), *y = nn_alloc(B * sizeof(float), "y");
        float *xs = nn_alloc((size_t)B * IMG * sizeof(float), "xs"), *ys = nn_alloc(B * sizeof(float), "ys");
        for (int R = 1; R <= 5; R++) {
            loader *part[5];
            for (int r = 0; r < R; r++) {
                part[r] = loader_create(&c, B, 1, 1, 77, r % 2 + 1);
                loader_shard(part[r], r, R);
            }
            for (int e = 0; e < 2; e++) {
                loader_start_epoch(whole, e);
                for (int r = 0; r < R; r++) loader_start_epoch(part[r], e);
                for (int s = 0; s < loader_steps(whole); s++) {
                    int n = loader_next(whole, x, y, NULL), got = 0;
                    for (int r = 0; r < R; r++) {
                        int k = loader_next(part[r], xs + (size_t)got * IMG, ys + got, NULL), lo, hi;
                        dist_share(n, r, R, &lo, &hi);
                        CHECK_MSG(k == hi - lo, "batch %d, %d ranks, step %d: rank %d got %d images, not %d", B, R, s, r, k, hi - lo);
                        got += k;
                    }
                    CHECK_MSG(got == n && !memcmp(x, xs, (size_t)n * IMG * sizeof(float)) &&
                                  !memcmp(y, ys, (size_t)n * sizeof(float)),
                              "batch %d, %d ranks, epoch %d, step %d: the parts differ from the batch", B, R, e, s);
                }
            }
            for (int r = 0; r < R; r++) loader_free(part[r]);
        }
        loader_free(whole);
        nn_free(x), nn_free(y), nn_free(xs), nn_free(ys);
    }
    image_cache_free(&c);
}

static void test_loader_start_at(void) {
    image_cache c;
    make_cache(&c);
    const int B = 5;
    loader *a = loader_create(&c, B, 1, 1, 3, 2), *b = loader_create(&c, B, 1, 1, 3, 1);
    float xa[B * IMG], ya[B], xb[B * IMG], yb[B];
    for (int first = 0; first <= loader_steps(a); first++) {
        loader_start_epoch(a, 4);
        for (int s = 0; s < first; s++) loader_next(a, xa, ya, NULL);
        loader_start_epoch_at(b, 4, first);
        for (int s = first; s < loader_steps(a); s++) {
            int na = loader_next(a, xa, ya, NULL), nb = loader_next(b, xb, yb, NULL);
            CHECK_MSG(na == nb && !memcmp(xa, xb, (size_t)na * IMG * sizeof(float)) && !memcmp(ya, yb, na * sizeof(float)),
                      "started at %d: step %d differs", first, s);
        }
        CHECK(loader_next(b, xb, yb, NULL) == 0);
    }
    loader_free(a), loader_free(b);
    image_cache_free(&c);
}

static void test_single_process(void) {
    if (dist_launched()) SKIP("started by mpirun: this test is for one process");
    dist d;
    char err[NN_ERRLEN];
    CHECK(dist_init(&d, err) == 0);
    CHECK(d.rank == 0 && d.size == 1 && d.local_rank == 0 && d.local_size == 1 && !d.mpi);
    float f[3] = {1, 2, 3};
    double g[2] = {4, 5};
    dist_sum_f32(&d, f, 3);
    dist_sum_f64(&d, g, 2);
    dist_bcast(&d, g, sizeof g);
    CHECK(f[0] == 1 && f[1] == 2 && f[2] == 3 && g[0] == 4 && g[1] == 5);
    CHECK(dist_any(&d, 0) == 0 && dist_any(&d, 7) == 1 && dist_any(NULL, 1) == 1);
    dist_finalize(&d);
}

// train_evaluate of each rank's share, with the sums the ranks exchange added here by hand,
// against one pass over the whole set (the C path: same images, same logits).
static void test_evaluate_shares_add_up(void) {
    model m;
    char err[NN_ERRLEN];
    CHECK(model_parse_cfg(&m, "input 8 8 3\nconv2d filters=2 kernel=3 activation=relu\nflatten\n"
                              "dense units=1 activation=sigmoid\n", "eval.cfg", err) == 0);
    model_init_weights(&m, 5);
    image_cache c;
    make_cache(&c);
    for (int i = 0; i < N; i++) c.labels[i] = i % 3 == 0;
    nn_ctx ctx = nn_ctx_cpu();
    eval_result whole;
    train_evaluate(&m, &ctx, &c, 6, &whole);
    for (int R = 2; R <= 4; R++) {
        double loss = 0, acc = 0;
        long conf[2][2] = {{0}};
        for (int r = 0; r < R; r++) {   // rank r alone sees c[lo, hi): a cache of its share
            int lo, hi;
            dist_share(N, r, R, &lo, &hi);
            image_cache part = c;
            part.n = hi - lo;
            part.pixels = c.pixels + (size_t)lo * IMG;
            part.labels = c.labels + lo;
            eval_result e;
            train_evaluate(&m, &ctx, &part, 6, &e);
            loss += e.loss * e.n, acc += e.accuracy * e.n;
            for (int t = 0; t < 2; t++)
                for (int p = 0; p < 2; p++) conf[t][p] += e.confusion[t][p];
        }
        // each batch's mean loss is a float (nn/loss.c): other batches, other roundings
        CHECK_CLOSE(loss / N, whole.loss, 1e-12, 1e-6);
        CHECK_CLOSE(acc / N, whole.accuracy, 1e-12, 0);
        for (int t = 0; t < 2; t++)
            for (int p = 0; p < 2; p++) CHECK(conf[t][p] == whole.confusion[t][p]);
    }
    image_cache_free(&c);
    model_free(&m);
}

// The hook's calls of one training step, recorded.
typedef struct spans {
    int n, reduced, after_reduce;
    size_t off[64], count[64];
    const float *g;
} spans;

static void rec_ready(void *user, const nn_ctx *ctx, float *g, size_t off, size_t count) {
    (void)ctx;
    spans *s = user;
    if (s->reduced) s->after_reduce = 1;
    if (s->n < 64) s->off[s->n] = off, s->count[s->n] = count;
    s->n++;
    s->g = g;
}

static void rec_reduce(void *user, const nn_ctx *ctx, float *g, size_t count) {
    (void)ctx, (void)count;
    spans *s = user;
    s->reduced++;
    CHECK(g == s->g);
}

static void test_ready_spans_tile_the_arena(void) {
    const char *cfgs[] = {
        "input 12 12 3\nconv2d filters=4 kernel=3 padding=same activation=relu\nmaxpool2d pool=2\n"
        "conv2d filters=6 kernel=3 padding=same activation=relu\nmaxpool2d pool=2\nflatten\n"
        "dense units=5 activation=relu\ndense units=1 activation=sigmoid\n",
        "input 6 6 2\nflatten\ndense units=3 activation=relu\nactivation fn=sigmoid\n"
        "dense units=1 activation=sigmoid bias=0\n",
    };
    for (int c = 0; c < 2; c++) {
        model m;
        char err[NN_ERRLEN];
        CHECK_MSG(model_parse_cfg(&m, cfgs[c], "spans.cfg", err) == 0, "%s", err);
        model_init_weights(&m, 2);
        nn_ctx ctx = nn_ctx_cpu();
        const int n = 3;
        size_t in = shape3_size(m.input);
        float *x = nn_calloc(n * in * sizeof(float), "x"), y[3] = {1, 0, 1};
        for (size_t i = 0; i < n * in; i++) x[i] = (float)(i % 7) / 7.0f;
        model_run *r = step_host_run(&m, &ctx, n);
        spans s = {0};
        r->grad = (step_grad_hook){.reduce = rec_reduce, .ready = rec_ready, .user = &s};
        adam_cfg opt = adam_defaults();
        m.t++;
        step_train(&m, r, &ctx, n, n, x, y, &opt, NULL);
        r->grad = (step_grad_hook){0};
        CHECK(s.reduced == 1 && !s.after_reduce && s.n > 0 && s.n <= 64);
        size_t top = m.nparams;   // each span ends where the one before began
        for (int k = 0; k < s.n && k < 64; k++) {
            CHECK_MSG(s.count[k] > 0 && s.off[k] + s.count[k] == top, "model %d span %d: [%zu, +%zu) below %zu",
                      c, k, s.off[k], s.count[k], top);
            top = s.off[k];
        }
        CHECK_MSG(top == 0, "model %d: the spans stop at %zu", c, top);
        // A step without samples (step_grad_hook_run) makes the same calls, so that the ranks'
        // collectives pair up one for one.
        spans z = {0};
        r->grad = (step_grad_hook){.reduce = rec_reduce, .ready = rec_ready, .user = &z};
        step_grad_hook_run(&m, r, &ctx);
        r->grad = (step_grad_hook){0};
        CHECK_MSG(z.n == s.n && z.reduced == 1 && !memcmp(z.off, s.off, sizeof z.off) &&
                      !memcmp(z.count, s.count, sizeof z.count),
                  "model %d: a step without samples gives %d spans, the walk %d", c, z.n, s.n);
        nn_free(x);
        model_free(&m);
    }
}

int main(void) {
    RUN(test_share_covers);
    RUN(test_loader_shards_make_the_batch);
    RUN(test_loader_start_at);
    RUN(test_single_process);
    RUN(test_ready_spans_tile_the_arena);
    RUN(test_evaluate_shares_add_up);
    TEST_EXIT();
}
