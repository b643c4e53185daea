// dataset.c: lists a folder of photos the way keras_preprocessing 1.1.0's flow_from_directory
// does, so that "Found N images belonging to K classes." and the label of every file agree
// with Keras:
//  - classes are the sorted names of DIR's subfolders (sorted(os.listdir(DIR)) filtered by
//    os.path.isdir, which follows symbolic links; hidden folders count, as in Keras);
//  - inside each class folder every file is listed recursively, in the order of
//    sorted(os.walk(class_dir), key=root) then sorted(files): roots sorted as whole path strings,
//    names in byte order (Python's str order for UTF-8 names); symbolic links to subfolders are
//    not followed (Keras's follow_links=False);
//  - names ending in jpg, jpeg, png, bmp or gif in any case: the list, what stb_image
//    decodes here (Keras 1.1.0's list is png, jpg, jpeg, bmp, ppm, tif, tiff: no gif, and ppm
//    and tif besides), matched as Keras matches, without the dot
//    (fname.lower().endswith('jpg')), so a file named "jpg" counts and is then skipped as
//    unreadable (Keras would crash on it).
// Also Kaggle's flat layout (train/cat.12.jpg) and Keras's validation_split.
#include "data.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "../nn/common.h"
#include "prepare.h"

// ---------------------------------------------------------------------------------------------
// Small growable arrays of strings.

typedef struct strvec {
    char **v;
    int n, cap;
} strvec;

static void sv_push(strvec *s, char *str) {
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 64;
        char **v = nn_alloc((size_t)cap * sizeof *v, "file list");
        if (s->n) memcpy(v, s->v, (size_t)s->n * sizeof *v);
        nn_free(s->v);
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = str;
}

static void sv_free(strvec *s) {
    for (int i = 0; i < s->n; i++) nn_free(s->v[i]);
    nn_free(s->v);
    memset(s, 0, sizeof *s);
}

int data_is_image_name(const char *name) {
    static const char *ext[] = {"jpg", "jpeg", "png", "bmp", "gif"};
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof ext / sizeof *ext; i++) {
        size_t m = strlen(ext[i]);
        if (n >= m && strcasecmp(name + n - m, ext[i]) == 0) return 1;
    }
    return 0;
}

// ---------------------------------------------------------------------------------------------
// Recursive listing of one class folder, in Keras's order.

typedef struct walk_entry {
    char *root;   // the folder (full path), the sort key of os.walk's triples
    strvec files; // image names directly inside it, sorted
} walk_entry;

typedef struct walk {
    walk_entry *e;
    int n, cap;
} walk;

static int cmp_walk(const void *a, const void *b) {
    return strcmp(((const walk_entry *)a)->root, ((const walk_entry *)b)->root);
}

// os.walk(top, followlinks=False): top itself is opened even when it is a link; below it, a
// link to a folder is listed among the folders but not entered. Unreadable subfolders are
// ignored as os.walk ignores them (onerror=None); an unreadable top is the caller's error.
static int walk_dir(walk *w, const char *root, int is_top) {
    DIR *dp = opendir(root);
    if (!dp) return is_top ? -1 : 0;
    if (w->n == w->cap) {
        int cap = w->cap ? 2 * w->cap : 8;
        walk_entry *e = nn_calloc((size_t)cap * sizeof *e, "folder list");
        if (w->n) memcpy(e, w->e, (size_t)w->n * sizeof *e);
        nn_free(w->e);
        w->e = e;
        w->cap = cap;
    }
    int me = w->n++;
    w->e[me].root = nn_strdup(root);
    strvec subdirs = {0};
    struct dirent *de;
    while ((de = readdir(dp))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char *p = nn_path_join(root, de->d_name);
        struct stat st, lst;
        int have = stat(p, &st) == 0;
        if (have && S_ISDIR(st.st_mode)) {
            if (lstat(p, &lst) == 0 && !S_ISLNK(lst.st_mode)) sv_push(&subdirs, p);
            else nn_free(p);
            continue;
        }
        // A file: regular files and dangling links are listed (the decoder reports the latter);
        // fifos, sockets and devices are left out, so that opening one cannot block a run.
        if ((!have || S_ISREG(st.st_mode)) && data_is_image_name(de->d_name))
            sv_push(&w->e[me].files, nn_strdup(de->d_name));
        nn_free(p);
    }
    closedir(dp);
    if (w->e[me].files.n > 1)
        qsort(w->e[me].files.v, (size_t)w->e[me].files.n, sizeof(char *), nn_cmp_str);
    for (int i = 0; i < subdirs.n; i++) walk_dir(w, subdirs.v[i], 0);
    sv_free(&subdirs);
    return 0;
}

// Appends the images of one class folder, in Keras's order, to paths.
static int list_class(strvec *paths, const char *class_dir) {
    walk w = {0};
    if (walk_dir(&w, class_dir, 1) < 0) return -1;
    qsort(w.e, (size_t)w.n, sizeof *w.e, cmp_walk);
    for (int i = 0; i < w.n; i++) {
        for (int j = 0; j < w.e[i].files.n; j++) sv_push(paths, nn_path_join(w.e[i].root, w.e[i].files.v[j]));
        sv_free(&w.e[i].files);
        nn_free(w.e[i].root);
    }
    nn_free(w.e);
    return 0;
}

