// cuda_stub.c: linked instead of cuda/ when the build has no CUDA. It lets the one binary say
// why the GPU path is missing, instead of failing to link or crashing.
#include <stdio.h>

#include "common.h"
#include "cuda_api.h"
#include "elementwise.h"
#include "../layers/layer.h"
#include "../layers/registry.h"

// Every layer's CUDA slot exists and is empty: layer_impl_for reports the missing path.
#define EMPTY_CUDA_SLOT(KIND, type) const layer_impl type##_cuda = {0};
LAYER_LIST(EMPTY_CUDA_SLOT)

#define NO_CUDA_MSG "this nn was built without CUDA (nvcc was not found, or NO_CUDA=1)"

int cuda_probe(int device, char *name, size_t namelen, char *why) {
    (void)device;
    if (name && namelen) name[0] = 0;
    return nn_fail(why, NO_CUDA_MSG), 0;
}

int cuda_ctx_init(nn_ctx *ctx, int device, char *err) {
    (void)ctx;
    (void)device;
    return nn_fail(err, NO_CUDA_MSG);
}

void cuda_ctx_free(nn_ctx *ctx) { (void)ctx; }

int cuda_model_upload(struct model *m, const nn_ctx *ctx, int batch, char *err) {
    (void)m, (void)ctx, (void)batch;
    return nn_fail(err, NO_CUDA_MSG);
}

void cuda_model_download(struct model *m) { (void)m; }
void cuda_model_free(struct model *m) { (void)m; }

const float *cuda_model_forward(struct model *m, const nn_ctx *ctx, int n, const float *x,
                                int logits) {
    (void)m, (void)ctx, (void)n, (void)x, (void)logits;
    NN_DIE(NO_CUDA_MSG);
}

float cuda_model_train_step(struct model *m, const nn_ctx *ctx, int n, const float *x,
                            const float *labels, const adam_cfg *opt, int *correct) {
    (void)m, (void)ctx, (void)n, (void)x, (void)labels, (void)opt, (void)correct;
    NN_DIE(NO_CUDA_MSG);
}

void cuda_model_predict(struct model *m, const nn_ctx *ctx, int n, const float *x, float *out) {
    (void)m, (void)ctx, (void)n, (void)x, (void)out;
    NN_DIE(NO_CUDA_MSG);
}

int ew_apply_cuda(const nn_ctx *ctx, ew_op op, nn_dtype dt, size_t n, const void *a,
                  const void *b, void *out) {
    (void)ctx, (void)op, (void)dt, (void)n, (void)a, (void)b, (void)out;
    NN_DIE(NO_CUDA_MSG);
}

// --- the demos' and gpuinfo's entry points (cuda/gridmap_cuda.cu, gpuinfo_cuda.cu, demo_cuda.cu)

int grid_map_cuda(const nn_ctx *ctx, grid_fn fn, int width, int height, const grid_params *p,
                  int32_t *out, char *err) {
    (void)ctx, (void)fn, (void)width, (void)height, (void)p, (void)out;
    return nn_fail(err, NO_CUDA_MSG);
}

int cuda_device_count(int *count, char *why) {
    if (count) *count = 0;
    return nn_fail(why, NO_CUDA_MSG);
}

int cuda_device_query(int device, cuda_device_info *info, char *err) {
    (void)device, (void)info;
    return nn_fail(err, NO_CUDA_MSG);
}

void cuda_versions(int *driver, int *runtime) {
    if (driver) *driver = 0;
    if (runtime) *runtime = 0;
}

int cuda_demo_add(const nn_ctx *ctx, size_t n, const int32_t *a, const int32_t *b, int32_t *out,
                  int reps, cuda_demo_times *t, char *err) {
    (void)ctx, (void)n, (void)a, (void)b, (void)out, (void)reps, (void)t;
    return nn_fail(err, NO_CUDA_MSG);
}

int cuda_demo_grid(const nn_ctx *ctx, grid_fn fn, int width, int height, const grid_params *p,
                   int32_t *out, int reps, cuda_demo_times *t, char *err) {
    (void)ctx, (void)fn, (void)width, (void)height, (void)p, (void)out, (void)reps, (void)t;
    return nn_fail(err, NO_CUDA_MSG);
}

int cuda_model_train_source(struct model *m, const nn_ctx *ctx, const cuda_batch_source *src,
                            int count, int batch, int grad_n, const adam_cfg *opt,
                            float *step_loss, int *step_correct, char *err) {
    (void)m, (void)ctx, (void)src, (void)count, (void)batch, (void)grad_n, (void)opt,
        (void)step_loss, (void)step_correct;
    return nn_fail(err, NO_CUDA_MSG);
}

int cuda_model_logits_source(struct model *m, const nn_ctx *ctx, const cuda_batch_source *src,
                             int count, int batch, float *logits, char *err) {
    (void)m, (void)ctx, (void)src, (void)count, (void)batch, (void)logits;
    return nn_fail(err, NO_CUDA_MSG);
}

int cuda_bench_train(struct model *m, const nn_ctx *ctx, int batch, int warmup, int iters,
                     int graph, double *ms_median, double *ms_p10, double *ms_p90, char *err) {
    (void)m, (void)ctx, (void)batch, (void)warmup, (void)iters, (void)graph, (void)ms_median,
        (void)ms_p10, (void)ms_p90;
    return nn_fail(err, NO_CUDA_MSG);
}

int cuda_bench_predict(struct model *m, const nn_ctx *ctx, int batch, int warmup, int iters,
                       double *ms_median, double *ms_p10, double *ms_p90, char *err) {
    (void)m, (void)ctx, (void)batch, (void)warmup, (void)iters, (void)ms_median, (void)ms_p10,
        (void)ms_p90;
    return nn_fail(err, NO_CUDA_MSG);
}
