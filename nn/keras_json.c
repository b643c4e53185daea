// keras_json.c: Keras's model_config / training_config JSON <-> an nn model (see keras_json.h).
//
// Writing: one JSON that both Keras 3 and tf.keras 2.15 read (issue 14). Keras 3.15's legacy h5
// saver writes JSON that tf.keras 2 refuses, its own files' included; tf.keras 2.15's JSON loses
// settings in Keras 3. So nn writes Keras 3.15's config for a Sequential model (an InputLayer,
// then each layer's full get_config(): tests/test_h5.c compares it with Keras 3's own) with
// these differences, each of which both versions read the same way:
//   - InputLayer: "batch_input_shape" (tf.keras 2's key; Keras 3's InputLayer takes it as its
//     batch_shape) instead of Keras 3's "batch_shape", which tf.keras 2 rejects as an unknown
//     argument;
//   - every "dtype" is the string "float32" (what tf.keras 2 writes, and Keras 3 accepts)
//     instead of Keras 3's {"module": "keras", "class_name": "DTypePolicy", ...}: tf.keras 2
//     knows no DTypePolicy class;
//   - keys only the newest Keras 3 releases know are left out where they hold their defaults
//     (InputLayer "optional", Dense "quantization_config", GlorotUniform's "input_axes" and
//     "output_axes"): older Keras 3 releases and tf.keras 2 reject unknown constructor
//     arguments, and leaving defaults out loses nothing;
//   - training_config's Adam holds only the settings both Adams take (name, learning_rate,
//     beta_1, beta_2, epsilon, amsgrad, the clip settings as null): Keras 3's weight_decay,
//     use_ema, ema_momentum, ema_overwrite_frequency, loss_scale_factor and
//     gradient_accumulation_steps (all at their defaults) are refused by tf.keras 2.15, which
//     reads an Adam config without "is_legacy_optimizer" as its legacy Adam (whose arguments
//     these are not); "is_legacy_optimizer" itself is refused by Keras 3. tf.keras 2.15 so
//     compiles tf.keras.optimizers.legacy.Adam, the same update rule with the same settings.
// The initializers keep Keras 3's form ({"module": "keras.initializers", "class_name":
// "GlorotUniform", ..., "registered_name": null}), which tf.keras 2.15 writes too.
// optimizer_weights (nn/h5.c) stay in Keras 3's order ([iteration, learning_rate, m, v, ...]):
// no list suits both, since tf.keras 2's Adam has no learning_rate variable. tf.keras 2.15 then
// says "Error in loading the saved optimizer state" and starts Adam afresh; Keras 3.15 itself
// restores only the iteration count and learning rate of a Sequential model (see tests/README.md,
// "HDF5 models and Keras interop", for both and for how the moments can be carried over).
//
// Reading accepts Keras 3 (InputLayer batch_shape, DTypePolicy objects), tf.keras 2
// (InputLayer or the first layer's batch_input_shape, ":0" names) and Keras 2.0-2.2 (config is a
// bare list of layers). Settings nn cannot honour (dilation, groups, channels_first, other
// activations) are refused with the layer's name rather than silently run differently.
// Regularizers and constraints only shape training, not what a saved model computes: ignored.
#include "keras_json.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

// ------------------------------------------------------------------------------------------
// writing

double keras_float_repr(float f) {
    char buf[32];
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)f);
        if (strtof(buf, NULL) == f) return strtod(buf, NULL);
    }
    return (double)f;
}

static cJSON *add_obj(cJSON *parent, const char *key) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(parent, key, o);
    return o;
}

static void add_pair(cJSON *o, const char *key, int a, int b) {
    int v[2] = {a, b};
    cJSON_AddItemToObject(o, key, cJSON_CreateIntArray(v, 2));
}

// [null, H, W, C] (or [null, C] for a flat input): Keras's batch_shape.
static cJSON *batch_shape(shape3 s) {
    cJSON *a = cJSON_CreateArray();
    cJSON_AddItemToArray(a, cJSON_CreateNull());
    if (!s.flat) {
        cJSON_AddItemToArray(a, cJSON_CreateNumber(s.h));
        cJSON_AddItemToArray(a, cJSON_CreateNumber(s.w));
    }
    cJSON_AddItemToArray(a, cJSON_CreateNumber(s.c));
    return a;
}

// "float32", not Keras 3's DTypePolicy object, which tf.keras 2 cannot read (see the top).
static void add_dtype(cJSON *o) { cJSON_AddStringToObject(o, "dtype", "float32"); }

