// cmd_bench.c: `nn bench` (placeholder until its issue lands; says so and fails).
#include <stdio.h>

#include "cli.h"

int cmd_bench(int argc, char **argv) {
    (void)argc, (void)argv;
    fprintf(stderr, "nn bench: not available in this build yet\n");
    return 1;
}
