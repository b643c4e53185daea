// cmd_predict.c: `nn predict` (placeholder until its issue lands; says so and fails).
#include <stdio.h>

#include "cli.h"

int cmd_predict(int argc, char **argv) {
    (void)argc, (void)argv;
    fprintf(stderr, "nn predict: not available in this build yet\n");
    return 1;
}
