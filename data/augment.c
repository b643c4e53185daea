// augment.c: keras_preprocessing 1.1.0's ImageDataGenerator(rescale=1/255, shear_range=0.2,
// zoom_range=0.2, horizontal_flip=True), one image at a time, on the C path.
//
// What Keras does per image (iterator.py _get_batches_of_transformed_samples), and this file
// with it:
//  1. get_random_transform: shear = uniform(-0.2, 0.2) in DEGREES (apply_affine_transform
//     calls np.deg2rad on it, so the article's shear is a tiny one); zx, zy =
//     uniform(0.8, 1.2, 2), two independent draws; flip = random() < 0.5.
//  2. apply_affine_transform(x, shear, zx, zy): the matrix acts on (row, col) output
//     coordinates and gives input coordinates:
//         T = S . Z,  S = [[1, -sin s], [0, cos s]],  Z = [[zx, 0], [0, zy]]
//     so zx scales ROWS (vertical) and zy scales COLUMNS, despite the names. It is centred with
//     transform_matrix_offset_center(T, h, w): o = (h/2 + 0.5, w/2 + 0.5) (Keras's half-pixel
//     quirk, kept), input = T (out - o) + o. scipy.ndimage.affine_transform samples with
//     order=1 (bilinear) and mode='nearest': the input coordinate is clamped to [0, n-1] on each
//     axis, then interpolated between floor and floor+1 (clamped).
//  3. flip_axis(x, col): columns reversed, AFTER the affine transform.
//  4. standardize: x *= 1/255, last.
// tests/oracles/augment_keras.py runs Keras itself on fixed parameters; test_data.c compares.
#include <math.h>

#include "data.h"

#define AUG_SHEAR_RANGE 0.2   // degrees
#define AUG_ZOOM_LO 0.8
#define AUG_ZOOM_HI 1.2

void augment_draw(rng *r, aug_params *p) {
    // Keras's order of draws: shear, then zx and zy together, then the flip.
    p->shear_deg = (float)rng_uniform_range(r, -AUG_SHEAR_RANGE, AUG_SHEAR_RANGE);
    p->zx = (float)rng_uniform_range(r, AUG_ZOOM_LO, AUG_ZOOM_HI);
    p->zy = (float)rng_uniform_range(r, AUG_ZOOM_LO, AUG_ZOOM_HI);
    p->flip = rng_uniform(r) < 0.5;
}

void augment_affine(const aug_params *p, int h, int w, double a[6]) {
    double s = p->shear_deg * (M_PI / 180.0);  // np.deg2rad
    double t00 = p->zx, t01 = -sin(s) * p->zy;
    double t10 = 0.0, t11 = cos(s) * p->zy;
    double orow = (double)h / 2 + 0.5, ocol = (double)w / 2 + 0.5;
    a[0] = t00, a[1] = t01, a[2] = orow - (t00 * orow + t01 * ocol);
    a[3] = t10, a[4] = t11, a[5] = ocol - (t10 * orow + t11 * ocol);
}

// Clamped bilinear sample position along one axis of length n: index i0, i1 and weight t.
static inline void axis_pos(double x, int n, int *i0, int *i1, float *t) {
    if (x < 0) x = 0;
    if (x > n - 1) x = n - 1;
    int i = (int)x;  // x >= 0, so truncation is floor
    *i0 = i;
    *i1 = i + 1 < n ? i + 1 : n - 1;
    *t = (float)(x - i);
}

void augment_apply(const uint8_t *src, int h, int w, const aug_params *p, float *dst) {
    const float scale = 1.0f / 255.0f;
    double a[6];
    augment_affine(p, h, w, a);
    // The input column depends on the output column only (a[3] = 0): tabulate it.
    int c0[w], c1[w];
    float tc[w];
    for (int c = 0; c < w; c++) axis_pos(a[4] * c + a[5], w, &c0[c], &c1[c], &tc[c]);
    for (int r = 0; r < h; r++) {
        double rbase = a[0] * r + a[2];
        float *orow = dst + (size_t)r * w * 3;
        for (int c = 0; c < w; c++) {
            int r0, r1;
            float tr;
            axis_pos(rbase + a[1] * c, h, &r0, &r1, &tr);
            const uint8_t *p00 = src + ((size_t)r0 * w + c0[c]) * 3;
            const uint8_t *p01 = src + ((size_t)r0 * w + c1[c]) * 3;
            const uint8_t *p10 = src + ((size_t)r1 * w + c0[c]) * 3;
            const uint8_t *p11 = src + ((size_t)r1 * w + c1[c]) * 3;
            float *o = orow + (size_t)(p->flip ? w - 1 - c : c) * 3;
            float u = tc[c];
            for (int k = 0; k < 3; k++) {
                float top = p00[k] + u * (p01[k] - p00[k]);
                float bot = p10[k] + u * (p11[k] - p10[k]);
                o[k] = (top + tr * (bot - top)) * scale;
            }
        }
    }
}

void image_to_float(const uint8_t *src, size_t n, float *dst) {
    const float scale = 1.0f / 255.0f;
    for (size_t i = 0; i < n; i++) dst[i] = src[i] * scale;
}