// ---------------------------------------------------------------------------------------------

static int check_dir(const char *dir, char *err) {
    struct stat st;
    if (stat(dir, &st) != 0)
        return nn_fail(err, "%s: %s (give the folder that holds one subfolder per class)", dir,
                       strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return nn_fail(err, "%s: not a folder (give the folder that holds one subfolder per class)",
                       dir);
    return 0;
}

int dataset_open(dataset *d, const char *dir, char *err) {
    memset(d, 0, sizeof *d);
    if (check_dir(dir, err) < 0) return -1;
    DIR *dp = opendir(dir);
    if (!dp) return nn_fail(err, "%s: cannot read the folder: %s", dir, strerror(errno));
    strvec classes = {0};
    int loose_images = 0;
    struct dirent *de;
    while ((de = readdir(dp))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char *p = nn_path_join(dir, de->d_name);
        struct stat st;
        if (stat(p, &st) == 0 && S_ISDIR(st.st_mode)) sv_push(&classes, nn_strdup(de->d_name));
        else if (data_is_image_name(de->d_name)) loose_images++;
        nn_free(p);
    }
    closedir(dp);
    if (classes.n == 0) {
        sv_free(&classes);
        if (loose_images)
            return nn_fail(err,
                           "%s: no class subfolders, but %d images directly inside: put each "
                           "class in its own subfolder (%s/cats/, %s/dogs/, ...)",
                           dir, loose_images, dir, dir);
        return nn_fail(err, "%s: no class subfolders (expected one subfolder per class, e.g. "
                       "%s/cats/ and %s/dogs/)", dir, dir, dir);
    }
    qsort(classes.v, (size_t)classes.n, sizeof(char *), nn_cmp_str);

    strvec paths = {0};
    int32_t *labels = NULL;
    int cap = 0;
    for (int c = 0; c < classes.n; c++) {
        int before = paths.n;
        char *cd = nn_path_join(dir, classes.v[c]);
        int rc = list_class(&paths, cd);
        nn_free(cd);
        if (rc < 0) {
            nn_fail(err, "%s/%s: cannot read the folder: %s", dir, classes.v[c], strerror(errno));
            sv_free(&paths);
            sv_free(&classes);
            nn_free(labels);
            return -1;
        }
        if (paths.n > cap) {
            int ncap = paths.cap;
            int32_t *l = nn_alloc((size_t)ncap * sizeof *l, "labels");
            if (before) memcpy(l, labels, (size_t)before * sizeof *l);
            nn_free(labels);
            labels = l;
            cap = ncap;
        }
        for (int i = before; i < paths.n; i++) labels[i] = c;
    }
    if (paths.n == 0) {
        nn_fail(err, "%s: no images (jpg, jpeg, png, bmp, gif) in its %d class subfolder%s", dir,
                classes.n, classes.n == 1 ? "" : "s");
        sv_free(&paths);
        sv_free(&classes);
        nn_free(labels);
        return -1;
    }
    d->dir = nn_strdup(dir);
    d->nclasses = classes.n;
    d->classes = classes.v;
    d->n = paths.n;
    d->paths = paths.v;
    d->labels = labels;
    return 0;
}

// ---------------------------------------------------------------------------------------------
// Kaggle's flat layout: DIR/cat.1.jpg, DIR/dog.7.jpg ... The label is the name up to the first
// dot; a name with a single dot (12.jpg, as in Kaggle's unlabelled test1/) has no label.

typedef struct flat_item {
    char *label, *name;
} flat_item;

static int cmp_flat(const void *a, const void *b) {
    const flat_item *x = a, *y = b;
    int c = strcmp(x->label, y->label);
    return c ? c : strcmp(x->name, y->name);
}

int dataset_open_flat(dataset *d, const char *dir, char *err) {
    memset(d, 0, sizeof *d);
    struct stat st;
    if (stat(dir, &st) != 0) return nn_fail(err, "%s: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode)) return nn_fail(err, "%s: not a folder", dir);
    DIR *dp = opendir(dir);
    if (!dp) return nn_fail(err, "%s: cannot read the folder: %s", dir, strerror(errno));
    flat_item *it = NULL;
    int n = 0, cap = 0, rc = 0;
    struct dirent *de;
    while ((de = readdir(dp))) {
        if (!data_is_image_name(de->d_name)) continue;
        char *p = nn_path_join(dir, de->d_name);
        int reg = stat(p, &st) == 0 && S_ISREG(st.st_mode);
        nn_free(p);
        if (!reg) continue;
        // The same naming rule as nn prepare, so both agree on which files count.
        char label[PREPARE_LABEL_MAX];
        if (!prepare_parse_name(de->d_name, label)) {
            rc = nn_fail(err, "%s/%s: no label in the name (the flat layout wants LABEL.N.jpg, "
                         "e.g. cat.12.jpg; nn prepare --skip-unlabelled can leave such files out)",
                         dir, de->d_name);
            break;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 256;
            flat_item *t = nn_alloc((size_t)cap * sizeof *t, "file list");
            if (n) memcpy(t, it, (size_t)n * sizeof *t);
            nn_free(it);
            it = t;
        }
        it[n].name = nn_strdup(de->d_name);
        it[n].label = nn_strdup(label);
        n++;
    }
    closedir(dp);
    if (rc == 0 && n == 0)
        rc = nn_fail(err, "%s: no images (jpg, jpeg, png, bmp, gif) named LABEL.ID.ext", dir);
    if (rc < 0) {
        for (int i = 0; i < n; i++) nn_free(it[i].name), nn_free(it[i].label);
        nn_free(it);
        return -1;
    }
    qsort(it, (size_t)n, sizeof *it, cmp_flat);
    d->dir = nn_strdup(dir);
    d->n = n;
    d->paths = nn_alloc((size_t)n * sizeof(char *), "file list");
    d->labels = nn_alloc((size_t)n * sizeof(int32_t), "labels");
    d->classes = nn_alloc((size_t)n * sizeof(char *), "class list");
    for (int i = 0; i < n; i++) {
        if (i == 0 || strcmp(it[i].label, d->classes[d->nclasses - 1]) != 0)
            d->classes[d->nclasses++] = nn_strdup(it[i].label);
        d->labels[i] = d->nclasses - 1;
        d->paths[i] = nn_path_join(dir, it[i].name);
        nn_free(it[i].name);
        nn_free(it[i].label);
    }
    nn_free(it);
    return 0;
}

// ---------------------------------------------------------------------------------------------

static void dataset_copy_classes(dataset *dst, const dataset *src) {
    dst->dir = nn_strdup(src->dir ? src->dir : "");
    dst->nclasses = src->nclasses;
    dst->classes = nn_alloc((size_t)NN_MAX(src->nclasses, 1) * sizeof(char *), "class list");
    for (int c = 0; c < src->nclasses; c++) dst->classes[c] = nn_strdup(src->classes[c]);
}

static void dataset_add(dataset *d, const dataset *src, int i) {
    d->paths[d->n] = nn_strdup(src->paths[i]);
    d->labels[d->n] = src->labels[i];
    d->n++;
}

// keras_preprocessing 1.1.0 (iterator.py, utils.py): subset 'validation' takes files
// [0, int(frac * n_c)) of each class folder's sorted listing, 'training' takes
// [int(frac * n_c), n_c).
int dataset_split(const dataset *all, double frac, dataset *train, dataset *val, char *err) {
    memset(train, 0, sizeof *train);
    memset(val, 0, sizeof *val);
    if (!(frac > 0 && frac < 1))
        return nn_fail(err, "validation split %g: must be strictly between 0 and 1 (e.g. 0.2)", frac);
    dataset_copy_classes(train, all);
    dataset_copy_classes(val, all);
    size_t cap = (size_t)NN_MAX(all->n, 1);
    train->paths = nn_alloc(cap * sizeof(char *), "file list");
    val->paths = nn_alloc(cap * sizeof(char *), "file list");
    train->labels = nn_alloc(cap * sizeof(int32_t), "labels");
    val->labels = nn_alloc(cap * sizeof(int32_t), "labels");
    for (int i = 0; i < all->n;) {
        int j = i;
        while (j < all->n && all->labels[j] == all->labels[i]) j++;
        int nval = (int)(frac * (double)(j - i));  // Python's int() truncates, as here
        for (int k = i; k < j; k++) dataset_add(k - i < nval ? val : train, all, k);
        i = j;
    }
    if (train->n == 0 || val->n == 0) {
        nn_fail(err, "validation split %g of %d images leaves %s: pick a split that leaves "
                "images on both sides", frac, all->n,
                train->n == 0 ? "no training image" : "no validation image");
        dataset_free(train);
        dataset_free(val);
        return -1;
    }
    return 0;
}

int dataset_check_classes(const dataset *d, int want, char *err) {
    if (d->nclasses == want) return 0;
    char names[256] = "";
    size_t o = 0;
    for (int c = 0; c < d->nclasses && o < sizeof names - 8; c++)
        o += (size_t)snprintf(names + o, sizeof names - o, "%s%s", c ? ", " : "", d->classes[c]);
    return nn_fail(err, "%s: %d class%s (%s), but the model needs exactly %d: give one subfolder "
                   "per class", d->dir ? d->dir : "dataset", d->nclasses,
                   d->nclasses == 1 ? "" : "es", names, want);
}

void dataset_free(dataset *d) {
    if (!d) return;
    for (int i = 0; i < d->n; i++) nn_free(d->paths[i]);
    for (int c = 0; c < d->nclasses; c++) nn_free(d->classes[c]);
    nn_free(d->paths);
    nn_free(d->classes);
    nn_free(d->labels);
    nn_free(d->dir);
    memset(d, 0, sizeof *d);
}
