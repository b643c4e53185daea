// prepare.c: `nn prepare` — Kaggle's flat folder of cat.N.jpg / dog.N.jpg into
// DST/{training_set,test_set}/{cats,dogs} (the rules are in prepare.h).
//
// The run is ordered so that a mistake costs nothing: everything that can be checked (the names
// in SRC, the split, DST's state, every file already in DST that would clash) is checked before
// the first directory is made. Only then are the folders made and the files placed, each as a
// hard link, or as a copy written under a temporary name and renamed, so that an interrupted run
// never leaves a half-written image under a real name.
#include "prepare.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../nn/common.h"
#include "../nn/rng.h"

static const char *set_names[2] = {"training_set", "test_set"};

// ---------------------------------------------------------------------------------------------
// Names

int prepare_is_image(const char *name) {
    static const char *exts[] = {"jpg", "jpeg", "png", "bmp", "gif"};
    const char *dot = strrchr(name, '.');
    if (!dot || dot == name) return 0;
    for (size_t i = 0; i < sizeof exts / sizeof *exts; i++)
        if (!strcasecmp(dot + 1, exts[i])) return 1;
    return 0;
}

// Parses LABEL.N.EXT; on success label gets LABEL and *num/*numlen point at N in name.
static int parse_name(const char *name, char *label, const char **num, int *numlen) {
    if (!prepare_is_image(name)) return 0;
    const char *d1 = strchr(name, '.');
    const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    if (!d1 || !d2 || d2 != strrchr(name, '.')) return 0;  // exactly two dots
    size_t llen = (size_t)(d1 - name);
    if (llen == 0 || llen >= PREPARE_LABEL_MAX || d2 == d1 + 1) return 0;
    int letters = 0;
    for (const char *p = name; p < d1; p++) {
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-') return 0;
        letters += isalpha((unsigned char)*p) != 0;
    }
    if (!letters) return 0;
    for (const char *p = d1 + 1; p < d2; p++)
        if (!isdigit((unsigned char)*p)) return 0;
    memcpy(label, name, llen);
    label[llen] = 0;
    if (num) *num = d1 + 1, *numlen = (int)(d2 - d1 - 1);
    return 1;
}

int prepare_parse_name(const char *name, char *label) { return parse_name(name, label, NULL, NULL); }

