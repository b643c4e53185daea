// data.h: from folders of photos to batches, as Keras's flow_from_directory and
// ImageDataGenerator(rescale=1/255, shear_range=0.2, zoom_range=0.2, horizontal_flip=True) give
// them. Four stages, each its own file:
//   dataset.c  list a folder: classes = sorted subfolders, files sorted within each class
//   image.c    decode to RGB (JPEG: libjpeg-turbo as Pillow sets it up, jpeg.c, or for a
//              shrinking resize only the sampled pixels, jpeg_fast.c; PNG, BMP, GIF:
//              stb_image) and resize with Pillow's NEAREST rule
//   cache.c    decode every file once (threads), uint8 (N, H, W, 3) at the target size,
//              optionally kept in a cache file across runs
//   augment.c  Keras's random affine transform (shear in degrees, zoom x/y, flip), bilinear,
//              edge clamping, rescale last
//   loader.c   shuffled batches per epoch, prefetched by worker threads
// (This header is the contract the CLI and the CUDA path code against.)
#ifndef NN_DATA_H
#define NN_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "../nn/rng.h"

// --- listing a folder (dataset.c)
typedef struct dataset {
    int nclasses;
    char **classes;       // sorted subfolder names; label = index
    int n;                // number of files
    char **paths;         // full paths, class by class, sorted within each class
    int32_t *labels;      // (n)
    char *dir;            // the folder listed, for messages
} dataset;

// Lists DIR like flow_from_directory. Errors (missing folder, no class subfolders, no image)
// come back in err. Does not print the "Found N images" line: the caller does, after decoding.
int dataset_open(dataset *d, const char *dir, char *err);
// Kaggle's flat layout: labels from file names (cat.1.jpg -> "cat"); classes sorted.
int dataset_open_flat(dataset *d, const char *dir, char *err);
// Keras's validation_split: within each class, the first `frac` of the sorted files is the
// validation subset and the rest the training subset.
int dataset_split(const dataset *all, double frac, dataset *train, dataset *val, char *err);
void dataset_free(dataset *d);
// 0 when d has exactly `want` classes, else -1 with a message naming the folder and its
// classes (a binary model needs 2).
int dataset_check_classes(const dataset *d, int want, char *err);
// 1 when a file name ends in jpg, jpeg, png, bmp or gif, any case, matched as Keras does:
// without the dot (the tests hold this to keras_preprocessing's listing).
int data_is_image_name(const char *name);

// --- one image (image.c)
// Limits checked on the header before decoding (a header may claim anything).
#define IMAGE_MAX_SIDE 32768
#define IMAGE_MAX_PIXELS 100000000            // 100 megapixels
#define IMAGE_MAX_FILE_BYTES (256ull << 20)   // 256 MiB
// Decodes a JPEG, PNG, BMP or GIF file into RGB and resizes it to (h, w) with Pillow's NEAREST
// rule, as Keras's load_img does; out holds h*w*3 bytes. Errors name the file and the reason.
int image_load_rgb(const char *path, int h, int w, uint8_t *out, char *err);
// NEAREST resize of an RGB image: src (sh, sw, 3) -> dst (dh, dw, 3), source index
// floor((i + 0.5) * src / dst) as Pillow 9 computes it (a running double sum, see image.c).
void image_resize_nearest(const uint8_t *src, int sh, int sw, uint8_t *dst, int dh, int dw);
// That rule's source index for each of dst positions along one axis of src pixels (-1 where
// Pillow leaves its fill colour).
void image_nearest_table(int src, int dst, int *tab);
// Decodes at the original size: *rgb (h, w, 3) is freed with image_free_decoded.
int image_decode_rgb(const char *path, uint8_t **rgb, int *h, int *w, char *err);
// image_load_rgb without its JPEG shortcut (the whole image decoded, then the resize): the
// reference the tests hold the shortcut to, bit for bit.
int image_load_rgb_slow(const char *path, int h, int w, uint8_t *out, char *err);
void image_free_decoded(uint8_t *rgb);
// The same two from bytes in memory (len bytes at buf; `name` stands for the file in messages):
// what the fuzz targets (tests/fuzz/) drive, and a way to decode an image that is not a file.
int image_load_rgb_mem(const void *buf, size_t len, const char *name, int h, int w, uint8_t *out,
                       char *err);
int image_decode_rgb_mem(const void *buf, size_t len, const char *name, uint8_t **rgb, int *h,
                         int *w, char *err);

