// nn.c: the command line. `nn COMMAND [options]`; each command lives in tools/cmd_COMMAND.c.
#include <stdio.h>
#include <string.h>

#include "cli.h"

typedef struct { const char *name; int (*fn)(int, char **); const char *help; } command;

static const command commands[] = {
    {"train", cmd_train, "train a model on a folder of images (or a synthetic set)"},
    {"predict", cmd_predict, "print the class and probability for images"},
    {"evaluate", cmd_evaluate, "loss, accuracy and confusion matrix on a labelled folder"},
    {"summary", cmd_summary, "print a model's layers, shapes and parameter counts"},
    {"bench", cmd_bench, "time training steps on random data"},
    {"demo", cmd_demo, "the article's demos: add, mandelbrot"},
    {"gpuinfo", cmd_gpuinfo, "describe the GPUs (or say there is none)"},
    {"prepare", cmd_prepare, "split the Kaggle download into class folders"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: nn COMMAND [options]   (nn COMMAND --help for its options)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
}

int main(int argc, char **argv) {
    if (argc < 2 || cli_is_help(argv[1])) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "nn: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
