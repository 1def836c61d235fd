/* cairnd's configuration (config.h): defaults, INI file, flags. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <ini.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#ifndef CAIRN_VERSION_STRING
#define CAIRN_VERSION_STRING "unknown"
#endif

#define MAP_SIZE_MIN (1ull << 20)
#define MAP_SIZE_MAX (1ull << 40)
#define HEARTBEAT_MAX 60000u
#define ELECTION_MAX 600000u
#define EXPIRE_INTERVAL_MIN 10u
#define EXPIRE_INTERVAL_MAX 3600000u
#define ELECTION_HEARTBEATS 5u /* election timeout > this many heartbeats */

/* The settings (flags that are also file keys) come first, then the flags
 * that only the command line has. Values stay clear of short options. */
enum opt {
    OPT_ID = 256,
    OPT_NAME,
    OPT_DATA_DIR,
    OPT_MEMORY_DIR,
    OPT_CLIENT_LISTEN,
    OPT_PEER_LISTEN,
    OPT_HTTP_LISTEN,
    OPT_TAG,
    OPT_CLUSTER,
    OPT_INITIAL_CLUSTER,
    OPT_JOIN,
    OPT_LOG_LEVEL,
    OPT_SNAPSHOT_THRESHOLD,
    OPT_SNAPSHOT_TRAILING,
    OPT_ELECTION_TIMEOUT_MS,
    OPT_HEARTBEAT_MS,
    OPT_MAP_SIZE,
    OPT_EXPIRE_INTERVAL_MS,
    OPT__SETTINGS_END, /* not an option */
    OPT_CONFIG,
    OPT_HELP,
    OPT_VERSION,
};

#define N_SETTINGS (OPT__SETTINGS_END - OPT_ID)

static const struct option long_options[] = {
    {"id", required_argument, NULL, OPT_ID},
    {"name", required_argument, NULL, OPT_NAME},
    {"data-dir", required_argument, NULL, OPT_DATA_DIR},
    {"memory-dir", required_argument, NULL, OPT_MEMORY_DIR},
    {"client-listen", required_argument, NULL, OPT_CLIENT_LISTEN},
    {"peer-listen", required_argument, NULL, OPT_PEER_LISTEN},
    {"http-listen", required_argument, NULL, OPT_HTTP_LISTEN},
    {"tag", required_argument, NULL, OPT_TAG},
    {"cluster", required_argument, NULL, OPT_CLUSTER},
    {"initial-cluster", required_argument, NULL, OPT_INITIAL_CLUSTER},
    {"join", required_argument, NULL, OPT_JOIN},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"snapshot-threshold", required_argument, NULL, OPT_SNAPSHOT_THRESHOLD},
    {"snapshot-trailing", required_argument, NULL, OPT_SNAPSHOT_TRAILING},
    {"election-timeout-ms", required_argument, NULL, OPT_ELECTION_TIMEOUT_MS},
    {"heartbeat-ms", required_argument, NULL, OPT_HEARTBEAT_MS},
    {"map-size", required_argument, NULL, OPT_MAP_SIZE},
    {"expire-interval-ms", required_argument, NULL, OPT_EXPIRE_INTERVAL_MS},
    {"config", required_argument, NULL, OPT_CONFIG},
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

static const char *opt_name(int opt)
{
    for (const struct option *o = long_options; o->name != NULL; o++) {
        if (o->val == opt) {
            return o->name;
        }
    }
    return "?";
}

