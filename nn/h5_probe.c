// h5_probe.c: model_load_h5 / model_load_h5_opts. libhdf5 reads the model file in a child
// process only; this process rebuilds the model from what the child sends through a pipe.
//
// Why a child: libhdf5 (1.10 at least) trusts what a file says about its variable-length
// strings: a corrupt global-heap reference makes H5Aread read out of bounds and crash
// (H5HG_read), a corrupt length makes it allocate and copy gigabytes. No API hands those
// references over unconverted, so they cannot be checked first. So the file is read in a child
// under a memory budget (what a good file of this size needs, with room to spare) and a time
// limit. If the child fails, its error line is ours; if it dies, the file is reported as
// corrupt. The child only reads the file (no CUDA, no threads) and leaves with _exit. If no
// child can be made, the file is loaded in this process.
//
// Why only the child reads: this process used to load the file again itself once the child
// had survived it, which doubled the load (`nn predict` took 110-180 ms on the article's 47 MB
// checkpoint). Now the child sends what it read, as
//   'F', a frame_head, model_config and training_config (JSON text), the class names (u32
//   length + bytes each), head.nseg h5_seg records (nn/h5_internal.h), then the values of the
//   inline segments in their order;
// or 'E' and its error line. Large float32 datasets stored plainly are not sent: their
// segments say where they lie in the file, and this process reads them there, straight into
// its arena (nn/h5_read.c says how the child checks them).
//
// Weights-only loads (nn predict, evaluate, summary) go one step further: the largest range of
// the weights (the dense kernel, 15.7 of the article's 15.75 MB) is not copied at all but
// mapped from the file (MAP_PRIVATE: the page cache's pages, no page of new memory to fault in
// and fill, which cost 15-20 ms on a busy VM). Should another program truncate the file in
// place meanwhile (h5py's 'w' mode does), touching those pages would raise SIGBUS: a handler
// turns that into an error line and exit status 1 (see on_sigbus).
//
// Nothing received is trusted: the model is rebuilt from the JSON by our own parser
// (keras_json.c) and must have the parameter count the child found; every length is bounded
// (strings by the file's size, segments by that model); segments must tile each arena exactly,
// in order; file ranges must lie inside the file this process opened before the fork (the
// child checked it read that very file: a rename over it in between is noticed). A short read,
// a malformed frame or a child that did not exit cleanly gives one error line.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "h5_internal.h"
#include "keras_json.h"

// VmData of this process in bytes (-1 when /proc is not there).
static long long vm_data_bytes(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmData:", 7)) kb = atoll(line + 7);
    if (f) fclose(f);
    return kb < 0 ? -1 : kb * 1024;
}

