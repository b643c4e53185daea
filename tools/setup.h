// setup.h: what train, predict and evaluate all do before running a model: pick the device
// (--device auto|cpu|cuda), check that a model can classify RGB photos (two classes, or N through
// a softmax) and that a folder has the classes it tells apart, and compare two models'
// architectures layer by layer, naming the first difference.
#ifndef NN_SETUP_H
#define NN_SETUP_H

#include <stdio.h>

#include "../data/data.h"
#include "../nn/ctx.h"
#include "../nn/h5.h"
#include "../nn/model.h"

// Parses --device's value ("auto", "cpu", "cuda") and --threads into ctx. auto takes the GPU
// when cuda_probe finds one that works. When `say` is non-NULL prints "Using GPU: NAME" or
// "Using CPU: reason" there, after `prefix`. Returns 0, or -1 with err (cuda asked for and
// none usable, or an unknown device name).
int setup_device(const char *want, int threads, nn_ctx *ctx, FILE *say, const char *prefix, char *err);
// The same on GPU `device` (a data-parallel rank's own: tools/train_dist.h).
int setup_device_at(const char *want, int device, int threads, nn_ctx *ctx, FILE *say,
                    const char *prefix, char *err);

// The model takes (H, W, 3) images and ends in one sigmoid unit (two classes) or in a softmax
// over N outputs, 2 <= N <= MODEL_MAX_CLASSES (N classes): what model_loss_kind trains. `name`
// (a file) heads the error, which names the layer and both shapes.
int setup_check_classifier(const model *m, const char *name, char *err);
// For a model read from a file (predict, evaluate, train --resume): setup_check_classifier, and
// every weight finite (model_check_finite): a model that diverged is refused in one line naming
// the file, the layers and their counts of NaN or infinite values, rather than answering from
// broken weights. (Not for a model just built from a cfg: its arena is untouched zeros, which
// nn_calloc gets from the kernel, so reading it would only cost page faults.)
int setup_check_loaded(const model *m, const char *name, char *err);

// The model nn predict, evaluate and summary run (train's --weights too): MODEL.h5 alone
// (weights_path NULL), or the layers of model_path (a cfg, or a model file whose own weights are
// then replaced) with the weights of weights_path, a Keras weights-only file (save_weights) or
// another model file (model_load_weights_h5: the layers must match, by name for Keras 3's
// files, by order for the legacy ones; the error names the layer and both shapes). Adam's
// moments are not read (H5_LOAD_WEIGHTS_ONLY); info (may be NULL) as model_load_h5_opts gives it.
// A weights-only file given as the model alone is refused saying how to give the layers.
int setup_load_model(model *m, const char *model_path, const char *weights_path, h5_info *info, char *err);
// Whether path is an HDF5 file (its signature at offset 0, 512, 1024, ...).
int setup_is_hdf5(const char *path);

// Same layers, options and shapes. The error names the first layer that differs and shows
// both versions, e.g. "layer 4 'dense': kernel (30752, 128) in A but (30752, 64) in B".
int setup_same_architecture(const model *a, const char *aname, const model *b, const char *bname,
                            char *err);

// Lists a labelled folder (one subfolder per class; Kaggle's flat cat.1.jpg layout also works),
// with a clear error when DIR is missing or not a folder.
int setup_open_folder(dataset *d, const char *dir, char *err);
// Exactly as many classes as the model tells apart (model_classes: two for a sigmoid unit, N for
// a softmax over N; Keras's class_mode 'binary' and 'categorical'), each with at least one
// image, or an error naming the folder and what was found (and, for a softmax, the classes found
// and the model's N): a model cannot learn a class it never sees (Keras's flow_from_directory
// counts an empty class folder as a class and trains on; nn train refuses). For training data.
int setup_check_classes(const dataset *d, const char *dir, const model *m, char *err);
// The class count alone; an empty class is left to setup_check_decoded (nn evaluate: evaluating
// on fewer classes is a fair question, so there it is a warning).
int setup_check_class_count(const dataset *d, const char *dir, const model *m, char *err);
// 0 when the model's saved class names are d's (or it has none, or another count); 1 when they
// differ, with a line in `line` (NN_ERRLEN) naming both lists and how the folders are taken.
int setup_same_classes(const model *m, const char *mname, const dataset *d, const char *dir, char *line);
// "a, b, c": n names joined into buf (cut at len). Returns buf.
const char *setup_join_names(char *buf, size_t len, char *const *names, int n);
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
// that do not record their batch: older nn's (m->batch 0) take Adam's count minus the whole
// epochs, as nn did before, when that falls inside an epoch; Keras's own files
// (m->epoch_unknown: no epochs, no batch size, only Adam's count, which counts steps of
// another run's batch size and data) start at epoch 1, step 0: nothing to guess from.
int setup_resume_step(const model *m, const char *path, int batch, int steps, int *first, char *err);
// The line `nn train --resume` prints: the epoch and step it starts at (from setup_resume_step's
// *first), and for a file that does not record its batch size, why it starts where it does:
// "Resuming k.h5 (written by Keras, Adam at step 6; Keras records no epochs or batch size):
// epochs count from this run, epoch 1 starts at its first step." Never "the data differ": a
// file that records nothing cannot tell.
void setup_resume_line(const model *m, const char *path, int batch, int steps, int first, char *line,
                       size_t len);

// Class i's name as saved (the folder name): the model's own, else "class0", "class1", ...
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
