// synthetic.h: a small two-class image set made up in memory, so that `nn train` with no
// --data shows the whole pipeline (load, augment, train, validate, save, chart) in seconds on a
// fresh machine with no photos. Class 0 is stripes running near-horizontally, class 1 stripes
// running near-vertically; period, phase, tilt, colours and noise vary per image, so the net
// has to learn orientation, which one convolution and a dense layer do in a few epochs.
#ifndef NN_SYNTHETIC_H
#define NN_SYNTHETIC_H

#include <stdint.h>

#include "../data/data.h"

extern const char *const synthetic_classes[2];   // "horizontal", "vertical"

// Fills c with n images of (h, w, 3), classes alternating, drawn from `seed`. Free with
// synthetic_free (not image_cache_free: these buffers are not the data pipeline's).
void synthetic_make(image_cache *c, int n, int h, int w, uint64_t seed);
void synthetic_free(image_cache *c);

// Writes the images as DIR/CLASS/NNNN.png (folders made as needed), the layout `nn train
// --data` and `nn evaluate --data` read. Returns 0, or -1 with err.
int synthetic_write_dir(const image_cache *c, const char *dir, char *err);

#endif