// Exactly n bytes, or -1 (an error, or the end of the stream first).
static int read_full(int fd, void *buf, size_t n) {
    char *p = buf;
    while (n > 0) {
        ssize_t k = read(fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

// ------------------------------------------------------------------------------------------
// the child

static void put(char **p, const void *src, size_t n) {
    if (n) memcpy(*p, src, n);
    *p += n;
}

// Sends the model the child read: the frame described at the top. Returns 0 or -1.
static int send_frame(int wfd, const model *m, const h5_loaded *out, const h5_plan *plan) {
    frame_head h;
    memset(&h, 0, sizeof h);
    h.magic = FRAME_MAGIC, h.version = FRAME_VERSION;
    h.nparams = m->nparams;
    h.mc_len = strlen(out->model_config);
    h.has_tc = out->training_config != NULL;
    h.tc_len = h.has_tc ? strlen(out->training_config) : 0;
    h.t = m->t, h.epoch = m->epoch, h.step = m->step, h.batch = m->batch;
    h.epoch_unknown = (uint32_t)m->epoch_unknown;
    h.adam_state = (uint32_t)out->adam_state, h.moments_read = (uint32_t)out->moments_read;
    h.nclasses = (uint32_t)m->nclasses, h.nseg = (uint32_t)plan->n;
    size_t len = 1 + sizeof h + h.mc_len + h.tc_len + (size_t)plan->n * sizeof(h5_seg);
    for (int i = 0; i < m->nclasses; i++) len += 4 + strlen(m->classes[i]);
    char *buf = nn_alloc(len, "load frame"), *p = buf;
    put(&p, "F", 1);
    put(&p, &h, sizeof h);
    put(&p, out->model_config, h.mc_len);
    if (h.has_tc) put(&p, out->training_config, h.tc_len);
    for (int i = 0; i < m->nclasses; i++) {
        uint32_t k = (uint32_t)strlen(m->classes[i]);
        put(&p, &k, 4);
        put(&p, m->classes[i], k);
    }
    put(&p, plan->seg, (size_t)plan->n * sizeof(h5_seg));
    int rc = nn_write_all(wfd, buf, len);
    nn_free(buf);
    const float *arena[3] = {m->w, m->m, m->v};
    for (int i = 0; i < plan->n && !rc; i++)
        if (plan->seg[i].inl)
            rc = nn_write_all(wfd, arena[plan->seg[i].arena] + plan->seg[i].dst, plan->seg[i].count * sizeof(float));
    return rc;
}

void h5_child_read(const char *path, unsigned flags, int file_fd, long long size, int wfd) {
    h5_plan plan = {.fd = file_fd, .fsize = size};
    h5_loaded out;
    model m;
    char e[NN_ERRLEN] = "";
    if (h5_read_model(&m, path, flags, &plan, 1, &out, e) != 0) {
        if (!e[0]) snprintf(e, sizeof e, "%s: unreadable model file", path);
        if (nn_write_all(wfd, "E", 1) == 0) nn_write_all(wfd, e, strlen(e));
        _exit(1);
    }
    _exit(send_frame(wfd, &m, &out, &plan) == 0 ? 0 : 3);
}

// A weights-only load: the layers (model_config JSON) the child builds before reading the file.
// Set by model_load_weights_h5 just before the fork and cleared after it: the child reads its
// own copy, and nothing of it outlives the call.
static struct { const char *config, *layers_from; } weights_job;

static void child_read_weights(const char *path, unsigned flags, int file_fd, long long size, int wfd) {
    (void)flags;
    h5_plan plan = {.fd = file_fd, .fsize = size};
    h5_loaded out;
    model m;
    char e[NN_ERRLEN] = "";
    if (h5_read_weights_file(&m, path, weights_job.config, weights_job.layers_from, &plan, &out, e) != 0) {
        if (!e[0]) snprintf(e, sizeof e, "%s: unreadable weights file", path);
        if (nn_write_all(wfd, "E", 1) == 0) nn_write_all(wfd, e, strlen(e));
        _exit(1);
    }
    _exit(send_frame(wfd, &m, &out, &plan) == 0 ? 0 : 3);
}

static void child_main(const char *path, unsigned flags, int file_fd, int wfd, h5_child_fn child) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);   // never outlive the caller
    // A crash must end the child by its signal: under AddressSanitizer (make SANITIZE=1)
    // or libFuzzer, their SIGSEGV handlers would report and exit(1) instead, which reads
    // as "no error line, no signal", not as a crash.
    signal(SIGSEGV, SIG_DFL);
    signal(SIGBUS, SIG_DFL);
    signal(SIGFPE, SIG_DFL);
    signal(SIGILL, SIG_DFL);
    struct stat st;
    long long size = (file_fd >= 0 ? fstat(file_fd, &st) : stat(path, &st)) == 0 ? (long long)st.st_size : 0;
    long long used = vm_data_bytes();
    if (used >= 0) {
        // a good file needs ~4/3 of its size (four arenas; it holds three) plus strings
        struct rlimit rl;
        rl.rlim_cur = rl.rlim_max = (rlim_t)(used + 3 * size + (512ll << 20));
        setrlimit(RLIMIT_DATA, &rl);
    }
    alarm((unsigned)(60 + size / (4 << 20)));   // a file that sends libhdf5 into a loop
    child(path, flags, file_fd, size, wfd);
    _exit(3);   // (children _exit themselves)
}

// What the parent knows while it receives the child's answer.
typedef struct {
    int rfd;              // the pipe from the child
    int fd;               // the file, opened here (-1: not a regular file we could open)
    long long fsize;
    const char *path;
    char *err;
    int eof;              // the stream ended early (the child died, or sent too little)
    int adam_state;       // what the frame said
    double t[4];          // NN_TIMING: fork, the child's answer, the model built, values read
    int nfile, ninl;      // segments read from the file, and sent inline
} rx;

// ------------------------------------------------------------------------------------------
// weights mapped from the file

#define MAX_MAPS 16
#define MAP_MIN_BYTES (1u << 20)
typedef struct {
    char *lo, *hi;        // the whole reservation (what on_sigbus matches; lo NULL: free slot)
    float *w;             // the arena inside it
    char msg[320];        // the line on_sigbus prints
} wmap;
static wmap maps[MAX_MAPS];
static pthread_mutex_t maps_lock = PTHREAD_MUTEX_INITIALIZER;   // writers only
static struct sigaction old_bus;
static int bus_installed;

// SIGBUS inside a mapped arena: the file shrank under it. Anything else goes to the action
// that was there before (a fault re-executes under it; a sent signal is sent again).
static void on_sigbus(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    char *a = si->si_addr;
    for (int i = 0; i < MAX_MAPS; i++) {
        char *lo = __atomic_load_n(&maps[i].lo, __ATOMIC_ACQUIRE), *hi = maps[i].hi;
        if (lo && a >= lo && a < hi) {
            ssize_t w = write(2, maps[i].msg, strlen(maps[i].msg));
            (void)w;
            _exit(1);
        }
    }
    sigaction(SIGBUS, &old_bus, NULL);
    bus_installed = 0;
    if (si->si_code <= 0) raise(sig);
}

static void release_mapped(model *m) {
    pthread_mutex_lock(&maps_lock);
    int i = 0;
    while (i < MAX_MAPS && !(maps[i].lo && maps[i].w == m->w)) i++;
    if (i == MAX_MAPS) NN_DIE("model_free: mapped weights that nn/h5_probe.c did not map");
    char *lo = maps[i].lo;
    size_t len = (size_t)(maps[i].hi - lo);
    __atomic_store_n(&maps[i].lo, NULL, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&maps_lock);
    munmap(lo, len);
    m->w = NULL;
    m->w_release = NULL;
}

// Replaces m->w with an arena whose largest file range (*big) is the file's own pages, mapped
// where that range goes; the rest of the arena is anonymous memory for the other ranges to be
// read into (they overwrite the file bytes that share the mapped range's first and last page).
// Returns 1 when done (*big is then in place), 0 to read everything into m->w as usual.
static int map_weights(rx *x, model *m, const h5_seg *big) {
    long pg = sysconf(_SC_PAGESIZE);
    uint64_t at = big->dst * sizeof(float), bytes = big->count * sizeof(float);
    if (pg <= 0 || x->fd < 0 || bytes < MAP_MIN_BYTES || big->file_off % sizeof(float)) return 0;
    size_t len = m->nparams * sizeof(float) + 2 * (size_t)pg;
    char *r = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (r == MAP_FAILED) return 0;
    // base + at must fall on the same place in a page as file_off (then base is 4-aligned)
    char *base = r + (big->file_off % (uint64_t)pg + (uint64_t)pg - at % (uint64_t)pg) % (uint64_t)pg;
    uint64_t f0 = big->file_off / (uint64_t)pg * (uint64_t)pg;
    uint64_t f1 = (big->file_off + bytes + (uint64_t)pg - 1) / (uint64_t)pg * (uint64_t)pg;
    char *v0 = base + at - (big->file_off - f0);
    pthread_mutex_lock(&maps_lock);
    int i = 0;
    while (i < MAX_MAPS && maps[i].lo) i++;
    if (i == MAX_MAPS || mmap(v0, f1 - f0, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, x->fd, (off_t)f0) == MAP_FAILED) {
        pthread_mutex_unlock(&maps_lock);
        munmap(r, len);
        return 0;
    }
    snprintf(maps[i].msg, sizeof maps[i].msg, "nn: error: %.200s changed on disk while its weights "
             "were in use (truncated by another program?): stopped\n", x->path);
    maps[i].w = (float *)base;
    maps[i].hi = r + len;
    __atomic_store_n(&maps[i].lo, r, __ATOMIC_RELEASE);
    if (!bus_installed) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_sigbus;
        sa.sa_flags = SA_SIGINFO;
        sigemptyset(&sa.sa_mask);
        bus_installed = sigaction(SIGBUS, &sa, &old_bus) == 0;
    }
    pthread_mutex_unlock(&maps_lock);
    nn_free(m->w);
    m->w = (float *)base;
    m->w_release = release_mapped;
    return 1;
}

