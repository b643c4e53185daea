// kernels.h: the CUDA twins of the C path's operations, one function per op, on DEVICE
// pointers, queued on ctx's stream (nothing here synchronises). The model code (model_cuda.cu)
// strings them into a training step; tests/cuda/ calls each one beside its C twin.
//
// Conventions, as in layers/layer.h: activations NHWC, conv kernels HWIO, dense kernels
// (in, out); a layer's bias sits at w + (l->boff - l->woff). `ws` is device scratch of
// ws_floats floats; each op says how much it wants through its *_ws_floats function, and the
// model allocates the largest once (no allocation inside the training loop).
//
// `step` arguments (device int*, may be NULL = 0) let one captured CUDA graph serve every step
// of an epoch: kernels that need per-step data (the batch's image indices, Adam's step size,
// where to write the loss) read the step number from device memory instead of a launch argument.
#ifndef NN_CUDA_KERNELS_H
#define NN_CUDA_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "../layers/layer.h"
#include "../nn/adam.h"
#include "../nn/ctx.h"

// --- dense_cuda.cu: the hand-written SGEMM and the dense layer
// Row-major C (M, N) = act(alpha op(A) op(B) + beta C + bias), bias (N) or NULL, as nn/gemm.h
// plus an epilogue (softmax: over each row of N, a row kernel after the product). Split-K (for
// the skinny shapes) writes partial products to ws; with too
// little ws it splits less. `splits` 0 = choose from the shape and the device; >0 forces it.
size_t sgemm_cuda_ws_floats(const nn_ctx *ctx, int M, int N, int K);
void sgemm_cuda(const nn_ctx *ctx, int transa, int transb, int M, int N, int K, float alpha,
                const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc,
                const float *bias, act_kind act, int splits, float *ws, size_t ws_floats);
// The same product (no split) whose result is the gradient of w (ldw: its row stride): Adam
// (Keras's formula, alpha[step]) updates w, m, v in the epilogue and the gradient is never
// stored.
void sgemm_adam_cuda(const nn_ctx *ctx, int transa, int transb, int M, int N, int K,
                     const float *A, int lda, const float *B, int ldb, float *w, float *m,
                     float *v, int ldw, const adam_cfg *opt, const float *alpha, const int *step);
// Column sums: out (cols) = sum over rows of x (rows, cols). Deterministic (no atomics).
void colsum_cuda(const nn_ctx *ctx, int rows, int cols, const float *x, float *out);

size_t dense_cuda_ws_floats(const layer *l, const nn_ctx *ctx, int n);
void dense_forward_cuda(const layer *l, const nn_ctx *ctx, int n, const float *x,   // (n, in)
                        const float *w, float *y, act_kind act,                     // (n, out)
                        float *ws, size_t ws_floats);
// dy (n, out) is overwritten with the pre-activation gradient; dx (n, in) when non-NULL;
// dw (in, out) then the bias (out) overwritten.
void dense_backward_cuda(const layer *l, const nn_ctx *ctx, int n, const float *x,
                         const float *w, const float *y, float *dy, float *dx, float *dw,
                         act_kind act, float *ws, size_t ws_floats);

// The part of the backward before dW: pre-activation gradient (in dy), bias gradient (into dw's
// bias slot), dx. With sgemm_adam_cuda for dW it makes dense_backward_adam_cuda in two pieces,
// so that the model can run the dW + Adam piece on a second stream.
void dense_backward_dx_cuda(const layer *l, const nn_ctx *ctx, int n, const float *w,
                            const float *y, float *dy, float *dx, float *dw, act_kind act,
                            float *ws, size_t ws_floats);
// The backward with Adam fused for the kernel: dx first (from the weights before the update),
// then dW = x^T dy straight into Adam on w, m, v (the layer's kernel inside the arenas); the
// bias gradient goes to dw's bias slot as usual, for the arena's Adam.
void dense_backward_adam_cuda(const layer *l, const nn_ctx *ctx, int n, const float *x, float *w,
                              const float *y, float *dy, float *dx, float *dw, act_kind act,
                              float *m, float *v, const adam_cfg *opt, const float *alpha,
                              const int *step, float *ws, size_t ws_floats);

// --- dense_tf32_cuda.cu: TF32 tensor cores (mma.sync m16n8k8) for the 128x128-tile products,
// used by sgemm_cuda / sgemm_adam_cuda only while the context's flag is on (NN_TF32=1 when the
// context is made, or cuda_set_tf32). Off (the default), the FP32 kernels run, unchanged.
typedef struct {
    float *w, *m, *v;   // NULL: no Adam, C gets the product
    const float *alpha;
    const int *step;
    float a1, a2, eps;
} sgemm_tf32_adam;
void sgemm_tf32_tile_cuda(const nn_ctx *ctx, int transa, int transb, int M, int N, int K,
                          int splits, int kchunk, float alpha, const float *A, int lda,
                          const float *B, int ldb, float beta, float *C, int ldc, const float *bias,
                          act_kind act, float *ws, int vec, sgemm_tf32_adam ad);