/* The setting a config file key names, or 0. */
static int setting_by_key(const char *key)
{
    for (const struct option *o = long_options; o->name != NULL; o++) {
        if (o->val < OPT__SETTINGS_END && strcmp(o->name, key) == 0) {
            return o->val;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * Error messages
 * ---------------------------------------------------------------------- */

/* Where a value came from: a flag (file NULL) or a file line. */
struct where {
    const char *file;
    int line;
};

static const struct where from_flags = {NULL, 0};

/* @path, shortened to its last bytes if long, for messages. */
static const char *short_path(const char *path, char *buf, size_t size)
{
    size_t n = strlen(path);
    if (n < size) {
        return path;
    }
    snprintf(buf, size, "...%s", path + n - (size - 4));
    return buf;
}

/* @value as a message shows it: at most 64 bytes, control characters as
 * '?', "..." when cut. */
static const char *shown(const char *value, char *buf)
{
    size_t n = 0;
    for (; value[n] != '\0' && n < 64; n++) {
        unsigned char c = (unsigned char)value[n];
        buf[n] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    if (value[n] != '\0') {
        memcpy(buf + n, "...", 3);
        n += 3;
    }
    buf[n] = '\0';
    return buf;
}
#define SHOWN_SIZE 68

/* "--name" for a flag, "name" for a file key. */
static const char *subject(const struct where *w, int opt, char *buf,
                           size_t size)
{
    snprintf(buf, size, "%s%s", w->file != NULL ? "" : "--", opt_name(opt));
    return buf;
}

/* Write "FILE:LINE: " (file values only) and the message to @errmsg;
 * returns CAIRN_EINVAL. */
__attribute__((format(printf, 3, 4))) static int fail(char *errmsg,
                                                      const struct where *w,
                                                      const char *fmt, ...)
{
    char pbuf[96];
    size_t n = 0;
    va_list ap;
    if (errmsg == NULL) {
        return CAIRN_EINVAL;
    }
    if (w->file != NULL) {
        int k = snprintf(errmsg, CAIRN_ERRMSG_SIZE, "%s:%d: ",
                         short_path(w->file, pbuf, sizeof pbuf), w->line);
        n = k > 0 ? (size_t)k : 0;
        if (n >= CAIRN_ERRMSG_SIZE) {
            n = CAIRN_ERRMSG_SIZE - 1;
        }
    }
    va_start(ap, fmt);
    vsnprintf(errmsg + n, CAIRN_ERRMSG_SIZE - n, fmt, ap);
    va_end(ap);
    return CAIRN_EINVAL;
}

/* ------------------------------------------------------------------------
 * Values
 * ---------------------------------------------------------------------- */

/* Parse a decimal number in min..max: digits only (no sign, no spaces).
 * Returns 0 or -1. */
static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    unsigned long long v;
    if (s[0] < '0' || s[0] > '9') {
        return -1;
    }
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max) {
        return -1;
    }
    *out = v;
    return 0;
}

/* A size: digits, then optionally K, M or G (powers of 1024, either case).
 * Returns 0 or -1. */
static int parse_size(const char *s, uint64_t min, uint64_t max,
                      uint64_t *out)
{
    char *end;
    unsigned long long v;
    uint64_t mult = 1;
    if (s[0] < '0' || s[0] > '9') {
        return -1;
    }
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0) {
        return -1;
    }
    switch (*end) {
        case '\0':
            break;
        case 'K':
        case 'k':
            mult = 1ull << 10;
            end++;
            break;
        case 'M':
        case 'm':
            mult = 1ull << 20;
            end++;
            break;
        case 'G':
        case 'g':
            mult = 1ull << 30;
            end++;
            break;
        default:
            return -1;
    }
    if (*end != '\0' || v > UINT64_MAX / mult) {
        return -1;
    }
    v *= mult;
    if (v < min || v > max) {
        return -1;
    }
    *out = v;
    return 0;
}

enum addr_error {
    ADDR_OK = 0,
    ADDR_FORMAT, /* not HOST:PORT */
    ADDR_HOST,   /* HOST is not a dotted quad */
    ADDR_PORT,   /* PORT is not 1..65535 */
};

/* Parse "a.b.c.d:port" into @a. */
static enum addr_error parse_addr(const char *s, struct node_addr *a)
{
    const char *colon = strchr(s, ':');
    char host[NODE_ADDR_HOST_MAX + 1];
    struct in_addr in;
    uint64_t port;
    size_t hlen;
    if (colon == NULL || strchr(colon + 1, ':') != NULL) {
        return ADDR_FORMAT;
    }
    hlen = (size_t)(colon - s);
    if (hlen == 0 || hlen > NODE_ADDR_HOST_MAX) {
        return ADDR_HOST;
    }
    memcpy(host, s, hlen);
    host[hlen] = '\0';
    if (inet_pton(AF_INET, host, &in) != 1) {
        return ADDR_HOST;
    }
    if (parse_u64(colon + 1, 1, 65535, &port) != 0) {
        return ADDR_PORT;
    }
    if (inet_ntop(AF_INET, &in, a->host, sizeof a->host) == NULL) {
        return ADDR_HOST;
    }
    a->port = (uint16_t)port;
    snprintf(a->text, sizeof a->text, "%s:%u", a->host, (unsigned)a->port);
    return ADDR_OK;
}

static bool addr_is_any(const struct node_addr *a)
{
    return strcmp(a->host, "0.0.0.0") == 0;
}

/* Parse @value into @a, or explain in @errmsg why not. @dialed: other nodes
 * dial this address, so 0.0.0.0 is refused. @subj names the flag or key (and
 * the --initial-cluster entry, if any). */
static int set_addr(const char *value, bool dialed, struct node_addr *a,
                    const struct where *w, const char *subj, char *errmsg)
{
    char vbuf[SHOWN_SIZE];
    const char *port;
    switch (parse_addr(value, a)) {
        case ADDR_OK:
            break;
        case ADDR_FORMAT:
            return fail(errmsg, w,
                        "%s: '%s' is not IP:PORT (an IPv4 address and a "
                        "port, e.g. 127.0.0.1:7401)",
                        subj, shown(value, vbuf));
        case ADDR_HOST:
            return fail(errmsg, w,
                        "%s: '%s' does not start with an IPv4 address "
                        "(a.b.c.d; host names and IPv6 are not accepted)",
                        subj, shown(value, vbuf));
        case ADDR_PORT:
            port = strchr(value, ':') + 1;
            return fail(errmsg, w, "%s: '%s': port '%s' is not in 1..65535",
                        subj, shown(value, vbuf), port);
    }
    if (dialed && addr_is_any(a)) {
        return fail(errmsg, w,
                    "%s: '%s': other nodes dial this address, so it cannot "
                    "be 0.0.0.0",
                    subj, shown(value, vbuf));
    }
    return 0;
}

/* [A-Za-z0-9_.-]{1,NODE_NAME_MAX} */
static bool name_is_valid(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > NODE_NAME_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-')) {
            return false;
        }
    }
    return true;
}

/* The rule of cairn_bucket_config tags: a non-empty key and value around
 * the first colon. */
static bool tag_is_valid(const char *s)
{
    const char *colon = strchr(s, ':');
    return colon != NULL && colon != s && colon[1] != '\0';
}

