// progress.c: the progress bar of `nn train` (see progress.h). Drawing is throttled to about
// ten times a second on a terminal so that a fast GPU epoch does not spend its time printing,
// and to a line every two seconds in a log.
#include "progress.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../nn/common.h"

#define BAR_WIDTH 30

void progress_fmt_time(double s, char *buf, size_t len) {
    if (s < 1) snprintf(buf, len, "%.0fms", s * 1e3);
    else if (s < 60) snprintf(buf, len, "%.0fs", s);
    else if (s < 3600) snprintf(buf, len, "%dm %02ds", (int)s / 60, (int)s % 60);
    else snprintf(buf, len, "%dh %02dm", (int)s / 3600, (int)s / 60 % 60);
}

void progress_start(progress *p, FILE *f, const char *prefix, int steps, int first) {
    memset(p, 0, sizeof *p);
    p->f = f;
    p->tty = isatty(fileno(f));
    p->prefix = prefix ? prefix : "";
    p->steps = steps > 0 ? steps : 1;
    p->first = first;
    p->next_tenth = 1;
    while ((long)first * 10 >= (long)p->next_tenth * p->steps) p->next_tenth++;
    p->last_draw = p->tty ? -1 : 0;   // terminal: wall clock of the last draw; plain: seconds
}

// "  37/250 [=====>........................]"
static void bar(const progress *p, int step, char *buf, size_t len) {
    int w = (int)snprintf(NULL, 0, "%d", p->steps);
    int filled = (int)((long)BAR_WIDTH * step / p->steps);
    char b[BAR_WIDTH + 1];
    for (int i = 0; i < BAR_WIDTH; i++)
        b[i] = i < filled ? '=' : (i == filled && step < p->steps ? '>' : '.');
    if (filled > 0 && filled < BAR_WIDTH && step < p->steps) b[filled - 1] = '=';
    b[BAR_WIDTH] = 0;
    snprintf(buf, len, "%*d/%d [%s]", w, step, p->steps, b);
}

static void ms_per_step(double seconds, int done, char *buf, size_t len) {
    double ms = done > 0 ? seconds * 1e3 / done : 0;
    if (ms >= 10) snprintf(buf, len, "%.0fms/step", ms);
    else snprintf(buf, len, "%.1fms/step", ms);
}

void progress_step(progress *p, int step, double seconds, double loss, double acc) {
    char b[96], per[32], eta[32];
    ms_per_step(seconds, step - p->first, per, sizeof per);
    if (p->tty) {
        double now = nn_now();
        if (step < p->steps && p->last_draw >= 0 && now - p->last_draw < 0.1) return;
        p->last_draw = now;
        bar(p, step, b, sizeof b);
        progress_fmt_time(step > p->first ? seconds / (step - p->first) * (p->steps - step) : 0, eta,
                          sizeof eta);
        fprintf(p->f, "\r%s%s - ETA: %s - %s - loss: %.4f - accuracy: %.4f\033[K", p->prefix, b,
                eta, per, loss, acc);
        fflush(p->f);
        return;
    }
    // Plain mode: one line each time a tenth of the epoch is passed (never the last step:
    // progress_end prints that one with the validation figures).
    // Short epochs get only their final line: at most one line every two seconds.
    if (step >= p->steps || (long)step * 10 < (long)p->next_tenth * p->steps) return;
    while ((long)step * 10 >= (long)p->next_tenth * p->steps) p->next_tenth++;
    if (seconds - p->last_draw < 2) return;
    p->last_draw = seconds;
    int w = (int)snprintf(NULL, 0, "%d", p->steps);
    progress_fmt_time(seconds, eta, sizeof eta);
    fprintf(p->f, "%s%*d/%d - %s %s - loss: %.4f - accuracy: %.4f\n", p->prefix, w, step, p->steps,
            eta, per, loss, acc);
    fflush(p->f);
}

void progress_end(progress *p, int step, double seconds, double loss, double acc, const char *extra) {
    char b[96], per[32], t[32];
    bar(p, step, b, sizeof b);
    ms_per_step(seconds, step - p->first, per, sizeof per);
    progress_fmt_time(seconds, t, sizeof t);
    fprintf(p->f, "%s%s%s - %s %s - loss: %.4f - accuracy: %.4f%s%s\n", p->tty ? "\r" : "",
            p->prefix, b, t, per, loss, acc, extra ? extra : "", p->tty ? "\033[K" : "");
    fflush(p->f);
}
