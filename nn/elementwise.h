// elementwise.h: the engine's elementwise tensor op. out[i] = op(a[i], b[i]) over n elements;
// unary ops ignore b. The activation layers, the relu/sigmoid/tanh inside conv2d and dense, and the
// array-addition demo all run through this one function, on the C path (OpenMP) or, when
// ctx->backend is NN_CUDA, through its CUDA twin ew_apply_cuda (pointers are then device
// pointers).
#ifndef NN_ELEMENTWISE_H
#define NN_ELEMENTWISE_H

#include <stddef.h>

#include "ctx.h"

typedef enum {
    EW_ADD, EW_SUB, EW_MUL,      // binary
    EW_RELU, EW_SIGMOID,         // unary: out = relu(a), sigmoid(a)
    EW_RELU_GRAD,                // out = b * (a > 0)        (a = relu output, b = upstream grad)
    EW_SIGMOID_GRAD,             // out = b * a * (1 - a)    (a = sigmoid output)
    EW_TANH,                     // unary: out = tanh(a)
    EW_TANH_GRAD,                // out = b * (1 - a * a)    (a = tanh output)
    EW_OP_COUNT
} ew_op;

typedef enum { DT_F32 = 0, DT_I32 } nn_dtype;

// Returns -1 for an op that a dtype does not support (activations on int32).
int ew_apply(const nn_ctx *ctx, ew_op op, nn_dtype dt, size_t n, const void *a, const void *b,
             void *out);
int ew_apply_cuda(const nn_ctx *ctx, ew_op op, nn_dtype dt, size_t n, const void *a,
                  const void *b, void *out);
const char *ew_op_name(ew_op op);

#endif
