/*
 * cairn-zstd-levels: how zstd levels 1 and 3 do on a 4 KiB JSON-like value,
 * the measurement behind storage/compress.c's choice of level 1.
 *   cairn-zstd-levels   prints size and µs per call for each level
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <zstd.h>

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(void)
{
    char v[4096], out[8192], back[4096];
    size_t o = 0;
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    ZSTD_DCtx *dc = ZSTD_createDCtx();
    for (int i = 0; o < sizeof v - 200; i++) {
        o += (size_t)snprintf(v + o, sizeof v - o,
                              "{\"id\":%d,\"user\":\"user_%d\",\"theme\":\"%s\","
                              "\"lang\":\"en\",\"flags\":[%d,%d]},",
                              i, i * 7919 % 10007, i % 3 ? "dark" : "light",
                              i % 5, i % 11);
    }
    memset(v + o, ' ', sizeof v - o);
    for (int level = 1; level <= 3; level += 2) {
        const int reps = 20000;
        size_t n = 0;
        double t0 = now_s(), tc, td;
        for (int r = 0; r < reps; r++) {
            n = ZSTD_compressCCtx(cc, out, sizeof out, v, sizeof v, level);
        }
        tc = (now_s() - t0) / reps * 1e6;
        t0 = now_s();
        for (int r = 0; r < reps; r++) {
            ZSTD_decompressDCtx(dc, back, sizeof back, out, n);
        }
        td = (now_s() - t0) / reps * 1e6;
        printf("level %d: 4096 -> %zu bytes, compress %.2f us, "
               "decompress %.2f us\n",
               level, n, tc, td);
    }
    ZSTD_freeCCtx(cc);
    ZSTD_freeDCtx(dc);
    return 0;
}
