// jpeg_fast.c: a JPEG straight to the NEAREST-resized RGB that libjpeg-turbo + Pillow give,
// computing only the pixels the resize reads. A 400x350 photo resized to 64x64 reads 4,096 of
// its 140,000 pixels, but libjpeg must still run its inverse DCT, upsampling and colour
// conversion over whole rows. Here the Huffman data is decoded (a table-driven decoder of our
// own, one MCU row at a time) and, while that row is in cache, each sampled pixel is evaluated
// exactly as libjpeg-turbo's code would have produced it:
//  - the ISLOW inverse DCT (jidctint.c, and its AVX2 twin, which libjpeg-turbo keeps
//    bit-identical) is linear with one rounding after each pass, so output (r, c) of a block is
//    descale(sum_v A[c][v] * descale(sum_u A[r][u] * coef[u][v], 11), 18), where A is the
//    integer matrix of its 1-D butterfly (built below by running the butterfly on impulses);
//  - chroma is upsampled with libjpeg's "fancy" triangle filters (jdsample.c h2v1/h2v2), edge
//    rows and columns replicated as jdmainct.c and the upsamplers do;
//  - YCbCr -> RGB with jdcolor.c's fixed-point tables.
// Only the common layout is taken: baseline or extended sequential Huffman, 8 bits, one scan
// with every component, gray or YCbCr with Y 1x1, 2x1 or 2x2 and chroma 1x1, no Adobe marker,
// the data ending in EOI. Everything else, and every irregularity (a bad Huffman code, a
// marker in the wrong place, data too short, a value outside the range where libjpeg's C and
// SIMD code agree), returns 0 and image.c decodes the file with libjpeg (jpeg.c) instead, so
// errors, warnings and odd files keep libjpeg's behaviour (the markers and tables are read by
// jpeg_parse.c). tests/test_data_jpeg_fast.c holds this path equal to libjpeg's on every shared
// photo and on generated files of every layout.
#include "jpeg.h"

#include <pthread.h>
#include <stddef.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <stdlib.h>
#include <string.h>

#include "data.h"
#include "jpeg_fast.h"

#if defined(__has_feature)
#define NN_CLANG_ASAN __has_feature(address_sanitizer)
#else
#define NN_CLANG_ASAN 0
#endif

// Zig-zag position -> natural (row-major) position; from 64 on, the block's dump slot.
static uint8_t zigzag[128] = {
    0,  1,  8,  16, 9,  2,  3,  10, 17, 24, 32, 25, 18, 11, 4,  5,  12, 19, 26, 33, 40, 48,
    41, 34, 27, 20, 13, 6,  7,  14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23,
    30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63};

static pthread_key_t cache_key;

// ---------------------------------------------------------------------------------------------
// The ISLOW 1-D butterfly (jidctint.c, CONST_BITS 13) as a matrix: A[x][k] is output x's weight
// of input frequency k before the pass's descale. Built once from impulses.

static int32_t A[8][8];
static int16_t A16[8][8];   // the same, as int16 (every weight is below 2^14 in magnitude)
#ifdef __SSE2__
// pass1_k[r][t]: (A[r][2t], A[r][2t+1]) in every 32-bit lane, for _mm_madd_epi16 over row pairs;
// pass2_k[h][t]: (A[c][2t], A[c][2t+1]) for the columns c = 4h .. 4h+3, one per lane.
static __m128i pass1_k[8][4], pass2_k[2][4];
#endif
static int cr_r[256], cb_b[256], cr_g[256], cb_g[256];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void butterfly(const int64_t in[8], int64_t out[8]) {
    int64_t z1, z2, z3, z4, z5, t0, t1, t2, t3, t10, t11, t12, t13;
    z2 = in[2], z3 = in[6];
    z1 = (z2 + z3) * 4433;
    t2 = z1 + z3 * -15137;
    t3 = z1 + z2 * 6270;
    t0 = (in[0] + in[4]) * 8192;
    t1 = (in[0] - in[4]) * 8192;
    t10 = t0 + t3, t13 = t0 - t3, t11 = t1 + t2, t12 = t1 - t2;
    t0 = in[7], t1 = in[5], t2 = in[3], t3 = in[1];
    z1 = t0 + t3, z2 = t1 + t2, z3 = t0 + t2, z4 = t1 + t3;
    z5 = (z3 + z4) * 9633;
    t0 *= 2446, t1 *= 16819, t2 *= 25172, t3 *= 12299;
    z1 *= -7373, z2 *= -20995, z3 *= -16069, z4 *= -3196;
    z3 += z5, z4 += z5;
    t0 += z1 + z3, t1 += z2 + z4, t2 += z2 + z3, t3 += z1 + z4;
    out[0] = t10 + t3, out[7] = t10 - t3, out[1] = t11 + t2, out[6] = t11 - t2;
    out[2] = t12 + t1, out[5] = t12 - t1, out[3] = t13 + t0, out[4] = t13 - t0;
}

