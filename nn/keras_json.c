// keras_json.c: Keras's model_config / training_config JSON <-> an nn model (see keras_json.h).
//
// Writing follows what Keras 3.15's legacy h5 saver writes for a Sequential model (an InputLayer
// with batch_shape, then each layer's full get_config()), minus two keys that only the newest
// Keras 3 releases know and that hold their defaults (InputLayer "optional", Dense
// "quantization_config"; GlorotUniform's "input_axes"/"output_axes"): older Keras 3 releases
// reject unknown constructor arguments, and leaving defaults out loses nothing.
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

static void add_dtype_policy(cJSON *o) {
    cJSON *d = add_obj(o, "dtype");
    cJSON_AddStringToObject(d, "module", "keras");
    cJSON_AddStringToObject(d, "class_name", "DTypePolicy");
    cJSON_AddStringToObject(add_obj(d, "config"), "name", "float32");
    cJSON_AddNullToObject(d, "registered_name");
}

static void add_initializer(cJSON *o, const char *key, const char *cls) {
    cJSON *i = add_obj(o, key);
    cJSON_AddStringToObject(i, "module", "keras.initializers");
    cJSON_AddStringToObject(i, "class_name", cls);
    cJSON *c = add_obj(i, "config");
    if (!strcmp(cls, "GlorotUniform")) cJSON_AddNullToObject(c, "seed");
    cJSON_AddNullToObject(i, "registered_name");
}

// The keys every Keras 3 layer config starts with.
static cJSON *layer_head(cJSON *layers, const char *cls, const char *name) {
    cJSON *l = cJSON_CreateObject();
    cJSON_AddStringToObject(l, "class_name", cls);
    cJSON *c = add_obj(l, "config");
    cJSON_AddStringToObject(c, "name", name);
    cJSON_AddTrueToObject(c, "trainable");
    add_dtype_policy(c);
    cJSON_AddItemToArray(layers, l);
    return c;
}

