// layer.h: what every layer is. A layer is a small struct of options and derived shapes, plus a
// short table of functions (setup, forward, backward). Parameters are not owned by the layer:
// they are views (offset, size) into the model's arenas (see nn/model.h), so that zeroing
// gradients is one memset and Adam is one pass.
//
// Shapes are per sample, Keras's NHWC: a batch of activations is (N, H, W, C) floats, row-major.
// Flatten and dense outputs are (N, 1, 1, C). Conv kernels are HWIO (KH, KW, Cin, Cout) and dense
// kernels (in, out): exactly Keras's layouts, so weights move to and from .h5 files unpermuted.
#ifndef NN_LAYER_H
#define NN_LAYER_H

#include <stddef.h>
#include <stdint.h>

#include "../nn/ctx.h"

typedef enum { ACT_LINEAR = 0, ACT_RELU, ACT_SIGMOID } act_kind;
typedef enum { LAYER_CONV2D = 0, LAYER_MAXPOOL2D, LAYER_FLATTEN, LAYER_DENSE, LAYER_ACTIVATION,
               LAYER_KIND_COUNT } layer_kind;
typedef enum { PAD_VALID = 0, PAD_SAME } pad_kind;

// flat: a vector (Keras prints (None, c)); otherwise an image (None, h, w, c).
typedef struct shape3 { int h, w, c, flat; } shape3;

static inline size_t shape3_size(shape3 s) { return (size_t)s.h * s.w * s.c; }

// What a model may ask for (layer setup and model_finalize check them): a cfg or a model file
// beyond them gets an error line rather than an attempt at terabytes, and every per-sample
// count stays far inside an int. The article's CNN has 3.9M parameters and 128K-float outputs.
#define LAYER_MAX_PARAMS (1u << 28)       // weights of one model: 1 GiB per arena
#define LAYER_MAX_ACTIVATION (1u << 28)   // floats of one sample at the input or any output

typedef struct layer {
    layer_kind kind;
    char name[64];          // Keras's name: conv2d, max_pooling2d, flatten, dense, dense_1, ...
    // options (filled from a cfg line or a Keras model_config)
    act_kind act;           // conv2d, dense, activation
    int filters;            // conv2d
    int units;              // dense
    int kh, kw;             // conv2d kernel or maxpool2d window
    int sh, sw;             // strides (maxpool2d: Keras's default is the window)
    pad_kind padding;       // conv2d, maxpool2d
    int use_bias;           // conv2d, dense (Keras default: 1)
    // derived by setup()
    shape3 in, out;
    int pad_top, pad_left;  // 'same' padding as TensorFlow places it: the odd pixel goes bottom/right
    size_t woff, wsize;     // kernel: offset and count in the model's arenas
    size_t boff, bsize;     // bias: offset and count (bsize 0 when use_bias is 0)
    size_t aux_per_sample;  // int32 scratch a forward pass keeps for backward (maxpool's argmax)
} layer;

// The table of functions of a layer type.
//  forward:  x (N, in) -> y (N, out), activation `act` applied (the model passes ACT_LINEAR for
//            the last sigmoid when training, so the loss sees logits); w points at this layer's
//            kernel inside the weight arena (bias at w + (boff - woff)); aux may be NULL if
//            aux_per_sample is 0; scratch holds scratch_floats(l, N) floats.
//  backward: dy (N, out) is the gradient of the loss w.r.t. y and is overwritten (it becomes the
//            gradient w.r.t. the pre-activation); writes dx (N, in) when dx != NULL and the
//            parameter gradients (overwritten, not accumulated) into dw (same layout as w).
typedef struct layer_ops {
    const char *type;         // cfg keyword: "conv2d"
    const char *keras_class;  // "Conv2D"
    const char *keras_prefix; // default Keras layer name: "conv2d", "max_pooling2d"
    int (*setup)(layer *l, shape3 in, char *err);
    size_t (*scratch_floats)(const layer *l, int n);   // NULL when none is needed
    void (*forward)(const layer *l, const nn_ctx *ctx, int n, const float *x, const float *w,
                    float *y, int32_t *aux, act_kind act, float *scratch);
    void (*backward)(const layer *l, const nn_ctx *ctx, int n, const float *x, const float *w,
                     const float *y, float *dy, float *dx, float *dw, const int32_t *aux,
                     act_kind act, float *scratch);
} layer_ops;

const layer_ops *layer_ops_of(layer_kind kind);
const layer_ops *layer_ops_by_type(const char *type);   // NULL when unknown
const char *act_name(act_kind a);                      // "linear", "relu", "sigmoid"
int act_parse(const char *s, act_kind *a);              // 0 ok, -1 unknown

// Activations in place and their gradients (used by conv2d, dense and the activation layer;
// built on the engine's elementwise op, nn/elementwise.h).
void act_forward(act_kind a, size_t n, float *z);                   // z <- act(z)
void act_backward(act_kind a, size_t n, const float *y, float *dy); // dy <- dy * act'(given y)

#endif
