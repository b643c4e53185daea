// cmd_train.c: `nn train`. Builds (or resumes) a model, loads the photos (or makes up a
// synthetic set when no --data is given), trains epoch by epoch with Keras's output, validates,
// saves checkpoints atomically, and ends with a chart and a summary. Ctrl-C finishes the step,
// saves, and exits 130; --resume continues on exactly the curve an unbroken run would follow.
// Every file it writes is checked before any work (tools/outfile.h: nn's own kind or absent,
// no two the same, none inside the data, locked against a second run), every write's result
// is read, and a closed standard output (nn train | head) stops the run as Ctrl-C does.
// Under mpirun (`mpirun -np N nn train ...`) each process is one rank of a data-parallel run
// (tools/train_dist.h): the loop is the same on every rank, and rank 0 alone prints and saves.
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../data/data.h"
#include "../nn/common.h"
#include "../nn/cuda_api.h"
#include "../nn/h5.h"
#include "../nn/profile.h"
#include "../run/profile_run.h"
#include "../run/train.h"
#include "chart.h"
#include "cli.h"
#include "outfile.h"
#include "progress.h"
#include "setup.h"
#include "synthetic.h"
#include "train_data.h"
#include "train_dist.h"

#define MAX_EPOCHS 100000

// The article's CNN, used when --model is not given and models/catdog.cfg is not found (nn run
// from another folder).
static const char builtin_cfg[] = MODEL_CATDOG_CFG;

typedef struct opts {
    const char *data, *val, *cfg, *out, *resume, *log, *cache, *device, *write_synthetic;
    const char *weights;      // --weights: start from these weights (setup_load_model)
    double val_split, lr;
    int epochs, batch, threads, save_best, augment, checkpoint_every, synthetic_n;
    long seed;
    int profile;              // --profile: the table of nn/profile.h after training
    int flat;                 // --labels-from-names: Kaggle's flat folder (cat.1.jpg, dog.1.jpg)
} opts;

static void usage(FILE *f) {
    fprintf(f,
"usage: nn train [--data DIR] [options]\n"
"Trains an image classifier (by default the article's CNN, two classes) and saves it as a Keras .h5.\n"
"A model (--model) whose last layer is a softmax over N outputs (dense units=N activation=softmax)\n"
"trains on N class folders with categorical cross-entropy (Keras's class_mode='categorical');\n"
"its accuracy is the categorical one (the largest probability at the true class).\n"
"\n"
"data:\n"
"  --data DIR          one subfolder per class (DIR/cats/*.jpg, DIR/dogs/*.jpg), as Keras's\n"
"                      flow_from_directory, classes in sorted order; without --data, a synthetic\n"
"                      two-class set is made up in memory (400 + 100 images of stripes; three\n"
"                      classes for a softmax over 3) so the whole pipeline runs in seconds\n"
"  --val DIR           validation folder (same classes), evaluated after every epoch\n"
"  --val-split F       or: hold out the first fraction F of each class of --data (Keras's\n"
"                      validation_split)\n"
"  --labels-from-names --data (and --val) are flat folders as Kaggle's download comes\n"
"                      (cat.1.jpg, dog.1.jpg: LABEL.N.jpg, as nn prepare reads them)\n"
"  --no-augment        train on the images as they are (default: Keras's shear 0.2, zoom 0.2,\n"
"                      horizontal flip); validation is never augmented\n"
"  --cache FILE        keep the decoded images in FILE (and FILE.val) so the next run skips decoding\n"
"  --synthetic N       the synthetic set's size (training images; validation gets N/4); default 400\n"
"  --write-synthetic DIR  also write the synthetic images as PNGs into DIR/train and DIR/val\n"
"model:\n"
"  --model FILE.cfg    layers (default models/catdog.cfg, or the same CNN built in)\n"
"  --resume FILE.h5    continue a saved run: weights, Adam's state and the epoch count come from\n"
"                      FILE; training goes on from its epoch to --epochs. Give the same --seed,\n"
"                      --batch and data as the first run to follow exactly the same curve\n"
"  --weights FILE.h5   start from these weights (Keras's save_weights file, or a model file) in\n"
"                      the layers of --model; Adam and the epochs start afresh\n"
"training:\n"
"  --epochs N          epochs in all (default 25; 5 on the synthetic set)\n"
"  --batch N           images per step (default 32)\n"
"  --lr X              Adam's learning rate (default 0.001, or the one saved in --resume's file)\n"
"  --seed N            seeds the weights, the shuffling and the augmentation (default 1)\n"
"  --device D          auto (GPU when one works, the default), cpu, or cuda (fail without a GPU)\n"
"  --threads N         CPU threads (default: all cores)\n"
"output:\n"
"  --out FILE.h5       the model (default trained_model.h5), rewritten after every epoch so an\n"
"                      interrupted run can be resumed; the chart goes beside it as FILE.png\n"
"  --save-best         write --out only when val_loss improves (needs validation); the latest\n"
"                      epoch then goes to FILE.last.h5 (the file to --resume from)\n"
"  --checkpoint-every N  also save the checkpoint every N steps within an epoch\n"
"  --log FILE.csv      epoch,loss,accuracy,val_loss,val_accuracy,images_per_s,seconds\n"
"  --profile           after training, a table of where a step's time went: per layer and pass,\n"
"                      the loss, Adam, augmentation and waiting for data (as nn bench --profile)\n"
"  An existing output is replaced only when nn wrote it (its model or a Keras one, its chart, log\n"
"  or cache); any other file, an output inside --data or --val, two outputs that are one file,\n"
"  or an --out another nn train is writing (FILE.lock) is refused before any work.\n"
"\n"
"Ctrl-C finishes the current step, saves a checkpoint, says where, and exits with status 130\n"
"(press it twice to quit at once; the last saved file stays intact).\n"
"\n"
"examples:\n"
"  nn train                                          # synthetic set, 5 epochs, seconds\n"
"  nn train --data ../shared/data/catsdogs/training_set --val ../shared/data/catsdogs/test_set\n"
"  nn train --data photos --val-split 0.2 --epochs 10 --save-best --log metrics.csv\n");
}

