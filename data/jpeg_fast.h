// jpeg_fast.h: what jpeg_fast.c (decoding, sampling) and jpeg_parse.c (markers, tables, the
// entropy-coded data's unstuffing) share. Internal to those two files; the rest of the project
// calls jpeg_fast_resize (jpeg.h).
#ifndef NN_DATA_JPEG_FAST_H
#define NN_DATA_JPEG_FAST_H

#include <stddef.h>
#include <stdint.h>

// FAST_BITS: the Huffman lookup tables' width. PAD: zero bytes behind the data, more than one
// MCU can read (6 blocks x 64 symbols x 31 bits). EOB_ADV: an end of block's step, which moves
// k past any real position. BLOCK: a block's stride in int16, slot 64 the dump for whatever
// lands past the block's end (a nonzero value there is refused afterwards).
enum { FAST_BITS = 12, LONG_CODES = 1024, PAD = 2048, EOB_ADV = 63, BLOCK = 72 };

typedef struct huff {
    // every code up to FAST_BITS long: step << 10 | extra bits << 6 | code and extra bits
    // (step: the zero run, EOB_ADV for an end of block); 0: a longer code (see decode_long)
    uint16_t fast[1 << FAST_BITS];
    uint16_t longer[LONG_CODES];     // codes longer than FAST_BITS: (length << 8) | symbol, by
    int long_base, long_n;           // their 16-bit left-aligned value - long_base (0: no code)
    uint32_t maxcode[18];            // codes of length l, left-aligned to 16 bits, are below this
    int delta[17];                   // symbol index = code + delta[l]
    uint8_t val[256];
    int nval;
} huff;

typedef struct comp {
    int id, h, v, tq, td, ta;
    int bw, bh;          // block grid (in whole MCUs for an interleaved scan)
    int pw, ph;          // the component's own size in samples (libjpeg's downsampled size)
    int16_t *row;        // one MCU row of dequantised blocks (v * bw blocks of BLOCK)
} comp;

typedef struct jf {
    const uint8_t *buf, *end;
    int w, h, nc, hmax, vmax, restart;
    comp c[3];
    uint8_t *data;       // the entropy-coded data with stuffing removed, PAD zero bytes after
    size_t *seg;         // start of each restart interval in data; seg[nseg] = its length
    int16_t q[4][128];   // quantisation tables in zig-zag order; 1 from 64 on (see BLOCK)
    int qdef[4];
    const huff *dc[4], *ac[4];   // NULL until defined
} jf;

// Built Huffman tables, kept per thread with the DHT bytes they came from: the photos of one
// camera or encoder share their tables, and building one costs as much as decoding 2,000
// symbols.
typedef struct huff_slot {
    int keylen;               // 0: empty
    uint8_t key[17 + 256];    // Tc/Th, the 16 counts and the symbols, as in the DHT segment
    huff h;
} huff_slot;
typedef struct huff_cache {
    huff_slot slot[2][4];     // [class (0 DC, 1 AC)][table]
} huff_cache;

// Walks the markers up to the first scan into j (tables built or found in `cache`): the start
// of the scan's entropy-coded data, or NULL for anything the fast path leaves to libjpeg.
const uint8_t *jpeg_fast_headers(jf *j, huff_cache *cache);
// The entropy-coded data from `scan` on into j->data without its stuffed zero bytes, one
// segment per restart interval (j->seg), checking the RST markers and the final EOI: 0 or -1.
int jpeg_fast_unstuff(jf *j, const uint8_t *scan, int nseg);

#endif
