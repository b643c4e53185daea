// test.h: a tiny test harness. Each test binary runs its test functions with RUN(fn); each
// prints one line, "PASS name", "FAIL name: file:line: what" or "SKIP name: why", which
// tests/run.sh counts into the closing "N passed, N failed" line. A test that skips says why
// (no GPU, no shared photos), so a skip is never silent.
#ifndef NN_TEST_H
#define NN_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int t_cur_failed, t_cur_skipped, t_npass, t_nfail, t_nskip;
static char t_msg[1024];

#define FAILF(...)                                                                          \
    do {                                                                                    \
        if (!t_cur_failed) {                                                                \
            int o_ = snprintf(t_msg, sizeof t_msg, "%s:%d: ", __FILE__, __LINE__);          \
            snprintf(t_msg + o_, sizeof t_msg - o_, __VA_ARGS__);                           \
        }                                                                                   \
        t_cur_failed = 1;                                                                   \
    } while (0)

#define CHECK(cond)                                  \
    do {                                             \
        if (!(cond)) FAILF("check failed: %s", #cond); \
    } while (0)

#define CHECK_MSG(cond, ...)              \
    do {                                  \
        if (!(cond)) FAILF(__VA_ARGS__);  \
    } while (0)

// |got - want| <= atol + rtol * |want|, NaN never passes.
#define CHECK_CLOSE(got, want, atol, rtol)                                                   \
    do {                                                                                     \
        double g_ = (got), w_ = (want);                                                      \
        if (!(fabs(g_ - w_) <= (atol) + (rtol) * fabs(w_)))                                  \
            FAILF("%s = %.9g, expected %s = %.9g (atol %g, rtol %g)", #got, g_, #want, w_,   \
                  (double)(atol), (double)(rtol));                                           \
    } while (0)

#define SKIP(...)                                            \
    do {                                                     \
        snprintf(t_msg, sizeof t_msg, __VA_ARGS__);          \
        t_cur_skipped = 1;                                   \
        return;                                              \
    } while (0)

#define RUN(fn)                                                       \
    do {                                                              \
        t_cur_failed = t_cur_skipped = 0;                             \
        t_msg[0] = 0;                                                 \
        fn();                                                         \
        if (t_cur_failed) {                                           \
            printf("FAIL %s: %s\n", #fn, t_msg);                      \
            t_nfail++;                                                \
        } else if (t_cur_skipped) {                                   \
            printf("SKIP %s: %s\n", #fn, t_msg);                      \
            t_nskip++;                                                \
        } else {                                                      \
            printf("PASS %s\n", #fn);                                 \
            t_npass++;                                                \
        }                                                             \
        fflush(stdout);                                               \
    } while (0)

#define TEST_EXIT() return t_nfail ? 1 : 0

// Compares two float arrays with atol + rtol*|ref|; reports the worst element.
static inline int check_arrays(const char *what, const float *got, const float *ref, size_t n,
                               double atol, double rtol) {
    size_t worst = 0;
    double worst_excess = -1;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - ref[i]), lim = atol + rtol * fabs((double)ref[i]);
        double excess = (d != d) ? 1e30 : d - lim;
        if (excess > worst_excess) {
            worst_excess = excess;
            worst = i;
        }
    }
    if (worst_excess > 0) {
        FAILF("%s: element %zu of %zu is %.9g, expected %.9g (atol %g, rtol %g)", what, worst, n,
              got[worst], ref[worst], atol, rtol);
        return 0;
    }
    return 1;
}

#endif
