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

static int layer_option(layer *l, const char *key, const char *val, char *why) {
    int k = l->kind;
    if (!strcmp(key, "name")) {
        if (strlen(val) >= sizeof l->name) return nn_fail(why, "name '%s' is too long", val);
        for (const char *c = val; *c; c++)
            if (!isalnum((unsigned char)*c) && *c != '_' && *c != '-')
                return nn_fail(why, "name '%s' may hold only letters, digits, '_' and '-'", val);
        strcpy(l->name, val);
        return 0;
    }
    if ((k == LAYER_CONV2D || k == LAYER_DENSE || k == LAYER_ACTIVATION) &&
        (!strcmp(key, "activation") || (k == LAYER_ACTIVATION && !strcmp(key, "fn")))) {
        if (act_parse(val, &l->act) != 0)
            return nn_fail(why, "unknown activation '%s' (expected linear, relu or sigmoid)", val);
        return 0;
    }
    if (k == LAYER_CONV2D && !strcmp(key, "filters"))
        return parse_dims(val, &l->filters, NULL) ? nn_fail(why, "filters='%s' is not a positive integer", val) : 0;
    if (k == LAYER_DENSE && !strcmp(key, "units"))
        return parse_dims(val, &l->units, NULL) ? nn_fail(why, "units='%s' is not a positive integer", val) : 0;
    if ((k == LAYER_CONV2D && !strcmp(key, "kernel")) || (k == LAYER_MAXPOOL2D && !strcmp(key, "pool")))
        return parse_dims(val, &l->kh, &l->kw) ? nn_fail(why, "%s='%s' is not N or HxW with positive integers", key, val) : 0;
    if ((k == LAYER_CONV2D || k == LAYER_MAXPOOL2D) && !strcmp(key, "stride"))
        return parse_dims(val, &l->sh, &l->sw) ? nn_fail(why, "stride='%s' is not N or HxW with positive integers", val) : 0;
    if ((k == LAYER_CONV2D || k == LAYER_MAXPOOL2D) && !strcmp(key, "padding")) {
        if (!strcmp(val, "valid")) l->padding = PAD_VALID;
        else if (!strcmp(val, "same")) l->padding = PAD_SAME;
        else return nn_fail(why, "padding='%s' (expected valid or same)", val);
        return 0;
    }
    if ((k == LAYER_CONV2D || k == LAYER_DENSE) && !strcmp(key, "bias")) {
        if (!strcmp(val, "1") || !strcmp(val, "true")) l->use_bias = 1;
        else if (!strcmp(val, "0") || !strcmp(val, "false")) l->use_bias = 0;
        else return nn_fail(why, "bias='%s' (expected true or false)", val);
        return 0;
    }
    static const char *allowed[LAYER_KIND_COUNT] = {
        "filters, kernel, stride, padding, activation, bias, name",
        "pool, stride, padding, name", "name", "units, activation, bias, name", "fn, name"};
    return nn_fail(why, "unknown option '%s' for %s (expected %s)", key,
                   layer_ops_of(l->kind)->type, allowed[k]);
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
    if (!ops)
        return nn_fail(why, "unknown layer '%s' (expected input, conv2d, maxpool2d, flatten, dense or activation)", w[0]);
    if (!*have_input) return nn_fail(why, "the first line must be 'input H W C'");
    layer l;
    memset(&l, 0, sizeof l);
    for (int k = 0; k < LAYER_KIND_COUNT; k++)
        if (layer_ops_of(k) == ops) l.kind = k;
    l.use_bias = 1;
    l.sh = l.sw = 0;   // 0: the layer's default (1 for conv, the window for pooling)
    for (int i = 1; i < n; i++) {
        char *eq = strchr(w[i], '=');
        if (!eq || eq == w[i] || !eq[1])
            return nn_fail(why, "'%s' is not key=value", w[i]);
        *eq = 0;
        if (layer_option(&l, w[i], eq + 1, why) != 0) return -1;
    }
    if (l.kind == LAYER_CONV2D && (!l.filters || !l.kh))
        return nn_fail(why, "conv2d needs filters=N and kernel=N");
    if (l.kind == LAYER_DENSE && !l.units) return nn_fail(why, "dense needs units=N");
    if (l.kind == LAYER_MAXPOOL2D && !l.kh) l.kh = l.kw = 2;   // Keras's default pool_size
    if (l.kind == LAYER_ACTIVATION && n == 1) return nn_fail(why, "activation needs fn=relu|sigmoid|linear");
    char err[NN_ERRLEN];
    if (model_add(m, &l, err) != 0) return nn_fail(why, "%s", err);
    return 0;
}

int model_parse_cfg(model *m, const char *text, const char *name, char *err) {
    model_init(m, (shape3){0, 0, 0, 0});
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
            if (layer_ops_of(probe.kind)->setup(&probe, cur, why) != 0)
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
