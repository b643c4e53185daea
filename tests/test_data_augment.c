// test_data_augment.c: the data pipeline's augmentation and loader.
//  - augmentation equals Keras's apply_transform + standardize to 1e-4
//    (tests/fixtures/data_augment.*, from tests/oracles/augment_keras.py), and its random draws
//    have the article's distributions (ranges, independent zx and zy, flip rate);
//  - the loader covers each image once per epoch, reshuffles between epochs, gives the same
//    batches whatever its number of threads, and never augments when told not to.
#include "test_data.h"

// ---------------------------------------------------------------------------------------------
// Augmentation.

static void test_augment_vs_keras(void) {
    char *fx = read_text("tests/fixtures/data_augment.txt");
    FILE *fb = fopen("tests/fixtures/data_augment.f32", "rb");
    if (!fx || !fb) SKIP("tests/fixtures/data_augment.* missing (run tests/oracles/augment_keras.py)");
    fseek(fb, 0, SEEK_END);
    size_t nf = (size_t)ftell(fb) / 4;
    fseek(fb, 0, SEEK_SET);
    float *ref = nn_alloc(nf * 4, "ref");
    CHECK(fread(ref, 4, nf, fb) == nf);
    fclose(fb);
    uint8_t *img[8] = {0};
    int ih[8], iw[8], ncases = 0;
    double worst = 0;
    for (char *line = strtok(fx, "\n"); line; line = strtok(NULL, "\n")) {
        int id, h, w, off, flip;
        long offset;
        float s, zx, zy;
        if (sscanf(line, "image %d %d %d %n", &id, &h, &w, &off) == 3 && id < 8) {
            img[id] = nn_alloc((size_t)h * w * 3, "img");
            hex_decode(line + off, img[id], (size_t)h * w * 3);
            ih[id] = h, iw[id] = w;
        } else if (sscanf(line, "case %d %f %f %f %d %ld", &id, &s, &zx, &zy, &flip, &offset) == 6) {
            h = ih[id], w = iw[id];
            CHECK((size_t)offset + (size_t)h * w * 3 <= nf);
            float *out = nn_alloc((size_t)h * w * 3 * 4, "out");
            aug_params p = {s, zx, zy, flip};
            augment_apply(img[id], h, w, &p, out);
            char what[128];
            snprintf(what, sizeof what, "image %d (%dx%d) shear %g zx %g zy %g flip %d", id, h, w,
                     s, zx, zy, flip);
            check_arrays(what, out, ref + offset, (size_t)h * w * 3, 1e-4, 0);
            for (int i = 0; i < h * w * 3; i++) worst = fmax(worst, fabs(out[i] - ref[offset + i]));
            nn_free(out);
            ncases++;
        }
    }
    CHECK(ncases >= 26);
    if (worst > 1e-5) printf("  augment vs Keras: worst difference %.3g\n", worst);
    for (int i = 0; i < 8; i++) nn_free(img[i]);
    nn_free(ref);
    nn_free(fx);
}

static void test_augment_draw_distribution(void) {
    enum { N = 200000 };
    rng r;
    rng_seed(&r, 7);
    double s1 = 0, s2 = 0, x1 = 0, x2 = 0, y1 = 0, y2 = 0, xy = 0, sx = 0, flips = 0;
    float smin = 1, smax = -1, zmin = 2, zmax = 0;
    for (int i = 0; i < N; i++) {
        aug_params p;
        augment_draw(&r, &p);
        s1 += p.shear_deg, s2 += (double)p.shear_deg * p.shear_deg;
        x1 += p.zx, x2 += (double)p.zx * p.zx, y1 += p.zy, y2 += (double)p.zy * p.zy;
        xy += (double)p.zx * p.zy, sx += (double)p.shear_deg * p.zx, flips += p.flip;
        smin = fminf(smin, p.shear_deg), smax = fmaxf(smax, p.shear_deg);
        zmin = fminf(zmin, fminf(p.zx, p.zy)), zmax = fmaxf(zmax, fmaxf(p.zx, p.zy));
        CHECK(p.flip == 0 || p.flip == 1);
    }
    // Ranges: Keras's shear_range=0.2 (degrees), zoom_range=0.2 -> [0.8, 1.2].
    CHECK(smin >= -0.2f && smax <= 0.2f && smin < -0.199f && smax > 0.199f);
    CHECK(zmin >= 0.8f && zmax <= 1.2f && zmin < 0.801f && zmax > 1.199f);
    // Uniform moments: mean (lo+hi)/2, variance (hi-lo)^2/12; tolerances ~5 standard errors.
    double ms = s1 / N, vs = s2 / N - ms * ms, mx = x1 / N, vx = x2 / N - mx * mx;
    double my = y1 / N, vy = y2 / N - my * my;
    CHECK_CLOSE(ms, 0.0, 5 * sqrt(0.4 * 0.4 / 12 / N), 0);
    CHECK_CLOSE(mx, 1.0, 5 * sqrt(0.4 * 0.4 / 12 / N), 0);
    CHECK_CLOSE(my, 1.0, 5 * sqrt(0.4 * 0.4 / 12 / N), 0);
    CHECK_CLOSE(vs, 0.4 * 0.4 / 12, 0, 0.02);
    CHECK_CLOSE(vx, 0.4 * 0.4 / 12, 0, 0.02);
    CHECK_CLOSE(vy, 0.4 * 0.4 / 12, 0, 0.02);
    // zx and zy are two independent draws (not one zoom for both axes): correlation ~ 0.
    double cxy = (xy / N - mx * my) / sqrt(vx * vy), csx = (sx / N - ms * mx) / sqrt(vs * vx);
    CHECK_MSG(fabs(cxy) < 5 / sqrt(N), "corr(zx, zy) = %g", cxy);
    CHECK_MSG(fabs(csx) < 5 / sqrt(N), "corr(shear, zx) = %g", csx);
    CHECK_CLOSE(flips / N, 0.5, 5 * sqrt(0.25 / N), 0);
}

