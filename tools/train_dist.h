// train_dist.h: what `nn train` does differently when mpirun starts it as N ranks (nn/dist.h).
// Rank 0 alone prints, logs, draws and saves; the other ranks' standard output goes nowhere
// and their standard error is held back until the ranks agree that the setup (options, files,
// data, model) worked everywhere: a mistake every rank makes is said once, by rank 0, and one
// only a rank r makes (a folder missing on its machine) is said by r, as "rank r of N: ...".
// Before the first step rank 0's weights and Adam state go to every rank, so they start as one.
#ifndef NN_TRAIN_DIST_H
#define NN_TRAIN_DIST_H

#include <stdio.h>

#include "../nn/dist.h"
#include "../nn/model.h"

typedef struct train_dist {
    dist d;
    int held_fd;     // the real standard error while this rank's is held back (-1: not held)
    FILE *held;      // what this rank wrote to standard error meanwhile
    int settled;     // the ranks agreed (train_dist_agree found every rank ready, or one failed)
} train_dist;

// Starts the ranks (dist_init: a plain process when mpirun did not start nn). On a rank other
// than 0, standard output goes to /dev/null and standard error is held. Returns -1 with err
// (printed by rank 0 only: see train_dist_quiet) when mpirun started nn but MPI cannot be used.
int train_dist_begin(train_dist *t, char *err);
// 1 when this process should stay silent about an error train_dist_begin gave: not rank 0.
int train_dist_quiet(void);
// Every rank calls this when it is ready to go on (failed 0) or has failed and said why
// (failed 1); it returns 1 on every rank when any rank failed. The ranks call it alike: at the
// points where some wait for others (last 0: the --cache file that rank 0 writes first), and
// once when ready to train (last 1). A rank that fails calls it once, with last 1, wherever it
// is; no rank calls any other collective before the last call. When the ranks are settled (the
// last call, or a failure) the held standard error is given back: replayed, each line with
// "rank r of N: " after the program's name, when this rank failed and rank 0 did not; dropped
// otherwise (rank 0 said the same).
int train_dist_agree(train_dist *t, int failed, int last);
// Rank 0's weights, Adam state and counters to every rank.
void train_dist_share_model(train_dist *t, model *m);
// The CPU threads a rank takes by default: the machine's cores shared among its ranks.
int train_dist_threads(const train_dist *t);
// The GPU this rank uses: its local rank, or -1 with err when the machine has fewer GPUs than
// ranks (NCCL takes one GPU per rank). -2 when there is no GPU at all (the caller decides).
int train_dist_device(const train_dist *t, char *err);
// 1 when the progress must be plain lines although standard output is a terminal: under
// mpirun it is a pseudo-terminal of Open MPI's, and mpirun's own output is a file or a pipe.
int train_dist_plain_output(const train_dist *t);
void train_dist_end(train_dist *t);

#endif
