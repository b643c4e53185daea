// test_tmpdir.h: one private temporary folder per test binary, paths inside it, and its removal
// at the end (the files the tests write there: models, truncated copies, predictions).
#ifndef NN_TEST_TMPDIR_H
#define NN_TEST_TMPDIR_H

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[64];

#define PLEN 512   // tmpdir (< 64) + a file name (< 256)
static void tpath(char *buf, const char *name) { snprintf(buf, PLEN, "%s/%s", tmpdir, name); }

// Creates /tmp/nn-test-NAME-XXXXXX; exits the binary when it cannot.
static void tmpdir_make(const char *name) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/nn-test-%s-XXXXXX", name);
    if (!mkdtemp(tmpdir)) {
        fprintf(stderr, "mkdtemp %s: %s\n", tmpdir, strerror(errno));
        exit(1);
    }
}

// Removes the files directly in tmpdir, then the folder.
static void cleanup(void) {
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    char p[PLEN];
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        tpath(p, e->d_name);
        unlink(p);
    }
    if (d) closedir(d);
    rmdir(tmpdir);
}

#endif
