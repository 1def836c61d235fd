/*
 * libcairn's watches (cairn.h, "Watches"; docs/client.md).
 *
 * A watch is one stream request (struct creq with .stream) that the engine
 * keeps in flight and sends again after a lost connection or a retryable
 * error. Its frames arrive here on the I/O thread (watch_frame): this file
 * keeps the watch's position (the highest revision delivered or reported
 * by the node) and rewrites the request so that the next attempt resumes
 * right after it ("from" = position + 1, "latest" only until the initial
 * data is synced). Events at or below the position are dropped, and
 * "synced" is delivered once: so a resume on another replica repeats
 * nothing and skips nothing (the node sends each stream in revision order).
 *
 * Threads: the I/O thread owns the request and the position. The caller's
 * threads talk to it through w->mu (the iterator's queue and the end of
 * the watch) and through tasks posted to the I/O thread (cancel, resume).
 * w->cb_mu is held while a callback runs, so that cairn_watch_cancel() on
 * another thread returns only once no callback is running.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* The iterator's queue: past either bound the watch is stopped on the
 * node (paused) and resumed once the queue is below the low marks. */
#define QUEUE_EVENTS_MAX 10000
#define QUEUE_BYTES_MAX (16u << 20)
#define QUEUE_EVENTS_LOW (QUEUE_EVENTS_MAX / 2)
#define QUEUE_BYTES_LOW (QUEUE_BYTES_MAX / 2)

/* A queued event: the public event and the bytes it points to. */
struct qev {
    struct qev *next;
    size_t bytes;
    cairn_watch_event ev; /* handed to the caller: freed from here */
};

struct cairn_watch {
    cairn_client *c;
    struct creq r;
    uint8_t *filter; /* (owned) the key or prefix the request points to */
    cairn_watch_cb cb;
    void *data;
    /* I/O thread only */
    uint64_t position; /* the highest revision delivered or reported */
    bool synced;       /* SYNCED was delivered */
    bool latest;       /* the initial data is the current values */
    /* Under mu */
    uv_mutex_t mu;
    uv_cond_t cv;
    struct qev *head, *tail;
    size_t queued, queued_bytes;
    bool started;    /* the first frame came, or the watch ended */
    bool refused;    /* it ended before its first frame */
    bool active;     /* .r is with the engine */
    bool paused;     /* iterator: stopped on the node, the queue is full */
    bool resume;     /* resume once the pause has completed */
    bool ended;      /* the watch ended with end_code */
    int end_code;
    char end_msg[CAIRN_ERRMSG_SIZE];
    bool canceled;
    bool cancel_ran; /* the cancel task has run */
    uv_mutex_t cb_mu; /* held while a callback runs */
    struct client_task t_cancel, t_resume;
};

/* ------------------------------------------------------------------------
 * Delivering events (I/O thread)
 * ---------------------------------------------------------------------- */

/* A copy of @ev in one block, its bytes after it. */
static struct qev *qev_copy(const cairn_watch_event *ev)
{
    const cairn_entry *e = &ev->entry;
    size_t msg = ev->errmsg != NULL ? strlen(ev->errmsg) + 1 : 0;
    size_t bytes = e->key_len + e->value_len + e->meta_len + msg + 1;
    struct qev *q = malloc(sizeof *q + bytes);
    char *p;
    if (q == NULL) {
        return NULL;
    }
    q->next = NULL;
    q->bytes = sizeof *q + bytes;
    q->ev = *ev;
    p = (char *)(q + 1);
    q->ev.entry.key = e->key != NULL ? p : NULL;
    if (e->key_len > 0) {
        memcpy(p, e->key, e->key_len);
    }
    p += e->key_len;
    if (e->value != NULL) {
        q->ev.entry.value = p;
        if (e->value_len > 0) {
            memcpy(p, e->value, e->value_len);
        }
        p += e->value_len;
    }
    if (e->meta != NULL) {
        q->ev.entry.meta = p;
        if (e->meta_len > 0) {
            memcpy(p, e->meta, e->meta_len);
        }
        p += e->meta_len;
    }
    if (ev->errmsg != NULL) {
        memcpy(p, ev->errmsg, msg);
        q->ev.errmsg = p;
    }
    return q;
}

