// dist_mpi.c: the MPI plugin, bin/nn-mpi.so (nn/dist.h says why MPI is a plugin). The only
// file of the project that includes mpi.h; built by the Makefile when Open MPI is found, and
// loaded by nn/dist.c when mpirun started nn. It calls nothing of nn's (an executable's symbols
// are not visible to what it dlopens), only MPI and libc.
#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

#include "../common.h"
#include "../dist.h"

static void fail_mpi(int rc, const char *what, char *err) {
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS) snprintf(msg, sizeof msg, "error %d", rc);
    snprintf(err, NN_ERRLEN, "%s failed: %s", what, msg);
}

static int init(int *rank, int *size, int *local_rank, int *local_size, char *err) {
    int provided = 0, rc;
    // Funneled: OpenMP and the loader run threads, but only the main thread calls MPI.
    if ((rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided)) != MPI_SUCCESS)
        return fail_mpi(rc, "MPI_Init_thread", err), -1;
    MPI_Comm_rank(MPI_COMM_WORLD, rank);
    MPI_Comm_size(MPI_COMM_WORLD, size);
    MPI_Comm node;   // the ranks that share this machine (its GPUs)
    if ((rc = MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, *rank, MPI_INFO_NULL, &node)) != MPI_SUCCESS)
        return fail_mpi(rc, "MPI_Comm_split_type", err), -1;
    MPI_Comm_rank(node, local_rank);
    MPI_Comm_size(node, local_size);
    MPI_Comm_free(&node);
    return 0;
}

static void finalize(void) { MPI_Finalize(); }

static void abort_all(int status) __attribute__((noreturn));
static void abort_all(int status) {
    MPI_Abort(MPI_COMM_WORLD, status);
    _Exit(status);   // not reached
}

// MPI counts are ints: large arrays go in pieces.
#define PIECE (1 << 30)

static void sum_f32(float *x, size_t n) {
    for (size_t at = 0; at < n; at += PIECE)
        MPI_Allreduce(MPI_IN_PLACE, x + at, (int)(n - at < PIECE ? n - at : PIECE), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
}

static void sum_f64(double *x, size_t n) {
    for (size_t at = 0; at < n; at += PIECE)
        MPI_Allreduce(MPI_IN_PLACE, x + at, (int)(n - at < PIECE ? n - at : PIECE), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
}

static void bcast(void *buf, size_t bytes) {
    for (size_t at = 0; at < bytes; at += PIECE)
        MPI_Bcast((char *)buf + at, (int)(bytes - at < PIECE ? bytes - at : PIECE), MPI_BYTE, 0, MPI_COMM_WORLD);
}

const dist_mpi_ops *nn_dist_mpi_ops(void);
const dist_mpi_ops *nn_dist_mpi_ops(void) {
    static const dist_mpi_ops ops = {
        .abi = DIST_MPI_ABI, .init = init, .finalize = finalize, .abort = abort_all,
        .sum_f32 = sum_f32, .sum_f64 = sum_f64, .bcast = bcast,
    };
    return &ops;
}