/* ------------------------------------------------------------------------
 * Applying one setting
 * ---------------------------------------------------------------------- */

struct parse_state {
    struct node_config cfg;
    bool name_set;
    /* For the source being read: */
    bool tags_replaced;   /* its first tag dropped the earlier source's */
    bool gave_initial;    /* it gave initial-cluster */
    bool gave_join;       /* it gave join */
    int key_line[N_SETTINGS]; /* file: line where each key was set, or 0 */
};

static void begin_source(struct parse_state *st)
{
    st->tags_replaced = false;
    st->gave_initial = false;
    st->gave_join = false;
    memset(st->key_line, 0, sizeof st->key_line);
}

/* Parse the --initial-cluster list @value into cfg->initial_cluster. */
static int set_initial_cluster(struct node_config *cfg, const char *value,
                               const struct where *w, const char *subj,
                               char *errmsg)
{
    struct node_peer peers[NODE_VOTERS_MAX];
    unsigned count = 1;
    unsigned n = 0;
    const char *p = value;
    for (const char *c = value; *c != '\0'; c++) {
        count += *c == ',';
    }
    if (count > NODE_VOTERS_MAX) {
        return fail(errmsg, w,
                    "%s: %u voters listed, at most %d are allowed", subj,
                    count, NODE_VOTERS_MAX);
    }
    for (;;) {
        const char *end = strchr(p, ',');
        char entry[64];
        char ebuf[SHOWN_SIZE];
        char esubj[128];
        size_t len;
        char *eq;
        struct node_peer *peer = &peers[n];
        int rc;
        if (end == NULL) {
            end = p + strlen(p);
        }
        while (p < end && (*p == ' ' || *p == '\t')) {
            p++;
        }
        len = (size_t)(end - p);
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t')) {
            len--;
        }
        if (len == 0) {
            return fail(errmsg, w,
                        "%s: entry %u is empty (use ID=IP:PORT,ID=IP:PORT...)",
                        subj, n + 1);
        }
        if (len >= sizeof entry) {
            len = sizeof entry - 1; /* too long to be valid: refused below */
        }
        memcpy(entry, p, len);
        entry[len] = '\0';
        eq = strchr(entry, '=');
        if (eq == NULL) {
            return fail(errmsg, w, "%s: entry '%s' is not ID=IP:PORT", subj,
                        shown(entry, ebuf));
        }
        *eq = '\0';
        if (parse_u64(entry, 1, NODE_ID_MAX, &peer->id) != 0) {
            return fail(errmsg, w, "%s: id '%s' is not in 1..%lld", subj,
                        shown(entry, ebuf), (long long)NODE_ID_MAX);
        }
        snprintf(esubj, sizeof esubj, "%s: entry %u", subj, n + 1);
        rc = set_addr(eq + 1, true, &peer->addr, w, esubj, errmsg);
        if (rc != 0) {
            return rc;
        }
        for (unsigned i = 0; i < n; i++) {
            if (peers[i].id == peer->id) {
                return fail(errmsg, w, "%s: id %llu appears twice", subj,
                            (unsigned long long)peer->id);
            }
            if (strcmp(peers[i].addr.text, peer->addr.text) == 0) {
                return fail(errmsg, w, "%s: address %s appears twice", subj,
                            peer->addr.text);
            }
        }
        n++;
        if (*end == '\0') {
            break;
        }
        p = end + 1;
    }
    memcpy(cfg->initial_cluster, peers, n * sizeof peers[0]);
    cfg->n_initial = n;
    return 0;
}

