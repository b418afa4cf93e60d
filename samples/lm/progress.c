/* eval's progress on stderr: one line redrawn in place on a terminal (at most ~10 times a
 * second), otherwise a line every ~10% so logs stay short. */
#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* isatty, fileno */
#endif
#include "lm.h"

#include <stdio.h>
#ifdef _WIN32
#include <io.h>
#define isatty _isatty
#define fileno _fileno
#else
#include <unistd.h>
#endif

void lm_progress_start(progress *p) {
    p->tty = isatty(fileno(stderr));
    p->last_decile = 0;
    p->start = p->last_draw = lm_now_s();
}

void lm_progress_update(progress *p, size_t done, size_t total, size_t chars) {
    double t = lm_now_s(), el = t - p->start, rate = el > 0 ? (double)chars / el : 0;
    if (p->tty) {
        if (done < total && t - p->last_draw < 0.1) return;
        p->last_draw = t;
        fprintf(stderr, "\r  block %zu/%zu (%3.0f%%), %.0f chars/s   ", done, total, 100.0 * done / total, rate);
        if (done == total) fputc('\n', stderr);
        fflush(stderr);
    } else {
        int decile = (int)(done * 10 / total);
        if (decile <= p->last_decile) return;
        p->last_decile = decile;
        fprintf(stderr, "  block %zu/%zu (%.0f%%), %.0f chars/s\n", done, total, 100.0 * done / total, rate);
    }
}