// ------------------------------------------------------------------------------------------
// this process

static int rx_read(rx *x, void *buf, size_t n, const char *what) {
    if (read_full(x->rfd, buf, n) == 0) return 0;
    x->eof = 1;
    return nn_fail(x->err, "%s: the process reading the file sent too little (%s)", x->path, what);
}

static int malformed(rx *x, const char *what) {
    return nn_fail(x->err, "%s: the process reading the file sent a malformed result (%s)", x->path, what);
}

static char *rx_text(rx *x, uint64_t len, const char *what) {
    // the child read it from the file: it cannot be longer (64 MiB if the file is not open here)
    if (len > (x->fd >= 0 ? (uint64_t)x->fsize : 64u << 20)) {
        malformed(x, what);
        return NULL;
    }
    char *s = nn_alloc((size_t)len + 1, what);
    if (rx_read(x, s, (size_t)len, what) != 0) {
        nn_free(s);
        return NULL;
    }
    s[len] = 0;
    if (strlen(s) != len) {   // a zero inside: not what the child read
        nn_free(s);
        malformed(x, what);
        return NULL;
    }
    return s;
}

static int pread_full(int fd, void *buf, size_t n, uint64_t off) {
    char *p = buf;
    while (n > 0) {
        ssize_t k = pread(fd, p, n, (off_t)off);
        if (k < 0 && errno == EINTR) continue;
        if (k == 0) errno = EIO;   // the file is shorter than when the child read it
        if (k <= 0) return -1;
        p += k, off += (uint64_t)k;
        n -= (size_t)k;
    }
    return 0;
}

