// train_dist.c: the ranks of `nn train` under mpirun (train_dist.h).
#include "train_dist.h"

#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../nn/common.h"
#include "../nn/cuda_api.h"

// The held standard error of a rank that dies before the agreement (NN_DIE exits) would be
// lost: atexit gives it back, with the rank in front.
static train_dist *exiting;

// Restores standard error; with replay, writes what was held there first, the rank put after
// the program's name ("nn train: rank 1 of 2: --data x: no such folder").
static void give_back_held(train_dist *t, int replay) {
    if (t->held_fd < 0) return;
    fflush(stderr);
    dup2(t->held_fd, 2);
    close(t->held_fd);
    t->held_fd = -1;
    if (replay && t->held) {
        char line[2048], who[64];
        snprintf(who, sizeof who, "rank %d of %d: ", t->d.rank, t->d.size);
        rewind(t->held);
        while (fgets(line, sizeof line, t->held)) {
            const char *heads[2] = {"nn train: ", "nn: "};
            int k = strncmp(line, heads[0], strlen(heads[0])) == 0 ? 0
                  : strncmp(line, heads[1], strlen(heads[1])) == 0 ? 1 : -1;
            if (k < 0) fprintf(stderr, "nn train: %s%s", who, line);
            else fprintf(stderr, "%s%s%s", heads[k], who, line + strlen(heads[k]));
        }
        fflush(stderr);
    }
    if (t->held) fclose(t->held);
    t->held = NULL;
}

static void at_exit(void) {
    if (exiting) give_back_held(exiting, 1);
}

int train_dist_quiet(void) {
    const char *r = getenv("OMPI_COMM_WORLD_RANK");
    if (!r) r = getenv("PMIX_RANK");
    return r && atoi(r) != 0;
}

int train_dist_begin(train_dist *t, char *err) {
    memset(t, 0, sizeof *t);
    t->held_fd = -1;
    if (dist_init(&t->d, err)) return -1;
    if (t->d.rank == 0) return 0;
    fflush(stdout);
    fflush(stderr);
    int null = open("/dev/null", O_WRONLY);
    if (null >= 0) {
        dup2(null, 1);
        close(null);
    }
    t->held = tmpfile();
    if (t->held) {
        t->held_fd = dup(2);
        dup2(fileno(t->held), 2);
        exiting = t;
        atexit(at_exit);
    }
    return 0;
}

int train_dist_agree(train_dist *t, int failed, int last) {
    if (t->settled) return 0;
    double v[2] = {failed != 0, t->d.rank == 0 && failed};   // any rank failed, rank 0 failed
    dist_sum_f64(&t->d, v, 2);
    if (v[0] == 0 && !last) return 0;
    t->settled = 1;
    give_back_held(t, failed && v[1] == 0);
    exiting = NULL;
    return v[0] > 0;
}

void train_dist_share_model(train_dist *t, model *m) {
    if (t->d.size == 1) return;
    model_sync(m);
    dist_bcast(&t->d, m->w, m->nparams * sizeof *m->w);
    dist_bcast(&t->d, m->m, m->nparams * sizeof *m->m);
    dist_bcast(&t->d, m->v, m->nparams * sizeof *m->v);
    long c[4] = {m->t, m->epoch, m->batch, m->step};
    dist_bcast(&t->d, c, sizeof c);
    m->t = c[0], m->epoch = (int)c[1], m->batch = (int)c[2], m->step = c[3];
    m->dev_newer = 0;
}

int train_dist_threads(const train_dist *t) {
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    cpu_set_t set;
    int mine = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : (int)online;
    int share = (int)(online / NN_MAX(t->d.local_size, 1));
    return NN_MAX(1, NN_MIN(mine, share));
}

int train_dist_device(const train_dist *t, char *err) {
    int count = 0;
    char why[NN_ERRLEN];
    if (cuda_device_count(&count, why) != 0 || count == 0) return -2;
    if (t->d.local_size > count)
        return nn_fail(err, "%d ranks on this machine but %d GPU%s: one GPU a rank (mpirun -np %d "
                       "per machine), or --device cpu", t->d.local_size, count, count == 1 ? "" : "s", count);
    return t->d.local_rank;
}

int train_dist_plain_output(const train_dist *t) {
    if (!t->d.mpi) return 0;
    // Open MPI gives each rank a pseudo-terminal for its output whatever mpirun's own is; the
    // progress bar is redrawn in place only when mpirun (our parent) writes to a terminal.
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd/1", (int)getppid());
    int fd = open(path, O_WRONLY | O_NOCTTY);
    int tty = fd >= 0 && isatty(fd);
    if (fd >= 0) close(fd);
    return !tty;
}

void train_dist_end(train_dist *t) {
    give_back_held(t, 0);
    exiting = NULL;
    dist_finalize(&t->d);
}
