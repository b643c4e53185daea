// cfg.c: the line-based model file (DESIGN.md, "Model file"). One layer a line, key=value
// options, '#' comments. Every error names the file, the line and what is wrong, because a
// model file is the first thing a user edits.
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "model.h"

#define CFG_MAX_BYTES (1 << 20)

// Parses a positive int, or "AxB" into two when b != NULL (a single value fills both).
static int parse_dims(const char *s, int *a, int *b) {
    char *end;
    errno = 0;
    long x = strtol(s, &end, 10), y = x;
    if (end == s || errno || x <= 0 || x > 1 << 20) return -1;
    if (*end == 'x' && b) {
        const char *t = end + 1;
        y = strtol(t, &end, 10);
        if (end == t || errno || y <= 0 || y > 1 << 20) return -1;
    }
    if (*end) return -1;
    *a = (int)x;
    if (b) *b = (int)y;
    return 0;
}

typedef struct { char *key, *val; } kv;

static int split_words(char *line, char **words, int max) {
    int n = 0;
    for (char *p = strtok(line, " \t\r"); p; p = strtok(NULL, " \t\r")) {
        if (n == max) return -1;
        words[n++] = p;
    }
    return n;
}

// "filters, kernel, stride, ..., name": the cfg keys a kind takes, for error messages.
static void cfg_keys(const layer_ops *ops, char *buf, size_t len) {
    size_t o = 0;
    buf[0] = 0;
    for (const layer_opt *p = ops->opts; p && (p->cfg || p->keras) && o < len; p++)
        if (p->cfg) o += snprintf(buf + o, len - o, "%s, ", p->cfg);
    if (o < len) snprintf(buf + o, len - o, "name");
}

static int set_option(layer *l, const layer_opt *o, const char *key, const char *val, char *why) {
    char *f = (char *)l + o->off;
    int v;
    switch (o->type) {
    case OPT_INT:
        if (parse_dims(val, &v, NULL) || v < o->lo || v > o->hi)
            return nn_fail(why, "%s='%s' is not a positive integer", key, val);
        *(int *)f = v;
        return 0;
    case OPT_DIMS:
        if (parse_dims(val, (int *)f, (int *)f + 1))
            return nn_fail(why, "%s='%s' is not N or HxW with positive integers", key, val);
        return 0;
    case OPT_PAD:
        if (!strcmp(val, "valid")) *(pad_kind *)f = PAD_VALID;
        else if (!strcmp(val, "same")) *(pad_kind *)f = PAD_SAME;
        else return nn_fail(why, "%s='%s' (expected valid or same)", key, val);
        return 0;
    case OPT_ACT:
        if (act_parse(val, (act_kind *)f) != 0)
            return nn_fail(why, "unknown activation '%s' (expected %s)", val, act_list());
        return 0;
    case OPT_BOOL:
        if (!strcmp(val, "1") || !strcmp(val, "true")) *(int *)f = 1;
        else if (!strcmp(val, "0") || !strcmp(val, "false")) *(int *)f = 0;
        else return nn_fail(why, "%s='%s' (expected true or false)", key, val);
        return 0;
    case OPT_FLOAT: {
        char *end;
        double d = strtod(val, &end);
        if (end == val || *end || !(d >= o->flo && d <= o->fhi))
            return nn_fail(why, "%s='%s' is not a number from %g to %g", key, val, o->flo, o->fhi);
        *(float *)f = (float)d;
        return 0;
    }
    case OPT_FIXED: break;
    }
    return nn_fail(why, "option '%s' cannot be set", key);
}

// One key=value of a layer line, through the kind's option table (layers/layer.h).
static int layer_option(layer *l, const char *key, const char *val, int *given, char *why) {
    if (!strcmp(key, "name")) {
        if (strlen(val) >= sizeof l->name) return nn_fail(why, "name '%s' is too long", val);
        for (const char *c = val; *c; c++)
            if (!isalnum((unsigned char)*c) && *c != '_' && *c != '-')
                return nn_fail(why, "name '%s' may hold only letters, digits, '_' and '-'", val);
        strcpy(l->name, val);
        return 0;
    }
    const layer_ops *ops = layer_ops_of(l->kind);
    int k = 0;
    for (const layer_opt *o = ops->opts; o && (o->cfg || o->keras); o++, k++)
        if (o->cfg && !strcmp(o->cfg, key)) {
            given[k] = 1;
            return set_option(l, o, key, val, why);
        }
    char keys[256];
    cfg_keys(ops, keys, sizeof keys);
    return nn_fail(why, "unknown option '%s' for %s (expected %s)", key, ops->type, keys);
}

