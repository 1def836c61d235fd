/*
 * cairnd's configuration (node/config.h): every flag's valid and invalid
 * values at the boundaries, the defaults, the config file and its errors
 * with line numbers, file + flag precedence, the --initial-cluster and
 * --join rules, and --help/--version. Config files live in a temporary
 * directory removed after each test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "tmpdir.h"

#define ARGS_MAX 64
#define ID_MAX_TEXT "9223372036854775807"

/* ------------------------------------------------------------------------
 * Helpers
 * ---------------------------------------------------------------------- */

struct fix {
    char dir[256];
    char path[512]; /* the last file written */
};

static int setup(void **state)
{
    struct fix *f = calloc(1, sizeof *f);
    assert_non_null(f);
    assert_int_equal(test_tmpdir_create("node-config", f->dir, sizeof f->dir),
                     0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fix *f = *state;
    assert_int_equal(test_tmpdir_remove(f->dir), 0);
    free(f);
    return 0;
}

/* Write @text to @name in the fixture's directory; returns its path. */
static const char *write_file(struct fix *f, const char *name,
                              const char *text)
{
    FILE *fp;
    snprintf(f->path, sizeof f->path, "%s/%s", f->dir, name);
    fp = fopen(f->path, "w");
    assert_non_null(fp);
    assert_int_equal(fputs(text, fp) >= 0, 1);
    assert_int_equal(fclose(fp), 0);
    return f->path;
}

/* Parse "cairnd" followed by the NULL-terminated @args. Checks that argv is
 * left as it was, that @errmsg is empty exactly on success, and that @cfg is
 * left alone on failure. */
static int parse_list(struct node_config *cfg, char *errmsg,
                      const char *const *args)
{
    char *argv[ARGS_MAX + 2];
    char *copy[ARGS_MAX + 2];
    struct node_config before;
    int argc = 0;
    int rc;
    argv[argc++] = "cairnd";
    for (; args[argc - 1] != NULL; argc++) {
        assert_true(argc <= ARGS_MAX);
        argv[argc] = (char *)args[argc - 1];
    }
    argv[argc] = NULL;
    memcpy(copy, argv, sizeof argv[0] * (size_t)(argc + 1));
    memset(cfg, 0x5a, sizeof *cfg);
    before = *cfg;
    memset(errmsg, 'x', CAIRN_ERRMSG_SIZE);
    errmsg[CAIRN_ERRMSG_SIZE - 1] = '\0';
    rc = node_config_parse(argc, argv, cfg, errmsg);
    for (int i = 0; i <= argc; i++) {
        assert_ptr_equal(argv[i], copy[i]);
    }
    if (rc == 0 || rc == NODE_CONFIG_HELP || rc == NODE_CONFIG_VERSION) {
        assert_string_equal(errmsg, "");
    } else {
        assert_int_equal(rc, CAIRN_EINVAL);
        assert_true(strlen(errmsg) > 0);
        assert_memory_equal(cfg, &before, sizeof before);
    }
    if (rc != 0) {
        memset(cfg, 0, sizeof *cfg);
    }
    return rc;
}

#define PARSE(cfg, err, ...) \
    parse_list((cfg), (err), (const char *const[]){__VA_ARGS__, NULL})

/* The required flags plus more. */
#define OK_ARGS "--id", "1", "--data-dir", "/var/lib/cairn"

/* Expect @rc to be CAIRN_EINVAL with exactly the message @want. */
#define assert_refused(rc, err, want)           \
    do {                                        \
        assert_int_equal((rc), CAIRN_EINVAL);   \
        assert_string_equal((err), (want));     \
    } while (0)

/* Expect @rc to be CAIRN_EINVAL with a message containing @part. */
#define assert_refused_with(rc, err, part)                            \
    do {                                                              \
        assert_int_equal((rc), CAIRN_EINVAL);                         \
        if (strstr((err), (part)) == NULL) {                          \
            fail_msg("message '%s' lacks '%s'", (err), (part));       \
        }                                                             \
    } while (0)

/* Parse the required flags plus @flag @value; returns the code. */
static int parse_one(struct node_config *cfg, char *err, const char *flag,
                     const char *value)
{
    return PARSE(cfg, err, OK_ARGS, flag, value);
}

/* A string of @n copies of @c (static buffer, @n < 8192). */
static const char *repeat(char c, size_t n)
{
    static char buf[2][8192];
    static int which;
    char *b = buf[which ^= 1];
    assert_true(n < sizeof buf[0]);
    memset(b, c, n);
    b[n] = '\0';
    return b;
}

/* ------------------------------------------------------------------------
 * Defaults and every flag
 * ---------------------------------------------------------------------- */

static void test_defaults(void **state)
{
    struct node_config c;
    char err[CAIRN_ERRMSG_SIZE];
    (void)state;
    assert_int_equal(PARSE(&c, err, OK_ARGS), 0);
    assert_int_equal(c.id, 1);
    assert_string_equal(c.name, "node1");
    assert_string_equal(c.data_dir, "/var/lib/cairn");
    assert_string_equal(c.memory_dir, "/dev/shm/cairn-cairn-1");
    assert_string_equal(c.config_file, "");
    assert_string_equal(c.client_listen.text, "127.0.0.1:7401");
    assert_string_equal(c.client_listen.host, "127.0.0.1");
    assert_int_equal(c.client_listen.port, 7401);
    assert_string_equal(c.peer_listen.text, "127.0.0.1:7501");
    assert_int_equal(c.peer_listen.port, 7501);
    assert_string_equal(c.http_listen.text, "127.0.0.1:7601");
    assert_int_equal(c.http_listen.port, 7601);
    assert_int_equal(c.n_tags, 0);
    assert_string_equal(c.cluster, "cairn");
    assert_int_equal(c.bootstrap, NODE_BOOTSTRAP_NONE);
    assert_int_equal(c.n_initial, 0);
    assert_int_equal(c.log_level, NODE_LOG_INFO);
    assert_int_equal(c.snapshot_threshold, 100000);
    assert_int_equal(c.snapshot_trailing, 50000);
    assert_int_equal(c.election_timeout_ms, 1000);
    assert_int_equal(c.heartbeat_ms, 100);
    assert_int_equal(c.map_size, 8ull << 30);
    assert_int_equal(c.expire_interval_ms, 1000);
}

static void test_init_matches_defaults(void **state)
{
    struct node_config parsed;
    struct node_config init;
    char err[CAIRN_ERRMSG_SIZE];
    (void)state;
    assert_int_equal(PARSE(&parsed, err, OK_ARGS), 0);
    node_config_init(&init);
    assert_int_equal(init.id, 0);
    assert_string_equal(init.data_dir, "");
    assert_string_equal(init.memory_dir, ""); /* depends on id and cluster */
    assert_string_equal(init.name, "");
    assert_string_equal(init.config_file, "");
    assert_string_equal(init.client_listen.text, parsed.client_listen.text);
    assert_int_equal(init.client_listen.port, parsed.client_listen.port);
    assert_string_equal(init.peer_listen.text, parsed.peer_listen.text);
    assert_string_equal(init.http_listen.text, parsed.http_listen.text);
    assert_string_equal(init.cluster, parsed.cluster);
    assert_int_equal(init.n_tags, 0);
    assert_int_equal(init.bootstrap, parsed.bootstrap);
    assert_int_equal(init.log_level, parsed.log_level);
    assert_int_equal(init.snapshot_threshold, parsed.snapshot_threshold);
    assert_int_equal(init.snapshot_trailing, parsed.snapshot_trailing);
    assert_int_equal(init.election_timeout_ms, parsed.election_timeout_ms);
    assert_int_equal(init.heartbeat_ms, parsed.heartbeat_ms);
    assert_int_equal(init.map_size, parsed.map_size);
    assert_int_equal(init.expire_interval_ms, parsed.expire_interval_ms);
}

static void test_every_flag(void **state)
{
    struct node_config c;
    char err[CAIRN_ERRMSG_SIZE];
    (void)state;
    assert_int_equal(
        PARSE(&c, err, "--id", "7", "--name", "Alpha_1.b-c", "--data-dir",
              "rel/dir", "--memory-dir", "rel/mem", "--client-listen",
              "0.0.0.0:1", "--peer-listen",
              "10.0.0.7:65535", "--http-listen=192.168.1.1:8080", "--tag",
              "zone:a", "--tag=disk:ssd", "--cluster", "eu-west.1",
              "--initial-cluster", "7=10.0.0.7:65535,8=10.0.0.8:7501",
              "--log-level", "debug", "--snapshot-threshold", "1",
              "--snapshot-trailing", "0", "--election-timeout-ms", "600000",
              "--heartbeat-ms", "60000", "--map-size", "1M",
              "--expire-interval-ms", "250"),
        0);
    assert_int_equal(c.id, 7);
    assert_string_equal(c.name, "Alpha_1.b-c");
    assert_string_equal(c.data_dir, "rel/dir");
    assert_string_equal(c.memory_dir, "rel/mem");
    assert_string_equal(c.client_listen.text, "0.0.0.0:1");
    assert_string_equal(c.peer_listen.text, "10.0.0.7:65535");
    assert_int_equal(c.peer_listen.port, 65535);
    assert_string_equal(c.http_listen.host, "192.168.1.1");
    assert_int_equal(c.http_listen.port, 8080);
    assert_int_equal(c.n_tags, 2);
    assert_string_equal(c.tags[0], "zone:a");
    assert_string_equal(c.tags[1], "disk:ssd");
    assert_string_equal(c.cluster, "eu-west.1");
    assert_int_equal(c.bootstrap, NODE_BOOTSTRAP_INITIAL);
    assert_int_equal(c.n_initial, 2);
    assert_int_equal(c.initial_cluster[0].id, 7);
    assert_string_equal(c.initial_cluster[0].addr.text, "10.0.0.7:65535");
    assert_int_equal(c.initial_cluster[1].id, 8);
    assert_string_equal(c.initial_cluster[1].addr.host, "10.0.0.8");
    assert_int_equal(c.initial_cluster[1].addr.port, 7501);
    assert_int_equal(c.log_level, NODE_LOG_DEBUG);
    assert_int_equal(c.snapshot_threshold, 1);
    assert_int_equal(c.snapshot_trailing, 0);
    assert_int_equal(c.election_timeout_ms, 600000);
    assert_int_equal(c.heartbeat_ms, 60000);
    assert_int_equal(c.map_size, 1u << 20);
    assert_int_equal(c.expire_interval_ms, 250);
}

static void test_flag_given_twice_last_wins(void **state)
{
    struct node_config c;
    char err[CAIRN_ERRMSG_SIZE];
    (void)state;
    assert_int_equal(PARSE(&c, err, OK_ARGS, "--id", "2", "--log-level",
                           "warn", "--log-level", "error"),
                     0);
    assert_int_equal(c.id, 2);
    assert_string_equal(c.name, "node2");
    assert_int_equal(c.log_level, NODE_LOG_ERROR);
}

static void test_id(void **state)
{
    struct node_config c;
    char err[CAIRN_ERRMSG_SIZE];
    const char *bad[] = {"9223372036854775808", "18446744073709551615",
                         "18446744073709551616", "-1", "+1", " 1", "1 ",
                         "1x", "", "abc", "0x10"};
    (void)state;
    assert_int_equal(parse_one(&c, err, "--id", "1"), 0);
    assert_int_equal(c.id, 1);
    assert_int_equal(parse_one(&c, err, "--id", ID_MAX_TEXT), 0);
    assert_int_equal(c.id, 9223372036854775807ull);
    assert_string_equal(c.name, "node" ID_MAX_TEXT);
    assert_int_equal(parse_one(&c, err, "--id", "007"), 0);
    assert_int_equal(c.id, 7);
    assert_refused(parse_one(&c, err, "--id", "0"), err,
                   "--id: '0' is not in 1..9223372036854775807");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char want[1024];
        snprintf(want, sizeof want,
                 "--id: '%s' is not in 1..9223372036854775807", bad[i]);
        assert_refused(parse_one(&c, err, "--id", bad[i]), err, want);
    }
    assert_refused(PARSE(&c, err, "--data-dir", "/d"), err,
                   "--id is required (this node's raft id, "
                   "1..9223372036854775807)");
}