static void test_augment_identity_and_flip(void) {
    enum { H = 9, W = 14 };
    uint8_t src[H * W * 3];
    float a[H * W * 3], b[H * W * 3];
    fill_pixels(src, H, W, 3, 77);
    aug_params id = {0, 1, 1, 0}, fl = {0, 1, 1, 1};
    augment_apply(src, H, W, &id, a);
    image_to_float(src, sizeof src, b);
    CHECK(!memcmp(a, b, sizeof a));
    augment_apply(src, H, W, &fl, a);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int c = 0; c < 3; c++)
                CHECK(a[(y * W + x) * 3 + c] == b[(y * W + W - 1 - x) * 3 + c]);
}

// ---------------------------------------------------------------------------------------------
// The loader.

// n images of 4x4: image i is filled with i % 251 and labelled i, so a batch tells which
// images it holds.
static void synthetic_cache(image_cache *c, int n) {
    memset(c, 0, sizeof *c);
    c->n = n, c->h = 4, c->w = 4;
    c->pixels = nn_alloc((size_t)n * 48, "pixels");
    c->labels = nn_alloc((size_t)n * 4, "labels");
    c->index = nn_alloc((size_t)n * 4, "index");
    for (int i = 0; i < n; i++) {
        memset(c->pixels + (size_t)i * 48, i % 251, 48);
        c->labels[i] = c->index[i] = i;
    }
}

// Runs one epoch; order (n) gets the image of each position; returns the images seen.
static int run_epoch(loader *L, int epoch, int n, int batch, int32_t *order, float *xs) {
    float x[16 * 48], y[16];
    double wait;
    int seen = 0, k, steps = 0;
    loader_start_epoch(L, epoch);
    while ((k = loader_next(L, x, y, &wait)) > 0) {
        steps++;
        CHECK(wait >= 0);
        CHECK(k == batch || (seen + k == n && k < batch));
        for (int j = 0; j < k && seen + j < n; j++) {
            order[seen + j] = (int32_t)y[j];
            if (xs) memcpy(xs + (size_t)(seen + j) * 48, x + j * 48, 48 * sizeof(float));
        }
        seen += k;
    }
    CHECK(steps == loader_steps(L));
    CHECK(loader_next(L, x, y, &wait) == 0);  // stays over
    return seen;
}

