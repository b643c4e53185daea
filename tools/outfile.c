// outfile.c: whether nn may write a path, and writing it safely (see outfile.h). The rules
// exist because each was broken once: --out naming a photo replaced it with HDF5, --cache
// naming a model or /dev/full overwrote it (the device node became a regular file), the chart
// of --out cat.1.jpg landed in the class folder and was trained on, --log naming --out lost
// the CSV, and two runs on one --out both said "saved" while their CSV rows interleaved.
#include "outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "../data/data.h"
#include "../nn/common.h"
#include "history.h"

#define HEAD_BYTES 4096               // what is read of an existing file to recognise it
#define H5_SCAN_BYTES (4u << 20)      // where Keras's root attributes must show up
static const uint8_t HDF5_SIG[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
static const uint8_t PNG_SIG[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
#define LOCK_TAG "nn lock: pid "          // a lock file's content, then the holder's pid
#define LOCK_TAG_LEN (sizeof LOCK_TAG - 1)

// "WHAT PATH" or "PATH", the start of every message.
static const char *named(const char *what, const char *path, char *buf, size_t len) {
    if (what && *what) snprintf(buf, len, "%s %s", what, path);
    else snprintf(buf, len, "%s", path);
    return buf;
}

// PATH's folder ("." for a bare name, "/" for a file at the root), into dir.
static void folder_of(const char *path, char *dir, size_t len) {
    snprintf(dir, len, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash) snprintf(dir, len, ".");
    else if (slash == dir) dir[1] = 0;
    else *slash = 0;
}

int outfile_check_folder(const char *what, const char *path, char *err) {
    char dir[PATH_MAX], who[PATH_MAX + 64];
    struct stat st;
    folder_of(path, dir, sizeof dir);
    named(what, path, who, sizeof who);
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return nn_fail(err, "%s: the folder '%s' does not exist (create it first)", who, dir);
    if (access(dir, W_OK | X_OK) != 0)
        return nn_fail(err, "%s: the folder '%s' is not writable (%s)", who, dir, strerror(errno));
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return nn_fail(err, "%s: is a folder, not a file", who);
    return 0;
}

// --- recognising a file

static const char *kind_name(outfile_kind k) {
    switch (k) {
    case OUTFILE_H5: return "a model nn or Keras wrote (HDF5)";
    case OUTFILE_CACHE: return "an nn image cache";
    case OUTFILE_CSV: return "an nn metrics log (CSV with nn's header line)";
    case OUTFILE_PNG: return "a PNG nn drew";
    case OUTFILE_LOCK: return "an nn lock file";
    }
    return "a file nn writes";
}

static const char *mode_name(mode_t m) {
    if (S_ISCHR(m)) return "a character device";
    if (S_ISBLK(m)) return "a block device";
    if (S_ISFIFO(m)) return "a fifo";
    if (S_ISSOCK(m)) return "a socket";
    if (S_ISDIR(m)) return "a folder";
    return "not a plain file";
}

// The PNG carries the tEXt chunk Software=nn among the chunks before its pixels.
static int png_has_mark(const uint8_t *b, size_t n) {
    static const char mark[] = OUTFILE_PNG_KEY "\0" OUTFILE_PNG_TEXT;
    const size_t mlen = sizeof mark - 1;
    if (n < 8 || memcmp(b, PNG_SIG, 8)) return 0;
    for (size_t at = 8; at + 8 <= n;) {
        uint32_t len = (uint32_t)b[at] << 24 | (uint32_t)b[at + 1] << 16 | (uint32_t)b[at + 2] << 8 |
                       b[at + 3];
        const uint8_t *type = b + at + 4;
        if (!memcmp(type, "IDAT", 4) || !memcmp(type, "IEND", 4) || len > n) return 0;
        if (!memcmp(type, "tEXt", 4) && len == mlen && at + 8 + len <= n && !memcmp(type + 4, mark, mlen))
            return 1;
        at += 12 + (size_t)len;
    }
    return 0;
}

// Keras's root attribute keras_version (nn writes it too) within the first H5_SCAN_BYTES:
// HDF5 keeps attribute names as plain bytes in the root group's header, written first.
static int h5_is_keras(int fd) {
    static const char key[] = "keras_version";
    const size_t klen = sizeof key - 1, chunk = 1 << 16;
    char *buf = nn_alloc(chunk + klen, "file check");
    size_t keep = 0, total = 0;
    int found = 0;
    while (!found && total < H5_SCAN_BYTES) {
        ssize_t r = pread(fd, buf + keep, chunk, (off_t)total);
        if (r <= 0) break;
        found = memmem(buf, keep + (size_t)r, key, klen) != NULL;
        total += (size_t)r;
        size_t have = keep + (size_t)r;
        keep = have < klen - 1 ? have : klen - 1;   // a name split across two reads
        memmove(buf, buf + have - keep, keep);
    }
    nn_free(buf);
    return found;
}

static int csv_is_ours(const uint8_t *b, size_t n) {
    size_t h = strlen(HISTORY_HEADER);
    return n >= h && !memcmp(b, HISTORY_HEADER, h) && (n == h || b[h] == '\n' || b[h] == '\r');
}

static int is_kind(int fd, outfile_kind k, const uint8_t *b, size_t n) {
    switch (k) {
    case OUTFILE_H5: return n >= 8 && !memcmp(b, HDF5_SIG, 8) && h5_is_keras(fd);
    case OUTFILE_CACHE: return n >= 8 && !memcmp(b, IMAGE_CACHE_MAGIC, 8);
    case OUTFILE_CSV: return csv_is_ours(b, n);
    case OUTFILE_PNG: return png_has_mark(b, n);
    case OUTFILE_LOCK: return n >= LOCK_TAG_LEN && !memcmp(b, LOCK_TAG, LOCK_TAG_LEN);
    }
    return 0;
}

// What a refused file looks like, for the message.
static const char *describe(int fd, const uint8_t *b, size_t n) {
    if (n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return "a JPEG image";
    if (n >= 8 && !memcmp(b, PNG_SIG, 8))
        return png_has_mark(b, n) ? "a PNG nn drew" : "a PNG image nn did not draw";
    if (n >= 4 && !memcmp(b, "GIF8", 4)) return "a GIF image";
    if (n >= 2 && !memcmp(b, "BM", 2)) return "a BMP image";
    if (n >= 8 && !memcmp(b, HDF5_SIG, 8))
        return h5_is_keras(fd) ? "a Keras model (HDF5)" : "an HDF5 file that is not a Keras model";
    if (n >= 8 && !memcmp(b, IMAGE_CACHE_MAGIC, 8)) return "an nn image cache";
    if (csv_is_ours(b, n)) return "an nn metrics log (CSV)";
    if (n >= 4 && !memcmp(b, "PK\3\4", 4)) return "a zip file (a .keras model?)";
    if (n >= LOCK_TAG_LEN && !memcmp(b, LOCK_TAG, LOCK_TAG_LEN)) return "an nn lock file";
    for (size_t i = 0; i < n; i++)
        if (b[i] < 0x20 && b[i] != '\n' && b[i] != '\r' && b[i] != '\t') return "a file of another kind";
    return "a text file";
}

int outfile_check_kind(const char *what, const char *path, outfile_kind kind, char *err) {
    char who[PATH_MAX + 64];
    struct stat st, lst;
    named(what, path, who, sizeof who);
    if (lstat(path, &lst) != 0) return 0;   // absent: nothing to lose
    if (stat(path, &st) != 0)
        return nn_fail(err, "%s: is a symbolic link to a missing file: nn will not write through it; "
                       "remove the link or choose another name", who);
    if (!S_ISREG(st.st_mode))
        return nn_fail(err, "%s: exists and is not a regular file (%s): nn only replaces plain files "
                       "it wrote; choose a file name", who, mode_name(st.st_mode));
    if (st.st_size == 0) return 0;          // empty (a placeholder from mktemp): nothing to lose
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return nn_fail(err, "%s: cannot read it to check that nn wrote it (%s): choose another name",
                       who, strerror(errno));
    uint8_t head[HEAD_BYTES];
    ssize_t n = pread(fd, head, sizeof head, 0);
    int ok = n > 0 && is_kind(fd, kind, head, (size_t)n);
    if (!ok)
        nn_fail(err, "%s: exists and is %s, not %s: nn never overwrites a file it did not write; "
                "choose another name or move the file away", who, n > 0 ? describe(fd, head, (size_t)n) :
                "unreadable", kind_name(kind));
    close(fd);
    return ok ? 0 : -1;
}

// --- comparing outputs

typedef struct ident {
    int exists;
    dev_t dev;
    ino_t ino;
    char canon[2 * PATH_MAX];   // the real folder + the name (where the file is or will be)
    char real[PATH_MAX];    // where a symbolic link leads ("" when absent)
} ident;

static void identify(const char *path, ident *id) {
    char dir[PATH_MAX], rdir[PATH_MAX];
    struct stat st;
    memset(id, 0, sizeof *id);
    if (stat(path, &st) == 0) id->exists = 1, id->dev = st.st_dev, id->ino = st.st_ino;
    if (!realpath(path, id->real)) id->real[0] = 0;
    folder_of(path, dir, sizeof dir);
    const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
    if (!realpath(dir, rdir)) snprintf(rdir, sizeof rdir, "%s", dir);   // absent: as written
    snprintf(id->canon, sizeof id->canon, "%s%s%s", rdir, strcmp(rdir, "/") ? "/" : "", base);
}

int outfile_check_distinct(const outfile *outs, int n, char *err) {
    ident *ids = nn_alloc(sizeof *ids * (size_t)NN_MAX(n, 1), "output names");
    for (int i = 0; i < n; i++) identify(outs[i].path, &ids[i]);
    int rc = 0;
    for (int i = 0; i < n && !rc; i++)
        for (int j = 0; j < i && !rc; j++) {
            const ident *a = &ids[i], *b = &ids[j];
            int same = !strcmp(a->canon, b->canon) ||
                       (a->exists && b->exists && a->dev == b->dev && a->ino == b->ino);
            if (same)
                rc = nn_fail(err, "%s %s is the same file as %s %s: each output of a run needs its "
                             "own file; choose another name", outs[i].what, outs[i].path,
                             outs[j].what, outs[j].path);
        }
    nn_free(ids);
    return rc;
}

static int inside(const char *path, const char *dir) {
    size_t n = strlen(dir);
    if (!strcmp(dir, "/")) return path[0] == '/';
    return path[0] && !strncmp(path, dir, n) && path[n] == '/';
}

int outfile_check_outside(const outfile *outs, int n, const char *dir_what, const char *dir, char *err) {
    char rdir[PATH_MAX];
    if (!dir || !realpath(dir, rdir)) return 0;   // a missing folder is refused elsewhere
    for (int i = 0; i < n; i++) {
        ident id;
        identify(outs[i].path, &id);
        if (inside(id.canon, rdir) || inside(id.real, rdir))
            return nn_fail(err, "%s %s is inside %s %s: the next run would read it as data; write "
                           "outputs elsewhere", outs[i].what, outs[i].path, dir_what, dir);
    }
    return 0;
}

int outfile_probe_write(const char *what, const char *path, char *err) {
    char who[PATH_MAX + 64];
    named(what, path, who, sizeof who);
    size_t len = strlen(path) + 24;
    char *tmp = nn_alloc(len, "probe file name");
    snprintf(tmp, len, "%s.probe-XXXXXX", path);
    int fd = mkstemp(tmp), rc = 0;
    if (fd < 0) {
        rc = nn_fail(err, "%s: cannot create a file in its folder: %s", who, strerror(errno));
    } else {
        static const char block[4096];
        ssize_t w = write(fd, block, sizeof block);
        if (w != (ssize_t)sizeof block || fsync(fd) != 0)
            rc = nn_fail(err, "%s: cannot write in its folder: %s", who,
                         w >= 0 && w < (ssize_t)sizeof block ? "disk full" : strerror(errno));
        close(fd);
        unlink(tmp);
    }
    nn_free(tmp);
    return rc;
}

int outfile_check_space(const char *what, const char *path, double need, const char *of, char *err) {
    char dir[PATH_MAX], who[PATH_MAX + 64];
    struct statvfs sv;
    folder_of(path, dir, sizeof dir);
    if (statvfs(dir, &sv) != 0) return 0;   // cannot tell: the write itself will say
    double avail = (double)sv.f_bavail * (double)sv.f_frsize;
    if (avail >= need) return 0;
    return nn_fail(err, "%s: %.0f KiB free in '%s', %s takes about %.0f KiB: free some space or save "
                   "elsewhere", named(what, path, who, sizeof who), avail / 1024, dir, of, need / 1024);
}

// --- the lock

void outfile_lock_name(const char *path, char *buf, size_t len) { snprintf(buf, len, "%s.lock", path); }

// Who holds the lock on fd (0 when unknown), by fcntl's own record.
static pid_t lock_holder(int fd) {
    struct flock q = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    return fcntl(fd, F_GETLK, &q) == 0 && q.l_type != F_UNLCK ? q.l_pid : 0;
}

// 1 when fd is still the file at name: the holder before us unlinks the file as it lets go,
// so a lock won on an unlinked file is no lock at all (try again on the new file).
static int still_there(int fd, const char *name, struct stat *a) {
    struct stat b;
    return fstat(fd, a) == 0 && stat(name, &b) == 0 && a->st_dev == b.st_dev && a->st_ino == b.st_ino;
}

int outfile_lock_take(outfile_lock *l, const char *what, const char *path, char *err) {
    char name[PATH_MAX + 8], who[PATH_MAX + 64];
    memset(l, 0, sizeof *l);
    l->fd = -1;
    outfile_lock_name(path, name, sizeof name);
    named(what, path, who, sizeof who);
    if (outfile_check_kind(NULL, name, OUTFILE_LOCK, err)) return -1;
    for (int tries = 0; tries < 100; tries++) {
        int fd = open(name, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0666);
        if (fd < 0) return nn_fail(err, "%s: cannot create its lock file %s: %s", who, name, strerror(errno));
        struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
        if (fcntl(fd, F_SETLK, &fl) != 0) {
            int e = errno;
            pid_t pid = (e == EACCES || e == EAGAIN) ? lock_holder(fd) : 0;
            close(fd);
            if (e != EACCES && e != EAGAIN)
                return nn_fail(err, "%s: cannot lock %s: %s", who, name, strerror(e));
            if (pid > 0)
                return nn_fail(err, "%s: another nn is writing it (process %ld holds %s): wait for it "
                               "to finish, or choose another name", who, (long)pid, name);
            return nn_fail(err, "%s: another process is writing it (it holds %s): wait for it to "
                           "finish, or choose another name", who, name);
        }
        struct stat st;
        if (!still_there(fd, name, &st)) {
            close(fd);
            continue;
        }
        // The pid is for people reading the file; fcntl's record is what the next run asks,
        // so a failed write here (a full disk) does not matter.
        char line[32];
        int k = snprintf(line, sizeof line, LOCK_TAG "%ld\n", (long)getpid());
        if (ftruncate(fd, 0) != 0 || pwrite(fd, line, (size_t)k, 0) != k) { /* informational */ }
        l->fd = fd, l->dev = st.st_dev, l->ino = st.st_ino, l->path = nn_strdup(name);
        return 0;
    }
    return nn_fail(err, "%s: cannot lock %s: it keeps being replaced", who, name);
}

void outfile_lock_release(outfile_lock *l) {
    if (!l || l->fd < 0) return;
    struct stat st;
    // unlink while still holding it: a waiting run then finds its lock on a removed file and
    // opens the path afresh (still_there)
    if (stat(l->path, &st) == 0 && st.st_dev == l->dev && st.st_ino == l->ino) unlink(l->path);
    close(l->fd);
    nn_free(l->path);
    l->path = NULL;
    l->fd = -1;
}

// --- writing

int outfile_write(const char *path, const void *data, size_t n, char *err) {
    size_t len = strlen(path) + 16;
    char *tmp = nn_alloc(len, "temporary file name");
    snprintf(tmp, len, "%s.tmp-XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        nn_free(tmp);
        return nn_fail(err, "cannot write %s: %s (does its folder still exist, and is it writable?)",
                       path, strerror(e));
    }
    mode_t um = umask(0);
    umask(um);
    int rc = 0;
    if (fchmod(fd, 0666 & ~um) != 0) { /* stays 0600: not worth failing a write over */ }
    if (nn_write_all(fd, data, n) != 0)
        rc = nn_fail(err, "writing %s failed: %s; %s was left as it was", path, strerror(errno), path);
    if (close(fd) != 0 && !rc)
        rc = nn_fail(err, "writing %s failed: %s; %s was left as it was", path, strerror(errno), path);
    if (!rc && rename(tmp, path) != 0)
        rc = nn_fail(err, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
    if (rc) unlink(tmp);
    nn_free(tmp);
    return rc;
}
