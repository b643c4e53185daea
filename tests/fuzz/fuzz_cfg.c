// fuzz_cfg.c: libFuzzer target for the model file parser (model_parse_cfg, nn/cfg.c). A cfg is
// the first file a user edits and models come from others: any text must give a finalized
// model or -1 with one line naming the file and the line, never a crash, a leak, an overflow or
// an allocation far beyond what the model needs.
// What a parsed model must then satisfy, checked on every input:
//  - its Keras model_config JSON (what the .h5 file stores) builds the same model again:
//    same layers, kinds, shapes and parameter count (nn/keras_json.c);
//  - its summary prints, and when it is small (< 1M parameters, < 1M floats per activation) one
//    forward pass of one sample runs on the C path (shapes and buffers agree with the layers).
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../nn/common.h"
#include "../../nn/keras_json.h"
#include "../../nn/model.h"

#define DIE(...) (fprintf(stderr, "fuzz_cfg: " __VA_ARGS__), fputc('\n', stderr), abort())

static int same_shape(shape3 a, shape3 b) {
    return a.h == b.h && a.w == b.w && a.c == b.c && a.flat == b.flat;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 1 << 16) return 0;   // the parser takes 1 MiB; longer inputs add nothing
    char *text = malloc(size + 1), err[NN_ERRLEN];
    memcpy(text, data, size);
    text[size] = 0;
    model m;
    err[0] = 0;
    int rc = model_parse_cfg(&m, text, "fuzz.cfg", err);
    free(text);
    if (rc != 0) {
        if (rc != -1 || !err[0] || !memchr(err, 0, NN_ERRLEN) || strncmp(err, "fuzz.cfg", 8))
            DIE("model_parse_cfg returned %d with a bad error line '%.*s'", rc, NN_ERRLEN, err);
        return 0;
    }
    char *json = keras_model_config_json(&m);
    model k;
    if (keras_model_from_config(&k, json, err) != 0)
        DIE("the model_config JSON of a parsed cfg does not load back: %s\n%s", err, json);
    nn_free(json);
    if (k.nlayers != m.nlayers || k.nparams != m.nparams || !same_shape(k.input, m.input))
        DIE("JSON round trip: %d layers / %zu params, was %d / %zu", k.nlayers, k.nparams,
            m.nlayers, m.nparams);
    for (int i = 0; i < m.nlayers; i++) {
        const layer *a = &m.layers[i], *b = &k.layers[i];
        if (a->kind != b->kind || strcmp(a->name, b->name) || !same_shape(a->out, b->out) ||
            a->wsize != b->wsize || a->bsize != b->bsize || a->act != b->act)
            DIE("JSON round trip: layer %d (%s) differs", i, a->name);
    }
    model_free(&k);

    FILE *devnull = fopen("/dev/null", "w");
    if (devnull) {
        model_summary(&m, devnull);
        fclose(devnull);
    }
    size_t biggest = shape3_size(m.input);
    for (int i = 0; i < m.nlayers; i++) biggest = NN_MAX(biggest, shape3_size(m.layers[i].out));
    if (m.nparams < (1u << 20) && biggest < (1u << 20)) {
        nn_ctx ctx = nn_ctx_cpu();
        ctx.threads = 1;
        model_init_weights(&m, 1);
        model_alloc_batch(&m, 1);
        float *x = calloc(shape3_size(m.input), sizeof(float));
        model_forward(&m, &ctx, 1, x, 0);
        free(x);
    }
    model_free(&m);
    return 0;
}
