// demo.h: what the two halves of `nn demo` share (tools/cmd_demo.c holds the dispatch and the
// array addition, tools/demo_mandelbrot.c the Mandelbrot image): which sides run (the C path,
// the GPU, or both), and small timing helpers.
#ifndef NN_DEMO_H
#define NN_DEMO_H

#include "../nn/ctx.h"

typedef struct {
    int cpu, cuda;          // which sides run
    nn_ctx cpu_ctx, gpu_ctx;
    char gpu_name[256];
    int threads;            // OpenMP threads of the C path
} demo_sides;

// Reads --device cpu|cuda|both|auto (NULL = auto: both when a GPU works, else the C path with a
// note on stderr saying why). Returns 0, or prints the reason to stderr and returns 1.
int demo_sides_open(const char *cmd, const char *device, demo_sides *d);
void demo_sides_close(demo_sides *d);

// Before a big allocation: `need` bytes against 90% of what this process may still allocate
// (the tightest of MemAvailable, its cgroup's memory.max and ulimit -v). 0 when it fits (or
// nothing can be read), else -1 after one stderr line: "nn CMD: WHAT needs X GB of memory but
// Y GB is available (SOURCE; ...): HINT".
int demo_check_memory(const char *cmd, double need, const char *what, const char *hint);
// The bytes that check allows (-1 when unknown), for the hint.
double demo_memory_available(void);

// Median of v[0..n) (sorts v).
double demo_median(double *v, int n);

int demo_add(int argc, char **argv);
int demo_mandelbrot(int argc, char **argv);

#endif
