// setup.c: device choice and model checks shared by the commands (see setup.h). The checks run
// before any work so a wrong file fails in one clear line, not in a layer deep inside a step.
#include "setup.h"

#include <omp.h>
#include <string.h>
#include <sys/stat.h>

#include "../nn/common.h"
#include "../nn/cuda_api.h"
#include "cli.h"

int setup_device(const char *want, int threads, nn_ctx *ctx, FILE *say, const char *prefix, char *err) {
    return setup_device_at(want, 0, threads, ctx, say, prefix, err);
}

int setup_device_at(const char *want, int device, int threads, nn_ctx *ctx, FILE *say,
                    const char *prefix, char *err) {
    *ctx = nn_ctx_cpu();
    if (threads > 0) {
        ctx->threads = threads;
        omp_set_num_threads(threads);
    }
    if (!prefix) prefix = "";
    int cores = threads > 0 ? threads : omp_get_max_threads();
    char name[256] = "", why[NN_ERRLEN] = "";
    if (!strcmp(want, "cpu")) {
        if (say) fprintf(say, "%sUsing CPU: --device cpu (%d threads)\n", prefix, cores);
        return 0;
    }
    if (strcmp(want, "auto") && strcmp(want, "cuda"))
        return nn_fail(err, "--device '%s' is not one of auto, cpu, cuda", want);
    int ok = cuda_probe(device, name, sizeof name, why);
    if (ok && cuda_ctx_init(ctx, device, why) == 0) {
        if (say) fprintf(say, "%sUsing GPU: %s\n", prefix, name);
        return 0;
    }
    *ctx = nn_ctx_cpu();
    if (threads > 0) ctx->threads = threads;
    if (!strcmp(want, "cuda")) return nn_fail(err, "--device cuda: %s", why);
    if (say) fprintf(say, "%sUsing CPU: %s (%d threads)\n", prefix, why, cores);
    return 0;
}

void setup_fmt_shape(shape3 s, char *buf, size_t len) {
    if (s.flat) snprintf(buf, len, "(None, %d)", s.c);
    else snprintf(buf, len, "(None, %d, %d, %d)", s.h, s.w, s.c);
}

// The first parameter tensor's shape ("(3, 3, 3, 32)", "none"), then any further tensor's
// ("(3, 3, 3, 32) + (4, 32)"; the bias is told apart by the callers), from the layer table's
// tensors: no kind is named here, so a new kind is compared too.
void setup_fmt_kernel(const layer *l, char *buf, size_t len) {
    model_fmt_kernel(l, buf, len);
    for (int t = 2; t < l->ntensors; t++) {
        const layer_param *p = &l->params[t];
        size_t o = strlen(buf);
        o += snprintf(buf + o, o < len ? len - o : 0, " + (");
        for (int d = 0; d < p->rank && o < len; d++) o += snprintf(buf + o, len - o, "%s%d", d ? ", " : "", p->dims[d]);
        if (o < len) snprintf(buf + o, len - o, p->rank == 1 ? ",)" : ")");
    }
}

int setup_check_classifier(const model *m, const char *name, char *err) {
    char s[64];
    if (m->nlayers == 0) return nn_fail(err, "%s: the model has no layers", name);
    if (m->input.flat || m->input.c != 3) {
        setup_fmt_shape(m->input, s, sizeof s);
        return nn_fail(err, "%s: the model's input is %s but photos are read as RGB images "
                       "(None, H, W, 3)", name, s);
    }
    const layer *last = &m->layers[m->nlayers - 1];
    const loss_kind kind = model_loss_kind(m);   // the decision; below, what to say when it is no
    setup_fmt_shape(last->out, s, sizeof s);
    if (kind == LOSS_CCE && model_classes(m) > MODEL_MAX_CLASSES)
        return nn_fail(err, "%s: the last layer '%s' is a softmax over %d outputs, but nn "
                       "classifies into at most %d classes (it keeps their names)", name,
                       last->name, model_classes(m), MODEL_MAX_CLASSES);
    if (kind == LOSS_CCE) return 0;
    if (last->act == ACT_SOFTMAX && shape3_size(last->out) != (size_t)last->out.c)
        return nn_fail(err, "%s: the last layer '%s' outputs %s, but an N-class model ends in a "
                       "softmax over N outputs (None, N)", name, last->name, s);
    if (last->act == ACT_SOFTMAX)
        return nn_fail(err, "%s: the last layer '%s' is a softmax over one output (always 1): a "
                       "two-class model ends in one sigmoid unit (None, 1), an N-class one in a "
                       "softmax over N", name, last->name);
    if (shape3_size(last->out) != 1)
        return nn_fail(err, "%s: the last layer '%s' outputs %s, but a two-class model ends in one "
                       "sigmoid unit (None, 1), an N-class one in a softmax over N (activation=softmax)",
                       name, last->name, s);
    if (last->act != ACT_SIGMOID)
        return nn_fail(err, "%s: the last layer '%s' has activation '%s'; a two-class model ends in "
                       "'sigmoid' (one probability)", name, last->name, act_name(last->act));
    return 0;
}

