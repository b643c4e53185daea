// cache.c: decodes every file of a dataset once, in parallel, into one uint8 array
// (n, h, w, 3) at the target size, and optionally keeps that array in a cache file so the next
// run skips decoding.
//
// Why: decoding JPEGs is the slow part of the data pipeline (milliseconds per photo) while the
// target images are tiny (64x64x3 = 12 KiB), so decoding each file once per run and holding the
// result in memory costs ~100 MB for 8000 photos and removes decoding from every epoch. The
// CUDA path uploads the same array to the device once.
//
// Bad files never stop a run: each one is skipped with one warning line on stderr naming the
// file and the reason, in file order (so the output does not depend on thread timing), and
// nskipped counts them. Only "no image at all" and "cannot write the cache file" are errors.
//
// The cache file (native byte order; the header says which):
//   "NNDCACHE" u32 version, u32 0x01020304, u32 h, u32 w, u32 nfiles, u32 nkept
//   per listed file: u32 path length, path, u64 size, i64 mtime (ns), i32 label,
//                    u32 reason length, reason (0 when the file decoded)
//   nkept * h * w * 3 bytes of pixels, then u64 checksum of the pixels.
// It is valid only for the same list of files, in the same order, with the same sizes, mtimes
// and labels, and the same target size: any change and it is rebuilt. It is written to a
// temporary name and renamed, so an interrupted run never leaves half a cache behind. A cache
// path that names a device, fifo or socket is refused: a fifo would block the read and the
// rename would turn a device node into a regular file. (nn train refuses any existing file
// without the magic before work, in tools/outfile.c; here a stale or damaged cache that does
// not start with it is still rebuilt, as the library always did.)
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../nn/common.h"
#include "data.h"

#define CACHE_MAGIC IMAGE_CACHE_MAGIC
#define CACHE_VERSION 1u
#define CACHE_ENDIAN 0x01020304u

typedef struct file_stamp {
    uint64_t size;
    int64_t mtime_ns;
} file_stamp;

// A big buffer the decoders fill once: ask for transparent huge pages, so that 100 MB of
// pixels cost a few hundred page faults instead of 25 000 (a tenth of the decode time of the
// article's 64x64 photos). Advice only: without THP nothing changes.
static void *alloc_pixels(size_t bytes) {
    uint8_t *p = nn_alloc(NN_MAX(bytes, 1), "image cache");
    const uintptr_t huge = 2u << 20;
    uintptr_t lo = ((uintptr_t)p + huge - 1) & ~(huge - 1), hi = ((uintptr_t)p + bytes) & ~(huge - 1);
    if (hi > lo) madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
    return p;
}

int data_default_threads(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

// ---------------------------------------------------------------------------------------------
// Parallel decode: workers take the next file index from a shared counter.

typedef struct decode_job {
    const dataset *d;
    int h, w;
    uint8_t *pixels;   // (d->n, h, w, 3)
    char **reason;     // (d->n) NULL when the file decoded, else "path: why"
    int next;          // shared counter (atomic)
} decode_job;

static void *decode_worker(void *arg) {
    decode_job *j = arg;
    size_t img = (size_t)j->h * j->w * 3;
    char err[NN_ERRLEN];
    for (;;) {
        int i = __atomic_fetch_add(&j->next, 1, __ATOMIC_RELAXED);
        if (i >= j->d->n) break;
        if (image_load_rgb(j->d->paths[i], j->h, j->w, j->pixels + i * img, err) < 0)
            j->reason[i] = nn_strdup(err);
    }
    return NULL;
}

static void decode_all(decode_job *j, int threads) {
    if (threads <= 0) threads = data_default_threads();
    threads = NN_MIN(threads, j->d->n);
    if (threads <= 1) {
        decode_worker(j);
        return;
    }
    pthread_t *tid = nn_alloc((size_t)threads * sizeof *tid, "threads");
    int started = 0;
    for (int t = 0; t < threads; t++)
        if (pthread_create(&tid[t], NULL, decode_worker, j) == 0) started++;
        else break;
    if (started == 0) decode_worker(j);  // no thread could start: decode here
    for (int t = 0; t < started; t++) pthread_join(tid[t], NULL);
    nn_free(tid);
}

// ---------------------------------------------------------------------------------------------
// Cache file.

static uint64_t checksum(const uint8_t *p, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ n;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, p + i, 8);
        h = (h ^ v) * 0xBF58476D1CE4E5B9ull;
        h ^= h >> 29;
    }
    for (; i < n; i++) h = (h ^ p[i]) * 0x94D049BB133111EBull;
    return h;
}

