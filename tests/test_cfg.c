// test_cfg.c: the model file parser. A malformed file must fail with an error that names the
// file, the line and what is wrong (a model file is the first thing a user edits); a good one
// must give the layers, options and shapes it says.
#include "../nn/common.h"
#include "../nn/model.h"
#include "test.h"

// Parses text as "t.cfg"; expects failure with an error holding `where` and `what`.
static void expect_error(const char *text, const char *where, const char *what) {
    model m;
    char err[NN_ERRLEN] = "";
    if (model_parse_cfg(&m, text, "t.cfg", err) == 0) {
        FAILF("accepted a bad model file:\n%s", text);
        model_free(&m);
        return;
    }
    CHECK_MSG(strstr(err, where) && strstr(err, what), "error '%s' should name '%s' and say '%s'",
              err, where, what);
}

static void unknown_layer(void) {
    expect_error("input 8 8 3\nconvx filters=2 kernel=3\n", "t.cfg:2:", "unknown layer 'convx'");
}
static void unknown_option(void) {
    expect_error("input 8 8 3\n# comment\nconv2d filters=2 kernel=3 strides=2\n", "t.cfg:3:",
                 "unknown option 'strides'");
    expect_error("input 8 8 3\nflatten\ndense units=2 filters=3\n", "t.cfg:3:", "unknown option 'filters'");
}
static void bad_numbers(void) {
    expect_error("input 8 8 3\nconv2d filters=two kernel=3\n", "t.cfg:2:", "filters='two'");
    expect_error("input 8 8 3\nconv2d filters=2 kernel=0\n", "t.cfg:2:", "kernel='0'");
    expect_error("input 8 8 3\nconv2d filters=2 kernel=3x\n", "t.cfg:2:", "kernel='3x'");
    expect_error("input 8 -8 3\n", "t.cfg:1:", "input H W C");
    expect_error("input 8 8\n", "t.cfg:1:", "input H W C");
    expect_error("input 8 8 3\nflatten\ndense units=1.5\n", "t.cfg:3:", "units='1.5'");
    expect_error("input 8 8 3\nmaxpool2d pool=2 stride=99999999999\n", "t.cfg:2:", "stride=");
}
static void bad_values(void) {
    expect_error("input 8 8 3\nconv2d filters=2 kernel=3 padding=full\n", "t.cfg:2:", "padding='full'");
    expect_error("input 8 8 3\nconv2d filters=2 kernel=3 activation=selu\n", "t.cfg:2:", "activation 'selu'");
    expect_error("input 8 8 3\nconv2d filters=2 kernel=3 bias=maybe\n", "t.cfg:2:", "bias='maybe'");
    expect_error("input 8 8 3\nconv2d filters=2 kernel\n", "t.cfg:2:", "not key=value");
    expect_error("input 8 8 3\nconv2d kernel=3\n", "t.cfg:2:", "filters=N");
    expect_error("input 8 8 3\nflatten\ndense\n", "t.cfg:3:", "units=N");
}
static void missing_input_line(void) {
    expect_error("conv2d filters=2 kernel=3\n", "t.cfg:1:", "input H W C");
    expect_error("# nothing but a comment\n\n", "t.cfg", "no 'input H W C' line");
    expect_error("input 8 8 3\n", "t.cfg", "no layers");
    expect_error("input 8 8 3\nflatten\ninput 8 8 3\n", "t.cfg:3:", "input");
}
static void shape_errors_name_the_line(void) {
    expect_error("input 8 8 3\nconv2d filters=2 kernel=3\ndense units=3\n", "t.cfg:3:", "add 'flatten'");
    expect_error("input 8 8 3\nconv2d filters=2 kernel=9\n", "t.cfg:2:", "larger than the input");
    expect_error("input 8 8 3\nflatten\nconv2d filters=2 kernel=3\n", "t.cfg:3:", "image input");
    expect_error("input 8 8 3\nmaxpool2d pool=3\nmaxpool2d pool=3\n", "t.cfg:3:", "larger than the input");
    expect_error("input 8 8 3\nflatten name=a\ndense units=2 name=a\n", "t.cfg", "used twice");
}

