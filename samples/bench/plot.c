/* --plot: time vs n per method on log-log axes as SVG, written by hand (no plotting library needed). */
#include "bench.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int bench_write_svg(const char *path, const lsvk_device_info *d, const options *o, const row *rows, int n) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    double xmin = INFINITY, xmax = 0, ymin = INFINITY, ymax = 0;
    for (int i = 0; i < n; i++) {
        if (rows[i].status[0]) continue;
        xmin = fmin(xmin, (double)rows[i].n);
        xmax = fmax(xmax, (double)rows[i].n);
        ymin = fmin(ymin, rows[i].med_ms);
        ymax = fmax(ymax, rows[i].med_ms);
    }
    if (!(xmax > 0)) { xmin = 1; xmax = 10; ymin = 1; ymax = 10; }
    double lx0 = floor(log10(xmin)), lx1 = ceil(log10(xmax)), ly0 = floor(log10(ymin)), ly1 = ceil(log10(ymax));
    if (lx1 <= lx0) lx1 = lx0 + 1;
    if (ly1 <= ly0) ly1 = ly0 + 1;
    const double W = 720, Hh = 480, L = 80, R = 160, T = 50, Bm = 60;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" font-family=\"sans-serif\" font-size=\"12\">\n", W, Hh);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    fprintf(f, "<text x=\"%.0f\" y=\"20\" font-size=\"14\">lsvk-bench: %s (preset %s, dim %u, %u heads, w %u, r %u, batch %u)</text>\n",
            L, d->name, o->preset, o->dim, o->heads, o->window, o->landmarks, o->batch);
#define PX(v) (L + (log10(v) - lx0) / (lx1 - lx0) * (W - L - R))
#define PY(v) (Hh - Bm - (log10(v) - ly0) / (ly1 - ly0) * (Hh - T - Bm))
    for (double e = lx0; e <= lx1; e++) {
        double x = PX(pow(10, e));
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" stroke=\"#ddd\"/>\n", x, T, x, Hh - Bm);
        fprintf(f, "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">1e%.0f</text>\n", x, Hh - Bm + 18, e);
    }
    for (double e = ly0; e <= ly1; e++) {
        double y = PY(pow(10, e));
        fprintf(f, "<line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", L, y, W - R, y);
        fprintf(f, "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">1e%.0f</text>\n", L - 6, y + 4, e);
    }
    fprintf(f, "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" stroke=\"black\"/>\n", L, T,
            W - L - R, Hh - T - Bm);
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">sequence length n (tokens)</text>\n", (L + W - R) / 2,
            Hh - 15);
    fprintf(f, "<text transform=\"translate(20 %.0f) rotate(-90)\" text-anchor=\"middle\">GPU time per forward (ms)</text>\n",
            (T + Hh - Bm) / 2);
    const char *methods[2] = {"ls", "full"}, *colors[2] = {"#1f77b4", "#d62728"};
    for (int m = 0; m < 2; m++) {
        int any = 0;
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", colors[m]);
        for (int i = 0; i < n; i++)
            if (!rows[i].status[0] && strcmp(rows[i].method, methods[m]) == 0) {
                fprintf(f, "%.1f,%.1f ", PX((double)rows[i].n), PY(rows[i].med_ms));
                any = 1;
            }
        fprintf(f, "\"/>\n");
        for (int i = 0; i < n; i++)
            if (!rows[i].status[0] && strcmp(rows[i].method, methods[m]) == 0)
                fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", PX((double)rows[i].n),
                        PY(rows[i].med_ms), colors[m]);
        if (any) {
            double y = T + 20 + 20 * m;
            fprintf(f, "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"%s\" stroke-width=\"2\"/>\n",
                    W - R + 15, y, W - R + 40, y, colors[m]);
            fprintf(f, "<text x=\"%.0f\" y=\"%.0f\">%s</text>\n", W - R + 46, y + 4,
                    m == 0 ? "long-short" : "full attention");
        }
    }
#undef PX
#undef PY
    fprintf(f, "</svg>\n");
    return fclose(f) == 0 ? 0 : -1;
}
