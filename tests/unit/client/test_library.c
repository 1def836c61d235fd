/*
 * libcairn without a cluster: option checking, argument checking, and the
 * failure a caller gets when no node answers — within the deadline, from
 * many threads at once, with a message naming the operation and the
 * address it tried. (Calls against real nodes are in tests/cluster/.)
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cairn.h"

/* 127.0.0.1 port 1: nothing listens there, connections are refused. */
#define NOBODY "127.0.0.1:1"

static cairn_client *open_nobody(uint32_t deadline_ms)
{
    struct cairn_client_options o = {.servers = NOBODY,
                                     .deadline_ms = deadline_ms,
                                     .connect_timeout_ms = 200};
    char err[CAIRN_ERRMSG_SIZE];
    cairn_client *c = NULL;
    assert_int_equal(cairn_client_open(&o, &c, err), 0);
    assert_non_null(c);
    return c;
}

static void test_open_refuses_bad_servers(void **state)
{
    static const char *bad[] = {"", " , ", "localhost", "127.0.0.1:",
                                ":7401", "127.0.0.1:0", "127.0.0.1:70000",
                                "127.0.0.1:74x1", "[::1:7401"};
    char err[CAIRN_ERRMSG_SIZE];
    cairn_client *c = NULL;
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct cairn_client_options o = {.servers = bad[i]};
        err[0] = '\0';
        assert_int_equal(cairn_client_open(&o, &c, err), CAIRN_EINVAL);
        assert_null(c);
        assert_true(strlen(err) > 0);
    }
    {
        struct cairn_client_options o = {.servers = "127.0.0.1:7401,oops"};
        assert_int_equal(cairn_client_open(&o, &c, err), CAIRN_EINVAL);
        assert_non_null(strstr(err, "'oops'"));
    }
    assert_int_equal(cairn_client_open(NULL, &c, err), CAIRN_EINVAL);
}

static void test_open_accepts_lists(void **state)
{
    struct cairn_client_options o = {
        .servers = "127.0.0.1:7401, 127.0.0.1:7402,[::1]:7403,localhost:7404"};
    char err[CAIRN_ERRMSG_SIZE];
    cairn_client *c = NULL;
    (void)state;
    assert_int_equal(cairn_client_open(&o, &c, err), 0);
    assert_true(cairn_client_id(c) != 0);
    cairn_client_close(c);
    cairn_client_close(NULL);
}

static void test_arguments_checked_before_sending(void **state)
{
    cairn_client *c = open_nobody(5000);
    char err[CAIRN_ERRMSG_SIZE];
    char long_name[CAIRN_BUCKET_NAME_MAX + 2];
    cairn_entry *e = NULL;
    cairn_bucket_config cfg;
    (void)state;
    /* These fail at once, without waiting for the unreachable node. */
    assert_int_equal(cairn_get(c, "b", "", 0, NULL, &e, err), CAIRN_EINVAL);
    assert_non_null(strstr(err, "get b/: the key is empty"));
    assert_int_equal(cairn_put(c, NULL, "k", 1, "v", 1, NULL, NULL, err),
                     CAIRN_EINVAL);
    memset(long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    assert_int_equal(cairn_delete(c, long_name, "k", 1, 0, NULL, err),
                     CAIRN_EINVAL);
    assert_non_null(strstr(err, "bucket name"));
    cairn_bucket_config_init(&cfg, "b");
    cfg.history = 65;
    assert_int_equal(cairn_bucket_create(c, &cfg, NULL, err), CAIRN_EINVAL);
    assert_non_null(strstr(err, "history"));
    assert_int_equal(cairn_txn(c, "b", NULL, 0, NULL, 0, NULL, err),
                     CAIRN_EINVAL);
    cairn_client_close(c);
}

static void test_unreachable_fails_by_deadline(void **state)
{
    cairn_client *c = open_nobody(400);
    char err[CAIRN_ERRMSG_SIZE];
    cairn_result res;
    int rc;
    (void)state;
    rc = cairn_put(c, "config", "db.url", 6, "x", 1, NULL, &res, err);
    assert_true(rc == CAIRN_EUNAVAILABLE || rc == CAIRN_ETIMEDOUT);
    assert_non_null(strstr(err, "put config/db.url: cluster unavailable"));
    assert_non_null(strstr(err, NOBODY));
    cairn_client_close(c);
}

struct worker {
    cairn_client *c;
    int rc;
};

static void *get_from_thread(void *arg)
{
    struct worker *w = arg;
    char err[CAIRN_ERRMSG_SIZE];
    cairn_entry *e = NULL;
    w->rc = cairn_get(w->c, "b", "k", 1, NULL, &e, err);
    cairn_entry_free(e);
    return NULL;
}

/* Threads share one client: every call completes with its own answer. */
static void test_threads_share_a_client(void **state)
{
    cairn_client *c = open_nobody(300);
    pthread_t t[8];
    struct worker w[8];
    (void)state;
    for (int i = 0; i < 8; i++) {
        w[i] = (struct worker){.c = c, .rc = -1};
        assert_int_equal(pthread_create(&t[i], NULL, get_from_thread, &w[i]),
                         0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        assert_true(w[i].rc == CAIRN_EUNAVAILABLE ||
                    w[i].rc == CAIRN_ETIMEDOUT);
    }
    cairn_client_close(c);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_refuses_bad_servers),
        cmocka_unit_test(test_open_accepts_lists),
        cmocka_unit_test(test_arguments_checked_before_sending),
        cmocka_unit_test(test_unreachable_fails_by_deadline),
        cmocka_unit_test(test_threads_share_a_client),
    };
    if (argc > 1) {
        cmocka_set_test_filter(argv[1]);
    }
    return cmocka_run_group_tests_name("client library", tests, NULL, NULL);
}