static void run_cb(cairn_watch *w, const cairn_watch_event *ev)
{
    bool canceled;
    uv_mutex_lock(&w->cb_mu);
    uv_mutex_lock(&w->mu);
    canceled = w->canceled;
    uv_mutex_unlock(&w->mu);
    if (!canceled) {
        w->cb(w->data, ev);
    }
    uv_mutex_unlock(&w->cb_mu);
}

/* Deliver @ev (ENTRY or SYNCED) to the callback or the queue. */
static void deliver(cairn_watch *w, const cairn_watch_event *ev)
{
    struct qev *q;
    bool pause = false;
    if (w->cb != NULL) {
        run_cb(w, ev);
        return;
    }
    uv_mutex_lock(&w->mu);
    if (w->canceled) {
        /* cairn_watch_cancel(): the caller takes nothing more. */
        uv_mutex_unlock(&w->mu);
        return;
    }
    uv_mutex_unlock(&w->mu);
    q = qev_copy(ev);
    uv_mutex_lock(&w->mu);
    if (q == NULL) {
        /* Out of memory: end the watch rather than skip an event. */
        if (!w->ended) {
            w->ended = true;
            w->end_code = CAIRN_ENOMEM;
            snprintf(w->end_msg, sizeof w->end_msg,
                     "%s: out of memory queueing an event", w->r.what);
        }
        w->paused = true; /* the abort below is not the end */
        uv_cond_broadcast(&w->cv);
        uv_mutex_unlock(&w->mu);
        engine_abort(&w->r, CAIRN_ENOMEM, "out of memory");
        return;
    }
    if (w->tail != NULL) {
        w->tail->next = q;
    } else {
        w->head = q;
    }
    w->tail = q;
    w->queued++;
    w->queued_bytes += q->bytes;
    if (!w->paused && !w->canceled &&
        (w->queued >= QUEUE_EVENTS_MAX ||
         w->queued_bytes >= QUEUE_BYTES_MAX)) {
        w->paused = true;
        pause = true;
    }
    uv_cond_broadcast(&w->cv);
    uv_mutex_unlock(&w->mu);
    if (pause) {
        /* The caller is behind: stop the node sending, resume later from
         * the position (cairn_watch_next() posts the resume). */
        engine_abort(&w->r, CAIRN_ECANCELED, "paused: the reader is behind");
    }
}

/* What the next attempt asks for: everything after the position. */
static void resume_point(cairn_watch *w)
{
    w->r.q.from = w->position + 1;
    w->r.q.has |= CAIRN_WIRE_REQ_FROM | CAIRN_WIRE_REQ_LATEST;
    w->r.q.latest = w->latest && !w->synced;
}

static void mark_started(cairn_watch *w)
{
    uv_mutex_lock(&w->mu);
    if (!w->started) {
        w->started = true;
        uv_cond_broadcast(&w->cv);
    }
    uv_mutex_unlock(&w->mu);
}

static void watch_frame(struct creq *r, const struct cairn_wire_response *res)
{
    cairn_watch *w = r->data;
    cairn_watch_event ev;
    memset(&ev, 0, sizeof ev);
    mark_started(w);
    if (res->has & CAIRN_WIRE_RES_EVENT) {
        if (res->event.revision <= w->position) {
            return; /* delivered before a resume */
        }
        w->position = res->event.revision;
        resume_point(w);
        ev.type = CAIRN_WATCH_ENTRY;
        ev.revision = res->event.revision;
        creq_entry_view(&ev.entry, &res->event);
        deliver(w, &ev);
        return;
    }
    if (res->rev > w->position) {
        w->position = res->rev;
    }
    if (res->synced && !w->synced) {
        w->synced = true;
        resume_point(w);
        ev.type = CAIRN_WATCH_SYNCED;
        ev.revision = w->position;
        deliver(w, &ev);
        return;
    }
    resume_point(w);
}