static void add_weights_config(cJSON *c, int use_bias, int conv) {
    cJSON_AddBoolToObject(c, "use_bias", use_bias);
    add_initializer(c, "kernel_initializer", "GlorotUniform");
    add_initializer(c, "bias_initializer", "Zeros");
    cJSON_AddNullToObject(c, "kernel_regularizer");
    cJSON_AddNullToObject(c, "bias_regularizer");
    if (conv) cJSON_AddNullToObject(c, "activity_regularizer");
    cJSON_AddNullToObject(c, "kernel_constraint");
    cJSON_AddNullToObject(c, "bias_constraint");
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
    add_dtype_policy(cfg);
    cJSON *layers = cJSON_CreateArray();
    cJSON_AddItemToObject(cfg, "layers", layers);

    cJSON *in = cJSON_CreateObject();
    cJSON_AddStringToObject(in, "class_name", "InputLayer");
    cJSON *ic = add_obj(in, "config");
    cJSON_AddItemToObject(ic, "batch_shape", batch_shape(m->input));
    cJSON_AddStringToObject(ic, "dtype", "float32");
    cJSON_AddFalseToObject(ic, "sparse");
    cJSON_AddFalseToObject(ic, "ragged");
    cJSON_AddStringToObject(ic, "name", "input_layer");
    cJSON_AddItemToArray(layers, in);

    for (int i = 0; i < m->nlayers; i++) {
        const layer *l = &m->layers[i];
        const char *cls = layer_ops_of(l->kind)->keras_class;
        cJSON *c = layer_head(layers, cls, l->name);
        const char *pad = l->padding == PAD_SAME ? "same" : "valid";
        switch (l->kind) {
        case LAYER_CONV2D:
            cJSON_AddNumberToObject(c, "filters", l->filters);
            add_pair(c, "kernel_size", l->kh, l->kw);
            add_pair(c, "strides", l->sh, l->sw);
            cJSON_AddStringToObject(c, "padding", pad);
            cJSON_AddStringToObject(c, "data_format", "channels_last");
            add_pair(c, "dilation_rate", 1, 1);
            cJSON_AddNumberToObject(c, "groups", 1);
            cJSON_AddStringToObject(c, "activation", act_name(l->act));
            add_weights_config(c, l->use_bias, 1);
            break;
        case LAYER_MAXPOOL2D:
            add_pair(c, "pool_size", l->kh, l->kw);
            cJSON_AddStringToObject(c, "padding", pad);
            add_pair(c, "strides", l->sh, l->sw);
            cJSON_AddStringToObject(c, "data_format", "channels_last");
            break;
        case LAYER_FLATTEN:
            cJSON_AddStringToObject(c, "data_format", "channels_last");
            break;
        case LAYER_DENSE:
            cJSON_AddNumberToObject(c, "units", l->units);
            cJSON_AddStringToObject(c, "activation", act_name(l->act));
            add_weights_config(c, l->use_bias, 0);
            break;
        case LAYER_ACTIVATION:
            cJSON_AddStringToObject(c, "activation", act_name(l->act));
            break;
        default:
            NN_DIE("layer kind %d has no Keras config", (int)l->kind);
        }
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
    cJSON_AddNullToObject(c, "weight_decay");
    cJSON_AddNullToObject(c, "clipnorm");
    cJSON_AddNullToObject(c, "global_clipnorm");
    cJSON_AddNullToObject(c, "clipvalue");
    cJSON_AddFalseToObject(c, "use_ema");
    cJSON_AddNumberToObject(c, "ema_momentum", 0.99);
    cJSON_AddNullToObject(c, "ema_overwrite_frequency");
    cJSON_AddNullToObject(c, "loss_scale_factor");
    cJSON_AddNullToObject(c, "gradient_accumulation_steps");
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

static int get_act(const cJSON *c, const char *where, act_kind *a, char *err) {
    const cJSON *v = get(c, "activation");
    if (!v || cJSON_IsNull(v)) {
        *a = ACT_LINEAR;
        return 0;
    }
    const char *s = cJSON_IsString(v) ? v->valuestring : get_str(v, "class_name");
    if (!s) return nn_fail(err, "%s: activation is neither a name nor a serialized function", where);
    if (act_parse(s, a) != 0)
        return nn_fail(err, "%s: activation '%s' is not supported (nn knows linear, relu, sigmoid)",
                       where, s);
    return 0;
}

static int check_channels_last(const cJSON *c, const char *where, char *err) {
    const char *df = get_str(c, "data_format");
    if (df && strcmp(df, "channels_last"))
        return nn_fail(err, "%s: data_format '%s' is not supported (nn is channels_last, NHWC)", where, df);
    return 0;
}

static int get_padding(const cJSON *c, const char *where, pad_kind *p, char *err) {
    const char *s = get_str(c, "padding");
    if (!s || !strcmp(s, "valid")) *p = PAD_VALID;
    else if (!strcmp(s, "same")) *p = PAD_SAME;
    else return nn_fail(err, "%s: padding '%s' is not supported (valid or same)", where, s);
    return 0;
}

static int get_use_bias(const cJSON *c) {
    const cJSON *v = get(c, "use_bias");
    return v ? cJSON_IsTrue(v) : 1;
}

// One non-input layer of the config into l. where: "layer 2 'conv2d' (Conv2D)" for errors.
static int parse_layer(const char *cls, const cJSON *c, layer *l, const char *where, char *err) {
    memset(l, 0, sizeof *l);
    l->use_bias = 1;
    int r;
    if (!strcmp(cls, "Conv2D") || !strcmp(cls, "Convolution2D")) {
        l->kind = LAYER_CONV2D;
        const cJSON *f = get(c, "filters");
        if (!is_int(f, 1, DIM_MAX)) return nn_fail(err, "%s: filters is missing or not a positive integer", where);
        l->filters = f->valueint;
        if (get_pair(c, "kernel_size", &l->kh, &l->kw) != 1)
            return nn_fail(err, "%s: kernel_size is missing or not positive integers", where);
        if ((r = get_pair(c, "strides", &l->sh, &l->sw)) < 0)
            return nn_fail(err, "%s: strides is not positive integers", where);
        int d1 = 1, d2 = 1;
        if (get_pair(c, "dilation_rate", &d1, &d2) < 0 || d1 != 1 || d2 != 1)
            return nn_fail(err, "%s: dilation_rate other than 1 is not supported", where);
        const cJSON *g = get(c, "groups");
        if (g && !cJSON_IsNull(g) && !is_int(g, 1, 1))
            return nn_fail(err, "%s: groups other than 1 is not supported", where);
        if (check_channels_last(c, where, err) || get_padding(c, where, &l->padding, err) ||
            get_act(c, where, &l->act, err))
            return -1;
        l->use_bias = get_use_bias(c);
    } else if (!strcmp(cls, "MaxPooling2D") || !strcmp(cls, "MaxPool2D")) {
        l->kind = LAYER_MAXPOOL2D;
        if ((r = get_pair(c, "pool_size", &l->kh, &l->kw)) < 0)
            return nn_fail(err, "%s: pool_size is not positive integers", where);
        if (r == 0) l->kh = l->kw = 2;
        if (get_pair(c, "strides", &l->sh, &l->sw) < 0)
            return nn_fail(err, "%s: strides is not positive integers", where);
        if (check_channels_last(c, where, err) || get_padding(c, where, &l->padding, err)) return -1;
    } else if (!strcmp(cls, "Flatten")) {
        l->kind = LAYER_FLATTEN;
        if (check_channels_last(c, where, err)) return -1;
    } else if (!strcmp(cls, "Dense")) {
        l->kind = LAYER_DENSE;
        const cJSON *u = get(c, "units");
        if (!is_int(u, 1, DIM_MAX)) return nn_fail(err, "%s: units is missing or not a positive integer", where);
        l->units = u->valueint;
        if (get_act(c, where, &l->act, err)) return -1;
        l->use_bias = get_use_bias(c);
    } else if (!strcmp(cls, "Activation")) {
        l->kind = LAYER_ACTIVATION;
        if (get_act(c, where, &l->act, err)) return -1;
    } else {
        return nn_fail(err, "%s: layer class %s is not supported (nn knows InputLayer, Conv2D, "
                            "MaxPooling2D, Flatten, Dense, Activation)", where, cls);
    }
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
