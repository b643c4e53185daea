// cmd_predict.c: `nn predict MODEL.h5 IMAGE...`: what the article's last cell does. Each image
// is read as in training (decode, RGB, Pillow's NEAREST resize to the model's input, 1/255),
// never augmented, and the model's sigmoid output p = P(classes[1]) gives the prediction:
// classes[1] with probability p when p > 0.5, else classes[0] with 1 - p. A model that ends in
// a softmax over N classes predicts the class of the largest probability (the first on a tie),
// and --top K lists the K most probable. The last sigmoid or softmax is applied here, to the
// logits, so that an overflow shows as a non-finite logit. On the C path by default, since one
// photo takes milliseconds and a GPU takes longer than that to start.
#include <dirent.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "../data/data.h"
#include "../nn/common.h"
#include "../nn/cuda_api.h"
#include "../nn/h5.h"
#include "cli.h"
#include "setup.h"

static void usage(FILE *f) {
    fprintf(f,
"usage: nn predict MODEL.h5 IMAGE... [--top K] [--json] [--batch N] [--device cpu|auto|cuda]\n"
"                  [--threads N]\n"
"       nn predict --model MODEL.cfg --weights WEIGHTS.h5 IMAGE... [options]\n"
"Prints the class and its probability for each image, using the class names saved in MODEL.\n"
"One image prints what the article prints:\n"
"  Probability = 0.9312\n"
"  Prediction = dog\n"
"several images print one line each: PATH  CLASS  PROBABILITY. A model that ends in a softmax\n"
"over N classes prints the same with the most probable class. An IMAGE may be a folder: its\n"
"images (and those of its subfolders) are predicted in sorted order. The class is printed in\n"
"the singular when the training folders were plural (cats/, dogs/ -> cat, dog), as the article\n"
"prints it; control characters in names are shown as '?'.\n"
"  --top K       also the K most probable classes with their probabilities (1 <= K <= the\n"
"                model's classes; two for a sigmoid model): one image adds 'Top K:' and a line\n"
"                per class; several add CLASS PROBABILITY pairs, best first, to each line\n"
"  --json        one JSON array: {\"path\", \"class\", \"label\", \"probability\", \"output\"}\n"
"                per image (class = the folder name as saved, e.g. \"dogs\"; label = what the\n"
"                text output prints, \"dog\"; output = the sigmoid, P(second class)), or\n"
"                {\"path\", \"error\"}; never NaN or infinity. For a softmax model output is\n"
"                the list of the N probabilities in class order, and \"top\" lists the classes\n"
"                best first as {\"class\", \"label\", \"probability\"} (all N, or K with --top;\n"
"                a sigmoid model gets \"top\" with --top only)\n"
"  --model FILE  the model (instead of the first argument): a .h5, or with --weights a .cfg\n"
"  --weights W.h5  weights saved by Keras's model.save_weights (x.weights.h5, or tf.keras 2's\n"
"                x.h5) or another model file, for the layers of --model (names and shapes must\n"
"                match: Keras 3's files by layer name, the older lists by order)\n"
"  --batch N     images per forward pass (default 32)\n"
"  --device D    cpu (default), auto or cuda: worth it for large folders only\n"
"  --threads N   CPU threads (default: all cores; one for fewer than 8 images, where\n"
"                starting and joining threads costs more than it saves)\n"
"An image that cannot be read is reported on stderr; the others are still predicted, and the\n"
"exit status is 1. A model whose weights hold NaN or infinite values (a run that diverged) is\n"
"refused with one line naming the file and the layers.\n");
}

typedef struct list { char **s; int n, cap; } list;

static void list_add(list *l, const char *s) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        char **t = realloc(l->s, (size_t)l->cap * sizeof *t);
        if (!t) NN_DIE("out of memory listing images");
        l->s = t;
    }
    l->s[l->n++] = nn_strdup(s);
}

static int is_image_name(const char *name) {
    static const char *const ext[] = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".ppm", ".pgm", ".tga", ".psd", ".hdr"};
    const char *dot = strrchr(name, '.');
    if (!dot) return 0;
    for (size_t i = 0; i < sizeof ext / sizeof *ext; i++)
        if (!strcasecmp(dot, ext[i])) return 1;
    return 0;
}


// A folder's images, sorted, recursing into subfolders (a class-folder layout works as is).
static void list_folder(list *out, const char *dir, int depth) {
    DIR *d = opendir(dir);
    if (!d) return;
    list names = {0};
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0) continue;
        if ((S_ISDIR(st.st_mode) && depth < 4) || (S_ISREG(st.st_mode) && is_image_name(e->d_name)))
            list_add(&names, path);
    }
    closedir(d);
    if (names.n) qsort(names.s, (size_t)names.n, sizeof *names.s, nn_cmp_str);
    for (int i = 0; i < names.n; i++) {
        struct stat st;
        if (stat(names.s[i], &st) == 0 && S_ISDIR(st.st_mode)) list_folder(out, names.s[i], depth + 1);
        else list_add(out, names.s[i]);
        nn_free(names.s[i]);
    }
    free(names.s);
}