// --- the run's state, shared with the per-step callback

static volatile sig_atomic_t stop_flag;

static void on_sigint(int sig) {
    (void)sig;
    stop_flag = 1;   // SA_RESETHAND: a second Ctrl-C ends the process at once
}

// Under mpirun, Ctrl-C reaches mpirun alone, which sends SIGTERM to every rank a second later
// (and SIGKILL a second after that): it stops the run as Ctrl-C does, and wakes the watchdog
// that speaks for a rank left waiting on one that died (nn/dist.h).
static void on_sigterm(int sig) {
    (void)sig;
    stop_flag = 1;
    dist_on_term();
}

// A file this run saved, as it was on disk: the end checks that it is still there.
typedef struct saved_file { dev_t dev; ino_t ino; int set; } saved_file;

typedef struct run {
    train_dist td;            // the ranks (one, unless mpirun started nn)
    opts o;
    const char *pre;          // "[synthetic] " or ""
    model m;
    nn_ctx ctx;
    char ckpt[4096];          // where checkpoints go (--out, or FILE.last.h5 with --save-best)
    char png[4096];
    char cache_val[4096];     // --cache's validation part (FILE.val)
    const char *model_name;   // where the layers came from, for messages
    progress pg;
    int saves_failed;
    char last_good[4096];     // the last checkpoint written, and the epoch/step it holds
    int last_good_epoch;
    long last_good_t;
    saved_file out_file, ckpt_file;   // the last save of --out and of the checkpoint
    outfile_lock locks[3];    // --out, the --save-best checkpoint, --log
    int nlocks;
    FILE *log;                // --log, open during the loop
    int chart_failed, log_failed;   // a chart or log write failed (reported once; status 1)
    int out_errno;            // standard output failed (EPIPE...): the run stops as for Ctrl-C
} run;

// Standard output failed (the reader of a pipe went away, a full disk): end the run as Ctrl-C
// does, so the work so far is saved instead of SIGPIPE killing nn with nothing on disk.
static void note_stdout(run *r) {
    if (r->out_errno || !ferror(stdout)) return;
    r->out_errno = errno ? errno : EIO;
    stop_flag = 1;
}

static void vsay(run *r, const char *fmt, va_list ap) {
    if (r->out_errno) return;   // nobody reads it any more
    errno = 0;
    fputs(r->pre, stdout);
    vprintf(fmt, ap);
    putchar('\n');
    fflush(stdout);
    note_stdout(r);
}

