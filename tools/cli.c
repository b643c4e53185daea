// cli.c: option-value parsing shared by the commands, so every command reports a bad value the
// same way: which command, which option, what was wrong, and the allowed range.
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_is_help(const char *arg) { return !strcmp(arg, "-h") || !strcmp(arg, "--help") || !strcmp(arg, "help"); }

const char *cli_value(const char *cmd, int argc, char **argv, int *i) {
    if (*i + 1 >= argc) {
        fprintf(stderr, "nn %s: %s needs a value\n", cmd, argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

int cli_int(const char *cmd, const char *name, const char *val, long lo, long hi, int *out) {
    char *end;
    errno = 0;
    long v = strtol(val, &end, 10);
    if (!val[0] || *end || errno || v < lo || v > hi) {
        fprintf(stderr, "nn %s: %s '%s' is not an integer from %ld to %ld\n", cmd, name, val, lo, hi);
        return -1;
    }
    *out = (int)v;
    return 0;
}

int cli_float(const char *cmd, const char *name, const char *val, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(val, &end);
    if (!val[0] || *end || errno || !isfinite(v) || v < lo || v > hi) {
        fprintf(stderr, "nn %s: %s '%s' is not a number from %g to %g\n", cmd, name, val, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_unknown(const char *cmd, const char *arg) {
    fprintf(stderr, "nn %s: unknown option '%s' (see nn %s --help)\n", cmd, arg, cmd);
    return 2;
}

static int is_control(unsigned char c) { return c < 0x20 || c == 0x7f; }

void cli_put_name(FILE *f, const char *s) {
    for (; *s; s++) fputc(is_control((unsigned char)*s) ? '?' : *s, f);
}

const char *cli_printable(const char *s, char *buf, size_t len) {
    size_t i = 0;
    for (; s[i] && i + 1 < len; i++) buf[i] = is_control((unsigned char)s[i]) ? '?' : s[i];
    if (len) buf[i] = 0;
    return buf;
}
