// chart.h: the training curves as a PNG (loss and accuracy per epoch, training and validation,
// two panels), drawn pixel by pixel in C with a tiny built-in font, and written with
// stb_image_write. Also the one PNG writer of the tools (the synthetic set uses it too).
#ifndef NN_CHART_H
#define NN_CHART_H

#include <stdint.h>

#include "history.h"

#define CHART_W 1000
#define CHART_H 420

// Draws rows (n epochs; val_* NAN when there was no validation) into a CHART_W x CHART_H PNG.
// `title` goes above the panels (may be NULL). Returns 0, or -1 with err.
int chart_write_png(const char *path, const epoch_row *rows, int n, const char *title, char *err);

// Writes an RGB image (h, w, 3) as PNG, marked with the tEXt chunk Software=nn, through a
// temporary file and a rename (every write checked: a full disk is an error, and the old file
// stays whole). An existing file that is not a PNG nn drew is refused (tools/outfile.h).
// Returns 0, or -1 with err naming the file.
int png_write_rgb(const char *path, int w, int h, const uint8_t *rgb, char *err);

#endif
