// common.c: the one place that owns the out-of-memory policy and the fatal-error format.
#define _POSIX_C_SOURCE 200809L
#include "common.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

void nn_die(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "nn: error: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (%s:%d)\n", file, line);
    va_end(ap);
    exit(1);
}

int nn_fail(char *err, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, NN_ERRLEN, fmt, ap);
        va_end(ap);
        // Messages quote what files hold (layer and class names, JSON from an .h5): a control
        // character there would break the one-line rule or, as an escape sequence, act on the
        // user's terminal. Each becomes '?' (UTF-8 text is kept).
        for (char *c = err; *c; c++)
            if ((unsigned char)*c < 0x20 || *c == 0x7f) *c = '?';
    }
    return -1;
}

void *nn_alloc(size_t bytes, const char *what) {
    void *p = NULL;
    size_t rounded = (bytes + 63) & ~(size_t)63;
    if (rounded == 0) rounded = 64;
    if (posix_memalign(&p, 64, rounded) != 0 || !p)
        NN_DIE("out of memory allocating %zu bytes for %s", bytes, what);
    return p;
}

// A large block's whole pages are zeroed by handing them back to the kernel (MADV_DONTNEED on
// private anonymous memory, which malloc's is: the next touch maps a zero page), not by memset:
// a model's four parameter arenas (4 x 15.7 MB for the article's CNN) cost 30-50 ms of page
// faults to memset on a busy VM, though `nn predict` only ever touches the weights. Only the
// partial pages at the ends are memset; if madvise refuses (locked memory), all of it is.
void *nn_calloc(size_t bytes, const char *what) {
    void *p = nn_alloc(bytes, what);
    long pg = bytes >= (1u << 20) ? sysconf(_SC_PAGESIZE) : -1;
    if (pg > 0) {
        uintptr_t lo = ((uintptr_t)p + (uintptr_t)pg - 1) & ~((uintptr_t)pg - 1);
        uintptr_t hi = ((uintptr_t)p + bytes) & ~((uintptr_t)pg - 1);
        if (hi > lo && madvise((void *)lo, hi - lo, MADV_DONTNEED) == 0) {
            memset(p, 0, lo - (uintptr_t)p);
            memset((void *)hi, 0, (uintptr_t)p + bytes - hi);
            return p;
        }
    }
    memset(p, 0, bytes);
    return p;
}

void nn_free(void *p) { free(p); }

char *nn_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = nn_alloc(n, "string");
    memcpy(d, s, n);
    return d;
}

char *nn_path_join(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    int slash = la > 0 && a[la - 1] != '/';
    char *p = nn_alloc(la + slash + lb + 1, "path");
    memcpy(p, a, la);
    if (slash) p[la] = '/';
    memcpy(p + la + slash, b, lb + 1);
    return p;
}

int nn_cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

double nn_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int nn_write_all(int fd, const void *buf, size_t n) {
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            if (w == 0) errno = ENOSPC;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}
