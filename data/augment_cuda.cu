// augment_cuda.cu: data/augment.c's transform on the device, so that a training batch is built
// from the uint8 image set already on the GPU (uploaded once) with no host work per step.
// Keras's ImageDataGenerator(shear_range=0.2, zoom_range=0.2, horizontal_flip=True, rescale=1/255)
// per image: input = T (out - o) + o with T = shear . zoom, bilinear with edge clamping, flip
// after, rescale last (see data/augment.c for the derivation and the Keras quirks kept).
//
// Thread mapping: grid (pixel blocks, batch sample); a block's first thread turns the sample's
// parameters into the affine coefficients once (double, as the C path) and shares them; each
// thread then produces the 3 channels of one output pixel. The arithmetic is written with
// explicit rounding (no fused multiply-add) in the C path's order, so the two paths agree to the
// last bit up to the sine and cosine of the shear.
#include "../cuda/cuda_common.h"
#include "images_cuda.h"

__global__ void __launch_bounds__(256)
augment_kernel(const uint8_t *__restrict__ images, const int32_t *__restrict__ lab, int h, int w,
               const int32_t *__restrict__ order, const aug_params *__restrict__ aug,
               const int *step, int batch, float *__restrict__ x, float *__restrict__ y) {
    __shared__ double a[6];
    __shared__ int flip;
    __shared__ const uint8_t *src;
    const int i = blockIdx.y;
    const size_t k = (size_t)(step ? *step : 0) * batch + i;
    if (threadIdx.x == 0) {
        const int idx = order[k];
        src = images + (size_t)idx * h * w * 3;
        if (blockIdx.x == 0) y[i] = (float)lab[idx];
        if (aug) {
            const aug_params p = aug[k];
            const double s = (double)p.shear_deg * (M_PI / 180.0);
            const double t00 = p.zx, t01 = __dmul_rn(-sin(s), (double)p.zy);
            const double t11 = __dmul_rn(cos(s), (double)p.zy);
            const double orow = (double)h / 2 + 0.5, ocol = (double)w / 2 + 0.5;
            a[0] = t00, a[1] = t01;
            a[2] = __dsub_rn(orow, __dadd_rn(__dmul_rn(t00, orow), __dmul_rn(t01, ocol)));
            a[3] = 0.0, a[4] = t11;
            a[5] = __dsub_rn(ocol, __dadd_rn(__dmul_rn(0.0, orow), __dmul_rn(t11, ocol)));
            flip = p.flip;
        }
    }
    __syncthreads();
    const int pix = blockIdx.x * blockDim.x + threadIdx.x;
    if (pix >= h * w) return;
    const int r = pix / w, c = pix % w;
    const float scale = 1.0f / 255.0f;
    float *o;
    if (!aug) {
        o = x + ((size_t)i * h * w + pix) * 3;
        const uint8_t *p = src + (size_t)pix * 3;
        o[0] = __fmul_rn((float)p[0], scale);
        o[1] = __fmul_rn((float)p[1], scale);
        o[2] = __fmul_rn((float)p[2], scale);
        return;
    }
    // Clamped bilinear positions along each axis (data/augment.c axis_pos).
    double xc = __dadd_rn(__dmul_rn(a[4], (double)c), a[5]);
    xc = xc < 0 ? 0 : xc;
    xc = xc > w - 1 ? w - 1 : xc;
    const int c0 = (int)xc, c1 = c0 + 1 < w ? c0 + 1 : w - 1;
    const float u = (float)(xc - c0);
    double xr = __dadd_rn(__dadd_rn(__dmul_rn(a[0], (double)r), a[2]), __dmul_rn(a[1], (double)c));
    xr = xr < 0 ? 0 : xr;
    xr = xr > h - 1 ? h - 1 : xr;
    const int r0 = (int)xr, r1 = r0 + 1 < h ? r0 + 1 : h - 1;
    const float tr = (float)(xr - r0);
    const uint8_t *p00 = src + ((size_t)r0 * w + c0) * 3, *p01 = src + ((size_t)r0 * w + c1) * 3;
    const uint8_t *p10 = src + ((size_t)r1 * w + c0) * 3, *p11 = src + ((size_t)r1 * w + c1) * 3;
    o = x + (((size_t)i * h + r) * w + (flip ? w - 1 - c : c)) * 3;
#pragma unroll
    for (int ch = 0; ch < 3; ch++) {
        float top = __fadd_rn((float)p00[ch], __fmul_rn(u, (float)(p01[ch] - p00[ch])));
        float bot = __fadd_rn((float)p10[ch], __fmul_rn(u, (float)(p11[ch] - p10[ch])));
        o[ch] = __fmul_rn(__fadd_rn(top, __fmul_rn(tr, __fsub_rn(bot, top))), scale);
    }
}

extern "C" void augment_batch_cuda(const nn_ctx *ctx, const uint8_t *images, const int32_t *lab,
                                   int h, int w, const int32_t *order, const aug_params *aug,
                                   const int *step, int batch, int n, float *x, float *y) {
    if (n <= 0) return;
    dim3 grid((h * w + 255) / 256, n);
    augment_kernel<<<grid, 256, 0, ctx_stream(ctx)>>>(images, lab, h, w, order, aug, step, batch,
                                                      x, y);
    CUDA_CHECK_LAUNCH();
}
