// h5.h: models as Keras's legacy .h5 files (DESIGN.md, "HDF5 file"), both directions.
#ifndef NN_H5_H
#define NN_H5_H

#include "model.h"

// Writes the model (architecture as Keras's model_config JSON, weights, Adam's state and
// iteration count, epoch, class names) to path through a temporary file and a rename, so a
// crash never leaves a half-written file where a good one was.
int model_save_h5(const model *m, const char *path, char *err);
// Reads a model written by nn or by Keras 2/3 (Sequential of the layer types nn knows).
// The model is built, finalized and filled; Adam's state when present.
int model_load_h5(model *m, const char *path, char *err);

// What model_load_h5_opts may leave out.
#define H5_LOAD_WEIGHTS_ONLY 1u   // Adam's moments are not read (m, v stay zero); the iteration
                                  // count, epoch, settings and class names still are
typedef struct h5_info {
    int adam_state;               // the file holds Adam's state (moments for every weight)
} h5_info;
// model_load_h5 with flags (H5_LOAD_*); info (may be NULL) says what the file holds.
int model_load_h5_opts(model *m, const char *path, unsigned flags, h5_info *info, char *err);

// Weights from a weights-only file (Keras 3's model.save_weights("x.weights.h5"), tf.keras 2's
// save_weights("x.h5")) or a whole model file's weights, into m, a finalized model whose layers
// came from `layers_from` (a cfg: named in errors). Keras 3's files are matched by layer name,
// the legacy lists by order, as Keras matches them; every shape must be the model's (the error
// names the layer and both shapes). Adam's state, epochs and class names are not read: m keeps
// none (t, epoch 0). 0, or -1 with one line in err and m untouched.
int model_load_weights_h5(model *m, const char *path, const char *layers_from, char *err);

#endif
