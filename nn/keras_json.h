// keras_json.h: Keras's model_config and training_config JSON <-> an nn model. The .h5 reader
// and writer (nn/h5.c) store these strings as root attributes; keeping the JSON here keeps h5.c
// about HDF5 alone. Written JSON is what Keras 3's legacy `model.save("x.h5")` writes for the
// same Sequential model, in the forms that tf.keras 2.15 reads too (keras_json.c lists the
// differences); read JSON may come from Keras 3, Keras 2 (tf.keras) or older Keras 2.
#ifndef NN_KERAS_JSON_H
#define NN_KERAS_JSON_H

#include "model.h"

// The model's architecture as model_config JSON (Keras 3's, readable by tf.keras 2.15 too). Free with nn_free.
char *keras_model_config_json(const model *m);
// training_config: Adam with opt's settings (zero lr: Keras's defaults), binary cross-entropy,
// accuracy. Free with nn_free.
char *keras_training_config_json(const adam_cfg *opt);

// Builds the model from model_config JSON: model_init, model_add per layer (Keras names kept),
// model_finalize. On error the model is left freed and err names the layer and the problem.
int keras_model_from_config(model *m, const char *json, char *err);
// Reads the optimizer from training_config JSON: *is_adam is 1 for Adam, whose settings go into
// *opt (missing ones keep Keras's defaults); 0 for another optimizer (opt untouched).
int keras_training_from_config(const char *json, adam_cfg *opt, int *is_adam, char *err);

// The shortest decimal that reads back as the same float, as a double (0.9f -> 0.9), so JSON
// holds 0.9 rather than 0.8999999761581421 and still round-trips exactly.
double keras_float_repr(float f);

#endif
