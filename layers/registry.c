// registry.c: the table from layer kind (and cfg keyword) to the layer's functions.
#include <string.h>

#include "layer.h"

extern const layer_ops conv2d_ops, maxpool2d_ops, flatten_ops, dense_ops, activation_ops;

static const layer_ops *const table[LAYER_KIND_COUNT] = {
    [LAYER_CONV2D] = &conv2d_ops,   [LAYER_MAXPOOL2D] = &maxpool2d_ops,
    [LAYER_FLATTEN] = &flatten_ops, [LAYER_DENSE] = &dense_ops,
    [LAYER_ACTIVATION] = &activation_ops,
};

const layer_ops *layer_ops_of(layer_kind kind) { return table[kind]; }

const layer_ops *layer_ops_by_type(const char *type) {
    for (int k = 0; k < LAYER_KIND_COUNT; k++)
        if (!strcmp(table[k]->type, type)) return table[k];
    return NULL;
}

const char *act_name(act_kind a) {
    return a == ACT_RELU ? "relu" : a == ACT_SIGMOID ? "sigmoid" : "linear";
}

int act_parse(const char *s, act_kind *a) {
    if (!strcmp(s, "linear")) *a = ACT_LINEAR;
    else if (!strcmp(s, "relu")) *a = ACT_RELU;
    else if (!strcmp(s, "sigmoid")) *a = ACT_SIGMOID;
    else return -1;
    return 0;
}
