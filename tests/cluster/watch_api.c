/*
 * cairn-watch-api: libcairn's watch API (cairn.h, "Watches") against a
 * running cluster, the parts the CLI does not use: callbacks, cancellation
 * from a callback and from another thread, and the iterator's timeouts and
 * end. Run by test_watch.sh on a fresh bucket.
 *
 *   cairn-watch-api SERVERS BUCKET
 *
 * BUCKET exists, is empty, keeps at least 4 revisions per key and has 3
 * replicas. The checks, in order (each prints "ok X: ..." when it passes):
 *   a. a callback watch of prefix cb/ (current values first) gets cb/a, then
 *      SYNCED, then exactly the later changes of cb/ keys at the revisions
 *      the writes returned, never another key;
 *   b. a callback watch of the whole bucket from revision 1 that cancels
 *      itself from its 3rd ENTRY callback gets nothing after that callback;
 *   c. cairn_watch_cancel() from another thread while events flow: once it
 *      returns no callback runs (none starts, none is still running);
 *   d. an iterator watch of one key from revision 1: the entries in order
 *      with SYNCED after the initial data, CAIRN_ETIMEDOUT with no event,
 *      CAIRN_ECANCELED after cairn_watch_cancel();
 *   e. errors at open: an unknown bucket is CAIRN_ENOBUCKET; a key and a
 *      prefix together are CAIRN_EINVAL, without a network call.
 * Exit: 0 all passed, 1 a check failed (the first failure is printed),
 * 2 usage, 3 the cluster did not answer.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cairn.h"

#define PROG "cairn-watch-api"
#define WAIT_MS 10000 /* the longest any expected event may take */

static const char *bucket;

/* ------------------------------------------------------------------------
 * Helpers
 * ---------------------------------------------------------------------- */

/* Exit at once: _exit, so that a watch's I/O thread still running is no
 * concern (and no leak report turns the status into another). */