static void test_name(void **state)
{
    struct node_config c;
    char err[CAIRN_ERRMSG_SIZE];
    const char *bad[] = {"", "a b", "a/b", "a:b", "caf\xc3\xa9", "a\tb"};
    (void)state;
    assert_int_equal(parse_one(&c, err, "--name", "a"), 0);
    assert_string_equal(c.name, "a");
    assert_int_equal(parse_one(&c, err, "--name", repeat('n', 64)), 0);
    assert_string_equal(c.name, repeat('n', 64));
    assert_int_equal(parse_one(&c, err, "--name",
                               "ABCXYZabcxyz0123456789_.-"),
                     0);
    assert_refused_with(parse_one(&c, err, "--name", repeat('n', 65)), err,
                        "...' is not 1..64 characters from [A-Za-z0-9_.-]");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_refused_with(parse_one(&c, err, "--name", bad[i]), err,
                            "is not 1..64 characters from [A-Za-z0-9_.-]");
    }
    assert_refused(parse_one(&c, err, "--name", "a b"), err,
                   "--name: 'a b' is not 1..64 characters from "
                   "[A-Za-z0-9_.-]");
}

static void test_cluster(void **state)
{
    struct node_config c;
    char err[CAIRN_ERRMSG_SIZE];
    (void)state;
    assert_int_equal(parse_one(&c, err, "--cluster", "x"), 0);
    assert_string_equal(c.cluster, "x");
    assert_int_equal(parse_one(&c, err, "--cluster", repeat('c', 64)), 0);
    assert_string_equal(c.cluster, repeat('c', 64));
    assert_refused_with(parse_one(&c, err, "--cluster", repeat('c', 65)),
                        err, "--cluster: '");
    assert_refused(parse_one(&c, err, "--cluster", ""), err,
                   "--cluster: '' is not 1..64 characters from "
                   "[A-Za-z0-9_.-]");
    assert_refused_with(parse_one(&c, err, "--cluster", "a,b"), err,
                        "--cluster: 'a,b' is not");
}

static void test_data_dir(void **state)
{
    struct node_config c;
    char err[CAIRN_ERRMSG_SIZE];
    char path[NODE_PATH_MAX + 1];
    (void)state;
    assert_refused(PARSE(&c, err, "--id", "1"), err,
                   "--data-dir is required");
    assert_refused(PARSE(&c, err, "--id", "1", "--data-dir", ""), err,
                   "--data-dir: the path is empty");
    memset(path, 'p', NODE_PATH_MAX - 1);
    path[NODE_PATH_MAX - 1] = '\0';
    assert_int_equal(PARSE(&c, err, "--id", "1", "--data-dir", path), 0);
    assert_string_equal(c.data_dir, path);
    memset(path, 'p', NODE_PATH_MAX);
    path[NODE_PATH_MAX] = '\0';
    assert_refused(PARSE(&c, err, "--id", "1", "--data-dir", path), err,
                   "--data-dir: the path of 4096 bytes is longer than 4095");
}

