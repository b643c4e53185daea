// elementwise_cuda.cu: the CUDA twin of nn/elementwise.c (ew_apply), for every op of
// nn/elementwise.h on float32 and int32.
// defines: ew_apply_cuda
//
// The op is memory-bound (one pass, 8 to 12 bytes per element, one arithmetic op), so its speed
// is how close it gets to the card's copy bandwidth. What gets it there:
//  - 16-byte loads and stores (float4 / int4) when the three pointers are 16-byte aligned,
//    which every nn_alloc'd and cudaMalloc'd buffer is; a scalar loop otherwise and for the tail;
//  - a grid-stride loop over exactly as many blocks as the device holds at once (asked of the
//    occupancy calculator once per kernel), unrolled so that each thread has several
//    independent loads in flight;
//  - streaming cache hints (ld.global.cs / st.global.cs) when the arrays are larger than L2, so
//    a vector read once does not evict what other kernels keep there; small tensors (a layer's
//    activations, read again by the next layer) use ordinary loads.
// The op is a template argument, so each kernel is a straight-line body with no switch.
#include <type_traits>

#include "cuda_common.h"

extern "C" {
#include "../nn/elementwise.h"
}

#define EW_THREADS 256
#define EW_UNROLL 4

template <int OP> struct ew_is_unary { static const bool value = OP == EW_RELU || OP == EW_SIGMOID || OP == EW_TANH; };

// One element. int32 arithmetic goes through uint32 so that overflow wraps, as on the C path.
template <int OP, typename T> __device__ __forceinline__ T ew_one(T x, T y) {
    if constexpr (std::is_same<T, float>::value) {
        if constexpr (OP == EW_ADD) return x + y;
        else if constexpr (OP == EW_SUB) return x - y;
        else if constexpr (OP == EW_MUL) return x * y;
        else if constexpr (OP == EW_RELU) return x > 0.0f ? x : 0.0f;
        else if constexpr (OP == EW_SIGMOID) return 1.0f / (1.0f + expf(-x));
        else if constexpr (OP == EW_RELU_GRAD) return x > 0.0f ? y : 0.0f;
        else if constexpr (OP == EW_SIGMOID_GRAD) return y * x * (1.0f - x);
        else if constexpr (OP == EW_TANH) return tanhf(x);
        else return y * (1.0f - __fmul_rn(x, x));   // EW_TANH_GRAD; no FMA: as the C path rounds
    } else {
        uint32_t u = (uint32_t)x, v = (uint32_t)y;
        if constexpr (OP == EW_ADD) return (T)(u + v);
        else if constexpr (OP == EW_SUB) return (T)(u - v);
        else return (T)(u * v);   // EW_MUL
    }
}

template <typename T> struct vec4_of;
template <> struct vec4_of<float> { typedef float4 type; };
template <> struct vec4_of<int32_t> { typedef int4 type; };

template <bool STREAM, typename V> __device__ __forceinline__ V ew_load(const V *p) {
    if constexpr (STREAM) return __ldcs(p);
    else return *p;
}
template <bool STREAM, typename V> __device__ __forceinline__ void ew_store(V *p, V v) {
    if constexpr (STREAM) __stcs(p, v);
    else *p = v;
}

template <int OP, typename T, typename V> __device__ __forceinline__ V ew_four(V x, V y) {
    V r;
    r.x = ew_one<OP, T>(x.x, y.x);
    r.y = ew_one<OP, T>(x.y, y.y);
    r.z = ew_one<OP, T>(x.z, y.z);
    r.w = ew_one<OP, T>(x.w, y.w);
    return r;
}

// a, b, o: (n,). vec != 0 promises 16-byte alignment of all three. b is never read by the
// unary ops (it may be NULL). o may equal a or b: each element is read before it is written, by
// the same thread, so the pointers are deliberately not __restrict__.
template <int OP, typename T, bool STREAM>
__global__ void __launch_bounds__(EW_THREADS)
ew_kernel(size_t n, const T *a, const T *b, T *o, int vec) {
    typedef typename vec4_of<T>::type V;
    const bool unary = ew_is_unary<OP>::value;
    const size_t tid = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    const size_t stride = (size_t)gridDim.x * blockDim.x;
    size_t done = 0;
    if (vec) {
        const size_t nv = n / 4;
        const V *av = (const V *)a, *bv = (const V *)b;
        V *ov = (V *)o;
        // EW_UNROLL independent loads of each input before any store: more bytes in flight.
        for (size_t base = tid; base < nv; base += stride * EW_UNROLL) {
            V x[EW_UNROLL], y[EW_UNROLL];
#pragma unroll
            for (int k = 0; k < EW_UNROLL; k++) {
                size_t i = base + k * stride;
                if (i < nv) {
                    x[k] = ew_load<STREAM>(av + i);
                    y[k] = unary ? x[k] : ew_load<STREAM>(bv + i);
                }
            }
#pragma unroll
            for (int k = 0; k < EW_UNROLL; k++) {
                size_t i = base + k * stride;
                if (i < nv) ew_store<STREAM>(ov + i, ew_four<OP, T, V>(x[k], y[k]));
            }
        }
        done = nv * 4;
    }
    for (size_t i = done + tid; i < n; i += stride) o[i] = ew_one<OP, T>(a[i], unary ? a[i] : b[i]);
}

