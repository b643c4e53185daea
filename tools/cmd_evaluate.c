// cmd_evaluate.c: `nn evaluate` (placeholder until its issue lands; says so and fails).
#include <stdio.h>

#include "cli.h"

int cmd_evaluate(int argc, char **argv) {
    (void)argc, (void)argv;
    fprintf(stderr, "nn evaluate: not available in this build yet\n");
    return 1;
}