static void test_memory_dir(void **state)
{
    struct node_config c;
    char err[CAIRN_ERRMSG_SIZE];
    char path[NODE_PATH_MAX + 1];
    (void)state;
    /* The default follows the cluster and the id, given in any order. */
    assert_int_equal(PARSE(&c, err, "--cluster", "eu.1", "--id", "42",
                           "--data-dir", "/d"),
                     0);
    assert_string_equal(c.memory_dir, "/dev/shm/cairn-eu.1-42");
    assert_int_equal(PARSE(&c, err, OK_ARGS, "--memory-dir", "/run/m",
                           "--memory-dir=/run/mem"),
                     0);
    assert_string_equal(c.memory_dir, "/run/mem");
    assert_refused(parse_one(&c, err, "--memory-dir", ""), err,
                   "--memory-dir: the path is empty");
    memset(path, 'p', NODE_PATH_MAX - 1);
    path[NODE_PATH_MAX - 1] = '\0';
    assert_int_equal(parse_one(&c, err, "--memory-dir", path), 0);
    assert_string_equal(c.memory_dir, path);
    memset(path, 'p', NODE_PATH_MAX);
    path[NODE_PATH_MAX] = '\0';
    assert_refused(parse_one(&c, err, "--memory-dir", path), err,
                   "--memory-dir: the path of 4096 bytes is longer than "
                   "4095");
}

static void test_addresses(void **state)
{
    struct node_config c;
    char err[CAIRN_ERRMSG_SIZE];
    char want[1024];
    const char *flags[] = {"--client-listen", "--peer-listen",
                           "--http-listen"};
    const char *not_ip[] = {"localhost:7401", ":7401", "1.2.3:7401",
                            "1.2.3.256:7401", "01.2.3.4:7401",
                            " 1.2.3.4:7401", "1.2.3.4.5:7401",
                            "1234567890123456:1"};
    const char *not_format[] = {"127.0.0.1", "", "::1:7401", "[::1]:7401",
                                "1.2.3.4:80:81"};
    const char *bad_port[] = {"0", "65536", "-1", "+80", " 80", "80 ", "",
                              "0x50", "99999999999999999999"};
    (void)state;
    for (size_t f = 0; f < 3; f++) {
        char value[64];
        assert_int_equal(parse_one(&c, err, flags[f], "10.9.8.7:1"), 0);
        assert_int_equal(parse_one(&c, err, flags[f],
                                   "255.255.255.254:65535"),
                         0);
        for (size_t i = 0; i < sizeof not_ip / sizeof not_ip[0]; i++) {
            snprintf(want, sizeof want,
                     "%s: '%s' does not start with an IPv4 address (a.b.c.d; "
                     "host names and IPv6 are not accepted)",
                     flags[f], not_ip[i]);
            assert_refused(parse_one(&c, err, flags[f], not_ip[i]), err,
                           want);
        }
        for (size_t i = 0; i < sizeof not_format / sizeof not_format[0];
             i++) {
            snprintf(want, sizeof want,
                     "%s: '%s' is not IP:PORT (an IPv4 address and a port, "
                     "e.g. 127.0.0.1:7401)",
                     flags[f], not_format[i]);
            assert_refused(parse_one(&c, err, flags[f], not_format[i]), err,
                           want);
        }
        for (size_t i = 0; i < sizeof bad_port / sizeof bad_port[0]; i++) {
            snprintf(value, sizeof value, "10.0.0.1:%s", bad_port[i]);
            snprintf(want, sizeof want,
                     "%s: '%s': port '%s' is not in 1..65535", flags[f],
                     value, bad_port[i]);
            assert_refused(parse_one(&c, err, flags[f], value), err, want);
        }
    }
    /* Listeners may bind every interface; the peer address is dialed. */
    assert_int_equal(parse_one(&c, err, "--client-listen", "0.0.0.0:7401"),
                     0);
    assert_string_equal(c.client_listen.host, "0.0.0.0");
    assert_int_equal(parse_one(&c, err, "--http-listen", "0.0.0.0:7601"), 0);
    assert_refused(parse_one(&c, err, "--peer-listen", "0.0.0.0:7501"), err,
                   "--peer-listen: '0.0.0.0:7501': other nodes dial this "
                   "address, so it cannot be 0.0.0.0");
}

static void test_listeners_clash(void **state)
{
    struct node_config c;
    char err[CAIRN_ERRMSG_SIZE];
    (void)state;
    assert_refused(PARSE(&c, err, OK_ARGS, "--http-listen", "127.0.0.1:7401"),
                   err,
                   "--http-listen: 127.0.0.1:7401 clashes with "
                   "--client-listen 127.0.0.1:7401: each listener needs its "
                   "own port");
    assert_refused_with(PARSE(&c, err, OK_ARGS, "--client-listen",
                              "0.0.0.0:7501"),
                        err, "--peer-listen: 127.0.0.1:7501 clashes with "
                             "--client-listen 0.0.0.0:7501");
    /* Same port on different addresses is fine. */
    assert_int_equal(PARSE(&c, err, OK_ARGS, "--http-listen",
                           "127.0.0.2:7401"),
                     0);
}

static void test_tags(void **state)
{
    struct node_config c;
    char err[CAIRN_ERRMSG_SIZE];
    const char *args[2 * (CAIRN_TAGS_MAX + 1) + 5];
    char tags[CAIRN_TAGS_MAX + 1][16];
    char long_tag[CAIRN_TAG_MAX + 2];
    const char *bad[] = {"zone", ":a", "zone:", ":", ""};
    int n = 0;
    (void)state;
    args[n++] = "--id";
    args[n++] = "1";
    args[n++] = "--data-dir";
    args[n++] = "/d";
    for (int i = 0; i < CAIRN_TAGS_MAX; i++) {
        snprintf(tags[i], sizeof tags[i], "k%d:v%d", i, i);
        args[n++] = "--tag";
        args[n++] = tags[i];
    }
    args[n] = NULL;
    assert_int_equal(parse_list(&c, err, args), 0);
    assert_int_equal(c.n_tags, CAIRN_TAGS_MAX);
    for (int i = 0; i < CAIRN_TAGS_MAX; i++) {
        assert_string_equal(c.tags[i], tags[i]);
    }
    snprintf(tags[CAIRN_TAGS_MAX], sizeof tags[0], "k16:v16");
    args[n++] = "--tag";
    args[n++] = tags[CAIRN_TAGS_MAX];
    args[n] = NULL;
    assert_refused(parse_list(&c, err, args), err,
                   "--tag: 'k16:v16' is one tag too many: at most 16 are "
                   "allowed");

    /* 128 bytes fit, 129 do not. */
    memset(long_tag, 'v', sizeof long_tag);
    memcpy(long_tag, "k:", 2);
    long_tag[CAIRN_TAG_MAX] = '\0';
    assert_int_equal(parse_one(&c, err, "--tag", long_tag), 0);
    assert_int_equal(strlen(c.tags[0]), CAIRN_TAG_MAX);
    long_tag[CAIRN_TAG_MAX] = 'v';
    long_tag[CAIRN_TAG_MAX + 1] = '\0';
    assert_refused_with(parse_one(&c, err, "--tag", long_tag), err,
                        "...' is longer than 128 bytes");

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char want[1024];
        snprintf(want, sizeof want,
                 "--tag: '%s' is not KEY:VALUE (a non-empty key and value "
                 "around a colon)",
                 bad[i]);
        assert_refused(parse_one(&c, err, "--tag", bad[i]), err, want);
    }
    /* The bucket rule splits at the first colon. */
    assert_int_equal(parse_one(&c, err, "--tag", "a:b:c"), 0);
    assert_string_equal(c.tags[0], "a:b:c");
    assert_refused(PARSE(&c, err, OK_ARGS, "--tag", "zone:a", "--tag",
                         "zone:a"),
                   err, "--tag: 'zone:a' appears twice");
}