static void say(run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(run *r, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsay(r, fmt, ap);
    va_end(ap);
}

static void say_to(void *user, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say_to(void *user, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsay(user, fmt, ap);
    va_end(ap);
}

static int save_model(run *r, const char *path) {
    char err[NN_ERRLEN];
    if (r->td.d.rank != 0) return 0;   // rank 0 saves for all
    model_sync(&r->m);
    if (!train_weights_finite(&r->m)) {   // never replace a good file with a diverged model
        fprintf(stderr, "nn train: not saving %s: the weights hold NaN or infinite values (training "
                "diverged); %s was left as it was\n", path, path);
        r->saves_failed++;
        return -1;
    }
    if (model_save_h5(&r->m, path, err) != 0) {
        fprintf(stderr, "nn train: %s\n", err);
        r->saves_failed++;
        return -1;
    }
    struct stat st;
    if (stat(path, &st) == 0) {
        saved_file f = {st.st_dev, st.st_ino, 1};
        if (!strcmp(path, r->o.out)) r->out_file = f;
        if (!strcmp(path, r->ckpt)) r->ckpt_file = f;
    }
    snprintf(r->last_good, sizeof r->last_good, "%s", path);
    r->last_good_epoch = r->m.epoch;
    r->last_good_t = r->m.t;
    char note[1000];
    snprintf(note, sizeof note, "nn train: mpirun ended the job while rank 0 waited for the others "
             "(another rank failed or was killed); the last checkpoint is %.380s (%ld steps): "
             "continue with --resume %.380s", path, r->m.t, path);
    dist_set_note(note);
    return 0;
}

static void on_step(void *user, int step, int steps, const train_stats *s) {
    run *r = user;
    r->m.step = step;   // saved with a checkpoint (nn_step), so --resume starts after it
    errno = 0;
    if (!r->out_errno) progress_step(&r->pg, step, s->seconds, train_stats_loss(s), train_stats_acc(s));
    note_stdout(r);
    if (r->o.checkpoint_every > 0 && step % r->o.checkpoint_every == 0 && step < steps)
        save_model(r, r->ckpt);
}

// --- checks before any work

// --- outputs: every file this run writes, checked before any work (tools/outfile.h)

typedef struct outputs {
    outfile f[9];
    int n;
    char lock[3][4096 + 8];
} outputs;

static void add_output(outputs *s, const char *what, const char *path, outfile_kind kind) {
    s->f[s->n++] = (outfile){what, path, kind};
}

static void list_outputs(const run *r, outputs *s) {
    const opts *o = &r->o;
    s->n = 0;
    add_output(s, "--out", o->out, OUTFILE_H5);
    if (o->save_best) add_output(s, "the latest checkpoint (--save-best)", r->ckpt, OUTFILE_H5);
    add_output(s, "the chart (beside --out)", r->png, OUTFILE_PNG);
    if (o->log) add_output(s, "--log", o->log, OUTFILE_CSV);
    if (o->cache) add_output(s, "--cache", o->cache, OUTFILE_CACHE);
    if (o->cache && (o->val || o->val_split > 0))
        add_output(s, "--cache (its validation part)", r->cache_val, OUTFILE_CACHE);
    const char *locked[3] = {o->out, o->save_best ? r->ckpt : NULL, o->log};
    static const char *const what[3] = {"the lock of --out", "the lock of the latest checkpoint",
                                        "the lock of --log"};
    for (int k = 0; k < 3; k++) {
        if (!locked[k]) continue;
        outfile_lock_name(locked[k], s->lock[k], sizeof s->lock[k]);
        add_output(s, what[k], s->lock[k], OUTFILE_LOCK);
    }
}

// Folders first (a mistyped one is the likeliest mistake), then no two outputs the same file,
// none inside the data, each absent or nn's own, a real write beside --out, and the locks.
static int check_outputs(run *r, char *err) {
    const opts *o = &r->o;
    outputs s;
    list_outputs(r, &s);
    for (int i = 0; i < s.n; i++)
        if (outfile_check_folder(s.f[i].what, s.f[i].path, err)) return -1;
    if (outfile_check_distinct(s.f, s.n, err) || outfile_check_outside(s.f, s.n, "--data", o->data, err) ||
        outfile_check_outside(s.f, s.n, "--val", o->val, err))
        return -1;
    for (int i = 0; i < s.n; i++)
        if (outfile_check_kind(s.f[i].what, s.f[i].path, s.f[i].kind, err)) return -1;
    if (outfile_probe_write("--out", o->out, err)) return -1;
    const char *locked[3] = {o->out, o->save_best ? r->ckpt : NULL, o->log};
    static const char *const what[3] = {"--out", "the latest checkpoint (--save-best)", "--log"};
    for (int k = 0; k < 3; k++)
        if (locked[k] && outfile_lock_take(&r->locks[r->nlocks++], what[k], locked[k], err)) return -1;
    return 0;
}

static void release_locks(run *r) {
    for (int k = 0; k < r->nlocks; k++) outfile_lock_release(&r->locks[k]);
    r->nlocks = 0;
}

// The space a checkpoint of m takes: weights and Adam's two moments, plus HDF5's headers,
// about 8 KiB a layer.
static double checkpoint_bytes(const model *m) { return 12.0 * (double)m->nparams + 8192.0 * (m->nlayers + 1); }

// FILE.h5 -> FILE<suffix>; other names get the suffix appended.
static void sibling(const char *path, const char *suffix, char *out, size_t len) {
    size_t n = strlen(path);
    if (n > 3 && !strcmp(path + n - 3, ".h5")) n -= 3;
    snprintf(out, len, "%.*s%s", (int)n, path, suffix);
}

static int parse_args(int argc, char **argv, opts *o) {
    *o = (opts){.device = "auto", .out = "trained_model.h5", .lr = -1, .epochs = -1,
                .batch = 32, .augment = 1, .seed = 1, .synthetic_n = -1, .val_split = -1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        int iv;
        double dv;
#define STR(name, field) if (!strcmp(a, name)) { if (!(v = cli_value("train", argc, argv, &i))) return 2; o->field = v; continue; }
        STR("--data", data) STR("--val", val) STR("--model", cfg) STR("--out", out)
        STR("--resume", resume) STR("--log", log) STR("--cache", cache) STR("--device", device)
        STR("--write-synthetic", write_synthetic) STR("--weights", weights)
#undef STR
#define INT(name, field, lo, hi) if (!strcmp(a, name)) { if (!(v = cli_value("train", argc, argv, &i)) || cli_int("train", name, v, lo, hi, &iv)) return 2; o->field = iv; continue; }
        INT("--epochs", epochs, 1, MAX_EPOCHS) INT("--batch", batch, 1, 65536)
        INT("--threads", threads, 1, 4096) INT("--checkpoint-every", checkpoint_every, 1, 1 << 30)
        INT("--synthetic", synthetic_n, 8, 1 << 20)
#undef INT
        if (!strcmp(a, "--seed")) {
            if (!(v = cli_value("train", argc, argv, &i)) || cli_float("train", a, v, 0, 9e15, &dv)) return 2;
            o->seed = (long)dv;
        } else if (!strcmp(a, "--lr")) {
            if (!(v = cli_value("train", argc, argv, &i)) || cli_float("train", a, v, 1e-12, 10, &o->lr)) return 2;
        } else if (!strcmp(a, "--val-split")) {
            if (!(v = cli_value("train", argc, argv, &i)) || cli_float("train", a, v, 0, 0.99, &dv)) return 2;
            if (dv <= 0) return fprintf(stderr, "nn train: --val-split must be above 0 (got %s)\n", v), 2;
            o->val_split = dv;
        } else if (!strcmp(a, "--save-best")) o->save_best = 1;
        else if (!strcmp(a, "--no-augment")) o->augment = 0;
        else if (!strcmp(a, "--profile")) o->profile = 1;
        else if (!strcmp(a, "--labels-from-names")) o->flat = 1;
        else if (cli_is_help(a)) return usage(stdout), -1;
        else return cli_unknown("train", a);
    }
    if (strcmp(o->device, "auto") && strcmp(o->device, "cpu") && strcmp(o->device, "cuda"))
        return fprintf(stderr, "nn train: --device '%s' is not one of auto, cpu, cuda\n", o->device), 2;
    if (o->val && o->val_split > 0)
        return fprintf(stderr, "nn train: give --val DIR or --val-split F, not both\n"), 2;
    if (!o->data && (o->val || o->val_split > 0 || o->cache))
        return fprintf(stderr, "nn train: --val, --val-split and --cache need --data DIR\n"), 2;
    if (o->data && (o->synthetic_n > 0 || o->write_synthetic))
        return fprintf(stderr, "nn train: --synthetic and --write-synthetic are for runs without --data\n"), 2;
    if (o->save_best && o->data && !o->val && o->val_split <= 0)
        return fprintf(stderr, "nn train: --save-best needs a validation set: add --val DIR or --val-split F\n"), 2;
    if (o->weights && o->resume)
        return fprintf(stderr, "nn train: give --resume FILE.h5 (a whole run) or --weights FILE.h5 (weights "
                       "only), not both\n"), 2;
    if (o->epochs < 0) o->epochs = o->data ? 25 : 5;
    if (o->synthetic_n < 0) o->synthetic_n = 400;
    return 0;
}

// --- data (tools/train_data.c)

static int load_data(run *r, train_data *D, char *err) {
    const opts *o = &r->o;
    train_data_opts d = {o->data, o->val, o->cache, o->write_synthetic, o->val_split > 0 ? o->val_split : 0,
                         o->synthetic_n, o->flat, o->threads};
    return train_data_load(D, &d, &r->m, say_to, r, err);
}

// --- the model

static int build_model(run *r, char *err) {
    const opts *o = &r->o;
    model *m = &r->m;
    if (!o->resume) {
        if (o->cfg) {
            r->model_name = o->cfg;
            if (model_load_cfg(m, o->cfg, err)) return -1;
        } else if (access("models/catdog.cfg", R_OK) == 0) {
            r->model_name = "models/catdog.cfg (the article's CNN)";
            if (model_load_cfg(m, "models/catdog.cfg", err)) return -1;
        } else {
            r->model_name = "the article's CNN (built in: models/catdog.cfg is not here)";
            if (model_parse_cfg(m, builtin_cfg, "built-in catdog.cfg", err)) return -1;
        }
        if (setup_check_classifier(m, o->cfg ? o->cfg : "models/catdog.cfg", err)) return -1;
        model_init_weights(m, (uint64_t)o->seed);
        if (o->weights) {   // the cfg's layers with these weights (tools/setup.h)
            static char named[8400];
            if (model_load_weights_h5(m, o->weights, o->cfg ? o->cfg : "models/catdog.cfg", err) ||
                setup_check_loaded(m, o->weights, err))
                return -1;
            snprintf(named, sizeof named, "%s, weights from %s", r->model_name, o->weights);
            r->model_name = named;
        }
        m->epoch = 0;
        m->opt = adam_defaults();
        return 0;
    }
    r->model_name = o->resume;
    if (model_load_h5(m, o->resume, err)) return -1;
    if (setup_check_loaded(m, o->resume, err)) return -1;   // NaN or infinite weights: refused
    int first;   // a mid-epoch checkpoint's batch size, checked before the data are read
    if (setup_resume_step(m, o->resume, o->batch, 0, &first, err)) return -1;
    if (o->cfg) {   // the cfg given must describe the same network as the file
        model c;
        if (model_load_cfg(&c, o->cfg, err)) return -1;
        int same = setup_same_architecture(m, o->resume, &c, o->cfg, err);
        model_free(&c);
        if (same) return -1;
    }
    return 0;
}

// The dataset's class names go into the model (saved in the .h5); a resumed model must have
// been trained on the same ones.
static int set_classes(run *r, const train_data *D, char *err) {
    model *m = &r->m;
    if (m->nclasses == D->nclasses) {
        int same = 1;
        for (int k = 0; same && k < D->nclasses; k++) same = !strcmp(m->classes[k], D->classes[k]);
        if (!same) {
            char mine[NN_ERRLEN / 4], theirs[NN_ERRLEN / 4];
            return nn_fail(err, "%s was trained on the classes (%s) but %s has (%s)", r->o.resume,
                           setup_join_names(mine, sizeof mine, m->classes, m->nclasses),
                           D->synthetic ? "the synthetic set" : r->o.data,
                           setup_join_names(theirs, sizeof theirs, D->classes, D->nclasses));
        }
        return 0;
    }
    for (int i = 0; i < m->nclasses; i++) nn_free(m->classes[i]);
    m->nclasses = D->nclasses;
    for (int k = 0; k < D->nclasses; k++) m->classes[k] = nn_strdup(D->classes[k]);
    return 0;
}

// --- the loop

typedef struct best { int epoch; double value; const char *by; } best;

// The file this run last saved at path is still there: a folder deleted or moved during
// training takes the model with it, and "Model saved to" would name a file that is gone.
static int still_saved(const char *path, const saved_file *f, int epoch) {
    struct stat st;
    if (f->set && stat(path, &st) == 0 && st.st_dev == f->dev && st.st_ino == f->ino) return 1;
    fprintf(stderr, "nn train: %s (saved at epoch %d) is no longer there: its folder was deleted or "
            "moved during training, so this run's model is lost\n", path, epoch);
    return 0;
}

// saved: the file --out was last written to (NULL when it was not), after epoch saved_epoch.
// Returns -1 when a saved model has gone missing since.
static int report_end(run *r, const epoch_row *rows, int nrows, const best *b, const char *saved,
                      int saved_epoch, double t_start) {
    char t[32];
    int rc = 0;
    if (saved && !still_saved(saved, &r->out_file, saved_epoch)) saved = NULL, rc = -1;
    if (saved && r->o.save_best && !still_saved(r->ckpt, &r->ckpt_file, r->m.epoch)) saved = NULL, rc = -1;
    if (nrows > 0 && b->epoch > 0) {
        const epoch_row *e = &rows[b->epoch - rows[0].epoch];
        if (!strcmp(b->by, "val_loss"))
            say(r, "Best epoch: %d by val_loss (val_loss %.4f, val_accuracy %.4f).", b->epoch, e->val_loss, e->val_acc);
        else
            say(r, "Best epoch: %d by loss (no validation set; loss %.4f, accuracy %.4f).", b->epoch, e->loss, e->accuracy);
    }
    if (saved && r->o.save_best)
        say(r, "Best model (epoch %d) saved to %s; the latest (epoch %d) to %s, to --resume from.",
            saved_epoch, saved, r->m.epoch, r->ckpt);
    else if (saved)
        say(r, "Model saved to %s (epoch %d).", saved, saved_epoch);
    if (nrows > 0 && !r->chart_failed) say(r, "Chart of loss and accuracy: %s", r->png);
    if (r->o.log && !r->log_failed) say(r, "Metrics log: %s", r->o.log);
    progress_fmt_time(nn_now() - t_start, t, sizeof t);
    say(r, "Total time: %s.", t);
    return rc;
}

// --- the extras: the CSV log and the chart. A failure is said once, training goes on (the
// model matters more), and the status is 1 at the end.

static void log_failed(run *r, int e) {
    if (r->log_failed) return;
    fprintf(stderr, "nn train: --log %s: writing failed (%s): the log is incomplete; training goes "
            "on\n", r->o.log, strerror(e));
    r->log_failed = 1;
}

// Opens --log (a resumed run first takes the earlier epochs from it, so that chart and log
// cover the whole run: rows, nrows) and writes the header and those rows.
static int open_log(run *r, epoch_row *rows, int *nrows, int start, char *err) {
    const opts *o = &r->o;
    if (!o->log) return 0;
    if (o->resume) *nrows = NN_MAX(0, history_read(o->log, start, rows, o->epochs));
    if (!(r->log = fopen(o->log, "w"))) return nn_fail(err, "--log %s: cannot write (%s)", o->log, strerror(errno));
    int bad = history_write_header(r->log);
    for (int i = 0; i < *nrows && !bad; i++) bad = history_write_row(r->log, &rows[i]);
    if (bad) return nn_fail(err, "--log %s: writing failed (%s)", o->log, strerror(errno));
    return 0;
}

static void log_row(run *r, const epoch_row *row) {
    if (!r->log || r->log_failed) return;
    if (history_write_row(r->log, row)) log_failed(r, errno);
}

// Closes --log, checking that the file is still there (an open file whose folder was deleted
// takes every row without complaint) and that the close wrote everything.
static void close_log(run *r) {
    if (!r->log) return;
    struct stat st;
    if (!r->log_failed && fstat(fileno(r->log), &st) == 0 && st.st_nlink == 0) {
        fprintf(stderr, "nn train: --log %s was deleted (or its folder) during training: the log is "
                "lost\n", r->o.log);
        r->log_failed = 1;
    }
    errno = 0;
    if (fclose(r->log) != 0) log_failed(r, errno ? errno : EIO);
    r->log = NULL;
}

static void draw_chart(run *r, const epoch_row *rows, int nrows) {
    char err[NN_ERRLEN];
    if (chart_write_png(r->png, rows, nrows, r->pre[0] ? "synthetic set" : r->o.data, err) == 0) return;
    if (!r->chart_failed) fprintf(stderr, "nn train: the chart: %s; training goes on\n", err);
    r->chart_failed = 1;
}

// Standard output failed: one line on stderr says so and where the work is (the lines on
// stdout that would have said it went nowhere).
static void report_stdout_failure(const run *r) {
    char where[8400];
    if (r->last_good[0])
        snprintf(where, sizeof where, "the checkpoint is %s (%ld steps, %d whole epoch%s): continue "
                 "with --resume %s", r->last_good, r->last_good_t, r->last_good_epoch,
                 r->last_good_epoch == 1 ? "" : "s", r->last_good);
    else
        snprintf(where, sizeof where, "nothing was saved (no step had run)");
    fprintf(stderr, "nn train: writing to standard output failed (%s): training stopped as for "
            "Ctrl-C; %s\n", strerror(r->out_errno), where);
}

static int train_loop(run *r, train_data *D, double t_start) {
    opts *o = &r->o;
    model *m = &r->m;
    char err[NN_ERRLEN];
    int threads = o->threads > 0 ? o->threads : omp_get_max_threads();
    int workers = r->ctx.backend == NN_CUDA ? threads : NN_MAX(1, threads / 2);
    loader *L = loader_create(&D->train, o->batch, 1, o->augment, (uint64_t)o->seed ^ 0x9E3779B97F4A7C15ull, workers);
    int steps = loader_steps(L);
    // Adam's settings: --lr, else those saved in a resumed file, else Keras's defaults.
    adam_cfg opt = m->opt.lr > 0 ? m->opt : adam_defaults();
    if (o->lr > 0) opt.lr = (float)o->lr;
    if (o->resume && o->lr > 0 && m->opt.lr > 0 && fabsf(m->opt.lr - opt.lr) > 1e-12f)
        say(r, "Learning rate %g from --lr (%s was trained with %g).", opt.lr, o->resume, m->opt.lr);
    m->opt = opt;

    // Where a resumed run stands: the step its file records, or (a file that does not record
    // it) t steps done of which epoch * steps in whole epochs.
    int start = m->epoch, first = 0;
    if (o->resume) {
        if (setup_resume_step(m, o->resume, o->batch, steps, &first, err)) {   // on every rank alike
            if (r->td.d.rank == 0) fprintf(stderr, "nn train: %s\n", err);
            loader_free(L);
            return 1;
        }
        char line[NN_ERRLEN + 1024];
        setup_resume_line(m, o->resume, o->batch, steps, first, line, sizeof line);
        say(r, "%s", line);
    }
    m->batch = o->batch;   // from here on every checkpoint records this run's batch size

    // History: a resumed run takes the earlier epochs from its log, so chart and log are whole.
    epoch_row *rows = nn_calloc((size_t)(o->epochs + 1) * sizeof *rows, "history");
    int nrows = 0;
    int bad = r->td.d.rank == 0 && open_log(r, rows, &nrows, start, err);   // rank 0 writes it
    if (dist_any(&r->td.d, bad)) {
        if (bad) fprintf(stderr, "nn train: %s\n", err);
        close_log(r);
        nn_free(rows), loader_free(L);
        return 1;
    }
    best b = {0, INFINITY, D->have_val ? "val_loss" : "loss"};
    for (int i = 0; i < nrows; i++) {
        double v = D->have_val ? rows[i].val_loss : rows[i].loss;
        if (v < b.value) b.value = v, b.epoch = rows[i].epoch;
    }
    if (o->save_best)
        say(r, "Saving the best epoch (by val_loss) to %s and the latest to %s.", o->out, r->ckpt);

    struct sigaction sa = {0};
    sa.sa_handler = on_sigint;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    if (r->td.d.mpi) {   // mpirun's Ctrl-C (even with -np 1)
        sa.sa_handler = on_sigterm;
        sigaction(SIGTERM, &sa, NULL);
    }
    if (r->td.d.size > 1) {
        dist_watchdog_start(&r->td.d);
        dist_set_note("nn train: mpirun ended the job while rank 0 waited for the others (another rank "
                      "failed or was killed) before anything was saved");
        int lo, hi;
        dist_share(o->batch, 0, r->td.d.size, &lo, &hi);
        say(r, "Data-parallel over %d ranks: each trains on %d%s of the %d images of every step; "
            "gradients summed by %s before Adam.", r->td.d.size, hi - lo, o->batch % r->td.d.size ? "-" : "",
            o->batch, r->ctx.backend == NN_CUDA ? "NCCL" : "MPI");
        if (o->batch % r->td.d.size) say(r, "(%d or %d: --batch %d does not divide by %d.)", hi - lo,
                                         hi - lo + 1, o->batch, r->td.d.size);
    }

    int rc = 0, trained_steps = 0;
    const char *saved = NULL;
    int saved_epoch = 0;
    prof_train_totals prof = {0};   // for --profile
    for (int e = start; e < o->epochs; e++) {
        say(r, "Epoch %d/%d", e + 1, o->epochs);
        int f = e == start ? first : 0;
        progress_start(&r->pg, stdout, r->pre, steps, f);
        if (train_dist_plain_output(&r->td)) r->pg.tty = 0, r->pg.last_draw = 0;
        train_stats ts;
        int reached = train_epoch(m, &r->ctx, L, o->batch, e, f, &opt, &stop_flag, on_step, r, &ts);
        trained_steps += ts.steps;
        if (ts.nonfinite_step) {   // diverged: stop, and leave what is on disk as it is
            if (r->pg.tty) putchar('\n');
            char kept[4300 + 64];
            if (r->last_good[0])
                snprintf(kept, sizeof kept, "%s keeps the last good checkpoint (%ld steps in, %d whole "
                         "epoch%s)", r->last_good, r->last_good_t, r->last_good_epoch,
                         r->last_good_epoch == 1 ? "" : "s");
            else
                snprintf(kept, sizeof kept, "nothing was saved%s", o->resume ? " (the --resume file is untouched)" : "");
            float l = ts.nonfinite_loss;
            if (r->td.d.rank == 0)   // every rank stopped at the same step (the global loss)
                fprintf(stderr, "nn train: the loss became %s at epoch %d, step %d/%d: training "
                        "diverged and was stopped; %s. Try a lower --lr (this run: %g).\n",
                        isnan(l) ? "NaN" : l > 0 ? "+inf" : "-inf", e + 1, ts.nonfinite_step, steps,
                        kept, (double)opt.lr);
            rc = 1;
            break;
        }
        prof.steps += ts.steps, prof.seconds += ts.seconds, prof.wait_s += ts.wait_s;
        if (reached < steps) {   // interrupted in mid-epoch: m->epoch still counts whole epochs
            if (r->pg.tty) putchar('\n');
            if (trained_steps == 0) {
                say(r, "Interrupted before the first step: nothing saved.");
                rc = 130;
                break;
            }
            if (!o->save_best) saved = NULL;   // --out now holds this checkpoint, said below
            m->step = reached;
            if (save_model(r, r->ckpt) == 0) {
                say(r, "Interrupted at epoch %d, step %d/%d: checkpoint saved to %s.", e + 1, reached, steps, r->ckpt);
                say(r, "Continue with the same options plus --resume %s", r->ckpt);
            }
            rc = 130;
            break;
        }
        m->epoch = e + 1;
        m->step = 0;   // an epoch end: a checkpoint from here resumes at any batch size
        epoch_row row = {e + 1, train_stats_loss(&ts), train_stats_acc(&ts), NAN, NAN,
                         ts.seconds > 0 ? ts.seen / ts.seconds : 0, ts.seconds};
        char extra[256] = "";
        if (D->have_val) {
            eval_result vr;
            train_evaluate(m, &r->ctx, &D->val, o->batch, &vr);
            row.val_loss = vr.loss, row.val_acc = vr.accuracy;
            row.seconds += vr.seconds;
            snprintf(extra, sizeof extra, " - val_loss: %.4f - val_accuracy: %.4f", vr.loss, vr.accuracy);
        }
        snprintf(extra + strlen(extra), sizeof extra - strlen(extra), " - %.0f img/s", row.images_per_s);
        errno = 0;
        if (!r->out_errno) progress_end(&r->pg, steps, ts.seconds, row.loss, row.accuracy, extra);
        note_stdout(r);
        rows[nrows++] = row;
        log_row(r, &row);

        double v = D->have_val ? row.val_loss : row.loss;
        int improved = v < b.value;
        if (o->save_best) {
            if (improved) {
                if (isfinite(b.value))
                    say(r, "Epoch %d: val_loss improved from %.5f to %.5f, saving model to %s", e + 1, b.value, v, o->out);
                else
                    say(r, "Epoch %d: val_loss is %.5f, saving model to %s", e + 1, v, o->out);
                if (save_model(r, o->out) == 0) saved = o->out, saved_epoch = e + 1;
            } else {
                say(r, "Epoch %d: val_loss did not improve from %.5f", e + 1, b.value);
            }
            save_model(r, r->ckpt);
        } else if (save_model(r, o->out) == 0) {
            saved = o->out, saved_epoch = e + 1;
        }
        if (improved) b.value = v, b.epoch = e + 1;
        if (r->td.d.rank == 0) draw_chart(r, rows, nrows);
        if (dist_any(&r->td.d, stop_flag)) {   // the ranks stop together
            say(r, "Interrupted after epoch %d.", e + 1);
            rc = 130;
            break;
        }
    }
    close_log(r);
    if (r->td.d.rank == 0 && (rc == 0 || nrows > 0) && report_end(r, rows, nrows, &b, saved, saved_epoch, t_start) && rc == 0)
        rc = 1;
    if ((r->saves_failed || r->chart_failed || r->log_failed) && rc == 0) rc = 1;
    if (o->profile && rc == 0 && profile_train_report(m, &r->ctx, o->batch, &D->train, o->augment,
                                                      workers, &prof, stdout, err))
        fprintf(stderr, "nn train: %s\n", err);
    if (r->out_errno) {
        report_stdout_failure(r);
        if (rc == 0 || rc == 130) rc = 1;   // not a Ctrl-C: an output error
    }
    nn_free(rows);
    loader_free(L);
    return rc;
}

int cmd_train(int argc, char **argv) {
    double t_start = nn_now();
    run *r = nn_calloc(sizeof *r, "run");
    char err[NN_ERRLEN];
    if (train_dist_begin(&r->td, err)) {   // mpirun started nn, but this build cannot join it
        if (!train_dist_quiet()) fprintf(stderr, "nn train: %s\n", err);
        nn_free(r);
        return 1;
    }
    int rc = parse_args(argc, argv, &r->o);
    if (rc) {
        train_dist_agree(&r->td, rc > 0, 1);
        train_dist_end(&r->td);
        nn_free(r);
        return rc < 0 ? 0 : rc;
    }
    opts *o = &r->o;
    const dist *ranks = &r->td.d;
    r->pre = o->data ? "" : "[synthetic] ";
    train_data D = {0};
    rc = 1;
    // A closed pipe on stdout (nn train | head) is an error that write() reports, not a
    // signal that kills the run before it saves (note_stdout).
    struct sigaction ign = {0};
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    sigaction(SIGPIPE, &ign, NULL);
    if (o->save_best) sibling(o->out, ".last.h5", r->ckpt, sizeof r->ckpt);
    else snprintf(r->ckpt, sizeof r->ckpt, "%s", o->out);
    sibling(o->out, ".png", r->png, sizeof r->png);
    if (o->cache) snprintf(r->cache_val, sizeof r->cache_val, "%s.val", o->cache);
    if (ranks->size > 1 && o->profile) {
        nn_fail(err, "--profile times the steps of one process: run it without mpirun");
        goto fail;
    }
    if (o->batch < ranks->size) {
        nn_fail(err, "--batch %d is smaller than the %d ranks: each rank needs an image a step", o->batch, ranks->size);
        goto fail;
    }
    if (ranks->rank == 0 && check_outputs(r, err)) goto fail;   // rank 0 writes them all
    const char *dirs[2] = {o->data, o->val};
    for (int k = 0; k < 2; k++) {   // before anything slow: a mistyped folder fails at once
        struct stat st;
        if (!dirs[k]) continue;
        if (stat(dirs[k], &st) != 0) {
            nn_fail(err, "%s: no such folder", dirs[k]);
            goto fail;
        }
        if (!S_ISDIR(st.st_mode)) {
            nn_fail(err, "%s: not a folder", dirs[k]);
            goto fail;
        }
    }
    if (o->resume && access(o->resume, R_OK) != 0) {
        nn_fail(err, "--resume %s: %s", o->resume, strerror(errno));
        goto fail;
    }
    // The model first: the synthetic set has as many classes as it tells apart.
    if (build_model(r, err)) goto fail;
    if (!o->data && model_classes(&r->m) > SYNTHETIC_MAX_CLASSES) {
        nn_fail(err, "%s: a softmax over %d classes, but the synthetic set has 2 or %d: give --data "
                "DIR with one subfolder per class", r->model_name, model_classes(&r->m), SYNTHETIC_MAX_CLASSES);
        goto fail;
    }
    if (!o->data && model_classes(&r->m) == 2)
        say(r, "no --data given: training on a synthetic two-class set (stripes: horizontal vs vertical, "
               "%d + %d images). Use --data DIR for your photos (nn train --help).",
            o->synthetic_n, NN_MAX(o->synthetic_n / 4, 2));
    else if (!o->data)
        say(r, "no --data given: training on a synthetic %d-class set (stripes: diagonal, horizontal, "
               "vertical; %d + %d images). Use --data DIR for your photos (nn train --help).",
            model_classes(&r->m), o->synthetic_n, NN_MAX(o->synthetic_n / 4, model_classes(&r->m)));
    int device = 0;   // one GPU a rank: its local rank picks it
    if (ranks->size > 1) {
        if (o->threads == 0) o->threads = train_dist_threads(&r->td);
        if (strcmp(o->device, "cpu") && (device = train_dist_device(&r->td, err)) == -1) goto fail;
        device = NN_MAX(device, 0);
    }
    if (setup_device_at(o->device, device, o->threads, &r->ctx, stdout, r->pre, err)) goto fail;
    r->ctx.seed = (uint64_t)o->seed;
    r->ctx.dist = ranks;
    if (ranks->rank == 0 && outfile_check_space("--out", o->out, checkpoint_bytes(&r->m),
                                                "a checkpoint of this model", err))
        goto fail;
    if (r->m.epoch >= o->epochs) {
        say(r, "%s already has %d epochs (--epochs %d): nothing to train; raise --epochs to go on.",
            o->resume, r->m.epoch, o->epochs);
        rc = 0;
        goto out;
    }
    say(r, "Model: %s, %zu parameters%s", r->model_name, r->m.nparams,
        o->resume || o->weights ? "" : ", fresh weights");
    // With --cache, rank 0 decodes and writes the file before the other ranks read it.
    int cache_first = o->cache && ranks->size > 1;
    if (cache_first && ranks->rank != 0 && train_dist_agree(&r->td, 0, 0)) goto out;
    if (load_data(r, &D, err) || set_classes(r, &D, err)) goto fail;
    if (cache_first && ranks->rank == 0 && train_dist_agree(&r->td, 0, 0)) goto out;
    // Every rank is ready: from here on they run the same steps, and decide only on values all
    // of them hold (a failure below is every rank's, and rank 0 alone says it).
    if (train_dist_agree(&r->td, 0, 1)) goto out;
    if (dist_any(ranks, r->ctx.backend == NN_CUDA) && dist_any(ranks, r->ctx.backend != NN_CUDA)) {
        nn_fail(err, "some ranks have a GPU and others none: give --device cuda or --device cpu");
        goto fail;
    }
    train_dist_share_model(&r->td, &r->m);
    int lo, hi;
    dist_share(o->batch, ranks->size - 1, ranks->size, &lo, &hi);   // the largest part
    if (model_to(&r->m, &r->ctx, hi - lo, err)) goto fail;
    rc = train_loop(r, &D, t_start);
    goto out;
fail:
    if (!r->td.settled || ranks->rank == 0) fprintf(stderr, "nn train: %s\n", err);
out:
    if (!r->td.settled && train_dist_agree(&r->td, rc != 0, 1) && rc == 0) rc = 1;
    release_locks(r);
    train_data_free(&D);
    model_free(&r->m);
    nn_ctx_free(&r->ctx);
    train_dist_end(&r->td);
    nn_free(r);
    return rc;
}
