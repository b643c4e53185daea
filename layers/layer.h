// layer.h: what every layer is, and the one table that says everything about a layer kind.
//
// A layer is a small struct of options and derived shapes. Its parameters are not owned by the
// layer: they are views (offset, size) into the model's arenas (nn/model.h), so that zeroing
// gradients is one memset and Adam is one pass. Everything the rest of the engine knows about a
// kind of layer comes from its layer_ops entry (registered once, in layers/registry.h):
//   - its cfg keyword and options, and how each option is called in Keras's layer config
//     (layer_opt: nn/cfg.c and nn/keras_json.c read and write through this table alone);
//   - its Keras class and default name prefix;
//   - its parameter tensors and their Keras names and shapes (setup fills l->params), and how
//     Keras initialises them (init);
//   - the FLOPs and bytes each pass must do (for the profiler's roofline);
//   - its C forward and backward (the reference) and its CUDA twins (the same signatures on
//     device pointers, defined in cuda/<type>_cuda.cu; NULL slots in a build without CUDA).
//
// Shapes are per sample, Keras's NHWC: a batch of activations is (N, H, W, C) floats, row-major.
// Flatten and dense outputs are (N, 1, 1, C). Conv kernels are HWIO (KH, KW, Cin, Cout) and dense
// kernels (in, out): exactly Keras's layouts, so weights move to and from .h5 files unpermuted.
#ifndef NN_LAYER_H
#define NN_LAYER_H

#include <stddef.h>
#include <stdint.h>

#include "../nn/ctx.h"
#include "../nn/rng.h"

// softmax is over the last axis (channels); the others are elementwise. leaky_relu is Keras's
// activation='leaky_relu' (Keras 3 and tf.keras 2 both give it slope 0.2 below zero; the
// leakyrelu layer has its own slope).
typedef enum { ACT_LINEAR = 0, ACT_RELU, ACT_SIGMOID, ACT_TANH, ACT_SOFTMAX, ACT_LEAKY_RELU } act_kind;
#define ACT_LEAKY_RELU_SLOPE 0.2f
typedef enum { PAD_VALID = 0, PAD_SAME } pad_kind;

// The layer kinds, in registration order (layers/registry.h holds the list).
#include "registry.h"
typedef enum {
#define LAYER_KIND(KIND, type) LAYER_##KIND,
    LAYER_LIST(LAYER_KIND)
#undef LAYER_KIND
    LAYER_KIND_COUNT
} layer_kind;

// flat: a vector (Keras prints (None, c)); otherwise an image (None, h, w, c).
typedef struct shape3 { int h, w, c, flat; } shape3;

static inline size_t shape3_size(shape3 s) { return (size_t)s.h * s.w * s.c; }

// What a model may ask for (layer setup and model_finalize check them): a cfg or a model file
// beyond them gets an error line rather than an attempt at terabytes, and every per-sample
// count stays far inside an int. The article's CNN has 3.9M parameters and 128K-float outputs.
#define LAYER_MAX_PARAMS (1u << 28)       // weights of one model: 1 GiB per arena
#define LAYER_MAX_ACTIVATION (1u << 28)   // floats of one sample at the input or any output

// One parameter tensor of a layer: its Keras name ("kernel", "bias"), where it sits in the
// arenas (filled by model_finalize), its size and Keras shape (filled by setup).
#define LAYER_MAX_TENSORS 4
typedef struct layer_param {
    const char *name;
    size_t off, size;
    int rank;
    int dims[4];
    int fixed;          // not trained (no gradient, not in Adam's state): a moving statistic
} layer_param;

typedef struct layer {
    layer_kind kind;
    char name[64];          // Keras's name: conv2d, max_pooling2d, flatten, dense, dense_1, ...
    // options (filled from a cfg line or a Keras model_config through the kind's layer_opt table)
    act_kind act;           // conv2d, dense, activation
    int filters;            // conv2d
    int units;              // dense
    int kh, kw;             // conv2d kernel or maxpool2d window
    int sh, sw;             // strides (0: the layer's default, set by setup)
    pad_kind padding;       // conv2d, maxpool2d
    int use_bias;           // conv2d, dense (Keras default: 1)
    float rate;             // dropout: the fraction of inputs zeroed while training
    float momentum, epsilon;// batchnorm (Keras: 0.99, 1e-3)
    int axis;               // batchnorm: Keras's axis as read (setup accepts the channels only)
    float alpha;            // leaky ReLU's slope below zero
    // derived by setup()
    shape3 in, out;
    int pad_top, pad_left;  // 'same' padding as TensorFlow places it: the odd pixel goes bottom/right
    int ntensors;           // parameter tensors, in Keras's weight order
    layer_param params[LAYER_MAX_TENSORS];
    size_t woff, wsize;     // the first tensor (the kernel): offset and count in the arenas
    size_t boff, bsize;     // the second (the bias): offset and count (bsize 0: none)
    size_t aux_per_sample;  // int32 values a forward pass keeps per sample for backward (argmax;
                            // batchnorm keeps its batch statistics as floats in the first sample's)
} layer;

