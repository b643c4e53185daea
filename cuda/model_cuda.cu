// model_cuda.cu: the model's device mirror (arenas, activations) and the whole training step.
// (Skeleton: the entry points exist so the CUDA build links; filled in by the CUDA backend work.)
#include "cuda_common.h"

extern "C" {
#include "../nn/cuda_api.h"
#include "../nn/model.h"
}

extern "C" int cuda_model_upload(struct model *m, const nn_ctx *ctx, int batch, char *err) {
    (void)m, (void)ctx, (void)batch;
    return nn_fail(err, "the CUDA model path is not written yet");
}

extern "C" void cuda_model_download(struct model *m, const nn_ctx *ctx) { (void)m, (void)ctx; }
extern "C" void cuda_model_free(struct model *m) { (void)m; }

extern "C" const float *cuda_model_forward(struct model *m, const nn_ctx *ctx, int n,
                                           const float *x, int logits) {
    (void)m, (void)ctx, (void)n, (void)x, (void)logits;
    NN_DIE("cuda_model_forward: not yet");
}

extern "C" float cuda_model_train_step(struct model *m, const nn_ctx *ctx, int n, const float *x,
                                       const float *labels, const adam_cfg *opt, int *correct) {
    (void)m, (void)ctx, (void)n, (void)x, (void)labels, (void)opt, (void)correct;
    NN_DIE("cuda_model_train_step: not yet");
}

extern "C" void cuda_model_predict(struct model *m, const nn_ctx *ctx, int n, const float *x,
                                   float *out) {
    (void)m, (void)ctx, (void)n, (void)x, (void)out;
    NN_DIE("cuda_model_predict: not yet");
}
