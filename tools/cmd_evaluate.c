// cmd_evaluate.c: `nn evaluate MODEL.h5 --data DIR`: Keras's model.evaluate on a labelled
// folder (loss and accuracy: binary, or categorical for a softmax model), plus the confusion
// matrix (2 x 2, or N x N), which tells which way the mistakes go.
// Images are preprocessed as for validation: resize and rescale, never augmented.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../data/data.h"
#include "../nn/common.h"
#include "../nn/cuda_api.h"
#include "../nn/h5.h"
#include "../run/train.h"
#include "cli.h"
#include "progress.h"
#include "setup.h"

static void usage(FILE *f) {
    fprintf(f,
"usage: nn evaluate MODEL.h5 --data DIR [--batch N] [--device auto|cpu|cuda] [--threads N]\n"
"                   [--cache FILE]\n"
"       nn evaluate --model MODEL.cfg --weights WEIGHTS.h5 --data DIR [options]\n"
"Loss (binary cross-entropy), accuracy and the confusion matrix of MODEL on DIR, a folder with\n"
"one subfolder per class (the class names are matched by sorted order, as in training). A model\n"
"that ends in a softmax over N classes takes N class folders and prints the categorical\n"
"cross-entropy, the categorical accuracy (the largest probability at the true class) and the\n"
"N x N matrix.\n"
"  --model FILE  the model (instead of the first argument): a .h5, or with --weights a .cfg\n"
"  --weights W.h5  weights saved by Keras's model.save_weights, or another model file, for the\n"
"                layers of --model (names and shapes must match)\n"
"  --batch N     images per forward pass (default 32; at most the number of images)\n"
"  --device D    auto (GPU when one works, the default), cpu or cuda\n"
"  --threads N   CPU threads (default: all cores)\n"
"  --cache FILE  keep the decoded images in FILE for the next run\n"
"A class folder with no readable image is a warning (the results then cover the other classes);\n"
"a model whose weights hold NaN or infinite values is refused. Names are printed with control\n"
"characters shown as '?'.\n");
}

int cmd_evaluate(int argc, char **argv) {
    const char *model_path = NULL, *dir = NULL, *device = "auto", *cache = NULL, *weights = NULL;
    int batch = 32, threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (cli_is_help(a)) return usage(stdout), 0;
        if (!strcmp(a, "--batch") || !strcmp(a, "--threads")) {
            if (!(v = cli_value("evaluate", argc, argv, &i)) ||
                cli_int("evaluate", a, v, 1, a[2] == 'b' ? 65536 : 4096, a[2] == 'b' ? &batch : &threads))
                return 2;
        } else if (!strcmp(a, "--data")) {
            if (!(dir = cli_value("evaluate", argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--device")) {
            if (!(device = cli_value("evaluate", argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--cache")) {
            if (!(cache = cli_value("evaluate", argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--model") || !strcmp(a, "--weights")) {
            if (!(v = cli_value("evaluate", argc, argv, &i))) return 2;
            if (a[2] == 'm' && model_path)
                return fprintf(stderr, "nn evaluate: two models given ('%s' and --model %s)\n", model_path, v), 2;
            *(a[2] == 'm' ? &model_path : &weights) = v;
        } else if (a[0] == '-' && a[1] == '-') return cli_unknown("evaluate", a);
        else if (!model_path) model_path = a;
        else return fprintf(stderr, "nn evaluate: unexpected argument '%s' (one MODEL, then --data DIR)\n", a), 2;
    }
    if (!model_path || !dir) {
        if (model_path && !dir) fprintf(stderr, "nn evaluate: --data DIR is missing\n");
        usage(stderr);
        return 2;
    }

    char err[NN_ERRLEN];
    model m;
    nn_ctx ctx = nn_ctx_cpu();
    dataset d = {0};
    image_cache c = {0};
    int rc = 1, have_model = 0, have_cache = 0;
    if (setup_load_model(&m, model_path, weights, NULL, err)) goto fail;   // no Adam state
    have_model = 1;
    if (setup_check_loaded(&m, model_path, err)) goto fail;
    // An empty class is not an error here (unlike nn train): setup_check_decoded warns below.
    if (setup_open_folder(&d, dir, err) || setup_check_class_count(&d, dir, &m, err)) goto fail;
    char line[NN_ERRLEN];   // through nn_fail for its escaping of the names
    if (setup_same_classes(&m, model_path, &d, dir, line)) fprintf(stderr, "nn evaluate: warning: %s\n", line);
    if (setup_device(device, threads, &ctx, stdout, NULL, err)) goto fail;
    if (image_cache_load(&c, &d, m.input.h, m.input.w, threads, cache, err)) goto fail;
    have_cache = 1;
    printf("Found %d images belonging to %d classes.\n", c.n, d.nclasses);
    fflush(stdout);
    setup_check_decoded(&c, &d, stderr, "nn evaluate: ", err);
    // A batch larger than the data would only allocate activations for images that are not
    // there (--batch 65536 on 20 images asked for 32 GB).
    batch = NN_MIN(batch, NN_MAX(c.n, 1));
    if (model_to(&m, &ctx, batch, err)) goto fail;

    eval_result r;
    train_evaluate(&m, &ctx, &c, batch, &r);
    if (!isfinite(r.loss)) {   // finite weights whose activations overflowed on some image
        nn_fail(err, "%s: the loss on %s is %s (the model's activations overflow on some image): "
                "no result", model_path, dir, isnan(r.loss) ? "NaN" : "infinite");
        goto fail;
    }
    char t[32];
    progress_fmt_time(r.seconds, t, sizeof t);
    printf("%d images - %s - loss: %.4f - accuracy: %.4f - %.0f img/s\n", r.n, t, r.loss, r.accuracy,
           r.seconds > 0 ? r.n / r.seconds : 0);
    // Columns as wide as the longest class name (the folder names, as the data hold them); one
    // row and one column per class: 2 x 2 for a binary model, N x N for a softmax over N.
    const int nc = r.nclasses;
    char cls[MODEL_MAX_CLASSES][256];
    int wd = 9;
    for (int k = 0; k < nc; k++) {
        cli_printable(d.classes[k], cls[k], sizeof cls[k]);
        wd = NN_MAX(wd, (int)strlen(cls[k]) + 2);
    }
    printf("Confusion matrix (rows: true class, columns: predicted class):\n%*s", wd + 2, "");
    for (int k = 0; k < nc; k++) printf("%*s", wd, cls[k]);
    printf("\n");
    for (int t0 = 0; t0 < nc; t0++) {
        printf("  %-*s", wd, cls[t0]);
        long row = 0;
        for (int p = 0; p < nc; p++) printf("%*ld", wd, r.confusion[t0][p]), row += r.confusion[t0][p];
        if (row) printf("   (%.1f%% right)\n", 100.0 * r.confusion[t0][t0] / row);
        else printf("   (no images)\n");
    }
    rc = 0;
    goto out;
fail:
    fprintf(stderr, "nn evaluate: %s\n", err);
out:
    if (have_cache) image_cache_free(&c);
    dataset_free(&d);
    if (have_model) model_free(&m);
    nn_ctx_free(&ctx);
    return rc;
}
