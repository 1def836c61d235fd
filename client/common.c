/* Error strings and bucket-config rules shared by every module. */
#include <stdio.h>
#include <string.h>

#include "cairn.h"

struct err_row {
    int http;
    const char *name;
    const char *msg;
};

static const struct err_row err_rows[] = {
#define ROW(name, num, http, shortname, msg) [num] = {http, shortname, msg},
    CAIRN_ERRNO_MAP(ROW)
#undef ROW
};

static const struct err_row *err_row(int code)
{
    if (code < 0 || code >= CAIRN__ERR_COUNT || err_rows[code].msg == NULL) {
        return NULL;
    }
    return &err_rows[code];
}

const char *cairn_strerror(int code)
{
    const struct err_row *r = err_row(code);
    return r != NULL ? r->msg : "unknown error";
}

const char *cairn_errname(int code)
{
    const struct err_row *r = err_row(code);
    return r != NULL ? r->name : "unknown";
}

int cairn_http_status(int code)
{
    const struct err_row *r = err_row(code);
    return r != NULL ? r->http : 500;
}

void cairn_bucket_config_init(cairn_bucket_config *cfg, const char *name)
{
    memset(cfg, 0, sizeof *cfg);
    if (name != NULL) {
        snprintf(cfg->name, sizeof cfg->name, "%s", name);
    }
    cfg->history = 1;
    cfg->max_bytes = -1;
    cfg->max_value_size = CAIRN_VALUE_DEFAULT_MAX;
    cfg->storage = CAIRN_STORAGE_FILE;
    cfg->num_replicas = 1;
}

/* Length of @s if it is NUL-terminated within @size bytes, else -1. */
static long bounded_len(const char *s, size_t size)
{
    const char *nul = memchr(s, '\0', size);
    return nul != NULL ? (long)(nul - s) : -1;
}

static int name_is_valid(const char *name, size_t size)
{
    long n = bounded_len(name, size);
    if (n < 1 || n > CAIRN_BUCKET_NAME_MAX) {
        return 0;
    }
    for (long i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '-')) {
            return 0;
        }
    }
    return 1;
}

static int tag_is_valid(const char *tag)
{
    long n = bounded_len(tag, CAIRN_TAG_MAX + 1);
    const char *colon;
    if (n < 3) {
        return 0;
    }
    colon = memchr(tag, ':', (size_t)n);
    return colon != NULL && colon != tag && colon != tag + n - 1;
}

#define FAIL(...)                                                  \
    do {                                                           \
        if (errmsg != NULL) {                                      \
            snprintf(errmsg, CAIRN_ERRMSG_SIZE, __VA_ARGS__);      \
        }                                                          \
        return CAIRN_EINVAL;                                       \
    } while (0)

int cairn_bucket_config_validate(const cairn_bucket_config *cfg, char *errmsg)
{
    if (!name_is_valid(cfg->name, sizeof cfg->name)) {
        FAIL("bucket name '%.64s' is invalid: use 1..%d characters from "
             "[A-Za-z0-9_-]",
             cfg->name, CAIRN_BUCKET_NAME_MAX);
    }
    if (bounded_len(cfg->description, sizeof cfg->description) < 0) {
        FAIL("description is longer than %d bytes", CAIRN_DESCRIPTION_MAX);
    }
    if (cfg->ttl_ns < 0) {
        FAIL("ttl %lld is negative: use 0 (never expire) or a positive "
             "number of nanoseconds",
             (long long)cfg->ttl_ns);
    }
    if (cfg->history < 1 || cfg->history > CAIRN_HISTORY_MAX) {
        FAIL("history %u is out of range 1..%d", cfg->history,
             CAIRN_HISTORY_MAX);
    }
    if (cfg->max_bytes == 0 || cfg->max_bytes < -1) {
        FAIL("max_bytes %lld is invalid: use -1 (unlimited) or a positive "
             "size",
             (long long)cfg->max_bytes);
    }
    if (cfg->max_value_size == 0 || cfg->max_value_size < -1 ||
        cfg->max_value_size > CAIRN_VALUE_HARD_MAX) {
        FAIL("max_value_size %lld is invalid: use -1 (the %d-byte ceiling) "
             "or a size in 1..%d",
             (long long)cfg->max_value_size, CAIRN_VALUE_HARD_MAX,
             CAIRN_VALUE_HARD_MAX);
    }
    if (cfg->storage != CAIRN_STORAGE_FILE &&
        cfg->storage != CAIRN_STORAGE_MEMORY) {
        FAIL("storage %u is invalid: use file or memory", cfg->storage);
    }
    if (cfg->num_replicas < 1 || cfg->num_replicas > CAIRN_REPLICAS_MAX) {
        FAIL("num_replicas %u is out of range 1..%d", cfg->num_replicas,
             CAIRN_REPLICAS_MAX);
    }
    if (bounded_len(cfg->cluster, sizeof cfg->cluster) < 0) {
        FAIL("placement cluster is longer than %d bytes",
             CAIRN_CLUSTER_NAME_MAX);
    }
    if (cfg->n_tags > CAIRN_TAGS_MAX) {
        FAIL("placement has %u tags, at most %d are allowed", cfg->n_tags,
             CAIRN_TAGS_MAX);
    }
    for (uint32_t i = 0; i < cfg->n_tags; i++) {
        if (!tag_is_valid(cfg->tags[i])) {
            FAIL("placement tag %u '%.128s' is invalid: use key:value, at "
                 "most %d bytes",
                 i, cfg->tags[i], CAIRN_TAG_MAX);
        }
    }
    if (cfg->n_metadata > CAIRN_METADATA_PAIRS_MAX) {
        FAIL("metadata has %u entries, at most %d are allowed",
             cfg->n_metadata, CAIRN_METADATA_PAIRS_MAX);
    }
    for (uint32_t i = 0; i < cfg->n_metadata; i++) {
        const struct cairn_bucket_metadata *m = &cfg->metadata[i];
        long klen = bounded_len(m->key, sizeof m->key);
        if (klen < 1) {
            FAIL("metadata key %u must be 1..%d bytes", i,
                 CAIRN_METADATA_KEY_MAX);
        }
        if (bounded_len(m->value, sizeof m->value) < 0) {
            FAIL("metadata value of '%s' is longer than %d bytes", m->key,
                 CAIRN_METADATA_VALUE_MAX);
        }
        for (uint32_t j = 0; j < i; j++) {
            if (strcmp(cfg->metadata[j].key, m->key) == 0) {
                FAIL("metadata key '%s' appears twice", m->key);
            }
        }
    }
    return CAIRN_OK;
}

int64_t cairn_bucket_value_limit(const cairn_bucket_config *cfg)
{
    return cfg->max_value_size == -1 ? CAIRN_VALUE_HARD_MAX
                                     : cfg->max_value_size;
}