/* The request is done: the watch ended, was cancelled, or paused. */
static void watch_done(struct creq *r)
{
    cairn_watch *w = r->data;
    cairn_watch_event ev;
    bool again = false, end = false;
    int code = r->code;
    char msg[CAIRN_ERRMSG_SIZE];

    snprintf(msg, sizeof msg, "%s", r->errmsg);
    creq_release(r);
    uv_mutex_lock(&w->mu);
    w->active = false;
    if (w->canceled) {
        /* cairn_watch_cancel(): nothing more is delivered. */
    } else if (w->paused && !w->ended) {
        if (w->resume) {
            w->resume = false;
            w->paused = false;
            w->active = true;
            again = true;
        }
    } else if (!w->ended) {
        w->ended = true;
        w->end_code = code != 0 ? code : CAIRN_EINTERNAL;
        snprintf(w->end_msg, sizeof w->end_msg, "%s", msg);
        /* Refused before its first frame: cairn_watch_open() returns the
         * error (and may free @w as soon as the lock is released). */
        w->refused = !w->started;
        end = !w->refused;
    }
    w->started = true;
    uv_cond_broadcast(&w->cv);
    uv_mutex_unlock(&w->mu);
    if (again) {
        engine_submit(r->e, r);
        return;
    }
    if (end && w->cb != NULL) {
        memset(&ev, 0, sizeof ev);
        ev.type = CAIRN_WATCH_ENDED;
        ev.code = w->end_code;
        ev.errmsg = w->end_msg;
        run_cb(w, &ev);
    }
}

/* ------------------------------------------------------------------------
 * Tasks (I/O thread)
 * ---------------------------------------------------------------------- */

static void cancel_run(struct client_task *t)
{
    cairn_watch *w = (cairn_watch *)((char *)t -
                                     offsetof(cairn_watch, t_cancel));
    bool active;
    uv_mutex_lock(&w->mu);
    active = w->active;
    uv_mutex_unlock(&w->mu);
    if (active) {
        engine_abort(&w->r, CAIRN_ECANCELED, "watch cancelled");
    }
    uv_mutex_lock(&w->mu);
    w->cancel_ran = true;
    uv_cond_broadcast(&w->cv); /* @w may be freed once the lock is free */
    uv_mutex_unlock(&w->mu);
}

static void resume_run(struct client_task *t)
{
    cairn_watch *w = (cairn_watch *)((char *)t -
                                     offsetof(cairn_watch, t_resume));
    bool go = false;
    uv_mutex_lock(&w->mu);
    if (w->paused && !w->canceled && !w->ended) {
        if (w->active) {
            w->resume = true; /* the pause has not completed yet */
        } else {
            w->paused = false;
            w->active = true;
            go = true;
        }
    }
    uv_mutex_unlock(&w->mu);
    if (go) {
        engine_submit(w->r.e, &w->r);
    }
}

/* ------------------------------------------------------------------------
 * The API
 * ---------------------------------------------------------------------- */

static void what_text(char *out, size_t size, const char *bucket,
                      const struct cairn_watch_options *wo)
{
    const void *p = NULL;
    size_t len = 0, o;
    bool prefix = false;
    if (wo != NULL && wo->key != NULL) {
        p = wo->key;
        len = wo->key_len;
    } else if (wo != NULL && wo->prefix != NULL) {
        p = wo->prefix;
        len = wo->prefix_len;
        prefix = true;
    }
    o = (size_t)snprintf(out, size, "watch %s", bucket);
    if (p == NULL || o + 8 >= size) {
        return;
    }
    out[o++] = '/';
    for (size_t i = 0; i < len && i < 64 && o + 6 < size; i++) {
        unsigned char ch = ((const unsigned char *)p)[i];
        if (ch >= 0x20 && ch < 0x7f) {
            out[o++] = (char)ch;
        } else {
            o += (size_t)snprintf(out + o, size - o, "\\x%02x", ch);
        }
    }
    if (prefix && o + 1 < size) {
        out[o++] = '*';
    }
    out[o] = '\0';
}

