// demo_standalone.c: main() of a demo-only `nn` (bench/demo_standalone.sh), for a GPU machine
// whose image lacks the HDF5, cJSON or stb headers that the full build needs: it runs
// `demo` and `gpuinfo` from the same sources as bin/nn, without the PNG writer (the benchmark
// passes --no-png).
#include <stdio.h>
#include <string.h>

#include "../nn/common.h"
#include "../tools/chart.h"
#include "../tools/cli.h"

int png_write_rgb(const char *path, int w, int h, const uint8_t *rgb, char *err) {
    (void)w, (void)h, (void)rgb;
    return nn_fail(err, "%s: this demo-only build writes no PNG (build bin/nn for that)", path);
}

int main(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "demo")) return cmd_demo(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "gpuinfo")) return cmd_gpuinfo(argc - 1, argv + 1);
    fprintf(stderr, "usage: %s demo add|mandelbrot ... | gpuinfo (demo-only build)\n", argv[0]);
    return 2;
}