// "conv2d needs filters=N and kernel=N": the required options a line left out.
static int check_required(const layer_ops *ops, const int *given, char *why) {
    char need[256] = "";
    size_t o = 0;
    int k = 0, missing = 0;
    for (const layer_opt *p = ops->opts; p && (p->cfg || p->keras); p++, k++)
        if (p->cfg && p->required) {
            const char *form = p->type == OPT_ACT ? "FUNCTION" : p->type == OPT_FLOAT ? "X" : "N";
            o += snprintf(need + o, o < sizeof need ? sizeof need - o : 0, "%s%s=%s",
                          o ? " and " : "", p->cfg, form);
            missing |= !given[k];
        }
    if (!missing) return 0;
    return strstr(need, "FUNCTION") ? nn_fail(why, "%s needs %s (FUNCTION: %s)", ops->type, need, act_list())
                                    : nn_fail(why, "%s needs %s", ops->type, need);
}

static int parse_line(model *m, char *text, int *have_input, char *why) {
    char *w[32];
    int n = split_words(text, w, 32);
    if (n < 0) return nn_fail(why, "too many words");
    if (!strcmp(w[0], "input")) {
        if (*have_input) return nn_fail(why, "a second 'input' line");
        if (m->nlayers) return nn_fail(why, "'input' must come before the first layer");
        shape3 s = {0, 0, 0, 0};
        if (n != 4 || parse_dims(w[1], &s.h, NULL) || parse_dims(w[2], &s.w, NULL) ||
            parse_dims(w[3], &s.c, NULL))
            return nn_fail(why, "expected 'input H W C' with three positive integers");
        m->input = s;
        *have_input = 1;
        return 0;
    }
    const layer_ops *ops = layer_ops_by_type(w[0]);
    if (!ops) return nn_fail(why, "unknown layer '%s' (expected input, %s)", w[0], layer_type_list());
    if (!*have_input) return nn_fail(why, "the first line must be 'input H W C'");
    layer l;
    for (int k = 0; k < LAYER_KIND_COUNT; k++)
        if (layer_ops_of(k) == ops) layer_defaults(&l, k);
    int given[64] = {0};
    for (int i = 1; i < n; i++) {
        char *eq = strchr(w[i], '=');
        if (!eq || eq == w[i] || !eq[1])
            return nn_fail(why, "'%s' is not key=value", w[i]);
        *eq = 0;
        if (layer_option(&l, w[i], eq + 1, given, why) != 0) return -1;
    }
    if (check_required(ops, given, why)) return -1;
    char err[NN_ERRLEN];
    if (model_add(m, &l, err) != 0) return nn_fail(why, "%s", err);
    return 0;
}

int model_parse_cfg(model *m, const char *text, const char *name, char *err) {
    model_init(m, (shape3){0, 0, 0, 0});
    // Editors on Windows (Notepad) save UTF-8 with a byte order mark: it is not part of the
    // first word ("unknown layer '\xef\xbb\xbfinput'" helped no one).
    if (!strncmp(text, "\xef\xbb\xbf", 3)) text += 3;
    char *copy = nn_strdup(text), *save = NULL, why[NN_ERRLEN];
    int lineno = 0, have_input = 0, rc = 0;
    shape3 cur = {0, 0, 0, 0};   // the shape flowing into the next layer, to check it per line
    for (char *p = copy; p && rc == 0; p = save) {
        save = strchr(p, '\n');
        if (save) *save++ = 0;
        lineno++;
        char *hash = strchr(p, '#');
        if (hash) *hash = 0;
        char *q = p;
        while (*q == ' ' || *q == '\t' || *q == '\r') q++;
        if (!*q) continue;
        int before = m->nlayers;
        if (parse_line(m, q, &have_input, why) != 0) {
            rc = nn_fail(err, "%s:%d: %s", name, lineno, why);
        } else if (m->nlayers == 0) {
            cur = m->input;
        } else if (m->nlayers > before) {
            // Shape errors (dense without flatten, a kernel larger than its input) belong to
            // this line too: set up a copy of the new layer on the shape that reaches it.
            layer probe = m->layers[m->nlayers - 1];
            if (layer_setup(&probe, cur, why) != 0)
                rc = nn_fail(err, "%s:%d: %s", name, lineno, why);
            cur = probe.out;
        }
    }
    nn_free(copy);
    if (rc) return rc;
    if (!have_input) return nn_fail(err, "%s: no 'input H W C' line", name);
    if (!m->nlayers) return nn_fail(err, "%s: no layers after the input line", name);
    if (model_finalize(m, why) != 0) {
        model_free(m);
        return nn_fail(err, "%s: %s", name, why);
    }
    return 0;
}

int model_load_cfg(model *m, const char *path, char *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return nn_fail(err, "cannot open model file %s: %s", path, strerror(errno));
    char *buf = nn_alloc(CFG_MAX_BYTES + 1, "cfg text");
    size_t n = fread(buf, 1, CFG_MAX_BYTES + 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || n > CFG_MAX_BYTES) {
        nn_free(buf);
        return nn_fail(err, "%s: %s", path, bad ? "read error" : "larger than 1 MiB: not a model file");
    }
    buf[n] = 0;
    if (memchr(buf, 0, n)) {
        nn_free(buf);
        return nn_fail(err, "%s: contains NUL bytes: not a text model file", path);
    }
    int rc = model_parse_cfg(m, buf, path, err);
    nn_free(buf);
    return rc;
}
