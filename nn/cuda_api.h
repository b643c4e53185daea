// cuda_api.h: everything the C side calls in cuda/. When the project is built without nvcc
// (or with NO_CUDA=1), nn/cuda_stub.c provides these instead: cuda_probe says why no GPU can be
// used, and the rest are never reached because no context gets NN_CUDA.
#ifndef NN_CUDA_API_H
#define NN_CUDA_API_H

#include <stddef.h>

#include "adam.h"
#include "ctx.h"

struct model;

// 1 when a usable GPU is present (and fills name); 0 with the reason in why (NN_ERRLEN).
int cuda_probe(int device, char *name, size_t namelen, char *why);
// Selects the device, creates the stream; sets ctx->backend = NN_CUDA on success.
int cuda_ctx_init(nn_ctx *ctx, int device, char *err);
void cuda_ctx_free(nn_ctx *ctx);

// The model's device mirror: arenas and activations for `batch` samples, allocated once.
int cuda_model_upload(struct model *m, const nn_ctx *ctx, int batch, char *err);
void cuda_model_download(struct model *m, const nn_ctx *ctx);   // weights, Adam state, t
void cuda_model_free(struct model *m);

// Same contracts as model_forward / model_train_step / model_predict; x and labels are host
// pointers (uploaded inside), results are returned on the host.
const float *cuda_model_forward(struct model *m, const nn_ctx *ctx, int n, const float *x,
                                int logits);
float cuda_model_train_step(struct model *m, const nn_ctx *ctx, int n, const float *x,
                            const float *labels, const adam_cfg *opt, int *correct);
void cuda_model_predict(struct model *m, const nn_ctx *ctx, int n, const float *x, float *out);

#endif