static void test_log_level(void **state)
{
    struct node_config c;
    char err[CAIRN_ERRMSG_SIZE];
    const char *names[] = {"debug", "info", "warn", "error"};
    const char *bad[] = {"DEBUG", "verbose", "", "warning", "info "};
    (void)state;
    for (int i = 0; i < 4; i++) {
        assert_int_equal(parse_one(&c, err, "--log-level", names[i]), 0);
        assert_int_equal(c.log_level, i);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char want[1024];
        snprintf(want, sizeof want,
                 "--log-level: '%s' is not one of debug, info, warn, error",
                 bad[i]);
        assert_refused(parse_one(&c, err, "--log-level", bad[i]), err, want);
    }
}

static void test_snapshot(void **state)
{
    struct node_config c;
    char err[CAIRN_ERRMSG_SIZE];
    (void)state;
    assert_int_equal(parse_one(&c, err, "--snapshot-threshold", "1"), 0);
    assert_int_equal(c.snapshot_threshold, 1);
    assert_int_equal(
        parse_one(&c, err, "--snapshot-threshold", "4294967295"), 0);
    assert_int_equal(c.snapshot_threshold, 4294967295u);
    assert_refused(parse_one(&c, err, "--snapshot-threshold", "0"), err,
                   "--snapshot-threshold: '0' is not in 1..4294967295");
    assert_refused(parse_one(&c, err, "--snapshot-threshold", "4294967296"),
                   err,
                   "--snapshot-threshold: '4294967296' is not in "
                   "1..4294967295");
    assert_refused_with(parse_one(&c, err, "--snapshot-threshold", "1k"),
                        err, "is not in 1..4294967295");

    assert_int_equal(parse_one(&c, err, "--snapshot-trailing", "0"), 0);
    assert_int_equal(c.snapshot_trailing, 0);
    assert_int_equal(parse_one(&c, err, "--snapshot-trailing", "4294967295"),
                     0);
    assert_int_equal(c.snapshot_trailing, 4294967295u);
    assert_refused(parse_one(&c, err, "--snapshot-trailing", "4294967296"),
                   err,
                   "--snapshot-trailing: '4294967296' is not in "
                   "0..4294967295");
    assert_refused(parse_one(&c, err, "--snapshot-trailing", "-1"), err,
                   "--snapshot-trailing: '-1' is not in 0..4294967295");
}

static void test_timeouts(void **state)
{
    struct node_config c;
    char err[CAIRN_ERRMSG_SIZE];
    (void)state;
    /* Heartbeat bounds, with an election timeout that allows them. */
    assert_int_equal(PARSE(&c, err, OK_ARGS, "--heartbeat-ms", "1",
                           "--election-timeout-ms", "6"),
                     0);
    assert_int_equal(c.heartbeat_ms, 1);
    assert_int_equal(c.election_timeout_ms, 6);
    assert_int_equal(PARSE(&c, err, OK_ARGS, "--heartbeat-ms", "60000",
                           "--election-timeout-ms", "300001"),
                     0);
    assert_refused(parse_one(&c, err, "--heartbeat-ms", "0"), err,
                   "--heartbeat-ms: '0' is not in 1..60000");
    assert_refused(parse_one(&c, err, "--heartbeat-ms", "60001"), err,
                   "--heartbeat-ms: '60001' is not in 1..60000");

    assert_int_equal(parse_one(&c, err, "--election-timeout-ms", "600000"),
                     0);
    assert_refused(parse_one(&c, err, "--election-timeout-ms", "600001"),
                   err, "--election-timeout-ms: '600001' is not in 1..600000");
    assert_refused(parse_one(&c, err, "--election-timeout-ms", "0"), err,
                   "--election-timeout-ms: '0' is not in 1..600000");

    /* Election timeout > 5 x heartbeat, whichever source sets either. */
    assert_int_equal(parse_one(&c, err, "--election-timeout-ms", "501"), 0);
    assert_refused(parse_one(&c, err, "--election-timeout-ms", "500"), err,
                   "--election-timeout-ms: 500 must be more than 5 x "
                   "--heartbeat-ms (5 x 100 = 500)");
    assert_refused(parse_one(&c, err, "--heartbeat-ms", "200"), err,
                   "--election-timeout-ms: 1000 must be more than 5 x "
                   "--heartbeat-ms (5 x 200 = 1000)");
    assert_int_equal(parse_one(&c, err, "--heartbeat-ms", "199"), 0);
}

static void test_map_size(void **state)
{
    struct node_config c;
    char err[CAIRN_ERRMSG_SIZE];
    const struct {
        const char *text;
        uint64_t bytes;
    } good[] = {
        {"1M", 1ull << 20},          {"1048576", 1ull << 20},
        {"1024K", 1ull << 20},       {"1024G", 1ull << 40},
        {"1099511627776", 1ull << 40}, {"8G", 8ull << 30},
        {"8g", 8ull << 30},          {"512m", 512ull << 20},
        {"1048577", 1048577},
    };
    const char *bad[] = {"1048575", "1023K", "1025G", "1099511627777", "0",
                         "1T", "8GB", "8 G", "G", "", "-1G", "+1G", "1.5G",
                         "18446744073709551615G", "99999999999999999999",
                         "8G "};
    (void)state;
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        assert_int_equal(parse_one(&c, err, "--map-size", good[i].text), 0);
        assert_int_equal(c.map_size, good[i].bytes);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char want[1024];
        snprintf(want, sizeof want,
                 "--map-size: '%s' is not a size in 1M..1024G (bytes, or a "
                 "number with suffix K, M or G)",
                 bad[i]);
        assert_refused(parse_one(&c, err, "--map-size", bad[i]), err, want);
    }
}

static void test_expire_interval(void **state)
{
    struct node_config c;
    char err[CAIRN_ERRMSG_SIZE];
    const char *bad[] = {"9", "0", "3600001", "-1", "1s", "", "1.5", " 10"};
    (void)state;
    assert_int_equal(parse_one(&c, err, "--expire-interval-ms", "10"), 0);
    assert_int_equal(c.expire_interval_ms, 10);
    assert_int_equal(parse_one(&c, err, "--expire-interval-ms", "3600000"),
                     0);
    assert_int_equal(c.expire_interval_ms, 3600000);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char want[256];
        snprintf(want, sizeof want,
                 "--expire-interval-ms: '%s' is not in 10..3600000", bad[i]);
        assert_refused(parse_one(&c, err, "--expire-interval-ms", bad[i]),
                       err, want);
    }
}

/* ------------------------------------------------------------------------
 * --initial-cluster and --join
 * ---------------------------------------------------------------------- */

