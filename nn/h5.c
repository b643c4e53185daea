// h5.c: models as Keras's legacy .h5 files (DESIGN.md, "HDF5 file"), both directions.
//
// The layout is what Keras 3's `model.save("x.h5")` writes (keras/src/legacy/saving/
// legacy_h5_format.py), so that keras.models.load_model reads our files and we read theirs:
//   /                 attrs keras_version, backend (variable-length UTF-8), model_config,
//                     training_config (variable-length ASCII JSON, nn/keras_json.c); ours:
//                     nn_class_names (UTF-8 array), nn_epoch (int64), and for a checkpoint
//                     nn_batch and nn_step (int64: its batch size and the steps done of its
//                     unfinished epoch), which Keras ignores
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
// Reading is in nn/h5_read.c (libhdf5, in a child process) and nn/h5_probe.c (the child, and
// the parent that rebuilds the model from what it sends).
#include "h5.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "h5_internal.h"
#include "keras_json.h"

#define NN_KERAS_VERSION "3.15.1"   // the Keras release whose layout this file reproduces
#define NN_BACKEND "nn"            // Keras reads this attribute for information only

// ------------------------------------------------------------------------------------------
// HDF5 helpers

void h5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

// The innermost message of HDF5's error stack ("unable to open file", "disk full"...), for the
// end of an error line.
static herr_t walk_cb(unsigned n, const H5E_error2_t *e, void *data) {
    if (n == 0 && e->desc) snprintf((char *)data, 160, "%s", e->desc);
    return 0;
}

const char *h5_reason(char buf[160]) {
    buf[0] = 0;
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, walk_cb, buf);
    if (!buf[0]) snprintf(buf, 160, "HDF5 error");
    return buf;
}

void h5_close(hid_t id) {
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

hid_t h5_str_type(int utf8) {
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
    hid_t type = n == 0 ? H5Tcopy(H5T_IEEE_F64LE) : h5_str_type(utf8);
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

// A parameter tensor's Keras shape as HDF5 dims; returns its rank.
int h5_param_dims(const layer_param *p, hsize_t dims[4]) {
    for (int i = 0; i < p->rank; i++) dims[i] = (hsize_t)p->dims[i];
    return p->rank;
}

// ------------------------------------------------------------------------------------------
// saving

// Keras's training_config for m: nn/keras_json.c writes a binary model's (loss
// binary_crossentropy); a softmax model's loss is categorical_crossentropy, the rest the same
// (Keras 3 compiled with loss="categorical_crossentropy", metrics=["accuracy"] writes just that).
static char *training_config(const model *m) {
    char *tc = keras_training_config_json(&m->opt);
    const char *from = "\"loss\":\"binary_crossentropy\"", *to = "\"loss\":\"categorical_crossentropy\"";
    char *at = strstr(tc, from);
    if (model_loss_kind(m) != LOSS_CCE || !at) return tc;
    char *out = nn_alloc(strlen(tc) - strlen(from) + strlen(to) + 1, "training_config");
    sprintf(out, "%.*s%s%s", (int)(at - tc), tc, to, at + strlen(from));
    nn_free(tc);
    return out;
}

static int write_contents(const model *m, hid_t f) {
    int rc = 0;
    char *mc = keras_model_config_json(m);
    char *tc = training_config(m);
    rc |= put_str(f, "keras_version", NN_KERAS_VERSION, 1);
    rc |= put_str(f, "backend", NN_BACKEND, 1);
    rc |= put_str(f, "model_config", mc, 0);
    rc |= put_str(f, "training_config", tc, 0);
    nn_free(mc);
    nn_free(tc);
    if (m->nclasses > 0)
        rc |= put_strings(f, "nn_class_names", (const char *const *)m->classes, m->nclasses, 1);
    rc |= put_i64(f, "nn_epoch", m->epoch);
    if (m->batch > 0) {   // where a checkpoint stands in its epoch, for --resume (model.h)
        rc |= put_i64(f, "nn_batch", m->batch);
        rc |= put_i64(f, "nn_step", m->step);
    }
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
        char names_[LAYER_MAX_TENSORS][160];
        const char *wn[LAYER_MAX_TENSORS];
        for (int k = 0; k < l->ntensors; k++) {
            snprintf(names_[k], sizeof names_[k], "sequential/%s/%s", l->name, l->params[k].name);
            wn[k] = names_[k];
        }
        rc |= put_strings(g, "weight_names", wn, l->ntensors, 0);
        for (int k = 0; k < l->ntensors && !rc; k++) {
            hsize_t d[4];
            int rank = h5_param_dims(&l->params[k], d);
            rc |= put_dataset(g, wn[k], rank, d, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, m->w + l->params[k].off);
        }
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
    const size_t most = 2 + 2 * LAYER_MAX_TENSORS * (size_t)m->nlayers;
    char (*wn)[160] = nn_alloc(sizeof(*wn) * most, "optimizer names");
    const char **wp = nn_alloc(sizeof(*wp) * most, "optimizer names");
    snprintf(wn[0], sizeof wn[0], "adam/iteration");
    snprintf(wn[1], sizeof wn[1], "adam/learning_rate");
    long long t = m->t;
    float lr = m->opt.lr > 0 ? m->opt.lr : adam_defaults().lr;
    rc |= put_dataset(ow, wn[0], 0, NULL, H5T_STD_I64LE, H5T_NATIVE_LLONG, &t);
    rc |= put_dataset(ow, wn[1], 0, NULL, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, &lr);
    for (int i = 0; i < m->nlayers && !rc; i++) {
        const layer *l = &m->layers[i];
        for (int k = 0; k < l->ntensors && !rc; k++) {
            const layer_param *p = &l->params[k];
            if (p->fixed) continue;   // moving statistics: not the optimizer's
            hsize_t d[4];
            int rank = h5_param_dims(p, d);
            for (int s = 0; s < 2; s++) {
                snprintf(wn[nw], sizeof wn[nw], "adam/sequential_%s_%s_%s", l->name, p->name,
                         s ? "velocity" : "momentum");
                rc |= put_dataset(ow, wn[nw], rank, d, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT,
                                  (s ? m->v : m->m) + p->off);
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
    // The rename below would replace a device node (/dev/full as root) or a fifo by a file.
    if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode))
        return nn_fail(err, "cannot save the model to %s: it exists and is not a regular file (a "
                       "device, fifo or socket); choose a file name", path);

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
    if (!tmp) __builtin_unreachable();   // (GCC under -fsanitize loses returns_nonnull here)
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
    if (nn_write_all(fd, image, size) != 0 || fsync(fd) != 0)
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
    // make the rename itself durable (best effort: some filesystems refuse fsync on a folder;
    // the rename has succeeded, so the file is there)
    if (!rc) fsync_path(folder, 1);
    nn_free(tmp);
    nn_free(dir);
    return rc;
}
