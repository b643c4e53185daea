// cmd_prepare.c: `nn prepare SRC DST` — Kaggle's flat "Dogs vs. Cats" download (train/cat.0.jpg …)
// into the class folders `nn train --data` reads. The work and its rules are in data/prepare.c;
// this file reads the options and prints the plan, the warnings and the summary.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../data/prepare.h"
#include "../nn/common.h"
#include "cli.h"

static void usage(FILE *f) {
    fprintf(f,
        "usage: nn prepare SRC DST [--test-split 0.2] [--seed 1] [--copy] [--dry-run] [--force]\n"
        "                  [--skip-unlabelled]\n"
        "\n"
        "Turns Kaggle's \"Dogs vs. Cats\" download, one flat folder (SRC = train/ with cat.0.jpg …\n"
        "dog.12499.jpg), into the layout nn train reads:\n"
        "  DST/training_set/cats/  DST/training_set/dogs/  DST/test_set/cats/  DST/test_set/dogs/\n"
        "\n"
        "Names: an image is a .jpg .jpeg .png .bmp or .gif file (any case) named LABEL.N.EXT: LABEL\n"
        "  letters, digits, '_' or '-'; N digits. Any label works: its folder is LABEL + \"s\"\n"
        "  (cat -> cats, dog -> dogs, bird.3.jpg -> birds). Other files and subfolders are ignored\n"
        "  and counted; image files without a label stop the run (see --skip-unlabelled).\n"
        "Split: per class, the files sorted by N are shuffled with a generator seeded from --seed\n"
        "  and the label; the first round(n x test-split) go to test_set, the rest to\n"
        "  training_set. The same SRC, --seed and --test-split always give the same split.\n"
        "Files: hard links to SRC where possible (no extra space; DST on the same filesystem),\n"
        "  copies otherwise. SRC is only read: nothing in it is moved, changed or added.\n"
        "\n"
        "options:\n"
        "  --test-split F      fraction of each class for test_set, 0 <= F < 1 (default 0.2)\n"
        "  --seed N            seed of the split (default 1)\n"
        "  --copy              copy the files instead of hard-linking them\n"
        "  --dry-run           check everything and print the split; write nothing\n"
        "  --force             DST already holds a prepared set: add what is missing. Nothing in\n"
        "                      DST is deleted or replaced; a file of this split found differing,\n"
        "                      or in the other set (another seed?), stops the run before any write\n"
        "  --skip-unlabelled   leave out image files whose names carry no label, with a warning\n");
}

static void print_summary(const char *src, const prepare_opts *o,
                          const prepare_result *r) {
    printf("Found %d images of %d class%s in %s", r->nimages, r->nclasses,
           r->nclasses == 1 ? "" : "es", src);
    if (r->nignored) printf(" (%d other entr%s ignored)", r->nignored, r->nignored == 1 ? "y" : "ies");
    printf(".\n");
    printf("Split per class with --test-split %g --seed %llu:\n", o->test_split,
           (unsigned long long)o->seed);
    int w = 6;
    for (int c = 0; c < r->nclasses; c++) w = NN_MAX(w, (int)strlen(r->classes[c].folder));
    printf("  %-*s %12s %10s\n", w, "folder", "training_set", "test_set");
    int tr = 0, te = 0;
    for (int c = 0; c < r->nclasses; c++) {
        printf("  %-*s %12d %10d\n", w, r->classes[c].folder, r->classes[c].ntrain, r->classes[c].ntest);
        tr += r->classes[c].ntrain;
        te += r->classes[c].ntest;
    }
    printf("  %-*s %12d %10d\n", w, "total", tr, te);
}