static void test_initial_cluster(void **state)
{
    struct node_config c;
    char err[CAIRN_ERRMSG_SIZE];
    (void)state;
    assert_int_equal(
        parse_one(&c, err, "--initial-cluster",
                  "3=10.0.0.3:7501,1=127.0.0.1:7501,2=10.0.0.2:7501"),
        0);
    assert_int_equal(c.bootstrap, NODE_BOOTSTRAP_INITIAL);
    assert_int_equal(c.n_initial, 3);
    assert_int_equal(c.initial_cluster[0].id, 3);
    assert_int_equal(c.initial_cluster[1].id, 1);
    assert_string_equal(c.initial_cluster[1].addr.text, "127.0.0.1:7501");
    assert_int_equal(c.initial_cluster[2].id, 2);
    assert_string_equal(c.initial_cluster[2].addr.text, "10.0.0.2:7501");
    assert_string_equal(c.join.text, "");

    /* Just this node. */
    assert_int_equal(parse_one(&c, err, "--initial-cluster", "1=127.0.0.1:7501"),
                     0);
    assert_int_equal(c.n_initial, 1);

    /* Five voters, spaces around entries. */
    assert_int_equal(parse_one(&c, err, "--initial-cluster",
                               "1=127.0.0.1:7501, 2=127.0.0.1:7502 ,"
                               "3=127.0.0.1:7503,4=127.0.0.1:7504,"
                               "\t5=127.0.0.1:7505"),
                     0);
    assert_int_equal(c.n_initial, 5);
    assert_int_equal(c.initial_cluster[4].id, 5);
    assert_string_equal(c.initial_cluster[4].addr.text, "127.0.0.1:7505");

    /* Ids up to 2^63-1. */
    assert_int_equal(PARSE(&c, err, "--id", ID_MAX_TEXT, "--data-dir", "/d",
                           "--initial-cluster",
                           ID_MAX_TEXT "=127.0.0.1:7501"),
                     0);
    assert_int_equal(c.initial_cluster[0].id, 9223372036854775807ull);
}

static void test_initial_cluster_refused(void **state)
{
    struct node_config c;
    char err[CAIRN_ERRMSG_SIZE];
    (void)state;
    assert_refused(parse_one(&c, err, "--initial-cluster",
                             "2=10.0.0.2:7501,3=10.0.0.3:7501"),
                   err, "--initial-cluster: does not list this node (--id 1)");
    assert_refused(parse_one(&c, err, "--initial-cluster",
                             "1=127.0.0.1:7501,2=10.0.0.2:7501,"
                             "2=10.0.0.3:7501"),
                   err, "--initial-cluster: id 2 appears twice");
    assert_refused(parse_one(&c, err, "--initial-cluster",
                             "1=127.0.0.1:7501,2=10.0.0.2:7501,"
                             "3=10.0.0.2:7501"),
                   err,
                   "--initial-cluster: address 10.0.0.2:7501 appears twice");
    assert_refused(parse_one(&c, err, "--initial-cluster",
                             "1=127.0.0.1:7501,2=127.0.0.1:7502,"
                             "3=127.0.0.1:7503,4=127.0.0.1:7504,"
                             "5=127.0.0.1:7505,6=127.0.0.1:7506"),
                   err,
                   "--initial-cluster: 6 voters listed, at most 5 are "
                   "allowed");
    assert_refused(parse_one(&c, err, "--initial-cluster",
                             "1=127.0.0.1:7501,2=10.0.0.2"),
                   err,
                   "--initial-cluster: entry 2: '10.0.0.2' is not IP:PORT "
                   "(an IPv4 address and a port, e.g. 127.0.0.1:7401)");
    assert_refused(parse_one(&c, err, "--initial-cluster",
                             "1=127.0.0.1:7501,2=node2:7501"),
                   err,
                   "--initial-cluster: entry 2: 'node2:7501' does not start "
                   "with an IPv4 address (a.b.c.d; host names and IPv6 are "
                   "not accepted)");
    assert_refused(parse_one(&c, err, "--initial-cluster",
                             "1=127.0.0.1:7501,2=10.0.0.2:0"),
                   err,
                   "--initial-cluster: entry 2: '10.0.0.2:0': port '0' is "
                   "not in 1..65535");
    assert_refused(parse_one(&c, err, "--initial-cluster",
                             "1=127.0.0.1:7501,2=0.0.0.0:7501"),
                   err,
                   "--initial-cluster: entry 2: '0.0.0.0:7501': other nodes "
                   "dial this address, so it cannot be 0.0.0.0");
    assert_refused(parse_one(&c, err, "--initial-cluster",
                             "1=127.0.0.1:7501,0=10.0.0.2:7501"),
                   err,
                   "--initial-cluster: id '0' is not in "
                   "1..9223372036854775807");
    assert_refused(parse_one(&c, err, "--initial-cluster",
                             "1=127.0.0.1:7501,9223372036854775808="
                             "10.0.0.2:7501"),
                   err,
                   "--initial-cluster: id '9223372036854775808' is not in "
                   "1..9223372036854775807");
    assert_refused(parse_one(&c, err, "--initial-cluster",
                             "1=127.0.0.1:7501,10.0.0.2:7501"),
                   err,
                   "--initial-cluster: entry '10.0.0.2:7501' is not "
                   "ID=IP:PORT");
    assert_refused(parse_one(&c, err, "--initial-cluster",
                             "1=127.0.0.1:7501,"),
                   err,
                   "--initial-cluster: entry 2 is empty (use "
                   "ID=IP:PORT,ID=IP:PORT...)");
    assert_refused(parse_one(&c, err, "--initial-cluster", ""), err,
                   "--initial-cluster: entry 1 is empty (use "
                   "ID=IP:PORT,ID=IP:PORT...)");
    /* This node must be listed at its own --peer-listen address. */
    assert_refused(parse_one(&c, err, "--initial-cluster",
                             "1=127.0.0.1:7502,2=10.0.0.2:7501"),
                   err,
                   "--initial-cluster: lists this node (id 1) at "
                   "127.0.0.1:7502, but --peer-listen is 127.0.0.1:7501");
    assert_int_equal(PARSE(&c, err, OK_ARGS, "--peer-listen",
                           "127.0.0.1:7502", "--initial-cluster",
                           "1=127.0.0.1:7502,2=10.0.0.2:7501"),
                     0);
}

static void test_join(void **state)
{
    struct node_config c;
    char err[CAIRN_ERRMSG_SIZE];
    (void)state;
    assert_int_equal(parse_one(&c, err, "--join", "10.0.0.1:7401"), 0);
    assert_int_equal(c.bootstrap, NODE_BOOTSTRAP_JOIN);
    assert_string_equal(c.join.text, "10.0.0.1:7401");
    assert_int_equal(c.join.port, 7401);
    assert_int_equal(c.n_initial, 0);

    assert_refused(PARSE(&c, err, OK_ARGS, "--join", "10.0.0.1:7401",
                         "--initial-cluster", "1=127.0.0.1:7501"),
                   err,
                   "--join and --initial-cluster exclude each other: give "
                   "one of them");
    assert_refused(PARSE(&c, err, OK_ARGS, "--initial-cluster",
                         "1=127.0.0.1:7501", "--join", "10.0.0.1:7401"),
                   err,
                   "--join and --initial-cluster exclude each other: give "
                   "one of them");
    assert_refused(parse_one(&c, err, "--join", "0.0.0.0:7401"), err,
                   "--join: '0.0.0.0:7401': other nodes dial this address, "
                   "so it cannot be 0.0.0.0");
    assert_refused(parse_one(&c, err, "--join", "10.0.0.1"), err,
                   "--join: '10.0.0.1' is not IP:PORT (an IPv4 address and "
                   "a port, e.g. 127.0.0.1:7401)");
    assert_refused(parse_one(&c, err, "--join", "127.0.0.1:7401"), err,
                   "--join: 127.0.0.1:7401 is this node's own "
                   "--client-listen: give the client address of a running "
                   "node");
}

/* ------------------------------------------------------------------------
 * Command-line syntax, --help, --version
 * ---------------------------------------------------------------------- */

