// loader.c: batches for training and validation, prepared ahead by worker threads.
//
// Each epoch visits every cached image once, in an order that is a pure function of
// (seed, epoch) (Fisher-Yates from an rng seeded with both; no shuffle keeps file order), in
// ceil(n / batch) batches, the last one partial. The augmentation of the image at position i of
// epoch e draws from an rng seeded with (seed, e, i), so the batches do not depend on the
// number of threads or their timing, and a run resumed at epoch e sees what an uninterrupted
// run would have seen.
//
// A data-parallel run (nn/dist.h) shards the loader: rank r of R then gets, of every batch b,
// only its part [lo, hi) of the batch's positions (dist_share's split: sizes differ by one at
// most, and a last batch smaller than R leaves some ranks none). Positions, and so the images
// and their augmentation, are the same as one process draws: the ranks together see exactly
// the batches of a single process, whatever their number.
//
// Workers fill a ring of `nslots` batch buffers: batch b goes to slot b % nslots once batch
// b - nslots has been handed out, so up to nslots batches are ready or in the making while the
// model trains on the current one (nslots = threads + 2: at least triple buffering).
// loader_next copies the next batch out and reports how long it waited, which is the
// "time waiting on data" figure of a training epoch.
#include <pthread.h>
#include <string.h>

#include "../nn/common.h"
#include "data.h"
#include "images_cuda.h"

typedef struct slot {
    float *x;    // (batch, h, w, 3)
    float *y;    // (batch)
    int batch;   // which batch of the epoch it holds
    int count;   // images in it
    int ready;
} slot;

struct loader {
    const image_cache *c;
    int batch, shuffle, augment, steps;
    int rank, ranks;     // the shard this loader gives (0 of 1: whole batches)
    uint64_t seed;
    int32_t *order;      // (c->n) image indices of the current epoch
    int epoch;           // -1 before the first loader_start_epoch
    int nslots;
    slot *slots;
    int nthreads;
    pthread_t *tid;
    pthread_mutex_t mu;
    pthread_cond_t cv_work;   // workers wait here for a batch to fill
    pthread_cond_t cv_done;   // loader_next and loader_start_epoch wait here
    int next_fill;       // next batch to hand to a worker
    int next_take;       // next batch loader_next returns
    int inflight;        // batches being filled now
    int running, quit;
    cuda_images *gpu;    // the cache on the GPU, for a device epoch (loader_images_cuda)
};

static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// A seed for the stream `what` (shuffle or augmentation) of (seed, epoch, index).
static uint64_t derive_seed(uint64_t seed, uint64_t what, uint64_t epoch, uint64_t index) {
    uint64_t h = mix64(seed + 0x9E3779B97F4A7C15ull * (what + 1));
    h = mix64(h ^ (epoch + 0x632BE59BD9B4E019ull));
    return mix64(h ^ (index + 0x8CB92BA72F3D8DD7ull));
}

// This loader's part [*lo, *hi) of batch b's positions in the epoch's order.
static void batch_span(const loader *L, int b, int *lo, int *hi) {
    int first = b * L->batch, count = NN_MIN(L->batch, L->c->n - first);
    *lo = first + (int)((long long)count * L->rank / L->ranks);
    *hi = first + (int)((long long)count * (L->rank + 1) / L->ranks);
}

static void fill_batch(loader *L, slot *s, int b) {
    const image_cache *c = L->c;
    size_t img = (size_t)c->h * c->w * 3;
    int first, hi;
    batch_span(L, b, &first, &hi);
    int count = hi - first;
    for (int k = 0; k < count; k++) {
        int idx = L->order[first + k];
        const uint8_t *src = c->pixels + (size_t)idx * img;
        if (L->augment) {
            rng r;
            aug_params p;
            rng_seed(&r, derive_seed(L->seed, 1, (uint64_t)L->epoch, (uint64_t)(first + k)));
            augment_draw(&r, &p);
            augment_apply(src, c->h, c->w, &p, s->x + (size_t)k * img);
        } else {
            image_to_float(src, img, s->x + (size_t)k * img);
        }
        s->y[k] = (float)c->labels[idx];
    }
    s->count = count;
    s->batch = b;
}

