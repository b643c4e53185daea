// cmd_demo.c: `nn demo` (placeholder until its issue lands; says so and fails).
#include <stdio.h>

#include "cli.h"

int cmd_demo(int argc, char **argv) {
    (void)argc, (void)argv;
    fprintf(stderr, "nn demo: not available in this build yet\n");
    return 1;
}