static uint64_t fnv1a64(const char *s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

// ---------------------------------------------------------------------------------------------
// The plan: one entry per labelled image

typedef struct pfile {
    char *name;           // file name in SRC
    int cls;              // index into the sorted labels
    const char *num;      // the N of LABEL.N.EXT, inside name (not zero-terminated)
    int numlen;
    int set;              // 0 training_set, 1 test_set
    int done;             // already in place in DST (a --force rerun)
} pfile;

// Compares N as a number of any length (no overflow): leading zeros dropped, then shorter is
// smaller, then digit by digit; equal numbers (cat.1.jpg, cat.01.png) fall back to the name.
static int cmp_number(const void *a, const void *b) {
    const pfile *x = *(const pfile *const *)a, *y = *(const pfile *const *)b;
    const char *p = x->num, *q = y->num;
    int lp = x->numlen, lq = y->numlen;
    while (lp > 1 && *p == '0') p++, lp--;
    while (lq > 1 && *q == '0') q++, lq--;
    if (lp != lq) return lp < lq ? -1 : 1;
    int c = memcmp(p, q, (size_t)lp);
    return c ? c : strcmp(x->name, y->name);
}

// DST/set/folder/name
static char *target_path(const char *dst, int set, const char *folder, const char *name) {
    char *s = nn_path_join(dst, set_names[set]);
    char *f = nn_path_join(s, folder);
    char *t = nn_path_join(f, name);
    nn_free(s);
    nn_free(f);
    return t;
}

// realpath() for a path that may not exist yet: the longest existing prefix resolved, the rest
// appended. NULL when nothing of it resolves. (nn_alloc and realpath both pair with free().)
static char *resolve_path(const char *p) {
    char *r = realpath(p, NULL);
    if (r || errno != ENOENT) return r;
    char *q = nn_strdup(p);
    size_t n = strlen(q);
    while (n > 1 && q[n - 1] == '/') q[--n] = 0;
    char *slash = strrchr(q, '/'), *out = NULL;
    if (slash) *slash = 0;
    char *parent = resolve_path(!slash ? "." : slash == q ? "/" : q);
    if (parent) out = nn_path_join(parent, slash ? slash + 1 : q);
    free(parent);
    nn_free(q);
    return out;
}

// ---------------------------------------------------------------------------------------------
// Placing files

static int mkdir_one(const char *path, char *err) {
    if (mkdir(path, 0777) == 0) return 0;
    int e = errno;
    struct stat st;
    if (e == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return 0;
    if (e == EEXIST) return nn_fail(err, "cannot create folder %s: a file of that name is in the way", path);
    return nn_fail(err, "cannot create folder %s: %s", path, strerror(e));
}

// mkdir -p
static int mkdir_parents(const char *path, char *err) {
    char *p = nn_strdup(path);
    int rc = 0;
    for (char *s = p + 1; *s && rc == 0; s++) {
        if (*s != '/') continue;
        *s = 0;
        rc = mkdir_one(p, err);
        *s = '/';
    }
    if (rc == 0) rc = mkdir_one(p, err);
    nn_free(p);
    return rc;
}

// Byte-for-byte equality of two files (a --force rerun over an earlier copy).
static int same_content(const char *a, const char *b) {
    int fa = open(a, O_RDONLY), fb = open(b, O_RDONLY);
    int same = fa >= 0 && fb >= 0;
    char *ba = nn_alloc(1 << 16, "compare buffer"), *bb = nn_alloc(1 << 16, "compare buffer");
    while (same) {
        ssize_t na = read(fa, ba, 1 << 16), nb = na > 0 ? read(fb, bb, (size_t)na) : read(fb, bb, 1);
        if (na < 0 || nb < 0 || na != nb || (na > 0 && memcmp(ba, bb, (size_t)na))) same = 0;
        if (na == 0) break;   // (a short read on a regular file only happens at its end)
    }
    nn_free(ba);
    nn_free(bb);
    if (fa >= 0) close(fa);
    if (fb >= 0) close(fb);
    return same;
}

// Copies src to dst through dst's folder/.NAME.partial, keeping the source's modification time
// (decode caches key on it), then renames without replacing anything already at dst.
static int copy_file(const char *src, const char *dst, char *err) {
    const char *slash = strrchr(dst, '/');
    size_t dlen = slash ? (size_t)(slash - dst + 1) : 0;
    char *tmp = nn_alloc(strlen(dst) + 16, "path");
    memcpy(tmp, dst, dlen);
    sprintf(tmp + dlen, ".%s.partial", dst + dlen);
    char *buf = nn_alloc(1 << 20, "copy buffer");
    int in = open(src, O_RDONLY), out = -1, rc = -1;
    struct stat st;
    if (in < 0 || fstat(in, &st) != 0) {
        nn_fail(err, "cannot read %s: %s", src, strerror(errno));
        goto done;
    }
    out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0) {
        nn_fail(err, "cannot create %s: %s", tmp, strerror(errno));
        goto done;
    }
    for (;;) {
        ssize_t n = read(in, buf, 1 << 20);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            nn_fail(err, "cannot read %s: %s", src, strerror(errno));
            goto done;
        }
        if (n == 0) break;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR) continue;
            if (w < 0) {
                nn_fail(err, "cannot write %s: %s", tmp, strerror(errno));
                goto done;
            }
            off += w;
        }
    }
    struct timespec times[2] = {st.st_atim, st.st_mtim};
    futimens(out, times);  // best effort: a copy with a fresh time is still a correct copy
    int c = close(out);
    out = -1;
    if (c != 0) {
        nn_fail(err, "cannot write %s: %s", tmp, strerror(errno));
        goto done;
    }
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dst, RENAME_NOREPLACE) != 0) {
        int e = errno;
        // Filesystems without RENAME_NOREPLACE: dst was checked absent when the run began.
        if ((e == EINVAL || e == ENOSYS) && access(dst, F_OK) != 0 && rename(tmp, dst) == 0) {
            rc = 0;
            goto done;
        }
        nn_fail(err, "cannot create %s: %s", dst, strerror(e == EINVAL || e == ENOSYS ? errno : e));
        goto done;
    }
    rc = 0;
done:
    if (out >= 0) close(out);
    if (in >= 0) close(in);
    if (rc != 0) unlink(tmp);  // only our own partial copy
    nn_free(buf);
    nn_free(tmp);
    return rc;
}

// Errors of link(2) that mean "no hard link here", not "something is wrong": another
// filesystem, one without hard links, too many links to the source.
static int link_unsupported(int e) {
    return e == EXDEV || e == EPERM || e == EMLINK || e == ENOTSUP || e == EOPNOTSUPP || e == ENOSYS;
}

// ---------------------------------------------------------------------------------------------
// The run

typedef struct listing {
    pfile *files;
    int n, cap;
    char **labels;   // distinct labels, sorted
    int nlabels;
} listing;