static void *worker(void *arg) {
    loader *L = arg;
    pthread_mutex_lock(&L->mu);
    while (!L->quit) {
        if (L->running && L->next_fill < L->steps && L->next_fill < L->next_take + L->nslots) {
            int b = L->next_fill++;
            slot *s = &L->slots[b % L->nslots];
            L->inflight++;
            pthread_mutex_unlock(&L->mu);
            fill_batch(L, s, b);
            pthread_mutex_lock(&L->mu);
            L->inflight--;
            s->ready = 1;
            pthread_cond_broadcast(&L->cv_done);
        } else {
            pthread_cond_wait(&L->cv_work, &L->mu);
        }
    }
    pthread_mutex_unlock(&L->mu);
    return NULL;
}

loader *loader_create(const image_cache *c, int batch, int shuffle, int augment, uint64_t seed,
                      int threads) {
    if (batch < 1) NN_DIE("loader_create: batch size %d must be at least 1", batch);
    if (c->n < 1) NN_DIE("loader_create: no images");
    loader *L = nn_calloc(sizeof *L, "loader");
    L->c = c;
    L->batch = batch;
    L->shuffle = shuffle;
    L->augment = augment;
    L->seed = seed;
    L->steps = (c->n + batch - 1) / batch;
    L->rank = 0;
    L->ranks = 1;
    L->epoch = -1;
    L->order = nn_alloc((size_t)c->n * sizeof *L->order, "batch order");
    if (threads <= 0) threads = data_default_threads();
    L->nthreads = NN_MIN(threads, L->steps);
    L->nslots = L->nthreads + 2;
    L->slots = nn_calloc((size_t)L->nslots * sizeof *L->slots, "batch buffers");
    size_t img = (size_t)c->h * c->w * 3;
    for (int i = 0; i < L->nslots; i++) {
        L->slots[i].x = nn_alloc((size_t)batch * img * sizeof(float), "batch buffer");
        L->slots[i].y = nn_alloc((size_t)batch * sizeof(float), "batch labels");
    }
    pthread_mutex_init(&L->mu, NULL);
    pthread_cond_init(&L->cv_work, NULL);
    pthread_cond_init(&L->cv_done, NULL);
    L->tid = nn_alloc((size_t)L->nthreads * sizeof *L->tid, "threads");
    for (int t = 0; t < L->nthreads; t++)
        if (pthread_create(&L->tid[t], NULL, worker, L) != 0)
            NN_DIE("loader_create: cannot start worker thread %d of %d", t + 1, L->nthreads);
    return L;
}

void loader_shard(loader *L, int rank, int ranks) {
    if (ranks < 1 || rank < 0 || rank >= ranks) NN_DIE("loader_shard: rank %d of %d", rank, ranks);
    pthread_mutex_lock(&L->mu);
    L->running = 0;   // batches in hand were cut for the old shard: start the epoch again
    while (L->inflight > 0) pthread_cond_wait(&L->cv_done, &L->mu);
    L->rank = rank;
    L->ranks = ranks;
    L->epoch = -1;
    pthread_mutex_unlock(&L->mu);
}

void loader_start_epoch(loader *L, int epoch) { loader_start_epoch_at(L, epoch, 0); }

