// fuzz_h5.c: libFuzzer target for the HDF5 model loader (model_load_h5, nn/h5_read.c and
// nn/h5_probe.c). Model files
// come from others: whatever the bytes, the loader must give a finalized model or -1 with one
// line naming the file, never crash, leak, or allocate far beyond the model it describes.
// model_load_h5 takes a path, so each input is written to a file in /dev/shm (memory, not
// disk) first. A loaded model must also save and load back with the same parameter count, and
// a weights-only load of the same file (nn predict's) must give the same weights.
//
// libhdf5 (Debian's 1.10) is not built for fuzzing: it is not instrumented for coverage, so
// the fuzzer steers by the project's code only (the loader's checks, keras_json.c), and its
// own crashes on corrupt files end the loader's child (see nn/h5_probe.c),
// which the loader reports as a corrupt file. That child is forked per input: this target
// runs at hundreds, not thousands, of inputs a second.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../nn/common.h"
#include "../../nn/h5.h"

#define DIE(...) (fprintf(stderr, "fuzz_h5: " __VA_ARGS__), fputc('\n', stderr), abort())

static char path[64], path2[72];

static void cleanup(void) {
    unlink(path);
    unlink(path2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!path[0]) {
        const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(path, sizeof path, "%s/nn-fuzz-h5-%d.h5", dir, (int)getpid());
        snprintf(path2, sizeof path2, "%s.again.h5", path);
        atexit(cleanup);
    }
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) DIE("cannot write %s", path);
    model m;
    char err[NN_ERRLEN];
    err[0] = 0;
    int rc = model_load_h5(&m, path, err);
    if (rc != 0) {
        if (rc != -1 || !err[0] || !memchr(err, 0, NN_ERRLEN) || !strstr(err, path))
            DIE("model_load_h5 returned %d with a bad error line '%.*s'", rc, NN_ERRLEN, err);
        return 0;
    }
    model wo;
    if (model_load_h5_opts(&wo, path, H5_LOAD_WEIGHTS_ONLY, NULL, err) != 0)
        DIE("the full load works, the weights-only load does not: %s", err);
    if (wo.nparams != m.nparams || (m.nparams && memcmp(wo.w, m.w, m.nparams * sizeof(float))) ||
        wo.t != m.t || wo.epoch != m.epoch)
        DIE("the weights-only load differs from the full load");
    model_free(&wo);
    if (model_save_h5(&m, path2, err) != 0) DIE("a loaded model does not save: %s", err);
    model k;
    if (model_load_h5(&k, path2, err) != 0) DIE("a saved model does not load back: %s", err);
    if (k.nparams != m.nparams || k.nlayers != m.nlayers || k.t != m.t || k.epoch != m.epoch)
        DIE("save/load round trip changed the model");
    if (m.nparams && memcmp(k.w, m.w, m.nparams * sizeof(float)))
        DIE("save/load round trip changed the weights");
    model_free(&k);
    model_free(&m);
    return 0;
}
