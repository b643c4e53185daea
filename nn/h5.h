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

#endif
