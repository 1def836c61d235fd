/*
 * parse.c — the values of command-line options the CLI alone reads: unix
 * times and names (durations, sizes and hex live in client/text.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"


int cli_parse_unix_time(const char *s, uint64_t *ns)
{
    uint64_t v;

    if (cairn_text_parse_u64(s, UINT64_MAX / (uint64_t)CAIRN_NS_PER_S, &v) != 0 ||
        v == 0) {
        return -1;
    }
    *ns = v * (uint64_t)CAIRN_NS_PER_S;
    return 0;
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