static void listing_free(listing *L) {
    for (int i = 0; i < L->n; i++) nn_free(L->files[i].name);
    nn_free(L->files);
    for (int i = 0; i < L->nlabels; i++) nn_free(L->labels[i]);
    nn_free(L->labels);
    memset(L, 0, sizeof *L);
}

// Reads SRC: labelled images into L, the rest counted in r.
static int list_source(const char *src, const prepare_opts *o, listing *L, prepare_result *r,
                       char *err) {
    struct stat st;
    if (stat(src, &st) != 0)
        return nn_fail(err, "%s: %s (give the folder Kaggle's train.zip unpacks to, e.g. train/)",
                       src, strerror(errno));
    if (!S_ISDIR(st.st_mode)) return nn_fail(err, "%s is not a folder (give the folder that holds cat.0.jpg …)", src);
    DIR *dir = opendir(src);
    if (!dir) return nn_fail(err, "cannot read folder %s: %s", src, strerror(errno));
    char **names = NULL;
    int nnames = 0, capnames = 0;
    struct dirent *de;
    while ((de = readdir(dir))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        if (nnames == capnames) {
            capnames = capnames ? 2 * capnames : 1024;
            char **grown = nn_alloc((size_t)capnames * sizeof *grown, "file names");
            if (names) memcpy(grown, names, (size_t)nnames * sizeof *grown), nn_free(names);
            names = grown;
        }
        names[nnames++] = nn_strdup(de->d_name);
    }
    closedir(dir);
    // Sorted, so the unlabelled names shown and every count do not depend on readdir's order.
    if (nnames) qsort(names, (size_t)nnames, sizeof *names, nn_cmp_str);

    char label[PREPARE_LABEL_MAX];
    for (int i = 0; i < nnames; i++) {
        char *full = nn_path_join(src, names[i]);
        int ok = stat(full, &st) == 0;  // follows symbolic links: a link to a photo is a photo
        nn_free(full);
        const char *num;
        int numlen;
        if (!ok || !S_ISREG(st.st_mode)) {
            r->nignored++;
            r->nsubdirs += ok && S_ISDIR(st.st_mode);
        } else if (!prepare_is_image(names[i])) {
            r->nignored++;
        } else if (!parse_name(names[i], label, &num, &numlen)) {
            if (r->nunlabelled < PREPARE_SHOW_MAX)
                snprintf(r->unlabelled[r->nunlabelled], sizeof r->unlabelled[0], "%s", names[i]);
            r->nunlabelled++;
        } else {
            if (L->n == L->cap) {
                L->cap = L->cap ? 2 * L->cap : 1024;
                pfile *grown = nn_calloc((size_t)L->cap * sizeof *grown, "file list");
                if (L->files) memcpy(grown, L->files, (size_t)L->n * sizeof *grown), nn_free(L->files);
                L->files = grown;
            }
            pfile *f = &L->files[L->n++];
            f->name = names[i];
            f->num = num;  // points into name, which the file entry now owns
            f->numlen = numlen;
            names[i] = NULL;
            f->cls = -1;
        }
        nn_free(names[i]);
    }
    nn_free(names);

    if (r->nunlabelled && !o->skip_unlabelled) {
        char list[400] = "";
        for (int i = 0; i < NN_MIN(r->nunlabelled, PREPARE_SHOW_MAX); i++) {
            size_t used = strlen(list);
            snprintf(list + used, sizeof list - used, "%s%.60s", i ? ", " : "", r->unlabelled[i]);
        }
        return nn_fail(err, "%s: %d image file%s without a label in the name (LABEL.N.ext, e.g. "
                       "cat.0.jpg): %s%s; rename them, or pass --skip-unlabelled to leave them out%s",
                       src, r->nunlabelled, r->nunlabelled == 1 ? "" : "s", list,
                       r->nunlabelled > PREPARE_SHOW_MAX ? ", …" : "",
                       L->n ? "" : " (Kaggle's test1/ folder has no labels: use train/)");
    }
    if (L->n == 0) {
        if (r->nsubdirs)
            return nn_fail(err, "%s holds no labelled images (LABEL.N.jpg/.jpeg/.png/.bmp/.gif) but "
                           "%d subfolder%s: if it is already split into class folders, give it to "
                           "`nn train --data` as it is", src, r->nsubdirs, r->nsubdirs == 1 ? "" : "s");
        return nn_fail(err, "%s holds no labelled images (LABEL.N.jpg/.jpeg/.png/.bmp/.gif, e.g. "
                       "cat.0.jpg)%s", src, r->nignored || r->nunlabelled ? "" : ": it is empty");
    }

    // Distinct labels, sorted; each file gets its label's index.
    char **all = nn_alloc((size_t)L->n * sizeof *all, "labels");
    for (int i = 0; i < L->n; i++) {
        parse_name(L->files[i].name, label, NULL, NULL);
        all[i] = nn_strdup(label);
    }
    qsort(all, (size_t)L->n, sizeof *all, nn_cmp_str);
    L->labels = nn_alloc((size_t)L->n * sizeof *L->labels, "labels");
    for (int i = 0; i < L->n; i++) {
        if (L->nlabels && !strcmp(L->labels[L->nlabels - 1], all[i])) nn_free(all[i]);
        else L->labels[L->nlabels++] = all[i];
    }
    nn_free(all);
    for (int i = 0; i < L->n; i++) {
        parse_name(L->files[i].name, label, NULL, NULL);
        char *key = label;
        char **hit = bsearch(&key, L->labels, (size_t)L->nlabels, sizeof *L->labels, nn_cmp_str);
        L->files[i].cls = (int)(hit - L->labels);
    }
    return 0;
}