static void watch_free(cairn_watch *w)
{
    struct qev *q = w->head, *next;
    for (; q != NULL; q = next) {
        next = q->next;
        free(q);
    }
    uv_cond_destroy(&w->cv);
    uv_mutex_destroy(&w->mu);
    uv_mutex_destroy(&w->cb_mu);
    free(w->filter);
    free(w);
}

int cairn_watch_open(cairn_client *c, const char *bucket,
                     const struct cairn_watch_options *wo, cairn_watch_cb cb,
                     void *data, cairn_watch **out, char *errmsg)
{
    cairn_watch *w;
    size_t n = bucket != NULL ? strlen(bucket) : 0;
    const void *f = NULL;
    size_t flen = 0;
    int code;

    if (c == NULL || out == NULL) {
        return client_fail(errmsg, CAIRN_EINVAL, "watch: no client or no output");
    }
    if (n == 0 || n > CAIRN_BUCKET_NAME_MAX) {
        return client_fail(errmsg, CAIRN_EINVAL,
                    "watch: bucket name must be 1..%d characters",
                    CAIRN_BUCKET_NAME_MAX);
    }
    if (wo != NULL && wo->key != NULL && wo->prefix != NULL) {
        return client_fail(errmsg, CAIRN_EINVAL,
                    "watch %s: a watch follows a key or a prefix, not both",
                    bucket);
    }
    if (wo != NULL && wo->key != NULL) {
        if (wo->key_len == 0 || wo->key_len > CAIRN_KEY_MAX) {
            return client_fail(errmsg, CAIRN_EINVAL,
                        "watch %s: the key must be 1..%d bytes", bucket,
                        CAIRN_KEY_MAX);
        }
        f = wo->key;
        flen = wo->key_len;
    } else if (wo != NULL && wo->prefix != NULL) {
        if (wo->prefix_len > CAIRN_KEY_MAX) {
            return client_fail(errmsg, CAIRN_EINVAL,
                        "watch %s: the prefix is longer than %d bytes",
                        bucket, CAIRN_KEY_MAX);
        }
        f = wo->prefix;
        flen = wo->prefix_len;
    }
    if ((w = calloc(1, sizeof *w)) == NULL ||
        (w->filter = malloc(flen + 1)) == NULL) {
        free(w);
        return client_fail(errmsg, CAIRN_ENOMEM, "watch %s: out of memory", bucket);
    }
    if (flen > 0) {
        memcpy(w->filter, f, flen);
    }
    w->c = c;
    w->cb = cb;
    w->data = data;
    uv_mutex_init(&w->mu);
    uv_mutex_init(&w->cb_mu);
    uv_cond_init(&w->cv);
    w->t_cancel.run = cancel_run;
    w->t_resume.run = resume_run;
    w->latest = wo == NULL || wo->from == 0;
    w->position = wo != NULL && wo->from > 0 ? wo->from - 1 : 0;
    w->r.q.op = CAIRN_WIRE_WATCH;
    memcpy(w->r.q.bucket, bucket, n + 1);
    if (wo != NULL && wo->key != NULL) {
        w->r.q.w.key = w->filter;
        w->r.q.w.key_len = flen;
        w->r.q.has |= CAIRN_WIRE_REQ_KEY;
    } else if (wo != NULL && wo->prefix != NULL) {
        w->r.q.prefix = w->filter;
        w->r.q.prefix_len = flen;
        w->r.q.has |= CAIRN_WIRE_REQ_PREFIX;
    }
    resume_point(w);
    w->r.route = ROUTE_BUCKET;
    w->r.stream = true;
    w->r.frame = watch_frame;
    w->r.done = watch_done;
    w->r.data = w;
    what_text(w->r.what, sizeof w->r.what, bucket, wo);
    w->active = true;
    client_submit(c, &w->r);

    uv_mutex_lock(&w->mu);
    while (!w->started) {
        uv_cond_wait(&w->cv, &w->mu);
    }
    code = w->refused ? w->end_code : 0;
    if (code != 0 && errmsg != NULL) {
        snprintf(errmsg, CAIRN_ERRMSG_SIZE, "%s", w->end_msg);
    }
    uv_mutex_unlock(&w->mu);
    if (code != 0) {
        /* Refused before any event: the request is done (its end is
         * recorded in watch_done), nothing refers to @w any more. */
        watch_free(w);
        return code;
    }
    *out = w;
    return 0;
}