// The model from the child's frame (after its 'F'). 0, or -1 with err (m left freed).
static int rx_model(rx *x, unsigned flags, model *m) {
    frame_head h;
    char why[NN_ERRLEN];
    model_init(m, (shape3){0, 0, 0, 0});
    if (rx_read(x, &h, sizeof h, "header")) return -1;
    if (h.magic != FRAME_MAGIC || h.version != FRAME_VERSION) return malformed(x, "header");
    if (h.nclasses > sizeof m->classes / sizeof *m->classes || h.nseg > MAX_SEGS || h.has_tc > 1 ||
        h.adam_state > 1 || h.moments_read > h.adam_state || (h.moments_read && (flags & H5_LOAD_WEIGHTS_ONLY)) ||
        h.t < 0 || h.epoch < 0 || h.epoch >= (1 << 30) || h.batch < 0 || h.step < 0 || h.epoch_unknown > 1 ||
        (!h.has_tc && h.tc_len))
        return malformed(x, "header values");
    char *mc = rx_text(x, h.mc_len, "model_config"), *tc = NULL;
    if (!mc) return -1;
    if (h.has_tc && !(tc = rx_text(x, h.tc_len, "training_config"))) {
        nn_free(mc);
        return -1;
    }
    int rc = keras_model_from_config(m, mc, why);
    if (rc) nn_fail(x->err, "%s: %s", x->path, why);
    int built = rc == 0, is_adam = 0;
    if (!rc) m->opt = adam_defaults();
    if (!rc && tc && (rc = keras_training_from_config(tc, &m->opt, &is_adam, why)) != 0)
        nn_fail(x->err, "%s: %s", x->path, why);
    nn_free(mc);
    nn_free(tc);
    if (!rc && m->nparams != h.nparams) rc = malformed(x, "parameter count");
    x->t[2] = nn_now();
    m->t = (long)h.t, m->epoch = h.epoch, m->step = (long)h.step, m->batch = h.batch;
    m->epoch_unknown = (int)h.epoch_unknown;
    for (uint32_t i = 0; i < h.nclasses && !rc; i++) {
        uint32_t k;
        if ((rc = rx_read(x, &k, 4, "class names")) != 0) break;
        if (k > MAX_CLASS_NAME) {
            rc = malformed(x, "class names");
            break;
        }
        char *s = rx_text(x, k, "class names");
        if (!s) rc = -1;
        else m->classes[m->nclasses++] = s;
    }
    h5_seg *seg = NULL;
    if (!rc) {
        seg = nn_alloc((h.nseg ? h.nseg : 1) * sizeof *seg, "load plan");
        rc = rx_read(x, seg, h.nseg * sizeof *seg, "segments");
    }
    // The segments tile each arena in order: the weights always, the moments when sent.
    uint64_t next[3] = {0, 0, 0};
    for (uint32_t i = 0; i < h.nseg && !rc; i++) {
        const h5_seg *s = &seg[i];
        if (s->arena > H5_ARENA_V || (s->arena != H5_ARENA_W && !h.moments_read) || s->inl > 1 ||
            s->count == 0 || s->dst != next[s->arena] || s->count > m->nparams - s->dst ||
            (!s->inl && (x->fd < 0 || s->file_off > (uint64_t)x->fsize ||
                         s->count * sizeof(float) > (uint64_t)x->fsize - s->file_off)))
            rc = malformed(x, "segments");
        else
            next[s->arena] += s->count;
    }
    if (!rc && (next[0] != m->nparams || (h.moments_read && (next[1] != m->nparams || next[2] != m->nparams))))
        rc = malformed(x, "segments do not cover the parameters");
    // Weights only: the largest file range of the weights mapped in place (see the top).
    int mapped = -1;
    if (!rc && (flags & H5_LOAD_WEIGHTS_ONLY)) {
        for (uint32_t i = 0; i < h.nseg; i++)
            if (!seg[i].inl && seg[i].arena == H5_ARENA_W && (mapped < 0 || seg[i].count > seg[mapped].count))
                mapped = (int)i;
        if (mapped >= 0 && !map_weights(x, m, &seg[mapped])) mapped = -1;
    }
    float *arena[3] = {m->w, m->m, m->v};
    for (uint32_t i = 0; i < h.nseg && !rc; i++)   // first the pipe, so that the child can leave
        if (seg[i].inl) rc = rx_read(x, arena[seg[i].arena] + seg[i].dst, seg[i].count * sizeof(float), "values");
    char extra;
    ssize_t k;
    while (!rc && (k = read(x->rfd, &extra, 1)) != 0)
        if (!(k < 0 && errno == EINTR)) rc = malformed(x, "more data than announced");
    for (uint32_t i = 0; i < h.nseg && !rc; i++)
        if (!seg[i].inl && (int)i != mapped && pread_full(x->fd, arena[seg[i].arena] + seg[i].dst, seg[i].count * sizeof(float), seg[i].file_off))
            rc = nn_fail(x->err, "%s: cannot read the weights (file truncated or changed while loading?): %s",
                         x->path, strerror(errno));
    for (uint32_t i = 0; i < h.nseg && !rc; i++) seg[i].inl ? x->ninl++ : x->nfile++;
    nn_free(seg);
    x->t[3] = nn_now();
    if (rc) {
        if (built) model_free(m);
        return -1;
    }
    x->adam_state = (int)h.adam_state;
    return 0;
}

