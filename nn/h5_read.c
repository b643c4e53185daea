// h5_read.c: reading Keras's legacy .h5 model files with libhdf5 (the layout is described in
// nn/h5.c, which writes it). The file is untrusted: every shape, size and type is checked before
// a read, and any problem is one line in err (HDF5's own error printing is switched off).
//
// h5_read_model runs in a child process (nn/h5_probe.c), which keeps libhdf5's own crashes on
// corrupt files out of the caller. There it records, for each large float32 dataset stored
// plainly (contiguous, little-endian float32), where its values lie in the file instead
// of reading them: the parent then reads them once, straight into its own arena, and the 16 MB
// dense kernel of the article's CNN is copied once rather than read by libhdf5, sent through a
// pipe and copied again. Everything else is read here and sent inline.
// With H5_LOAD_WEIGHTS_ONLY, Adam's moments (two thirds of a checkpoint) are not read at all:
// the iteration count is, and the moments' names are checked against the model's weights.
#include <errno.h>
#include <hdf5.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "h5_internal.h"
#include "keras_json.h"

#define MAX_STRINGS 100000
#define MAX_STRING_BYTES (64u << 20)
#define PLAN_MIN_BYTES (64u << 10)   // smaller datasets are read by libhdf5 and sent inline

typedef struct {
    const char *path;
    char *err;
    char why[160];
    model *m;
    unsigned flags;     // H5_LOAD_*
    h5_plan *plan;      // in the child: record plain ranges instead of reading them
    int by_offset;      // libhdf5 reads the file the parent opened: ranges may point into it
    h5_loaded *out;
    const char *layers_from;   // what gave the layers, for errors: NULL (model_config) or a cfg
} rd;

// Who describes the layers a file's weights must fit: "model_config", or the cfg given.
static const char *layers_from(const rd *r) { return r->layers_from ? r->layers_from : "model_config"; }

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
        mt = h5_str_type(H5Tget_cset(ft) == H5T_CSET_UTF8);
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

static void plan_add(h5_plan *p, const h5_seg *s) {
    if (p->n == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 32;
        h5_seg *t = nn_alloc((size_t)p->cap * sizeof *t, "load plan");
        if (p->n) memcpy(t, p->seg, (size_t)p->n * sizeof *t);
        nn_free(p->seg);
        p->seg = t;
    }
    p->seg[p->n++] = *s;
}

// The arena of m that dst points into, and the float it starts at.
static void arena_of(const model *m, const float *dst, h5_seg *s) {
    const float *base[3] = {m->w, m->m, m->v};
    for (int a = 0; a < 3; a++) {
        uintptr_t b = (uintptr_t)base[a], d = (uintptr_t)dst;
        if (d >= b && d < b + m->nparams * sizeof(float)) {
            s->arena = (uint32_t)a;
            s->dst = (uint64_t)((d - b) / sizeof(float));
            return;
        }
    }
    NN_DIE("h5: a dataset read into no parameter arena");
}

// Whether dataset d (count float32 values, shape dims) lies plainly in the file: contiguous,
// little-endian float32, allocated, inside the file. Then *off is where; a sample (the first
// and last values, read both by libhdf5 and from the file at *off) confirms it.
static int plain_in_file(rd *r, hid_t d, hid_t ft, hid_t sp, int rank, const hsize_t *dims,
                         size_t count, uint64_t *off) {
    h5_plan *p = r->plan;
    size_t bytes = count * sizeof(float);
    if (!r->by_offset || p->fd < 0 || bytes < PLAN_MIN_BYTES || H5Tequal(ft, H5T_IEEE_F32LE) <= 0 ||
        H5Tequal(H5T_NATIVE_FLOAT, H5T_IEEE_F32LE) <= 0 || H5Dget_storage_size(d) != bytes)
        return 0;
    hid_t dcpl = H5Dget_create_plist(d);
    int contiguous = dcpl >= 0 && H5Pget_layout(dcpl) == H5D_CONTIGUOUS;
    h5_close(dcpl);
    haddr_t a = contiguous ? H5Dget_offset(d) : HADDR_UNDEF;
    if (a == HADDR_UNDEF || a > (haddr_t)p->fsize || bytes > (uint64_t)p->fsize - a) return 0;
    hsize_t coord[2 * H5S_MAX_RANK], two = 2;
    for (int i = 0; i < rank; i++) coord[i] = 0, coord[rank + i] = dims[i] - 1;
    float lib[2];
    uint32_t raw[2];
    hid_t ms = H5Screate_simple(1, &two, NULL), fs = H5Scopy(sp);
    int ok = ms >= 0 && fs >= 0 && H5Sselect_elements(fs, H5S_SELECT_SET, 2, coord) >= 0 &&
             H5Dread(d, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, lib) >= 0 &&
             pread(p->fd, &raw[0], 4, (off_t)a) == 4 && pread(p->fd, &raw[1], 4, (off_t)(a + bytes - 4)) == 4 &&
             !memcmp(lib, raw, sizeof raw);
    h5_close(fs);
    h5_close(ms);
    *off = a;
    return ok;
}