int cairn_watch_next(cairn_watch *w, int timeout_ms, cairn_watch_event **ev,
                     char *errmsg)
{
    uint64_t deadline = 0;
    struct qev *q;
    bool resume = false;
    int code = 0;

    if (w == NULL || ev == NULL || w->cb != NULL) {
        return client_fail(errmsg, CAIRN_EINVAL,
                    "watch next: not an iterator watch (it has a callback)");
    }
    *ev = NULL;
    if (timeout_ms > 0) {
        deadline = uv_hrtime() + (uint64_t)timeout_ms * 1000000u;
    }
    uv_mutex_lock(&w->mu);
    for (;;) {
        if (w->canceled) {
            code = client_fail(errmsg, CAIRN_ECANCELED, "%s: cancelled", w->r.what);
            break;
        }
        if (w->head != NULL) {
            q = w->head;
            w->head = q->next;
            if (w->head == NULL) {
                w->tail = NULL;
            }
            w->queued--;
            w->queued_bytes -= q->bytes;
            if (w->paused && !w->ended && w->queued <= QUEUE_EVENTS_LOW &&
                w->queued_bytes <= QUEUE_BYTES_LOW) {
                resume = true;
            }
            *ev = &q->ev;
            break;
        }
        if (w->ended) {
            code = client_fail(errmsg, w->end_code, "%s", w->end_msg);
            break;
        }
        if (timeout_ms == 0) {
            code = client_fail(errmsg, CAIRN_ETIMEDOUT, "%s: no event", w->r.what);
            break;
        }
        if (timeout_ms < 0) {
            uv_cond_wait(&w->cv, &w->mu);
        } else {
            uint64_t now = uv_hrtime();
            if (now >= deadline ||
                uv_cond_timedwait(&w->cv, &w->mu, deadline - now) != 0) {
                if (w->head == NULL && !w->ended && !w->canceled) {
                    code = client_fail(errmsg, CAIRN_ETIMEDOUT,
                                "%s: no event within %d ms", w->r.what,
                                timeout_ms);
                    break;
                }
            }
        }
    }
    uv_mutex_unlock(&w->mu);
    if (resume) {
        (void)client_post(w->c, &w->t_resume);
    }
    return code;
}

void cairn_watch_event_free(cairn_watch_event *ev)
{
    if (ev != NULL) {
        free((char *)ev - offsetof(struct qev, ev));
    }
}

void cairn_watch_cancel(cairn_watch *w)
{
    bool first;
    if (w == NULL) {
        return;
    }
    uv_mutex_lock(&w->mu);
    first = !w->canceled;
    w->canceled = true;
    uv_cond_broadcast(&w->cv);
    uv_mutex_unlock(&w->mu);
    if (w->cb != NULL && !client_on_io_thread(w->c)) {
        /* Wait for a callback that is running now. */
        uv_mutex_lock(&w->cb_mu);
        uv_mutex_unlock(&w->cb_mu);
    }
    if (first && !client_post(w->c, &w->t_cancel)) {
        /* The client's I/O thread is gone: nothing to stop there. */
        uv_mutex_lock(&w->mu);
        w->cancel_ran = true;
        uv_mutex_unlock(&w->mu);
    }
}

void cairn_watch_close(cairn_watch *w)
{
    if (w == NULL) {
        return;
    }
    cairn_watch_cancel(w);
    uv_mutex_lock(&w->mu);
    while (!w->cancel_ran || w->active) {
        uv_cond_wait(&w->cv, &w->mu);
    }
    uv_mutex_unlock(&w->mu);
    watch_free(w);
}
