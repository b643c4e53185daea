// cmd_prepare.c: `nn prepare` (placeholder until its issue lands; says so and fails).
#include <stdio.h>

#include "cli.h"

int cmd_prepare(int argc, char **argv) {
    (void)argc, (void)argv;
    fprintf(stderr, "nn prepare: not available in this build yet\n");
    return 1;
}
