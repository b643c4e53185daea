// h5.c: models as Keras's legacy .h5 files (DESIGN.md, "HDF5 file"), both directions.
//
// The layout is what Keras 3's `model.save("x.h5")` writes (keras/src/legacy/saving/
// legacy_h5_format.py), so that keras.models.load_model reads our files and we read theirs:
//   /                 attrs keras_version, backend (variable-length UTF-8), model_config,
//                     training_config (variable-length ASCII JSON, nn/keras_json.c); ours:
//                     nn_class_names (UTF-8 array), nn_epoch (int64), which Keras ignores
//   /model_weights    attrs layer_names, backend, keras_version; one group per layer with attr
//                     weight_names ("sequential/conv2d/kernel", ...; an empty float64 array
//                     when the layer has none, as h5py writes []) and the datasets at those
//                     paths; an empty group top_level_model_weights
//   /optimizer_weights attr weight_names; datasets adam/iteration (int64), adam/learning_rate,
//                     and per parameter adam/sequential_<layer>_<kernel|bias>_<momentum|velocity>
//                     in Keras's variable order (Keras restores them by position)
// Reading also takes tf.keras 2 files (weight names "conv2d/kernel:0" under
// model_weights/conv2d/conv2d/, optimizer names "Adam/conv2d/kernel/m:0" with every m before
// every v) and both fixed- and variable-length strings (h5py 2 wrote fixed ones).
//
// Saving goes to a temporary file in the same folder, which is flushed, fsynced and renamed
// over the target: a crash at any point leaves either the old file or the new one, never half.
// Loading treats the file as untrusted: every shape, size and type is checked before a read,
// and any problem is one line in err (HDF5's own error printing is switched off); a first
// load in a child process keeps libhdf5's own crashes on corrupt files out of the caller.
#include "h5.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "keras_json.h"

#define NN_KERAS_VERSION "3.15.1"   // the Keras release whose layout this file reproduces
#define NN_BACKEND "nn"            // Keras reads this attribute for information only
#define MAX_STRINGS 100000
#define MAX_STRING_BYTES (64u << 20)

// ------------------------------------------------------------------------------------------
// HDF5 helpers

static void h5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

// The innermost message of HDF5's error stack ("unable to open file", "disk full"...), for the
// end of an error line.
static herr_t walk_cb(unsigned n, const H5E_error2_t *e, void *data) {
    if (n == 0 && e->desc) snprintf((char *)data, 160, "%s", e->desc);
    return 0;
}

static const char *h5_reason(char buf[160]) {
    buf[0] = 0;
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, walk_cb, buf);
    if (!buf[0]) snprintf(buf, 160, "HDF5 error");
    return buf;
}

static void h5_close(hid_t id) {
    if (id < 0) return;
    switch (H5Iget_type(id)) {
    case H5I_FILE: H5Fclose(id); break;
    case H5I_GROUP: H5Gclose(id); break;
    case H5I_DATASET: H5Dclose(id); break;
    case H5I_ATTR: H5Aclose(id); break;
    case H5I_DATATYPE: H5Tclose(id); break;
    case H5I_DATASPACE: H5Sclose(id); break;
    case H5I_GENPROP_LST: H5Pclose(id); break;
    default: break;
    }
}

static hid_t str_type(int utf8) {
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0) return -1;
    if (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, utf8 ? H5T_CSET_UTF8 : H5T_CSET_ASCII) < 0) {
        H5Tclose(t);
        return -1;
    }
    return t;
}

// A variable-length string attribute: a scalar when n < 0, else an array of n strings. n == 0
// writes what h5py writes for an empty list: a float64 array of shape (0,).
static int put_strings(hid_t obj, const char *name, const char *const *v, int n, int utf8) {
    hsize_t dim = n > 0 ? (hsize_t)n : 0;
    hid_t space = n < 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &dim, NULL);
    hid_t type = n == 0 ? H5Tcopy(H5T_IEEE_F64LE) : str_type(utf8);
    hid_t a = (space < 0 || type < 0) ? -1 : H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    int rc = a < 0 ? -1 : 0;
    if (!rc && n != 0 && H5Awrite(a, type, v) < 0) rc = -1;
    h5_close(a);
    h5_close(type);
    h5_close(space);
    return rc;
}

static int put_str(hid_t obj, const char *name, const char *s, int utf8) {
    return put_strings(obj, name, &s, -1, utf8);
}

static int put_i64(hid_t obj, const char *name, long long v) {
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t a = space < 0 ? -1 : H5Acreate2(obj, name, H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT);
    int rc = (a < 0 || H5Awrite(a, H5T_NATIVE_LLONG, &v) < 0) ? -1 : 0;
    h5_close(a);
    h5_close(space);
    return rc;
}

