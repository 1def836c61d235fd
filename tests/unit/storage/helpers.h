/*
 * helpers.h — fixtures and small wrappers shared by the storage engine's
 * unit tests (tests/unit/storage/). Every test gets a fresh temporary
 * directory and a fresh storage_open(); the wrappers assert that the engine
 * itself did not fail (storage_apply() returned 0) and copy what reads
 * return, so the tests compare exact values after the read transaction has
 * ended.
 */
#ifndef CAIRN_TEST_STORAGE_HELPERS_H
#define CAIRN_TEST_STORAGE_HELPERS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "storage.h"

/* The default bucket every fixture creates (fx_setup). */
#define B "b"

/* A base time for commands, ns; far from 0 so "expires_at <= time" cases
 * are meaningful. */
#define T0 ((uint64_t)1000000000000ULL)

/* A string as (pointer, length). */
#define S(str) (str), strlen(str)

struct fx {
    char dir[512];
    storage *s;
    char err[CAIRN_ERRMSG_SIZE];
};

/* Setup: temp dir + storage_open(defaults) + bucket B with default config. */
int fx_setup(void **state);
/* Setup: temp dir + storage_open(defaults), no bucket. */
int fx_setup_empty(void **state);
/* Teardown: storage_close + remove the temp dir. */
int fx_teardown(void **state);

/* Close and reopen f->s with @opts (NULL: defaults); asserts success. */
void fx_reopen(struct fx *f, const struct storage_options *opts);

/* Create bucket @name with the defaults and the given fields; asserts OK. */
void fx_bucket(struct fx *f, const char *name, uint32_t history,
               int64_t ttl_ns, int64_t max_bytes);
/* Create bucket from @cfg; returns the code. */
int fx_bucket_cfg(struct fx *f, const cairn_bucket_config *cfg, uint64_t now);

struct storage_bucket_info fx_info(struct fx *f, const char *bucket);

/* ---- commands ---------------------------------------------------------- */

struct storage_cmd cmd_put(const void *k, size_t kl, const void *v, size_t vl,
                           uint64_t time);
struct storage_cmd cmd_create(const void *k, size_t kl, const void *v,
                              size_t vl, uint64_t time);
struct storage_cmd cmd_update(const void *k, size_t kl, const void *v,
                              size_t vl, uint64_t rev, uint64_t time);
struct storage_cmd cmd_cas(const void *k, size_t kl, const void *v, size_t vl,
                           const void *old, size_t old_len, bool has_old,
                           uint64_t time);
struct storage_cmd cmd_delete(const void *k, size_t kl, uint64_t rev,
                              uint64_t time);
struct storage_cmd cmd_purge(const void *k, size_t kl, uint64_t rev,
                             uint64_t time);
struct storage_cmd cmd_expire(uint64_t time);
struct storage_cmd cmd_txn(const struct cairn_compare *cmp, uint32_t n_cmp,
                           const struct cairn_write *w, uint32_t n_w,
                           uint64_t time);

struct cairn_write wr_put(const void *k, size_t kl, const void *v,
                            size_t vl);
struct cairn_write wr_del(const void *k, size_t kl);
struct cairn_write wr_purge(const void *k, size_t kl);

/* storage_apply(), asserting it returned 0; the result is returned. */
struct storage_result fx_apply(struct fx *f, const char *bucket,
                               const struct storage_cmd *cmd, uint64_t index);

/* Assert @r is a refusal with @code: no revision taken, not skipped, a
 * message given. */
void assert_refused(const struct storage_result *r, int code);

/* Put a string value; asserts code OK and returns the new revision. */
uint64_t fx_put(struct fx *f, const char *bucket, const char *key,
                const char *value, uint64_t time);
/* Same with byte keys/values. */
uint64_t fx_put_bytes(struct fx *f, const char *bucket, const void *k,
                      size_t kl, const void *v, size_t vl, uint64_t time);

/* ---- reads (copied out of the read transaction) ------------------------ */

#define COPY_MAX 128

struct got {
    uint8_t key[CAIRN_KEY_MAX];
    size_t key_len;
    uint8_t *value; /* malloc'd copy; NULL if the entry's value was NULL */
    size_t value_len;
    uint8_t meta[CAIRN_KEY_META_MAX];
    size_t meta_len;
    bool meta_null;
    uint64_t revision;
    uint64_t create_revision;
    uint64_t updated;
    uint64_t expires_at;
    uint32_t op;
};

/* storage_get in a fresh read txn; fills @out (may be NULL) on success;
 * returns the code. Free with got_free(). */
int fx_get(struct fx *f, const char *bucket, const void *k, size_t kl,
           uint64_t rev, uint64_t now, struct got *out);
void got_free(struct got *g);

/* Assert the latest/given revision of @key is the string @value; returns
 * the entry's revision. */
uint64_t fx_expect_value(struct fx *f, const char *bucket, const void *k,
                         size_t kl, uint64_t rev, uint64_t now,
                         const void *v, size_t vl);

struct hist_entry {
    uint64_t revision;
    uint64_t create_revision;
    uint64_t updated;
    uint64_t expires_at;
    uint32_t op;
    bool value_null;
    size_t value_len;
    uint8_t value[COPY_MAX];
    size_t key_len;
    uint8_t key[CAIRN_KEY_MAX];
};

struct hist {
    size_t n;
    struct hist_entry e[CAIRN_HISTORY_MAX + 8];
};

int fx_history(struct fx *f, const char *bucket, const void *k, size_t kl,
               uint64_t now, struct hist *h);

struct scanres {
    size_t n;
    size_t cap;
    struct hist_entry *e;
    struct storage_page page;
};

/* storage_scan in a fresh read txn collecting entries into @r (reset
 * first); returns the code. Free with scanres_free(). */
int fx_scan(struct fx *f, const char *bucket, const struct storage_scan *args,
            struct scanres *r);
void scanres_free(struct scanres *r);
int fx_count(struct fx *f, const char *bucket, const struct storage_scan *args,
             uint64_t *count);

/* Fill @buf with @len bytes: @base repeated, last byte @last. */
void make_key(uint8_t *buf, size_t len, uint8_t base, uint8_t last);

/* Assert @msg contains @needle (with a readable failure). */
#define assert_msg_has(msg, needle)                                          \
    do {                                                                     \
        if (strstr((msg), (needle)) == NULL) {                               \
            print_error("message '%s' does not contain '%s'\n", (msg),       \
                        (needle));                                           \
            fail();                                                          \
        }                                                                    \
    } while (0)

/* Run the group, optionally filtered by argv[1] (a cmocka test filter). */
#define RUN_TESTS(name, tests, argc, argv)                                   \
    do {                                                                     \
        if ((argc) > 1) {                                                    \
            cmocka_set_test_filter((argv)[1]);                               \
        }                                                                    \
        return cmocka_run_group_tests_name(name, tests, NULL, NULL);         \
    } while (0)

#define TEST(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)
#define TEST_EMPTY(fn)                                                       \
    cmocka_unit_test_setup_teardown(fn, fx_setup_empty, fx_teardown)

#endif
