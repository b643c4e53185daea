// cpu_layers.c: where a C-path training step's time goes. Runs the model's layers one by one
// (the calls model_forward / model_backward make), then Adam, on random data, and prints the
// best time of each over the repetitions (the best, because the machine may be shared: a
// disturbed repetition is slower, never faster), beside the best whole model_train_step.
// Build and run: make bench-layers [BENCH_ARGS="models/catdog.cfg 32 20"]
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../nn/common.h"
#include "../nn/ctx.h"
#include "../nn/gemm.h"
#include "../nn/loss.h"
#include "../nn/model.h"
#include "../nn/rng.h"

int main(int argc, char **argv) {
    const char *cfg = argc > 1 ? argv[1] : "models/catdog.cfg";
    int batch = argc > 2 ? atoi(argv[2]) : 32, reps = argc > 3 ? atoi(argv[3]) : 20;
    if (batch < 1 || reps < 1) {
        fprintf(stderr, "usage: cpu_layers [MODEL.cfg [BATCH [REPS]]]\n");
        return 2;
    }
    model m;
    char err[NN_ERRLEN];
    if (model_load_cfg(&m, cfg, err) != 0) {
        fprintf(stderr, "cpu_layers: %s\n", err);
        return 1;
    }
    if (model_output_size(&m) != 1) {
        fprintf(stderr, "cpu_layers: %s: needs one sigmoid output\n", cfg);
        return 1;
    }
    model_init_weights(&m, 1);
    model_alloc_batch(&m, batch);
    nn_ctx ctx = nn_ctx_cpu();
    size_t in = shape3_size(m.input);
    float *x = nn_alloc((size_t)batch * in * sizeof(float), "x");
    float *lab = nn_alloc((size_t)batch * sizeof(float), "labels");
    float *dz = nn_alloc((size_t)batch * sizeof(float), "dz");
    rng r;
    rng_seed(&r, 2);
    for (size_t i = 0; i < (size_t)batch * in; i++) x[i] = (float)rng_uniform(&r);
    for (int i = 0; i < batch; i++) lab[i] = (float)rng_below(&r, 2);

    double fwd[MODEL_MAX_LAYERS], bwd[MODEL_MAX_LAYERS], adam = 1e9, step = 1e9;
    for (int i = 0; i < m.nlayers; i++) fwd[i] = bwd[i] = 1e9;
    adam_cfg opt = adam_defaults();
    for (int rep = 0; rep < reps; rep++) {
        const float *cur = x;
        for (int i = 0; i < m.nlayers; i++) {
            const layer *l = &m.layers[i];
            act_kind act = i == m.nlayers - 1 && l->act == ACT_SIGMOID ? ACT_LINEAR : l->act;
            double t = nn_now();
            layer_ops_of(l->kind)->forward(l, &ctx, batch, cur, m.w + l->woff, m.y[i], m.aux[i],
                                           act, m.scratch);
            fwd[i] = NN_MIN(fwd[i], nn_now() - t);
            cur = m.y[i];
        }
        bce_logits(batch, cur, lab, dz);
        float *dcur = m.dbuf[0], *dnext = m.dbuf[1];
        memcpy(dcur, dz, (size_t)batch * sizeof(float));
        for (int i = m.nlayers - 1; i >= 0; i--) {
            const layer *l = &m.layers[i];
            act_kind act = i == m.nlayers - 1 && l->act == ACT_SIGMOID ? ACT_LINEAR : l->act;
            double t = nn_now();
            layer_ops_of(l->kind)->backward(l, &ctx, batch, i ? m.y[i - 1] : x, m.w + l->woff,
                                            m.y[i], dcur, i ? dnext : NULL, m.g + l->woff,
                                            m.aux[i], act, m.scratch);
            bwd[i] = NN_MIN(bwd[i], nn_now() - t);
            float *tmp = dcur;
            dcur = dnext;
            dnext = tmp;
        }
        double t = nn_now();
        m.t++;
        adam_step(&opt, m.t, m.nparams, m.w, m.g, m.m, m.v);
        adam = NN_MIN(adam, nn_now() - t);
        t = nn_now();
        model_train_step(&m, &ctx, batch, x, lab, &opt, NULL);
        step = NN_MIN(step, nn_now() - t);
    }
    printf("%s, batch %d, %d threads, sgemm %s; best of %d (ms)\n", cfg, batch,
           omp_get_max_threads(), sgemm_isa(), reps);
    double sum = adam;
    for (int i = 0; i < m.nlayers; i++) {
        printf("  %-16s forward %8.3f   backward %8.3f\n", m.layers[i].name, fwd[i] * 1e3, bwd[i] * 1e3);
        sum += fwd[i] + bwd[i];
    }
    printf("  %-16s          %8.3f\n", "adam", adam * 1e3);
    printf("sum of the parts %.3f ms; whole model_train_step %.3f ms = %.0f img/s\n", sum * 1e3,
           step * 1e3, batch / step);
    nn_free(x), nn_free(lab), nn_free(dz);
    model_free(&m);
    return 0;
}
