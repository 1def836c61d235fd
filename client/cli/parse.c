/*
 * parse.c — the values of command-line options: durations, counts, byte
 * sizes and hex cursors. Pure functions over strings.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define NS_PER_S 1000000000LL

static const struct unit {
    const char *name;
    int64_t ns;
} units[] = {
    /* Longest names first where one is a prefix of another ("ms", "m"). */
    {"ns", 1},
    {"us", 1000},
    {"ms", 1000000},
    {"s", NS_PER_S},
    {"m", 60 * NS_PER_S},
    {"h", 3600 * NS_PER_S},
    {"d", 86400 * NS_PER_S},
};

int cli_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (s[0] < '0' || s[0] > '9') {
        return -1; /* strtoull would take a sign or spaces */
    }
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > max) {
        return -1;
    }
    *out = v;
    return 0;
}

/* A run of digits at *s into *v, advancing *s. */
static int digits(const char **s, uint64_t *v)
{
    uint64_t x = 0;
    const char *p = *s;

    if (*p < '0' || *p > '9') {
        return -1;
    }
    for (; *p >= '0' && *p <= '9'; p++) {
        if (x > (UINT64_MAX - 9) / 10) {
            return -1;
        }
        x = x * 10 + (uint64_t)(*p - '0');
    }
    *s = p;
    *v = x;
    return 0;
}

int cli_parse_duration(const char *s, int64_t *ns)
{
    uint64_t total = 0, v;
    const char *p = s;
    size_t i, n;

    if (cli_parse_u64(s, (uint64_t)INT64_MAX / NS_PER_S, &v) == 0) {
        *ns = (int64_t)v * NS_PER_S; /* plain seconds */
        return 0;
    }
    if (*p == '\0') {
        return -1;
    }
    while (*p != '\0') {
        if (digits(&p, &v) != 0) {
            return -1;
        }
        for (i = 0; i < sizeof units / sizeof units[0]; i++) {
            n = strlen(units[i].name);
            if (strncmp(p, units[i].name, n) == 0 &&
                (p[n] == '\0' || (p[n] >= '0' && p[n] <= '9'))) {
                break;
            }
        }
        if (i == sizeof units / sizeof units[0]) {
            return -1; /* a missing or unknown unit */
        }
        p += strlen(units[i].name);
        if (v > ((uint64_t)INT64_MAX - total) / (uint64_t)units[i].ns) {
            return -1;
        }
        total += v * (uint64_t)units[i].ns;
    }
    *ns = (int64_t)total;
    return 0;
}

int cli_parse_unix_time(const char *s, uint64_t *ns)
{
    uint64_t v;

    if (cli_parse_u64(s, UINT64_MAX / (uint64_t)NS_PER_S, &v) != 0 ||
        v == 0) {
        return -1;
    }
    *ns = v * (uint64_t)NS_PER_S;
    return 0;
}

void cli_format_duration(int64_t ns, char *buf, size_t size)
{
    size_t used = 0;
    int i;

    if (size == 0) {
        return;
    }
    buf[0] = '\0';
    if (ns <= 0) {
        snprintf(buf, size, "%llds", (long long)ns / NS_PER_S);
        return;
    }
    for (i = (int)(sizeof units / sizeof units[0]) - 1; i >= 0 && ns > 0;
         i--) {
        int64_t q = ns / units[i].ns;
        int w;

        if (q == 0) {
            continue;
        }
        w = snprintf(buf + used, size - used, "%lld%s", (long long)q,
                     units[i].name);
        if (w < 0 || (size_t)w >= size - used) {
            return;
        }
        used += (size_t)w;
        ns -= q * units[i].ns;
    }
}

int cli_parse_size(const char *s, int64_t *out)
{
    static const struct {
        const char *suffix;
        int shift;
    } suffixes[] = {
        {"", 0},    {"K", 10},   {"KiB", 10}, {"M", 20},
        {"MiB", 20}, {"G", 30},  {"GiB", 30},
    };
    const char *p = s;
    uint64_t v;
    size_t i;

    if (strcmp(s, "-1") == 0) {
        *out = -1;
        return 0;
    }
    if (digits(&p, &v) != 0) {
        return -1;
    }
    for (i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        if (strcmp(p, suffixes[i].suffix) == 0) {
            if (v > ((uint64_t)INT64_MAX >> suffixes[i].shift)) {
                return -1;
            }
            *out = (int64_t)(v << suffixes[i].shift);
            return 0;
        }
    }
    return -1;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

void *cli_hex_decode(const char *s, size_t *len)
{
    size_t n = strlen(s), i;
    unsigned char *out;

    if (n % 2 != 0) {
        return NULL;
    }
    out = malloc(n / 2 + 1); /* + 1: an empty cursor is still a buffer */
    if (out == NULL) {
        return NULL;
    }
    for (i = 0; i < n / 2; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);

        if (hi < 0 || lo < 0) {
            free(out);
            return NULL;
        }
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    *len = n / 2;
    return out;
}

int cli_check_names(const struct cli_cmd *cmd, const char *bucket,
                    const char *key)
{
    char errmsg[CAIRN_ERRMSG_SIZE];
    cairn_bucket_config cfg;

    if (strlen(bucket) > CAIRN_BUCKET_NAME_MAX) {
        return cli_usage_error(cmd, "bucket name '%s' is longer than %d bytes",
                               bucket, CAIRN_BUCKET_NAME_MAX);
    }
    /* The library's rule for names, through the config check. */
    cairn_bucket_config_init(&cfg, bucket);
    if (cairn_bucket_config_validate(&cfg, errmsg) != 0) {
        return cli_usage_error(cmd, "%s", errmsg);
    }
    if (key != NULL && (key[0] == '\0' || strlen(key) > CAIRN_KEY_MAX)) {
        return cli_usage_error(cmd, "key of %zu bytes: keys are 1 to %d bytes",
                               strlen(key), CAIRN_KEY_MAX);
    }
    return -1;
}

int cli_read_all(FILE *f, size_t max, char **out, size_t *len)
{
    size_t size = 65536, n = 0, r;
    char *buf = malloc(size), *bigger;

    while (buf != NULL) {
        r = fread(buf + n, 1, size - n - 1, f);
        n += r;
        if (r == 0) {
            break;
        }
        if (n > max) {
            free(buf);
            return EFBIG;
        }
        if (n == size - 1) {
            size *= 2;
            bigger = realloc(buf, size);
            if (bigger == NULL) {
                free(buf);
                buf = NULL;
            } else {
                buf = bigger;
            }
        }
    }
    if (buf == NULL) {
        return ENOMEM;
    }
    if (ferror(f)) {
        free(buf);
        return EIO;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}
