// setup.h: what train, predict and evaluate all do before running a model: pick the device
// (--device auto|cpu|cuda), check that a model can classify RGB photos into two classes, and
// compare two models' architectures layer by layer, naming the first difference.
#ifndef NN_SETUP_H
#define NN_SETUP_H

#include <stdio.h>

#include "../data/data.h"
#include "../nn/ctx.h"
#include "../nn/model.h"

// Parses --device's value ("auto", "cpu", "cuda") and --threads into ctx. auto takes the GPU
// when cuda_probe finds one that works. When `say` is non-NULL prints "Using GPU: NAME" or
// "Using CPU: reason" there, after `prefix`. Returns 0, or -1 with err (cuda asked for and
// none usable, or an unknown device name).
int setup_device(const char *want, int threads, nn_ctx *ctx, FILE *say, const char *prefix, char *err);

// The model takes (H, W, 3) images and ends in one sigmoid unit. `name` (a file) heads the
// error, which names the layer and both shapes.
int setup_check_binary(const model *m, const char *name, char *err);

// Same layers, options and shapes. The error names the first layer that differs and shows
// both versions, e.g. "layer 4 'dense': kernel (30752, 128) in A but (30752, 64) in B".
int setup_same_architecture(const model *a, const char *aname, const model *b, const char *bname,
                            char *err);

// Lists a labelled folder (one subfolder per class; Kaggle's flat cat.1.jpg layout also works),
// with a clear error when DIR is missing or not a folder.
int setup_open_folder(dataset *d, const char *dir, char *err);
// Exactly two classes, or an error naming the folder and what was found.
int setup_check_classes(const dataset *d, const char *dir, char *err);

// Class i's name for printing: the model's own, else "class0"/"class1".
const char *setup_class_name(const model *m, int i);

// Parameter shapes as Keras prints them: "(3, 3, 3, 32)" for a conv kernel, "(30752, 128)".
void setup_fmt_kernel(const layer *l, char *buf, size_t len);
void setup_fmt_shape(shape3 s, char *buf, size_t len);

#endif
