// cuda_api.h: everything the C side calls in cuda/. When the project is built without nvcc
// (or with NO_CUDA=1), nn/cuda_stub.c provides these instead: cuda_probe says why no GPU can be
// used, and the rest are never reached because no context gets NN_CUDA.
#ifndef NN_CUDA_API_H
#define NN_CUDA_API_H

#include <stddef.h>
#include <stdint.h>

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
void cuda_model_download(struct model *m);   // weights, Adam state (model_sync calls it)
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

// --- whole epochs on the device, from a batch source (cuda/train_cuda.cu)
// The engine trains from batches it does not make: a batch source writes each step's inputs
// into the model's device batch (data/images_cuda.cu's gathers and augments images already on
// the GPU; run/train_gpu.c trains from it). fill queues, on ctx's stream, the kernels that write
// samples [0, n) of step *step (n <= batch): inputs x (n, the model's input size) and labels
// y (n), device pointers. It is called inside a CUDA graph capture, and the graph is replayed
// for every full batch of a call: fill must read which step it is from *step (device memory: 0
// at the call's first step, one more after each), never from a host value, and must not
// synchronise. key stands for what a captured fill reads (the source's device buffers, its
// options): the engine captures again when fill, user or key differ from its graph's, so a
// source gives a key it never gave before whenever those change.
typedef struct cuda_batch_source {
    void (*fill)(void *user, const nn_ctx *ctx, const int *step, int batch, int n, float *x,
                 float *y);
    void *user;
    uint64_t key;
} cuda_batch_source;

// Trains `count` samples of src in steps of `batch` (the last may be partial): forward, loss,
// backward and Adam on one stream, the full-batch steps replayed from one captured CUDA graph,
// with no host synchronisation until the last step. Whatever per-step data the source reads
// (its order, its augmentation) must be on the device, queued on ctx's stream, before the call.
// step_loss / step_correct (host, ceil(count/batch) entries each, may be NULL) get each step's
// mean loss and number right: Keras's running means follow from them. m->t advances by the
// number of steps. Returns the number of steps, or -1 with err.
// Data-parallel (grad_n > 0): every step's gradient is divided by grad_n (the global batch the
// step is part of) instead of the step's own size, and summed over the ranks by the NCCL
// all-reduce before Adam (cuda/nccl_cuda.cu; the model's device mirror joins the ranks'
// communicator when it is made: ctx->dist of several ranks, or NN_NCCL=1 for one). grad_n 0:
// each step's own size. With grad_n > 0 and count 0 this rank has no sample in the step (a last
// batch smaller than the number of ranks): one step is still run, its gradient zero, so that
// the all-reduce and Adam stay in step with the other ranks.
int cuda_model_train_source(struct model *m, const nn_ctx *ctx, const cuda_batch_source *src,
                            int count, int batch, int grad_n, const adam_cfg *opt,
                            float *step_loss, int *step_correct, char *err);

// Logits (count, model outputs; host) of `count` samples of src, `batch` at a time (no
// training). Returns 0, or -1 with err.
int cuda_model_logits_source(struct model *m, const nn_ctx *ctx, const cuda_batch_source *src,
                             int count, int batch, float *logits, char *err);

// --- timing (for `nn bench --device cuda`)
// Times training steps of `batch` random inputs already on the device, as the PyTorch yardstick
// does: `warmup` untimed steps, then `iters` steps each timed with CUDA events; graph = 1 replays
// one captured CUDA graph per step, 0 launches the kernels one by one. Writes the median and the
// 10th and 90th percentiles in milliseconds. Returns 0, or -1 with err.
int cuda_bench_train(struct model *m, const nn_ctx *ctx, int batch, int warmup, int iters,
                     int graph, double *ms_median, double *ms_p10, double *ms_p90, char *err);
// The same for the forward pass alone (probabilities), e.g. batch 1 for prediction latency.
int cuda_bench_predict(struct model *m, const nn_ctx *ctx, int batch, int warmup, int iters,
                       double *ms_median, double *ms_p10, double *ms_p90, char *err);

#endif