/* Set the setting @opt from @value (given at @w). */
static int apply(struct parse_state *st, int opt, const char *value,
                 const struct where *w, char *errmsg)
{
    struct node_config *cfg = &st->cfg;
    char subj[64];
    char vbuf[SHOWN_SIZE];
    uint64_t v;
    size_t len = strlen(value);

    subject(w, opt, subj, sizeof subj);
    switch (opt) {
        case OPT_ID:
            if (parse_u64(value, 1, NODE_ID_MAX, &v) != 0) {
                return fail(errmsg, w, "%s: '%s' is not in 1..%lld", subj,
                            shown(value, vbuf), (long long)NODE_ID_MAX);
            }
            cfg->id = v;
            return 0;
        case OPT_NAME:
        case OPT_CLUSTER:
            if (!name_is_valid(value)) {
                return fail(errmsg, w,
                            "%s: '%s' is not 1..%d characters from "
                            "[A-Za-z0-9_.-]",
                            subj, shown(value, vbuf), NODE_NAME_MAX);
            }
            if (opt == OPT_NAME) {
                memcpy(cfg->name, value, len + 1);
                st->name_set = true;
            } else {
                memcpy(cfg->cluster, value, len + 1);
            }
            return 0;
        case OPT_DATA_DIR:
        case OPT_MEMORY_DIR: {
            char *path = opt == OPT_DATA_DIR ? cfg->data_dir
                                             : cfg->memory_dir;
            if (len == 0) {
                return fail(errmsg, w, "%s: the path is empty", subj);
            }
            if (len >= NODE_PATH_MAX) {
                return fail(errmsg, w,
                            "%s: the path of %zu bytes is longer than %d",
                            subj, len, NODE_PATH_MAX - 1);
            }
            memcpy(path, value, len + 1);
            return 0;
        }
        case OPT_CLIENT_LISTEN:
            return set_addr(value, false, &cfg->client_listen, w, subj,
                            errmsg);
        case OPT_PEER_LISTEN:
            return set_addr(value, true, &cfg->peer_listen, w, subj, errmsg);
        case OPT_HTTP_LISTEN:
            return set_addr(value, false, &cfg->http_listen, w, subj, errmsg);
        case OPT_TAG:
            if (!st->tags_replaced) {
                cfg->n_tags = 0;
                st->tags_replaced = true;
            }
            if (len > CAIRN_TAG_MAX) {
                return fail(errmsg, w, "%s: '%s' is longer than %d bytes",
                            subj, shown(value, vbuf), CAIRN_TAG_MAX);
            }
            if (!tag_is_valid(value)) {
                return fail(errmsg, w,
                            "%s: '%s' is not KEY:VALUE (a non-empty key and "
                            "value around a colon)",
                            subj, shown(value, vbuf));
            }
            for (uint32_t i = 0; i < cfg->n_tags; i++) {
                if (strcmp(cfg->tags[i], value) == 0) {
                    return fail(errmsg, w, "%s: '%s' appears twice", subj,
                                shown(value, vbuf));
                }
            }
            if (cfg->n_tags == CAIRN_TAGS_MAX) {
                return fail(errmsg, w,
                            "%s: '%s' is one tag too many: at most %d are "
                            "allowed",
                            subj, shown(value, vbuf), CAIRN_TAGS_MAX);
            }
            memcpy(cfg->tags[cfg->n_tags++], value, len + 1);
            return 0;
        case OPT_INITIAL_CLUSTER:
        case OPT_JOIN: {
            int rc;
            if ((opt == OPT_JOIN && st->gave_initial) ||
                (opt == OPT_INITIAL_CLUSTER && st->gave_join)) {
                const char *dashes = w->file != NULL ? "" : "--";
                return fail(errmsg, w,
                            "%sjoin and %sinitial-cluster exclude each other: "
                            "give one of them",
                            dashes, dashes);
            }
            if (opt == OPT_JOIN) {
                rc = set_addr(value, true, &cfg->join, w, subj, errmsg);
                if (rc != 0) {
                    return rc;
                }
                cfg->bootstrap = NODE_BOOTSTRAP_JOIN;
                cfg->n_initial = 0;
                st->gave_join = true;
            } else {
                rc = set_initial_cluster(cfg, value, w, subj, errmsg);
                if (rc != 0) {
                    return rc;
                }
                cfg->bootstrap = NODE_BOOTSTRAP_INITIAL;
                memset(&cfg->join, 0, sizeof cfg->join);
                st->gave_initial = true;
            }
            return 0;
        }
        case OPT_LOG_LEVEL:
            if (node_log_level_parse(value, &cfg->log_level) != 0) {
                return fail(errmsg, w,
                            "%s: '%s' is not one of debug, info, warn, error",
                            subj, shown(value, vbuf));
            }
            return 0;
        case OPT_SNAPSHOT_THRESHOLD:
        case OPT_SNAPSHOT_TRAILING: {
            uint64_t min = opt == OPT_SNAPSHOT_THRESHOLD ? 1 : 0;
            if (parse_u64(value, min, UINT32_MAX, &v) != 0) {
                return fail(errmsg, w, "%s: '%s' is not in %llu..%lu", subj,
                            shown(value, vbuf), (unsigned long long)min,
                            (unsigned long)UINT32_MAX);
            }
            if (opt == OPT_SNAPSHOT_THRESHOLD) {
                cfg->snapshot_threshold = (uint32_t)v;
            } else {
                cfg->snapshot_trailing = (uint32_t)v;
            }
            return 0;
        }
        case OPT_ELECTION_TIMEOUT_MS:
        case OPT_HEARTBEAT_MS: {
            uint64_t max =
                opt == OPT_HEARTBEAT_MS ? HEARTBEAT_MAX : ELECTION_MAX;
            if (parse_u64(value, 1, max, &v) != 0) {
                return fail(errmsg, w, "%s: '%s' is not in 1..%llu", subj,
                            shown(value, vbuf), (unsigned long long)max);
            }
            if (opt == OPT_HEARTBEAT_MS) {
                cfg->heartbeat_ms = (uint32_t)v;
            } else {
                cfg->election_timeout_ms = (uint32_t)v;
            }
            return 0;
        }
        case OPT_MAP_SIZE:
            if (parse_size(value, MAP_SIZE_MIN, MAP_SIZE_MAX, &v) != 0) {
                return fail(errmsg, w,
                            "%s: '%s' is not a size in 1M..1024G (bytes, or "
                            "a number with suffix K, M or G)",
                            subj, shown(value, vbuf));
            }
            cfg->map_size = v;
            return 0;
        case OPT_EXPIRE_INTERVAL_MS:
            if (parse_u64(value, EXPIRE_INTERVAL_MIN, EXPIRE_INTERVAL_MAX,
                          &v) != 0) {
                return fail(errmsg, w, "%s: '%s' is not in %u..%u", subj,
                            shown(value, vbuf), EXPIRE_INTERVAL_MIN,
                            EXPIRE_INTERVAL_MAX);
            }
            cfg->expire_interval_ms = (uint32_t)v;
            return 0;
        default:
            return fail(errmsg, w, "%s: not a setting", subj);
    }
}