static void die(int status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

static void die(int status, const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fputs(status == 1 ? "FAIL " : PROG ": ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    _exit(status);
}

#define FAIL(...) die(1, __VA_ARGS__)

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000,
                          .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A cluster that does not answer is exit 3, anything else a failure. */
static void check_call(int rc, const char *what, const char *err)
{
    if (rc == 0) {
        return;
    }
    if (rc == CAIRN_EUNAVAILABLE || rc == CAIRN_ETIMEDOUT) {
        die(3, "%s: %s", what, err);
    }
    FAIL("%s: %s (%s)", what, err, cairn_errname(rc));
}

static uint64_t put(cairn_client *c, const char *key, const char *value)
{
    char err[CAIRN_ERRMSG_SIZE] = "", what[128];
    cairn_result res = {0};
    int rc = cairn_put(c, bucket, key, strlen(key), value, strlen(value), NULL,
                       &res, err);
    snprintf(what, sizeof what, "put %s", key);
    check_call(rc, what, err);
    return res.revision;
}

static uint64_t del(cairn_client *c, const char *key)
{
    char err[CAIRN_ERRMSG_SIZE] = "", what[128];
    cairn_result res = {0};
    int rc = cairn_delete(c, bucket, key, strlen(key), 0, &res, err);
    snprintf(what, sizeof what, "delete %s", key);
    check_call(rc, what, err);
    return res.revision;
}

/* Wait until every replica of the bucket has applied as much as the others
 * (nothing is being written): a watch without `from` reads the current
 * values of the replica that serves it, and only then are they the values
 * just written whichever replica it is. */
static void wait_caught_up(cairn_client *c)
{
    int64_t deadline = now_ms() + WAIT_MS;
    char last[160] = "no status";
    for (;;) {
        char err[CAIRN_ERRMSG_SIZE] = "";
        cairn_cluster *m = NULL;
        int rc = cairn_cluster_status(c, &m, err);
        bool done = false;
        if (rc == 0) {
            snprintf(last, sizeof last, "bucket not in the cluster map");
            for (size_t i = 0; i < m->n_buckets; i++) {
                const cairn_bucket_status *b = &m->buckets[i];
                uint64_t a0;
                if (strcmp(b->name, bucket) != 0 || b->n_replicas == 0) {
                    continue;
                }
                a0 = b->replicas[0].applied;
                done = a0 != 0;
                snprintf(last, sizeof last, "applied:");
                for (uint32_t j = 0; j < b->n_replicas; j++) {
                    size_t o = strlen(last);
                    done = done && b->replicas[j].applied == a0;
                    snprintf(last + o, sizeof last - o, " %" PRIu64,
                             b->replicas[j].applied);
                }
            }
        } else {
            snprintf(last, sizeof last, "%.150s", err);
        }
        cairn_cluster_free(m);
        if (done) {
            return;
        }
        if (now_ms() > deadline) {
            die(3, "the replicas of %s did not catch up within %d ms (%s)",
                bucket, WAIT_MS, last);
        }
        sleep_ms(50);
    }
}

/* ------------------------------------------------------------------------
 * Recording callback events
 * ---------------------------------------------------------------------- */

/* One event as a callback saw it (keys and values here are short). */
struct rec {
    uint32_t type;
    uint64_t revision;
    uint64_t entry_revision;
    uint32_t op;
    char key[64];
    bool has_value;
    char value[64];
    int code;
    char msg[CAIRN_ERRMSG_SIZE];
};

struct recorder {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* on CLOCK_MONOTONIC */
    struct rec *evs;
    size_t n, cap;
    unsigned entries; /* ENTRY events among them */
    bool overflow;
    /* b: cancel from the callback of this ENTRY (0: never) */
    unsigned cancel_at;
    cairn_watch *w;      /* published once cairn_watch_open() returned */
    bool cancelled;      /* the callback called cairn_watch_cancel() */
    bool waited;         /* it had to wait for cairn_watch_open() */
    size_t n_at_cancel;  /* events recorded when it did */
    /* c: callbacks must not run once cairn_watch_cancel() returned */
    int delay_us;            /* each callback lasts this long */
    atomic_int running;      /* callbacks running now (0 or 1) */
    atomic_bool after_cancel; /* set right after cairn_watch_cancel() */
    char violation[256];      /* what a callback saw wrong; "" none */
};

static void rec_init(struct recorder *r)
{
    pthread_condattr_t a;
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cv, &a);
    pthread_condattr_destroy(&a);
    atomic_init(&r->after_cancel, false);
    atomic_init(&r->running, 0);
}

static void rec_destroy(struct recorder *r)
{
    free(r->evs);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
}

/* Wait on r->cv (r->mu held) until @deadline (now_ms()). */
static void rec_wait(struct recorder *r, int64_t deadline)
{
    int64_t left = deadline - now_ms();
    struct timespec ts;
    if (left <= 0) {
        return;
    }
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += left / 1000;
    ts.tv_nsec += (long)(left % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&r->cv, &r->mu, &ts);
}

static void copy_bytes(char *dst, size_t size, const void *src, size_t len)
{
    if (len >= size) {
        len = size - 1;
    }
    if (len > 0) {
        memcpy(dst, src, len);
    }
    dst[len] = '\0';
}

static void violation(struct recorder *r, const char *msg)
{
    if (r->violation[0] == '\0') {
        snprintf(r->violation, sizeof r->violation, "%s", msg);
    }
}

/* The callback of every watch here (on the client's I/O thread). */
static void on_event(void *data, const cairn_watch_event *ev)
{
    struct recorder *r = data;
    cairn_watch *cancel = NULL;

    atomic_fetch_add(&r->running, 1);
    if (atomic_load(&r->after_cancel)) {
        pthread_mutex_lock(&r->mu);
        violation(r, "a callback started after cairn_watch_cancel() returned");
        pthread_mutex_unlock(&r->mu);
    }
    pthread_mutex_lock(&r->mu);
    if (r->cancelled) {
        violation(r, "a callback ran after the one that called "
                     "cairn_watch_cancel()");
    }
    if (r->n == r->cap) {
        size_t cap = r->cap != 0 ? r->cap * 2 : 64;
        struct rec *evs = realloc(r->evs, cap * sizeof *evs);
        if (evs == NULL) {
            r->overflow = true;
            pthread_mutex_unlock(&r->mu);
            atomic_fetch_sub(&r->running, 1);
            return;
        }
        r->evs = evs;
        r->cap = cap;
    }
    {
        struct rec *e = &r->evs[r->n++];
        memset(e, 0, sizeof *e);
        e->type = ev->type;
        e->revision = ev->revision;
        if (ev->type == CAIRN_WATCH_ENTRY) {
            r->entries++;
            e->entry_revision = ev->entry.revision;
            e->op = ev->entry.op;
            copy_bytes(e->key, sizeof e->key, ev->entry.key,
                       ev->entry.key_len);
            e->has_value = ev->entry.value != NULL;
            if (e->has_value) {
                copy_bytes(e->value, sizeof e->value, ev->entry.value,
                           ev->entry.value_len);
            }
        } else if (ev->type == CAIRN_WATCH_ENDED) {
            e->code = ev->code;
            snprintf(e->msg, sizeof e->msg, "%s",
                     ev->errmsg != NULL ? ev->errmsg : "(no message)");
        }
    }
    if (ev->type == CAIRN_WATCH_ENTRY && r->cancel_at != 0 &&
        r->entries == r->cancel_at) {
        /* The first events may come before cairn_watch_open() returned:
         * wait (bounded) for the main thread to publish the watch. The
         * open returns once the first frame arrived: it does not wait for
         * this callback of a later one. */
        int64_t deadline = now_ms() + WAIT_MS;
        r->waited = r->w == NULL;
        while (r->w == NULL && now_ms() < deadline) {
            rec_wait(r, deadline);
        }
        if (r->w == NULL) {
            violation(r, "cairn_watch_open() did not return while a later "
                         "callback waited for it");
        }
        cancel = r->w;
    }
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    if (cancel != NULL) {
        cairn_watch_cancel(cancel);
        pthread_mutex_lock(&r->mu);
        r->cancelled = true;
        r->n_at_cancel = r->n;
        pthread_cond_broadcast(&r->cv);
        pthread_mutex_unlock(&r->mu);
    }
    if (r->delay_us > 0) {
        usleep((useconds_t)r->delay_us);
        if (atomic_load(&r->after_cancel)) {
            pthread_mutex_lock(&r->mu);
            violation(r, "a callback was still running when "
                         "cairn_watch_cancel() returned");
            pthread_mutex_unlock(&r->mu);
        }
    }
    atomic_fetch_sub(&r->running, 1);
}

/* Wait until @n events were recorded (or WAIT_MS passed); the count. */
static size_t rec_wait_n(struct recorder *r, size_t n)
{
    int64_t deadline = now_ms() + WAIT_MS;
    size_t got;
    pthread_mutex_lock(&r->mu);
    while (r->n < n && now_ms() < deadline) {
        rec_wait(r, deadline);
    }
    got = r->n;
    pthread_mutex_unlock(&r->mu);
    return got;
}

static const char *type_name(uint32_t t)
{
    return t == CAIRN_WATCH_ENTRY    ? "ENTRY"
           : t == CAIRN_WATCH_SYNCED ? "SYNCED"
           : t == CAIRN_WATCH_ENDED  ? "ENDED"
                                     : "?";
}

static const char *op_name(uint32_t op)
{
    return op == CAIRN_OP_PUT ? "PUT"
           : op == CAIRN_OP_DEL ? "DEL"
           : op == CAIRN_OP_PURGE ? "PURGE"
                                  : "?";
}

/* The recorded events, for failure messages (static buffer). */
static const char *rec_text(struct recorder *r)
{
    static char buf[2048];
    size_t o = 0;
    buf[0] = '\0';
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->n && o + 96 < sizeof buf; i++) {
        const struct rec *e = &r->evs[i];
        if (e->type == CAIRN_WATCH_ENTRY) {
            o += (size_t)snprintf(buf + o, sizeof buf - o,
                                  "[%s %s %s%s%s @%" PRIu64 "] ",
                                  type_name(e->type), op_name(e->op), e->key,
                                  e->has_value ? "=" : "", e->value,
                                  e->revision);
        } else if (e->type == CAIRN_WATCH_ENDED) {
            o += (size_t)snprintf(buf + o, sizeof buf - o, "[ENDED %s: %.60s] ",
                                  cairn_errname(e->code), e->msg);
        } else {
            o += (size_t)snprintf(buf + o, sizeof buf - o, "[%s @%" PRIu64 "] ",
                                  type_name(e->type), e->revision);
        }
    }
    if (r->n == 0) {
        snprintf(buf, sizeof buf, "(none)");
    }
    pthread_mutex_unlock(&r->mu);
    return buf;
}