// Opens dataset `name` below g, checks it is a float array of exactly the expected shape, and
// reads it into dst (in the child: or records where it lies, see plain_in_file).
// what: "layer 'dense' kernel" for errors.
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
        nn_fail(r->err, "%s: %s has shape %s in the file, %s needs %s", r->path, what, got,
                r->layers_from ? r->layers_from : "the model", want);
        goto done;
    }
    h5_seg seg = {0};
    if (r->plan) {
        arena_of(r->m, dst, &seg);
        seg.count = 1;
        for (int i = 0; i < rank; i++) seg.count *= dims[i];
        if (plain_in_file(r, d, ft, sp, rank, dims, (size_t)seg.count, &seg.file_off)) {
            plan_add(r->plan, &seg);
            rc = 0;
            goto done;
        }
        seg.inl = 1;
        seg.file_off = 0;
    }
    if (H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, dst) < 0) {
        nn_fail(r->err, "%s: %s: cannot read dataset '%s' (file truncated or corrupt?): %s", r->path,
                what, name, h5_reason(r->why));
        goto done;
    }
    if (r->plan) plan_add(r->plan, &seg);
    rc = 0;
done:
    h5_close(sp);
    h5_close(ft);
    h5_close(d);
    return rc;
}

// model_weights: Keras matches the layers that have weights, in order, to the groups whose
// weight_names are not empty, in layer_names order; so do we (names may differ). The same list
// sits at the root of tf.keras 2's save_weights("x.h5") files: gname is then "" (the root).
static int read_weights_in(rd *r, hid_t f, const char *gname, model *m) {
    const char *gn = gname[0] ? gname : "the file";
    char gpath[64];
    snprintf(gpath, sizeof gpath, "%s%s", gname, gname[0] ? "/" : "");
    hid_t mw = H5Gopen2(f, gname[0] ? gname : "/", H5P_DEFAULT);
    if (mw < 0) return nn_fail(r->err, "%s: cannot open %s: %s", r->path, gn, h5_reason(r->why));
    char **names = NULL;
    int nnames = 0, rc = 0, k = 0;
    if (get_name_list(r, mw, gpath, "layer_names", &names, &nnames) <= 0) {
        if (nnames == 0 && !r->err[0]) nn_fail(r->err, "%s: %s has no layer_names", r->path, gn);
        H5Gclose(mw);
        return -1;
    }
    int li = 0;   // next model layer with weights
    for (int i = 0; i < nnames && !rc; i++) {
        if (H5Lexists(mw, names[i], H5P_DEFAULT) <= 0) {
            rc = nn_fail(r->err, "%s: %s lists layer '%s' but has no group for it", r->path, gn, names[i]);
            break;
        }
        hid_t g = H5Gopen2(mw, names[i], H5P_DEFAULT);
        char **wn = NULL, lname[192];
        int nw = 0;
        snprintf(lname, sizeof lname, "%s%s/", gpath, names[i]);
        if (g < 0 || get_strings(r, g, lname, "weight_names", &wn, &nw) < 0) {
            if (g < 0) nn_fail(r->err, "%s: cannot open group %s: %s", r->path, lname, h5_reason(r->why));
            h5_close(g);
            rc = -1;
            break;
        }
        if (nw > 0) {
            while (li < m->nlayers && m->layers[li].ntensors == 0) li++;
            if (li == m->nlayers) {
                rc = nn_fail(r->err, "%s: %s has weights for more layers than %s describes", r->path, gn, layers_from(r));
            } else {
                layer *l = &m->layers[li];
                char what[160];
                if (nw != l->ntensors) {
                    char list[160] = "";
                    size_t o = 0;
                    for (int t = 0; t < l->ntensors && o < sizeof list; t++)
                        o += snprintf(list + o, sizeof list - o, "%s%s", t ? " and " : "", l->params[t].name);
                    rc = nn_fail(r->err, "%s: layer '%s' has %d weights in the file, the model needs %d (%s)",
                                 r->path, l->name, nw, l->ntensors, list);
                } else {
                    for (int t = 0; t < l->ntensors && !rc; t++) {
                        hsize_t d[4];
                        int rank = h5_param_dims(&l->params[t], d);
                        snprintf(what, sizeof what, "layer '%s' %s", l->name, l->params[t].name);
                        rc = read_floats(r, g, wn[t], rank, d, m->w + l->params[t].off, what);
                    }
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
    while (li < m->nlayers && m->layers[li].ntensors == 0) li++;
    if (li < m->nlayers)
        return nn_fail(r->err, "%s: %s has weights for %d layers, %s has more (layer '%s' has none)",
                       r->path, gn, k, layers_from(r), m->layers[li].name);
    return 0;
}

static int read_weights(rd *r, hid_t f, model *m) {
    if (H5Lexists(f, "model_weights", H5P_DEFAULT) <= 0)
        return nn_fail(r->err, "%s: no model_weights group: not a Keras model file", r->path);
    return read_weights_in(r, f, "model_weights", m);
}

// Which of Adam's variables a name in optimizer_weights/weight_names is. Keras 3:
// "adam/sequential_dense_kernel_momentum"; tf.keras 2: "Adam/dense/kernel/m:0"; tf.keras 2.11+:
// "Adam/m/dense/kernel:0" (or "m/dense/kernel:0"); Keras 2.0-2.2 left moments unnamed ("training/Adam/Variable:0").
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
    // tf.keras 2.11+ without the "Adam/" scope ("m/conv2d/kernel:0"): an Adam built before
    // model.compile saw it (tests/oracles/keras_interop.sh saves such files).
    if (!strncmp(name, "m/", 2)) return OW_M;
    if (!strncmp(name, "v/", 2)) return OW_V;
    return OW_OTHER;
}

// Zero moments for tensor t of layer i when it is fixed and lies after `after` and before
// `before` in the arena (either may be NULL: no bound).
static void plan_zeros(h5_plan *plan, const model *m, int i, int t, const layer_param *after,
                       const layer_param *before) {
    const layer_param *p = &m->layers[i].params[t];
    if (!p->fixed || !p->size || (after && p->off <= after->off) || (before && p->off >= before->off)) return;
    h5_seg z = {.arena = H5_ARENA_M, .inl = 1, .dst = p->off, .count = p->size};
    plan_add(plan, &z);
    z.arena = H5_ARENA_V;
    plan_add(plan, &z);
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
// which is also the order of our parameter views. H5_LOAD_WEIGHTS_ONLY: the step count only
// (the moments' names are still matched to the weights, so that adam_state means the same).
static int read_optimizer(rd *r, hid_t f, model *m) {
    hid_t ow = H5Gopen2(f, "optimizer_weights", H5P_DEFAULT);
    if (ow < 0) return nn_fail(r->err, "%s: cannot open optimizer_weights: %s", r->path, h5_reason(r->why));
    char **wn = NULL;
    int nw = 0, rc = 0;
    if (get_name_list(r, ow, "optimizer_weights/", "weight_names", &wn, &nw) < 0) {
        H5Gclose(ow);
        return -1;
    }
    // The trained parameter tensors in variable order: (layer, tensor).
    int np = 0, pl[LAYER_MAX_TENSORS * MODEL_MAX_LAYERS], pb[LAYER_MAX_TENSORS * MODEL_MAX_LAYERS];
    for (int i = 0; i < m->nlayers; i++)
        for (int t = 0; t < m->layers[i].ntensors; t++)
            if (!m->layers[i].params[t].fixed) pl[np] = i, pb[np++] = t;
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
    int moments = !(r->flags & H5_LOAD_WEIGHTS_ONLY);
    for (int j = 0; j < np && !rc && moments; j++) {
        const layer *l = &m->layers[pl[j]];
        const layer_param *p = &l->params[pb[j]];
        // Fixed tensors (moving statistics) before this one have no moments: zeros, which the
        // child still sends so that the plan's segments tile the moment arenas in order.
        for (int i = j ? pl[j - 1] : 0; i <= pl[j] && r->plan; i++)
            for (int t = 0; t < m->layers[i].ntensors; t++)
                plan_zeros(r->plan, m, i, t, j ? &m->layers[pl[j - 1]].params[pb[j - 1]] : NULL, p);
        hsize_t d[4];
        int rank = h5_param_dims(p, d);
        char what[160];
        snprintf(what, sizeof what, "optimizer_weights: layer '%s' %s first moment", l->name, p->name);
        rc = read_floats(r, ow, wn[mi[j]], rank, d, m->m + p->off, what);
        snprintf(what, sizeof what, "optimizer_weights: layer '%s' %s second moment", l->name, p->name);
        if (!rc) rc = read_floats(r, ow, wn[vi[j]], rank, d, m->v + p->off, what);
    }
    for (int i = np ? pl[np - 1] : 0; i < m->nlayers && !rc && moments && r->plan; i++)
        for (int t = 0; t < m->layers[i].ntensors; t++)
            plan_zeros(r->plan, m, i, t, np ? &m->layers[pl[np - 1]].params[pb[np - 1]] : NULL, NULL);
    if (!rc) {
        m->t = (long)t;
        r->out->adam_state = 1;
        r->out->moments_read = moments;
    }
    nn_free(mi);
    nn_free(vi);
    nn_free(oi);
    free_strings(wn, nw);
    H5Gclose(ow);
    return rc;
}

// An optional non-negative integer attribute of the root (nn's own, which Keras ignores): 0 and
// *out untouched when absent, -1 with the error when it holds something else.
static int get_count(rd *r, hid_t f, const char *name, long long *out) {
    if (H5Aexists(f, name) <= 0) return 0;
    long long e = 0;
    hid_t a = H5Aopen(f, name, H5P_DEFAULT), ft = a < 0 ? -1 : H5Aget_type(a);
    int ok = ft >= 0 && H5Tget_class(ft) == H5T_INTEGER && H5Aread(a, H5T_NATIVE_LLONG, &e) >= 0 &&
             e >= 0 && e < (1 << 30);
    h5_close(ft);
    h5_close(a);
    if (!ok) return nn_fail(r->err, "%s: attribute %s is not a non-negative integer", r->path, name);
    *out = e;
    return 0;
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
    long long e = 0, b = 0, s = 0;
    if (get_count(r, f, "nn_epoch", &e) || get_count(r, f, "nn_batch", &b) || get_count(r, f, "nn_step", &s))
        return -1;
    m->epoch = (int)e, m->batch = (int)b, m->step = (long)s;
    m->epoch_unknown = H5Aexists(f, "nn_epoch") <= 0;   // Keras's own files: see model.h
    return 0;
}

// Whether libhdf5 reads the very file the parent opened (not one renamed over it since): then
// ranges can be read there. (H5Dget_offset counts from the file's first byte, a user block
// included; the sample that plain_in_file compares would catch it if it did not.)
static int same_file(hid_t f, const h5_plan *p) {
    struct stat a, b;
    int *fd = NULL;
    return p->fd >= 0 && H5Fget_vfd_handle(f, H5P_DEFAULT, (void **)&fd) >= 0 && fd &&
           fstat(*fd, &a) == 0 && fstat(p->fd, &b) == 0 && a.st_dev == b.st_dev &&
           a.st_ino == b.st_ino && (long long)a.st_size == p->fsize;
}

// Opens path as HDF5 for reading: the file id, or -1 with one line in r->err saying what the
// file is instead (missing, a folder, empty, a .keras zip, not HDF5, corrupt).
static hid_t open_model_file(rd *r) {
    const char *path = r->path;
    char *err = r->err;
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
    if (f < 0) nn_fail(err, "%s: cannot open as HDF5 (truncated or corrupt?): %s", path, h5_reason(r->why));
    return f;
}

// Keras's weights-only layouts: Keras 3's (and tf.keras 2.15's) x.weights.h5, a group "layers"
// with layers/<name>/vars/0, 1, ...; tf.keras 2's save_weights("x.h5"), model_weights' lists
// at the root.
static int weights_layout_k3(hid_t f) { return H5Lexists(f, "layers", H5P_DEFAULT) > 0; }
static int weights_layout_k2(hid_t f) { return H5Aexists(f, "layer_names") > 0; }

int h5_read_model(model *m, const char *path, unsigned flags, h5_plan *plan, int keep_json,
                  h5_loaded *out, char *err) {
    h5_quiet();
    h5_loaded none;
    if (!out) out = &none;
    memset(out, 0, sizeof *out);
    model_init(m, (shape3){0, 0, 0, 0});
    rd r = {.path = path, .err = err, .m = m, .flags = flags, .plan = plan, .out = out};
    err[0] = 0;
    hid_t f = open_model_file(&r);
    if (f < 0) return -1;
    if (plan) r.by_offset = same_file(f, plan);

    char *mc = NULL, *tc = NULL;
    int rc = get_string(&r, f, "model_config", &mc);
    if (rc == 0 && (weights_layout_k3(f) || weights_layout_k2(f)))
        rc = nn_fail(err, "%s holds weights only (Keras's save_weights: no model_config), not the layers: "
                     "give them with --model FILE.cfg and this file as --weights %s", path, path);
    else if (rc == 0)
        rc = nn_fail(err, "%s: HDF5 file without model_config: not a Keras model (weights only?)", path);
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
    if (!rc && keep_json) {
        out->model_config = mc, out->training_config = tc;
        mc = tc = NULL;
    }
    nn_free(mc);
    nn_free(tc);
    if (H5Fclose(f) < 0 && !rc) rc = nn_fail(err, "%s: closing the file failed: %s", path, h5_reason(r.why));
    if (rc) {
        if (built) model_free(m);
        nn_free(out->model_config);
        nn_free(out->training_config);
        out->model_config = out->training_config = NULL;
        if (!err[0]) nn_fail(err, "%s: unreadable model file", path);
        return -1;
    }
    return 0;
}


// ------------------------------------------------------------------------------------------
// weights-only files (Keras's save_weights), for layers a cfg gives

// The names of g's links (nn_alloc'd, free_strings), up to 4096.
static int link_names(hid_t g, char ***out, int *n) {
    H5G_info_t gi;
    *out = NULL, *n = 0;
    if (H5Gget_info(g, &gi) < 0 || gi.nlinks > 4096) return -1;
    char **s = nn_calloc((gi.nlinks ? gi.nlinks : 1) * sizeof *s, "names");
    for (hsize_t i = 0; i < gi.nlinks; i++) {
        ssize_t k = H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, NULL, 0, H5P_DEFAULT);
        if (k < 0 || k > 4096) {
            free_strings(s, (int)i);
            return -1;
        }
        s[i] = nn_alloc((size_t)k + 1, "name");
        H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, s[i], (size_t)k + 1, H5P_DEFAULT);
        *n = (int)i + 1;
    }
    *out = s;
    return 0;
}

// How many values layers/<name>/vars holds (0 when there is no such group).
static int vars_count(hid_t layers, const char *name) {
    char p[160];
    snprintf(p, sizeof p, "%s/vars", name);
    if (strlen(name) > 100 || H5Lexists(layers, name, H5P_DEFAULT) <= 0 || H5Lexists(layers, p, H5P_DEFAULT) <= 0)
        return 0;
    hid_t v = H5Gopen2(layers, p, H5P_DEFAULT);
    H5G_info_t gi;
    int n = v >= 0 && H5Gget_info(v, &gi) >= 0 ? (int)NN_MIN(gi.nlinks, 1000) : 0;
    h5_close(v);
    return n;
}

// Keras 3's x.weights.h5 (tf.keras 2.15 writes it too): layers/<layer name>/vars/0, 1, ... in
// the layer's weight order. Keras matches them by layer name; so do we, and every layer on
// either side must have its counterpart.
static int read_weights_k3(rd *r, hid_t f, model *m) {
    hid_t lg = H5Gopen2(f, "layers", H5P_DEFAULT);
    char **names = NULL;
    int nn_ = 0, rc = 0;
    if (lg < 0 || link_names(lg, &names, &nn_) < 0) {
        h5_close(lg);
        return nn_fail(r->err, "%s: cannot list the group layers: %s", r->path, h5_reason(r->why));
    }
    char have[512] = "";   // the file's layers that hold weights, for the errors
    for (int i = 0, o = 0; i < nn_; i++)
        if (vars_count(lg, names[i]) > 0 && o < (int)sizeof have)
            o += snprintf(have + o, sizeof have - (size_t)o, "%s%s", o ? ", " : "", names[i]);
    for (int i = 0; i < m->nlayers && !rc; i++) {
        layer *l = &m->layers[i];
        int nv = vars_count(lg, l->name);
        if (l->ntensors == 0 && nv == 0) continue;
        if (nv == 0) {
            rc = nn_fail(r->err, "%s: %s's layer %d '%s' has no weights in the file (no layers/%s/vars); the "
                         "file's layers with weights are: %s. Name the cfg's layers as the file does (name=...)",
                         r->path, layers_from(r), i + 1, l->name, l->name, have[0] ? have : "none");
        } else if (nv != l->ntensors) {
            rc = nn_fail(r->err, "%s: layer '%s' has %d weights in the file, %s needs %d", r->path, l->name,
                         nv, layers_from(r), l->ntensors);
        } else {
            char p[160], what[160];
            snprintf(p, sizeof p, "%s/vars", l->name);
            hid_t vg = H5Gopen2(lg, p, H5P_DEFAULT);
            for (int t = 0; t < l->ntensors && !rc; t++) {
                hsize_t d[4];
                char dn[16];
                int rank = h5_param_dims(&l->params[t], d);
                snprintf(dn, sizeof dn, "%d", t);
                snprintf(what, sizeof what, "layer '%s' %s", l->name, l->params[t].name);
                rc = read_floats(r, vg, dn, rank, d, m->w + l->params[t].off, what);
            }
            h5_close(vg);
        }
    }
    for (int i = 0; i < nn_ && !rc; i++) {   // weights for a layer the cfg does not have
        int found = 0;
        for (int j = 0; j < m->nlayers && !found; j++) found = !strcmp(m->layers[j].name, names[i]);
        if (!found && vars_count(lg, names[i]) > 0)
            rc = nn_fail(r->err, "%s holds weights for layer '%s', which %s does not have (its layers: %d)",
                         r->path, names[i], layers_from(r), m->nlayers);
    }
    free_strings(names, nn_);
    h5_close(lg);
    return rc;
}

int h5_read_weights_file(model *m, const char *path, const char *config, const char *cfg_name,
                         h5_plan *plan, h5_loaded *out, char *err) {
    h5_quiet();
    memset(out, 0, sizeof *out);
    model_init(m, (shape3){0, 0, 0, 0});
    rd r = {.path = path, .err = err, .m = m, .flags = H5_LOAD_WEIGHTS_ONLY, .plan = plan, .out = out,
            .layers_from = cfg_name};
    err[0] = 0;
    char why[NN_ERRLEN];
    if (keras_model_from_config(m, config, why) != 0) return nn_fail(err, "%s: %s", cfg_name, why);
    m->opt = adam_defaults();
    hid_t f = open_model_file(&r);
    int rc = 0;
    if (f >= 0 && plan) r.by_offset = same_file(f, plan);
    if (f < 0) {
        rc = -1;
    } else if (weights_layout_k3(f)) {
        rc = read_weights_k3(&r, f, m);
    } else if (H5Lexists(f, "model_weights", H5P_DEFAULT) > 0) {   // a whole model: its weights
        rc = read_weights_in(&r, f, "model_weights", m);
    } else if (weights_layout_k2(f)) {
        rc = read_weights_in(&r, f, "", m);
    } else {
        rc = nn_fail(err, "%s: no weights found: neither Keras 3's layers/<name>/vars groups (save_weights"
                     "(\"x.weights.h5\")) nor a layer_names list (tf.keras 2's save_weights(\"x.h5\"), model.save)", path);
    }
    if (f >= 0 && H5Fclose(f) < 0 && !rc) rc = nn_fail(err, "%s: closing the file failed: %s", path, h5_reason(r.why));
    if (rc) {
        model_free(m);
        if (!err[0]) nn_fail(err, "%s: unreadable weights file", path);
        return -1;
    }
    out->model_config = nn_strdup(config);
    return 0;
}