static int stamp_files(const dataset *d, file_stamp *st) {
    for (int i = 0; i < d->n; i++) {
        struct stat s;
        if (stat(d->paths[i], &s) == 0) {
            st[i].size = (uint64_t)s.st_size;
            st[i].mtime_ns = (int64_t)s.st_mtim.tv_sec * 1000000000 + s.st_mtim.tv_nsec;
        } else {
            st[i].size = UINT64_MAX;  // missing now: still a stamp (the reason says why)
            st[i].mtime_ns = -1;
        }
    }
    return 0;
}

static int rd(FILE *f, void *p, size_t n) { return fread(p, 1, n, f) == n ? 0 : -1; }

// Returns 1 and fills c (and reasons) when cache_file matches d; 0 when it is absent or stale,
// with *why saying what differed (NULL when absent).
static int cache_read(image_cache *c, const dataset *d, int h, int w, const file_stamp *st,
                      const char *cache_file, char **reason, const char **why) {
    *why = NULL;
    FILE *f = fopen(cache_file, "rb");
    if (!f) return 0;
    char magic[8];
    uint32_t hdr[6];
    char *buf = NULL;
    int ok = 0;
    size_t img = (size_t)h * w * 3;
    if (rd(f, magic, 8) || memcmp(magic, CACHE_MAGIC, 8) || rd(f, hdr, sizeof hdr)) {
        *why = "not a cache file";
        goto done;
    }
    if (hdr[0] != CACHE_VERSION || hdr[1] != CACHE_ENDIAN) {
        *why = "written by another version";
        goto done;
    }
    if ((int)hdr[2] != h || (int)hdr[3] != w) {
        *why = "another target size";
        goto done;
    }
    if ((int)hdr[4] != d->n) {
        *why = "the list of files changed";
        goto done;
    }
    int nkept = (int)hdr[5], kept = 0;
    if (nkept > d->n) {
        *why = "corrupt header";
        goto done;
    }
    buf = nn_alloc(4096 + NN_ERRLEN, "cache header");
    for (int i = 0; i < d->n; i++) {
        uint32_t len, rlen;
        uint64_t size;
        int64_t mtime;
        int32_t label;
        size_t plen = strlen(d->paths[i]);
        if (rd(f, &len, 4) || len != plen || len > 4096 || rd(f, buf, len) ||
            memcmp(buf, d->paths[i], len)) {
            *why = "the list of files changed";
            goto done;
        }
        if (rd(f, &size, 8) || rd(f, &mtime, 8) || rd(f, &label, 4) || rd(f, &rlen, 4) ||
            rlen >= NN_ERRLEN) {
            *why = "corrupt or truncated";
            goto done;
        }
        if (size != st[i].size || mtime != st[i].mtime_ns) {
            *why = "a file changed";
            goto done;
        }
        if (label != d->labels[i]) {
            *why = "the classes changed";
            goto done;
        }
        if (rlen) {
            if (rd(f, buf, rlen)) {
                *why = "corrupt or truncated";
                goto done;
            }
            buf[rlen] = 0;
            reason[i] = nn_strdup(buf);
        } else {
            kept++;
        }
    }
    if (kept != nkept) {
        *why = "corrupt header";
        goto done;
    }
    c->n = nkept;
    c->pixels = alloc_pixels((size_t)nkept * img);
    uint64_t sum;
    if (rd(f, c->pixels, (size_t)nkept * img) || rd(f, &sum, 8) ||
        sum != checksum(c->pixels, (size_t)nkept * img) || fgetc(f) != EOF) {
        *why = "corrupt or truncated";
        nn_free(c->pixels);
        c->pixels = NULL;
        goto done;
    }
    ok = 1;
done:
    if (!ok)
        for (int i = 0; i < d->n; i++) nn_free(reason[i]), reason[i] = NULL;
    nn_free(buf);
    fclose(f);
    return ok;
}

static int wr(FILE *f, const void *p, size_t n) { return fwrite(p, 1, n, f) == n ? 0 : -1; }

