// stb_guard.c: refuses, before stb_image sees them, the inputs that the stb_image of Debian's
// libstb-dev (stb_image v2.27) turns into memory errors. The project takes stb from Debian
// (DESIGN.md), so its bugs cannot be patched in place; each check here walks only as much of
// the format as that bug needs, reading every byte the way stb reads it (past the end counts as
// 0, as stbi__get8 returns), and names the stb function at fault. Each was found by
// tests/fuzz/fuzz_image.c; the inputs that found them are in tests/fuzz/regressions/image/
// and tests/test_regressions.c keeps them refused. A real photo never trips these: each
// describes a file the format's own specification forbids.
#include "stb_guard.h"

#include <stdio.h>

static unsigned at(const uint8_t *b, size_t n, size_t i) { return i < n ? b[i] : 0; }

// JPEG, stbi__process_marker case 0xC4 (DHT) -> stbi__build_huffman: the sixteen code-length
// counts of a table are summed without a bound and the table's size[257] and values[256]
// arrays are filled with that many entries: a table of more than 256 codes writes past them
// (stb 2.28 added the check). Every DHT segment is walked, including those between the scans
// of a progressive JPEG, which the marker scan below finds in the entropy-coded data.
static int jpeg_check(const uint8_t *b, size_t n, char *why, size_t len) {
    size_t i = 2;
    while (i + 1 < n) {
        if (b[i] != 0xFF) {   // entropy-coded data, or junk stb skips: look for the next marker
            i++;
            continue;
        }
        unsigned m = b[i + 1];
        if (m == 0xFF) {      // fill byte
            i++;
            continue;
        }
        if (m == 0x00 || m == 0x01 || (m >= 0xD0 && m <= 0xD8)) {   // stuffing, TEM, RSTn, SOI
            i += 2;
            continue;
        }
        if (m == 0xD9) break;   // EOI
        size_t seglen = at(b, n, i + 2) << 8 | at(b, n, i + 3);
        if (m == 0xC4) {
            long left = (long)seglen - 2;
            size_t p = i + 4;
            while (left > 0) {
                p++;   // table class and id
                unsigned codes = 0;
                for (int k = 0; k < 16; k++) codes += at(b, n, p++);
                if (codes > 256) {
                    snprintf(why, len, "JPEG Huffman table with %u codes, more than 256: corrupt", codes);
                    return -1;
                }
                p += codes;
                left -= 17 + (long)codes;
            }
        }
        i += 2 + seglen;
    }
    return 0;
}

int stb_guard_check(const uint8_t *buf, size_t n, char *why, size_t len) {
    if (n >= 2 && buf[0] == 0xFF && buf[1] == 0xD8) return jpeg_check(buf, n, why, len);
    return 0;
}
