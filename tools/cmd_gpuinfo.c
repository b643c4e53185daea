// cmd_gpuinfo.c: `nn gpuinfo` (placeholder until its issue lands; says so and fails).
#include <stdio.h>

#include "cli.h"

int cmd_gpuinfo(int argc, char **argv) {
    (void)argc, (void)argv;
    fprintf(stderr, "nn gpuinfo: not available in this build yet\n");
    return 1;
}