/* Fail unless event @i is an ENTRY of @key with @op (and @value for a PUT)
 * at revision @rev. */
static void expect_entry(struct recorder *r, const char *check, size_t i,
                         const char *key, uint32_t op, const char *value,
                         uint64_t rev)
{
    const struct rec *e = &r->evs[i];
    bool ok = e->type == CAIRN_WATCH_ENTRY && strcmp(e->key, key) == 0 &&
              e->op == op && e->revision == rev && e->entry_revision == rev &&
              (op == CAIRN_OP_PUT ? e->has_value && strcmp(e->value, value) == 0
                                  : !e->has_value);
    if (!ok) {
        FAIL("%s: event %zu should be ENTRY %s %s%s%s at revision %" PRIu64
             " (the write's); events: %s",
             check, i + 1, op_name(op), key, value != NULL ? "=" : "",
             value != NULL ? value : "", rev, rec_text(r));
    }
}

/* Fail if an ENTRY of a key without @prefix was recorded. */
static void expect_prefix_only(struct recorder *r, const char *check,
                               const char *prefix)
{
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->n; i++) {
        if (r->evs[i].type == CAIRN_WATCH_ENTRY &&
            strncmp(r->evs[i].key, prefix, strlen(prefix)) != 0) {
            pthread_mutex_unlock(&r->mu);
            FAIL("%s: a watch of prefix %s got key %s; events: %s", check,
                 prefix, r->evs[i].key, rec_text(r));
        }
    }
    pthread_mutex_unlock(&r->mu);
}

