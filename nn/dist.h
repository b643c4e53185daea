// dist.h: the ranks of a data-parallel run. `mpirun -np N nn train ...` starts N processes;
// each is one rank, trains on its share of every global batch, and the gradients are summed
// over the ranks before Adam (run/train.c; on GPUs by NCCL, cuda/nccl_cuda.cu). Not started by
// mpirun, nn is rank 0 of 1 and none of this costs anything.
//
// MPI itself (Debian's Open MPI) is not linked into nn: it lives in a small plugin,
// bin/nn-mpi.so (nn/mpi/dist_mpi.c, built when the Makefile finds Open MPI), which dist_init loads
// only when Open MPI's launcher is seen in the environment. So nn's start (30 ms is nn
// predict's budget; libmpi and the nine libraries it pulls in cost 3 to 5 ms to load), the
// binaries packed for the GPU machine (tests/cuda/device_pack.sh) and a build without MPI all
// stay as they were.
//
// Every collective below must be called by every rank in the same order: the training loop
// keeps its control flow the same on all ranks by deciding only on reduced values.
#ifndef NN_DIST_H
#define NN_DIST_H

#include <stddef.h>

struct dist_mpi_ops;

typedef struct dist {
    int rank, size;                // this process and how many there are (0 of 1 without MPI)
    int local_rank, local_size;    // on this machine: the local rank picks the GPU
    int mpi;                       // 1 when MPI was initialised (started by mpirun)
    const struct dist_mpi_ops *ops;
    void *lib;                     // the plugin's dlopen handle
} dist;

// 1 when this process was started by Open MPI's launcher (mpirun / mpiexec, or a PMIx one).
int dist_launched(void);
// Rank 0 of 1 when not launched by mpirun; otherwise loads the plugin and initialises MPI.
// Returns -1 with err when launched by mpirun but MPI cannot be used (a build without it).
int dist_init(dist *d, char *err);
// MPI_Finalize (every rank must call it; a no-op for one process).
void dist_finalize(dist *d);
// Ends every rank of the job at once (MPI_Abort) with `status`; exit(status) for one process.
void dist_abort(const dist *d, int status) __attribute__((noreturn));

// Sums x over the ranks in place (every rank gets the sum).
void dist_sum_f32(const dist *d, float *x, size_t n);
void dist_sum_f64(const dist *d, double *x, size_t n);
// 1 on every rank when flag is non-zero on any rank.
int dist_any(const dist *d, int flag);
// Rank 0's bytes to every rank.
void dist_bcast(const dist *d, void *buf, size_t bytes);
// Around work that waits on the other ranks outside MPI (a GPU's chunk of steps, whose NCCL
// all-reduces block on a dead rank as an MPI collective would), for the watchdog below.
void dist_wait_begin(const dist *d);
void dist_wait_end(const dist *d);

// The gradient hook's reduce for the C path (nn/step.h step_grad_hook): user is the dist.
struct nn_ctx;
void dist_grad_sum(void *user, const struct nn_ctx *ctx, float *g, size_t count);

// Rank r's part of `count` items split over `size` ranks: [*lo, *hi), sizes differing by one
// at most (the first ranks get the smaller parts). Used for every shard: a global batch, the
// validation set.
static inline void dist_share(int count, int rank, int size, int *lo, int *hi) {
    *lo = (int)((long long)count * rank / size);
    *hi = (int)((long long)count * (rank + 1) / size);
}

// --- a rank that stops waiting: the watchdog
// mpirun ends a job (a rank died, or Ctrl-C: it sends SIGTERM, then SIGKILL a second later)
// while the other ranks may be blocked in a collective waiting for the dead one. dist_on_term
// (async-signal-safe, from a SIGTERM handler) wakes a thread that, if this rank is still inside
// a collective (or a dist_wait_begin span) 0.5 s later, prints `note` (one line, set with dist_set_note) on stderr: rank 0
// then says where its last checkpoint is before it is killed. A no-op for one process.
void dist_watchdog_start(dist *d);
void dist_on_term(void);
void dist_set_note(const char *note);

// --- the plugin's interface (nn/mpi/dist_mpi.c, bin/nn-mpi.so exports nn_dist_mpi_ops)
#define DIST_MPI_ABI 1
typedef struct dist_mpi_ops {
    int abi;   // DIST_MPI_ABI of the plugin's build: a stale plugin is refused
    int (*init)(int *rank, int *size, int *local_rank, int *local_size, char *err);
    void (*finalize)(void);
    void (*abort)(int status) __attribute__((noreturn));
    void (*sum_f32)(float *x, size_t n);
    void (*sum_f64)(double *x, size_t n);
    void (*bcast)(void *buf, size_t bytes);
} dist_mpi_ops;
typedef const dist_mpi_ops *(*dist_mpi_ops_fn)(void);

#endif