// The keys every Keras 3 layer config starts with.
static cJSON *layer_head(cJSON *layers, const char *cls, const char *name) {
    cJSON *l = cJSON_CreateObject();
    cJSON_AddStringToObject(l, "class_name", cls);
    cJSON *c = add_obj(l, "config");
    cJSON_AddStringToObject(c, "name", name);
    cJSON_AddTrueToObject(c, "trainable");
    add_dtype(c);
    cJSON_AddItemToArray(layers, l);
    return c;
}

// The fewest digits (up to 9) that read back as the same float.
static const char *shortest_float(char *buf, size_t len, float v) {
    for (int d = 1; d <= 9; d++) {
        snprintf(buf, len, "%.*g", d, v);
        if (strtof(buf, NULL) == v) break;
    }
    return buf;
}

// One option of a layer as Keras writes it (layers/layer.h's table).
static void add_option(cJSON *c, const layer *l, const layer_opt *o) {
    const char *f = (const char *)l + o->off;
    switch (o->type) {
    case OPT_INT: cJSON_AddNumberToObject(c, o->keras, *(const int *)f); break;
    case OPT_DIMS: add_pair(c, o->keras, ((const int *)f)[0], ((const int *)f)[1]); break;
    case OPT_PAD: cJSON_AddStringToObject(c, o->keras, *(const pad_kind *)f == PAD_SAME ? "same" : "valid"); break;
    case OPT_ACT: cJSON_AddStringToObject(c, o->keras, act_name(*(const act_kind *)f)); break;
    case OPT_BOOL: cJSON_AddBoolToObject(c, o->keras, *(const int *)f); break;
    // The float's shortest decimal form (0.5, not 0.5000000000): what Keras wrote comes back.
    case OPT_FLOAT: {
        char buf[32];
        snprintf(buf, sizeof buf, "%.9g", *(const float *)f);
        cJSON_AddItemToObject(c, o->keras, cJSON_CreateRaw(shortest_float(buf, sizeof buf, *(const float *)f)));
        break;
    }
    case OPT_FIXED: {
        cJSON *v = cJSON_Parse(o->json);
        if (!v) NN_DIE("layer option %s: '%s' is not JSON", o->keras, o->json);
        cJSON_AddItemToObject(c, o->keras, v);
        break;
    }
    }
}

static char *print_free(cJSON *root) {
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!s) NN_DIE("out of memory printing JSON");
    char *out = nn_strdup(s);
    cJSON_free(s);
    return out;
}

char *keras_model_config_json(const model *m) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "class_name", "Sequential");
    cJSON *cfg = add_obj(root, "config");
    cJSON_AddStringToObject(cfg, "name", "sequential");
    cJSON_AddTrueToObject(cfg, "trainable");
    add_dtype(cfg);
    cJSON *layers = cJSON_CreateArray();
    cJSON_AddItemToObject(cfg, "layers", layers);

    cJSON *in = cJSON_CreateObject();
    cJSON_AddStringToObject(in, "class_name", "InputLayer");
    cJSON *ic = add_obj(in, "config");
    cJSON_AddItemToObject(ic, "batch_input_shape", batch_shape(m->input));   // see the top
    cJSON_AddStringToObject(ic, "dtype", "float32");
    cJSON_AddFalseToObject(ic, "sparse");
    cJSON_AddFalseToObject(ic, "ragged");
    cJSON_AddStringToObject(ic, "name", "input_layer");
    cJSON_AddItemToArray(layers, in);

    for (int i = 0; i < m->nlayers; i++) {
        const layer *l = &m->layers[i];
        const layer_ops *ops = layer_ops_of(l->kind);
        cJSON *c = layer_head(layers, ops->keras_class, l->name);
        for (const layer_opt *o = ops->opts; o && (o->cfg || o->keras); o++)
            if (o->keras) add_option(c, l, o);
    }
    cJSON_AddItemToObject(cfg, "build_input_shape", batch_shape(m->input));
    return print_free(root);
}