// --- decoded images in memory (cache.c)
typedef struct image_cache {
    int n, h, w;          // n images of (h, w, 3)
    uint8_t *pixels;      // (n, h, w, 3) uint8
    int32_t *labels;      // (n)
    int nskipped;         // files that could not be decoded (each warned about once)
    int32_t *index;       // (n) position in the dataset of each kept image
    int from_cache;       // 1 when the pixels came from cache_file rather than decoding
    double seconds;       // time spent decoding or reading the cache file
} image_cache;

// The first 8 bytes of a cache file: how nn (tools/outfile.c) tells its own cache from a file it
// must not overwrite.
#define IMAGE_CACHE_MAGIC "NNDCACHE"

// Decodes every file of d with `threads` threads (0 = all cores). Undecodable files are skipped
// with one warning line each on stderr. With cache_file non-NULL, reuses/stores the decoded
// images there (invalidated when a file's size or mtime or the target size changes).
// Fails (err) only when no image at all could be read, or the cache file cannot be written or
// exists and is not a regular file (a device or fifo is never read nor replaced).
int image_cache_load(image_cache *c, const dataset *d, int h, int w, int threads,
                     const char *cache_file, char *err);
void image_cache_free(image_cache *c);
// The number of online cores (what threads = 0 means here and in loader_create).
int data_default_threads(void);

// --- augmentation (augment.c)
typedef struct aug_params {
    float shear_deg;      // uniform in [-0.2, 0.2] degrees (Keras draws degrees)
    float zx, zy;         // independently uniform in [0.8, 1.2]
    int flip;             // horizontal flip, probability 0.5
} aug_params;

void augment_draw(rng *r, aug_params *p);
// src (h, w, 3) uint8 -> dst (h, w, 3) float in [0, 1]: Keras's apply_affine_transform centred
// on the image, bilinear (order 1), fill_mode 'nearest', then flip, then rescale by 1/255.
void augment_apply(const uint8_t *src, int h, int w, const aug_params *p, float *dst);
// The affine map augment_apply samples with, for other implementations (the CUDA kernel):
// output pixel (row r, column c) reads input (a[0] r + a[1] c + a[2], a[3] r + a[4] c + a[5])
// before clamping; the flip then reverses the output columns.
void augment_affine(const aug_params *p, int h, int w, double a[6]);
// No augmentation: rescale only.
void image_to_float(const uint8_t *src, size_t n, float *dst);

// --- batches (loader.c)
typedef struct loader loader;

// Batches of `batch` images from c, reshuffled every epoch from `seed` (shuffle 0 keeps the
// order, for validation), augmented when `augment`; `threads` workers prefetch ahead (0 = all
// cores). c must outlive the loader.
loader *loader_create(const image_cache *c, int batch, int shuffle, int augment, uint64_t seed,
                      int threads);
// Starts epoch `epoch` (0-based): the order is a function of (seed, epoch), so a resumed run
// sees the same batches as an uninterrupted one.
void loader_start_epoch(loader *L, int epoch);
// The same, starting at batch `first` (a run resumed in mid-epoch): the batches before it are
// never built, and the later ones are those an uninterrupted epoch gives.
void loader_start_epoch_at(loader *L, int epoch, int first);
// Data-parallel training (nn/dist.h): from the next epoch on, every batch holds only rank
// `rank`'s part of it, of `ranks` (dist_share's split of its positions, which keep their
// images and augmentation). A part can be empty (a last batch smaller than `ranks`): count the
// steps with loader_steps instead of waiting for loader_next to return 0.
void loader_shard(loader *L, int rank, int ranks);
// Fills x (batch, h, w, 3) float and y (batch) with the next batch; returns its size (the last
// batch may be partial), 0 when the epoch is over. *wait_s (if non-NULL) gets the seconds
// spent waiting for workers.
int loader_next(loader *L, float *x, float *y, double *wait_s);
int loader_steps(const loader *L);   // batches per epoch
// For a device that builds batches itself (the GPU's epoch, run/train.c): the images (on the
// GPU: loader_images_cuda, images_cuda.h), and epoch `epoch`'s order (c->n image indices) and,
// when the loader augments, the augmentation of each position (c->n; returns 1), exactly what
// loader_next's batches are made of.
const image_cache *loader_cache(const loader *L);
int loader_plan(const loader *L, int epoch, int32_t *order, aug_params *aug);
void loader_free(loader *L);

#endif