/* ------------------------------------------------------------------------
 * The config file
 * ---------------------------------------------------------------------- */

struct file_ctx {
    struct parse_state *st;
    const char *path;
    FILE *f;
    int line;     /* lines read so far: the line being handled */
    int err_line; /* line of the error in errmsg, or 0 */
    int rc;       /* that error's code */
    char *errmsg;
};

/* inih's line reader: counts lines, so the handler knows where it is, and
 * refuses a line longer than inih's buffer rather than let inih split it. */
static char *read_line(char *str, int num, void *stream)
{
    struct file_ctx *c = stream;
    size_t n;
    if (c->rc != 0 || fgets(str, num, c->f) == NULL) {
        return NULL;
    }
    c->line++;
    n = strlen(str);
    if ((n == 0 || str[n - 1] != '\n') && !feof(c->f) && !ferror(c->f)) {
        /* fgets stopped early: the buffer is full, or it read a NUL byte
         * (and strlen stops there). */
        struct where w = {c->path, c->line};
        c->err_line = c->line;
        if (n + 1 < (size_t)num) {
            c->rc = fail(c->errmsg, &w, "the line holds a NUL byte");
        } else {
            c->rc = fail(c->errmsg, &w, "the line is longer than %d bytes",
                         num - 2);
        }
        return NULL;
    }
    return str;
}

static int handle_key(void *user, const char *section, const char *key,
                      const char *value)
{
    struct file_ctx *c = user;
    struct parse_state *st = c->st;
    struct where w = {c->path, c->line};
    char kbuf[SHOWN_SIZE];
    int opt;
    if (c->rc != 0) {
        return 0;
    }
    if (strcmp(section, "node") != 0) {
        if (section[0] == '\0') {
            c->rc = fail(c->errmsg, &w,
                         "key '%s' is outside any section: put it under "
                         "[node]",
                         shown(key, kbuf));
        } else {
            char sbuf[SHOWN_SIZE];
            c->rc = fail(c->errmsg, &w,
                         "key '%s' is in section [%s]: the only section is "
                         "[node]",
                         shown(key, kbuf), shown(section, sbuf));
        }
        c->err_line = c->line;
        return 0;
    }
    opt = setting_by_key(key);
    if (opt == 0) {
        char dashed[64];
        size_t n = strlen(key);
        /* A hint for data_dir-style spellings. */
        if (n < sizeof dashed) {
            for (size_t i = 0; i <= n; i++) {
                dashed[i] = key[i] == '_' ? '-' : key[i];
            }
        }
        if (n < sizeof dashed && strcmp(dashed, key) != 0 &&
            setting_by_key(dashed) != 0) {
            c->rc = fail(c->errmsg, &w,
                         "unknown key '%s' (did you mean '%s'?)",
                         shown(key, kbuf), dashed);
        } else {
            c->rc = fail(c->errmsg, &w, "unknown key '%s'", shown(key, kbuf));
        }
        c->err_line = c->line;
        return 0;
    }
    if (opt != OPT_TAG && st->key_line[opt - OPT_ID] != 0) {
        c->rc = fail(c->errmsg, &w, "%s: already set on line %d", key,
                     st->key_line[opt - OPT_ID]);
        c->err_line = c->line;
        return 0;
    }
    st->key_line[opt - OPT_ID] = c->line;
    c->rc = apply(st, opt, value, &w, c->errmsg);
    if (c->rc != 0) {
        c->err_line = c->line;
        return 0;
    }
    return 1;
}