static void test_bad_syntax(void **state)
{
    struct node_config c;
    char err[CAIRN_ERRMSG_SIZE];
    (void)state;
    assert_refused(PARSE(&c, err, OK_ARGS, "--bogus", "1"), err,
                   "unknown flag '--bogus' (see --help)");
    assert_refused(PARSE(&c, err, OK_ARGS, "--bogus=1"), err,
                   "unknown flag '--bogus=1' (see --help)");
    assert_refused(PARSE(&c, err, OK_ARGS, "-x"), err,
                   "unknown flag '-x' (cairnd has long flags only, see "
                   "--help)");
    assert_refused(PARSE(&c, err, OK_ARGS, "-h"), err,
                   "unknown flag '-h' (cairnd has long flags only, see "
                   "--help)");
    /* Single dash long names are not long flags. */
    assert_refused_with(PARSE(&c, err, "-id", "1", "--data-dir", "/d"), err,
                        "unknown flag '-i'");
    /* Abbreviations are refused, even unambiguous ones. */
    assert_refused(PARSE(&c, err, "--id", "1", "--data", "/d"), err,
                   "unknown flag '--data' (did you mean --data-dir? flags "
                   "must be spelled out in full)");
    assert_refused(PARSE(&c, err, OK_ARGS, "--snap", "5"), err,
                   "unknown flag '--snap' (see --help)");
    assert_refused(PARSE(&c, err, OK_ARGS, "--vers"), err,
                   "unknown flag '--vers' (did you mean --version? flags "
                   "must be spelled out in full)");
    /* Values. */
    assert_refused(PARSE(&c, err, OK_ARGS, "--name"), err,
                   "--name needs a value");
    assert_refused(PARSE(&c, err, OK_ARGS, "--help=yes"), err,
                   "--help takes no value");
    /* Stray arguments, before or after the flags or after "--". */
    assert_refused(PARSE(&c, err, OK_ARGS, "stray"), err,
                   "unexpected argument 'stray' (every value follows its "
                   "flag: --flag VALUE)");
    assert_refused_with(PARSE(&c, err, "stray", OK_ARGS), err,
                        "unexpected argument 'stray'");
    assert_refused_with(PARSE(&c, err, OK_ARGS, "--", "--name"), err,
                        "unexpected argument '--name'");
    assert_refused_with(PARSE(&c, err, "--id", "1", "2", "--data-dir", "/d"),
                        err, "unexpected argument '2'");
    assert_refused_with(PARSE(&c, err, OK_ARGS, "-"), err,
                        "unexpected argument '-'");
    /* The first problem is the one reported. */
    assert_refused(PARSE(&c, err, OK_ARGS, "--bogus", "--id", "0"), err,
                   "unknown flag '--bogus' (see --help)");
    /* A flag value may start with dashes. */
    assert_int_equal(PARSE(&c, err, "--id", "1", "--data-dir", "--id"), 0);
    assert_string_equal(c.data_dir, "--id");
}

static void test_no_arguments(void **state)
{
    struct node_config c;
    char err[CAIRN_ERRMSG_SIZE];
    char *argv[] = {"cairnd", NULL};
    (void)state;
    assert_int_equal(node_config_parse(1, argv, &c, err), CAIRN_EINVAL);
    assert_string_equal(err, "--id is required (this node's raft id, "
                             "1..9223372036854775807)");
    assert_int_equal(node_config_parse(0, argv, &c, err), CAIRN_EINVAL);
}

static void test_help_and_version(void **state)
{
    struct node_config c;
    char err[CAIRN_ERRMSG_SIZE];
    (void)state;
    assert_int_equal(PARSE(&c, err, "--help"), NODE_CONFIG_HELP);
    assert_int_equal(PARSE(&c, err, OK_ARGS, "--help"), NODE_CONFIG_HELP);
    /* --help wins over bad flags and stray arguments. */
    assert_int_equal(PARSE(&c, err, "--id", "0", "--help"), NODE_CONFIG_HELP);
    assert_int_equal(PARSE(&c, err, "--bogus", "--help"), NODE_CONFIG_HELP);
    assert_int_equal(PARSE(&c, err, "stray", "--help"), NODE_CONFIG_HELP);
    assert_int_equal(PARSE(&c, err, "--config", "/nonexistent/cairn.conf",
                           "--help"),
                     NODE_CONFIG_HELP);
    assert_int_equal(PARSE(&c, err, "--version"), NODE_CONFIG_VERSION);
    assert_int_equal(PARSE(&c, err, "--id", "x", "--version"),
                     NODE_CONFIG_VERSION);
    /* The first of the two counts. */
    assert_int_equal(PARSE(&c, err, "--version", "--help"),
                     NODE_CONFIG_VERSION);
    assert_int_equal(PARSE(&c, err, "--help", "--version"), NODE_CONFIG_HELP);
    /* The codes are negative, so never a cairn error code. */
    assert_true(NODE_CONFIG_HELP < 0 && NODE_CONFIG_VERSION < 0);
    assert_int_not_equal(NODE_CONFIG_HELP, NODE_CONFIG_VERSION);
}

/* Print @print's output into a string (caller frees). */
static char *capture(void (*print)(FILE *))
{
    char *text = NULL;
    size_t size = 0;
    FILE *fp = open_memstream(&text, &size);
    assert_non_null(fp);
    print(fp);
    assert_int_equal(fclose(fp), 0);
    return text;
}

static void test_usage(void **state)
{
    const char *flags[] = {
        "--id N", "--name NAME", "--data-dir PATH", "--memory-dir PATH",
        "/dev/shm/cairn-<cluster>-<id>", "--client-listen IP:PORT",
        "--peer-listen IP:PORT", "--http-listen IP:PORT", "--tag KEY:VALUE",
        "--cluster NAME", "--initial-cluster ID=IP:PORT",
        "--join IP:PORT", "--log-level LEVEL", "--snapshot-threshold N",
        "--snapshot-trailing N", "--election-timeout-ms N",
        "--heartbeat-ms N", "--map-size BYTES", "--expire-interval-ms N",
        "--config FILE", "--help",
        "--version", "Examples:", "127.0.0.1:7401", "127.0.0.1:7501",
        "127.0.0.1:7601", "100000", "50000", "8G"};
    char *text = capture(node_config_usage);
    (void)state;
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        if (strstr(text, flags[i]) == NULL) {
            fail_msg("usage lacks '%s'", flags[i]);
        }
    }
    free(text);
    text = capture(node_config_version);
    assert_true(strncmp(text, "cairnd ", 7) == 0);
    assert_int_equal(text[strlen(text) - 1], '\n');
    free(text);
}

/* ------------------------------------------------------------------------
 * The config file
 * ---------------------------------------------------------------------- */