// The article's model: every option and derived shape as the file says.
static void catdog_parses(void) {
    model m;
    char err[NN_ERRLEN];
    int rc = model_load_cfg(&m, "models/catdog.cfg", err);
    CHECK_MSG(rc == 0, "%s", err);
    if (rc) return;
    CHECK(m.input.h == 64 && m.input.w == 64 && m.input.c == 3 && m.nlayers == 5);
    const layer *c = &m.layers[0], *p = &m.layers[1], *d = &m.layers[3], *o = &m.layers[4];
    CHECK(c->kind == LAYER_CONV2D && c->filters == 32 && c->kh == 3 && c->kw == 3 && c->sh == 1 &&
          c->padding == PAD_VALID && c->act == ACT_RELU && c->use_bias);
    CHECK(c->out.h == 62 && c->out.w == 62 && c->out.c == 32);
    CHECK(p->kind == LAYER_MAXPOOL2D && p->kh == 2 && p->sh == 2 && p->out.h == 31 && p->out.c == 32);
    CHECK(m.layers[2].kind == LAYER_FLATTEN && m.layers[2].out.c == 30752);
    CHECK(d->units == 128 && d->act == ACT_RELU && o->units == 1 && o->act == ACT_SIGMOID);
    CHECK(!strcmp(c->name, "conv2d") && !strcmp(p->name, "max_pooling2d") &&
          !strcmp(d->name, "dense") && !strcmp(o->name, "dense_1"));
    CHECK(m.nparams == 3937409);
    // MODEL_CATDOG_CFG (nn train's built-in model, the tests' reference) is the same model.
    model b;
    rc = model_parse_cfg(&b, MODEL_CATDOG_CFG, "MODEL_CATDOG_CFG", err);
    CHECK_MSG(rc == 0, "%s", err);
    if (rc == 0) {
        CHECK(b.nlayers == m.nlayers && b.nparams == m.nparams);
        for (int i = 0; i < b.nlayers && i < m.nlayers; i++)
            CHECK_MSG(b.layers[i].kind == m.layers[i].kind && b.layers[i].act == m.layers[i].act &&
                      b.layers[i].out.h == m.layers[i].out.h && b.layers[i].out.w == m.layers[i].out.w &&
                      b.layers[i].out.c == m.layers[i].out.c, "layer %d differs", i);
        model_free(&b);
    }
    model_free(&m);
}

static void comments_options_defaults(void) {
    model m;
    char err[NN_ERRLEN];
    int rc = model_parse_cfg(&m,
                             "  # leading comment\r\n"
                             "input 9 8 3   # trailing comment\r\n"
                             "\n"
                             "conv2d filters=4 kernel=3 padding=same activation=relu name=c1\n"
                             "maxpool2d pool=2x3 stride=1x2 padding=same\n"
                             "conv2d filters=2 kernel=2x3 stride=2 bias=false\n"
                             "activation fn=sigmoid\n"
                             "flatten\n"
                             "dense units=5 activation=linear\n",
                             "t.cfg", err);
    CHECK_MSG(rc == 0, "%s", err);
    if (rc) return;
    const layer *l = m.layers;
    CHECK(!strcmp(l[0].name, "c1") && l[0].padding == PAD_SAME && l[0].out.h == 9 && l[0].out.w == 8);
    CHECK(l[1].kh == 2 && l[1].kw == 3 && l[1].sh == 1 && l[1].sw == 2 && l[1].out.h == 9 && l[1].out.w == 4);
    CHECK(l[2].kh == 2 && l[2].kw == 3 && l[2].sh == 2 && l[2].sw == 2 && !l[2].use_bias && l[2].bsize == 0);
    CHECK(l[2].out.h == 4 && l[2].out.w == 1 && l[2].wsize == 2 * 3 * 4 * 2);
    CHECK(l[3].kind == LAYER_ACTIVATION && l[3].act == ACT_SIGMOID);
    CHECK(l[5].act == ACT_LINEAR && l[5].out.c == 5 && l[5].in.c == 8);
    model_free(&m);
}

int main(void) {
    RUN(unknown_layer);
    RUN(unknown_option);
    RUN(bad_numbers);
    RUN(bad_values);
    RUN(missing_input_line);
    RUN(shape_errors_name_the_line);
    RUN(catdog_parses);
    RUN(comments_options_defaults);
    TEST_EXIT();
}