static int read_file(struct parse_state *st, const char *path, char *errmsg)
{
    struct file_ctx c = {st, path, NULL, 0, 0, 0, errmsg};
    char pbuf[96];
    char ebuf[128];
    const char *reason = NULL;
    int line;

    c.f = fopen(path, "r");
    if (c.f == NULL) {
        return fail(errmsg, &from_flags, "--config: cannot open '%s': %s",
                    short_path(path, pbuf, sizeof pbuf),
                    strerror_r(errno, ebuf, sizeof ebuf));
    }
    begin_source(st);
    line = ini_parse_stream(read_line, &c, handle_key, &c);
    if (ferror(c.f) != 0) {
        reason = strerror_r(errno, ebuf, sizeof ebuf);
    }
    fclose(c.f);
    if (line > 0 && (c.rc == 0 || line < c.err_line)) {
        struct where w = {path, line};
        return fail(errmsg, &w,
                    "cannot parse the line: expected 'key = value', "
                    "'[section]' or a comment");
    }
    if (c.rc != 0) {
        return c.rc;
    }
    if (reason != NULL) {
        return fail(errmsg, &from_flags, "--config: cannot read '%s': %s",
                    short_path(path, pbuf, sizeof pbuf), reason);
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * The command line
 * ---------------------------------------------------------------------- */

/* "+": stop at the first non-option instead of permuting argv (so argv
 * stays as it was and stray arguments can be refused); ":": report a
 * missing value as ':' and print nothing. */
static const char optstring[] = "+:";

/* What the first pass over the flags found. */
struct scan {
    const char *config; /* the last --config, or NULL */
    int special;        /* NODE_CONFIG_HELP, NODE_CONFIG_VERSION or 0 */
    int rc;             /* the first error, with errmsg filled */
};

/* The argv element that held the option getopt_long just returned. */
static const char *option_token(char **argv)
{
    if (optarg != NULL && optind >= 2 && argv[optind - 1] == optarg) {
        return argv[optind - 2]; /* "--flag VALUE" */
    }
    return argv[optind - 1]; /* "--flag" or "--flag=VALUE" */
}

/* Explain the unknown option in @token. */
static int unknown_flag(const char *token, char *errmsg)
{
    char tbuf[SHOWN_SIZE];
    char name[64];
    const char *match = NULL;
    size_t n;
    int matches = 0;
    if (token[0] != '-' || token[1] != '-') {
        return fail(errmsg, &from_flags,
                    "unknown flag '%s' (cairnd has long flags only, "
                    "see --help)",
                    shown(token, tbuf));
    }
    n = strcspn(token + 2, "=");
    if (n >= sizeof name) {
        n = sizeof name - 1;
    }
    memcpy(name, token + 2, n);
    name[n] = '\0';
    for (const struct option *o = long_options; o->name != NULL; o++) {
        if (strcmp(o->name, name) == 0 && o->has_arg == no_argument) {
            return fail(errmsg, &from_flags, "--%s takes no value", name);
        }
        if (n > 0 && strncmp(o->name, name, n) == 0) {
            match = o->name;
            matches++;
        }
    }
    if (matches == 1) {
        return fail(errmsg, &from_flags,
                    "unknown flag '%s' (did you mean --%s? flags must be "
                    "spelled out in full)",
                    shown(token, tbuf), match);
    }
    return fail(errmsg, &from_flags, "unknown flag '%s' (see --help)",
                shown(token, tbuf));
}

/* First pass: find --config, --help and --version, and check that every
 * argument is a known flag, spelled out in full, with its value. */
static void scan_flags(int argc, char **argv, struct scan *s, char *errmsg)
{
    int opt;
    int index;
    s->config = NULL;
    s->special = 0;
    s->rc = 0;
    if (argc < 1) {
        return;
    }
    optind = 0;
    opterr = 0;
    while ((index = -1, opt = getopt_long(argc, argv, optstring,
                                          long_options, &index)) != -1) {
        int rc = 0;
        if (opt == '?') {
            if (optopt > 0 && optopt < OPT_ID) { /* "-x" */
                char shortopt[3] = {'-', (char)optopt, '\0'};
                rc = unknown_flag(shortopt, errmsg);
            } else { /* unknown, ambiguous, or "--help=VALUE" */
                rc = unknown_flag(argv[optind - 1], errmsg);
            }
        } else if (opt == ':') {
            rc = fail(errmsg, &from_flags, "--%s needs a value",
                      opt_name(optopt));
        } else {
            const char *token = option_token(argv);
            size_t n = strcspn(token + 2, "=");
            const char *name = long_options[index].name;
            if (strncmp(token, "--", 2) != 0 || n != strlen(name) ||
                strncmp(token + 2, name, n) != 0) {
                rc = unknown_flag(token, errmsg);
            } else if (opt == OPT_HELP) {
                s->special = s->special != 0 ? s->special : NODE_CONFIG_HELP;
            } else if (opt == OPT_VERSION) {
                s->special =
                    s->special != 0 ? s->special : NODE_CONFIG_VERSION;
            } else if (opt == OPT_CONFIG) {
                s->config = optarg;
            }
        }
        if (rc != 0 && s->rc == 0) {
            s->rc = rc;
            errmsg = NULL; /* keep the first message */
        }
    }
    /* getopt stopped at the first non-option: look past it for --help and
     * --version, which win over the stray argument. */
    for (int i = optind; i < argc && s->special == 0; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            s->special = NODE_CONFIG_HELP;
        } else if (strcmp(argv[i], "--version") == 0) {
            s->special = NODE_CONFIG_VERSION;
        }
    }
    if (optind < argc && s->rc == 0) {
        char abuf[SHOWN_SIZE];
        s->rc = fail(errmsg, &from_flags,
                     "unexpected argument '%s' (every value follows its "
                     "flag: --flag VALUE)",
                     shown(argv[optind], abuf));
    }
}

/* Second pass: apply the settings in order. The first pass checked the
 * syntax. */
static int apply_flags(struct parse_state *st, int argc, char **argv,
                       char *errmsg)
{
    int opt;
    if (argc < 1) {
        return 0;
    }
    begin_source(st);
    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, optstring, long_options, NULL)) !=
           -1) {
        if (opt >= OPT_ID && opt < OPT__SETTINGS_END) {
            int rc = apply(st, opt, optarg, &from_flags, errmsg);
            if (rc != 0) {
                return rc;
            }
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * The whole configuration
 * ---------------------------------------------------------------------- */

/* Whether two listeners would bind the same port. */
static bool addrs_clash(const struct node_addr *a, const struct node_addr *b)
{
    return a->port == b->port &&
           (strcmp(a->host, b->host) == 0 || addr_is_any(a) ||
            addr_is_any(b));
}

/* Checks that span settings, once every source is in. */
static int finish(struct parse_state *st, char *errmsg)
{
    struct node_config *cfg = &st->cfg;
    const struct where *w = &from_flags;
    const struct {
        const char *name;
        const struct node_addr *addr;
    } listeners[] = {
        {"client-listen", &cfg->client_listen},
        {"peer-listen", &cfg->peer_listen},
        {"http-listen", &cfg->http_listen},
    };

    if (cfg->id == 0) {
        return fail(errmsg, w,
                    "--id is required (this node's raft id, 1..%lld)",
                    (long long)NODE_ID_MAX);
    }
    if (cfg->data_dir[0] == '\0') {
        return fail(errmsg, w, "--data-dir is required");
    }
    if (!st->name_set) {
        snprintf(cfg->name, sizeof cfg->name, "node%llu",
                 (unsigned long long)cfg->id);
    }
    if (cfg->memory_dir[0] == '\0') {
        /* Named after the cluster and the id, so that nodes of different
         * clusters on one machine get different directories. */
        snprintf(cfg->memory_dir, sizeof cfg->memory_dir,
                 NODE_DEFAULT_MEMORY_DIR, cfg->cluster,
                 (unsigned long long)cfg->id);
    }
    if ((uint64_t)cfg->election_timeout_ms <=
        (uint64_t)ELECTION_HEARTBEATS * cfg->heartbeat_ms) {
        return fail(errmsg, w,
                    "--election-timeout-ms: %u must be more than %u x "
                    "--heartbeat-ms (%u x %u = %llu)",
                    cfg->election_timeout_ms, ELECTION_HEARTBEATS,
                    ELECTION_HEARTBEATS, cfg->heartbeat_ms,
                    (unsigned long long)ELECTION_HEARTBEATS *
                        cfg->heartbeat_ms);
    }
    for (unsigned i = 0; i < 3; i++) {
        for (unsigned j = 0; j < i; j++) {
            if (addrs_clash(listeners[i].addr, listeners[j].addr)) {
                return fail(errmsg, w,
                            "--%s: %s clashes with --%s %s: each listener "
                            "needs its own port",
                            listeners[i].name, listeners[i].addr->text,
                            listeners[j].name, listeners[j].addr->text);
            }
        }
    }
    if (cfg->bootstrap == NODE_BOOTSTRAP_INITIAL) {
        const struct node_peer *self = NULL;
        for (uint32_t i = 0; i < cfg->n_initial; i++) {
            if (cfg->initial_cluster[i].id == cfg->id) {
                self = &cfg->initial_cluster[i];
            }
        }
        if (self == NULL) {
            return fail(errmsg, w,
                        "--initial-cluster: does not list this node "
                        "(--id %llu)",
                        (unsigned long long)cfg->id);
        }
        if (strcmp(self->addr.text, cfg->peer_listen.text) != 0) {
            return fail(errmsg, w,
                        "--initial-cluster: lists this node (id %llu) at %s, "
                        "but --peer-listen is %s",
                        (unsigned long long)cfg->id, self->addr.text,
                        cfg->peer_listen.text);
        }
    }
    if (cfg->bootstrap == NODE_BOOTSTRAP_JOIN &&
        strcmp(cfg->join.text, cfg->client_listen.text) == 0) {
        return fail(errmsg, w,
                    "--join: %s is this node's own --client-listen: give "
                    "the client address of a running node",
                    cfg->join.text);
    }
    return 0;
}

void node_config_init(struct node_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    parse_addr(NODE_DEFAULT_CLIENT_LISTEN, &cfg->client_listen);
    parse_addr(NODE_DEFAULT_PEER_LISTEN, &cfg->peer_listen);
    parse_addr(NODE_DEFAULT_HTTP_LISTEN, &cfg->http_listen);
    memcpy(cfg->cluster, NODE_DEFAULT_CLUSTER, sizeof NODE_DEFAULT_CLUSTER);
    cfg->bootstrap = NODE_BOOTSTRAP_NONE;
    cfg->log_level = NODE_LOG_INFO;
    cfg->snapshot_threshold = NODE_DEFAULT_SNAPSHOT_THRESHOLD;
    cfg->snapshot_trailing = NODE_DEFAULT_SNAPSHOT_TRAILING;
    cfg->election_timeout_ms = NODE_DEFAULT_ELECTION_TIMEOUT_MS;
    cfg->heartbeat_ms = NODE_DEFAULT_HEARTBEAT_MS;
    cfg->map_size = NODE_DEFAULT_MAP_SIZE;
    cfg->expire_interval_ms = NODE_DEFAULT_EXPIRE_INTERVAL_MS;
}

int node_config_parse(int argc, char **argv, struct node_config *out,
                      char *errmsg)
{
    struct parse_state state;
    struct parse_state *st = &state;
    struct scan scan;
    int rc;

    if (errmsg != NULL) {
        errmsg[0] = '\0';
    }
    scan_flags(argc, argv, &scan, errmsg);
    if (scan.special != 0) {
        if (errmsg != NULL) {
            errmsg[0] = '\0';
        }
        return scan.special;
    }
    if (scan.rc != 0) {
        return scan.rc;
    }

    memset(st, 0, sizeof *st);
    node_config_init(&st->cfg);
    if (scan.config != NULL) {
        char pbuf[96];
        size_t len = strlen(scan.config);
        if (len == 0) {
            return fail(errmsg, &from_flags, "--config: the path is empty");
        }
        if (len >= sizeof st->cfg.config_file) {
            return fail(errmsg, &from_flags,
                        "--config: '%s' is longer than %zu bytes",
                        short_path(scan.config, pbuf, sizeof pbuf),
                        sizeof st->cfg.config_file - 1);
        }
        rc = read_file(st, scan.config, errmsg);
        if (rc != 0) {
            return rc;
        }
        memcpy(st->cfg.config_file, scan.config, len + 1);
    }
    rc = apply_flags(st, argc, argv, errmsg);
    if (rc != 0) {
        return rc;
    }
    rc = finish(st, errmsg);
    if (rc != 0) {
        return rc;
    }
    *out = st->cfg;
    return 0;
}

void node_config_version(FILE *out)
{
    fprintf(out, "cairnd %s\n", CAIRN_VERSION_STRING);
}

void node_config_usage(FILE *out)
{
    fputs(
        "Usage: cairnd --id N --data-dir PATH [--initial-cluster LIST | "
        "--join IP:PORT] [flags]\n"
        "       cairnd --config FILE [flags]\n"
        "\n"
        "Runs one node of a cairn cluster. Settings come from the built-in\n"
        "defaults, then the --config file, then these flags (later wins).\n"
        "\n"
        "Node:\n"
        "  --id N                  raft id of this node, 1..2^63-1 "
        "(required)\n"
        "  --name NAME             [A-Za-z0-9_.-]{1,64} (default: node<id>)\n"
        "  --data-dir PATH         where the node keeps its data (required)\n"
        "  --memory-dir PATH       where memory buckets keep their data, on\n"
        "                          tmpfs: lost when the machine restarts\n"
        "                          (default: /dev/shm/cairn-<cluster>-<id>)\n"
        "  --tag KEY:VALUE         placement tag, repeatable, up to 16, each\n"
        "                          at most 128 bytes (e.g. zone:a)\n"
        "  --cluster NAME          [A-Za-z0-9_.-]{1,64} (default: cairn)\n"
        "\n"
        "Addresses (IPv4 a.b.c.d:PORT only, no host names):\n"
        "  --client-listen IP:PORT client protocol (default: "
        "127.0.0.1:7401)\n"
        "  --peer-listen IP:PORT   raft peers, dialed by other nodes, so not\n"
        "                          0.0.0.0 (default: 127.0.0.1:7501)\n"
        "  --http-listen IP:PORT   HTTP/JSON API (default: 127.0.0.1:7601)\n"
        "\n"
        "First start (an empty data dir needs one of these two):\n"
        "  --initial-cluster ID=IP:PORT,...\n"
        "                          peer addresses of the bootstrap voters\n"
        "                          (at most 5), this node included\n"
        "  --join IP:PORT          client address of a running node\n"
        "\n"
        "Tuning:\n"
        "  --log-level LEVEL       debug, info, warn or error (default: "
        "info)\n"
        "  --snapshot-threshold N  raft entries between snapshots, "
        "1..4294967295\n"
        "                          (default: 100000)\n"
        "  --snapshot-trailing N   entries kept after a snapshot, "
        "0..4294967295\n"
        "                          (default: 50000)\n"
        "  --election-timeout-ms N 1..600000, more than 5 x heartbeat\n"
        "                          (default: 1000)\n"
        "  --heartbeat-ms N        1..60000 (default: 100)\n"
        "  --map-size BYTES        LMDB map size, 1M..1024G, suffix K, M or "
        "G\n"
        "                          (default: 8G)\n"
        "  --expire-interval-ms N  how often a bucket leader looks for expired\n"
        "                          keys and proposes their expiry, 10..3600000\n"
        "                          (default: 1000)\n"
        "\n"
        "Other:\n"
        "  --config FILE           INI file, section [node], keys named like\n"
        "                          the flags without dashes (data-dir = ...)\n"
        "  --help                  print this and exit\n"
        "  --version               print the version and exit\n"
        "\n"
        "Examples:\n"
        "  # the first node of a three-node cluster, on three machines\n"
        "  cairnd --id 1 --data-dir /var/lib/cairn \\\n"
        "         --peer-listen 10.0.0.1:7501 --client-listen 0.0.0.0:7401 \\\n"
        "         --initial-cluster "
        "1=10.0.0.1:7501,2=10.0.0.2:7501,3=10.0.0.3:7501\n"
        "\n"
        "  # a fourth node joining the running cluster\n"
        "  cairnd --id 4 --data-dir /var/lib/cairn --peer-listen "
        "10.0.0.4:7501 \\\n"
        "         --tag zone:b --join 10.0.0.1:7401\n"
        "\n"
        "  # three nodes on one machine, for trying things out\n"
        "  for i in 1 2 3; do\n"
        "    cairnd --id $i --data-dir /tmp/cairn$i \\\n"
        "           --client-listen 127.0.0.1:740$i --peer-listen "
        "127.0.0.1:750$i \\\n"
        "           --http-listen 127.0.0.1:760$i \\\n"
        "           --initial-cluster "
        "1=127.0.0.1:7501,2=127.0.0.1:7502,3=127.0.0.1:7503 &\n"
        "  done\n"
        "\n"
        "  # settings from a file, one overridden\n"
        "  cairnd --config /etc/cairn/cairnd.conf --log-level debug\n"
        "\n"
        "Exit status: 0 after a clean stop (or --help, --version), 2 for a "
        "bad\n"
        "configuration (nothing on disk is touched), 1 for any other "
        "failure.\n",
        out);
}
