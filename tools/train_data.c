// train_data.c: the images `nn train` learns from (train_data.h): a labelled folder (or
// Kaggle's flat one), split or with its own validation folder, decoded once (optionally through
// a cache file); or, without --data, the synthetic set made up in memory.
#include "train_data.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "../nn/common.h"
#include "setup.h"
#include "synthetic.h"

static char *cache_name(const char *cache, const char *suffix) {
    if (!cache) return NULL;
    char *s = nn_alloc(strlen(cache) + strlen(suffix) + 1, "cache name");
    strcpy(s, cache);
    strcat(s, suffix);
    return s;
}

static int load_cache(image_cache *c, const dataset *d, const train_data_opts *o, int h, int w,
                      train_say_fn say, void *user, const char *cache, char *err) {
    if (image_cache_load(c, d, h, w, o->threads, cache, err) != 0) return -1;
    say(user, "Found %d images belonging to %d classes.", c->n, d->nclasses);
    if (cache && c->from_cache) say(user, "(decoded images read from %s in %.1fs)", cache, c->seconds);
    return 0;
}

int train_data_load(train_data *D, const train_data_opts *o, const model *m, train_say_fn say,
                    void *user, char *err) {
    const int h = m->input.h, w = m->input.w;
    memset(D, 0, sizeof *D);
    if (!o->data) {
        const int nc = model_classes(m);   // 2 or 3: cmd_train checked it
        D->synthetic = 1;
        D->nclasses = nc;
        for (int k = 0; k < nc; k++) D->classes[k] = nn_strdup(synthetic_class(nc, k));
        int nv = NN_MAX(o->synthetic_n / 4, nc);
        synthetic_make(&D->train, o->synthetic_n, nc, h, w, 0x5EED0001);
        synthetic_make(&D->val, nv, nc, h, w, 0x5EED0002);
        D->have_val = 1;
        say(user, "Found %d images belonging to %d classes.", D->train.n, nc);
        say(user, "Found %d images belonging to %d classes.", D->val.n, nc);
        if (o->write_synthetic) {
            char dir[4096];
            if (mkdir(o->write_synthetic, 0777) != 0 && errno != EEXIST)
                return nn_fail(err, "--write-synthetic %s: %s", o->write_synthetic, strerror(errno));
            snprintf(dir, sizeof dir, "%s/train", o->write_synthetic);
            if (synthetic_write_dir(&D->train, nc, dir, err)) return -1;
            snprintf(dir, sizeof dir, "%s/val", o->write_synthetic);
            if (synthetic_write_dir(&D->val, nc, dir, err)) return -1;
            say(user, "Wrote the synthetic images to %s/train and %s/val.", o->write_synthetic, o->write_synthetic);
        }
        return 0;
    }
    dataset all = {0}, tr = {0}, va = {0};
    int rc = -1;
    if ((o->flat ? dataset_open_flat(&all, o->data, err) : setup_open_folder(&all, o->data, err)) ||
        setup_check_classes(&all, o->data, m, err))
        goto done;
    for (int k = 0; k < all.nclasses; k++) D->classes[k] = nn_strdup(all.classes[k]);
    D->nclasses = all.nclasses;
    char *c_train = cache_name(o->cache, ""), *c_val = cache_name(o->cache, ".val");
    if (o->val_split > 0) {
        if (dataset_split(&all, o->val_split, &tr, &va, err)) goto free_names;
        if (tr.n == 0 || va.n == 0) {
            nn_fail(err, "--val-split %g of %s leaves %s images", o->val_split, o->data,
                    tr.n ? "no validation" : "no training");
            goto free_names;
        }
        if (load_cache(&D->train, &tr, o, h, w, say, user, c_train, err) || load_cache(&D->val, &va, o, h, w, say, user, c_val, err) ||
            setup_check_decoded(&D->train, &tr, NULL, NULL, err))   // a class none of whose files read
            goto free_names;
        setup_check_decoded(&D->val, &va, stderr, "nn train: --val-split: ", err);
        D->have_val = 1;
    } else {
        if (load_cache(&D->train, &all, o, h, w, say, user, c_train, err) || setup_check_decoded(&D->train, &all, NULL, NULL, err))
            goto free_names;
        if (o->val) {
            if (o->flat ? dataset_open_flat(&va, o->val, err) : setup_open_folder(&va, o->val, err))
                goto free_names;
            int same = va.nclasses == all.nclasses;
            for (int k = 0; same && k < all.nclasses; k++) same = !strcmp(va.classes[k], all.classes[k]);
            if (!same) {
                char theirs[NN_ERRLEN / 4], mine[NN_ERRLEN / 4];
                if (all.nclasses == 2)   // the two-class line as it always was
                    nn_fail(err, "--val %s: its class folders (%s%s%s%s) differ from --data's (%s, %s)",
                            o->val, va.nclasses ? va.classes[0] : "none", va.nclasses > 1 ? ", " : "",
                            va.nclasses > 1 ? va.classes[1] : "", va.nclasses > 2 ? ", ..." : "",
                            all.classes[0], all.classes[1]);
                else
                    nn_fail(err, "--val %s: its class folders (%s) differ from --data's (%s)", o->val,
                            va.nclasses ? setup_join_names(theirs, sizeof theirs, va.classes, va.nclasses) : "none",
                            setup_join_names(mine, sizeof mine, all.classes, all.nclasses));
                goto free_names;
            }
            if (load_cache(&D->val, &va, o, h, w, say, user, c_val, err)) goto free_names;
            setup_check_decoded(&D->val, &va, stderr, "nn train: --val: ", err);
            D->have_val = 1;
        }
    }
    rc = 0;
free_names:
    nn_free(c_train);
    nn_free(c_val);
done:
    dataset_free(&all);
    dataset_free(&tr);
    dataset_free(&va);
    return rc;
}

void train_data_free(train_data *D) {
    if (D->synthetic) {
        synthetic_free(&D->train);
        synthetic_free(&D->val);
    } else {
        if (D->train.pixels) image_cache_free(&D->train);
        if (D->have_val) image_cache_free(&D->val);
    }
    for (int k = 0; k < D->nclasses; k++) nn_free(D->classes[k]);
}