// NN_TIMING=1: where the time of a prediction goes, on stderr (bench/RESULTS.md, "Prediction
// (whole process)"): each step's milliseconds since the previous one.
static double timing_t0 = -1;
static void timing(const char *step) {
    if (timing_t0 < 0) {
        const char *e = getenv("NN_TIMING");
        timing_t0 = e && *e && strcmp(e, "0") ? nn_now() : 0;
    }
    if (timing_t0 == 0) return;
    double t = nn_now();
    fprintf(stderr, "nn predict: timing: %-8s %6.2f ms\n", step, 1e3 * (t - timing_t0));
    timing_t0 = t;
}

// Length of the valid UTF-8 sequence at s (1 to 4), or 0 when s does not start one (RFC 3629:
// no overlong forms, no surrogates, nothing above U+10FFFF).
static int utf8_len(const unsigned char *s) {
    unsigned c = s[0];
    int n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
    if (n == 0 || c > 0xf4) return 0;
    for (int i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80) return 0;
    if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f) || (c == 0xf0 && s[1] < 0x90) ||
        (c == 0xf4 && s[1] > 0x8f))
        return 0;
    return n;
}

// A JSON string: quotes, backslashes and every control character escaped (DEL too, which a
// terminal may act on), and bytes that are not UTF-8 (a Latin-1 file name) given as U+FFFD,
// since a JSON text must be UTF-8 and a reader would reject the whole array.
static void json_str(FILE *f, const char *str) {
    const unsigned char *s = (const unsigned char *)str;
    fputc('"', f);
    while (*s) {
        unsigned char c = *s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c == '\n') fputs("\\n", f);
        else if (c == '\t') fputs("\\t", f);
        else if (c < 0x20 || c == 0x7f) fprintf(f, "\\u%04x", c);
        else if (c < 0x80) fputc(c, f);
        else {
            int n = utf8_len(s);
            if (n == 0) {
                fputs("\\ufffd", f);
                s++;
            } else {
                fwrite(s, 1, (size_t)n, f);
                s += n;
            }
            continue;
        }
        s++;
    }
    fputc('"', f);
}

// P(class j) from an image's outputs o: a softmax's o[j]; one sigmoid p = P(class 1) gives
// class 0 1 - p (what the article prints for a cat).
static float class_prob(const float *o, int soft, int j) { return soft ? o[j] : j ? o[0] : 1 - o[0]; }

// The nc classes, most probable first; a tie goes to the lower index (so a sigmoid of exactly
// 0.5 says class 0, as it always has, and a softmax's first is argmax's).
static void rank_classes(const float *o, int soft, int nc, int *order) {
    for (int j = 0; j < nc; j++) {
        int at = j;
        while (at > 0 && class_prob(o, soft, order[at - 1]) < class_prob(o, soft, j)) {
            order[at] = order[at - 1];
            at--;
        }
        order[at] = j;
    }
}