int cuda_tf32_enabled(const nn_ctx *ctx);
void cuda_set_tf32(nn_ctx *ctx, int on);

// --- conv2d_cuda.cu: convolution as implicit GEMM (igemm.cuh), any kernel size, stride and
// padding; ws: scratch for the split-K slices, conv2d_cuda_ws_floats floats for n samples.
size_t conv2d_cuda_ws_floats(const layer *l, const nn_ctx *ctx, int n);
void conv2d_forward_cuda(const layer *l, const nn_ctx *ctx, int n, const float *x,  // (n, H, W, Cin)
                         const float *w, float *y, act_kind act,                   // (n, OH, OW, Cout)
                         float *ws, size_t ws_floats);
void conv2d_backward_cuda(const layer *l, const nn_ctx *ctx, int n, const float *x,
                          const float *w, const float *y, float *dy, float *dx, float *dw,
                          act_kind act, float *ws, size_t ws_floats);

// Conv + ReLU + 2x2/2 max-pool fused (the article's first two layers): the conv output never
// goes through memory. y is the pooled output (n, PH, PW, Cout) and arg (same size, uint8) the
// window position (0..3, row-major) of each max. The backward gives dw and the bias from the
// pooled gradient dy (n, PH, PW, Cout) without building the conv-sized gradient; it does not
// give dx, so the conv must be the model's first layer. The same function as conv2d (relu) then
// maxpool2d (summed in another order); ties pick the first position in the window.
int conv2d_pool_fusable(const layer *conv, const layer *pool, int first_layer);
size_t conv2d_pool_ws_floats(const layer *conv, const layer *pool, const nn_ctx *ctx, int n);
void conv2d_pool_forward_cuda(const layer *conv, const layer *pool, const nn_ctx *ctx, int n,
                              const float *x, const float *w, float *y, uint8_t *arg);
void conv2d_pool_backward_cuda(const layer *conv, const layer *pool, const nn_ctx *ctx, int n,
                               const float *x, const float *y, const uint8_t *arg,
                               const float *dy, float *dw, float *ws, size_t ws_floats);

// Batchnorm then max pooling fused (batchnorm_cuda.cu; the GPU plan's node): the same function
// as the two layers (the batchnorm'd values' max, the same arithmetic), but the normalised
// tensor and its gradient never go through memory. w: gamma, beta, moving mean, moving variance
// (the moving statistics updated when training); aux (batchnorm_pool_aux_bytes) keeps the
// batch statistics and the max positions for backward; dx may be NULL; dw as the batchnorm's.
// relu: dx is also multiplied by (x > 0), the gradient of a ReLU that produced x (the layer
// below then runs its backward as linear: the plan's act_done).
int batchnorm_pool_fusable(const layer *bn, const layer *pool);
size_t batchnorm_pool_aux_bytes(const layer *bn, const layer *pool, int n);
size_t batchnorm_pool_ws_floats(const layer *bn, const layer *pool, const nn_ctx *ctx, int n);
void batchnorm_pool_forward_cuda(const layer *bn, const layer *pool, const nn_ctx *ctx, int n,
                                 const float *x, float *w, float *y, void *aux, int training,
                                 float *ws, size_t ws_floats);
void batchnorm_pool_backward_cuda(const layer *bn, const layer *pool, const nn_ctx *ctx, int n,
                                  const float *x, const float *w, const float *dy, float *dx,
                                  float *dw, const void *aux, int relu, float *ws, size_t ws_floats);

// --- maxpool2d_cuda.cu
// relu: x is a ReLU's output, and a window whose max is not positive keeps no position, so the
// backward's dx also carries the ReLU's gradient (the layer below then runs its backward as
// linear: the plan's act_done).
void maxpool2d_forward_cuda(const layer *l, const nn_ctx *ctx, int n, const float *x,  // (n, H, W, C)
                            float *y, int32_t *aux, int relu);                         // (n, OH, OW, C)
// dx (n, H, W, C) fully written (zeros where no window took the max).
void maxpool2d_backward_cuda(const layer *l, const nn_ctx *ctx, int n, const float *dy,
                             float *dx, const int32_t *aux);

// --- avgpool2d_cuda.cu, globalavgpool_cuda.cu: dx fully written
void avgpool2d_forward_cuda(const layer *l, const nn_ctx *ctx, int n, const float *x,   // (n, H, W, C)
                            float *y);                                                  // (n, OH, OW, C)
