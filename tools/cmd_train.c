// cmd_train.c: `nn train` (placeholder until its issue lands; says so and fails).
#include <stdio.h>

#include "cli.h"

int cmd_train(int argc, char **argv) {
    (void)argc, (void)argv;
    fprintf(stderr, "nn train: not available in this build yet\n");
    return 1;
}