char *keras_training_config_json(const adam_cfg *opt) {
    adam_cfg o = (opt && opt->lr > 0) ? *opt : adam_defaults();
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "loss", "binary_crossentropy");
    cJSON_AddNullToObject(root, "loss_weights");
    cJSON *metrics = cJSON_CreateArray();
    cJSON_AddItemToArray(metrics, cJSON_CreateString("accuracy"));
    cJSON_AddItemToObject(root, "metrics", metrics);
    cJSON_AddNullToObject(root, "weighted_metrics");
    cJSON_AddFalseToObject(root, "run_eagerly");
    cJSON_AddNumberToObject(root, "steps_per_execution", 1);
    cJSON_AddFalseToObject(root, "jit_compile");
    cJSON *oc = add_obj(root, "optimizer_config");
    cJSON_AddStringToObject(oc, "class_name", "Adam");
    cJSON *c = add_obj(oc, "config");
    cJSON_AddStringToObject(c, "name", "adam");
    cJSON_AddNumberToObject(c, "learning_rate", keras_float_repr(o.lr));
    // Only what both Keras 3's and tf.keras 2's (legacy) Adam take: see the top.
    cJSON_AddNullToObject(c, "clipnorm");
    cJSON_AddNullToObject(c, "global_clipnorm");
    cJSON_AddNullToObject(c, "clipvalue");
    cJSON_AddNumberToObject(c, "beta_1", keras_float_repr(o.beta1));
    cJSON_AddNumberToObject(c, "beta_2", keras_float_repr(o.beta2));
    cJSON_AddNumberToObject(c, "epsilon", keras_float_repr(o.epsilon));
    cJSON_AddFalseToObject(c, "amsgrad");
    return print_free(root);
}

// ------------------------------------------------------------------------------------------
// reading

static const cJSON *get(const cJSON *o, const char *key) {
    return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
}

