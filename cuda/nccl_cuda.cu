// nccl_cuda.cu: the gradient all-reduce of data-parallel training on GPUs (nn/dist.h): NCCL,
// one GPU a rank. The model's device mirror gets the step walk's gradient hook (nn/step.h):
// as the backward pass goes down the layers, each node's finished gradients join a bucket,
// and a bucket of at least NN_NCCL_BUCKET_KB (default 4096 KB) is summed at once on a second
// stream, beside the backward pass of the layers below (the article's CNN: the 15.7 MB dense
// kernel, the first finished, is summed while the conv's backward runs); the step's Adam waits
// for the last bucket. Everything is queued on streams, so the step is still captured as one
// CUDA graph (NCCL's kernels are captured with the rest) and replayed every step.
// NN_NCCL_OVERLAP=0 sums the whole arena once after the backward pass, on the main stream.
//
// NCCL is loaded at run time (dlopen, NN_NCCL_LIB or libnccl.so.2 on the library path and
// the CUDA install's lib64): nn does not link the 200 MB library, which only data-parallel
// training needs. The ranks meet through MPI (rank 0's ncclUniqueId broadcast); one process
// with NN_NCCL=1 makes a communicator of one (ncclCommInitRank in process, no MPI) so that the
// all-reduce's cost can be measured on one GPU and a 1-rank run checked against the plain one;
// NN_NCCL=plan gives the data-parallel plan and hook without NCCL (nothing summed), to tell the
// plan's cost (the dense layers' Adam no longer fused) from the all-reduce's (bench/nccl_overhead.sh).
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_cuda.h"

extern "C" {
#include "../nn/cuda_api.h"
#include "../nn/dist.h"
}

#if NN_HAVE_NCCL
#include <nccl.h>
#endif

static int plan_only(void) {
    const char *e = getenv("NN_NCCL");
    return e && !strcmp(e, "plan");
}

int cuda_nccl_wanted(const nn_ctx *ctx) {
    const char *e = getenv("NN_NCCL");
    return (ctx->dist && ctx->dist->size > 1) || (e && (!strcmp(e, "1") || plan_only()));
}

#if NN_HAVE_NCCL

// --- the library

struct nccl_api {
    ncclResult_t (*get_unique_id)(ncclUniqueId *);
    ncclResult_t (*comm_init_rank)(ncclComm_t *, int, ncclUniqueId, int);
    ncclResult_t (*all_reduce)(const void *, void *, size_t, ncclDataType_t, ncclRedOp_t, ncclComm_t, cudaStream_t);
    ncclResult_t (*comm_destroy)(ncclComm_t);
    ncclResult_t (*get_version)(int *);
    const char *(*error_string)(ncclResult_t);
};

struct cuda_nccl {
    nccl_api api;
    void *lib;
    ncclComm_t comm;
    int rank, size, version;
};

