/*
 * A feature-flag reader on libcairn: print the flags asked for, then (with
 * --follow N) check every second, N times, and print the flags that
 * changed. Values are read linearizably, so a flag flipped by anyone is
 * seen on the next check.
 *
 *   cairn-example-flags [--follow N] SERVERS BUCKET FLAG...
 *
 *   $ cairn put flags new-checkout on
 *   $ cairn-example-flags 127.0.0.1:7401 flags new-checkout dark-mode
 *   new-checkout = on (revision 3)
 *   dark-mode is not set
 *
 * The program shows the parts of the API an application needs: opening a
 * client with seed addresses, reading keys, telling "not found" from real
 * errors, freeing results, closing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cairn.h>

struct flag {
    const char *name;
    uint64_t revision; /* 0: not set */
};

/* Read @f; print it when it changed (or when @always). Returns 0, or the
 * error code of a failure other than "not found". */
static int check(cairn_client *c, const char *bucket, struct flag *f,
                 int always)
{
    char err[CAIRN_ERRMSG_SIZE];
    cairn_entry *e = NULL;
    int rc = cairn_get(c, bucket, f->name, strlen(f->name), NULL, &e, err);
    if (rc == CAIRN_ENOTFOUND) {
        if (always || f->revision != 0) {
            printf("%s is not set\n", f->name);
        }
        f->revision = 0;
        return 0;
    }
    if (rc != 0) {
        fprintf(stderr, "cairn-example-flags: %s\n", err);
        return rc;
    }
    if (always || e->revision != f->revision) {
        printf("%s = %.*s (revision %llu)\n", f->name, (int)e->value_len,
               (const char *)e->value, (unsigned long long)e->revision);
    }
    f->revision = e->revision;
    cairn_entry_free(e);
    return 0;
}

int main(int argc, char **argv)
{
    struct cairn_client_options opts = {.name = "cairn-example-flags"};
    char err[CAIRN_ERRMSG_SIZE];
    struct flag *flags;
    cairn_client *c;
    long follow = 0;
    int first = 1, n, rc;

    if (argc > 2 && strcmp(argv[1], "--follow") == 0) {
        follow = strtol(argv[2], NULL, 10);
        argv += 2;
        argc -= 2;
    }
    if (argc < 4 || follow < 0) {
        fprintf(stderr,
                "usage: cairn-example-flags [--follow N] SERVERS BUCKET "
                "FLAG...\n");
        return 2;
    }
    opts.servers = argv[1];
    if ((rc = cairn_client_open(&opts, &c, err)) != 0) {
        fprintf(stderr, "cairn-example-flags: %s\n", err);
        return 2;
    }
    n = argc - 3;
    flags = calloc((size_t)n, sizeof *flags);
    for (int i = 0; flags != NULL && i < n; i++) {
        flags[i].name = argv[3 + i];
    }
    rc = flags == NULL ? CAIRN_ENOMEM : 0;
    for (long round = 0; rc == 0 && round <= follow; round++) {
        if (round > 0) {
            sleep(1);
        }
        for (int i = 0; rc == 0 && i < n; i++) {
            rc = check(c, argv[2], &flags[i], first);
        }
        first = 0;
        fflush(stdout);
    }
    free(flags);
    cairn_client_close(c);
    return rc == 0 ? 0 : 1;
}
