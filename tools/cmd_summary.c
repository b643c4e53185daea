// cmd_summary.c: `nn summary MODEL.cfg|MODEL.h5`: Keras's table of layers, shapes and counts.
#include <stdio.h>
#include <string.h>

#include "../nn/common.h"
#include "../nn/model.h"
#include "cli.h"

int cmd_summary(int argc, char **argv) {
    if (argc != 2 || cli_is_help(argv[1])) {
        FILE *f = argc == 2 ? stdout : stderr;
        fprintf(f, "usage: nn summary MODEL.cfg | MODEL.h5\n"
                   "Prints each layer's name, output shape and parameter count, as Keras does.\n");
        return argc == 2 ? 0 : 2;
    }
    model m;
    char err[NN_ERRLEN];
    if (model_load_cfg(&m, argv[1], err) != 0) {
        fprintf(stderr, "nn summary: %s\n", err);
        return 1;
    }
    model_summary(&m, stdout);
    model_free(&m);
    return 0;
}
