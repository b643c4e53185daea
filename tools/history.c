// history.c: the CSV log of `nn train --log` (see history.h). Empty fields stand for "no
// validation", so that spreadsheets and pandas read them as missing values.
#include "history.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void field(FILE *f, double v, const char *fmt) {
    fputc(',', f);
    if (!isnan(v)) fprintf(f, fmt, v);
}

// Each line is flushed at once (a run stopped by kill -9 keeps the epochs done) and its fate
// read there: fprintf only buffers, the disk's answer comes with fflush.
static int flushed(FILE *f) {
    errno = 0;
    if (fflush(f) != 0 || ferror(f)) {
        if (!errno) errno = EIO;
        return -1;
    }
    return 0;
}

int history_write_header(FILE *f) {
    fputs(HISTORY_HEADER "\n", f);
    return flushed(f);
}

int history_write_row(FILE *f, const epoch_row *r) {
    fprintf(f, "%d", r->epoch);
    field(f, r->loss, "%.6f");
    field(f, r->accuracy, "%.6f");
    field(f, r->val_loss, "%.6f");
    field(f, r->val_acc, "%.6f");
    field(f, r->images_per_s, "%.1f");
    field(f, r->seconds, "%.3f");
    fputc('\n', f);
    return flushed(f);
}

static double parse_field(char **p) {
    char *s = *p, *comma = strchr(s, ',');
    if (comma) *comma = 0;
    *p = comma ? comma + 1 : s + strlen(s);
    while (*s == ' ') s++;
    if (!*s || *s == '\n' || *s == '\r') return NAN;
    return strtod(s, NULL);
}

int history_read(const char *path, int max_epoch, epoch_row *rows, int cap) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[512];
    int n = 0;
    if (!fgets(line, sizeof line, f) || strncmp(line, HISTORY_HEADER, strlen(HISTORY_HEADER))) {
        fclose(f);
        return -1;
    }
    while (n < cap && fgets(line, sizeof line, f)) {
        char *p = line;
        epoch_row r;
        double e = parse_field(&p);
        if (isnan(e) || e < 1 || e > max_epoch) continue;
        r.epoch = (int)e;
        r.loss = parse_field(&p);
        r.accuracy = parse_field(&p);
        r.val_loss = parse_field(&p);
        r.val_acc = parse_field(&p);
        r.images_per_s = parse_field(&p);
        r.seconds = parse_field(&p);
        rows[n++] = r;
    }
    fclose(f);
    return n;
}
