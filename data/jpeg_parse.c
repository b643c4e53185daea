// jpeg_parse.c: the reading side of jpeg_fast.c: markers up to the first scan, Huffman and
// quantisation tables, and the entropy-coded data copied without its stuffed bytes. Strict on
// purpose: whatever libjpeg would treat specially (a progressive or arithmetic frame, an Adobe
// marker, sampling other than the fast path's, a table it would refuse, an RST out of order, no
// EOI) makes the fast path step aside, so that libjpeg decodes the file and says what is wrong.
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "data.h"
#include "jpeg_fast.h"

static int be16(const uint8_t *p) { return p[0] << 8 | p[1]; }

static int huff_build(huff *t, const uint8_t counts[16], const uint8_t *vals, int n, int is_dc) {
    memset(t->fast, 0, sizeof t->fast);
    memset(t->longer, 0, sizeof t->longer);
    memcpy(t->val, vals, (size_t)n);
    t->nval = n;
    if (is_dc)
        for (int i = 0; i < n; i++)
            if (vals[i] > 15) return -1;   // as libjpeg
    int k = 0, code = 0;
    for (int l = 1; l <= 16; l++) {
        t->delta[l] = k - code;
        for (int i = 0; i < counts[l - 1]; i++, k++, code++) {
            if (code >= 1 << l) return -1;   // (checked before the code is used as an index)
            int rs = vals[k], r = is_dc ? 0 : rs >> 4, s = rs & 15;
            if (l > FAST_BITS) {   // (codes only grow: long_base is set by now)
                int first = (code << (16 - l)) - t->long_base, m = 1 << (16 - l);
                if (first + m > LONG_CODES) t->long_n = 0;   // too spread out: decode_long's loop
                for (int j = 0; j < m && t->long_n; j++) t->longer[first + j] = (uint16_t)(l << 8 | rs);
                continue;
            }
            if (!is_dc && s == 0 && r != 15) r = EOB_ADV;   // (a run with no value ends the block)
            uint16_t e = (uint16_t)(r << 10 | s << 6 | (l + s));
            int first = code << (FAST_BITS - l), m = 1 << (FAST_BITS - l);
            for (int j = 0; j < m; j++) t->fast[first + j] = e;
        }
        if (code >= 1 << l) return -1;   // libjpeg: codes overflow / all-ones code
        t->maxcode[l] = (uint32_t)code << (16 - l);
        if (l == FAST_BITS) t->long_base = (int)t->maxcode[l], t->long_n = LONG_CODES;
        code <<= 1;
    }
    t->maxcode[17] = UINT32_MAX;
    return 0;
}

static int parse_dht(jf *j, huff_cache *cache, const uint8_t *p, int len) {
    while (len > 0) {
        if (len < 17) return -1;
        int tc = p[0] >> 4, th = p[0] & 15, n = 0;
        for (int i = 0; i < 16; i++) n += p[1 + i];
        if ((tc != 0 && tc != 1) || th > 3 || n > 256 || len < 17 + n) return -1;
        huff_slot *h = &cache->slot[tc][th];
        if (h->keylen != 17 + n || memcmp(h->key, p, (size_t)(17 + n))) {
            h->keylen = 0;
            if (huff_build(&h->h, p + 1, p + 17, n, tc == 0) < 0) return -1;
            memcpy(h->key, p, (size_t)(17 + n));
            h->keylen = 17 + n;
        }
        if (tc) j->ac[th] = &h->h;
        else j->dc[th] = &h->h;
        p += 17 + n, len -= 17 + n;
    }
    return 0;
}

static int parse_dqt(jf *j, const uint8_t *p, int len) {
    while (len > 0) {
        int pq = p[0] >> 4, tq = p[0] & 15, size = pq ? 129 : 65;
        if (pq > 1 || tq > 3 || len < size) return -1;
        for (int k = 0; k < 64; k++) j->q[tq][k] = (int16_t)(pq ? be16(p + 1 + 2 * k) : p[1 + k]);
        for (int k = 64; k < 128; k++) j->q[tq][k] = 1;
        if (pq)
            for (int k = 0; k < 64; k++)
                if (be16(p + 1 + 2 * k) > 8192) return -1;   // see decode_block's limit
        j->qdef[tq] = 1;
        p += size, len -= size;
    }
    return 0;
}

