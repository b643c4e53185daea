// chart.c: the PNG of the training curves (see chart.h). Two panels, loss and accuracy, each
// with axes, grid, tick labels, the training curve in blue and the validation curve in orange,
// and a legend of colour boxes. Text uses a 5x7 bitmap font written out below as pictures, so
// the chart needs nothing beyond stb_image_write.
#include "chart.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../nn/common.h"
#include "outfile.h"

// stb_image_write's functions are made static to this file, so no other file of the project
// (the data pipeline, the demos) can collide with it by defining the implementation too.
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#include <stb_image_write.h>
#pragma GCC diagnostic pop

// The PNG in memory with the tEXt chunk Software=nn after its header (IHDR), the mark by which
// a later run knows the file as its own (tools/outfile.h). nn_free.
static uint8_t *png_marked(const uint8_t *png, size_t n, size_t *out_n) {
    static const char text[] = OUTFILE_PNG_KEY "\0" OUTFILE_PNG_TEXT;
    const size_t tlen = sizeof text - 1, at = 8 + 25;   // signature, then IHDR: 4+4+13+4 bytes
    uint8_t *out = nn_alloc(n + 12 + tlen, "PNG");
    memcpy(out, png, at);
    uint8_t *c = out + at;
    c[0] = 0, c[1] = 0, c[2] = 0, c[3] = (uint8_t)tlen;
    memcpy(c + 4, "tEXt", 4);
    memcpy(c + 8, text, tlen);
    unsigned crc = stbiw__crc32(c + 4, (int)(4 + tlen));
    c[8 + tlen] = (uint8_t)(crc >> 24), c[9 + tlen] = (uint8_t)(crc >> 16);
    c[10 + tlen] = (uint8_t)(crc >> 8), c[11 + tlen] = (uint8_t)crc;
    memcpy(c + 12 + tlen, png + at, n - at);
    *out_n = n + 12 + tlen;
    return out;
}

// Encoded in memory, marked, then written by outfile_write (temporary file, every write and the
// rename checked): stb's own file writer ignores fwrite's and fclose's results, so a full disk
// left a truncated PNG and no message. An existing file that is not a PNG nn drew is refused.
int png_write_rgb(const char *path, int w, int h, const uint8_t *rgb, char *err) {
    if (outfile_check_kind(NULL, path, OUTFILE_PNG, err)) return -1;
    int len = 0;
    uint8_t *png = stbi_write_png_to_mem(rgb, w * 3, w, h, 3, &len);
    if (!png || len < 33) {
        free(png);
        return nn_fail(err, "%s: cannot encode the PNG (%d x %d: out of memory?)", path, w, h);
    }
    size_t n;
    uint8_t *marked = png_marked(png, (size_t)len, &n);
    free(png);   // stb allocates with malloc
    int rc = outfile_write(path, marked, n, err);
    nn_free(marked);
    return rc;
}

// --- the font: 5 columns x 7 rows above the baseline (g j p q y hang 2 rows below), '#' = ink;
// upper case is drawn as lower case