int setup_check_loaded(const model *m, const char *name, char *err) {
    if (setup_check_classifier(m, name, err)) return -1;
    return model_check_finite(m, name, err) ? -1 : 0;
}

int setup_is_hdf5(const char *path) {
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

int setup_load_model(model *m, const char *model_path, const char *weights_path, h5_info *info, char *err) {
    if (info) memset(info, 0, sizeof *info);
    if (!weights_path) return model_load_h5_opts(m, model_path, H5_LOAD_WEIGHTS_ONLY, info, err);
    // the layers: a cfg, or a model file (its weights are replaced below)
    int h5 = setup_is_hdf5(model_path);
    if (h5 ? model_load_h5_opts(m, model_path, H5_LOAD_WEIGHTS_ONLY, NULL, err) : model_load_cfg(m, model_path, err))
        return -1;
    if (model_load_weights_h5(m, weights_path, model_path, err)) {
        model_free(m);
        return -1;
    }
    return 0;
}

int setup_same_architecture(const model *a, const char *aname, const model *b, const char *bname,
                            char *err) {
    char sa[64], sb[64];
    if (memcmp(&a->input, &b->input, sizeof a->input)) {
        setup_fmt_shape(a->input, sa, sizeof sa);
        setup_fmt_shape(b->input, sb, sizeof sb);
        return nn_fail(err, "%s does not match %s: input %s in %s but %s in %s", aname, bname, sa,
                       aname, sb, bname);
    }
    int n = NN_MIN(a->nlayers, b->nlayers);
    for (int i = 0; i < n; i++) {
        const layer *la = &a->layers[i], *lb = &b->layers[i];
        const char *ta = layer_ops_of(la->kind)->type, *tb = layer_ops_of(lb->kind)->type;
        if (la->kind != lb->kind)
            return nn_fail(err, "%s does not match %s: layer %d is %s '%s' in %s but %s '%s' in %s",
                           aname, bname, i + 1, ta, la->name, aname, tb, lb->name, bname);
        setup_fmt_kernel(la, sa, sizeof sa);
        setup_fmt_kernel(lb, sb, sizeof sb);
        if (strcmp(sa, sb) || la->bsize != lb->bsize)
            return nn_fail(err, "%s does not match %s: layer %d '%s' has kernel %s%s in %s but %s%s "
                           "in %s", aname, bname, i + 1, la->name, sa, la->bsize ? " with bias" : "",
                           aname, sb, lb->bsize ? " with bias" : "", bname);
        setup_fmt_shape(la->out, sa, sizeof sa);
        setup_fmt_shape(lb->out, sb, sizeof sb);
        if (strcmp(sa, sb))
            return nn_fail(err, "%s does not match %s: layer %d '%s' outputs %s in %s but %s in %s",
                           aname, bname, i + 1, la->name, sa, aname, sb, bname);
        if (la->act != lb->act)
            return nn_fail(err, "%s does not match %s: layer %d '%s' has activation %s in %s but %s "
                           "in %s", aname, bname, i + 1, la->name, act_name(la->act), aname,
                           act_name(lb->act), bname);
    }
    if (a->nlayers != b->nlayers)
        return nn_fail(err, "%s does not match %s: %d layers in %s but %d in %s", aname, bname,
                       a->nlayers, aname, b->nlayers, bname);
    return 0;
}

const char *setup_class_name(const model *m, int i) {
    static const char *const fallback[MODEL_MAX_CLASSES] = {
        "class0", "class1", "class2", "class3", "class4", "class5", "class6", "class7",
        "class8", "class9", "class10", "class11", "class12", "class13", "class14", "class15"};
    if (i >= 0 && i < m->nclasses && m->classes[i] && m->classes[i][0]) return m->classes[i];
    return fallback[i > 0 && i < MODEL_MAX_CLASSES ? i : i != 0];
}

// "dogs" reads as a plural; "glass", "bus", "iris" and a bare "s" do not.
static int plural_s(const char *s) {
    size_t n = strlen(s);
    return n >= 3 && s[n - 1] == 's' && !strchr("sui", s[n - 2]);
}

const char *setup_class_label(const model *m, int i, char *buf, size_t len) {
    const char *name = setup_class_name(m, i);
    cli_printable(name, buf, len);
    int all_plural = m->nclasses >= 2;
    for (int k = 0; k < m->nclasses && all_plural; k++) all_plural = m->classes[k] && plural_s(m->classes[k]);
    size_t n = strlen(buf);
    if (all_plural && n == strlen(name)) buf[n - 1] = 0;
    return buf;
}

int setup_open_folder(dataset *d, const char *dir, char *err) {
    struct stat st;
    memset(d, 0, sizeof *d);
    if (stat(dir, &st) != 0) return nn_fail(err, "%s: no such folder", dir);
    if (!S_ISDIR(st.st_mode)) return nn_fail(err, "%s: not a folder", dir);
    if (dataset_open(d, dir, err) == 0) return 0;
    char flat_err[NN_ERRLEN];   // Kaggle's flat download (cat.1.jpg, dog.1.jpg) works too
    memset(d, 0, sizeof *d);
    if (dataset_open_flat(d, dir, flat_err) == 0) return 0;
    memset(d, 0, sizeof *d);
    return -1;   // err still holds dataset_open's reason, the more useful one
}

// "two-class", "3-class": how the messages name a model of nc classes.
static const char *model_words(int nc, char *buf, size_t len) {
    if (nc == 2) snprintf(buf, len, "two-class");
    else snprintf(buf, len, "%d-class", nc);
    return buf;
}

int setup_check_class_count(const dataset *d, const char *dir, const model *m, char *err) {
    if (model_loss_kind(m) == LOSS_CCE) return dataset_check_classes(d, model_classes(m), err);
    if (d->nclasses < 2)
        return nn_fail(err, "%s: found %d class folder%s%s%s; two are needed (one subfolder per "
                       "class, e.g. cats/ and dogs/)", dir, d->nclasses, d->nclasses == 1 ? " (" : "s",
                       d->nclasses == 1 ? d->classes[0] : "", d->nclasses == 1 ? ")" : "");
    if (d->nclasses > 2)
        return nn_fail(err, "%s: found %d class folders (%s, %s, %s%s); the model has one sigmoid "
                       "output and tells exactly two classes apart (a softmax over N outputs tells "
                       "N apart)", dir, d->nclasses, d->classes[0], d->classes[1], d->classes[2],
                       d->nclasses > 3 ? ", ..." : "");
    return 0;
}

// Images listed (or kept after decoding) per class; labels (n).
static void count_labels(const int32_t *labels, int n, int nclasses, int *count) {
    for (int k = 0; k < nclasses; k++) count[k] = 0;
    for (int i = 0; i < n; i++)
        if (labels[i] >= 0 && labels[i] < nclasses) count[labels[i]]++;
}

int setup_check_classes(const dataset *d, const char *dir, const model *m, char *err) {
    if (setup_check_class_count(d, dir, m, err)) return -1;
    int count[MODEL_MAX_CLASSES], nc = d->nclasses;
    char words[32];
    count_labels(d->labels, d->n, nc, count);
    for (int k = 0; k < nc; k++)
        if (count[k] == 0)
            return nn_fail(err, "%s/%s: no images (jpg, jpeg, png, bmp, gif) in this class folder: a "
                           "%s model cannot learn a class it never sees; add its images or give a "
                           "folder whose %s classes all have some", dir, d->classes[k],
                           model_words(nc, words, sizeof words), nc == 2 ? "two" : "N");
    return 0;
}

int setup_check_decoded(const image_cache *c, const dataset *d, FILE *warn, const char *prefix,
                        char *err) {
    int listed[MODEL_MAX_CLASSES], kept[MODEL_MAX_CLASSES], nc = d->nclasses;
    const char *dir = d->dir ? d->dir : "dataset";
    if (nc < 2 || nc > MODEL_MAX_CLASSES)
        return nn_fail(err, "%s: %d class folders (a classifier takes 2 to %d)", dir, nc, MODEL_MAX_CLASSES);
    count_labels(d->labels, d->n, nc, listed);
    count_labels(c->labels, c->n, nc, kept);
    char words[32];
    for (int k = 0; k < nc; k++) {
        if (kept[k]) continue;
        char why[160];
        if (listed[k]) snprintf(why, sizeof why, "none of its %d image%s could be read (see the lines above)",
                                listed[k], listed[k] == 1 ? "" : "s");
        else snprintf(why, sizeof why, "no images (jpg, jpeg, png, bmp, gif) in this class folder");
        if (!warn)
            return nn_fail(err, "%s/%s: %s: a %s model cannot learn a class it never sees; add "
                           "readable images of it", dir, d->classes[k], why, model_words(nc, words, sizeof words));
        char line[NN_ERRLEN];
        if (nc == 2) nn_fail(line, "%s/%s: %s: the results cover %s only", dir, d->classes[k], why, d->classes[1 - k]);
        else nn_fail(line, "%s/%s: %s: the results cover the other classes only", dir, d->classes[k], why);
        fprintf(warn, "%swarning: %s\n", prefix ? prefix : "", line);
    }
    return 0;
}

const char *setup_join_names(char *buf, size_t len, char *const *names, int n) {
    size_t o = 0;
    buf[0] = 0;
    for (int i = 0; i < n && o < len; i++) o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? ", " : "", names[i]);
    return buf;
}