// Loads in this process: no child could be made.
static int load_here(model *m, const char *path, unsigned flags, h5_info *info, h5_child_fn child, char *err) {
    h5_loaded out;
    if (child == child_read_weights) {
        if (h5_read_weights_file(m, path, weights_job.config, weights_job.layers_from, NULL, &out, err)) return -1;
        nn_free(out.model_config);
    } else if (h5_read_model(m, path, flags, NULL, 0, &out, err) != 0) {
        return -1;
    }
    if (info) info->adam_state = out.adam_state;
    return 0;
}

int h5_load_via_child(model *m, const char *path, unsigned flags, h5_info *info, h5_child_fn child,
                      char *err) {
    model_init(m, (shape3){0, 0, 0, 0});
    if (info) memset(info, 0, sizeof *info);
    err[0] = 0;
    // The file as this process sees it: ranges the child points at are read from it. Not
    // opened when it is no regular file (a fifo would block here): the child says what it is.
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    long long fsize = 0;
    if (fd >= 0 && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))) {
        close(fd);
        fd = -1;
    }
    if (fd >= 0) fsize = (long long)st.st_size;
    int p[2];
    pid_t pid = -1;
    double t0 = nn_now();
    if (pipe2(p, O_CLOEXEC) == 0) {
        pid = fork();
        if (pid == 0) {
            close(p[0]);
            child_main(path, flags, fd, p[1], child);
        }
        close(p[1]);
        if (pid < 0) close(p[0]);
    }
    if (pid < 0) {
        if (fd >= 0) close(fd);
        return load_here(m, path, flags, info, child, err);
    }

    rx x = {.rfd = p[0], .fd = fd, .fsize = fsize, .path = path, .err = err, .t = {t0}};
    char tag = 0, e[NN_ERRLEN] = "";
    int rc = -1, killed = 0;
    int got_tag = read_full(p[0], &tag, 1) == 0;
    x.t[1] = nn_now();
    if (!got_tag) {
        x.eof = 1;   // died before a word: its status says how
    } else if (tag == 'E') {   // its error line, then it leaves
        x.eof = 1;
        size_t got = 0;
        ssize_t k;
        while (got < sizeof e - 1 && ((k = read(p[0], e + got, sizeof e - 1 - got)) > 0 || (k < 0 && errno == EINTR)))
            if (k > 0) got += (size_t)k;
        e[got] = 0;
    } else if (tag == 'F') {
        rc = rx_model(&x, flags, m);
    } else {
        malformed(&x, "first byte");
    }
    if (rc != 0 && !x.eof) {   // it may still be writing: it has nothing more to say
        kill(pid, SIGKILL);
        killed = 1;
    }
    close(p[0]);
    if (fd >= 0) close(fd);
    int status = 0;
    pid_t w;
    while ((w = waitpid(pid, &status, 0)) < 0 && errno == EINTR) {}
    if (e[0]) return nn_fail(err, "%s", e);   // the child's own error line
    if (w == pid && WIFSIGNALED(status) && !killed) {
        if (rc == 0) model_free(m);
        return nn_fail(err, "%s: corrupt HDF5 file (libhdf5 %s reading it, signal %d)", path,
                       WTERMSIG(status) == SIGALRM ? "hung" : "crashed", WTERMSIG(status));
    }
    if (w == pid && WIFEXITED(status) && WEXITSTATUS(status) != 0) {   // died without its error line
        if (rc == 0) model_free(m);
        return nn_fail(err, "%s: corrupt HDF5 file (reading it failed with status %d)", path,
                       WEXITSTATUS(status));
    }
    if (rc != 0 && !err[0]) nn_fail(err, "%s: unreadable model file", path);
    if (!rc && info) info->adam_state = x.adam_state;
    const char *timing = getenv("NN_TIMING");
    if (!rc && timing && *timing && strcmp(timing, "0"))
        fprintf(stderr, "nn: timing: h5 load: child %.2f ms, model %.2f ms, values %.2f ms (%d ranges "
                "read from the file, %d sent), exit %.2f ms\n", 1e3 * (x.t[1] - x.t[0]),
                1e3 * (x.t[2] - x.t[1]), 1e3 * (x.t[3] - x.t[2]), x.nfile, x.ninl, 1e3 * (nn_now() - x.t[3]));
    return rc;
}

int model_load_h5_opts(model *m, const char *path, unsigned flags, h5_info *info, char *err) {
    return h5_load_via_child(m, path, flags, info, h5_child_read, err);
}

int model_load_h5(model *m, const char *path, char *err) {
    return model_load_h5_opts(m, path, 0, NULL, err);
}

int model_load_weights_h5(model *m, const char *path, const char *layers_from, char *err) {
    char *json = keras_model_config_json(m);
    model w;
    weights_job.config = json, weights_job.layers_from = layers_from;
    int rc = h5_load_via_child(&w, path, H5_LOAD_WEIGHTS_ONLY, NULL, child_read_weights, err);
    weights_job.config = weights_job.layers_from = NULL;
    nn_free(json);
    if (rc) return -1;
    if (w.nparams != m->nparams || w.nlayers != m->nlayers) {   // built from m's own JSON
        model_free(&w);
        return nn_fail(err, "%s: the layers of %s did not survive their Keras JSON (a bug): %zu "
                       "parameters, not %zu", path, layers_from, w.nparams, m->nparams);
    }
    model_free(m);
    *m = w;
    return 0;
}