static const struct { char c; const char *rows; } glyphs[] = {
    {'0', ".###.|#...#|#..##|#.#.#|##..#|#...#|.###."}, {'1', "..#..|.##..|..#..|..#..|..#..|..#..|.###."},
    {'2', ".###.|#...#|....#|...#.|..#..|.#...|#####"}, {'3', "#####|...#.|..#..|...#.|....#|#...#|.###."},
    {'4', "...#.|..##.|.#.#.|#..#.|#####|...#.|...#."}, {'5', "#####|#....|####.|....#|....#|#...#|.###."},
    {'6', "..##.|.#...|#....|####.|#...#|#...#|.###."}, {'7', "#####|....#|...#.|..#..|.#...|.#...|.#..."},
    {'8', ".###.|#...#|#...#|.###.|#...#|#...#|.###."}, {'9', ".###.|#...#|#...#|.####|....#|...#.|.##.."},
    {'a', ".....|.....|.###.|....#|.####|#...#|.####"}, {'b', "#....|#....|#.##.|##..#|#...#|#...#|####."},
    {'c', ".....|.....|.###.|#....|#....|#...#|.###."}, {'d', "....#|....#|.##.#|#..##|#...#|#...#|.####"},
    {'e', ".....|.....|.###.|#...#|#####|#....|.###."}, {'f', "..##.|.#..#|.#...|###..|.#...|.#...|.#..."},
    {'g', ".....|.....|.####|#...#|#...#|#...#|.####|....#|.###."}, {'h', "#....|#....|#.##.|##..#|#...#|#...#|#...#"},
    {'i', "..#..|.....|.##..|..#..|..#..|..#..|.###."}, {'j', "...#.|.....|..##.|...#.|...#.|...#.|...#.|#..#.|.##.."},
    {'k', "#....|#....|#..#.|#.#..|##...|#.#..|#..#."}, {'l', ".##..|..#..|..#..|..#..|..#..|..#..|.###."},
    {'m', ".....|.....|##.#.|#.#.#|#.#.#|#...#|#...#"}, {'n', ".....|.....|#.##.|##..#|#...#|#...#|#...#"},
    {'o', ".....|.....|.###.|#...#|#...#|#...#|.###."}, {'p', ".....|.....|####.|#...#|#...#|#...#|####.|#....|#...."},
    {'q', ".....|.....|.####|#...#|#...#|#...#|.####|....#|....#"}, {'r', ".....|.....|#.##.|##..#|#....|#....|#...."},
    {'s', ".....|.....|.###.|#....|.###.|....#|####."}, {'t', ".#...|.#...|###..|.#...|.#...|.#..#|..##."},
    {'u', ".....|.....|#...#|#...#|#...#|#..##|.##.#"}, {'v', ".....|.....|#...#|#...#|#...#|.#.#.|..#.."},
    {'w', ".....|.....|#...#|#...#|#.#.#|#.#.#|.#.#."}, {'x', ".....|.....|#...#|.#.#.|..#..|.#.#.|#...#"},
    {'y', ".....|.....|#...#|#...#|#...#|#...#|.####|....#|.###."}, {'z', ".....|.....|#####|...#.|..#..|.#...|#####"},
    {'.', ".....|.....|.....|.....|.....|.##..|.##.."}, {'-', ".....|.....|.....|#####|.....|.....|....."},
    {'_', ".....|.....|.....|.....|.....|.....|#####"}, {':', ".....|.##..|.##..|.....|.##..|.##..|....."},
    {'/', ".....|....#|...#.|..#..|.#...|#....|....."}, {'(', "..#..|.#...|#....|#....|#....|.#...|..#.."},
    {')', "..#..|...#.|....#|....#|....#|...#.|..#.."}, {',', ".....|.....|.....|.....|.##..|..#..|.#..."},
    {'[', ".###.|.#...|.#...|.#...|.#...|.#...|.###."}, {']', ".###.|...#.|...#.|...#.|...#.|...#.|.###."},
};

typedef struct canvas { int w, h; uint8_t *px; } canvas;   // px: (h, w, 3)
typedef struct rgb { uint8_t r, g, b; } rgb;

static const rgb BLACK = {30, 30, 30}, GRID = {225, 225, 225},
                 GREY = {110, 110, 110}, BLUE = {31, 119, 180}, ORANGE = {255, 127, 14};

static void put(canvas *c, int x, int y, rgb col) {
    if (x < 0 || y < 0 || x >= c->w || y >= c->h) return;
    uint8_t *p = c->px + ((size_t)y * c->w + x) * 3;
    p[0] = col.r, p[1] = col.g, p[2] = col.b;
}

static void fill(canvas *c, int x0, int y0, int x1, int y1, rgb col) {
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++) put(c, x, y, col);
}

// A line `thick` pixels wide (Bresenham, a square brush at each point).
static void line(canvas *c, int x0, int y0, int x1, int y1, int thick, rgb col) {
    int dx = abs(x1 - x0), dy = -abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
    int e = dx + dy, r = thick / 2;
    for (;;) {
        fill(c, x0 - r, y0 - r, x0 - r + thick - 1, y0 - r + thick - 1, col);
        if (x0 == x1 && y0 == y1) break;
        int e2 = 2 * e;
        if (e2 >= dy) e += dy, x0 += sx;
        if (e2 <= dx) e += dx, y0 += sy;
    }
}

#define GLYPH_SCALE 2
#define CHAR_W (6 * GLYPH_SCALE)

static int text_width(const char *s) { return (int)strlen(s) * CHAR_W; }

static void text(canvas *c, int x, int y, const char *s, rgb col) {
    for (; *s; s++, x += CHAR_W) {
        char ch = (char)tolower((unsigned char)*s);
        const char *rows = NULL;
        for (size_t i = 0; i < sizeof glyphs / sizeof *glyphs; i++)
            if (glyphs[i].c == ch) rows = glyphs[i].rows;
        if (!rows) continue;   // space and anything unknown: a gap
        int nrows = (int)(strlen(rows) + 1) / 6;
        for (int r = 0; r < nrows; r++)
            for (int k = 0; k < 5; k++)
                if (rows[r * 6 + k] == '#')
                    fill(c, x + k * GLYPH_SCALE, y + r * GLYPH_SCALE, x + (k + 1) * GLYPH_SCALE - 1,
                         y + (r + 1) * GLYPH_SCALE - 1, col);
    }
}

// --- one panel: a metric's training and validation curves

typedef struct panel {
    int x0, y0, x1, y1;     // plot area (pixels)
    double lo, hi;          // value range on the y axis
    int n;                  // epochs
} panel;

static int px_x(const panel *p, int i) {   // epoch index i (0-based) -> x
    if (p->n <= 1) return (p->x0 + p->x1) / 2;
    return p->x0 + (int)lround((double)i * (p->x1 - p->x0) / (p->n - 1));
}