static int parse_sof(jf *j, const uint8_t *p, int len) {
    if (j->nc || len < 6) return -1;
    j->h = be16(p + 1), j->w = be16(p + 3), j->nc = p[5];
    if (p[0] != 8 || j->h == 0 || j->w == 0 || (j->nc != 1 && j->nc != 3) || len != 6 + 3 * j->nc)
        return -1;
    if ((uint64_t)j->w * j->h > IMAGE_MAX_PIXELS) return -1;
    for (int i = 0; i < j->nc; i++) {
        comp *c = &j->c[i];
        c->id = p[6 + 3 * i], c->h = p[7 + 3 * i] >> 4, c->v = p[7 + 3 * i] & 15, c->tq = p[8 + 3 * i];
        if (c->tq > 3 || c->h < 1 || c->h > 4 || c->v < 1 || c->v > 4) return -1;   // as libjpeg
        for (int k = 0; k < i; k++)
            if (j->c[k].id == c->id) return -1;
    }
    if (j->nc == 1) {
        j->c[0].h = j->c[0].v = 1;   // a lone component's scan is one block per MCU anyway
    } else {
        int h = j->c[0].h, v = j->c[0].v;
        if (!((h == 1 && v == 1) || (h == 2 && v == 1) || (h == 2 && v == 2))) return -1;
        for (int i = 1; i < 3; i++)
            if (j->c[i].h != 1 || j->c[i].v != 1) return -1;
        // libjpeg guesses RGB from these ids when there is no JFIF marker: leave that to it.
        if (j->c[0].id == 'R' && j->c[1].id == 'G' && j->c[2].id == 'B') return -1;
    }
    j->hmax = j->c[0].h, j->vmax = j->c[0].v;
    return 0;
}

static int parse_sos(jf *j, const uint8_t *p, int len) {
    if (!j->nc || len < 1 || p[0] != j->nc || len != 4 + 2 * j->nc) return -1;
    for (int i = 0; i < j->nc; i++) {
        comp *c = &j->c[i];
        if (p[1 + 2 * i] != c->id) return -1;   // components in frame order only
        c->td = p[2 + 2 * i] >> 4, c->ta = p[2 + 2 * i] & 15;
        if (c->td > 3 || c->ta > 3 || !j->dc[c->td] || !j->ac[c->ta] ||
            !j->qdef[c->tq])
            return -1;
    }
    const uint8_t *s = p + 1 + 2 * j->nc;
    if (s[0] != 0 || s[1] != 63 || s[2] != 0) return -1;   // sequential: Ss 0, Se 63, Ah Al 0
    return 0;
}

const uint8_t *jpeg_fast_headers(jf *j, huff_cache *cache) {
    const uint8_t *p = j->buf + 2;   // after SOI
    for (;;) {
        if (j->end - p < 4 || p[0] != 0xFF) return NULL;
        while (p < j->end && *p == 0xFF) p++;   // fill bytes
        if (j->end - p < 3) return NULL;
        int m = *p++, len = be16(p);
        if (len < 2 || len > j->end - p) return NULL;
        const uint8_t *body = p + 2;
        int n = len - 2;
        p += len;
        if ((m >= 0xE0 && m <= 0xEF) || m == 0xFE) {
            if (m == 0xEE) return NULL;   // Adobe: colour transform flags, leave to libjpeg
            continue;
        }
        switch (m) {
        case 0xC0:
        case 0xC1:
            if (parse_sof(j, body, n) < 0) return NULL;
            break;
        case 0xC4:
            if (parse_dht(j, cache, body, n) < 0) return NULL;
            break;
        case 0xDB:
            if (parse_dqt(j, body, n) < 0) return NULL;
            break;
        case 0xDD:
            if (n != 2) return NULL;
            j->restart = be16(body);
            break;
        case 0xDA:
            return parse_sos(j, body, n) < 0 ? NULL : p;
        default:   // progressive, arithmetic, lossless, DNL, a second SOI...
            return NULL;
        }
    }
}

int jpeg_fast_unstuff(jf *j, const uint8_t *s, int nseg) {
    size_t cap = (size_t)(j->end - s) + PAD;
    j->data = malloc(cap);
    j->seg = malloc(sizeof *j->seg * ((size_t)nseg + 1));
    if (!j->data || !j->seg) return -1;
    uint8_t *o = j->data;
    int seg = 0;
    j->seg[0] = 0;
    for (;;) {
#ifdef __SSE2__
        // 16 bytes at a time up to the next FF (o has PAD bytes of room beyond the data)
        const __m128i all = _mm_set1_epi8((char)0xFF);
        int found = 0;
        while (j->end - s >= 16) {
            __m128i x = _mm_loadu_si128((const __m128i *)s);
            int m = _mm_movemask_epi8(_mm_cmpeq_epi8(x, all));
            _mm_storeu_si128((__m128i *)o, x);
            if (m) {
                int z = __builtin_ctz((unsigned)m);
                o += z, s += z, found = 1;
                break;
            }
            o += 16, s += 16;
        }
        if (!found)
#endif
            while (s < j->end && *s != 0xFF) *o++ = *s++;
        if (j->end - s < 2) return -1;   // no end marker: libjpeg says whether it is truncated
        s++;
        if (*s == 0) {   // a stuffed FF, the common case
            *o++ = 0xFF;
            s++;
            continue;
        }
        while (s < j->end && *s == 0xFF) s++;   // libjpeg reads FF FF... 00 as one FF too
        if (s >= j->end) return -1;
        int m = *s++;
        if (m == 0) {
            *o++ = 0xFF;
        } else if (m >= 0xD0 && m <= 0xD7) {
            if (m != 0xD0 + (seg & 7) || ++seg >= nseg) return -1;
            j->seg[seg] = (size_t)(o - j->data);
        } else if (m == 0xD9 && seg == nseg - 1) {
            j->seg[nseg] = (size_t)(o - j->data);
            memset(o, 0, PAD);
            return 0;
        } else {
            return -1;
        }
    }
}
