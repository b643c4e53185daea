// common.h: error reporting and checked allocation, used by every file.
//
// Two kinds of failure:
//  - a resource or programming error (out of memory, a CUDA error): die at once with file:line
//    and the reason (NN_DIE, nn_malloc);
//  - bad user input (a malformed cfg, a corrupt model file, a bad image): the function returns
//    -1 and writes one line into the caller's `char err[NN_ERRLEN]`; the command line prints it
//    and exits non-zero. Nothing here is a hidden global.
#ifndef NN_COMMON_H
#define NN_COMMON_H

#include <stddef.h>
#include <stdint.h>

#define NN_ERRLEN 512

#define NN_DIE(...) nn_die(__FILE__, __LINE__, __VA_ARGS__)
void nn_die(const char *file, int line, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));

// Writes a formatted message into err (NN_ERRLEN bytes) and returns -1, so that
// `return nn_fail(err, "...")` reads as one step.
int nn_fail(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

// Checked allocation: dies naming `what` and the size when memory runs out.
// nn_alloc is 64-byte aligned (one cache line, one AVX-512 vector) and freed with nn_free.
void *nn_alloc(size_t bytes, const char *what) __attribute__((returns_nonnull, malloc));
void *nn_calloc(size_t bytes, const char *what) __attribute__((returns_nonnull, malloc));
void nn_free(void *p);
char *nn_strdup(const char *s);
// "a/b" (no doubled slash), from nn_alloc.
char *nn_path_join(const char *a, const char *b);
// qsort/bsearch comparison of two char * by strcmp (byte order, as Python's sorted()).
int nn_cmp_str(const void *a, const void *b);

// Writes all n bytes to fd (retrying short writes and EINTR): 0, or -1 with errno (ENOSPC for
// a write that returns 0, as a full disk does).
int nn_write_all(int fd, const void *buf, size_t n);

// Wall-clock seconds from a monotonic clock.
double nn_now(void);

#define NN_MIN(a, b) ((a) < (b) ? (a) : (b))
#define NN_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif
