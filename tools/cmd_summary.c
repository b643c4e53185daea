// cmd_summary.c: `nn summary MODEL.cfg|MODEL.h5`: Keras's table of layers, shapes and counts.
// A .h5 model is recognised by its content (HDF5's signature), not only its name, so a model
// saved under another name still works; after the table it says what the file carries besides
// the weights (classes, epochs, Adam's state), which is what one checks before --resume, and
// whether every weight is finite: a model that diverged still prints its table, then one line
// on stderr counting its NaN and infinite values, and the status is 1, so that a script asking
// "is this a usable model?" with nn summary gets no.
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "../nn/common.h"
#include "../nn/h5.h"
#include "../nn/model.h"
#include "cli.h"
#include "setup.h"

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcasecmp(s + a - b, suffix);
}

int cmd_summary(int argc, char **argv) {
    // nn summary MODEL | nn summary [--model] MODEL --weights W.h5
    const char *path = NULL, *weights = NULL;
    int bad = argc < 2;
    for (int i = 1; i < argc && !bad; i++) {
        if (cli_is_help(argv[i])) bad = 2;
        else if ((!strcmp(argv[i], "--weights") || !strcmp(argv[i], "--model")) && i + 1 < argc && !(argv[i][2] == 'm' && path))
            *(argv[i][2] == 'w' ? &weights : &path) = argv[i + 1], i++;
        else if (!path && argv[i][0] != '-') path = argv[i];
        else bad = 1;
    }
    if (bad || !path) {
        FILE *f = bad == 2 ? stdout : stderr;
        fprintf(f, "usage: nn summary MODEL.cfg | MODEL.h5\n"
                   "       nn summary MODEL.cfg --weights WEIGHTS.h5\n"
                   "Prints each layer's name, output shape and parameter count, as Keras does.\n"
                   "A .h5 model (saved by nn or by Keras) also shows its classes, epochs and\n"
                   "optimizer state, and its weights are checked: when some are NaN or infinite\n"
                   "(training diverged), the table is printed, then one line on stderr says how\n"
                   "many and in which layers, and the exit status is 1 (nn predict, evaluate and\n"
                   "train --resume refuse such a file). With --weights (Keras's save_weights file,\n"
                   "or another model file), those weights are loaded into MODEL's layers (names and\n"
                   "shapes must match) and checked the same way.\n");
        return bad == 2 ? 0 : 2;
    }
    int h5 = setup_is_hdf5(path) || ends_with(path, ".h5") || ends_with(path, ".hdf5") ||
             ends_with(path, ".keras");   // not readable, but model_load_h5 says how to convert
    model m;
    char err[NN_ERRLEN];
    h5_info info;   // Adam's moments are not read, only whether they are there
    if ((h5 || weights ? setup_load_model(&m, path, weights, &info, err) : model_load_cfg(&m, path, err)) != 0) {
        fprintf(stderr, "nn summary: %s\n", err);
        return 1;
    }
    model_summary(&m, stdout);
    int rc = 0;
    if (weights) {
        printf("Weights: %s (no classes, epochs or optimizer state with them)\n", weights);
        fflush(stdout);
        if (model_check_finite(&m, weights, err)) {
            fprintf(stderr, "nn summary: %s\n", err);
            rc = 1;
        }
    } else if (h5) {
        printf("Classes: ");
        if (m.nclasses == 0) printf("(none saved)");
        for (int i = 0; i < m.nclasses; i++) {
            printf("%s", i ? ", " : "");
            cli_put_name(stdout, m.classes[i]);
        }
        if (m.epoch_unknown)   // Keras's own files: 0 would be a claim
            printf("\nEpochs trained: not recorded (a Keras file: Adam's step count below is all it keeps)\n");
        else
            printf("\nEpochs trained: %d\n", m.epoch);
        if (m.batch > 0 && m.step > 0)
            printf("Saved in mid-epoch: step %ld of epoch %d, at batch %d (--resume needs --batch %d)\n",
                   m.step, m.epoch + 1, m.batch, m.batch);
        printf("Optimizer: Adam (learning_rate %g, beta_1 %g, beta_2 %g, epsilon %g), ", m.opt.lr,
               m.opt.beta1, m.opt.beta2, m.opt.epsilon);
        if (info.adam_state) printf("%ld steps taken\n", m.t);
        else printf("no state saved (--resume starts its moments from zero)\n");
        fflush(stdout);   // the table first, then the verdict on stderr
        if (model_check_finite(&m, path, err)) {
            fprintf(stderr, "nn summary: %s\n", err);
            rc = 1;
        }
    }
    model_free(&m);
    return rc;
}