static void test_loader_epochs(void) {
    enum { N = 103, B = 10 };
    image_cache c;
    synthetic_cache(&c, N);
    loader *L = loader_create(&c, B, 1, 0, 1234, 2);
    CHECK(loader_steps(L) == (N + B - 1) / B);
    int32_t o0[N], o1[N], again[N];
    float xs[N * 48];
    for (int e = 0; e < 2; e++) {
        int32_t *o = e ? o1 : o0;
        CHECK(run_epoch(L, e, N, B, o, xs) == N);
        int seen[N] = {0};
        for (int i = 0; i < N; i++) {
            CHECK(o[i] >= 0 && o[i] < N);
            if (o[i] >= 0 && o[i] < N) seen[o[i]]++;
            CHECK(xs[i * 48 + 17] == (float)(o[i] % 251) * (1.0f / 255.0f));  // x matches y
        }
        for (int i = 0; i < N; i++) CHECK_MSG(seen[i] == 1, "image %d seen %d times", i, seen[i]);
    }
    CHECK(memcmp(o0, o1, sizeof o0) != 0);  // reshuffled
    // The order is a function of (seed, epoch) only: another loader, other threads, same order;
    // an epoch restarted in the middle starts over.
    loader *L2 = loader_create(&c, B, 1, 0, 1234, 1);
    float x[B * 48], y[B];
    loader_start_epoch(L2, 1);
    CHECK(loader_next(L2, x, y, NULL) == B && loader_next(L2, x, y, NULL) == B);
    CHECK(run_epoch(L2, 1, N, B, again, NULL) == N);
    CHECK(!memcmp(again, o1, sizeof o1));
    CHECK(run_epoch(L2, 0, N, B, again, NULL) == N && !memcmp(again, o0, sizeof o0));
    loader_free(L2);
    loader *L3 = loader_create(&c, B, 1, 0, 99, 2);  // another seed, another order
    CHECK(run_epoch(L3, 0, N, B, again, NULL) == N && memcmp(again, o0, sizeof o0) != 0);
    loader_free(L3);
    // shuffle = 0 (validation): file order every epoch.
    loader *V = loader_create(&c, B, 0, 0, 5, 3);
    for (int e = 0; e < 2; e++) {
        CHECK(run_epoch(V, e, N, B, again, NULL) == N);
        for (int i = 0; i < N; i++) CHECK(again[i] == i);
    }
    loader_free(V);
    loader_free(L);
    image_cache_free(&c);
}

static void test_loader_augment_deterministic(void) {
    // Real-looking 16x16 images, augmented: the same batches whatever the thread count.
    enum { N = 37, B = 8, S = 16 };
    image_cache c;
    memset(&c, 0, sizeof c);
    c.n = N, c.h = S, c.w = S;
    c.pixels = nn_alloc((size_t)N * S * S * 3, "pixels");
    c.labels = nn_alloc(N * 4, "labels");
    for (int i = 0; i < N; i++) {
        fill_pixels(c.pixels + (size_t)i * S * S * 3, S, S, 3, 500u + (unsigned)i);
        c.labels[i] = i;
    }
    float *xa = nn_alloc((size_t)N * S * S * 3 * 4, "xa"), *xb = nn_alloc((size_t)N * S * S * 3 * 4, "xb");
    float x[B * S * S * 3], y[B];
    for (int t = 0; t < 2; t++) {
        loader *L = loader_create(&c, B, 1, 1, 42, t ? 4 : 1);
        float *dst = t ? xb : xa;
        loader_start_epoch(L, 3);
        int k, seen = 0, differs = 0;
        while ((k = loader_next(L, x, y, NULL)) > 0) {
            memcpy(dst + (size_t)seen * S * S * 3, x, (size_t)k * S * S * 3 * 4);
            // Augmented: not the plain rescaled image.
            float plain[S * S * 3];
            for (int j = 0; j < k; j++) {
                image_to_float(c.pixels + (size_t)y[j] * S * S * 3, S * S * 3, plain);
                differs += memcmp(plain, x + (size_t)j * S * S * 3, sizeof plain) != 0;
            }
            seen += k;
        }
        CHECK(seen == N && differs > N / 2);
        loader_free(L);
    }
    CHECK(!memcmp(xa, xb, (size_t)N * S * S * 3 * 4));
    // augment = 0: exactly the rescaled images (validation is never augmented).
    loader *V = loader_create(&c, B, 0, 0, 42, 2);
    int k, seen = 0;
    float plain[S * S * 3];
    while ((k = loader_next(V, x, y, NULL)) > 0)
        for (int j = 0; j < k; j++, seen++) {
            image_to_float(c.pixels + (size_t)seen * S * S * 3, S * S * 3, plain);
            CHECK(y[j] == seen && !memcmp(plain, x + (size_t)j * S * S * 3, sizeof plain));
        }
    CHECK(seen == N);
    loader_free(V);
    nn_free(xa);
    nn_free(xb);
    image_cache_free(&c);
}

// ---------------------------------------------------------------------------------------------

int main(void) {
    RUN(test_augment_vs_keras);
    RUN(test_augment_draw_distribution);
    RUN(test_augment_identity_and_flip);
    RUN(test_loader_epochs);
    RUN(test_loader_augment_deterministic);
    TEST_EXIT();
}
