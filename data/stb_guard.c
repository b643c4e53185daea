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

// JPEG: three stb bugs, in the Huffman and quantization tables.
//  - stbi__process_marker case 0xC4 (DHT) -> stbi__build_huffman: the sixteen code-length
//    counts of a table are summed without a bound and the table's size[257] and values[256]
//    arrays are filled with that many entries: more than 256 codes write past them (stb 2.28
//    added the check).
//  - stbi__jpeg_huff_decode: a scan may name a Huffman table that no DHT segment defined; stb
//    decodes with the table's uninitialised memory and indexes values[] and size[] with what
//    it finds there (index -20 in the input that found it). A table is "used" as stb uses it:
//    baseline scans decode with their DC and AC tables, progressive DC scans with the DC table
//    on the first pass only, progressive AC scans with the AC table.
//  - the same for quantization tables: a frame component may name a table no DQT segment
//    defined, and stb dequantizes with uninitialised memory (valgrind: "depends on uninitialised
//    value" in stbi__YCbCr_to_RGB). No memory error, but the pixels then differ from run to run;
//    libjpeg (and so Pillow, and Keras) refuse such a file.
// Every marker is walked, including those between the scans of a progressive JPEG, which the
// scan below finds in the entropy-coded data as stb does (FF 00 is data, FF Dn a restart).
static int jpeg_check(const uint8_t *b, size_t n, size_t i, char *why, size_t len) {
    int defined[2] = {0, 0};   // bit th of defined[tc]: table (class tc, id th) has been defined
    int qdefined = 0;          // bit t: quantization table t has been defined
    unsigned comp_id[4], comp_tq[4], ncomp = 0;   // the frame's components and their tables
    int progressive = 0;
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
        if (m == 0xC2) progressive = 1;
        if (m == 0xC0 || m == 0xC1 || m == 0xC2) {   // SOF: P, Y, X, Nf, Nf x (id, HV, Tq)
            ncomp = 0;
            for (unsigned k = 0; k < at(b, n, i + 9) && k < 4; k++, ncomp++) {
                comp_id[k] = at(b, n, i + 10 + 3 * k);
                comp_tq[k] = at(b, n, i + 12 + 3 * k);
            }
        }
        if (m == 0xDB) {   // DQT: tables of 64 entries of 8 (Pq 0) or 16 bits (Pq 1)
            long left = (long)seglen - 2;
            size_t p = i + 4;
            while (left > 0) {
                unsigned q = at(b, n, p);
                if ((q & 15) <= 3) qdefined |= 1 << (q & 15);
                p += (q >> 4) ? 129 : 65;
                left -= (q >> 4) ? 129 : 65;
            }
        }
        if (m == 0xC4) {
            long left = (long)seglen - 2;
            size_t p = i + 4;
            while (left > 0) {
                unsigned q = at(b, n, p++);
                unsigned codes = 0;
                for (int k = 0; k < 16; k++) codes += at(b, n, p++);
                if (codes > 256) {
                    snprintf(why, len, "JPEG Huffman table with %u codes, more than 256: corrupt", codes);
                    return -1;
                }
                if ((q >> 4) <= 1 && (q & 15) <= 3) defined[q >> 4] |= 1 << (q & 15);
                p += codes;
                left -= 17 + (long)codes;
            }
        }
        if (m == 0xDA) {   // SOS: Ns, Ns x (component id, DC table << 4 | AC table), Ss, Se, Ah/Al
            unsigned ns = at(b, n, i + 4), ss = at(b, n, i + 5 + 2 * ns);
            unsigned ah = at(b, n, i + 7 + 2 * ns) >> 4;
            for (unsigned k = 0; k < ns && k < 4; k++) {
                unsigned id = at(b, n, i + 5 + 2 * k), q = at(b, n, i + 6 + 2 * k), td = q >> 4, ta = q & 15;
                for (unsigned c = 0; c < ncomp; c++)
                    if (comp_id[c] == id && comp_tq[c] <= 3 && !(qdefined >> comp_tq[c] & 1)) {
                        snprintf(why, len, "JPEG component uses a quantization table (%u) that no DQT "
                                 "segment defines: corrupt", comp_tq[c]);
                        return -1;
                    }
                int dc = !progressive || (ss == 0 && ah == 0), ac = !progressive || ss > 0;
                if ((dc && td <= 3 && !(defined[0] >> td & 1)) || (ac && ta <= 3 && !(defined[1] >> ta & 1))) {
                    snprintf(why, len, "JPEG scan uses a Huffman table (%s %u) that no DHT segment "
                             "defines: corrupt", dc && !(defined[0] >> td & 1) ? "DC" : "AC",
                             dc && !(defined[0] >> td & 1) ? td : ta);
                    return -1;
                }
            }
        }
        i += 2 + seglen;
    }
    return 0;
}

int stb_guard_check(const uint8_t *buf, size_t n, char *why, size_t len) {
    // stb takes a file as JPEG when it starts with a marker SOI, fill bytes allowed: FF FF.. D8
    // (stbi__get_marker), so that is what is checked as one here too.
    size_t i = 0;
    if (n > 0 && buf[0] == 0xFF) {
        while (i < n && buf[i] == 0xFF) i++;
        if (i < n && buf[i] == 0xD8) return jpeg_check(buf, n, i + 1, why, len);
    }
    return 0;
}
