// stb_guard.c: refuses, before stb_image sees them, the inputs that the stb_image of Debian's
// libstb-dev (stb_image v2.27) mishandles. The project takes stb from Debian (DESIGN.md), so its
// bugs cannot be patched in place; each check here walks only as much of the format as that
// bug needs, reading every byte the way stb reads it (past the end counts as 0, as stbi__get8
// returns), and names the stb function at fault. Each was found by tests/fuzz/fuzz_image.c; the
// inputs that found them are in tests/fuzz/regressions/image/ and tests/test_regressions.c
// keeps them refused. A real photo never trips these: each describes a file its format forbids.
// (stb's JPEG decoder, which needed three such checks, is no longer built: data/jpeg.c.)
// The walks cost one pass over the file's bytes at most, nothing next to decoding it.
#include "stb_guard.h"

#include <stdio.h>
#include <string.h>

static unsigned at(const uint8_t *b, size_t n, size_t i) { return i < n ? b[i] : 0; }
static unsigned le16(const uint8_t *b, size_t n, size_t i) { return at(b, n, i) | at(b, n, i + 1) << 8; }
static uint32_t le32(const uint8_t *b, size_t n, size_t i) {
    return (uint32_t)le16(b, n, i) | (uint32_t)le16(b, n, i + 2) << 16;
}

// BMP, stbi__bmp_load: a palette image's palette pal[256][4] is a stack array that only the
// file's entries fill. Its entry count is derived from the header's data offset without a lower
// bound, so an offset that points inside the header gives a negative count, no entry is read,
// and the pixels are looked up in uninitialised stack memory; so are indexes past a short
// palette. Not a memory error, but pixels that change from run to run (found by fuzz_image's
// invariant). Refused: a negative count, and a pixel whose index has no palette entry.
static int bmp_check(const uint8_t *b, size_t n, char *why, size_t len) {
    long offset = (int32_t)le32(b, n, 10), hsz = (int32_t)le32(b, n, 14);
    if (offset < 0 || (hsz != 12 && hsz != 40 && hsz != 56 && hsz != 108 && hsz != 124)) return 0;
    long x, y;
    unsigned bpp;
    int32_t compress = 0;   // signed, as stb reads it: stb takes a negative one as uncompressed
    if (hsz == 12) {
        x = le16(b, n, 18), y = le16(b, n, 20), bpp = le16(b, n, 24);
    } else {
        x = (int32_t)le32(b, n, 18), y = (int32_t)le32(b, n, 22), bpp = le16(b, n, 28);
        compress = (int32_t)le32(b, n, 30);
    }
    if (y < 0) y = -y;
    if ((bpp != 1 && bpp != 4 && bpp != 8) || compress > 0 || x <= 0 || y <= 0 ||
        (double)x * y > 1e8)
        return 0;   // not a palette image, or one stb refuses, or the size limits will
    long psize = hsz == 12 ? (offset - 14 - 24) / 3 : (offset - 14 - hsz) >> 2;   // as stb
    if (psize < 0) {
        snprintf(why, len, "BMP data offset %ld points inside its own header: corrupt", offset);
        return -1;
    }
    if (psize == 0 || psize > 256 || psize >= 1L << bpp) return 0;   // refused, or all covered
    size_t row = bpp == 1 ? (size_t)(x + 7) >> 3 : bpp == 4 ? (size_t)(x + 1) >> 1 : (size_t)x;
    size_t stride = row + ((-row) & 3);
    for (long j = 0; j < y && (size_t)offset + (size_t)j * stride < n; j++) {   // then zeros
        size_t p = (size_t)offset + (size_t)j * stride;
        for (long i = 0; i < x; i++) {
            unsigned v = bpp == 8 ? at(b, n, p + (size_t)i)
                       : bpp == 4 ? at(b, n, p + (size_t)i / 2) >> (i & 1 ? 0 : 4) & 15
                                  : at(b, n, p + (size_t)i / 8) >> (7 - (i & 7)) & 1;
            if ((long)v >= psize) {
                snprintf(why, len, "BMP pixel uses colour %u of a %ld-colour palette: corrupt", v, psize);
                return -1;
            }
        }
    }
    return 0;
}

// PNG, stbi__parse_png_file: an IDAT chunk's length is trusted before its bytes are read: the
// buffer for the compressed data is grown to hold it first (realloc), so a 100-byte file whose
// IDAT claims 1.6 GB makes nn ask for 1.6 GB, then fail (found by fuzz_image's 1 GiB malloc
// limit). Refused here: an IDAT longer than what is left of the file, which stb would refuse
// anyway once it had allocated for it.
static uint32_t be32(const uint8_t *b, size_t n, size_t i) {
    return (uint32_t)at(b, n, i) << 24 | (uint32_t)at(b, n, i + 1) << 16 | at(b, n, i + 2) << 8 | at(b, n, i + 3);
}

static int png_check(const uint8_t *b, size_t n, char *why, size_t len) {
    for (size_t p = 8; p + 8 <= n;) {   // chunks: length, type, data, CRC
        uint32_t clen = be32(b, n, p);
        int idat = !memcmp(b + p + 4, "IDAT", 4);
        if (!memcmp(b + p + 4, "IEND", 4)) break;
        if (idat && clen > n - p - 8) {
            snprintf(why, len, "corrupt or truncated image (PNG IDAT chunk claims %u bytes, the file "
                     "has %zu left)", clen, n - p - 8);
            return -1;
        }
        if (clen > n - p - 8) break;   // stb stops there too
        p += 12 + (size_t)clen;
    }
    return 0;
}

int stb_guard_check(const uint8_t *buf, size_t n, char *why, size_t len) {
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (n >= 8 && !memcmp(buf, png_sig, 8)) return png_check(buf, n, why, len);
    if (n >= 2 && buf[0] == 'B' && buf[1] == 'M') return bmp_check(buf, n, why, len);
    return 0;
}