int cmd_prepare(int argc, char **argv) {
    const char *pos[2] = {NULL, NULL};
    int npos = 0;
    prepare_opts o = {.test_split = 0.2, .seed = 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--test-split")) {
            const char *v = cli_value("prepare", argc, argv, &i);
            if (!v || cli_float("prepare", a, v, 0, 1, &o.test_split)) return 2;
            if (o.test_split >= 1) {
                fprintf(stderr, "nn prepare: --test-split '%s' must be below 1 (training_set would be empty)\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--seed")) {
            const char *v = cli_value("prepare", argc, argv, &i);
            int seed;
            if (!v || cli_int("prepare", a, v, 0, 2147483647L, &seed)) return 2;
            o.seed = (uint64_t)seed;
        } else if (!strcmp(a, "--copy")) {
            o.copy = 1;
        } else if (!strcmp(a, "--dry-run")) {
            o.dry_run = 1;
        } else if (!strcmp(a, "--force")) {
            o.force = 1;
        } else if (!strcmp(a, "--skip-unlabelled") || !strcmp(a, "--skip-unlabeled")) {
            o.skip_unlabelled = 1;
        } else if (a[0] == '-' && a[1]) {
            return cli_unknown("prepare", a);
        } else if (npos < 2) {
            pos[npos++] = a;
        } else {
            fprintf(stderr, "nn prepare: one SRC and one DST, but '%s' is a third (see nn prepare --help)\n", a);
            return 2;
        }
    }
    if (npos < 2) {
        fprintf(stderr, "nn prepare: needs SRC (the unpacked Kaggle train/ folder) and DST (where "
                        "training_set/ and test_set/ go)\n\n");
        usage(stderr);
        return 2;
    }
    const char *src = pos[0], *dst = pos[1];

    prepare_result r;
    char err[NN_ERRLEN];
    int rc = prepare_run(src, dst, &o, &r, err);
    if (r.nunlabelled && o.skip_unlabelled) {
        fprintf(stderr, "nn prepare: warning: left out %d image file%s whose name carries no label "
                        "(LABEL.N.ext):", r.nunlabelled, r.nunlabelled == 1 ? "" : "s");
        for (int i = 0; i < r.nunlabelled && i < PREPARE_SHOW_MAX; i++)
            fprintf(stderr, "%s %s", i ? "," : "", r.unlabelled[i]);
        fprintf(stderr, "%s\n", r.nunlabelled > PREPARE_SHOW_MAX ? ", …" : "");
    }
    if (rc != 0) {
        fprintf(stderr, "nn prepare: %s\n", err);
        if (r.nlinked + r.ncopied)
            fprintf(stderr, "nn prepare: %d files were placed in %s before the error\n",
                    r.nlinked + r.ncopied, dst);
        prepare_result_free(&r);
        return 1;
    }

    print_summary(src, &o, &r);
    for (int c = 0; c < r.nclasses; c++) {
        const prepare_class *pc = &r.classes[c];
        if (pc->ntrain == 0)
            fprintf(stderr, "nn prepare: warning: training_set/%s gets none of its %d image%s "
                            "(lower --test-split)\n", pc->folder, pc->ntest, pc->ntest == 1 ? "" : "s");
        else if (pc->ntest == 0 && o.test_split > 0)
            fprintf(stderr, "nn prepare: warning: test_set/%s gets none of its %d image%s (too few "
                            "for --test-split %g)\n", pc->folder, pc->ntrain,
                    pc->ntrain == 1 ? "" : "s", o.test_split);
    }
    if (r.nclasses == 1)
        fprintf(stderr, "nn prepare: warning: only one class ('%s'): a classifier needs two or more\n",
                r.classes[0].label);

    int todo = r.nimages - r.nexisting;
    if (o.dry_run) {
        printf("Dry run: nothing written. Would %s %d file%s into %s", !o.copy && r.same_fs ?
               "hard-link" : "copy", todo, todo == 1 ? "" : "s", dst);
        if (!o.copy && !r.same_fs) printf(" (another filesystem: hard links are not possible)");
        if (r.nexisting) printf("; %d already in place", r.nexisting);
        printf(".\n");
    } else {
        printf("Placed %d file%s in %s: %d hard link%s, %d cop%s", todo, todo == 1 ? "" : "s", dst,
               r.nlinked, r.nlinked == 1 ? "" : "s", r.ncopied, r.ncopied == 1 ? "y" : "ies");
        if (r.nexisting) printf("; %d already in place", r.nexisting);
        printf(". %s is unchanged.\n", src);
        if (r.link_errno)
            printf("(Hard links were not possible: %s; the files were copied instead.)\n",
                   strerror(r.link_errno));
    }
    int has_test = 0;
    for (int c = 0; c < r.nclasses; c++) has_test |= r.classes[c].ntest > 0;
    printf("Next: nn train --data %s/training_set%s%s%s\n", dst, has_test ? " --val " : "",
           has_test ? dst : "", has_test ? "/test_set" : "");
    prepare_result_free(&r);
    return 0;
}