static void build_tables(void) {
    pthread_key_create(&cache_key, free);
    for (int k = 64; k < 128; k++) zigzag[k] = 64;
    for (int k = 0; k < 8; k++) {
        int64_t in[8] = {0}, out[8];
        in[k] = 1;
        butterfly(in, out);
        for (int x = 0; x < 8; x++) A[x][k] = (int32_t)out[x];
    }
    for (int r = 0; r < 8; r++)
        for (int k = 0; k < 8; k++) A16[r][k] = (int16_t)A[r][k];
#ifdef __SSE2__
    for (int r = 0; r < 8; r++)
        for (int t = 0; t < 4; t++)
            pass1_k[r][t] = _mm_set1_epi32((int32_t)((uint16_t)A16[r][2 * t] | (uint32_t)(uint16_t)A16[r][2 * t + 1] << 16));
    for (int h = 0; h < 2; h++)
        for (int t = 0; t < 4; t++) {
            int16_t w[8];
            for (int c = 0; c < 4; c++) w[2 * c] = A16[4 * h + c][2 * t], w[2 * c + 1] = A16[4 * h + c][2 * t + 1];
            pass2_k[h][t] = _mm_loadu_si128((const __m128i *)w);
        }
#endif
    // jdcolor.c build_ycc_rgb_table (SCALEBITS 16)
    for (int i = 0; i < 256; i++) {
        int64_t x = i - 128;
        cr_r[i] = (int)((91881 * x + 32768) >> 16);   // FIX(1.40200)
        cb_b[i] = (int)((116130 * x + 32768) >> 16);  // FIX(1.77200)
        cr_g[i] = (int)(-46802 * x);                  // -FIX(0.71414)
        cb_g[i] = (int)(-22554 * x + 32768);          // -FIX(0.34414), plus ONE_HALF
    }
}

// ---------------------------------------------------------------------------------------------
// Huffman decoding: a 64-bit buffer, valid bits at the top, refilled 8 bytes at a time (the
// data has no stuffing left, so a refill is a load and a shift). The decoder's state lives in
// locals (buf, n, p) so that the compiler keeps it in registers.