static int px_y(const panel *p, double v) {
    double f = (v - p->lo) / (p->hi - p->lo);
    return p->y1 - (int)lround(f * (p->y1 - p->y0));
}

static void curve(canvas *c, const panel *p, const epoch_row *rows, int val, int acc, rgb col) {
    int have = 0, px = 0, py = 0;
    for (int i = 0; i < p->n; i++) {
        double v = val ? (acc ? rows[i].val_acc : rows[i].val_loss) : (acc ? rows[i].accuracy : rows[i].loss);
        if (!isfinite(v)) {
            have = 0;
            continue;
        }
        int x = px_x(p, i), y = px_y(p, v);
        if (have) line(c, px, py, x, y, 3, col);
        fill(c, x - 3, y - 3, x + 3, y + 3, col);
        have = 1, px = x, py = y;
    }
}

// Picks a "nice" tick step (1, 2 or 5 times a power of ten) giving at most `most` ticks.
static double nice_step(double range, int most) {
    double raw = range / most, p = pow(10, floor(log10(raw)));
    for (int i = 0; i < 3; i++) {
        double s = p * (i == 0 ? 1 : i == 1 ? 2 : 5);
        if (s >= raw) return s;
    }
    return p * 10;
}

static void draw_panel(canvas *c, int left, int width, const char *name, const epoch_row *rows, int n,
                       int acc) {
    panel p = {left + 80, 70, left + width - 25, CHART_H - 60, 0, 1, n};
    // y range from the data: loss from 0, accuracy up to 1
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < n; i++) {
        double v[2] = {acc ? rows[i].accuracy : rows[i].loss, acc ? rows[i].val_acc : rows[i].val_loss};
        for (int k = 0; k < 2; k++)
            if (isfinite(v[k])) lo = fmin(lo, v[k]), hi = fmax(hi, v[k]);
    }
    if (!isfinite(lo)) lo = 0, hi = 1;
    if (acc) {
        p.lo = fmax(0, floor(lo * 10 - 0.5) / 10);
        p.hi = 1;
    } else {
        p.lo = 0;
        p.hi = hi > 0 ? hi * 1.1 : 1;
    }
    if (p.hi - p.lo < 1e-6) p.hi = p.lo + 1;
    double step = nice_step(p.hi - p.lo, 5);
    // grid and y ticks
    char buf[32];
    for (double v = ceil(p.lo / step - 1e-9) * step; v <= p.hi + 1e-9; v += step) {
        int y = px_y(&p, v);
        line(c, p.x0, y, p.x1, y, 1, GRID);
        if (fabs(v) < step * 1e-6) v = 0;   // no "-0.0"
        snprintf(buf, sizeof buf, step < 0.1 ? "%.2f" : "%.1f", v);
        text(c, p.x0 - 10 - text_width(buf), y - 7, buf, GREY);
    }
    // x ticks: epochs 1..n, at most about ten labels
    int every = n <= 10 ? 1 : (int)ceil(nice_step(n, 10));
    for (int i = 0; i < n; i++) {
        if ((i + 1) % every && i != 0) continue;
        int x = px_x(&p, i);
        line(c, x, p.y1, x, p.y1 + 5, 1, GREY);
        snprintf(buf, sizeof buf, "%d", rows[i].epoch);
        text(c, x - text_width(buf) / 2, p.y1 + 10, buf, GREY);
    }
    line(c, p.x0, p.y0, p.x0, p.y1, 2, BLACK);
    line(c, p.x0, p.y1, p.x1, p.y1, 2, BLACK);
    text(c, (p.x0 + p.x1 - text_width("epoch")) / 2, p.y1 + 32, "epoch", GREY);
    text(c, p.x0, 44, name, BLACK);
    curve(c, &p, rows, 0, acc, BLUE);
    curve(c, &p, rows, 1, acc, ORANGE);
    // legend: colour boxes at the top right
    int x = p.x1 - text_width("training") - text_width("validation") - 60;
    fill(c, x, 44, x + 13, 57, BLUE);
    text(c, x + 20, 44, "training", BLACK);
    x += 20 + text_width("training") + 16;
    int have_val = 0;
    for (int i = 0; i < n; i++) have_val |= isfinite(rows[i].val_loss);
    if (have_val) {
        fill(c, x, 44, x + 13, 57, ORANGE);
        text(c, x + 20, 44, "validation", BLACK);
    }
}

int chart_write_png(const char *path, const epoch_row *rows, int n, const char *title, char *err) {
    canvas c = {CHART_W, CHART_H, nn_alloc((size_t)CHART_W * CHART_H * 3, "chart")};
    memset(c.px, 255, (size_t)CHART_W * CHART_H * 3);
    if (title) text(&c, 20, 12, title, BLACK);
    draw_panel(&c, 0, CHART_W / 2, "loss", rows, n, 0);
    draw_panel(&c, CHART_W / 2, CHART_W / 2, "accuracy", rows, n, 1);
    int rc = png_write_rgb(path, c.w, c.h, c.px, err);
    nn_free(c.px);
    return rc;
}