// The number of multiprocessors, from the context when it has it (no driver call per launch).
static int ew_sm_count(const nn_ctx *ctx) {
    if (ctx && ctx->cuda && ctx->cuda->sm_count > 0) return ctx->cuda->sm_count;
    int dev = 0, sms = 0;
    CUDA_CHECK(cudaGetDevice(&dev));
    CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
    return sms > 0 ? sms : 1;
}

static size_t ew_l2_bytes(const nn_ctx *ctx) {
    if (ctx && ctx->cuda && ctx->cuda->l2_bytes > 0) return ctx->cuda->l2_bytes;
    int dev = 0, l2 = 0;
    CUDA_CHECK(cudaGetDevice(&dev));
    CUDA_CHECK(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, dev));
    return (size_t)l2;
}

template <typename K> static int ew_blocks_per_sm(K kernel) {
    int per_sm = 0;
    CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, EW_THREADS, 0));
    return per_sm > 0 ? per_sm : 1;
}

// Enough blocks for the work, at most as many as the device holds at once: a grid-stride loop
// over resident blocks has no second wave and no tail of half-empty multiprocessors.
static unsigned ew_blocks(const nn_ctx *ctx, size_t work, int per_sm) {
    size_t blocks = (work + EW_THREADS - 1) / EW_THREADS;
    const size_t full = (size_t)ew_sm_count(ctx) * per_sm;
    return (unsigned)(blocks < full ? (blocks ? blocks : 1) : full);
}

template <int OP, typename T>
static void ew_launch(const nn_ctx *ctx, size_t n, const T *a, const T *b, T *o) {
    const bool unary = ew_is_unary<OP>::value;
    const int vec = ((uintptr_t)a % 16 == 0) && ((uintptr_t)o % 16 == 0) &&
                    (unary || (uintptr_t)b % 16 == 0);
    const size_t work = vec ? n / 4 + n % 4 : n;
    const size_t bytes = n * sizeof(T) * (unary ? 2 : 3);
    cudaStream_t s = ctx_stream(ctx);
    if (bytes > ew_l2_bytes(ctx)) {
        static int per_sm = 0;   // resident blocks per SM, asked once per kernel
        if (!per_sm) per_sm = ew_blocks_per_sm(ew_kernel<OP, T, true>);
        ew_kernel<OP, T, true><<<ew_blocks(ctx, work, per_sm), EW_THREADS, 0, s>>>(n, a, b, o, vec);
    } else {
        static int per_sm = 0;
        if (!per_sm) per_sm = ew_blocks_per_sm(ew_kernel<OP, T, false>);
        ew_kernel<OP, T, false><<<ew_blocks(ctx, work, per_sm), EW_THREADS, 0, s>>>(n, a, b, o, vec);
    }
    CUDA_CHECK_LAUNCH();
}

// Same contract as ew_apply: a, b and out are device pointers; runs on ctx's stream without
// synchronising. Returns -1 for an op the dtype does not support (activations on int32).
extern "C" int ew_apply_cuda(const nn_ctx *ctx, ew_op op, nn_dtype dt, size_t n, const void *a,
                             const void *b, void *out) {
    if (op < 0 || op >= EW_OP_COUNT) return -1;
    if (dt == DT_I32 && op != EW_ADD && op != EW_SUB && op != EW_MUL) return -1;
    if (dt != DT_F32 && dt != DT_I32) return -1;
    if (n == 0) return 0;
    if (dt == DT_I32) {
        const int32_t *x = (const int32_t *)a, *y = (const int32_t *)b;
        int32_t *o = (int32_t *)out;
        switch (op) {
        case EW_ADD: ew_launch<EW_ADD>(ctx, n, x, y, o); break;
        case EW_SUB: ew_launch<EW_SUB>(ctx, n, x, y, o); break;
        default: ew_launch<EW_MUL>(ctx, n, x, y, o); break;
        }
        return 0;
    }
    const float *x = (const float *)a, *y = (const float *)b;
    float *o = (float *)out;
    switch (op) {
    case EW_ADD: ew_launch<EW_ADD>(ctx, n, x, y, o); break;
    case EW_SUB: ew_launch<EW_SUB>(ctx, n, x, y, o); break;
    case EW_MUL: ew_launch<EW_MUL>(ctx, n, x, y, o); break;
    case EW_RELU: ew_launch<EW_RELU>(ctx, n, x, y, o); break;
    case EW_SIGMOID: ew_launch<EW_SIGMOID>(ctx, n, x, y, o); break;
    case EW_RELU_GRAD: ew_launch<EW_RELU_GRAD>(ctx, n, x, y, o); break;
    case EW_SIGMOID_GRAD: ew_launch<EW_SIGMOID_GRAD>(ctx, n, x, y, o); break;
    case EW_TANH: ew_launch<EW_TANH>(ctx, n, x, y, o); break;
    default: ew_launch<EW_TANH_GRAD>(ctx, n, x, y, o); break;
    }
    return 0;
}
