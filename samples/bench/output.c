/* The results: the device and config header, then the table, CSV or JSON on stdout. */
#include "bench.h"

#include <stdio.h>

void bench_print_header(const lsvk_device_info *d, const options *o, FILE *f, const char *prefix) {
    fprintf(f, "%sdevice: %s | vendor %s (0x%04x) | driver %s %s | Vulkan %u.%u.%u | %s\n", prefix, d->name,
            d->vendor, d->vendor_id, d->driver_name, d->driver_info, d->api_version >> 22,
            (d->api_version >> 12) & 0x3ff, d->api_version & 0xfff, lsvk_device_type_string(d->type));
    fprintf(f, "%sconfig: preset %s | dim %u, heads %u x %u, window %u, landmarks %u, batch %u | repeat %d, warmup %d\n",
            prefix, o->preset, o->dim, o->heads, o->dim / o->heads, o->window, o->landmarks, o->batch, o->repeat,
            o->warmup);
    if (o->nx)
        fprintf(f, "%s2D: grid %u x %u, %u global, rpe %u: ls = lsvk_vision_forward (landmarks = dp_rank), full = "
                   "full attention over the same %lld tokens\n", prefix, o->nx, o->ny, o->nglo, o->rpe,
                (long long)o->n[0]);
}

void bench_print_table(const row *rows, int n) {
    printf("%-6s %8s %11s %21s %12s %9s %8s %10s %9s\n", "method", "n", "median ms", "min-max ms", "tokens/s",
           "GFLOP/s", "GB/s", "peak MiB", "check");
    for (int i = 0; i < n; i++) {
        const row *r = &rows[i];
        if (r->status[0]) {
            printf("%-6s %8lld  %s\n", r->method, (long long)r->n, r->status);
            continue;
        }
        char range[32], chk[16] = "-";
        snprintf(range, sizeof range, "%.3f-%.3f", r->min_ms, r->max_ms);
        if (r->check >= 0) snprintf(chk, sizeof chk, "%.2g", r->check);
        printf("%-6s %8lld %11.3f %21s %12.0f %9.2f %8.2f %10.1f %9s\n", r->method, (long long)r->n, r->med_ms, range,
               r->tokens_s, r->gflops, r->gbs, r->peak_mib, chk);
    }
}

void bench_print_csv(const row *rows, int n) {
    printf("method,n,median_ms,min_ms,max_ms,tokens_per_s,gflops,gbs,peak_mib,check_rel_err,status\n");
    for (int i = 0; i < n; i++) {
        const row *r = &rows[i];
        printf("%s,%lld,%.4f,%.4f,%.4f,%.1f,%.3f,%.3f,%.2f,%.3g,\"%s\"\n", r->method, (long long)r->n, r->med_ms,
               r->min_ms, r->max_ms, r->tokens_s, r->gflops, r->gbs, r->peak_mib, r->check, r->status);
    }
}

static void json_string(const char *s) {
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20) printf("\\u%04x", *s);
        else putchar(*s);
    }
    putchar('"');
}

void bench_print_json(const lsvk_device_info *d, const options *o, const row *rows, int n) {
    printf("{\n  \"device\": {\"name\": ");
    json_string(d->name);
    printf(", \"vendor\": ");
    json_string(d->vendor);
    printf(", \"vendor_id\": %u, \"driver\": ", d->vendor_id);
    json_string(d->driver_name);
    printf(", \"driver_info\": ");
    json_string(d->driver_info);
    printf(", \"api_version\": \"%u.%u.%u\", \"type\": \"%s\"},\n", d->api_version >> 22,
           (d->api_version >> 12) & 0x3ff, d->api_version & 0xfff, lsvk_device_type_string(d->type));
    printf("  \"config\": {\"preset\": \"%s\", \"dim\": %u, \"heads\": %u, \"window\": %u, \"landmarks\": %u, "
           "\"batch\": %u, \"repeat\": %d, \"warmup\": %d},\n  \"rows\": [\n",
           o->preset, o->dim, o->heads, o->window, o->landmarks, o->batch, o->repeat, o->warmup);
    for (int i = 0; i < n; i++) {
        const row *r = &rows[i];
        printf("    {\"method\": \"%s\", \"n\": %lld, ", r->method, (long long)r->n);
        if (r->status[0]) {
            printf("\"status\": ");
            json_string(r->status);
        } else {
            printf("\"median_ms\": %.4f, \"min_ms\": %.4f, \"max_ms\": %.4f, \"tokens_per_s\": %.1f, "
                   "\"gflops\": %.3f, \"gbs\": %.3f, \"peak_mib\": %.2f",
                   r->med_ms, r->min_ms, r->max_ms, r->tokens_s, r->gflops, r->gbs, r->peak_mib);
            if (r->check >= 0) printf(", \"check_rel_err\": %.3g", r->check);
        }
        printf("}%s\n", i + 1 < n ? "," : "");
    }
    printf("  ]\n}\n");
}