// The split rule of prepare.h, class by class.
static void plan_split(listing *L, const prepare_opts *o, prepare_result *r) {
    r->nclasses = L->nlabels;
    r->classes = nn_calloc((size_t)L->nlabels * sizeof *r->classes, "classes");
    pfile **members = nn_alloc((size_t)L->n * sizeof *members, "class members");
    int32_t *perm = nn_alloc((size_t)L->n * sizeof *perm, "permutation");
    for (int c = 0; c < L->nlabels; c++) {
        prepare_class *pc = &r->classes[c];
        snprintf(pc->label, sizeof pc->label, "%s", L->labels[c]);
        snprintf(pc->folder, sizeof pc->folder, "%ss", L->labels[c]);
        int n = 0;
        for (int i = 0; i < L->n; i++)
            if (L->files[i].cls == c) members[n++] = &L->files[i];
        qsort(members, (size_t)n, sizeof *members, cmp_number);
        for (int i = 0; i < n; i++) perm[i] = i;
        rng g;
        rng_seed(&g, o->seed ^ fnv1a64(pc->label));
        rng_shuffle(&g, perm, n);
        int ntest = (int)floor(n * o->test_split + 0.5);
        for (int i = 0; i < n; i++) members[perm[i]]->set = i < ntest;
        pc->ntest = ntest;
        pc->ntrain = n - ntest;
    }
    r->nimages = L->n;
    nn_free(perm);
    nn_free(members);
}

// With DST already holding a set (--force): every file of this split must be either absent or
// the same file, and none may sit in the other set (the same photo in training and test would
// make the test score a lie). Checked for all files before anything is written.
static int check_existing(const char *src, const char *dst, listing *L, prepare_result *r, char *err) {
    for (int i = 0; i < L->n; i++) {
        pfile *f = &L->files[i];
        const char *folder = r->classes[f->cls].folder;
        char *other = target_path(dst, !f->set, folder, f->name);
        struct stat so, ss;
        int clash = lstat(other, &so) == 0;
        nn_free(other);
        if (clash) {
            nn_fail(err, "%s/%s/%s/%s is already there, but this split puts %s in %s (was DST made "
                    "with another --seed or --test-split?); nothing was changed: choose a new DST, "
                    "or remove the old set yourself", dst, set_names[!f->set], folder, f->name,
                    f->name, set_names[f->set]);
            return -1;
        }
        char *t = target_path(dst, f->set, folder, f->name);
        char *s = nn_path_join(src, f->name);
        int rc = 0;
        if (lstat(t, &so) == 0) {
            if (stat(s, &ss) == 0 && stat(t, &so) == 0 && S_ISREG(so.st_mode) &&
                ((so.st_dev == ss.st_dev && so.st_ino == ss.st_ino) ||
                 (so.st_size == ss.st_size && same_content(s, t)))) {
                f->done = 1;
                r->nexisting++;
            } else {
                rc = nn_fail(err, "%s is already there and is not the same as %s; nothing was "
                             "changed: choose a new DST, or move that file away yourself", t, s);
            }
        }
        nn_free(t);
        nn_free(s);
        if (rc) return rc;
    }
    return 0;
}