// A dataset at a path below g (intermediate groups created, as h5py does for "a/b/c").
// rank 0 is a scalar. file_type is what the file stores, mem_type what data holds.
static int put_dataset(hid_t g, const char *path, int rank, const hsize_t *dims, hid_t file_type,
                       hid_t mem_type, const void *data) {
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    hid_t space = rank ? H5Screate_simple(rank, dims, NULL) : H5Screate(H5S_SCALAR);
    hid_t d = -1;
    if (lcpl >= 0 && space >= 0 && H5Pset_create_intermediate_group(lcpl, 1) >= 0)
        d = H5Dcreate2(g, path, file_type, space, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    int rc = (d < 0 || H5Dwrite(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) ? -1 : 0;
    h5_close(d);
    h5_close(space);
    h5_close(lcpl);
    return rc;
}

// The shapes Keras gives a layer's kernel and bias. Returns the kernel's rank (0: no weights).
static int param_dims(const layer *l, hsize_t kdims[4], hsize_t *bdim) {
    *bdim = l->bsize;
    if (l->wsize == 0) return 0;
    if (l->kind == LAYER_CONV2D) {
        kdims[0] = l->kh, kdims[1] = l->kw, kdims[2] = l->in.c, kdims[3] = l->filters;
        return 4;
    }
    kdims[0] = l->in.c, kdims[1] = l->units;
    return 2;
}

// ------------------------------------------------------------------------------------------
// saving

static int write_contents(const model *m, hid_t f) {
    int rc = 0;
    char *mc = keras_model_config_json(m);
    char *tc = keras_training_config_json(&m->opt);
    rc |= put_str(f, "keras_version", NN_KERAS_VERSION, 1);
    rc |= put_str(f, "backend", NN_BACKEND, 1);
    rc |= put_str(f, "model_config", mc, 0);
    rc |= put_str(f, "training_config", tc, 0);
    nn_free(mc);
    nn_free(tc);
    if (m->nclasses > 0)
        rc |= put_strings(f, "nn_class_names", (const char *const *)m->classes, m->nclasses, 1);
    rc |= put_i64(f, "nn_epoch", m->epoch);
    if (rc) return -1;

    hid_t mw = H5Gcreate2(f, "model_weights", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (mw < 0) return -1;
    const char *names[MODEL_MAX_LAYERS];
    for (int i = 0; i < m->nlayers; i++) names[i] = m->layers[i].name;
    rc |= put_strings(mw, "layer_names", names, m->nlayers, 0);
    rc |= put_str(mw, "backend", NN_BACKEND, 0);
    rc |= put_str(mw, "keras_version", NN_KERAS_VERSION, 0);
    for (int i = 0; i < m->nlayers && !rc; i++) {
        const layer *l = &m->layers[i];
        hid_t g = H5Gcreate2(mw, l->name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (g < 0) {
            rc = -1;
            break;
        }
        hsize_t kd[4], bd;
        int krank = param_dims(l, kd, &bd);
        char kname[128], bname[128];
        snprintf(kname, sizeof kname, "sequential/%s/kernel", l->name);
        snprintf(bname, sizeof bname, "sequential/%s/bias", l->name);
        const char *wn[2] = {kname, bname};
        rc |= put_strings(g, "weight_names", wn, krank ? 1 + (bd > 0) : 0, 0);
        if (krank)
            rc |= put_dataset(g, kname, krank, kd, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, m->w + l->woff);
        if (krank && bd)
            rc |= put_dataset(g, bname, 1, &bd, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, m->w + l->boff);
        H5Gclose(g);
    }
    hid_t top = rc ? -1 : H5Gcreate2(mw, "top_level_model_weights", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (top < 0 || put_strings(top, "weight_names", NULL, 0, 0) < 0) rc = -1;
    h5_close(top);
    H5Gclose(mw);
    if (rc) return -1;

    // Adam's state in Keras 3's variable order: iteration, learning_rate, then for each
    // parameter (layer order, kernel before bias) its momentum and velocity.
    hid_t ow = H5Gcreate2(f, "optimizer_weights", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (ow < 0) return -1;
    int nw = 2;
    char (*wn)[160] = nn_alloc(sizeof(*wn) * (2 + 4 * (size_t)m->nlayers), "optimizer names");
    const char **wp = nn_alloc(sizeof(*wp) * (2 + 4 * (size_t)m->nlayers), "optimizer names");
    snprintf(wn[0], sizeof wn[0], "adam/iteration");
    snprintf(wn[1], sizeof wn[1], "adam/learning_rate");
    long long t = m->t;
    float lr = m->opt.lr > 0 ? m->opt.lr : adam_defaults().lr;
    rc |= put_dataset(ow, wn[0], 0, NULL, H5T_STD_I64LE, H5T_NATIVE_LLONG, &t);
    rc |= put_dataset(ow, wn[1], 0, NULL, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, &lr);
    for (int i = 0; i < m->nlayers && !rc; i++) {
        const layer *l = &m->layers[i];
        hsize_t kd[4], bd;
        int krank = param_dims(l, kd, &bd);
        for (int p = 0; p < (krank ? 1 + (bd > 0) : 0) && !rc; p++) {
            size_t off = p ? l->boff : l->woff;
            for (int s = 0; s < 2; s++) {
                snprintf(wn[nw], sizeof wn[nw], "adam/sequential_%s_%s_%s", l->name,
                         p ? "bias" : "kernel", s ? "velocity" : "momentum");
                rc |= put_dataset(ow, wn[nw], p ? 1 : krank, p ? &bd : kd, H5T_IEEE_F32LE,
                                  H5T_NATIVE_FLOAT, (s ? m->v : m->m) + off);
                nw++;
            }
        }
    }
    for (int i = 0; i < nw; i++) wp[i] = wn[i];
    if (!rc) rc = put_strings(ow, "weight_names", wp, nw, 0);
    nn_free(wn);
    nn_free(wp);
    H5Gclose(ow);
    return rc;
}

static int fsync_path(const char *path, int dir) {
    int fd = open(path, O_RDONLY | (dir ? O_DIRECTORY : 0));
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

// Writes n bytes; 0, or -1 with errno (ENOSPC for a short write on a full disk).
static int write_all(int fd, const uint8_t *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            if (w == 0) errno = ENOSPC;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

// The model as the bytes of an HDF5 file, built in memory by HDF5's core driver (nn_free).
static uint8_t *build_image(const model *m, size_t *size, char *why) {
    char name[64];
    snprintf(name, sizeof name, "nn-model-%p.h5", (const void *)m);   // identifies it in libhdf5
    // grown in steps of about the whole file (weights and Adam's moments, plus headers): one
    // step, where 1 MiB steps made a 47 MB model cost 47 reallocations and copies
    size_t step = 3 * m->nparams * sizeof(float) + ((size_t)m->nlayers + 2) * 8192;
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0 || H5Pset_fapl_core(fapl, step, 0) < 0 ||
        H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0) {
        h5_close(fapl);
        h5_reason(why);
        return NULL;
    }
    hid_t f = H5Fcreate(name, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    h5_close(fapl);
    if (f < 0) {
        h5_reason(why);
        return NULL;
    }
    uint8_t *buf = NULL;
    ssize_t n = -1;
    if (write_contents(m, f) == 0 && H5Fflush(f, H5F_SCOPE_GLOBAL) >= 0 &&
        (n = H5Fget_file_image(f, NULL, 0)) > 0) {
        buf = nn_alloc((size_t)n, "model file image");
        if (H5Fget_file_image(f, buf, (size_t)n) != n) {
            nn_free(buf);
            buf = NULL;
        }
    }
    if (!buf) h5_reason(why);
    if (H5Fclose(f) < 0 && buf) {
        h5_reason(why);
        nn_free(buf);
        buf = NULL;
    }
    *size = buf ? (size_t)n : 0;
    return buf;
}

// The file is built in memory (build_image) and written here with plain write()s to a
// temporary file beside the target, fsynced and renamed over it:
//  - a crash at any point leaves either the old file or the new one, never half;
//  - every disk error (full disk, quota, EIO) is a write() error with its errno, and libhdf5
//    never holds a file it failed to write: with its own file driver, a write that failed on a
//    full disk left libhdf5 with a file it crashed on at exit (H5F__close_cb, a SIGSEGV after
//    the error line; found by tests/test_faults.sh on a full tmpfs);
//  - where the filesystem allows it (O_TMPFILE), the data is written to an unnamed file that
//    gets its temporary name only once complete, so a kill -9 in the middle of a save leaves
//    nothing behind (with mkstemp it left a NAME.tmp-XXXXXX of the model's size).
int model_save_h5(const model *m, const char *path, char *err) {
    h5_quiet();
    if (!m->finalized) return nn_fail(err, "cannot save %s: the model is not finalized", path);
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return nn_fail(err, "cannot save the model to %s: it is a folder", path);

    char why[160];
    size_t size;
    uint8_t *image = build_image(m, &size, why);
    if (!image) return nn_fail(err, "cannot build the HDF5 file for %s: %s", path, why);

    // The temporary file lives beside the target so that rename() is atomic (same filesystem).
    char *dir = nn_strdup(path), *slash = strrchr(dir, '/');
    if (slash == dir) slash[1] = 0;
    else if (slash) *slash = 0;
    const char *folder = slash ? dir : ".";
    size_t len = strlen(path) + 40;
    char *tmp = nn_alloc(len, "temporary file name");
    int rc = 0, named = 0;
    mode_t um = umask(0);
    umask(um);
    // (the unnamed file is named through /proc/self/fd: without /proc, a named one at once)
    int fd = access("/proc/self/fd", X_OK) == 0 ? open(folder, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666 & ~um) : -1;
    if (fd < 0) {   // no O_TMPFILE here (an old kernel, some network filesystems): a named one
        snprintf(tmp, len, "%s.tmp-XXXXXX", path);
        fd = mkstemp(tmp);
        if (fd < 0) {
            int e = errno;
            nn_free(tmp), nn_free(dir), nn_free(image);
            return nn_fail(err, "cannot write %s: %s (does the folder exist and is it writable?)",
                           path, strerror(e));
        }
        named = 1;
        if (fchmod(fd, 0666 & ~um) != 0) um = 0;   // stays 0600: not worth failing a save over
    }
    if (write_all(fd, image, size) != 0 || fsync(fd) != 0)
        rc = nn_fail(err, "writing %s failed: %s; %s was left as it was", path, strerror(errno), path);
    nn_free(image);
    if (!rc && !named) {   // give the complete file its temporary name
        char proc[64];
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
        for (int k = 0; !named && k < 100; k++) {
            snprintf(tmp, len, "%s.tmp-%d-%d", path, (int)getpid(), k);
            if (linkat(AT_FDCWD, proc, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) == 0) named = 1;
            else if (errno != EEXIST) break;
        }
        if (!named)
            rc = nn_fail(err, "cannot name the new file for %s: %s; %s was left as it was", path,
                         strerror(errno), path);
    }
    if (close(fd) != 0 && !rc)
        rc = nn_fail(err, "writing %s failed: %s; %s was left as it was", path, strerror(errno), path);
    if (!rc && rename(tmp, path) != 0)
        rc = nn_fail(err, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
    if (rc && named) unlink(tmp);
    if (!rc) fsync_path(folder, 1);   // make the rename itself durable
    nn_free(tmp);
    nn_free(dir);
    return rc;
}

// ------------------------------------------------------------------------------------------
// loading

typedef struct {
    const char *path;
    char *err;
    char why[160];
} rd;

static void free_strings(char **s, int n) {
    for (int i = 0; i < n; i++) nn_free(s[i]);
    nn_free(s);
}

// Reads a string attribute, scalar or array, variable- or fixed-length. Returns 1 and the
// strings (nn_alloc'd, free_strings) when found, 0 when absent, -1 with err when unreadable.
// An empty array of any type (h5py's []) reads as no strings.
static int get_strings(rd *r, hid_t obj, const char *objname, const char *name, char ***out, int *n) {
    *out = NULL;
    *n = 0;
    htri_t ex = H5Aexists(obj, name);
    if (ex < 0) return nn_fail(r->err, "%s: cannot read %s attributes: %s", r->path, objname, h5_reason(r->why));
    if (!ex) return 0;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT), ft = -1, sp = -1, mt = -1;
    int rc = -1;
    if (a < 0 || (ft = H5Aget_type(a)) < 0 || (sp = H5Aget_space(a)) < 0) {
        nn_fail(r->err, "%s: cannot open attribute %s%s: %s", r->path, objname, name, h5_reason(r->why));
        goto done;
    }
    hssize_t np = H5Sget_simple_extent_npoints(sp);
    if (np == 0) {
        rc = 1;
        goto done;
    }
    if (H5Tget_class(ft) != H5T_STRING || np < 0 || np > MAX_STRINGS) {
        nn_fail(r->err, "%s: attribute %s%s is not a list of strings", r->path, objname, name);
        goto done;
    }
    char **s = nn_calloc((size_t)np * sizeof *s, "strings");
    if (H5Tis_variable_str(ft) > 0) {
        mt = str_type(H5Tget_cset(ft) == H5T_CSET_UTF8);
        char **raw = nn_calloc((size_t)np * sizeof *raw, "strings");
        if (mt < 0 || H5Aread(a, mt, raw) < 0) {
            nn_free(raw);
            free_strings(s, (int)np);
            nn_fail(r->err, "%s: cannot read attribute %s%s: %s", r->path, objname, name, h5_reason(r->why));
            goto done;
        }
        for (hssize_t i = 0; i < np; i++) s[i] = nn_strdup(raw[i] ? raw[i] : "");
#if H5_VERSION_GE(1, 12, 0)
        H5Treclaim(mt, sp, H5P_DEFAULT, raw);
#else
        H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, raw);
#endif
        nn_free(raw);
    } else {
        size_t sz = H5Tget_size(ft);
        if (sz == 0 || sz > MAX_STRING_BYTES / (size_t)np) {
            free_strings(s, (int)np);
            nn_fail(r->err, "%s: attribute %s%s is too large", r->path, objname, name);
            goto done;
        }
        H5T_str_t pad = H5Tget_strpad(ft);
        mt = H5Tcopy(ft);   // same size and padding: the read copies bytes unchanged
        char *raw = nn_alloc(sz * (size_t)np, "strings");
        if (mt < 0 || H5Aread(a, mt, raw) < 0) {
            nn_free(raw);
            free_strings(s, (int)np);
            nn_fail(r->err, "%s: cannot read attribute %s%s: %s", r->path, objname, name, h5_reason(r->why));
            goto done;
        }
        for (hssize_t i = 0; i < np; i++) {
            const char *p = raw + (size_t)i * sz;
            size_t k = strnlen(p, sz);
            while (pad == H5T_STR_SPACEPAD && k > 0 && p[k - 1] == ' ') k--;
            s[i] = nn_alloc(k + 1, "string");
            memcpy(s[i], p, k);
            s[i][k] = 0;
        }
        nn_free(raw);
    }
    *out = s;
    *n = (int)np;
    rc = 1;
done:
    h5_close(mt);
    h5_close(sp);
    h5_close(ft);
    h5_close(a);
    return rc;
}

// One string (a scalar or a one-element array). 1 found, 0 absent, -1 error.
static int get_string(rd *r, hid_t obj, const char *name, char **out) {
    char **s;
    int n, rc = get_strings(r, obj, "", name, &s, &n);
    *out = NULL;
    if (rc <= 0) return rc;
    if (n != 1) {
        free_strings(s, n);
        return nn_fail(r->err, "%s: attribute %s holds %d strings, expected one", r->path, name, n);
    }
    *out = s[0];
    nn_free(s);
    return 1;
}

// Keras splits long name lists into name0, name1, ... (HDF5's 64 KiB header limit).
static int get_name_list(rd *r, hid_t obj, const char *objname, const char *name, char ***out, int *n) {
    int rc = get_strings(r, obj, objname, name, out, n);
    for (int chunk = 0; rc == 0; chunk++) {
        char cname[80];
        char **s;
        int k;
        snprintf(cname, sizeof cname, "%s%d", name, chunk);
        int c = get_strings(r, obj, objname, cname, &s, &k);
        if (c < 0) {
            free_strings(*out, *n);
            return -1;
        }
        if (c == 0) return chunk ? 1 : 0;
        char **all = nn_alloc((size_t)(*n + k) * sizeof *all, "strings");
        if (*n) memcpy(all, *out, (size_t)*n * sizeof *all);
        memcpy(all + *n, s, (size_t)k * sizeof *s);
        nn_free(*out);
        *out = all;
        *n += k;
        nn_free(s);
    }
    return rc;
}

static void fmt_dims(char *buf, size_t len, int rank, const hsize_t *d) {
    int o = snprintf(buf, len, "(");
    for (int i = 0; i < rank && o < (int)len; i++)
        o += snprintf(buf + o, len - o, "%s%llu", i ? ", " : "", (unsigned long long)d[i]);
    if (rank == 1 && o < (int)len) o += snprintf(buf + o, len - o, ",");
    if (o < (int)len) snprintf(buf + o, len - o, ")");
}

// Opens dataset `name` below g, checks it is a float array of exactly the expected shape, and
// reads it into dst. what: "layer 'dense' kernel" for errors.
static int read_floats(rd *r, hid_t g, const char *name, int rank, const hsize_t *dims, float *dst,
                       const char *what) {
    hid_t d = H5Dopen2(g, name, H5P_DEFAULT), ft = -1, sp = -1;
    int rc = -1;
    if (d < 0) {
        nn_fail(r->err, "%s: %s: dataset '%s' is missing or unreadable: %s", r->path, what, name,
                h5_reason(r->why));
        goto done;
    }
    ft = H5Dget_type(d);
    sp = H5Dget_space(d);
    if (ft < 0 || sp < 0 || H5Tget_class(ft) != H5T_FLOAT) {
        nn_fail(r->err, "%s: %s: dataset '%s' does not hold floating-point numbers", r->path, what, name);
        goto done;
    }
    hsize_t fd[H5S_MAX_RANK];
    int frank = H5Sget_simple_extent_ndims(sp);
    int same = frank == rank;
    if (frank >= 0 && frank <= H5S_MAX_RANK) H5Sget_simple_extent_dims(sp, fd, NULL);
    for (int i = 0; same && i < rank; i++) same = fd[i] == dims[i];
    if (!same) {
        char got[128] = "(?)", want[128];
        if (frank >= 0 && frank <= 8) fmt_dims(got, sizeof got, frank, fd);
        fmt_dims(want, sizeof want, rank, dims);
        nn_fail(r->err, "%s: %s has shape %s in the file, the model needs %s", r->path, what, got, want);
        goto done;
    }
    if (H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, dst) < 0) {
        nn_fail(r->err, "%s: %s: cannot read dataset '%s' (file truncated or corrupt?): %s", r->path,
                what, name, h5_reason(r->why));
        goto done;
    }
    rc = 0;
done:
    h5_close(sp);
    h5_close(ft);
    h5_close(d);
    return rc;
}

// model_weights: Keras matches the layers that have weights, in order, to the groups whose
// weight_names are not empty, in layer_names order; so do we (names may differ).
static int read_weights(rd *r, hid_t f, model *m) {
    if (H5Lexists(f, "model_weights", H5P_DEFAULT) <= 0)
        return nn_fail(r->err, "%s: no model_weights group: not a Keras model file", r->path);
    hid_t mw = H5Gopen2(f, "model_weights", H5P_DEFAULT);
    if (mw < 0) return nn_fail(r->err, "%s: cannot open model_weights: %s", r->path, h5_reason(r->why));
    char **names = NULL;
    int nnames = 0, rc = 0, k = 0;
    if (get_name_list(r, mw, "model_weights/", "layer_names", &names, &nnames) <= 0) {
        if (nnames == 0 && !r->err[0]) nn_fail(r->err, "%s: model_weights has no layer_names", r->path);
        H5Gclose(mw);
        return -1;
    }
    int li = 0;   // next model layer with weights
    for (int i = 0; i < nnames && !rc; i++) {
        if (H5Lexists(mw, names[i], H5P_DEFAULT) <= 0) {
            rc = nn_fail(r->err, "%s: model_weights lists layer '%s' but has no group for it", r->path, names[i]);
            break;
        }
        hid_t g = H5Gopen2(mw, names[i], H5P_DEFAULT);
        char **wn = NULL, gname[128];
        int nw = 0;
        snprintf(gname, sizeof gname, "model_weights/%s/", names[i]);
        if (g < 0 || get_strings(r, g, gname, "weight_names", &wn, &nw) < 0) {
            if (g < 0) nn_fail(r->err, "%s: cannot open group %s: %s", r->path, gname, h5_reason(r->why));
            h5_close(g);
            rc = -1;
            break;
        }
        if (nw > 0) {
            while (li < m->nlayers && m->layers[li].wsize == 0) li++;
            if (li == m->nlayers) {
                rc = nn_fail(r->err, "%s: model_weights has weights for more layers than model_config describes", r->path);
            } else {
                layer *l = &m->layers[li];
                hsize_t kd[4], bd;
                int krank = param_dims(l, kd, &bd), want = 1 + (bd > 0);
                char what[160];
                snprintf(what, sizeof what, "layer '%s'", l->name);
                if (nw != want) {
                    rc = nn_fail(r->err, "%s: layer '%s' has %d weights in the file, the model needs %d (kernel%s)",
                                 r->path, l->name, nw, want, bd ? " and bias" : "");
                } else {
                    snprintf(what, sizeof what, "layer '%s' kernel", l->name);
                    rc = read_floats(r, g, wn[0], krank, kd, m->w + l->woff, what);
                    snprintf(what, sizeof what, "layer '%s' bias", l->name);
                    if (!rc && bd) rc = read_floats(r, g, wn[1], 1, &bd, m->w + l->boff, what);
                }
                li++;
                k++;
            }
        }
        free_strings(wn, nw);
        H5Gclose(g);
    }
    free_strings(names, nnames);
    H5Gclose(mw);
    if (rc) return rc;
    while (li < m->nlayers && m->layers[li].wsize == 0) li++;
    if (li < m->nlayers)
        return nn_fail(r->err, "%s: model_weights has weights for %d layers, model_config has more (layer '%s' has none)",
                       r->path, k, m->layers[li].name);
    return 0;
}

// Which of Adam's variables a name in optimizer_weights/weight_names is. Keras 3:
// "adam/sequential_dense_kernel_momentum"; tf.keras 2: "Adam/dense/kernel/m:0"; tf.keras 2.11+:
// "Adam/m/dense/kernel:0"; Keras 2.0-2.2 left moments unnamed ("training/Adam/Variable:0").
typedef enum { OW_OTHER, OW_ITER, OW_LR, OW_M, OW_V } ow_kind;

static int base_is(const char *base, size_t n, const char *word) {
    return n == strlen(word) && !strncmp(base, word, n);
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

static ow_kind ow_classify(const char *name) {
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    size_t n = strcspn(base, ":");   // tf.keras appends ":0"
    if (base_is(base, n, "iteration") || base_is(base, n, "iterations") || base_is(base, n, "iter"))
        return OW_ITER;
    if (base_is(base, n, "learning_rate") || base_is(base, n, "lr")) return OW_LR;
    if (base_is(base, n, "m") || ends_with(name, "_momentum")) return OW_M;
    if (base_is(base, n, "v") || ends_with(name, "_velocity")) return OW_V;
    const char *second = strchr(name, '/');
    if (second && !strncmp(second, "/m/", 3)) return OW_M;
    if (second && !strncmp(second, "/v/", 3)) return OW_V;
    return OW_OTHER;
}

static int read_scalar_i64(rd *r, hid_t g, const char *name, long long *v) {
    hid_t d = H5Dopen2(g, name, H5P_DEFAULT), ft = -1, sp = -1;
    int rc = -1;
    if (d >= 0 && (ft = H5Dget_type(d)) >= 0 && (sp = H5Dget_space(d)) >= 0 &&
        (H5Tget_class(ft) == H5T_INTEGER || H5Tget_class(ft) == H5T_FLOAT) &&
        H5Sget_simple_extent_npoints(sp) == 1 &&
        H5Dread(d, H5T_NATIVE_LLONG, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0)
        rc = 0;
    else
        nn_fail(r->err, "%s: optimizer_weights: '%s' is not a readable number", r->path, name);
    h5_close(sp);
    h5_close(ft);
    h5_close(d);
    return rc;
}

// Adam's moments and step count. Keras 3 interleaves momentum/velocity per variable, tf.keras 2
// puts every m before every v; both are in the model's variable order (kernel, bias per layer),
// which is also the order of our parameter views.
static int read_optimizer(rd *r, hid_t f, model *m) {
    hid_t ow = H5Gopen2(f, "optimizer_weights", H5P_DEFAULT);
    if (ow < 0) return nn_fail(r->err, "%s: cannot open optimizer_weights: %s", r->path, h5_reason(r->why));
    char **wn = NULL;
    int nw = 0, rc = 0;
    if (get_name_list(r, ow, "optimizer_weights/", "weight_names", &wn, &nw) < 0) {
        H5Gclose(ow);
        return -1;
    }
    // The parameter tensors in variable order: (layer, 0 = kernel / 1 = bias).
    int np = 0, pl[2 * MODEL_MAX_LAYERS], pb[2 * MODEL_MAX_LAYERS];
    for (int i = 0; i < m->nlayers; i++) {
        if (m->layers[i].wsize) pl[np] = i, pb[np++] = 0;
        if (m->layers[i].wsize && m->layers[i].bsize) pl[np] = i, pb[np++] = 1;
    }
    int *mi = nn_alloc(sizeof(int) * (size_t)(nw + 1), "optimizer index");
    int *vi = nn_alloc(sizeof(int) * (size_t)(nw + 1), "optimizer index");
    int *oi = nn_alloc(sizeof(int) * (size_t)(nw + 1), "optimizer index");
    int nm = 0, nv = 0, no = 0, it = -1;
    for (int i = 0; i < nw; i++) {
        ow_kind k = ow_classify(wn[i]);
        if (k == OW_ITER && it < 0) it = i;
        else if (k == OW_M) mi[nm++] = i;
        else if (k == OW_V) vi[nv++] = i;
        else if (k == OW_OTHER) oi[no++] = i;
    }
    if (nm == 0 && nv == 0 && no >= 2 * np) {   // unnamed: [m...] [v...] (then amsgrad's vhat)
        for (int j = 0; j < np; j++) mi[j] = oi[j], vi[j] = oi[np + j];
        nm = nv = np;
    }
    long long t = 0;
    if (it >= 0) rc = read_scalar_i64(r, ow, wn[it], &t);
    if (!rc && t < 0) rc = nn_fail(r->err, "%s: optimizer_weights: negative iteration count %lld", r->path, t);
    if (!rc && (nm != np || nv != np))
        rc = nn_fail(r->err, "%s: optimizer_weights holds %d first and %d second moments, the model has %d weight tensors",
                     r->path, nm, nv, np);
    for (int j = 0; j < np && !rc; j++) {
        const layer *l = &m->layers[pl[j]];
        hsize_t kd[4], bd;
        int krank = param_dims(l, kd, &bd);
        size_t off = pb[j] ? l->boff : l->woff;
        char what[160];
        snprintf(what, sizeof what, "optimizer_weights: layer '%s' %s first moment", l->name, pb[j] ? "bias" : "kernel");
        rc = read_floats(r, ow, wn[mi[j]], pb[j] ? 1 : krank, pb[j] ? &bd : kd, m->m + off, what);
        snprintf(what, sizeof what, "optimizer_weights: layer '%s' %s second moment", l->name, pb[j] ? "bias" : "kernel");
        if (!rc) rc = read_floats(r, ow, wn[vi[j]], pb[j] ? 1 : krank, pb[j] ? &bd : kd, m->v + off, what);
    }
    if (!rc) m->t = (long)t;
    nn_free(mi);
    nn_free(vi);
    nn_free(oi);
    free_strings(wn, nw);
    H5Gclose(ow);
    return rc;
}

static int read_extras(rd *r, hid_t f, model *m) {
    char **cls;
    int n, rc = get_strings(r, f, "", "nn_class_names", &cls, &n);
    if (rc < 0) return -1;
    if (n > (int)(sizeof m->classes / sizeof *m->classes)) {
        free_strings(cls, n);
        return nn_fail(r->err, "%s: nn_class_names holds %d names, nn keeps at most %zu", r->path, n,
                       sizeof m->classes / sizeof *m->classes);
    }
    for (int i = 0; i < n; i++) m->classes[i] = cls[i];
    m->nclasses = n;
    nn_free(cls);
    htri_t ex = H5Aexists(f, "nn_epoch");
    if (ex > 0) {
        long long e = 0;
        hid_t a = H5Aopen(f, "nn_epoch", H5P_DEFAULT), ft = a < 0 ? -1 : H5Aget_type(a);
        int ok = ft >= 0 && H5Tget_class(ft) == H5T_INTEGER && H5Aread(a, H5T_NATIVE_LLONG, &e) >= 0 &&
                 e >= 0 && e < (1 << 30);
        h5_close(ft);
        h5_close(a);
        if (!ok) return nn_fail(r->err, "%s: attribute nn_epoch is not a non-negative integer", r->path);
        m->epoch = (int)e;
    }
    return 0;
}

static int load(model *m, const char *path, char *err) {
    model_init(m, (shape3){0, 0, 0, 0});
    rd r = {path, err, {0}};
    err[0] = 0;
    struct stat st;
    if (stat(path, &st) != 0) return nn_fail(err, "cannot open model %s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) return nn_fail(err, "cannot open model %s: it is a folder", path);
    if (st.st_size == 0) return nn_fail(err, "%s: the file is empty: not a model", path);
    if (access(path, R_OK) != 0) return nn_fail(err, "cannot open model %s: %s", path, strerror(errno));
    if (H5Fis_hdf5(path) <= 0) {
        // Keras 3's native format is a zip: say how to get the .h5 nn reads.
        FILE *f = fopen(path, "rb");
        char head[4] = {0};
        int zip = f && fread(head, 1, 4, f) == 4 && !memcmp(head, "PK\x03\x04", 4);
        if (f) fclose(f);
        if (zip)
            return nn_fail(err, "%s: a zip file, as Keras's native .keras format is: nn reads the "
                                "legacy .h5 format, saved by Keras with model.save(\"model.h5\")", path);
        return nn_fail(err, "%s: not an HDF5 file (a Keras .h5 model was expected)", path);
    }
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl >= 0) H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    h5_close(fapl);
    if (f < 0) return nn_fail(err, "%s: cannot open as HDF5 (truncated or corrupt?): %s", path, h5_reason(r.why));

    char *mc = NULL, *tc = NULL;
    int rc = get_string(&r, f, "model_config", &mc);
    if (rc == 0) rc = nn_fail(err, "%s: HDF5 file without model_config: not a Keras model (weights only?)", path);
    if (rc > 0) {
        char why[NN_ERRLEN];
        rc = keras_model_from_config(m, mc, why);
        if (rc) nn_fail(err, "%s: %s", path, why);
        else m->opt = adam_defaults();   // until training_config says otherwise
    }
    int built = rc == 0;
    if (!rc) rc = read_weights(&r, f, m);
    int is_adam = 0;
    if (!rc && (rc = get_string(&r, f, "training_config", &tc)) > 0) {
        char why[NN_ERRLEN];
        rc = keras_training_from_config(tc, &m->opt, &is_adam, why);
        if (rc) nn_fail(err, "%s: %s", path, why);
    } else if (rc == 0) {
        is_adam = 1;   // no training_config: take optimizer_weights as Adam's if they fit
    }
    if (!rc && is_adam && H5Lexists(f, "optimizer_weights", H5P_DEFAULT) > 0) rc = read_optimizer(&r, f, m);
    if (!rc) rc = read_extras(&r, f, m);
    nn_free(mc);
    nn_free(tc);
    if (H5Fclose(f) < 0 && !rc) rc = nn_fail(err, "%s: closing the file failed: %s", path, h5_reason(r.why));
    if (rc) {
        if (built) model_free(m);
        if (!err[0]) nn_fail(err, "%s: unreadable model file", path);
        return -1;
    }
    return 0;
}

// VmData of this process in bytes (-1 when /proc is not there).
static long long vm_data_bytes(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmData:", 7)) kb = atoll(line + 7);
    if (f) fclose(f);
    return kb < 0 ? -1 : kb * 1024;
}

// libhdf5 (1.10 at least) trusts what a file says about its variable-length strings: a corrupt
// global-heap reference makes H5Aread read out of bounds and crash (H5HG_read), a corrupt
// length makes it allocate and copy gigabytes. No API hands those references over unconverted,
// so they cannot be checked first. Instead the file is first loaded in a child process, under
// a memory budget (what a good file of this size needs, with room to spare) and a time limit.
// If the child fails, its error line is ours and this process never reads the file; if it
// dies, the file is reported as corrupt. The child only reads the file (no CUDA, no threads)
// and leaves with _exit. If no child can be made, the file is loaded directly.
static int probe_in_child(const char *path, char *err) {
    int fd[2];
    if (pipe(fd) != 0) return 0;
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]);
        close(fd[1]);
        return 0;
    }
    if (pid == 0) {
        close(fd[0]);
        prctl(PR_SET_PDEATHSIG, SIGKILL);   // never outlive the caller
        // A crash must end the child by its signal: under AddressSanitizer (make SANITIZE=1)
        // or libFuzzer, their SIGSEGV handlers would report and exit(1) instead, which reads
        // as "no error line, no signal", and this process would then load the file itself.
        signal(SIGSEGV, SIG_DFL);
        signal(SIGBUS, SIG_DFL);
        signal(SIGFPE, SIG_DFL);
        signal(SIGILL, SIG_DFL);
        struct stat st;
        long long size = stat(path, &st) == 0 ? (long long)st.st_size : 0, used = vm_data_bytes();
        if (used >= 0) {
            // a good file needs ~4/3 of its size (four arenas; it holds three) plus strings
            struct rlimit rl;
            rl.rlim_cur = rl.rlim_max = (rlim_t)(used + 3 * size + (512ll << 20));
            setrlimit(RLIMIT_DATA, &rl);
        }
        alarm((unsigned)(60 + size / (4 << 20)));   // a file that sends libhdf5 into a loop
        model m;
        char e[NN_ERRLEN] = "";
        int rc = load(&m, path, e);
        if (rc) {
            if (!e[0]) snprintf(e, sizeof e, "%s: unreadable model file", path);
            ssize_t w = write(fd[1], e, strlen(e));
            (void)w;
        }
        _exit(rc ? 1 : 0);
    }
    close(fd[1]);
    char e[NN_ERRLEN];
    size_t got = 0;
    for (;;) {
        ssize_t k = read(fd[0], e + got, sizeof e - 1 - got);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        got += (size_t)k;
        if (got == sizeof e - 1) break;
    }
    e[got] = 0;
    close(fd[0]);
    int st = 0;
    pid_t w;
    while ((w = waitpid(pid, &st, 0)) < 0 && errno == EINTR) {}
    if (got) return nn_fail(err, "%s", e);
    if (w == pid && WIFSIGNALED(st))
        return nn_fail(err, "%s: corrupt HDF5 file (libhdf5 %s reading it, signal %d)", path,
                       WTERMSIG(st) == SIGALRM ? "hung" : "crashed", WTERMSIG(st));
    if (w == pid && WIFEXITED(st) && WEXITSTATUS(st) != 0)   // died without its error line
        return nn_fail(err, "%s: corrupt HDF5 file (reading it failed with status %d)", path,
                       WEXITSTATUS(st));
    return 0;
}

int model_load_h5(model *m, const char *path, char *err) {
    h5_quiet();
    model_init(m, (shape3){0, 0, 0, 0});
    if (probe_in_child(path, err) != 0) return -1;
    return load(m, path, err);
}
