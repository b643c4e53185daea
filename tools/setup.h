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
// The same on GPU `device` (a data-parallel rank's own: tools/train_dist.h).
int setup_device_at(const char *want, int device, int threads, nn_ctx *ctx, FILE *say,
                    const char *prefix, char *err);

// The model takes (H, W, 3) images and ends in one sigmoid unit. `name` (a file) heads the
// error, which names the layer and both shapes.
int setup_check_binary(const model *m, const char *name, char *err);
// For a model read from a file (predict, evaluate, train --resume): setup_check_binary, and
// every weight finite (model_check_finite): a model that diverged is refused in one line naming
// the file, the layers and their counts of NaN or infinite values, rather than answering from
// broken weights. (Not for a model just built from a cfg: its arena is untouched zeros, which
// nn_calloc gets from the kernel, so reading it would only cost page faults.)
int setup_check_loaded(const model *m, const char *name, char *err);

// Same layers, options and shapes. The error names the first layer that differs and shows
// both versions, e.g. "layer 4 'dense': kernel (30752, 128) in A but (30752, 64) in B".
int setup_same_architecture(const model *a, const char *aname, const model *b, const char *bname,
                            char *err);

// Lists a labelled folder (one subfolder per class; Kaggle's flat cat.1.jpg layout also works),
// with a clear error when DIR is missing or not a folder.
int setup_open_folder(dataset *d, const char *dir, char *err);
// Exactly two classes, each with at least one image, or an error naming the folder and what was
// found: a two-class model cannot learn a class it never sees (Keras's flow_from_directory counts
// an empty class folder as a class and trains on; nn train refuses). For training data.
int setup_check_classes(const dataset *d, const char *dir, char *err);
// Exactly two classes; an empty one is left to setup_check_decoded (nn evaluate: evaluating on
// one class is a fair question, so there it is a warning).
int setup_check_class_count(const dataset *d, const char *dir, char *err);
// After decoding: every class of d kept at least one readable image in c. A class left with none
// (its folder empty, or all its files unreadable) is an error naming its folder when warn is
// NULL; otherwise a warning line on warn, after `prefix` ("nn evaluate: "), and 0.
int setup_check_decoded(const image_cache *c, const dataset *d, FILE *warn, const char *prefix,
                        char *err);

// Where a resumed run starts within its epoch, for `batch` images a step: *first gets the step
// a mid-epoch checkpoint had reached (0 when it was saved at an epoch end). A checkpoint saved
// mid-epoch at another batch size is refused: its step counts other batches, and no step of the
// new size begins where it stopped ("FILE was saved mid-epoch (epoch 2, step 5) at batch 32;
// resume with --batch 32, or from a checkpoint saved at an epoch end"). An epoch-end checkpoint
// resumes at any batch size: the next epoch starts afresh. `steps` is the epoch's step count at
// this batch size, or 0 before the data are counted (then only the batch is checked). Files
// that do not record their batch (m->batch 0: Keras's, older nn's) take Adam's count minus the
// whole epochs, as nn did before.
int setup_resume_step(const model *m, const char *path, int batch, int steps, int *first, char *err);

// Class i's name as saved (the folder name): the model's own, else "class0"/"class1".
const char *setup_class_name(const model *m, int i);
// Class i's label for printing: its name in the singular when the folders are plural (cats,
// dogs -> cat, dog; the article prints `Prediction = dog`), control characters shown as '?'.
// The final 's' is dropped only when every class name ends in one that reads as a plural (not
// 'ss', 'us', 'is': glass, bus, iris keep theirs, and then so do the others). Returns buf.
const char *setup_class_label(const model *m, int i, char *buf, size_t len);

// Parameter shapes as Keras prints them: "(3, 3, 3, 32)" for a conv kernel, "(30752, 128)".
void setup_fmt_kernel(const layer *l, char *buf, size_t len);
void setup_fmt_shape(shape3 s, char *buf, size_t len);

#endif
