// dist.c: the ranks of a data-parallel run (see dist.h): one process without mpirun, else the
// MPI plugin loaded at run time. Collectives go through the plugin with a mark around them, so
// the watchdog can tell a rank blocked on a dead peer from one that is working.
#include "dist.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

int dist_launched(void) {
    // Open MPI's mpirun sets OMPI_COMM_WORLD_SIZE for each process it starts; a PMIx launcher
    // (srun --mpi=pmix, prterun) sets PMIX_RANK.
    return getenv("OMPI_COMM_WORLD_SIZE") != NULL || getenv("PMIX_RANK") != NULL;
}

// The plugin's path: NN_MPI_PLUGIN, else nn-mpi.so in the folder of the running nn.
static void plugin_path(char *buf, size_t len) {
    const char *env = getenv("NN_MPI_PLUGIN");
    if (env && *env) {
        snprintf(buf, len, "%s", env);
        return;
    }
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        snprintf(buf, len, "nn-mpi.so");
        return;
    }
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (slash) *slash = 0;
    snprintf(buf, len, "%s/nn-mpi.so", slash ? exe : ".");
}

int dist_init(dist *d, char *err) {
    memset(d, 0, sizeof *d);
    d->size = d->local_size = 1;
    if (!dist_launched()) return 0;
#ifndef NN_HAVE_MPI
    return nn_fail(err, "nn was started by mpirun, but this build has no MPI (Open MPI was not found "
                   "when nn was built: apt-get install libopenmpi-dev openmpi-bin, then make)");
#else
    char path[4200];
    plugin_path(path, sizeof path);
    // RTLD_GLOBAL: Open MPI loads its own components later, and they look for libmpi's symbols
    // in the global scope.
    void *lib = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
    if (!lib)
        return nn_fail(err, "started by mpirun, but the MPI plugin cannot be loaded: %s (make builds "
                       "it beside nn; NN_MPI_PLUGIN names another)", dlerror());
    dist_mpi_ops_fn get = (dist_mpi_ops_fn)dlsym(lib, "nn_dist_mpi_ops");
    const dist_mpi_ops *ops = get ? get() : NULL;
    if (!ops || ops->abi != DIST_MPI_ABI) {
        dlclose(lib);
        return nn_fail(err, "%s is not this nn's MPI plugin (%s): rebuild with make", path,
                       ops ? "another version" : "no nn_dist_mpi_ops");
    }
    if (ops->init(&d->rank, &d->size, &d->local_rank, &d->local_size, err)) return -1;
    d->ops = ops;
    d->lib = lib;
    d->mpi = 1;
    return 0;
#endif
}

void dist_finalize(dist *d) {
    if (d->mpi) d->ops->finalize();
    // The library stays loaded: Open MPI's atexit work may still run code from it.
    d->mpi = 0;
    d->ops = NULL;
}

void dist_abort(const dist *d, int status) {
    fflush(stdout);
    fflush(stderr);
    if (d && d->mpi) d->ops->abort(status);
    exit(status);
}

// --- collectives, marked for the watchdog

static atomic_int in_collective;
static atomic_llong collective_since;   // CLOCK_MONOTONIC nanoseconds

static long long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000ll + t.tv_nsec;
}

static void enter(void) {
    atomic_store(&collective_since, now_ns());
    atomic_store(&in_collective, 1);
}
static void leave(void) { atomic_store(&in_collective, 0); }

void dist_wait_begin(const dist *d) {
    if (d && d->mpi && d->size > 1) enter();
}
void dist_wait_end(const dist *d) {
    if (d && d->mpi && d->size > 1) leave();
}

void dist_sum_f32(const dist *d, float *x, size_t n) {
    if (!d || !d->mpi || d->size == 1 || n == 0) return;
    enter();
    d->ops->sum_f32(x, n);
    leave();
}

void dist_sum_f64(const dist *d, double *x, size_t n) {
    if (!d || !d->mpi || d->size == 1 || n == 0) return;
    enter();
    d->ops->sum_f64(x, n);
    leave();
}

int dist_any(const dist *d, int flag) {
    double f = flag != 0;
    dist_sum_f64(d, &f, 1);
    return f > 0;
}

void dist_bcast(const dist *d, void *buf, size_t bytes) {
    if (!d || !d->mpi || d->size == 1 || bytes == 0) return;
    enter();
    d->ops->bcast(buf, bytes);
    leave();
}

void dist_grad_sum(void *user, const struct nn_ctx *ctx, float *g, size_t count) {
    (void)ctx;
    dist_sum_f32((const dist *)user, g, count);
}

// --- the watchdog

static sem_t term_sem;
static atomic_int watchdog_on;
static char notes[2][1024];
static atomic_int note_at = -1;   // which of notes[] is current (-1: none)

void dist_set_note(const char *note) {
    int next = atomic_load(&note_at) == 0 ? 1 : 0;
    snprintf(notes[next], sizeof notes[next], "%s\n", note);
    atomic_store(&note_at, next);
}

void dist_on_term(void) {
    if (atomic_load(&watchdog_on)) sem_post(&term_sem);   // async-signal-safe
}

static void *watchdog(void *arg) {
    (void)arg;
    while (sem_wait(&term_sem) != 0) {}
    const long long grace = 500000000ll;   // 0.5 s: mpirun's SIGKILL comes 1 s after SIGTERM
    struct timespec nap = {0, 50000000};
    for (int i = 0; i < 40; i++) {   // a collective that outlasts the grace within 2 s
        nanosleep(&nap, NULL);
        if (atomic_load(&in_collective) && now_ns() - atomic_load(&collective_since) > grace) {
            int k = atomic_load(&note_at);
            if (k >= 0 && write(2, notes[k], strlen(notes[k])) < 0) {}
            break;
        }
    }
    return NULL;
}

void dist_watchdog_start(dist *d) {
    if (!d->mpi || atomic_load(&watchdog_on)) return;
    if (sem_init(&term_sem, 0, 0) != 0) return;
    pthread_t t;
    if (pthread_create(&t, NULL, watchdog, NULL) != 0) return;
    pthread_detach(t);
    atomic_store(&watchdog_on, 1);
}
