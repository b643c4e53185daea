// cuda_api.h: everything the C side calls in cuda/. When the project is built without nvcc
// (or with NO_CUDA=1), nn/cuda_stub.c provides these instead: cuda_probe says why no GPU can be
// used, and the rest are never reached because no context gets NN_CUDA.
#ifndef NN_CUDA_API_H
#define NN_CUDA_API_H

#include <stddef.h>

#include "adam.h"
#include "ctx.h"
#include "gridmap.h"

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

// --- device queries (cuda/gpuinfo_cuda.cu): what `nn gpuinfo` prints --------------------------
typedef struct cuda_device_info {
    char name[256];
    int major, minor;             // compute capability
    int sm_count, cores_per_sm;   // cores_per_sm 0 when the architecture is not in the table
    size_t mem_total, mem_free;   // bytes
    int clock_khz, mem_clock_khz; // peak SM and memory clocks
    int bus_width_bits;
    double peak_bw_gbs;           // theoretical: 2 transfers a clock * memory clock * bus width
    size_t l2_bytes;
    int pci_domain, pci_bus, pci_device;
    int ecc;                      // 1 when ECC is on
} cuda_device_info;

// The number of CUDA devices; -1 with the reason in why (no driver, no device, built without
// CUDA). Never dies: `nn gpuinfo` must say "no GPU" on any machine.
int cuda_device_count(int *count, char *why);
int cuda_device_query(int device, cuda_device_info *info, char *err);
// CUDA versions as 1000*major + 10*minor; driver 0 when no driver is installed, runtime 0 when
// the build has no CUDA.
void cuda_versions(int *driver, int *runtime);

// --- timed device runs for `nn demo` and its tests (cuda/demo_cuda.cu) -------------------------
// Each uploads the inputs, runs the engine op (ew_apply / grid_map) on ctx's stream and
// downloads the result. With reps > 0 it also times the op with CUDA events after 3 warm-up runs:
// op_ms is the median of reps single launches, each between its own pair of events; op_burst_ms
// is one launch's share of reps launches back to back between two events (no launch gaps);
// total_ms is one upload + op + download by the host clock.
typedef struct {
    double op_ms, op_burst_ms, total_ms;
    double copy_ms;   // cuda_demo_add only: median device-to-device copy of one n-int32 array
} cuda_demo_times;

int cuda_demo_add(const nn_ctx *ctx, size_t n, const int32_t *a, const int32_t *b, int32_t *out,
                  int reps, cuda_demo_times *t, char *err);
// out: (height, width) host buffer
int cuda_demo_grid(const nn_ctx *ctx, grid_fn fn, int width, int height, const grid_params *p,
                   int32_t *out, int reps, cuda_demo_times *t, char *err);

#endif
