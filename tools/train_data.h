// train_data.h: the training and validation images of `nn train`, loaded as its options say
// (tools/cmd_train.c's --data, --val, --val-split, --labels-from-names, --cache, --synthetic,
// --write-synthetic). Every "Found N images" line goes through the caller's `say`.
#ifndef NN_TRAIN_DATA_H
#define NN_TRAIN_DATA_H

#include "../data/data.h"
#include "../nn/model.h"

typedef struct train_data {
    int synthetic;
    int nclasses;
    char *classes[MODEL_MAX_CLASSES];
    image_cache train, val;
    int have_val;
} train_data;

typedef struct train_data_opts {
    const char *data, *val, *cache, *write_synthetic;   // NULL: not given
    double val_split;   // 0: none
    int synthetic_n;    // training images of the synthetic set (without data)
    int flat;           // Kaggle's flat folders (cat.1.jpg)
    int threads;        // decoding threads (0: all cores)
} train_data_opts;

typedef void (*train_say_fn)(void *user, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

// Loads images of m's input size as o says into D, with as many classes as m tells apart
// (the folders must have that many; the synthetic set is made with them); 0, or -1 with err
// (D is then freed by train_data_free).
int train_data_load(train_data *D, const train_data_opts *o, const model *m, train_say_fn say,
                    void *user, char *err);
void train_data_free(train_data *D);

#endif
