/*
 * output.c — what the commands print: exit codes and error lines, JSON
 * (jansson) and the escaping of bytes in line-oriented human output.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

int cli_exit_code(int code)
{
    switch (code) {
        case CAIRN_OK:
            return CLI_OK;
        case CAIRN_ENOTFOUND:
        case CAIRN_ENOBUCKET:
        case CAIRN_EEXIST:
        case CAIRN_ECONFLICT:
            return CLI_NEGATIVE;
        case CAIRN_EUNAVAILABLE:
        case CAIRN_ETIMEDOUT:
        case CAIRN_ECLOSED:
            return CLI_UNAVAILABLE;
        default:
            return CLI_ERROR;
    }
}

int cli_fail(int code, const char *errmsg)
{
    fprintf(stderr, "%s: %s\n", CLI_PROG,
            errmsg != NULL && errmsg[0] != '\0' ? errmsg
                                                : cairn_strerror(code));
    return cli_exit_code(code);
}

int cli_fail_conflict(int code, const char *errmsg, uint64_t current)
{
    const char *msg = errmsg != NULL && errmsg[0] != '\0'
                          ? errmsg
                          : cairn_strerror(code);

    if (code != CAIRN_ECONFLICT || strstr(msg, "current revision") != NULL) {
        return cli_fail(code, errmsg);
    }
    if (current == 0) {
        fprintf(stderr, "%s: %s (the key has no live value)\n", CLI_PROG, msg);
    } else {
        fprintf(stderr, "%s: %s (current revision %" PRIu64 ")\n", CLI_PROG,
                msg, current);
    }
    return CLI_NEGATIVE;
}

int cli_json_print(json_t *j)
{
    int rc;

    if (j == NULL) {
        fprintf(stderr, "%s: out of memory\n", CLI_PROG);
        return CLI_ERROR;
    }
    rc = json_dumpf(j, stdout, JSON_COMPACT);
    json_decref(j);
    if (rc != 0 || fputc('\n', stdout) == EOF) {
        fprintf(stderr, "%s: cannot write the output\n", CLI_PROG);
        return CLI_ERROR;
    }
    return CLI_OK;
}

/* The length of the valid UTF-8 sequence at @p (at most @len bytes) that
 * encodes a printable character, or 0. */
static size_t utf8_len(const unsigned char *p, size_t len)
{
    json_t *s;
    size_t n;

    if (p[0] >= 0x20 && p[0] < 0x7f) {
        return 1;
    }
    if (p[0] < 0xc2 || p[0] > 0xf4) {
        return 0; /* ASCII controls, DEL, continuation bytes, overlongs */
    }
    n = p[0] < 0xe0 ? 2 : p[0] < 0xf0 ? 3 : 4;
    if (n > len) {
        return 0;
    }
    s = json_stringn((const char *)p, n); /* jansson checks the sequence */
    if (s == NULL) {
        return 0;
    }
    json_decref(s);
    return n;
}

void cli_put_escaped(FILE *f, const void *data, size_t len)
{
    const unsigned char *p = data;
    size_t i = 0, n;

    while (i < len) {
        if (p[i] == '\\') {
            fputs("\\\\", f);
            i++;
            continue;
        }
        n = utf8_len(p + i, len - i);
        if (n > 0) {
            fwrite(p + i, 1, n, f);
            i += n;
            continue;
        }
        switch (p[i]) {
            case '\n':
                fputs("\\n", f);
                break;
            case '\t':
                fputs("\\t", f);
                break;
            case '\r':
                fputs("\\r", f);
                break;
            default:
                fprintf(f, "\\x%02x", p[i]);
        }
        i++;
    }
}

