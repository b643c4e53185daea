// ctx.h: the explicit context every operation receives. No hidden globals: which backend runs,
// on which device and stream, with how many threads and from which seed, is all written here.
#ifndef NN_CTX_H
#define NN_CTX_H

#include <stddef.h>
#include <stdint.h>

typedef enum { NN_CPU = 0, NN_CUDA = 1 } nn_backend;

struct nn_cuda;  // device state (cuda/), opaque to the C path
struct dist;     // the ranks of a data-parallel run (nn/dist.h)

typedef struct nn_ctx {
    nn_backend backend;
    int device;             // CUDA device index
    void *stream;           // cudaStream_t when backend == NN_CUDA
    int threads;            // OpenMP threads for the C path; 0 = all cores
    uint64_t seed;          // seeds weight init, shuffling, augmentation
    int verbose;
    struct nn_cuda *cuda;   // NULL on the C path
    const struct dist *dist;  // the ranks training together (nn/dist.h); NULL: this process alone
} nn_ctx;

// A context for the C path with defaults (all cores, seed 1).
nn_ctx nn_ctx_cpu(void);
// Gives back what the context holds (a GPU context's stream and state); free the models made
// on it first. The context is then the C path's.
void nn_ctx_free(nn_ctx *ctx);
// "cuda (NVIDIA H200)", "cpu (2 threads, sgemm avx2+fma)".
void nn_ctx_describe(const nn_ctx *ctx, char *buf, size_t len);

#endif
