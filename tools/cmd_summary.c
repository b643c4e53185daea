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

// HDF5 files start with this signature (at offset 0, or 512, 1024, ... after a user block).
static int looks_like_hdf5(const char *path) {
    static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    unsigned char buf[8];
    int found = 0;
    for (long off = 0; off <= 8192 && !found; off = off ? off * 2 : 512) {
        if (fseek(f, off, SEEK_SET) != 0 || fread(buf, 1, 8, f) != 8) break;
        found = !memcmp(buf, sig, 8);
    }
    fclose(f);
    return found;
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcasecmp(s + a - b, suffix);
}

int cmd_summary(int argc, char **argv) {
    if (argc != 2 || cli_is_help(argv[1])) {
        FILE *f = argc == 2 ? stdout : stderr;
        fprintf(f, "usage: nn summary MODEL.cfg | MODEL.h5\n"
                   "Prints each layer's name, output shape and parameter count, as Keras does.\n"
                   "A .h5 model (saved by nn or by Keras) also shows its classes, epochs and\n"
                   "optimizer state, and its weights are checked: when some are NaN or infinite\n"
                   "(training diverged), the table is printed, then one line on stderr says how\n"
                   "many and in which layers, and the exit status is 1 (nn predict, evaluate and\n"
                   "train --resume refuse such a file).\n");
        return argc == 2 ? 0 : 2;
    }
    const char *path = argv[1];
    int h5 = looks_like_hdf5(path) || ends_with(path, ".h5") || ends_with(path, ".hdf5") ||
             ends_with(path, ".keras");   // not readable, but model_load_h5 says how to convert
    model m;
    char err[NN_ERRLEN];
    h5_info info;   // Adam's moments are not read, only whether they are there
    if ((h5 ? model_load_h5_opts(&m, path, H5_LOAD_WEIGHTS_ONLY, &info, err) : model_load_cfg(&m, path, err)) != 0) {
        fprintf(stderr, "nn summary: %s\n", err);
        return 1;
    }
    model_summary(&m, stdout);
    int rc = 0;
    if (h5) {
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