// Parameters of one layer in all: what its views cover in the arenas.
static inline size_t layer_nparams(const layer *l) {
    size_t s = 0;
    for (int i = 0; i < l->ntensors; i++) s += l->params[i].size;
    return s;
}

// --- a pass ----------------------------------------------------------------------------------

typedef enum { PROF_FORWARD = 0, PROF_BWD_INPUT, PROF_BWD_WEIGHTS } prof_pass;

// Everything one pass of a layer reads and writes: host pointers on the C path, device pointers
// on the CUDA path. w is the layer's first parameter inside the weight arena (arena + l->woff:
// the bias is at w + (l->boff - l->woff)); dw the same place in the gradient arena.
typedef struct layer_io {
    int n;                  // samples
    const float *x;         // (n, in)
    float *y;               // (n, out)
    const float *w;         // parameters (NULL when the layer has none)
    int32_t *aux;           // (n, aux_per_sample) kept by forward for backward (may be NULL)
    act_kind act;           // the activation this pass applies (the model passes ACT_LINEAR for
                            // the last sigmoid when training: the loss works from logits)
    int training;           // 1 in a training step (dropout drops, batchnorm uses batch statistics)
    uint64_t seed;          // the run's seed mixed with the layer's index (dropout's masks)
    long t;                 // the training step this pass belongs to (m->t, already counted)
    int sample0;            // the first sample's position in the step's global batch: a
                            // data-parallel rank's offset (0 otherwise), so that anything drawn
                            // per sample (dropout's mask) does not depend on the number of ranks
    // CUDA only: a captured step is replayed for many steps with its launch arguments frozen, so a
    // kernel that needs t reads t_dev[*step_dev] (cuda/model_cuda.h); NULL: t above is current.
    const int *step_dev;
    const int64_t *t_dev;
    // backward only
    float *dy;              // (n, out) dL/dy; overwritten (it becomes the pre-activation gradient)
    float *dx;              // (n, in) dL/dx, written when not NULL (NULL for the first layer)
    float *dw;              // parameter gradients, overwritten (not accumulated)
    float *ws;              // scratch of ws_floats floats (the impl's scratch() asks for it)
    size_t ws_floats;
} layer_io;

// One backend's functions of a layer kind.
//  scratch:  floats of scratch a pass over n samples needs (NULL: none)
//  forward:  x -> y with the activation io->act applied
//  backward: dy -> dx (when io->dx), dw; dy is overwritten
typedef struct layer_impl {
    size_t (*scratch)(const layer *l, const nn_ctx *ctx, int n);
    void (*forward)(const layer *l, const nn_ctx *ctx, const layer_io *io);
    void (*backward)(const layer *l, const nn_ctx *ctx, const layer_io *io);
} layer_impl;

// --- options ---------------------------------------------------------------------------------

// How a cfg option and its Keras config key map onto a field of struct layer.
typedef enum {
    OPT_INT,     // a positive int (lo..hi)
    OPT_DIMS,    // "N" or "HxW" in a cfg, N or [H, W] in Keras: two consecutive ints at off
    OPT_PAD,     // valid | same
    OPT_ACT,     // an activation name
    OPT_BOOL,    // true | false (cfg also 1 | 0)
    OPT_FLOAT,   // a float field (flo..fhi, fdef before any option is read)
    OPT_FIXED,   // Keras only: a key nn writes as `json` and, when `check`, requires on reading
} opt_type;

typedef struct layer_opt {
    const char *cfg;     // key on a cfg line (NULL: not settable from a cfg)
    const char *keras;   // key in Keras's layer config (NULL: not in Keras's config)
    const char *keras_old;// another key an older Keras wrote for it (read when `keras` is absent,
                          // never written): tf.keras 2's LeakyReLU "alpha"
    opt_type type;
    size_t off;          // offsetof(layer, field); unused for OPT_FIXED
    int def;             // value before any option is read (OPT_DIMS: both ints; 0 = setup's default)
    int lo, hi;          // OPT_INT range
    int required;        // a cfg line must give it (a Keras config must hold it)
    const char *json;    // OPT_FIXED: the JSON value Keras writes
    int check;           // OPT_FIXED: reading refuses another value (else the key is ignored)
    double fdef, flo, fhi;// OPT_FLOAT: default and range (inclusive)
} layer_opt;

// --- the table entry -------------------------------------------------------------------------

