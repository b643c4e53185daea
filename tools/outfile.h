// outfile.h: the one place that decides whether nn may write a path. nn never overwrites what
// is not its own: a path it writes is either absent (or an empty file) or a regular file of the
// kind nn writes there, recognised by its header; anything else (a photo, a text file, a
// device, a fifo) is refused before any work, with one line naming it. Also: no two outputs of
// a run are the same file, no output lies inside a data folder (it would be read as data next
// time), a lock stops two runs writing the same output, and every write is checked and goes to
// a temporary file renamed over the target, so a failed write leaves the old file whole.
#ifndef NN_OUTFILE_H
#define NN_OUTFILE_H

#include <stddef.h>
#include <sys/types.h>

// What nn writes, and how an existing file is recognised as nn's own.
typedef enum outfile_kind {
    OUTFILE_H5,      // a model: HDF5 with Keras's keras_version attribute (nn and Keras write it)
    OUTFILE_CACHE,   // decoded images: IMAGE_CACHE_MAGIC first (data/cache.c)
    OUTFILE_CSV,     // the metrics log: HISTORY_HEADER as its first line (tools/history.c)
    OUTFILE_PNG,     // an image nn drew: a tEXt chunk Software=nn (OUTFILE_PNG_MARK)
    OUTFILE_LOCK,    // a lock file: empty, or "nn lock: pid N" (outfile_lock_take)
} outfile_kind;

// The tEXt chunk every PNG nn writes carries (keyword, NUL, text), so a later run can tell
// its own chart from a photo of the same name.
#define OUTFILE_PNG_KEY "Software"
#define OUTFILE_PNG_TEXT "nn"

typedef struct outfile {
    const char *what;    // how messages name it: "--out", "--log", "the chart (beside --out)"
    const char *path;
    outfile_kind kind;
} outfile;

// The folder that will hold path exists and is writable, and path is not a folder. Messages
// start with "WHAT PATH: " (WHAT may be NULL).
int outfile_check_folder(const char *what, const char *path, char *err);
// path is absent, empty, or a regular file of `kind` (symbolic links are followed). Else -1
// with err saying what it is instead and that nn will not overwrite it.
int outfile_check_kind(const char *what, const char *path, outfile_kind kind, char *err);
// No two of outs[0..n) name the same file: the same device and inode when both exist (hard
// and symbolic links included), else the same real folder and name.
int outfile_check_distinct(const outfile *outs, int n, char *err);
// None of outs[0..n) lies inside the folder dir (named by dir_what, e.g. "--data").
int outfile_check_outside(const outfile *outs, int n, const char *dir_what, const char *dir, char *err);
// A file can be created and written beside path (a read-only filesystem, a full disk or quota
// fails here; access() says yes to root where the write then fails).
int outfile_probe_write(const char *what, const char *path, char *err);
// The filesystem of path has `need` bytes free (`of` names what needs them, for the message:
// "a checkpoint of this model"). Also 0 when it cannot tell.
int outfile_check_space(const char *what, const char *path, double need, const char *of, char *err);

// An exclusive lock on PATH.lock (fcntl, so it vanishes with the process: a run killed with
// kill -9 never blocks the next). The lock file holds "nn lock: pid N" and is removed on
// unlock.
typedef struct outfile_lock {
    int fd;              // -1 when not held
    dev_t dev;
    ino_t ino;
    char *path;          // PATH.lock (nn_alloc)
} outfile_lock;
// Takes the lock, or returns -1 with err naming the process that holds it.
int outfile_lock_take(outfile_lock *l, const char *what, const char *path, char *err);
void outfile_lock_release(outfile_lock *l);
// PATH.lock into buf.
void outfile_lock_name(const char *path, char *buf, size_t len);

// Writes n bytes to a temporary file beside path and renames it over path; every write,
// close and rename is checked. 0, or -1 with err naming path (path is then left as it was).
int outfile_write(const char *path, const void *data, size_t n, char *err);

#endif