int cmd_predict(int argc, char **argv) {
    const char *model_path = NULL, *weights = NULL, *device = "cpu";
    int json = 0, batch = 32, threads = 0, empty_folder = 0, top = 0;
    list paths = {0};
    int model_opt = 0;   // --model given: every other argument is an image
    for (int i = 1; i < argc; i++) model_opt |= !strcmp(argv[i], "--model");
    int rc = -1;   // set by an option that ends the command before any work (0: --help)
    for (int i = 1; i < argc && rc < 0; i++) {
        const char *a = argv[i], *v;
        if (cli_is_help(a)) usage(stdout), rc = 0;
        else if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "--top")) {
            if (!(v = cli_value("predict", argc, argv, &i)) ||
                cli_int("predict", a, v, 1, MODEL_MAX_CLASSES, &top))
                rc = 2;
        } else if (!strcmp(a, "--batch") || !strcmp(a, "--threads")) {
            if (!(v = cli_value("predict", argc, argv, &i)) ||
                cli_int("predict", a, v, 1, a[2] == 'b' ? 65536 : 4096, a[2] == 'b' ? &batch : &threads))
                rc = 2;
        } else if (!strcmp(a, "--device")) {
            if (!(device = cli_value("predict", argc, argv, &i))) rc = 2;
        } else if (!strcmp(a, "--model") || !strcmp(a, "--weights")) {
            if (!(v = cli_value("predict", argc, argv, &i))) rc = 2;
            else *(a[2] == 'm' ? &model_path : &weights) = v;
        } else if (a[0] == '-' && a[1] == '-') rc = cli_unknown("predict", a);
        else if (!model_path && !model_opt) model_path = a;
        else {
            struct stat st;
            if (stat(a, &st) == 0 && S_ISDIR(st.st_mode)) {
                int before = paths.n;
                list_folder(&paths, a, 0);
                if (paths.n == before) {
                    fputs("nn predict: ", stderr);
                    cli_put_name(stderr, a);
                    fputs(": no images in this folder\n", stderr);
                    empty_folder = 1;
                }
            } else {
                list_add(&paths, a);
            }
        }
    }
    if (rc < 0 && (!model_path || paths.n == 0)) {
        if (empty_folder) rc = 1;   // already said
        else usage(stderr), rc = 2;
    }
    if (rc >= 0) goto free_paths;   // the images listed so far are freed there

    char err[NN_ERRLEN];
    model m;
    nn_ctx ctx = nn_ctx_cpu();
    rc = 0;
    timing("start");
    if (setup_load_model(&m, model_path, weights, NULL, err) != 0) {   // no Adam state
        fprintf(stderr, "nn predict: %s\n", err);
        rc = 1;
        goto free_paths;
    }
    // A few images take a few ms on one core; a parallel region per layer costs more than that
    // on a busy machine (a thread the OS has paused holds up every join: 20-40 ms, not 4).
    if (threads == 0 && paths.n < 8) threads = 1;
    if (setup_check_loaded(&m, model_path, err) || setup_device(device, threads, &ctx, NULL, NULL, err)) {
        fprintf(stderr, "nn predict: %s\n", err);
        rc = 1;
        goto free_model;
    }
    timing("load");
    // 2 classes from one sigmoid output, or a softmax over nc (setup_check_loaded allowed no other)
    const int nc = model_classes(&m), nout = (int)model_output_size(&m), soft = model_loss_kind(&m) == LOSS_CCE;
    if (top > nc) {
        fprintf(stderr, "nn predict: --top %d: ", top);
        cli_put_name(stderr, model_path);
        fprintf(stderr, " tells %d classes apart (give --top 1 to %d)\n", nc, nc);
        rc = 2;
        goto free_model;
    }
    if (!soft && m.nclasses < 2) {
        fputs("nn predict: ", stderr);
        cli_put_name(stderr, model_path);
        fputs(" has no class names (not saved by nn train): printing class0/class1\n", stderr);
    } else if (soft && m.nclasses < nc) {
        fputs("nn predict: ", stderr);
        cli_put_name(stderr, model_path);
        fputs(" has no class names (not saved by nn train): printing class0, class1, ...\n", stderr);
    }

    // Decode every image (several threads for a folder), then predict in batches.
    int n = paths.n, h = m.input.h, w = m.input.w;
    size_t in = shape3_size(m.input);
    uint8_t *pix = nn_alloc((size_t)n * in, "images");                // (n, H, W, 3)
    char **errs = nn_calloc((size_t)n * sizeof *errs, "image errors");
