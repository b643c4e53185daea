// prepare.h: from Kaggle's flat "Dogs vs. Cats" download (train/cat.0.jpg … train/dog.12499.jpg,
// the label in each file's name) to the tutorial's layout that `nn train --data` reads:
//   DST/training_set/cats/…  DST/training_set/dogs/…  DST/test_set/cats/…  DST/test_set/dogs/…
// Files are hard links to the source where the filesystem allows it (no extra space, instant),
// copies otherwise; the source folder is only read.
//
// The rules, stated once here and in `nn prepare --help` and the README:
//  - an image is a file whose extension is jpg, jpeg, png, bmp or gif (any case);
//  - its name must be LABEL.N.EXT: LABEL letters, digits, '_' or '-' with at least one letter,
//    N decimal digits (cat.0.jpg, dog.12499.jpg, bird.3.png); the class folder is LABEL + "s";
//  - the split, per class: the files sorted by N (then by name), shuffled by Fisher-Yates with
//    the project's rng (xoshiro256**) seeded with seed ^ FNV-1a-64(LABEL), a generator per class
//    so that one class's split does not depend on the others; the first round(n * test_split)
//    files of the shuffled list go to test_set, the rest to training_set.
//    (tests/oracles/prepare_split.py re-implements this rule independently.)
#ifndef NN_PREPARE_H
#define NN_PREPARE_H

#include <stddef.h>
#include <stdint.h>

#define PREPARE_LABEL_MAX 64      // longest LABEL accepted, with its terminating zero
#define PREPARE_SHOW_MAX 5        // unlabelled names kept to show the user

typedef struct prepare_opts {
    double test_split;    // fraction of each class for test_set, in [0, 1)
    uint64_t seed;
    int copy;             // copy even where a hard link would work
    int dry_run;          // plan and check everything, write nothing
    int force;            // DST may already hold a prepared set: add what is missing
    int skip_unlabelled;  // leave out image files without a label instead of failing
} prepare_opts;

typedef struct prepare_class {
    char label[PREPARE_LABEL_MAX];       // "cat"
    char folder[PREPARE_LABEL_MAX + 1];  // "cats"
    int ntrain, ntest;
} prepare_class;

typedef struct prepare_result {
    int nclasses;
    prepare_class *classes;   // sorted by label
    int nimages;              // labelled images split
    int nignored;             // files that are not images (by extension), and subfolders
    int nsubdirs;             // of which subfolders
    int nunlabelled;          // image files whose names carry no label (left out or refused)
    char unlabelled[PREPARE_SHOW_MAX][96];  // the first few of them (names cut at 95 bytes)
    int nlinked, ncopied;     // files placed by this run
    int nexisting;            // files already in place (a --force rerun)
    int link_errno;           // why hard links failed and copies were made (0: they did not)
    int same_fs;              // SRC and DST on one filesystem (links possible), for --dry-run
} prepare_result;

// Does everything: lists SRC, checks names, plans the split, checks DST, then (unless dry_run)
// creates the folders and places the files. Returns 0, or -1 with one line in err (NN_ERRLEN)
// naming the file at fault and what to do. A failure before the first write leaves DST as it
// was; a failure while placing files says how many were placed, and a rerun with --force
// completes the set. Nothing under SRC is ever written, and nothing anywhere is deleted except
// this run's own partial copies. r is filled as far as the run got; free it with
// prepare_result_free.
int prepare_run(const char *src, const char *dst, const prepare_opts *o, prepare_result *r,
                char *err);
void prepare_result_free(prepare_result *r);

// 1 if name (no folder) is an image by its extension.
int prepare_is_image(const char *name);
// 1 if name is LABEL.N.EXT with an image extension; label (PREPARE_LABEL_MAX bytes) gets LABEL.
// The rule `nn train --labels-from-names` should share, so both agree on which files count.
int prepare_parse_name(const char *name, char *label);

#endif