static int check_dst(const char *src, const char *dst, const prepare_opts *o, listing *L,
                     prepare_result *r, char *err) {
    char *rs = resolve_path(src), *rd = resolve_path(dst);
    int inside = rs && rd && !strncmp(rd, rs, strlen(rs)) &&
                 (rd[strlen(rs)] == 0 || rd[strlen(rs)] == '/' || !strcmp(rs, "/"));
    free(rs);
    free(rd);
    if (inside)
        return nn_fail(err, "%s is inside %s: choose a DST outside the download, so that the "
                       "source folder stays exactly as it came", dst, src);

    // Which filesystem DST will be on: that of its nearest existing ancestor.
    struct stat ss, sd;
    char *probe = nn_strdup(dst);
    while (stat(probe, &sd) != 0) {
        char *slash = strrchr(probe, '/');
        if (!slash) { strcpy(probe, "."); continue; }
        if (slash == probe) slash[1] = 0;
        else *slash = 0;
    }
    r->same_fs = stat(src, &ss) == 0 && ss.st_dev == sd.st_dev;
    // Caught here so that --dry-run reports it too; every write checks again anyway.
    if (S_ISDIR(sd.st_mode) ? access(probe, W_OK) != 0 : strcmp(probe, dst) != 0) {
        nn_fail(err, "cannot create %s: %s %s; choose another DST", dst, probe,
                S_ISDIR(sd.st_mode) ? "is not writable" : "is not a folder");
        nn_free(probe);
        return -1;
    }
    nn_free(probe);

    if (stat(dst, &sd) == 0) {
        if (!S_ISDIR(sd.st_mode)) return nn_fail(err, "%s exists and is not a folder: choose another DST", dst);
        int prepared = 0;
        for (int s = 0; s < 2; s++) {
            char *p = nn_path_join(dst, set_names[s]);
            prepared |= lstat(p, &sd) == 0;
            nn_free(p);
        }
        if (prepared && !o->force)
            return nn_fail(err, "%s already holds a prepared set (%s/training_set or test_set): "
                           "choose another DST, or pass --force to add what is missing to it "
                           "(nothing there is deleted or replaced)", dst, dst);
        if (prepared && check_existing(src, dst, L, r, err)) return -1;
    } else if (errno != ENOENT) {
        return nn_fail(err, "cannot use %s: %s", dst, strerror(errno));
    }
    return 0;
}

static int place_files(const char *src, const char *dst, const prepare_opts *o, listing *L,
                       prepare_result *r, char *err) {
    if (mkdir_parents(dst, err)) return -1;
    for (int s = 0; s < 2; s++)
        for (int c = 0; c < r->nclasses; c++) {
            char *p = target_path(dst, s, r->classes[c].folder, "");
            int rc = mkdir_parents(p, err);
            nn_free(p);
            if (rc) return -1;
        }
    int use_copy = o->copy;
    for (int i = 0; i < L->n; i++) {
        pfile *f = &L->files[i];
        if (f->done) continue;
        char *s = nn_path_join(src, f->name);
        char *t = target_path(dst, f->set, r->classes[f->cls].folder, f->name);
        int rc = 0, linked = 0;
        if (!use_copy) {
            if (linkat(AT_FDCWD, s, AT_FDCWD, t, AT_SYMLINK_FOLLOW) == 0) {
                linked = 1;
            } else if (link_unsupported(errno)) {
                if (!r->link_errno) r->link_errno = errno;
                use_copy = errno != EMLINK;  // EMLINK is this file's; others hold for all
            } else {
                rc = nn_fail(err, "cannot create %s: %s", t, strerror(errno));
            }
        }
        if (!rc && !linked) rc = copy_file(s, t, err);
        nn_free(s);
        nn_free(t);
        if (rc) {
            size_t len = strlen(err);
            snprintf(err + len, NN_ERRLEN - len, " (%d of %d files placed; once fixed, rerun "
                     "with --force to complete the set)", r->nlinked + r->ncopied + r->nexisting,
                     r->nimages);
            return -1;
        }
        if (linked) r->nlinked++;
        else r->ncopied++;
    }
    return 0;
}

int prepare_run(const char *src, const char *dst, const prepare_opts *o, prepare_result *r,
                char *err) {
    memset(r, 0, sizeof *r);
    if (!(o->test_split >= 0 && o->test_split < 1))
        return nn_fail(err, "test split %g is not in [0, 1)", o->test_split);
    listing L = {0};
    int rc = list_source(src, o, &L, r, err);
    if (rc == 0) {
        plan_split(&L, o, r);
        rc = check_dst(src, dst, o, &L, r, err);
    }
    if (rc == 0 && !o->dry_run) rc = place_files(src, dst, o, &L, r, err);
    listing_free(&L);
    return rc;
}

void prepare_result_free(prepare_result *r) {
    nn_free(r->classes);
    r->classes = NULL;
    r->nclasses = 0;
}