#define NCCL_CHECK(nc, call)                                                                   \
    do {                                                                                       \
        ncclResult_t r_ = (call);                                                              \
        if (r_ != ncclSuccess)                                                                 \
            nn_die(__FILE__, __LINE__, "NCCL: %s failed: %s", #call, (nc)->api.error_string(r_)); \
    } while (0)

static void *load_lib(char *tried, size_t len) {
    const char *names[] = {getenv("NN_NCCL_LIB"), "libnccl.so.2", "/usr/local/cuda/lib64/libnccl.so.2"};
    size_t o = 0;
    for (const char *name : names) {
        if (!name || !*name) continue;
        void *h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
        if (h) return h;
        o += snprintf(tried + o, o < len ? len - o : 0, "%s%s", o ? "; " : "", dlerror());
        if (o >= len) o = len - 1;
    }
    return NULL;
}

template <typename F> static void bind(void *lib, F *fn, const char *name) {
    *fn = (F)dlsym(lib, name);
    if (!*fn) NN_DIE("NCCL: %s not found in the library loaded (too old an NCCL?)", name);
}

// The context's communicator over the ranks, made on first use: a collective call, which
// every rank makes at the same point (its model's device mirror is made).
static cuda_nccl *comm_of(const nn_ctx *ctx) {
    nn_cuda *c = ctx->cuda;
    if (c->nccl) return c->nccl;
    char tried[1024] = "";
    void *lib = load_lib(tried, sizeof tried);
    if (!lib)
        NN_DIE("NCCL (the all-reduce between GPUs) cannot be loaded: %s. Set NN_NCCL_LIB to libnccl.so.2 "
               "(the CUDA install's lib64, or pip's nvidia-nccl-cu13: nvidia/nccl/lib)", tried);
    cuda_nccl *nc = (cuda_nccl *)nn_calloc(sizeof *nc, "NCCL communicator");
    nc->lib = lib;
    bind(lib, &nc->api.error_string, "ncclGetErrorString");
    bind(lib, &nc->api.get_unique_id, "ncclGetUniqueId");
    bind(lib, &nc->api.comm_init_rank, "ncclCommInitRank");
    bind(lib, &nc->api.all_reduce, "ncclAllReduce");
    bind(lib, &nc->api.comm_destroy, "ncclCommDestroy");
    bind(lib, &nc->api.get_version, "ncclGetVersion");
    NCCL_CHECK(nc, nc->api.get_version(&nc->version));
    nc->rank = ctx->dist ? ctx->dist->rank : 0;
    nc->size = ctx->dist ? ctx->dist->size : 1;
    ncclUniqueId id;
    memset(&id, 0, sizeof id);
    if (nc->rank == 0) NCCL_CHECK(nc, nc->api.get_unique_id(&id));
    dist_bcast(ctx->dist, &id, sizeof id);   // a no-op for one process
    CUDA_CHECK(cudaSetDevice(c->device));
    NCCL_CHECK(nc, nc->api.comm_init_rank(&nc->comm, nc->size, id, nc->rank));
    c->nccl = nc;
    return nc;
}

void cuda_nccl_free(nn_cuda *c) {
    if (!c || !c->nccl) return;
    cuda_nccl *nc = c->nccl;
    NCCL_CHECK(nc, nc->api.comm_destroy(nc->comm));
    // The library stays loaded: NCCL's own threads may outlive the communicator briefly.
    nn_free(nc);
    c->nccl = NULL;
}

// --- the gradient hook

struct cuda_allreduce {
    cuda_nccl *nc;
    cudaStream_t stream;   // the buckets are summed here, beside the backward pass
    cudaEvent_t fork, join;
    int overlap;           // NN_NCCL_OVERLAP (default 1): buckets during the backward pass
    size_t bucket;         // floats a bucket holds before it is sent
    // within one step: [lo, sent) waits in the bucket, [sent, hi) has been sent
    int have, aside;       // a span was given; work was queued on `stream` this step
    size_t lo, sent, hi;
};

// Sums g[off, off + count) over the ranks: on the side stream after what the main stream has
// queued so far (aside), or on the main stream itself.
static void sum_span(cuda_allreduce *a, const nn_ctx *ctx, float *g, size_t off, size_t count, int aside) {
    if (!count || !a->nc) return;   // NN_NCCL=plan: the plan without the sums
    cudaStream_t s = ctx_stream(ctx);
    if (aside) {
        CUDA_CHECK(cudaEventRecord(a->fork, s));
        CUDA_CHECK(cudaStreamWaitEvent(a->stream, a->fork, 0));
        s = a->stream;
        a->aside = 1;
    }
    NCCL_CHECK(a->nc, a->nc->api.all_reduce(g + off, g + off, count, ncclFloat32, ncclSum, a->nc->comm, s));
}

// A node's gradients are final: they join the bucket, which is sent once it is big enough.
static void hook_ready(void *user, const nn_ctx *ctx, float *g, size_t off, size_t count) {
    cuda_allreduce *a = (cuda_allreduce *)user;
    if (!a->have) {
        a->have = 1;
        a->lo = off, a->sent = a->hi = off + count;
    } else if (off + count == a->lo) {
        a->lo = off;
    } else {
        return;   // not the span below the last (no plan does this): left to the end
    }
    if (a->sent - a->lo >= a->bucket) {
        sum_span(a, ctx, g, a->lo, a->sent - a->lo, 1);
        a->sent = a->lo;
    }
}

// After the backward pass: what is left (the last bucket, anything ready was not given), then
// the main stream waits for the side stream's sums before Adam reads them.
static void hook_reduce(void *user, const nn_ctx *ctx, float *g, size_t count) {
    cuda_allreduce *a = (cuda_allreduce *)user;
    if (!a->have) {
        sum_span(a, ctx, g, 0, count, a->overlap);
    } else {
        sum_span(a, ctx, g, a->lo, a->sent - a->lo, 1);
        sum_span(a, ctx, g, 0, a->lo, 1);
        if (a->hi < count) sum_span(a, ctx, g, a->hi, count - a->hi, 1);
    }
    if (a->aside) {
        CUDA_CHECK(cudaEventRecord(a->join, a->stream));
        CUDA_CHECK(cudaStreamWaitEvent(ctx_stream(ctx), a->join, 0));
    }
    a->have = a->aside = 0;
}

static size_t env_size(const char *name, size_t dflt) {
    const char *e = getenv(name);
    return e && *e ? (size_t)strtoull(e, NULL, 10) : dflt;
}

void cuda_allreduce_attach(cuda_model *d, const nn_ctx *ctx) {
    cuda_allreduce *a = (cuda_allreduce *)nn_calloc(sizeof *a, "gradient all-reduce");
    a->nc = plan_only() && !(ctx->dist && ctx->dist->size > 1) ? NULL : comm_of(ctx);
    // Every rank must cut the same buckets (NCCL pairs the ranks' calls one for one): rank 0's
    // settings go to all.
    long long knobs[2] = {env_size("NN_NCCL_OVERLAP", 1) != 0,
                          (long long)(NN_MAX(env_size("NN_NCCL_BUCKET_KB", 4096), (size_t)1) * 1024 / sizeof(float))};
    dist_bcast(ctx->dist, knobs, sizeof knobs);
    a->overlap = (int)knobs[0];
    a->bucket = (size_t)knobs[1];
    int lo = 0, hi = 0;   // the side stream at the highest priority: its sums are on the step's path
    CUDA_CHECK(cudaDeviceGetStreamPriorityRange(&lo, &hi));
    CUDA_CHECK(cudaStreamCreateWithPriority(&a->stream, cudaStreamNonBlocking, hi));
    CUDA_CHECK(cudaEventCreateWithFlags(&a->fork, cudaEventDisableTiming));
    CUDA_CHECK(cudaEventCreateWithFlags(&a->join, cudaEventDisableTiming));
    d->ar = a;
    d->r.grad.reduce = hook_reduce;
    d->r.grad.ready = a->overlap ? hook_ready : NULL;
    d->r.grad.user = a;
}

void cuda_allreduce_free(cuda_model *d) {
    cuda_allreduce *a = d->ar;
    if (!a) return;
    CUDA_CHECK(cudaStreamDestroy(a->stream));
    CUDA_CHECK(cudaEventDestroy(a->fork));
    CUDA_CHECK(cudaEventDestroy(a->join));
    nn_free(a);
    d->ar = NULL;
    d->r.grad = step_grad_hook{};
}

#else   // built without nccl.h

void cuda_nccl_free(nn_cuda *c) { (void)c; }

void cuda_allreduce_attach(cuda_model *d, const nn_ctx *ctx) {
    (void)d, (void)ctx;
    NN_DIE("data-parallel training on GPUs needs NCCL, and this nn was built without it (nccl.h was "
           "not found in the CUDA install's include folder)");
}

void cuda_allreduce_free(cuda_model *d) { (void)d; }

#endif
