// synthetic.h: a small image set made up in memory, so that `nn train` with no --data shows the
// whole pipeline (load, augment, train, validate, save, chart) in seconds on a fresh machine
// with no photos. Class 0 is stripes running near-horizontally, class 1 stripes running
// near-vertically, and for a three-class model class 2 stripes running near-diagonally (either
// diagonal: a horizontal flip, which the augmentation makes, turns one into the other); period,
// phase, tilt, colours and noise vary per image, so the net has to learn orientation, which one
// convolution and a dense layer do in a few epochs. The two-class set is the same whether or
// not a third class could have been asked for.
#ifndef NN_SYNTHETIC_H
#define NN_SYNTHETIC_H

#include <stdint.h>

#include "../data/data.h"

#define SYNTHETIC_MAX_CLASSES 3
// The class names of a set of nclasses (2 or 3) classes, in sorted order as the folders that
// synthetic_write_dir makes are listed: "horizontal", "vertical"; "diagonal", "horizontal",
// "vertical".
const char *synthetic_class(int nclasses, int label);

// Fills c with n images of (h, w, 3) of nclasses classes (2 or 3), labels in turn (0, 1, 2, 0,
// ...), drawn from `seed`. Free with synthetic_free (not image_cache_free: these buffers are not
// the data pipeline's).
void synthetic_make(image_cache *c, int n, int nclasses, int h, int w, uint64_t seed);
void synthetic_free(image_cache *c);

// Writes the images as DIR/CLASS/NNNN.png (folders made as needed, one per class of a set of
// nclasses), the layout `nn train --data` and `nn evaluate --data` read. Returns 0, or -1 with err.
int synthetic_write_dir(const image_cache *c, int nclasses, const char *dir, char *err);

#endif