static void test_file_every_key(void **state)
{
    struct fix *f = *state;
    struct node_config c;
    char err[CAIRN_ERRMSG_SIZE];
    const char *path = write_file(
        f, "cairn.conf",
        "# cairnd configuration\n"
        "; another comment\n"
        "\n"
        "[node]\n"
        "id = 2\n"
        "name = beta\n"
        "data-dir = /var/lib/cairn ; inline comment\n"
        "memory-dir = /run/cairn/mem\n"
        "client-listen = 0.0.0.0:8401\n"
        "peer-listen=10.0.0.2:8501\n"
        "http-listen = 10.0.0.2:8601\n"
        "tag = zone:a\n"
        "tag = disk:ssd\n"
        "cluster = prod\n"
        "initial-cluster = 1=10.0.0.1:8501, 2=10.0.0.2:8501, "
        "3=10.0.0.3:8501\n"
        "log-level = warn\n"
        "snapshot-threshold = 2000\n"
        "snapshot-trailing = 1000\n"
        "election-timeout-ms = 3000\n"
        "heartbeat-ms = 300\n"
        "map-size = 2G\n"
        "expire-interval-ms = 500\n");
    (void)state;
    assert_int_equal(PARSE(&c, err, "--config", path), 0);
    assert_string_equal(c.config_file, path);
    assert_int_equal(c.id, 2);
    assert_string_equal(c.name, "beta");
    assert_string_equal(c.data_dir, "/var/lib/cairn");
    assert_string_equal(c.memory_dir, "/run/cairn/mem");
    assert_string_equal(c.client_listen.text, "0.0.0.0:8401");
    assert_string_equal(c.peer_listen.text, "10.0.0.2:8501");
    assert_string_equal(c.http_listen.text, "10.0.0.2:8601");
    assert_int_equal(c.n_tags, 2);
    assert_string_equal(c.tags[0], "zone:a");
    assert_string_equal(c.tags[1], "disk:ssd");
    assert_string_equal(c.cluster, "prod");
    assert_int_equal(c.bootstrap, NODE_BOOTSTRAP_INITIAL);
    assert_int_equal(c.n_initial, 3);
    assert_string_equal(c.initial_cluster[2].addr.text, "10.0.0.3:8501");
    assert_int_equal(c.log_level, NODE_LOG_WARN);
    assert_int_equal(c.snapshot_threshold, 2000);
    assert_int_equal(c.snapshot_trailing, 1000);
    assert_int_equal(c.election_timeout_ms, 3000);
    assert_int_equal(c.heartbeat_ms, 300);
    assert_int_equal(c.map_size, 2ull << 30);
    assert_int_equal(c.expire_interval_ms, 500);
}

static void test_file_then_flags(void **state)
{
    struct fix *f = *state;
    struct node_config c;
    char err[CAIRN_ERRMSG_SIZE];
    const char *path = write_file(f, "cairn.conf",
                                  "[node]\n"
                                  "id = 2\n"
                                  "data-dir = /from/file\n"
                                  "log-level = warn\n"
                                  "heartbeat-ms = 300\n"
                                  "election-timeout-ms = 2000\n"
                                  "tag = zone:a\n"
                                  "tag = disk:ssd\n"
                                  "initial-cluster = 2=127.0.0.1:7501\n");
    (void)state;
    /* The file alone. */
    assert_int_equal(PARSE(&c, err, "--config", path), 0);
    assert_int_equal(c.id, 2);
    assert_string_equal(c.name, "node2");
    assert_int_equal(c.n_tags, 2);
    /* Flags override the file wherever they stand relative to --config. */
    assert_int_equal(PARSE(&c, err, "--log-level", "debug", "--config", path,
                           "--data-dir", "/from/flag"),
                     0);
    assert_int_equal(c.id, 2);
    assert_string_equal(c.data_dir, "/from/flag");
    assert_int_equal(c.log_level, NODE_LOG_DEBUG);
    assert_int_equal(c.heartbeat_ms, 300);
    /* The cross-setting rule sees the merged values: the file's heartbeat
     * with the flag's election timeout. */
    assert_refused(PARSE(&c, err, "--config", path, "--election-timeout-ms",
                         "1500"),
                   err,
                   "--election-timeout-ms: 1500 must be more than 5 x "
                   "--heartbeat-ms (5 x 300 = 1500)");
    /* --tag flags replace the file's tags as a whole. */
    assert_int_equal(PARSE(&c, err, "--config", path, "--tag", "rack:r1"), 0);
    assert_int_equal(c.n_tags, 1);
    assert_string_equal(c.tags[0], "rack:r1");
    assert_int_equal(PARSE(&c, err, "--config", path, "--tag", "zone:a"), 0);
    assert_int_equal(c.n_tags, 1);
    /* A --join flag replaces the file's initial-cluster. */
    assert_int_equal(PARSE(&c, err, "--config", path, "--join",
                           "10.0.0.1:7401"),
                     0);
    assert_int_equal(c.bootstrap, NODE_BOOTSTRAP_JOIN);
    assert_int_equal(c.n_initial, 0);
    /* The id from the flags must still be listed in the file's cluster. */
    assert_refused(PARSE(&c, err, "--config", path, "--id", "3"), err,
                   "--initial-cluster: does not list this node (--id 3)");
    /* The last --config counts. */
    assert_int_equal(PARSE(&c, err, "--config", "/nonexistent", "--config",
                           path),
                     0);
    assert_string_equal(c.config_file, path);
}

static void test_file_join(void **state)
{
    struct fix *f = *state;
    struct node_config c;
    char err[CAIRN_ERRMSG_SIZE];
    char want[1024];
    const char *path = write_file(f, "join.conf",
                                  "[node]\n"
                                  "id = 4\n"
                                  "data-dir = /d\n"
                                  "join = 10.0.0.1:7401\n");
    (void)state;
    assert_int_equal(PARSE(&c, err, "--config", path), 0);
    assert_int_equal(c.bootstrap, NODE_BOOTSTRAP_JOIN);
    assert_string_equal(c.join.text, "10.0.0.1:7401");
    /* An --initial-cluster flag replaces the file's join. */
    assert_int_equal(PARSE(&c, err, "--config", path, "--initial-cluster",
                           "4=127.0.0.1:7501"),
                     0);
    assert_int_equal(c.bootstrap, NODE_BOOTSTRAP_INITIAL);
    assert_string_equal(c.join.text, "");

    path = write_file(f, "both.conf",
                      "[node]\n"
                      "id = 4\n"
                      "data-dir = /d\n"
                      "initial-cluster = 4=127.0.0.1:7501\n"
                      "join = 10.0.0.1:7401\n");
    snprintf(want, sizeof want,
             "%s:5: join and initial-cluster exclude each other: give one "
             "of them",
             path);
    assert_refused(PARSE(&c, err, "--config", path), err, want);
}

/* Write @text as cairn.conf and expect "PATH:@line: @rest". */
static void expect_file_error(struct fix *f, const char *text, int line,
                              const char *rest)
{
    struct node_config c;
    char err[CAIRN_ERRMSG_SIZE];
    char want[1024];
    const char *path = write_file(f, "cairn.conf", text);
    snprintf(want, sizeof want, "%s:%d: %s", path, line, rest);
    assert_refused(PARSE(&c, err, "--config", path), err, want);
}