typedef struct layer_ops {
    const char *type;           // cfg keyword: "conv2d"
    const char *keras_class;    // "Conv2D"
    const char *keras_alias;    // another class name Keras has used for it (NULL: none)
    const char *keras_prefix;   // default Keras layer name: "conv2d", "max_pooling2d"
    const layer_opt *opts;      // ends with an entry whose cfg and keras are both NULL
    int alias;                  // 1: the output IS the input's memory (flatten): no pass runs
    int grad_in_place;          // 1: backward may write dx over dy (elementwise: activation)
    // Shapes, parameter tensors (sizes and Keras shapes; the model assigns offsets) and scratch.
    int (*setup)(layer *l, shape3 in, char *err);
    // Keras's initial values of the layer's parameters (w = arena + woff); NULL: none.
    void (*init)(const layer *l, float *w, rng *r);
    // What a pass must do at least, counted from the shapes (nn/profile.h's rules).
    double (*flops)(const layer *l, prof_pass p, int n, act_kind act);
    double (*bytes)(const layer *l, prof_pass p, int n, act_kind act);
    layer_impl c;               // the C path
    const layer_impl *cuda;     // the CUDA twin: cuda/<type>_cuda.cu (all NULL without CUDA)
} layer_ops;

const layer_ops *layer_ops_of(layer_kind kind);
const layer_ops *layer_ops_by_type(const char *type);          // NULL when unknown
const layer_ops *layer_ops_by_keras(const char *keras_class);  // NULL when unknown
// "conv2d, maxpool2d, ..." and "Conv2D, MaxPooling2D, ..." for error messages.
const char *layer_type_list(void);
const char *layer_keras_list(void);
// A layer of kind k with every option at its default (names empty).
void layer_defaults(layer *l, layer_kind k);
// The layer's impl on ctx's backend; NULL when that backend has none.
const layer_impl *layer_impl_for(const layer *l, const nn_ctx *ctx);

// Parameter tensors: setup calls layer_add_param for each, in Keras's weight order.
void layer_add_param(layer *l, const char *name, int rank, const int *dims);
// Clears what setup derives, runs the kind's setup on input shape `in`, and sets wsize/bsize
// from the first two tensors (offsets stay 0 until model_finalize places them). 0 or -1 + err.
int layer_setup(layer *l, shape3 in, char *err);

// Keras 3's serialized initializers, as the layers' option tables write them.
#define KERAS_GLOROT                                                                          \
    "{\"module\": \"keras.initializers\", \"class_name\": \"GlorotUniform\", \"config\": " \
    "{\"seed\": null}, \"registered_name\": null}"
#define KERAS_ZEROS                                                                           \
    "{\"module\": \"keras.initializers\", \"class_name\": \"Zeros\", \"config\": {}, "    \
    "\"registered_name\": null}"


const char *act_name(act_kind a);                      // "linear", "relu", "sigmoid", ...
int act_parse(const char *s, act_kind *a);              // 0 ok, -1 unknown
const char *act_list(void);                            // "linear, relu, sigmoid, tanh, softmax"

// Activations in place and their gradients (used by conv2d, dense and the activation layer;
// the elementwise ones are built on the engine's elementwise op, nn/elementwise.h). n values
// as rows of c (the channels): softmax works row by row, the others ignore c.
void act_forward(act_kind a, size_t n, int c, float *z);                   // z <- act(z)
void act_backward(act_kind a, size_t n, int c, const float *y, float *dy); // dy <- dL/dz given y
// Leaky ReLU with slope alpha below zero (the leakyrelu layer, and ACT_LEAKY_RELU with 0.2):
// y = x > 0 ? x : alpha x; dx = dy where y > 0, alpha dy elsewhere (TensorFlow's gradient at 0).
// y may be x, dx may be dy.
void leaky_relu_forward(size_t n, float alpha, const float *x, float *y);
void leaky_relu_backward(size_t n, float alpha, const float *y, const float *dy, float *dx);
// FLOPs of activation a over `elems` values in pass p (nn/profile.h's rules: one per operation).
double act_flops(act_kind a, prof_pass p, double elems);

// Keras's Glorot-uniform: uniform in +-sqrt(6 / (fan_in + fan_out)), drawn in order.
void layer_glorot(float *k, size_t count, double fan_in, double fan_out, rng *r);

// A pooling window's geometry (maxpool2d, avgpool2d): strides default to the pool (Keras),
// 'valid' rounds down, 'same' pads as TensorFlow does; sets l->in, l->out and the padding.
// `type` names the kind in errors. 0, or -1 with err.
int layer_pool_setup(layer *l, shape3 in, const char *type, char *err);

// The shared counting rules of a layer with a product (conv2d, dense): x, W (+ b), y / dy, dx.
double layer_bytes_product(const layer *l, prof_pass p, int n, act_kind act);

#endif