static void expect_violation_free(struct recorder *r, const char *check)
{
    if (r->violation[0] != '\0') {
        FAIL("%s: %s; events: %s", check, r->violation, rec_text(r));
    }
    if (r->overflow) {
        FAIL("%s: out of memory recording events", check);
    }
}

static cairn_watch *open_cb(cairn_client *c, const struct cairn_watch_options *wo,
                            struct recorder *r, const char *what)
{
    char err[CAIRN_ERRMSG_SIZE] = "";
    cairn_watch *w = NULL;
    int rc = cairn_watch_open(c, bucket, wo, on_event, r, &w, err);
    check_call(rc, what, err);
    if (w == NULL) {
        FAIL("%s: cairn_watch_open() returned 0 without a watch", what);
    }
    return w;
}

/* ------------------------------------------------------------------------
 * a. A callback watch of a prefix, current values first
 * ---------------------------------------------------------------------- */

static void check_a(cairn_client *c, uint64_t first[3])
{
    const char *C = "a (callback prefix watch)";
    struct cairn_watch_options wo = {.prefix = "cb/", .prefix_len = 3};
    struct recorder r;
    cairn_watch *w;
    uint64_t ra, ro, rb, rdel, rc3;
    size_t n;

    rec_init(&r);
    ra = put(c, "cb/a", "1");
    ro = put(c, "other", "x");
    wait_caught_up(c);
    w = open_cb(c, &wo, &r, "a: watch cb/*");

    /* The initial data: cb/a as it is, then SYNCED. */
    n = rec_wait_n(&r, 2);
    if (n < 2) {
        FAIL("%s: %zu events within %d ms, want ENTRY cb/a and SYNCED; "
             "events: %s", C, n, WAIT_MS, rec_text(&r));
    }
    expect_prefix_only(&r, C, "cb/");
    expect_entry(&r, C, 0, "cb/a", CAIRN_OP_PUT, "1", ra);
    if (r.evs[1].type != CAIRN_WATCH_SYNCED || r.evs[1].revision < ra) {
        FAIL("%s: event 2 should be SYNCED at revision >= %" PRIu64
             "; events: %s", C, ra, rec_text(&r));
    }

    /* Changes as they happen, only those of cb/ keys. */
    rb = put(c, "cb/b", "2");
    rdel = del(c, "cb/a");
    rc3 = put(c, "cb/c", "3");
    (void)put(c, "other2", "y");
    if (!(rb < rdel && rdel < rc3)) {
        FAIL("%s: the writes returned revisions %" PRIu64 ", %" PRIu64
             ", %" PRIu64 ", not increasing",
             C, rb, rdel, rc3);
    }
    (void)rec_wait_n(&r, 5);
    sleep_ms(1000); /* anything extra (other2, a duplicate) comes by now */
    pthread_mutex_lock(&r.mu);
    n = r.n;
    pthread_mutex_unlock(&r.mu);
    expect_prefix_only(&r, C, "cb/");
    if (n != 5) {
        FAIL("%s: %zu events after 4 writes, want 5 (cb/a, SYNCED, cb/b, "
             "cb/a deleted, cb/c); events: %s",
             C, n, rec_text(&r));
    }
    expect_entry(&r, C, 2, "cb/b", CAIRN_OP_PUT, "2", rb);
    expect_entry(&r, C, 3, "cb/a", CAIRN_OP_DEL, NULL, rdel);
    expect_entry(&r, C, 4, "cb/c", CAIRN_OP_PUT, "3", rc3);
    expect_violation_free(&r, C);
    cairn_watch_close(w);
    first[0] = ra;
    first[1] = ro;
    first[2] = rb;
    printf("ok a: callback prefix watch (cb/a @%" PRIu64 ", SYNCED @%" PRIu64
           ", then cb/b @%" PRIu64 ", cb/a DEL @%" PRIu64 ", cb/c @%" PRIu64
           "; other keys never)\n",
           ra, r.evs[1].revision, rb, rdel, rc3);
    rec_destroy(&r);
}