void avgpool2d_backward_cuda(const layer *l, const nn_ctx *ctx, int n, const float *dy, float *dx);
void globalavgpool_forward_cuda(const layer *l, const nn_ctx *ctx, int n, const float *x,  // (n, H, W, C)
                                float *y);                                                 // (n, C)
void globalavgpool_backward_cuda(const layer *l, const nn_ctx *ctx, int n, const float *dy, float *dx);

// --- activation_cuda.cu: the activations (layers/activation.c's act_forward / act_backward)
// y (n) = act(x) (y may be x; softmax over rows of c); dy (n) <- dL/dz from y, in place.
void act_forward_cuda(const nn_ctx *ctx, act_kind a, size_t n, int c, const float *x, float *y);
void act_backward_cuda(const nn_ctx *ctx, act_kind a, size_t n, int c, const float *y, float *dy);
// Softmax over the first c columns of each of `rows` rows of length ld (y may be x), and its
// gradient in place: dy <- y (dy - sum(dy y)) row by row.
void softmax_rows_cuda(const nn_ctx *ctx, long rows, int c, int ld, const float *x, float *y);
void softmax_grad_rows_cuda(const nn_ctx *ctx, long rows, int c, int ld, const float *y, float *dy);
// Leaky ReLU with slope alpha (y may be x; dx may be dy).
void leaky_relu_cuda(const nn_ctx *ctx, size_t n, float alpha, const float *x, float *y);
void leaky_relu_grad_cuda(const nn_ctx *ctx, size_t n, float alpha, const float *y,
                          const float *dy, float *dx);

// --- loss_cuda.cu: fused sigmoid + binary cross-entropy + gradient + accuracy, and the same
// for softmax + categorical cross-entropy
// z, y (n) logits and labels; dz (n) = (sigmoid(z) - y) / grad_n when non-NULL (grad_n: n, or a
// data-parallel step's global batch). The mean loss goes to loss[step] and the number right to
// correct[step] (either may be NULL).
void bce_logits_cuda(const nn_ctx *ctx, int n, int grad_n, const float *z, const float *y,
                     float *dz, float *loss, int *correct, const int *step);
// Categorical cross-entropy + gradient + accuracy, fused: z (n, c) logits, y (n) class indices
// (floats); dz (n, c) = (softmax(z) - onehot(y)) / grad_n when non-NULL; the mean loss to
// loss[step], the number whose largest logit is at their label to correct[step]. A label that
// is no index 0 .. c-1 gives a NaN loss, as on the C path (nn/loss.h).
void cce_logits_cuda(const nn_ctx *ctx, int n, int c, int grad_n, const float *z, const float *y,
                     float *dz, float *loss, int *correct, const int *step);
// The binary head fused: for the last layer dense(in -> 1) on h (n, in): logits z (n, may be
// NULL), the loss and right count into loss[step] / correct[step], dh (n, in) = dz w^T from the
// weights before the update, the bias gradient into *db (may be NULL), and w's dW = h^T dz
// straight into Adam (w, m, v: in floats each). One block: for n up to a few hundred.
void head_train_cuda(const nn_ctx *ctx, int n, int in, const float *h, const float *labels,
                     float *w, const float *bias, float *m, float *v, float *z, float *dh,
                     float *db, float *loss, int *correct, const adam_cfg *opt,
                     const float *alpha, const int *step);
// Probabilities out (n) = sigmoid(z) (for prediction from logits).
void sigmoid_cuda(const nn_ctx *ctx, int n, const float *z, float *out);

// --- adam_cuda.cu: one kernel over the whole parameter arena, Keras's formula (nn/adam.h).
// alpha: device array of step sizes, alpha[step] used (computed on the host by adam_alpha so the
// two paths take the same step).
void adam_step_cuda(const nn_ctx *ctx, const adam_cfg *c, const float *alpha, const int *step,
                    size_t n, float *w, const float *g, float *m, float *v);
// The same over parts of the arena only: nr ranges [off[i], off[i] + len[i]) (at most
// ADAM_MAX_RANGES), for the parameters whose update was not fused into their gradient.
#define ADAM_MAX_RANGES 16
void adam_ranges_cuda(const nn_ctx *ctx, const adam_cfg *c, const float *alpha, const int *step,
                      int nr, const size_t *off, const size_t *len, float *w, const float *g,
                      float *m, float *v);

// --- train_cuda.cu
// Adds one to *step (the last node of a captured step).
void step_advance_cuda(const nn_ctx *ctx, int *step);

#ifdef __cplusplus
}
#endif

#endif