static void test_file_errors(void **state)
{
    struct fix *f = *state;
    char text[1024];
    (void)state;
    expect_file_error(f,
                      "[node]\n"
                      "id = 1\n"
                      "# comment\n"
                      "\n"
                      "name = a\n"
                      "cluster = c\n"
                      "data_dri = /d\n",
                      7, "unknown key 'data_dri'");
    expect_file_error(f, "[node]\ndata_dir = /d\n", 2,
                      "unknown key 'data_dir' (did you mean 'data-dir'?)");
    expect_file_error(f, "[node]\nid = 1\nconfig = other.conf\n", 3,
                      "unknown key 'config'");
    expect_file_error(f, "[node]\nhelp = 1\n", 2, "unknown key 'help'");
    expect_file_error(f, "[node]\n\n\nid = 0\n", 4,
                      "id: '0' is not in 1..9223372036854775807");
    expect_file_error(f, "[node]\nid = \n", 2,
                      "id: '' is not in 1..9223372036854775807");
    expect_file_error(f, "[node]\nid = 1\npeer-listen = 0.0.0.0:7501\n", 3,
                      "peer-listen: '0.0.0.0:7501': other nodes dial this "
                      "address, so it cannot be 0.0.0.0");
    expect_file_error(f, "[node]\nid = 1\nmap-size = 1T\n", 3,
                      "map-size: '1T' is not a size in 1M..1024G (bytes, or a "
                      "number with suffix K, M or G)");
    expect_file_error(f, "id = 1\n[node]\n", 1,
                      "key 'id' is outside any section: put it under [node]");
    expect_file_error(f, "[node]\nid = 1\n[nodes]\ndata-dir = /d\n", 4,
                      "key 'data-dir' is in section [nodes]: the only "
                      "section is [node]");
    expect_file_error(f, "[node]\nid = 1\nid = 2\n", 3,
                      "id: already set on line 2");
    /* A continuation line (inih's multi-line values) repeats the key. */
    expect_file_error(f, "[node]\ndata-dir = /a\n  /b\n", 3,
                      "data-dir: already set on line 2");
    expect_file_error(f, "[node]\nid = 1\nthis is not a setting\n", 3,
                      "cannot parse the line: expected 'key = value', "
                      "'[section]' or a comment");
    expect_file_error(f, "[node\nid = 1\n", 1,
                      "cannot parse the line: expected 'key = value', "
                      "'[section]' or a comment");
    /* A syntax error before a bad value is the one reported. */
    expect_file_error(f, "[node]\nbad line\nid = 0\n", 2,
                      "cannot parse the line: expected 'key = value', "
                      "'[section]' or a comment");
    expect_file_error(f, "[node]\nid = 0\nbad line\n", 2,
                      "id: '0' is not in 1..9223372036854775807");
    expect_file_error(f,
                      "[node]\n"
                      "initial-cluster = 1=127.0.0.1:7501,2=10.0.0.2:7501,"
                      "2=10.0.0.3:7501\n",
                      2, "initial-cluster: id 2 appears twice");
    expect_file_error(f, "[node]\ntag = zone:a\ntag = zone:a\n", 3,
                      "tag: 'zone:a' appears twice");
    expect_file_error(f, "[node]\nlog-level = loud\n", 2,
                      "log-level: 'loud' is not one of debug, info, warn, "
                      "error");

    /* Seventeen tag lines. */
    strcpy(text, "[node]\n");
    for (int i = 0; i <= CAIRN_TAGS_MAX; i++) {
        snprintf(text + strlen(text), sizeof text - strlen(text),
                 "tag = k%d:v\n", i);
    }
    expect_file_error(f, text, 18,
                      "tag: 'k16:v' is one tag too many: at most 16 are "
                      "allowed");

    /* Lines up to NODE_CONFIG_LINE_MAX bytes are read whole; longer ones
     * are refused rather than cut. */
    snprintf(text, sizeof text, "[node]\nid = 1\ndata-dir = /%s\n",
             repeat('d', NODE_CONFIG_LINE_MAX - strlen("data-dir = /")));
    {
        struct node_config c;
        char err[CAIRN_ERRMSG_SIZE];
        const char *path = write_file(f, "long.conf", text);
        assert_int_equal(PARSE(&c, err, "--config", path), 0);
        assert_int_equal(strlen(c.data_dir),
                         NODE_CONFIG_LINE_MAX - strlen("data-dir = "));
    }
    snprintf(text, sizeof text, "[node]\nid = 1\ndata-dir = /%s\nid = 2\n",
             repeat('d', NODE_CONFIG_LINE_MAX + 1 - strlen("data-dir = /")));
    expect_file_error(f, text, 3, "the line is longer than 198 bytes");
}

/* A NUL byte would hide the rest of its line from inih: refused. */
static void test_file_nul_byte(void **state)
{
    struct fix *f = *state;
    struct node_config c;
    char err[CAIRN_ERRMSG_SIZE];
    char want[1024];
    FILE *fp;
    snprintf(f->path, sizeof f->path, "%s/nul.conf", f->dir);
    fp = fopen(f->path, "w");
    assert_non_null(fp);
    assert_int_equal(fwrite("[node]\nid = 1\0 2\ndata-dir = /d\n", 1, 31, fp),
                     31);
    assert_int_equal(fclose(fp), 0);
    snprintf(want, sizeof want, "%s:2: the line holds a NUL byte", f->path);
    assert_refused(PARSE(&c, err, "--config", f->path), err, want);
}

static void test_file_cannot_open(void **state)
{
    struct fix *f = *state;
    struct node_config c;
    char err[CAIRN_ERRMSG_SIZE];
    char path[600];
    char want[1024];
    snprintf(path, sizeof path, "%s/missing.conf", f->dir);
    snprintf(want, sizeof want,
             "--config: cannot open '%s': No such file or directory", path);
    assert_refused(PARSE(&c, err, "--config", path, OK_ARGS), err, want);
    assert_refused(PARSE(&c, err, "--config", "", OK_ARGS), err,
                   "--config: the path is empty");
    assert_refused(PARSE(&c, err, OK_ARGS, "--config"), err,
                   "--config needs a value");
    /* A directory opens but cannot be read. */
    snprintf(want, sizeof want, "--config: cannot read '%s': Is a directory",
             f->dir);
    assert_refused(PARSE(&c, err, "--config", f->dir, OK_ARGS), err, want);
}

static void test_file_empty_and_flags_required(void **state)
{
    struct fix *f = *state;
    struct node_config c;
    char err[CAIRN_ERRMSG_SIZE];
    const char *path = write_file(f, "empty.conf", "");
    (void)state;
    assert_int_equal(PARSE(&c, err, "--config", path, OK_ARGS), 0);
    assert_refused(PARSE(&c, err, "--config", path), err,
                   "--id is required (this node's raft id, "
                   "1..9223372036854775807)");
    /* A section with nothing in it, a BOM, CRLF line ends. */
    path = write_file(f, "crlf.conf",
                      "\xef\xbb\xbf[node]\r\nid = 9\r\ndata-dir = /d\r\n"
                      "[other]\r\n");
    assert_int_equal(PARSE(&c, err, "--config", path), 0);
    assert_int_equal(c.id, 9);
    assert_string_equal(c.data_dir, "/d");
}

/* A long file path is shortened in messages so they still fit. */
static void test_file_long_path(void **state)
{
    struct fix *f = *state;
    struct node_config c;
    char err[CAIRN_ERRMSG_SIZE];
    char name[200];
    const char *path;
    memset(name, 'n', 150);
    strcpy(name + 150, ".conf");
    path = write_file(f, name, "[node]\nid = 1\nbogus = 1\n");
    assert_refused_with(PARSE(&c, err, "--config", path), err,
                        "nnnnn.conf:3: unknown key 'bogus'");
    assert_true(strncmp(err, "...", 3) == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_init_matches_defaults),
        cmocka_unit_test(test_every_flag),
        cmocka_unit_test(test_flag_given_twice_last_wins),
        cmocka_unit_test(test_id),
        cmocka_unit_test(test_name),
        cmocka_unit_test(test_cluster),
        cmocka_unit_test(test_data_dir),
        cmocka_unit_test(test_memory_dir),
        cmocka_unit_test(test_addresses),
        cmocka_unit_test(test_listeners_clash),
        cmocka_unit_test(test_tags),
        cmocka_unit_test(test_log_level),
        cmocka_unit_test(test_snapshot),
        cmocka_unit_test(test_timeouts),
        cmocka_unit_test(test_map_size),
        cmocka_unit_test(test_expire_interval),
        cmocka_unit_test(test_initial_cluster),
        cmocka_unit_test(test_initial_cluster_refused),
        cmocka_unit_test(test_join),
        cmocka_unit_test(test_bad_syntax),
        cmocka_unit_test(test_no_arguments),
        cmocka_unit_test(test_help_and_version),
        cmocka_unit_test(test_usage),
        cmocka_unit_test_setup_teardown(test_file_every_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_then_flags, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_file_join, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_nul_byte, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_cannot_open, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_file_empty_and_flags_required,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_long_path, setup, teardown),
    };
    return cmocka_run_group_tests_name("node_config", tests, NULL, NULL);
}