void loader_start_epoch_at(loader *L, int epoch, int first) {
    if (first < 0 || first > L->steps) NN_DIE("loader_start_epoch_at: batch %d of %d", first, L->steps);
    pthread_mutex_lock(&L->mu);
    L->running = 0;  // hand out no more batches of the old epoch, wait for those in hand
    while (L->inflight > 0) pthread_cond_wait(&L->cv_done, &L->mu);
    L->epoch = epoch;
    for (int i = 0; i < L->c->n; i++) L->order[i] = i;
    if (L->shuffle) {
        rng r;
        rng_seed(&r, derive_seed(L->seed, 0, (uint64_t)epoch, 0));
        rng_shuffle(&r, L->order, L->c->n);
    }
    for (int i = 0; i < L->nslots; i++) L->slots[i].ready = 0;
    L->next_fill = L->next_take = first;
    L->running = 1;
    pthread_cond_broadcast(&L->cv_work);
    pthread_mutex_unlock(&L->mu);
}

int loader_next(loader *L, float *x, float *y, double *wait_s) {
    if (wait_s) *wait_s = 0;
    if (L->epoch < 0) loader_start_epoch(L, 0);
    pthread_mutex_lock(&L->mu);
    if (L->next_take >= L->steps) {
        pthread_mutex_unlock(&L->mu);
        return 0;
    }
    int b = L->next_take;
    slot *s = &L->slots[b % L->nslots];
    if (!(s->ready && s->batch == b)) {
        double t0 = nn_now();
        while (!(s->ready && s->batch == b)) pthread_cond_wait(&L->cv_done, &L->mu);
        if (wait_s) *wait_s = nn_now() - t0;
    }
    pthread_mutex_unlock(&L->mu);
    // The slot cannot be refilled before next_take moves past b, so copy without the lock.
    int count = s->count;
    size_t img = (size_t)L->c->h * L->c->w * 3;
    memcpy(x, s->x, (size_t)count * img * sizeof(float));
    memcpy(y, s->y, (size_t)count * sizeof(float));
    pthread_mutex_lock(&L->mu);
    s->ready = 0;
    L->next_take++;
    pthread_cond_broadcast(&L->cv_work);
    pthread_mutex_unlock(&L->mu);
    return count;
}

int loader_steps(const loader *L) { return L->steps; }

void loader_free(loader *L) {
    if (!L) return;
    pthread_mutex_lock(&L->mu);
    L->quit = 1;
    pthread_cond_broadcast(&L->cv_work);
    pthread_mutex_unlock(&L->mu);
    for (int t = 0; t < L->nthreads; t++) pthread_join(L->tid[t], NULL);
    pthread_mutex_destroy(&L->mu);
    pthread_cond_destroy(&L->cv_work);
    pthread_cond_destroy(&L->cv_done);
    for (int i = 0; i < L->nslots; i++) {
        nn_free(L->slots[i].x);
        nn_free(L->slots[i].y);
    }
    nn_free(L->slots);
    nn_free(L->order);
    nn_free(L->tid);
    cuda_images_free(L->gpu);
    nn_free(L);
}

cuda_images *loader_images_cuda(loader *L, const nn_ctx *ctx, char *err) {
    const image_cache *c = L->c;
    if (!L->gpu) L->gpu = cuda_images_upload(ctx, c->pixels, c->labels, c->n, c->h, c->w, err);
    return L->gpu;
}

// The epoch's plan without building any batch (for a device that builds its batches itself,
// run/train.c's device epoch): the same order and augmentation parameters loader_next would use.
const image_cache *loader_cache(const loader *L) { return L->c; }

int loader_plan(const loader *L, int epoch, int32_t *order, aug_params *aug) {
    for (int i = 0; i < L->c->n; i++) order[i] = i;
    if (L->shuffle) {
        rng r;
        rng_seed(&r, derive_seed(L->seed, 0, (uint64_t)epoch, 0));
        rng_shuffle(&r, order, L->c->n);
    }
    if (!L->augment) return 0;
    for (int i = 0; i < L->c->n; i++) {
        rng r;
        rng_seed(&r, derive_seed(L->seed, 1, (uint64_t)epoch, (uint64_t)i));
        augment_draw(&r, &aug[i]);
    }
    return 1;
}
