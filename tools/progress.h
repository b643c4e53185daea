// progress.h: Keras's per-epoch progress line. On a terminal one bar is redrawn in place
// (steps done, ETA, time per step, running loss and accuracy); when the output is a file or a
// pipe, a plain line is printed at each tenth of the epoch instead, so logs stay readable.
#ifndef NN_PROGRESS_H
#define NN_PROGRESS_H

#include <stdio.h>

typedef struct progress {
    FILE *f;
    int tty;              // redraw in place (isatty)
    const char *prefix;   // printed before every line ("[synthetic] " or "")
    int steps;            // steps in the epoch
    int first;            // the step this run started after (non-zero when resumed mid-epoch)
    int next_tenth;       // plain mode: the next tenth of the epoch to report
    double last_draw;     // terminal: clock time of the last draw; plain: epoch seconds of the last line
} progress;

// `first`: steps of this epoch done before (a run resumed mid-epoch), left out of the timing.
void progress_start(progress *p, FILE *f, const char *prefix, int steps, int first);
// After step `step` (1-based) of the epoch, `seconds` into it, with the running means.
void progress_step(progress *p, int step, double seconds, double loss, double acc);
// The epoch's final line: the bar (or step count), total time, time per step, the metrics, and
// `extra` (val_loss, val_accuracy, images/s ...) appended as is.
void progress_end(progress *p, int step, double seconds, double loss, double acc, const char *extra);

// "1m 05s", "12s", "850ms": durations as people read them.
void progress_fmt_time(double s, char *buf, size_t len);

#endif