static inline uint64_t load_be64(const uint8_t *p) {
    uint64_t x;
    memcpy(&x, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return x;
#else
    return __builtin_bswap64(x);
#endif
}

// afterwards 56 <= n <= 63: room for any symbol with its extra bits (16 + 15)
#define REFILL() (buf |= load_be64(p) >> n, p += (63 - n) >> 3, n |= 56)
#define DROP(l) (buf <<= (l), n -= (l))

// A code longer than FAST_BITS at the top of buf: (length << 8) | symbol, or -1 for a bad code.
static int decode_long(const huff *t, uint64_t buf) {
    uint32_t code = (uint32_t)(buf >> 48);
    if (code - (uint32_t)t->long_base < (uint32_t)t->long_n) {
        int e = t->longer[code - (uint32_t)t->long_base];
        return e ? e : -1;
    }
    int l = FAST_BITS + 1;
    while (code >= t->maxcode[l]) l++;
    int idx = l > 16 ? -1 : (int)(code >> (16 - l)) + t->delta[l];
    return idx < 0 || idx >= t->nval ? -1 : l << 8 | t->val[idx];
}

typedef struct state {
    uint64_t buf;
    int n;
    const uint8_t *p;
} state;

// The s extra bits that end `used` bits at the top of buf, as a signed value: read as unsigned,
// less 2^s - 1 when their top bit is 0 (JPEG's EXTEND). s may be 0.
static const uint32_t ext_mask[16] = {0, 1, 3, 7, 15, 31, 63, 127, 255, 511, 1023, 2047,
                                      4095, 8191, 16383, 32767};
static inline int extra(uint64_t buf, int used, int s) {
    uint32_t m = ext_mask[s], x = (uint32_t)(buf >> (64 - used)) & m;
    return (int)x - (x <= m >> 1 ? (int)m : 0);
}

// One symbol from its table entry e: the zero run and the value, dequantised, into the block.
// `acc` collects value + 8192 for every value, so that one test per block finds any outside
// [-8192, 8191].
#define SYMBOL(e)                                             \
    do {                                                      \
        int x_ = extra(buf, (e) & 63, ((e) >> 6) & 15);       \
        DROP((e) & 63);                                       \
        k += (e) >> 10;                                       \
        int v_ = x_ * q[k];                                   \
        acc |= (unsigned)(v_ + 8192);                         \
        blk[zigzag[k]] = (int16_t)v_;                         \
        k++;                                                  \
    } while (0)

// One block into blk (zeroed, natural order, dequantised). Dequantised values beyond 8192
// could overflow the 16-bit arithmetic of libjpeg-turbo's SIMD IDCT where its C twin would
// not, so they are refused (-1), as are bad codes and values past the block's end (where
// libjpeg would put them at position 63).
static inline __attribute__((always_inline)) int
decode_block(const huff *dc, const huff *ac, const int16_t *q, int16_t *blk, int *pred, state *st) {
    uint64_t buf = st->buf;
    int n = st->n;
    const uint8_t *p = st->p;
    REFILL();
    unsigned e = dc->fast[buf >> (64 - FAST_BITS)];
    if (__builtin_expect(!e, 0)) {
        int f = decode_long(dc, buf);
        if (f < 0) return -1;
        e = (unsigned)((f & 15) << 6 | ((f >> 8) + (f & 15)));
    }
    *pred += extra(buf, e & 63, (e >> 6) & 15);
    DROP(e & 63);
    int v = *pred * q[0];
    unsigned acc = (unsigned)(v + 8192) | (unsigned)(*pred + 32768) >> 2;
    blk[0] = (int16_t)v;
    int k = 1;
    while (k < 64) {
        // After a refill, two symbols from the table (at most 2 x (12 + 15) bits) fit.
        REFILL();
        e = ac->fast[buf >> (64 - FAST_BITS)];
        if (__builtin_expect(!e, 0)) goto slow;
        SYMBOL(e);
        if (k >= 64) break;
        e = ac->fast[buf >> (64 - FAST_BITS)];
        if (__builtin_expect(!e, 0)) {
            REFILL();
            goto slow;
        }
        SYMBOL(e);
        continue;
    slow:;   // a code longer than FAST_BITS
        int f = decode_long(ac, buf);
        if (f < 0) return -1;
        int r = (f >> 4) & 15, s = f & 15, l = f >> 8;
        if (s == 0 && r != 15) r = EOB_ADV;
        e = (unsigned)(r << 10 | s << 6 | (l + s));
        SYMBOL(e);
    }
    st->buf = buf, st->n = n, st->p = p;
    return acc > 16383 || blk[64] ? -1 : 0;
}

// ---------------------------------------------------------------------------------------------
// Sampling: what is read of one component, rows x cols (sorted, distinct) into out (nr, nc).

typedef struct plane {
    const int *rows, *cols;
    int nr, nc;
    int *cstart;     // (bw + 1): cols[cstart[bc] .. cstart[bc + 1]) lie in block column bc
    int next;        // the first row not sampled yet
    uint8_t *out;
} plane;

// Rows rows[i0..i1) and columns cols[j0..j1) of one dequantised block (all in this block).
// Photos' blocks are mostly low frequencies (chroma blocks rarely have a coefficient past row or
// column 3), and a block of DC alone is flat: those take shortcuts.
static unsigned sample_block(const int16_t *blk, const plane *P, int i0, int i1, int j0, int j1) {
    unsigned bad = 0;
#ifdef __SSE2__
    const __m128i *b = (const __m128i *)blk;
    __m128i r0 = _mm_loadu_si128(b), r1 = _mm_loadu_si128(b + 1), r2 = _mm_loadu_si128(b + 2),
            r3 = _mm_loadu_si128(b + 3), r4 = _mm_loadu_si128(b + 4), r5 = _mm_loadu_si128(b + 5),
            r6 = _mm_loadu_si128(b + 6), r7 = _mm_loadu_si128(b + 7);
    const __m128i zero = _mm_setzero_si128();
    __m128i top = _mm_or_si128(_mm_or_si128(r0, r1), _mm_or_si128(r2, r3));
    __m128i bottom = _mm_or_si128(_mm_or_si128(r4, r5), _mm_or_si128(r6, r7));
    __m128i ac = _mm_or_si128(_mm_or_si128(bottom, _mm_or_si128(r1, _mm_or_si128(r2, r3))),
                              _mm_and_si128(r0, _mm_set_epi16(-1, -1, -1, -1, -1, -1, -1, 0)));
    int dc_only = _mm_movemask_epi8(_mm_cmpeq_epi16(ac, zero)) == 0xFFFF;
    // rows and columns 4..7 all zero: half the work
    int low = _mm_movemask_epi8(_mm_cmpeq_epi16(_mm_or_si128(bottom, _mm_srli_si128(top, 8)), zero)) == 0xFFFF;
#else
    int dc_only = 1;
    for (int x = 1; x < 64; x++) dc_only &= blk[x] == 0;
#endif
    if (dc_only) {   // both passes reduce to (dc + 4) >> 3 (CONST_BITS 13, PASS1_BITS 2)
        int dc = blk[0];
        bad |= (unsigned)(dc + 4095) > 8190u;   // (keeps pass 1's output within 2^14 as below)
        int v = ((dc + 4) >> 3) + 128;
        uint8_t px = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        for (int i = i0; i < i1; i++) memset(P->out + (size_t)i * P->nc + j0, px, (size_t)(j1 - j0));
        return bad;
    }
#ifdef __SSE2__
    __m128i l01 = _mm_unpacklo_epi16(r0, r1), h01 = _mm_unpackhi_epi16(r0, r1);
    __m128i l23 = _mm_unpacklo_epi16(r2, r3), h23 = _mm_unpackhi_epi16(r2, r3);
    __m128i l45 = _mm_unpacklo_epi16(r4, r5), h45 = _mm_unpackhi_epi16(r4, r5);
    __m128i l67 = _mm_unpacklo_epi16(r6, r7), h67 = _mm_unpackhi_epi16(r6, r7);
    const __m128i round1 = _mm_set1_epi32(1 << 10), round2 = _mm_set1_epi32(1 << 17);
    const __m128i lim1 = _mm_set1_epi16(16383), lim2 = _mm_set1_epi16(511);
    int full = j1 - j0 >= 3;   // then all 8 columns at once, else column by column
    for (int i = i0; i < i1; i++) {
        const __m128i *k1 = pass1_k[P->rows[i] & 7];
        __m128i lo = _mm_add_epi32(_mm_madd_epi16(l01, k1[0]), _mm_madd_epi16(l23, k1[1]));
        __m128i hi = zero;
        if (!low) {
            lo = _mm_add_epi32(lo, _mm_add_epi32(_mm_madd_epi16(l45, k1[2]), _mm_madd_epi16(l67, k1[3])));
            hi = _mm_add_epi32(_mm_add_epi32(_mm_madd_epi16(h01, k1[0]), _mm_madd_epi16(h23, k1[1])),
                               _mm_add_epi32(_mm_madd_epi16(h45, k1[2]), _mm_madd_epi16(h67, k1[3])));
            hi = _mm_srai_epi32(_mm_add_epi32(hi, round1), 11);
        }
        lo = _mm_srai_epi32(_mm_add_epi32(lo, round1), 11);
        __m128i ws = _mm_packs_epi32(lo, hi);
        // libjpeg-turbo's SIMD pass 2 adds pairs of these in 16 bits: keep them below 2^14
        bad |= (unsigned)_mm_movemask_epi8(_mm_or_si128(
            _mm_cmpgt_epi16(ws, lim1), _mm_cmpgt_epi16(_mm_sub_epi16(zero, lim1), ws)));
        uint8_t *o = P->out + (size_t)i * P->nc;
        if (full) {
            __m128i p01 = _mm_shuffle_epi32(ws, 0x00), p23 = _mm_shuffle_epi32(ws, 0x55);
            __m128i a = _mm_add_epi32(_mm_madd_epi16(p01, pass2_k[0][0]), _mm_madd_epi16(p23, pass2_k[0][1]));
            __m128i c = _mm_add_epi32(_mm_madd_epi16(p01, pass2_k[1][0]), _mm_madd_epi16(p23, pass2_k[1][1]));
            if (!low) {
                __m128i p45 = _mm_shuffle_epi32(ws, 0xAA), p67 = _mm_shuffle_epi32(ws, 0xFF);
                a = _mm_add_epi32(a, _mm_add_epi32(_mm_madd_epi16(p45, pass2_k[0][2]), _mm_madd_epi16(p67, pass2_k[0][3])));
                c = _mm_add_epi32(c, _mm_add_epi32(_mm_madd_epi16(p45, pass2_k[1][2]), _mm_madd_epi16(p67, pass2_k[1][3])));
            }
            a = _mm_srai_epi32(_mm_add_epi32(a, round2), 18);
            c = _mm_srai_epi32(_mm_add_epi32(c, round2), 18);
            __m128i v = _mm_packs_epi32(a, c);
            // C wraps beyond +-512 (its range_limit table) where SIMD saturates: not here
            bad |= (unsigned)_mm_movemask_epi8(_mm_or_si128(
                _mm_cmpgt_epi16(v, lim2), _mm_cmpgt_epi16(_mm_sub_epi16(zero, lim2), _mm_add_epi16(v, _mm_set1_epi16(1)))));
            v = _mm_add_epi16(v, _mm_set1_epi16(128));
            uint8_t px[16];
            _mm_storeu_si128((__m128i *)px, _mm_packus_epi16(v, v));
            for (int jj = j0; jj < j1; jj++) o[jj] = px[P->cols[jj] & 7];
            continue;
        }
        for (int jj = j0; jj < j1; jj++) {
            __m128i m = _mm_madd_epi16(ws, _mm_loadu_si128((const __m128i *)A16[P->cols[jj] & 7]));
            m = _mm_add_epi32(m, _mm_shuffle_epi32(m, 0x4E));
            m = _mm_add_epi32(m, _mm_shuffle_epi32(m, 0xB1));
            int v = (_mm_cvtsi128_si32(m) + (1 << 17)) >> 18;
            bad |= (unsigned)(v + 512) > 1023u;
            v += 128;
            o[jj] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
#else
    for (int i = i0; i < i1; i++) {
        const int32_t *a = A[P->rows[i] & 7];
        int32_t ws[8];
        for (int x = 0; x < 8; x++) {
            int32_t t = 0;
            for (int u = 0; u < 8; u++) t += a[u] * blk[u * 8 + x];
            ws[x] = (t + (1 << 10)) >> 11;
            bad |= (unsigned)(ws[x] + 16383) > 32766u;
        }
        uint8_t *o = P->out + (size_t)i * P->nc;
        for (int jj = j0; jj < j1; jj++) {
            const int32_t *c = A[P->cols[jj] & 7];
            int32_t t = 0;
            for (int x = 0; x < 8; x++) t += c[x] * ws[x];
            int v = (t + (1 << 17)) >> 18;
            bad |= (unsigned)(v + 512) > 1023u;
            v += 128;
            o[jj] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
#endif
    return bad;
}

// The rows of P that lie in the MCU row just decoded into c->row (block rows by0 .. by0+v-1).
static int sample_mcu_row(const comp *c, plane *P, int by0) {
    unsigned bad = 0;
    for (int y = 0; y < c->v; y++) {
        int i0 = P->next, i1 = i0;
        while (i1 < P->nr && P->rows[i1] >> 3 == by0 + y) i1++;
        if (i1 == i0) continue;
        for (int bc = 0; bc < c->bw; bc++) {
            int j0 = P->cstart[bc], j1 = P->cstart[bc + 1];
            if (j1 > j0) bad |= sample_block(c->row + ((size_t)y * c->bw + bc) * BLOCK, P, i0, i1, j0, j1);
        }
        P->next = i1;
    }
    return bad ? -1 : 0;
}

// The whole scan, one MCU row at a time: decoded into each component's row buffer, then
// sampled while it is in cache. Built twice on x86-64, the copy for CPUs with BMI2 picked at
// load time: its one-instruction variable shifts take a tenth off the Huffman decoding.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__SANITIZE_ADDRESS__) && !NN_CLANG_ASAN
__attribute__((target_clones("bmi2", "default")))   // (an ifunc: kept out of sanitizer builds)
#endif
static int decode_scan(jf *j, const uint8_t *scan, plane *planes) {
    int mcux = j->c[0].bw / j->c[0].h, mcuy = j->c[0].bh / j->c[0].v;
    long mcus = (long)mcux * mcuy, ri = j->restart;
    int nseg = ri ? (int)((mcus + ri - 1) / ri) : 1;
    if (jpeg_fast_unstuff(j, scan, nseg) < 0) return -1;
    size_t rowsize[3];
    for (int i = 0; i < j->nc; i++) {
        comp *c = &j->c[i];
        rowsize[i] = (size_t)c->v * c->bw * BLOCK * sizeof(int16_t);
        c->row = malloc(rowsize[i]);
        if (!c->row) return -1;
    }
    // The blocks of one MCU in order, with their tables and where they go in the row buffers.
    struct {
        const huff *dc, *ac;
        const int16_t *q;
        size_t at, step;   // block offset in c->row for MCU 0, and from one MCU to the next
        int comp;
    } sched[6];
    int nb = 0;
    for (int i = 0; i < j->nc; i++) {
        comp *c = &j->c[i];
        for (int y = 0; y < c->v; y++)
            for (int x = 0; x < c->h; x++, nb++) {
                sched[nb].dc = j->dc[c->td], sched[nb].ac = j->ac[c->ta], sched[nb].q = j->q[c->tq];
                sched[nb].at = ((size_t)y * c->bw + (size_t)x) * BLOCK;
                sched[nb].step = (size_t)c->h * BLOCK;
                sched[nb].comp = i;
            }
    }
    state st = {0, 0, j->data};
    int pred[3] = {0, 0, 0}, seg = 0;
    long left = ri;
    for (int my = 0; my < mcuy; my++) {
        for (int i = 0; i < j->nc; i++) memset(j->c[i].row, 0, rowsize[i]);
        for (int mx = 0; mx < mcux; mx++) {
            if (ri && left == 0) {   // restart: the interval must have ended within its data
                size_t used = (size_t)(st.p - j->data) * 8 - (size_t)st.n;
                if (used > j->seg[seg + 1] * 8) return -1;
                seg++;
                st = (state){0, 0, j->data + j->seg[seg]};
                pred[0] = pred[1] = pred[2] = 0;
                left = ri;
            }
            left--;
            for (int i = 0; i < nb; i++) {
                int16_t *blk = j->c[sched[i].comp].row + sched[i].at + (size_t)mx * sched[i].step;
                if (decode_block(sched[i].dc, sched[i].ac, sched[i].q, blk, &pred[sched[i].comp], &st) < 0)
                    return -1;
            }
            // Past the interval's data (libjpeg would meet a marker there): stop before the
            // loads leave the PAD bytes behind the last interval.
            if (st.p > j->data + j->seg[seg + 1] + 8) return -1;
        }
        for (int i = 0; i < j->nc; i++)
            if (sample_mcu_row(&j->c[i], &planes[i], my * j->c[i].v) < 0) return -1;
    }
    size_t used = (size_t)(st.p - j->data) * 8 - (size_t)st.n;
    return used > j->seg[nseg] * 8 ? -1 : 0;
}

// ---------------------------------------------------------------------------------------------
// Which samples are needed, and the final pixels.

// The distinct values of a sorted table (ignoring -1) into list, and idx[i] = position in list.
static int distinct(const int *tab, int n, int *list, int *idx) {
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (tab[i] < 0) {
            idx[i] = -1;
            continue;
        }
        if (m == 0 || list[m - 1] != tab[i]) list[m++] = tab[i];
        idx[i] = m - 1;
    }
    return m;
}

// From marks over 0..n-1, the marked values in order into list, and map[v] = their position.
static int marked(const uint8_t *mark, int n, int *list, int *map) {
    int m = 0;
    for (int v = 0; v < n; v++)
        if (mark[v]) map[v] = m, list[m++] = v;
    return m;
}

static void plane_cols(plane *P, int bw, int *cstart) {
    P->cstart = cstart;
    int jj = 0;
    for (int bc = 0; bc <= bw; bc++) {
        while (jj < P->nc && P->cols[jj] >> 3 < bc) jj++;
        cstart[bc] = jj;
    }
}

static inline uint8_t clamp255(int v) { return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v); }

// YCbCr -> RGB for one pixel, jdcolor.c's ycc_rgb_convert.
static inline void ycc_rgb(int y, int u, int v, uint8_t *o) {
    o[0] = clamp255(y + cr_r[v]);
    o[1] = clamp255(y + ((cb_g[u] + cr_g[v]) >> 16));
    o[2] = clamp255(y + cb_b[u]);
}

static int run(jf *j, const uint8_t *scan, int dh, int dw, uint8_t *dst) {
    int mcux = j->nc == 1 ? (j->w + 7) / 8 : (j->w + 8 * j->hmax - 1) / (8 * j->hmax);
    int mcuy = j->nc == 1 ? (j->h + 7) / 8 : (j->h + 8 * j->vmax - 1) / (8 * j->vmax);
    for (int i = 0; i < j->nc; i++) {
        comp *c = &j->c[i];
        c->bw = mcux * c->h, c->bh = mcuy * c->v;
        c->pw = (j->w * c->h + j->hmax - 1) / j->hmax;
        c->ph = (j->h * c->v + j->vmax - 1) / j->vmax;
    }
    const comp *Cc = &j->c[1];
    int cw = j->nc == 3 ? Cc->pw : 1, ch = j->nc == 3 ? Cc->ph : 1;
    // libjpeg's fancy upsampling needs a chroma row wider than 2 samples (else it replicates)
    if (j->nc == 3 && j->hmax == 2 && cw <= 2) return -1;
    size_t ints = 5 * ((size_t)dh + dw) + 3 * (size_t)dw + (size_t)cw + ch + 3 * ((size_t)j->c[0].bw + 1);
    int *mem = malloc(ints * sizeof(int));
    uint8_t *marks = malloc((size_t)cw + ch), *Y = malloc((size_t)dh * dw + 1);
    uint8_t *cb = malloc(4 * (size_t)dh * dw + 1), *cr = malloc(4 * (size_t)dh * dw + 1);
    int rc = -1;
    if (!mem || !marks || !Y || !cb || !cr) goto out;
    int *ytab = mem, *xtab = ytab + dh, *ry = xtab + dw, *rx = ry + dh, *iy = rx + dw, *ix = iy + dh;
    int *crow = ix + dw, *ccol = crow + 2 * dh, *rmap = ccol + 2 * dw, *cmap = rmap + ch;
    int *cstart = cmap + cw, *xa = cstart + 3 * (j->c[0].bw + 1), *xb = xa + dw, *rnd = xb + dw;
    image_nearest_table(j->h, dh, ytab);
    image_nearest_table(j->w, dw, xtab);
    plane planes[3] = {{0}};
    int ny = distinct(ytab, dh, ry, iy), nx = distinct(xtab, dw, rx, ix);
    planes[0] = (plane){ry, rx, ny, nx, NULL, 0, Y};
    plane_cols(&planes[0], j->c[0].bw, cstart);
    int ncc = 0;
    if (j->nc == 3) {
        memset(marks, 0, (size_t)cw + ch);
        uint8_t *mr = marks, *mc = marks + ch;
        for (int i = 0; i < ny; i++) {
            int sy = ry[i], cy = j->vmax == 2 ? sy >> 1 : sy, nb = sy & 1 ? cy + 1 : cy - 1;
            mr[cy] = 1;
            if (j->vmax == 2) mr[nb < 0 ? 0 : nb > ch - 1 ? ch - 1 : nb] = 1;
        }
        for (int i = 0; i < nx; i++) {
            int sx = rx[i], cx = j->hmax == 2 ? sx >> 1 : sx, nb = sx & 1 ? cx + 1 : cx - 1;
            mc[cx] = 1;
            if (j->hmax == 2 && nb >= 0 && nb < cw) mc[nb] = 1;
        }
        int ncr = marked(mr, ch, crow, rmap);
        ncc = marked(mc, cw, ccol, cmap);
        planes[1] = (plane){crow, ccol, ncr, ncc, NULL, 0, cb};
        planes[2] = (plane){crow, ccol, ncr, ncc, NULL, 0, cr};
        plane_cols(&planes[1], Cc->bw, cstart + j->c[0].bw + 1);
        plane_cols(&planes[2], Cc->bw, cstart + 2 * (j->c[0].bw + 1));
    }
    if (decode_scan(j, scan, planes) < 0) goto out;
    // Per output column: the chroma samples it mixes (xa nearest, xb next nearest, the same at
    // an edge, where libjpeg's filters reduce to that) and the filter's rounding. jdsample.c's
    // h2v2 filter is (3 * (3a + b) + (3c + d) + 8 - odd) >> 4 over the 2x2 samples; h2v1's
    // (3a + c + 1 + odd) >> 2, which with xa == xb and no rounding is also 1x1's plain copy.
    for (int ox = 0; ox < dw && j->nc == 3; ox++) {
        int sx = xtab[ox];
        if (sx < 0) {   // (a black pixel: never read)
            xa[ox] = xb[ox] = rnd[ox] = 0;
            continue;
        }
        if (j->hmax == 1) {
            xa[ox] = xb[ox] = cmap[sx], rnd[ox] = 0;
            continue;
        }
        int cx = sx >> 1, odd = sx & 1, nb = odd ? cx + 1 : cx - 1;
        int edge = odd ? cx == cw - 1 : cx == 0;
        xa[ox] = cmap[cx], xb[ox] = edge ? cmap[cx] : cmap[nb];
        rnd[ox] = j->vmax == 2 ? 8 - odd : 1 + odd;
    }
    for (int oy = 0; oy < dh; oy++) {
        uint8_t *o = dst + (size_t)oy * dw * 3;
        if (iy[oy] < 0) {   // Pillow's fill (see image_nearest_table)
            memset(o, 0, (size_t)dw * 3);
            continue;
        }
        const uint8_t *yrow = Y + (size_t)iy[oy] * nx;
        if (j->nc == 1) {
            for (int ox = 0; ox < dw; ox++, o += 3) o[0] = o[1] = o[2] = ix[ox] < 0 ? 0 : yrow[ix[ox]];
            continue;
        }
        int sy = ytab[oy], a = sy, b = sy;
        if (j->vmax == 2) {
            a = sy >> 1, b = sy & 1 ? a + 1 : a - 1;
            b = b < 0 ? 0 : b > ch - 1 ? ch - 1 : b;
        }
        const uint8_t *cba = cb + (size_t)rmap[a] * ncc, *cbb = cb + (size_t)rmap[b] * ncc;
        const uint8_t *cra = cr + (size_t)rmap[a] * ncc, *crb = cr + (size_t)rmap[b] * ncc;
        for (int ox = 0; ox < dw; ox++, o += 3) {
            if (ix[ox] < 0) {
                o[0] = o[1] = o[2] = 0;
                continue;
            }
            int pa = xa[ox], pb = xb[ox], r = rnd[ox], u, v;
            if (j->vmax == 2) {
                u = (3 * (3 * cba[pa] + cbb[pa]) + 3 * cba[pb] + cbb[pb] + r) >> 4;
                v = (3 * (3 * cra[pa] + crb[pa]) + 3 * cra[pb] + crb[pb] + r) >> 4;
            } else {
                u = (3 * cba[pa] + cba[pb] + r) >> 2;
                v = (3 * cra[pa] + cra[pb] + r) >> 2;
            }
            ycc_rgb(yrow[ix[ox]], u, v, o);
        }
    }
    rc = 0;
out:
    free(Y), free(cb), free(cr), free(mem), free(marks);
    return rc;
}

// ---------------------------------------------------------------------------------------------

int jpeg_fast_resize(const uint8_t *buf, size_t len, int dh, int dw, uint8_t *dst) {
    if (!jpeg_is_jpeg(buf, len) || dh < 1 || dw < 1) return 0;
    pthread_once(&tables_once, build_tables);
    huff_cache *cache = pthread_getspecific(cache_key);
    if (!cache) {
        cache = calloc(1, sizeof *cache);
        if (!cache || pthread_setspecific(cache_key, cache)) {
            free(cache);
            return 0;
        }
    }
    jf *j = calloc(1, sizeof *j);
    if (!j) return 0;
    j->buf = buf, j->end = buf + len;
    const uint8_t *scan = jpeg_fast_headers(j, cache);
    // Worth it when the resize reads at most a third of the pixels: beyond that, libjpeg's SIMD
    // full decode is quicker than evaluating pixel by pixel (bench/RESULTS.md, "Data pipeline").
    int ok = scan && j->w <= IMAGE_MAX_SIDE && j->h <= IMAGE_MAX_SIDE &&
             (uint64_t)dh * dw * 3 <= (uint64_t)j->w * j->h && run(j, scan, dh, dw, dst) == 0;
    for (int i = 0; i < 3; i++) free(j->c[i].row);
    free(j->data), free(j->seg), free(j);
    return ok;
}