static const char *get_str(const cJSON *o, const char *key) {
    const cJSON *v = get(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int is_int(const cJSON *v, int lo, int hi) {
    return cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble) && v->valuedouble >= lo &&
           v->valuedouble <= hi;
}

#define DIM_MAX (1 << 20)

// A Keras int-or-tuple option ("kernel_size": 3 or [3, 3]) into a, b. 1 ok, 0 absent, -1 bad.
static int get_pair(const cJSON *c, const char *key, int *a, int *b) {
    const cJSON *v = get(c, key);
    if (!v || cJSON_IsNull(v)) return 0;
    if (is_int(v, 1, DIM_MAX)) {
        *a = *b = v->valueint;
        return 1;
    }
    int n = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : 0;
    if (n != 1 && n != 2) return -1;
    const cJSON *x = cJSON_GetArrayItem(v, 0), *y = cJSON_GetArrayItem(v, n - 1);
    if (!is_int(x, 1, DIM_MAX) || !is_int(y, 1, DIM_MAX)) return -1;
    *a = x->valueint;
    *b = y->valueint;
    return 1;
}

// [null, H, W, C] or [null, C] into an input shape; 0 when absent, -1 when not such a shape.
static int parse_shape(const cJSON *v, shape3 *s) {
    if (!v || cJSON_IsNull(v)) return 0;
    int n = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : 0;
    if (n != 4 && n != 2) return -1;
    int d[4] = {0, 0, 0, 0};
    for (int i = 1; i < n; i++) {
        const cJSON *x = cJSON_GetArrayItem(v, i);
        if (!is_int(x, 1, DIM_MAX)) return -1;
        d[i] = x->valueint;
    }
    *s = n == 4 ? (shape3){d[1], d[2], d[3], 0} : (shape3){1, 1, d[1], 1};
    return 1;
}

// Keras 3 writes batch_shape (InputLayer); Keras 2 batch_input_shape (InputLayer or first layer).
static int get_batch_shape(const cJSON *c, shape3 *s) {
    const cJSON *v = get(c, "batch_shape");
    return parse_shape(v && !cJSON_IsNull(v) ? v : get(c, "batch_input_shape"), s);
}

// A fixed option's value in a file matches what nn writes: equal JSON, null, or for a pair
// [a, a] the single number a (Keras accepts either).
static int fixed_matches(const cJSON *want, const cJSON *got) {
    if (!got || cJSON_IsNull(got) || cJSON_Compare(want, got, 1)) return 1;
    if (cJSON_IsArray(want) && cJSON_GetArraySize(want) == 2 && cJSON_IsNumber(got)) {
        const cJSON *a = cJSON_GetArrayItem(want, 0), *b = cJSON_GetArrayItem(want, 1);
        return a->valuedouble == got->valuedouble && b->valuedouble == got->valuedouble;
    }
    if (cJSON_IsArray(got) && cJSON_GetArraySize(got) == 1)
        return fixed_matches(want, cJSON_GetArrayItem(got, 0));
    return 0;
}

// One option of a layer from its Keras config (absent: the table's default, already set).
static int get_option(const cJSON *c, layer *l, const layer_opt *o, const char *where, char *err) {
    char *f = (char *)l + o->off;
    const cJSON *v = get(c, o->keras);
    const char *key = o->keras;   // the key read, for the error lines
    if ((!v || cJSON_IsNull(v)) && o->keras_old) v = get(c, key = o->keras_old);   // tf.keras 2's
    if (!v || cJSON_IsNull(v)) {
        // A Keras config always holds its sizes; an absent activation is linear.
        if (o->required && o->type == OPT_INT)
            return nn_fail(err, "%s: %s is missing or not a positive integer", where, o->keras);
        if (o->required && o->type == OPT_DIMS)
            return nn_fail(err, "%s: %s is missing or not positive integers", where, o->keras);
        return 0;
    }
    switch (o->type) {
    case OPT_INT:
        // tf.keras 2 writes some ints as one-element lists (BatchNormalization's axis: [3]).
        if (cJSON_IsArray(v) && cJSON_GetArraySize(v) == 1) v = cJSON_GetArrayItem(v, 0);
        if (!is_int(v, o->lo, o->hi))
            return nn_fail(err, "%s: %s is missing or not a positive integer", where, o->keras);
        *(int *)f = v->valueint;
        return 0;
    case OPT_DIMS:
        if (get_pair(c, o->keras, (int *)f, (int *)f + 1) < 0)
            return nn_fail(err, "%s: %s is %snot positive integers", where, o->keras,
                           o->required ? "missing or " : "");
        return 0;
    case OPT_PAD: {
        const char *p = cJSON_IsString(v) ? v->valuestring : "?";
        if (!strcmp(p, "valid")) *(pad_kind *)f = PAD_VALID;
        else if (!strcmp(p, "same")) *(pad_kind *)f = PAD_SAME;
        else return nn_fail(err, "%s: %s '%s' is not supported (valid or same)", where, o->keras, p);
        return 0;
    }
    case OPT_ACT: {
        const char *a = cJSON_IsString(v) ? v->valuestring : get_str(v, "class_name");
        if (!a) return nn_fail(err, "%s: %s is neither a name nor a serialized function", where, o->keras);
        if (act_parse(a, (act_kind *)f) != 0)
            return nn_fail(err, "%s: %s '%s' is not supported (nn knows %s)", where, o->keras, a, act_list());
        return 0;
    }
    case OPT_BOOL: *(int *)f = cJSON_IsTrue(v); return 0;
    case OPT_FLOAT:
        if (!cJSON_IsNumber(v) || !(v->valuedouble >= o->flo && v->valuedouble <= o->fhi))
            return nn_fail(err, "%s: %s is not a number from %g to %g", where, key, o->flo, o->fhi);
        *(float *)f = (float)v->valuedouble;
        return 0;
    case OPT_FIXED: {
        if (!o->check) return 0;
        cJSON *want = cJSON_Parse(o->json);
        int ok = want && fixed_matches(want, v);
        cJSON_Delete(want);
        if (!ok) {
            char *got = cJSON_PrintUnformatted(v);
            nn_fail(err, "%s: %s %s is not supported (nn needs %s)", where, o->keras, got ? got : "?", o->json);
            cJSON_free(got);
            return -1;
        }
        return 0;
    }
    }
    return 0;
}

// One non-input layer of the config into l. where: "layer 2 'conv2d' (Conv2D)" for errors.
static int parse_layer(const char *cls, const cJSON *c, layer *l, const char *where, char *err) {
    const layer_ops *ops = layer_ops_by_keras(cls);
    if (!ops)
        return nn_fail(err, "%s: layer class %s is not supported (nn knows InputLayer, %s)", where,
                       cls, layer_keras_list());
    for (int k = 0; k < LAYER_KIND_COUNT; k++)
        if (layer_ops_of(k) == ops) layer_defaults(l, k);
    for (const layer_opt *o = ops->opts; o && (o->cfg || o->keras); o++)
        if (o->keras && get_option(c, l, o, where, err)) return -1;
    const char *name = get_str(c, "name");
    if (name) {
        if (strlen(name) >= sizeof l->name || strchr(name, '/'))
            return nn_fail(err, "%s: name is longer than %zu characters or holds '/'", where,
                           sizeof l->name - 1);
        strcpy(l->name, name);
    }
    return 0;
}

static int build(model *m, const cJSON *root, char *err) {
    const char *cls = get_str(root, "class_name");
    if (!cls) return nn_fail(err, "model_config has no class_name: not a Keras model");
    if (strcmp(cls, "Sequential"))
        return nn_fail(err, "model_config holds a %s model; nn reads Sequential models only", cls);
    const cJSON *cfg = get(root, "config"), *layers = cJSON_IsArray(cfg) ? cfg : get(cfg, "layers");
    if (!cJSON_IsArray(layers)) return nn_fail(err, "model_config has no list of layers");

    shape3 in = {0, 0, 0, 0};
    int have_in = 0, idx = 0, r;
    char where[160];
    model_init(m, in);
    const cJSON *item;
    cJSON_ArrayForEach(item, layers) {
        idx++;
        const char *lcls = get_str(item, "class_name");
        const cJSON *c = get(item, "config");
        const char *lname = get_str(c, "name");
        snprintf(where, sizeof where, "model_config layer %d '%s' (%s)", idx, lname ? lname : "?",
                 lcls ? lcls : "?");
        if (!lcls || !cJSON_IsObject(c)) return nn_fail(err, "%s: no class_name or config", where);
        shape3 s;
        if ((r = get_batch_shape(c, &s)) < 0)
            return nn_fail(err, "%s: input shape is not [null, H, W, C] or [null, N]", where);
        if (r > 0) {
            // tf.keras repeats the InputLayer's shape in the first layer's config: fine when equal.
            if (m->nlayers || (have_in && memcmp(&s, &in, sizeof s)))
                return nn_fail(err, "%s: an input shape after the first layer is not supported", where);
            in = s;
            have_in = 1;
        }
        if (!strcmp(lcls, "InputLayer")) {
            if (!r) return nn_fail(err, "%s: InputLayer without batch_shape", where);
            const cJSON *sp = get(c, "sparse");
            if (cJSON_IsTrue(sp)) return nn_fail(err, "%s: sparse inputs are not supported", where);
            continue;
        }
        layer l;
        if (parse_layer(lcls, c, &l, where, err) != 0) return -1;
        if (model_add(m, &l, err) != 0) return -1;
    }
    // Keras 3 also keeps the shape the model was built with at the Sequential level.
    if (!have_in && parse_shape(get(cfg, "build_input_shape"), &in) <= 0)
        return nn_fail(err, "model_config gives no input shape (batch_shape or batch_input_shape)");
    if (!m->nlayers) return nn_fail(err, "model_config has no layers besides the input");
    m->input = in;
    char why[NN_ERRLEN];
    if (model_finalize(m, why) != 0) return nn_fail(err, "model_config: %s", why);
    return 0;
}

int keras_model_from_config(model *m, const char *json, char *err) {
    cJSON *root = cJSON_Parse(json);
    if (!root) {
        model_init(m, (shape3){0, 0, 0, 0});
        return nn_fail(err, "model_config is not valid JSON");
    }
    int rc = build(m, root, err);
    cJSON_Delete(root);
    if (rc) model_free(m);
    return rc;
}

int keras_training_from_config(const char *json, adam_cfg *opt, int *is_adam, char *err) {
    cJSON *root = cJSON_Parse(json);
    if (!root) return nn_fail(err, "training_config is not valid JSON");
    const cJSON *oc = get(root, "optimizer_config");
    const char *cls = get_str(oc, "class_name");
    *is_adam = cls && (!strcmp(cls, "Adam") || !strcmp(cls, "keras>Adam") ||
                       !strcmp(cls, "Custom>Adam"));
    if (*is_adam) {
        const cJSON *c = get(oc, "config");
        adam_cfg o = adam_defaults();
        const cJSON *lr = get(c, "learning_rate");
        if (!lr) lr = get(c, "lr");   // Keras 2.0-2.2
        // A schedule (an object) has no single rate: keep the default.
        if (cJSON_IsNumber(lr) && lr->valuedouble > 0) o.lr = (float)lr->valuedouble;
        const cJSON *v;
        if (cJSON_IsNumber(v = get(c, "beta_1"))) o.beta1 = (float)v->valuedouble;
        if (cJSON_IsNumber(v = get(c, "beta_2"))) o.beta2 = (float)v->valuedouble;
        if (cJSON_IsNumber(v = get(c, "epsilon"))) o.epsilon = (float)v->valuedouble;
        *opt = o;
    }
    cJSON_Delete(root);
    return 0;
}