#pragma omp parallel for schedule(dynamic) if (n > 1)
    for (int i = 0; i < n; i++) {
        char e[NN_ERRLEN];
        if (image_load_rgb(paths.s[i], h, w, pix + (size_t)i * in, e) != 0) errs[i] = nn_strdup(e);
    }
    timing("decode");
    int *good = nn_alloc((size_t)n * sizeof *good, "image index");
    int ngood = 0;
    for (int i = 0; i < n; i++) {
        if (errs[i]) {
            fprintf(stderr, "nn predict: %s\n", errs[i]);
            rc = 1;
        } else {
            if (i != ngood) memcpy(pix + (size_t)ngood * in, pix + (size_t)i * in, in);
            good[ngood++] = i;
        }
    }
    float *prob = nn_alloc((size_t)(ngood ? ngood : 1) * nout * sizeof(float), "probabilities");   // (n, nout)
    if (ngood > 0) {
        int b = NN_MIN(batch, ngood);
        float *x = nn_alloc((size_t)b * in * sizeof(float), "input batch");                 // (B, H, W, 3)
        if (model_to(&m, &ctx, b, err) != 0) {
            fprintf(stderr, "nn predict: %s\n", err);
            nn_free(x);
            rc = 1;
            ngood = 0;
        } else {
            timing("alloc");
            // Logits first, the sigmoid (softmax) below: a pass that overflowed shows as an
            // infinite or NaN logit, which the sigmoid would turn into a confident 1.0000 (or
            // pass on as NaN).
            for (int s = 0; s < ngood; s += b) {
                int k = NN_MIN(b, ngood - s);
                image_to_float(pix + (size_t)s * in, (size_t)k * in, x);
                memcpy(prob + (size_t)s * nout, model_forward(&m, &ctx, k, x, 1), (size_t)k * nout * sizeof(float));   // (k, nout)
            }
            nn_free(x);
        }
    }

    timing("forward");
    // Finite weights can still overflow on some input: such an image gets an error, never a
    // "nan" probability (not even valid JSON) nor the 1.0000 of an infinite logit.
    for (int g = 0; g < ngood; g++) {
        float *z = prob + (size_t)g * nout;
        int finite = 1;
        for (int j = 0; j < nout; j++) finite &= isfinite(z[j]) != 0;
        if (soft) softmax_logits(1, nout, z, z);   // nn/loss.c: the stable softmax
        else z[0] = 1.0f / (1.0f + expf(-z[0]));   // the model's sigmoid (nn/elementwise.c)
        if (finite) continue;
        int i = good[g];
        errs[i] = nn_strdup("the model's output for this image is NaN or infinite (its activations "
                            "overflowed): no prediction");
        fputs("nn predict: ", stderr);
        cli_put_name(stderr, paths.s[i]);
        fprintf(stderr, ": %s\n", errs[i]);
        rc = 1;
    }
    const char *name[MODEL_MAX_CLASSES];
    char label[MODEL_MAX_CLASSES][256];
    for (int k = 0; k < nc; k++) {
        name[k] = setup_class_name(&m, k);
        setup_class_label(&m, k, label[k], sizeof label[k]);
    }
    const int ranks = top ? top : soft ? nc : 1;   // classes listed in "top" (JSON) or on a line
    int order[MODEL_MAX_CLASSES];
    if (json) {
        printf("[");
        for (int i = 0, g = 0; i < n; i++) {
            printf("%s\n  {\"path\": ", i ? "," : "");
            json_str(stdout, paths.s[i]);
            int predicted = g < ngood && good[g] == i;   // prob[g] is the g-th decoded image's
            const float *o = predicted ? prob + (size_t)g++ * nout : NULL;
            if (!predicted || errs[i]) {
                printf(", \"error\": ");
                json_str(stdout, errs[i] ? errs[i] : "not predicted");
                printf("}");
                continue;
            }
            rank_classes(o, soft, nc, order);
            int k = order[0];
            printf(", \"class\": ");
            json_str(stdout, name[k]);
            printf(", \"label\": ");
            json_str(stdout, label[k]);
            printf(", \"probability\": %.6f, \"output\": ", class_prob(o, soft, k));
            if (!soft) printf("%.6f", o[0]);
            for (int j = 0; soft && j < nc; j++) printf("%s%.6f%s", j ? ", " : "[", o[j], j + 1 < nc ? "" : "]");
            if (soft || top) {
                printf(", \"top\": [");
                for (int r = 0; r < ranks; r++) {
                    printf("%s{\"class\": ", r ? ", " : "");
                    json_str(stdout, name[order[r]]);
                    printf(", \"label\": ");
                    json_str(stdout, label[order[r]]);
                    printf(", \"probability\": %.6f}", class_prob(o, soft, order[r]));
                }
                printf("]");
            }
            printf("}");
        }
        printf("\n]\n");
    } else if (n == 1 && ngood == 1 && !errs[good[0]]) {
        rank_classes(prob, soft, nc, order);
        printf("Probability = %.4f\nPrediction = %s\n", class_prob(prob, soft, order[0]), label[order[0]]);
        if (top) {
            int wd = 0;
            for (int r = 0; r < top; r++) wd = NN_MAX(wd, (int)strlen(label[order[r]]));
            printf("Top %d:\n", top);
            for (int r = 0; r < top; r++) printf("  %-*s  %.4f\n", wd, label[order[r]], class_prob(prob, soft, order[r]));
        }
    } else {
        for (int g = 0; g < ngood; g++) {
            const float *o = prob + (size_t)g * nout;
            if (errs[good[g]]) continue;
            rank_classes(o, soft, nc, order);
            cli_put_name(stdout, paths.s[good[g]]);
            for (int r = 0; r < (top ? top : 1); r++) printf("  %s  %.4f", label[order[r]], class_prob(o, soft, order[r]));
            printf("\n");
        }
    }
    for (int i = 0; i < n; i++) nn_free(errs[i]);
    nn_free(errs);
    nn_free(good);
    nn_free(prob);
    nn_free(pix);
free_model:
    model_free(&m);   // before the context: the model's device buffers belong to its device
    nn_ctx_free(&ctx);
free_paths:
    for (int i = 0; i < paths.n; i++) nn_free(paths.s[i]);
    free(paths.s);
    return rc;
}
