// history.h: the per-epoch figures of a training run, kept in memory for the chart and written
// to the CSV log (--log). A resumed run reads the log back so that its chart and log cover the
// whole run, not only the part after the resume.
#ifndef NN_HISTORY_H
#define NN_HISTORY_H

#include <stdio.h>

typedef struct epoch_row {
    int epoch;                 // 1-based
    double loss, accuracy;     // training (running mean over the epoch, as Keras reports it)
    double val_loss, val_acc;  // NAN when there is no validation set
    double images_per_s, seconds;
} epoch_row;

#define HISTORY_HEADER "epoch,loss,accuracy,val_loss,val_accuracy,images_per_s,seconds"

// The header line, and one row; each is flushed. 0, or -1 with errno (a full disk: ENOSPC).
int history_write_header(FILE *f);
int history_write_row(FILE *f, const epoch_row *r);
// Reads a CSV written by history_write_row: rows with epoch <= max_epoch, in order, into rows
// (at most cap). Returns the count, or -1 when the file is missing or not such a log.
int history_read(const char *path, int max_epoch, epoch_row *rows, int cap);

#endif
