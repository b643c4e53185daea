// h5_internal.h: what nn/h5.c (libhdf5 reading) and nn/h5_probe.c (the child process that runs
// it, and the parent that rebuilds the model from what the child sends) share. Not for callers.
#ifndef NN_H5_INTERNAL_H
#define NN_H5_INTERNAL_H

#include <hdf5.h>
#include <stdint.h>

#include "h5.h"

// libhdf5 helpers (nn/h5.c)
void h5_quiet(void);                        // no error printing by libhdf5 itself
const char *h5_reason(char buf[160]);       // the innermost message of HDF5's error stack
void h5_close(hid_t id);                    // closes any kind of id; -1 is ignored
hid_t h5_str_type(int utf8);                // a variable-length string type
int h5_param_dims(const layer_param *p, hsize_t dims[4]);   // a tensor's Keras shape; its rank

// One range of a parameter arena, in the order they were read. Either the float32 values lie,
// little-endian and contiguous, in the model file at file_off (the parent reads them there
// itself: libhdf5 said where and the child checked a sample), or the child read them through
// libhdf5 into its own arena (inline: they follow in the pipe).
enum { H5_ARENA_W, H5_ARENA_M, H5_ARENA_V };
typedef struct h5_seg {
    uint32_t arena;       // H5_ARENA_*
    uint32_t inl;         // 1: the values follow in the pipe; 0: they are at file_off in the file
    uint64_t dst;         // first float of the range in the arena
    uint64_t count;       // floats
    uint64_t file_off;    // bytes from the start of the file (inl == 0)
} h5_seg;

typedef struct h5_plan {
    int fd;               // the file as the parent opened it (-1: everything inline)
    long long fsize;      // its size: a range must end inside it
    int n, cap;
    h5_seg *seg;          // nn_alloc'd
} h5_plan;

// What a load found besides the model itself.
typedef struct h5_loaded {
    char *model_config;     // the JSON texts, when keep_json was asked (nn_free; NULL if absent)
    char *training_config;
    int adam_state;         // optimizer_weights holds Adam's iteration count and both moments
    int moments_read;       // ... and they were read into m->m, m->v
} h5_loaded;

// The child's answer (nn/h5_probe.c says what follows the head).
#define FRAME_MAGIC 0x4c35486eu   // "nH5L"
#define FRAME_VERSION 1u
#define MAX_CLASS_NAME 4096u
#define MAX_SEGS (3 * LAYER_MAX_TENSORS * MODEL_MAX_LAYERS)   // every tensor of every layer, three arenas

typedef struct {
    uint32_t magic, version;
    uint64_t nparams;               // of the model the child built
    uint64_t mc_len, tc_len;        // JSON text lengths (no terminating zero)
    int64_t t;                      // Adam's iterations
    int64_t step;                   // steps done of the unfinished epoch (model.h)
    int32_t epoch;
    int32_t batch;                  // the checkpoint's batch size, 0 when not recorded
    uint32_t has_tc;                // training_config was present
    uint32_t adam_state, moments_read;
    uint32_t nclasses, nseg;
    uint32_t epoch_unknown;         // the file records no epochs (model.h)
} frame_head;

// The child's work, once h5_probe has given it its death signal, memory budget and time limit:
// read path (file_fd: the file as the parent opened it, -1 if it could not; fsize its size),
// write the answer to wfd, and _exit. model_load_h5_opts runs h5_child_read; tests pass
// children that crash, hang or send malformed answers.
typedef void (*h5_child_fn)(const char *path, unsigned flags, int file_fd, long long fsize, int wfd);
void h5_child_read(const char *path, unsigned flags, int file_fd, long long fsize, int wfd);
// model_load_h5_opts with the child's work given.
int h5_load_via_child(model *m, const char *path, unsigned flags, h5_info *info, h5_child_fn child,
                      char *err);

// The whole libhdf5 load: builds, finalizes and fills m. With plan (the child), ranges that can
// be read from the file directly are only recorded in plan, not read. keep_json: out gets the
// JSON texts. flags: H5_LOAD_*. Returns 0, or -1 with one line in err (m left freed).
int h5_read_model(model *m, const char *path, unsigned flags, h5_plan *plan, int keep_json,
                  h5_loaded *out, char *err);
// A weights-only file (Keras's save_weights, either layout; or a whole model's weights) for the
// layers of config (model_config JSON of a model built from cfg_name, named in errors): builds
// m from config and fills its weights, matched as Keras matches them (Keras 3's files by layer
// name, legacy lists by order), every shape checked. out->model_config gets a copy of config.
int h5_read_weights_file(model *m, const char *path, const char *config, const char *cfg_name,
                         h5_plan *plan, h5_loaded *out, char *err);

#endif