/* ------------------------------------------------------------------------
 * b. Cancel from inside the callback
 * ---------------------------------------------------------------------- */

static void check_b(cairn_client *c, const uint64_t first[3])
{
    /* The bucket was empty: its first revisions are check a's writes. */
    static const char *const keys[3] = {"cb/a", "other", "cb/b"};
    static const char *const values[3] = {"1", "x", "2"};
    const char *C = "b (cancel from the callback)";
    struct cairn_watch_options wo = {.from = 1};
    struct recorder r;
    cairn_watch *w;
    int64_t deadline;
    bool cancelled;
    size_t n;

    rec_init(&r);
    r.cancel_at = 3;
    w = open_cb(c, &wo, &r, "b: watch the bucket from 1");
    pthread_mutex_lock(&r.mu);
    r.w = w; /* the 3rd ENTRY's callback cancels it */
    pthread_cond_broadcast(&r.cv);
    deadline = now_ms() + WAIT_MS;
    while (!r.cancelled && now_ms() < deadline) {
        rec_wait(&r, deadline);
    }
    n = r.n_at_cancel;
    cancelled = r.cancelled;
    pthread_mutex_unlock(&r.mu);
    if (!cancelled) {
        FAIL("%s: no 3rd ENTRY event within %d ms; events: %s", C, WAIT_MS,
             rec_text(&r));
    }
    if (n != 3) {
        FAIL("%s: %zu events up to the cancelling callback, want 3; "
             "events: %s", C, n, rec_text(&r));
    }
    for (size_t i = 0; i < 3; i++) {
        expect_entry(&r, C, i, keys[i], CAIRN_OP_PUT, values[i], first[i]);
    }

    for (int i = 0; i < 5; i++) {
        char key[32];
        snprintf(key, sizeof key, "b/%d", i);
        (void)put(c, key, "after cancel");
    }
    sleep_ms(1000);
    pthread_mutex_lock(&r.mu);
    n = r.n;
    pthread_mutex_unlock(&r.mu);
    if (n != 3) {
        /* An ENDED event (even CAIRN_ECANCELED) is a callback too: the
         * header promises none after the one that cancelled. */
        FAIL("%s: %zu callbacks after the one that called "
             "cairn_watch_cancel() (5 writes followed); events: %s",
             C, n - 3, rec_text(&r));
    }
    expect_violation_free(&r, C);
    cairn_watch_close(w);
    printf("ok b: cancel from the 3rd ENTRY callback (revisions %" PRIu64
           " %" PRIu64 " %" PRIu64 "%s), no callback after it in 1 s with 5 "
           "more writes\n",
           first[0], first[1], first[2],
           r.waited ? "; it ran before the main thread had the watch" : "");
    rec_destroy(&r);
}

/* ------------------------------------------------------------------------
 * c. Cancel from another thread while events flow
 * ---------------------------------------------------------------------- */

#define C_WRITES 200
#define C_CANCEL_AFTER 50

struct canceller {
    struct recorder *r;
    cairn_watch *w;
    size_t seen;        /* events when it cancelled */
    size_t n_at_return; /* events when cairn_watch_cancel() returned */
    bool during;        /* a callback was running when it was called */
    bool timed_out;
};