static int cache_write(const image_cache *c, const dataset *d, const file_stamp *st,
                       char *const *reason, const char *cache_file, char *err) {
    size_t tl = strlen(cache_file) + 32;
    char *tmp = nn_alloc(tl, "path");
    snprintf(tmp, tl, "%s.tmp.%ld", cache_file, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        nn_fail(err, "cache file %s: cannot create %s: %s", cache_file, tmp, strerror(errno));
        nn_free(tmp);
        return -1;
    }
    size_t bytes = (size_t)c->n * c->h * c->w * 3;
    uint32_t hdr[6] = {CACHE_VERSION, CACHE_ENDIAN, (uint32_t)c->h, (uint32_t)c->w,
                       (uint32_t)d->n, (uint32_t)c->n};
    int bad = wr(f, CACHE_MAGIC, 8) || wr(f, hdr, sizeof hdr);
    for (int i = 0; i < d->n && !bad; i++) {
        uint32_t len = (uint32_t)strlen(d->paths[i]);
        uint32_t rlen = reason[i] ? (uint32_t)strlen(reason[i]) : 0;
        bad = wr(f, &len, 4) || wr(f, d->paths[i], len) || wr(f, &st[i].size, 8) ||
              wr(f, &st[i].mtime_ns, 8) || wr(f, &d->labels[i], 4) || wr(f, &rlen, 4) ||
              (rlen && wr(f, reason[i], rlen));
    }
    uint64_t sum = checksum(c->pixels, bytes);
    if (!bad) bad = wr(f, c->pixels, bytes) || wr(f, &sum, 8);
    if (!bad) bad = fflush(f) != 0 || fsync(fileno(f)) != 0;
    int e = errno;
    if (fclose(f) != 0 && !bad) bad = 1, e = errno;
    if (!bad && rename(tmp, cache_file) != 0) bad = 1, e = errno;
    if (bad) {
        unlink(tmp);
        nn_fail(err, "cache file %s: cannot write it: %s (check the folder and free space, or "
                "drop --cache)", cache_file, strerror(e));
    }
    nn_free(tmp);
    return bad ? -1 : 0;
}

// Absent, or a regular file (through symbolic links): 0. Else -1 with err.
static int cache_file_plain(const char *cache_file, char *err) {
    struct stat st;
    if (stat(cache_file, &st) != 0 || S_ISREG(st.st_mode)) return 0;
    return nn_fail(err, "cache file %s exists and is not a regular file (a device, fifo or folder): "
                   "nn neither reads nor replaces it; choose another --cache name", cache_file);
}

// ---------------------------------------------------------------------------------------------

int image_cache_load(image_cache *c, const dataset *d, int h, int w, int threads,
                     const char *cache_file, char *err) {
    memset(c, 0, sizeof *c);
    if (h < 1 || w < 1 || h > 4096 || w > 4096)
        return nn_fail(err, "target size %d x %d: each side must be between 1 and 4096", h, w);
    if (d->n < 1) return nn_fail(err, "%s: no images to load", d->dir ? d->dir : "dataset");
    if (cache_file && cache_file_plain(cache_file, err)) return -1;
    double t0 = nn_now();
    size_t img = (size_t)h * w * 3;
    c->h = h;
    c->w = w;
    char **reason = nn_calloc((size_t)d->n * sizeof *reason, "decode results");
    file_stamp *st = NULL;
    int rc = 0;

    if (cache_file) {
        st = nn_alloc((size_t)d->n * sizeof *st, "file stamps");
        stamp_files(d, st);
        const char *why;
        c->from_cache = cache_read(c, d, h, w, st, cache_file, reason, &why);
        if (!c->from_cache && why)
            fprintf(stderr, "note: cache %s is out of date (%s); decoding again\n", cache_file, why);
    }
    if (!c->from_cache) {
        decode_job j = {d, h, w, NULL, reason, 0};
        j.pixels = alloc_pixels(img * (size_t)d->n);
        decode_all(&j, threads);
        // Keep the decoded images in file order, dropping the skipped ones.
        int k = 0;
        for (int i = 0; i < d->n; i++) {
            if (reason[i]) continue;
            if (k != i) memcpy(j.pixels + (size_t)k * img, j.pixels + (size_t)i * img, img);
            k++;
        }
        c->n = k;
        c->pixels = j.pixels;
    }
    c->labels = nn_alloc((size_t)NN_MAX(c->n, 1) * sizeof *c->labels, "labels");
    c->index = nn_alloc((size_t)NN_MAX(c->n, 1) * sizeof *c->index, "image index");
    for (int i = 0, k = 0; i < d->n; i++) {
        if (reason[i]) {
            fprintf(stderr, "warning: skipping %s\n", reason[i]);
            c->nskipped++;
            continue;
        }
        c->labels[k] = d->labels[i];
        c->index[k++] = i;
    }
    if (c->n == 0) {
        rc = nn_fail(err, "%s: none of its %d image files could be read (see the warnings above)",
                     d->dir ? d->dir : "dataset", d->n);
    } else if (cache_file && !c->from_cache) {
        rc = cache_write(c, d, st, reason, cache_file, err);
    }
    for (int i = 0; i < d->n; i++) nn_free(reason[i]);
    nn_free(reason);
    nn_free(st);
    c->seconds = nn_now() - t0;
    if (rc < 0) image_cache_free(c);
    return rc;
}

void image_cache_free(image_cache *c) {
    if (!c) return;
    nn_free(c->pixels);
    nn_free(c->labels);
    nn_free(c->index);
    memset(c, 0, sizeof *c);
}