int setup_same_classes(const model *m, const char *mname, const dataset *d, const char *dir,
                       char *line) {
    if (m->nclasses != d->nclasses) return 0;   // a count that differs is setup_check_class_count's
    int k = 0;
    while (k < d->nclasses && !strcmp(m->classes[k], d->classes[k])) k++;
    if (k == d->nclasses) return 0;
    char mine[NN_ERRLEN / 4], theirs[NN_ERRLEN / 4], pairs[NN_ERRLEN / 2] = "";
    for (int i = 0, o = 0; i < d->nclasses && o < (int)sizeof pairs; i++)
        o += snprintf(pairs + o, sizeof pairs - o, "%s%s as %s", i ? ", " : "", d->classes[i], m->classes[i]);
    nn_fail(line, "%s was trained on (%s) but %s has (%s); the folders are taken in sorted order "
            "(%s)", mname, setup_join_names(mine, sizeof mine, m->classes, m->nclasses), dir,
            setup_join_names(theirs, sizeof theirs, d->classes, d->nclasses), pairs);
    return 1;
}

int setup_resume_step(const model *m, const char *path, int batch, int steps, int *first, char *err) {
    *first = 0;
    if (m->batch > 0) {   // the file says where it stopped
        if (m->step <= 0) return 0;   // at an epoch end: any batch size starts the next epoch
        if (m->batch != batch)
            return nn_fail(err, "%s was saved mid-epoch (epoch %d, step %ld) at batch %d; resume with "
                           "--batch %d, or from a checkpoint saved at an epoch end (another batch size "
                           "would start at other images)", path, m->epoch + 1, m->step, m->batch, m->batch);
        if (steps > 0 && m->step >= steps)
            return nn_fail(err, "%s was saved at step %ld of epoch %d, but the data make %d steps an "
                           "epoch at batch %d: resume on the data of the first run", path, m->step,
                           m->epoch + 1, steps, batch);
        *first = (int)m->step;
        return 0;
    }
    // A Keras file: its Adam count says nothing about where an epoch of this run stands.
    if (m->epoch_unknown) return 0;
    // An older nn file: Adam's count minus the whole epochs, taken at this batch size (as before).
    long within = steps > 0 ? m->t - (long)m->epoch * steps : 0;
    if (within > 0 && within < steps) *first = (int)within;
    return 0;
}

void setup_resume_line(const model *m, const char *path, int batch, int steps, int first, char *line,
                       size_t len) {
    char name[1024];
    cli_printable(path, name, sizeof name);
    if (m->batch == 0 && m->epoch_unknown) {
        snprintf(line, len, "Resuming %s (written by Keras, Adam at step %ld; Keras records no epochs "
                 "or batch size): epochs count from this run, epoch 1 starts at its first step.", name, m->t);
    } else if (first > 0) {
        snprintf(line, len, "Resuming %s: epoch %d, step %d/%d%s.", name, m->epoch + 1, first, steps,
                 m->batch ? "" : " (from Adam's step count: the file does not record its batch size)");
    } else if (m->batch == 0 && m->t != (long)m->epoch * steps) {
        snprintf(line, len, "Resuming %s after epoch %d (the file does not record its batch size, and Adam's "
                 "step count %ld is not %d whole epochs of %d steps at batch %d): epoch %d starts at its "
                 "first step.", name, m->epoch, m->t, m->epoch, steps, batch, m->epoch + 1);
    } else {
        snprintf(line, len, "Resuming %s after epoch %d.", name, m->epoch);
    }
}