static void *cancel_main(void *arg)
{
    struct canceller *k = arg;
    struct recorder *r = k->r;
    int64_t deadline = now_ms() + 3 * WAIT_MS;
    pthread_mutex_lock(&r->mu);
    while (r->entries < C_CANCEL_AFTER && now_ms() < deadline) {
        rec_wait(r, deadline);
    }
    k->seen = r->n;
    k->timed_out = r->entries < C_CANCEL_AFTER;
    pthread_mutex_unlock(&r->mu); /* not held: a callback may need it */
    k->during = atomic_load(&r->running) != 0;
    cairn_watch_cancel(k->w);
    atomic_store(&r->after_cancel, true);
    pthread_mutex_lock(&r->mu);
    k->n_at_return = r->n;
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

static void check_c(cairn_client *c)
{
    const char *C = "c (cancel from another thread)";
    struct cairn_watch_options wo = {.prefix = "c/", .prefix_len = 2};
    struct recorder r;
    struct canceller k = {0};
    pthread_t t;
    uint64_t revs[C_WRITES];
    size_t n, first = 0, entries = 0;

    rec_init(&r);
    r.delay_us = 1000; /* a callback is likely running when cancel comes */
    k.r = &r;
    k.w = open_cb(c, &wo, &r, "c: watch c/*");
    if (pthread_create(&t, NULL, cancel_main, &k) != 0) {
        FAIL("%s: cannot start a thread", C);
    }
    for (int i = 0; i < C_WRITES; i++) {
        char key[32], value[32];
        snprintf(key, sizeof key, "c/%03d", i);
        snprintf(value, sizeof value, "%d", i);
        revs[i] = put(c, key, value);
    }
    pthread_join(t, NULL);
    sleep_ms(500); /* a late callback would come by now */
    if (k.timed_out) {
        FAIL("%s: fewer than %d events in %d ms; events: %s", C,
             C_CANCEL_AFTER, 3 * WAIT_MS, rec_text(&r));
    }
    expect_violation_free(&r, C);
    pthread_mutex_lock(&r.mu);
    n = r.n;
    pthread_mutex_unlock(&r.mu);
    if (n != k.n_at_return) {
        FAIL("%s: %zu events when cairn_watch_cancel() returned, %zu now",
             C, k.n_at_return, n);
    }
    /* What came before the cancel: SYNCED (nothing was there yet), then
     * the first writes in order, none skipped. */
    if (n == 0 || r.evs[0].type != CAIRN_WATCH_SYNCED) {
        FAIL("%s: the first event should be SYNCED; events: %s", C,
             rec_text(&r));
    }
    first = 1;
    for (size_t i = first; i < n; i++) {
        char key[32], value[32];
        snprintf(key, sizeof key, "c/%03zu", i - first);
        snprintf(value, sizeof value, "%zu", i - first);
        expect_entry(&r, C, i, key, CAIRN_OP_PUT, value, revs[i - first]);
        entries++;
    }
    if (entries >= C_WRITES) {
        FAIL("%s: the cancel came after all %d events: nothing was tested", C,
             C_WRITES);
    }
    cairn_watch_close(k.w);
    printf("ok c: cairn_watch_cancel() from another thread after %zu of %d "
           "events%s; no callback ran once it returned\n",
           entries, C_WRITES,
           k.during ? ", called while a callback ran" : "");
    rec_destroy(&r);
}

/* ------------------------------------------------------------------------
 * d. Iterator
 * ---------------------------------------------------------------------- */

static void next_event(cairn_watch *w, const char *C, const char *want,
                       cairn_watch_event **ev)
{
    char err[CAIRN_ERRMSG_SIZE] = "";
    int rc = cairn_watch_next(w, 5000, ev, err);
    if (rc != 0) {
        FAIL("%s: cairn_watch_next(5000 ms) for %s: %s (%s)", C, want, err,
             cairn_errname(rc));
    }
    if (*ev == NULL) {
        FAIL("%s: cairn_watch_next() returned 0 without an event", C);
    }
}

static void expect_it_entry(cairn_watch_event *ev, const char *C, int nth,
                            const char *value, uint64_t rev)
{
    bool ok = ev->type == CAIRN_WATCH_ENTRY && ev->revision == rev &&
              ev->entry.revision == rev && ev->entry.op == CAIRN_OP_PUT &&
              ev->entry.key_len == 4 && memcmp(ev->entry.key, "it/k", 4) == 0 &&
              ev->entry.value != NULL && ev->entry.value_len == strlen(value) &&
              memcmp(ev->entry.value, value, strlen(value)) == 0;
    if (!ok) {
        FAIL("%s: event %d should be ENTRY PUT it/k=%s at revision %" PRIu64
             ", got %s (op %u, key %.*s, revision %" PRIu64 ")",
             C, nth, value, rev, type_name(ev->type), ev->entry.op,
             (int)ev->entry.key_len,
             ev->entry.key != NULL ? (const char *)ev->entry.key : "",
             ev->revision);
    }
}

static void check_d(cairn_client *c)
{
    const char *C = "d (iterator)";
    struct cairn_watch_options wo = {.key = "it/k", .key_len = 4, .from = 1};
    char err[CAIRN_ERRMSG_SIZE] = "";
    cairn_watch *w = NULL;
    cairn_watch_event *ev = NULL;
    uint64_t r1, r2, r3, synced;
    int64_t t0;
    int rc;

    r1 = put(c, "it/k", "v1");
    wait_caught_up(c); /* v1 is initial data on whichever replica */
    rc = cairn_watch_open(c, bucket, &wo, NULL, NULL, &w, err);
    check_call(rc, "d: watch it/k from 1", err);
    r2 = put(c, "it/k", "v2");
    r3 = put(c, "it/k", "v3");

    next_event(w, C, "v1", &ev);
    expect_it_entry(ev, C, 1, "v1", r1);
    cairn_watch_event_free(ev);
    next_event(w, C, "SYNCED", &ev);
    if (ev->type != CAIRN_WATCH_SYNCED || ev->revision < r1 ||
        ev->revision >= r2) {
        FAIL("%s: event 2 should be SYNCED at a revision in %" PRIu64
             "..%" PRIu64 ", got %s at %" PRIu64,
             C, r1, r2 - 1, type_name(ev->type), ev->revision);
    }
    synced = ev->revision;
    cairn_watch_event_free(ev);
    next_event(w, C, "v2", &ev);
    expect_it_entry(ev, C, 3, "v2", r2);
    cairn_watch_event_free(ev);
    next_event(w, C, "v3", &ev);
    expect_it_entry(ev, C, 4, "v3", r3);
    cairn_watch_event_free(ev);

    ev = NULL;
    t0 = now_ms();
    rc = cairn_watch_next(w, 0, &ev, err);
    if (rc != CAIRN_ETIMEDOUT || ev != NULL || now_ms() - t0 > 500) {
        FAIL("%s: cairn_watch_next(0 ms) with nothing queued: %s (%s)%s, "
             "want CAIRN_ETIMEDOUT at once",
             C, cairn_errname(rc), rc != 0 ? err : "an event",
             now_ms() - t0 > 500 ? " after a wait" : "");
    }
    t0 = now_ms();
    rc = cairn_watch_next(w, 300, &ev, err);
    if (rc != CAIRN_ETIMEDOUT || now_ms() - t0 < 250 ||
        now_ms() - t0 > 3000) {
        FAIL("%s: cairn_watch_next(300 ms) with nothing to come: %s after "
             "%" PRId64 " ms, want CAIRN_ETIMEDOUT after about 300",
             C, cairn_errname(rc), now_ms() - t0);
    }
    cairn_watch_event_free(ev); /* NULL unless the check above failed */

    cairn_watch_cancel(w);
    ev = NULL;
    t0 = now_ms();
    rc = cairn_watch_next(w, 5000, &ev, err);
    if (rc != CAIRN_ECANCELED || ev != NULL || now_ms() - t0 > 1000) {
        FAIL("%s: cairn_watch_next() after cairn_watch_cancel(): %s (%s) "
             "after %" PRId64 " ms, want CAIRN_ECANCELED at once",
             C, cairn_errname(rc), rc != 0 ? err : "an event",
             now_ms() - t0);
    }
    rc = cairn_watch_next(w, 0, &ev, err);
    if (rc != CAIRN_ECANCELED) {
        FAIL("%s: cairn_watch_next() again after cancel: %s, want "
             "CAIRN_ECANCELED", C, cairn_errname(rc));
    }
    cairn_watch_close(w);
    printf("ok d: iterator (it/k @%" PRIu64 ", SYNCED @%" PRIu64
           ", @%" PRIu64 ", @%" PRIu64 "; ETIMEDOUT, then ECANCELED)\n",
           r1, synced, r2, r3);
}

/* ------------------------------------------------------------------------
 * e. Errors at open
 * ---------------------------------------------------------------------- */

static void check_e(cairn_client *c)
{
    const char *C = "e (errors at open)";
    char err[CAIRN_ERRMSG_SIZE] = "", nobucket[CAIRN_BUCKET_NAME_MAX + 1];
    struct cairn_watch_options both = {.key = "k", .key_len = 1,
                                       .prefix = "p", .prefix_len = 1};
    struct cairn_client_options o = {.servers = "127.0.0.1:1",
                                     .name = PROG " (nowhere)",
                                     .connect_timeout_ms = 500,
                                     .deadline_ms = 3000};
    struct recorder r;
    cairn_client *nowhere = NULL;
    cairn_watch *w = NULL;
    int64_t t0;
    size_t n;
    int rc;

    rec_init(&r);
    snprintf(nobucket, sizeof nobucket, "%.40s-no-such", bucket);
    rc = cairn_watch_open(c, nobucket, NULL, on_event, &r, &w, err);
    if (rc != CAIRN_ENOBUCKET) {
        FAIL("%s: callback watch of bucket %s: %s (%s), want "
             "CAIRN_ENOBUCKET",
             C, nobucket, cairn_errname(rc), rc != 0 ? err : "opened");
    }
    if (strstr(err, nobucket) == NULL) {
        FAIL("%s: the message does not name bucket %s: %s", C, nobucket, err);
    }
    sleep_ms(200);
    pthread_mutex_lock(&r.mu);
    n = r.n;
    pthread_mutex_unlock(&r.mu);
    if (n != 0) {
        FAIL("%s: a refused watch called its callback: %s", C, rec_text(&r));
    }
    rc = cairn_watch_open(c, nobucket, NULL, NULL, NULL, &w, err);
    if (rc != CAIRN_ENOBUCKET) {
        FAIL("%s: iterator watch of bucket %s: %s (%s), want "
             "CAIRN_ENOBUCKET",
             C, nobucket, cairn_errname(rc), rc != 0 ? err : "opened");
    }

    /* A key and a prefix: refused before anything is sent, so even a
     * client whose only server is nowhere answers at once. */
    rc = cairn_client_open(&o, &nowhere, err);
    if (rc != 0) {
        FAIL("%s: cairn_client_open(127.0.0.1:1): %s", C, err);
    }
    err[0] = '\0';
    t0 = now_ms();
    rc = cairn_watch_open(nowhere, bucket, &both, on_event, &r, &w, err);
    if (rc != CAIRN_EINVAL || now_ms() - t0 > 500) {
        FAIL("%s: a watch of a key and a prefix: %s (%s) after %" PRId64
             " ms, want CAIRN_EINVAL at once (no network call)",
             C, cairn_errname(rc), rc != 0 ? err : "opened", now_ms() - t0);
    }
    if (err[0] == '\0') {
        FAIL("%s: CAIRN_EINVAL without a message", C);
    }
    cairn_client_close(nowhere);
    rec_destroy(&r);
    printf("ok e: errors at open (%s; %s)\n", cairn_errname(CAIRN_ENOBUCKET),
           err);
}

int main(int argc, char **argv)
{
    struct cairn_client_options o = {0};
    char err[CAIRN_ERRMSG_SIZE] = "";
    cairn_client *c = NULL;
    uint64_t first[3]; /* the revisions of check a's first three writes */
    int rc;

    if (argc != 3 || argv[1][0] == '\0' || argv[2][0] == '\0') {
        fprintf(stderr, "usage: " PROG " SERVERS BUCKET\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    bucket = argv[2];
    o.servers = argv[1];
    o.name = PROG;
    rc = cairn_client_open(&o, &c, err);
    if (rc != 0) {
        fprintf(stderr, PROG ": %s\n", err);
        return 2;
    }

    check_a(c, first);
    check_b(c, first);
    check_c(c);
    check_d(c);
    check_e(c);
    cairn_client_close(c);
    printf("all checks passed\n");
    return 0;
}
