// synthetic.c: the made-up set of `nn train` without --data (see synthetic.h).
#include "synthetic.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "../nn/common.h"
#include "../nn/rng.h"
#include "chart.h"

#define NOISE_SD 20   // grey levels

// What each label draws (0 horizontal, 1 vertical, 2 diagonal), so that the labels follow the
// names' sorted order, as the folders are read back: the two-class set's labels are as they
// always were.
enum { HORIZONTAL, VERTICAL, DIAGONAL };
static const int kinds[2][SYNTHETIC_MAX_CLASSES] = {{HORIZONTAL, VERTICAL}, {DIAGONAL, HORIZONTAL, VERTICAL}};
static const char *const kind_names[3] = {"horizontal", "vertical", "diagonal"};

const char *synthetic_class(int nclasses, int label) { return kind_names[kinds[nclasses - 2][label]]; }

static double gauss(rng *r) {   // Box-Muller: one standard normal draw
    double u = rng_uniform(r), v = rng_uniform(r);
    return sqrt(-2.0 * log(1.0 - u)) * cos(2.0 * M_PI * v);
}

static uint8_t clamp255(double v) { return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : lround(v)); }

// One image: stripes whose direction is within 20 degrees of horizontal or vertical, or within
// 10 degrees of one of the diagonals (25 degrees from the others' ranges), a random dark and a
// random light colour, Gaussian noise.
static void draw(rng *r, int kind, int h, int w, uint8_t *px) {   // px: (h, w, 3)
    double tilt = rng_uniform_range(r, -20, 20) * M_PI / 180;
    double angle = (kind == VERTICAL ? M_PI / 2 : 0) + tilt;   // direction the stripes run along
    if (kind == DIAGONAL) angle = (rng_below(r, 2) ? 1 : -1) * M_PI / 4 + tilt / 2;
    double nx = -sin(angle), ny = cos(angle);        // across the stripes
    double period = rng_uniform_range(r, 5, 14), phase = rng_uniform_range(r, 0, 2 * M_PI);
    double c0[3], c1[3];
    // A dark and a light colour: the hue varies, the light/dark contrast that shows the stripes'
    // direction does not (with fully random colours the set needs many more epochs).
    for (int k = 0; k < 3; k++) {
        c0[k] = rng_uniform_range(r, 0, 100);
        c1[k] = 255 - rng_uniform_range(r, 0, 100);
    }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double s = 0.5 + 0.5 * sin(2 * M_PI * (x * nx + y * ny) / period + phase);
            for (int k = 0; k < 3; k++)
                px[((size_t)y * w + x) * 3 + k] = clamp255(c0[k] * (1 - s) + c1[k] * s + NOISE_SD * gauss(r));
        }
}

void synthetic_make(image_cache *c, int n, int nclasses, int h, int w, uint64_t seed) {
    if (nclasses < 2 || nclasses > SYNTHETIC_MAX_CLASSES)
        NN_DIE("synthetic_make: %d classes (the set has 2 or %d)", nclasses, SYNTHETIC_MAX_CLASSES);
    memset(c, 0, sizeof *c);
    c->n = n, c->h = h, c->w = w;
    c->pixels = nn_alloc((size_t)n * h * w * 3, "synthetic images");
    c->labels = nn_alloc((size_t)n * sizeof(int32_t), "synthetic labels");
    rng r;
    rng_seed(&r, seed);
    for (int i = 0; i < n; i++) {
        c->labels[i] = i % nclasses;
        draw(&r, kinds[nclasses - 2][i % nclasses], h, w, c->pixels + (size_t)i * h * w * 3);
    }
}

void synthetic_free(image_cache *c) {
    nn_free(c->pixels);
    nn_free(c->labels);
    memset(c, 0, sizeof *c);
}

static int make_dir(const char *path, char *err) {
    if (mkdir(path, 0777) != 0 && errno != EEXIST)
        return nn_fail(err, "%s: cannot create the folder (%s)", path, strerror(errno));
    return 0;
}

int synthetic_write_dir(const image_cache *c, int nclasses, const char *dir, char *err) {
    char path[4096];
    if (make_dir(dir, err)) return -1;
    for (int k = 0; k < nclasses; k++) {
        snprintf(path, sizeof path, "%s/%s", dir, synthetic_class(nclasses, k));
        if (make_dir(path, err)) return -1;
    }
    size_t per = (size_t)c->h * c->w * 3;
    for (int i = 0; i < c->n; i++) {
        snprintf(path, sizeof path, "%s/%s/%04d.png", dir, synthetic_class(nclasses, c->labels[i]), i + 1);
        if (png_write_rgb(path, c->w, c->h, c->pixels + i * per, err)) return -1;
    }
    return 0;
}
