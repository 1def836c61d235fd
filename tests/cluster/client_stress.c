/*
 * cairn-client-stress: several threads sharing one libcairn client write
 * unique keys for a while and record every outcome; `verify` then checks
 * against the cluster that every acknowledged write is present exactly once
 * (one PUT revision in the key's history, the acknowledged revision) and
 * that no failed write was applied twice.
 *
 *   cairn-client-stress write SERVERS BUCKET THREADS SECONDS OUT
 *   cairn-client-stress verify SERVERS BUCKET IN
 *
 * OUT/IN: one line per write, "key ok REVISION" or "key err CODE".
 * Exit: 0 fine, 1 a check failed, 2 usage, 3 the cluster did not answer.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cairn.h"

struct worker {
    pthread_t thread;
    cairn_client *c;
    const char *bucket;
    unsigned id;
    double until;
    FILE *out;
    pthread_mutex_t *mu;
    unsigned ok, failed;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *work(void *arg)
{
    struct worker *w = arg;
    for (unsigned i = 0; now_s() < w->until; i++) {
        char key[64], value[96], err[CAIRN_ERRMSG_SIZE];
        cairn_result res;
        int rc;
        snprintf(key, sizeof key, "t%u-%06u", w->id, i);
        snprintf(value, sizeof value, "value of %s", key);
        rc = cairn_put(w->c, w->bucket, key, strlen(key), value, strlen(value),
                       NULL, &res, err);
        pthread_mutex_lock(w->mu);
        if (rc == 0) {
            fprintf(w->out, "%s ok %" PRIu64 "\n", key, res.revision);
            w->ok++;
        } else {
            fprintf(w->out, "%s err %d\n", key, rc);
            fprintf(stderr, "thread %u: %s\n", w->id, err);
            w->failed++;
        }
        pthread_mutex_unlock(w->mu);
    }
    return NULL;
}

static int open_client(const char *servers, cairn_client **c)
{
    struct cairn_client_options o = {.servers = servers,
                                     .name = "cairn-client-stress",
                                     .deadline_ms = 20000};
    char err[CAIRN_ERRMSG_SIZE];
    int rc = cairn_client_open(&o, c, err);
    if (rc != 0) {
        fprintf(stderr, "cairn-client-stress: %s\n", err);
    }
    return rc;
}

static int cmd_write(char **argv)
{
    unsigned n = (unsigned)atoi(argv[3]);
    double secs = atof(argv[4]);
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    struct worker *ws;
    cairn_client *c;
    unsigned ok = 0, failed = 0;
    FILE *out;

    if (n == 0 || n > 64 || secs <= 0 || secs > 600) {
        fprintf(stderr, "cairn-client-stress: 1..64 threads, 0..600 s\n");
        return 2;
    }
    if ((out = fopen(argv[5], "w")) == NULL) {
        perror(argv[5]);
        return 2;
    }
    if (open_client(argv[1], &c) != 0) {
        fclose(out);
        return 2;
    }
    ws = calloc(n, sizeof *ws);
    for (unsigned i = 0; ws != NULL && i < n; i++) {
        ws[i] = (struct worker){.c = c, .bucket = argv[2], .id = i,
                                .until = now_s() + secs, .out = out,
                                .mu = &mu};
        pthread_create(&ws[i].thread, NULL, work, &ws[i]);
    }
    for (unsigned i = 0; ws != NULL && i < n; i++) {
        pthread_join(ws[i].thread, NULL);
        ok += ws[i].ok;
        failed += ws[i].failed;
    }
    free(ws);
    cairn_client_close(c);
    fclose(out);
    printf("writes: %u acknowledged, %u failed\n", ok, failed);
    return ok > 0 ? 0 : 3;
}

/* Check one recorded write against the key's history. */
static int check(cairn_client *c, const char *bucket, const char *key,
                 const char *outcome, uint64_t rev)
{
    char err[CAIRN_ERRMSG_SIZE];
    cairn_entries *h = NULL;
    unsigned puts = 0;
    uint64_t seen = 0;
    int rc = cairn_history(c, bucket, key, strlen(key), NULL, &h, err);
    if (rc == CAIRN_ENOTFOUND) {
        rc = 0; /* never applied */
    } else if (rc != 0) {
        fprintf(stderr, "history %s: %s\n", key, err);
        return 3;
    }
    for (size_t i = 0; h != NULL && i < h->n; i++) {
        if (h->entries[i].op == CAIRN_OP_PUT) {
            puts++;
            seen = h->entries[i].revision;
        }
    }
    cairn_entries_free(h);
    if (strcmp(outcome, "ok") == 0 && (puts != 1 || seen != rev)) {
        fprintf(stderr,
                "FAIL %s: acknowledged at revision %" PRIu64
                ", history has %u PUT(s), last at %" PRIu64 "\n",
                key, rev, puts, seen);
        return 1;
    }
    if (strcmp(outcome, "ok") != 0 && puts > 1) {
        fprintf(stderr, "FAIL %s: failed write applied %u times\n", key,
                puts);
        return 1;
    }
    return 0;
}

static int cmd_verify(char **argv)
{
    char line[256], key[128], outcome[16];
    unsigned long long rev;
    unsigned n = 0, bad = 0;
    cairn_client *c;
    FILE *in = fopen(argv[3], "r");
    int rc = 0;

    if (in == NULL) {
        perror(argv[3]);
        return 2;
    }
    if (open_client(argv[1], &c) != 0) {
        fclose(in);
        return 2;
    }
    while (fgets(line, sizeof line, in) != NULL) {
        int r;
        if (sscanf(line, "%127s %15s %llu", key, outcome, &rev) != 3) {
            fprintf(stderr, "bad line: %s", line);
            rc = 2;
            break;
        }
        r = check(c, argv[2], key, outcome, rev);
        if (r == 3) {
            rc = 3;
            break;
        }
        bad += r != 0;
        n++;
    }
    fclose(in);
    cairn_client_close(c);
    printf("verified %u writes, %u violations\n", n, bad);
    return rc != 0 ? rc : bad > 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 7 && strcmp(argv[1], "write") == 0) {
        return cmd_write(argv + 1);
    }
    if (argc == 5 && strcmp(argv[1], "verify") == 0) {
        return cmd_verify(argv + 1);
    }
    fprintf(stderr, "usage: cairn-client-stress write SERVERS BUCKET THREADS "
                    "SECONDS OUT\n"
                    "       cairn-client-stress verify SERVERS BUCKET IN\n");
    return 2;
}
