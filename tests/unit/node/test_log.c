/*
 * cairnd's structured log (node/log.h): the exact line format on a fixed
 * clock, level filtering (and that the macros skip the arguments below the
 * level), quoting and escaping, pairs, time formatting, and truncation of
 * overlong records. Every line written is also run through a small logfmt
 * parser to check it is one well-formed record.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include <cmocka.h>

#include "log.h"

/* 2026-11-22T04:46:00.123Z */
#define T_EXAMPLE 1795322760123456789ull

struct fix {
    char *text;
    size_t size;
    FILE *out;
    uint64_t now;
};

static uint64_t fixed_clock(void *data)
{
    struct fix *f = data;
    return f->now;
}

static int setup(void **state)
{
    struct fix *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->out = open_memstream(&f->text, &f->size);
    assert_non_null(f->out);
    f->now = T_EXAMPLE;
    node_log_set_output(f->out);
    node_log_set_clock(fixed_clock, f);
    node_log_set_level(NODE_LOG_INFO);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fix *f = *state;
    node_log_set_output(NULL);
    node_log_set_clock(NULL, NULL);
    node_log_set_level(NODE_LOG_INFO);
    fclose(f->out);
    free(f->text);
    free(f);
    return 0;
}

/* What was written since the last call (the stream is flushed by every
 * record); resets the stream. */
static const char *taken(struct fix *f)
{
    static char copy[4 * NODE_LOG_LINE_MAX];
    assert_int_equal(fflush(f->out), 0);
    assert_true(f->size < sizeof copy);
    memcpy(copy, f->text, f->size);
    copy[f->size] = '\0';
    rewind(f->out);
    assert_int_equal(fflush(f->out), 0);
    f->text[0] = '\0';
    f->size = 0;
    return copy;
}

/* ------------------------------------------------------------------------
 * A logfmt parser: checks that @line is one record (the time, then
 * key=value pairs separated by one space, quoted values properly escaped,
 * one newline at the end) and returns its number of pairs, or fails the
 * test. With @key, copies that pair's unescaped value to @value.
 * ---------------------------------------------------------------------- */

static bool is_key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

static int parse_record(const char *line, const char *key, char *value,
                        size_t value_size)
{
    const char *p = line;
    size_t len = strlen(line);
    int pairs = 0;
    bool found = false;
    assert_true(len > 0 && len <= NODE_LOG_LINE_MAX);
    assert_int_equal(line[len - 1], '\n');
    assert_null(memchr(line, '\n', len - 1));
    /* The time: 2026-11-22T04:46:00.123Z */
    assert_true(len > 24);
    for (int i = 0; i < 24; i++) {
        const char *shape = "dddd-dd-ddTdd:dd:dd.dddZ";
        if (shape[i] == 'd') {
            assert_true(p[i] >= '0' && p[i] <= '9');
        } else {
            assert_int_equal(p[i], shape[i]);
        }
    }
    p += 24;
    while (*p != '\n') {
        const char *k;
        size_t klen;
        size_t vlen = 0;
        bool want;
        assert_int_equal(*p, ' ');
        p++;
        k = p;
        while (is_key_char(*p)) {
            p++;
        }
        klen = (size_t)(p - k);
        assert_true(klen > 0);
        assert_int_equal(*p, '=');
        p++;
        want = key != NULL && strlen(key) == klen &&
               strncmp(k, key, klen) == 0;
        if (*p == '"') {
            p++;
            while (*p != '"') {
                char c = *p;
                assert_true((unsigned char)c >= 0x20 && c != 0x7f);
                if (c == '\\') {
                    p++;
                    switch (*p) {
                        case '"':
                        case '\\':
                            c = *p;
                            break;
                        case 'n':
                            c = '\n';
                            break;
                        case 'r':
                            c = '\r';
                            break;
                        case 't':
                            c = '\t';
                            break;
                        case 'u': {
                            unsigned v;
                            char hex[5] = {p[1], p[2], p[3], p[4], '\0'};
                            assert_int_equal(sscanf(hex, "%4x", &v), 1);
                            assert_true(v < 0x20 || v == 0x7f);
                            c = (char)v;
                            p += 4;
                            break;
                        }
                        default:
                            fail_msg("bad escape '\\%c' in %s", *p, line);
                    }
                }
                if (want) {
                    assert_true(vlen + 1 < value_size);
                    value[vlen++] = c;
                }
                p++;
            }
            p++;
        } else {
            const char *v = p;
            while (*p != ' ' && *p != '\n') {
                assert_true((unsigned char)*p > 0x20 && *p != '"' &&
                            *p != '=' && *p != '\\' && *p != 0x7f);
                p++;
            }
            assert_true(p > v);
            if (want) {
                vlen = (size_t)(p - v);
                assert_true(vlen < value_size);
                memcpy(value, v, vlen);
            }
        }
        if (want) {
            value[vlen] = '\0';
            found = true;
        }
        pairs++;
    }
    if (key != NULL && !found) {
        fail_msg("no '%s' in %s", key, line);
    }
    return pairs;
}

/* The unescaped value of @key in @line (static buffer). */
static const char *field(const char *line, const char *key)
{
    static char value[NODE_LOG_LINE_MAX];
    parse_record(line, key, value, sizeof value);
    return value;
}

/* ------------------------------------------------------------------------
 * Tests
 * ---------------------------------------------------------------------- */

static void test_line_format(void **state)
{
    struct fix *f = *state;
    unsigned long long term = 3;
    LOG_INFO("raft", "config", "leader elected term=%llu", term);
    assert_string_equal(taken(f),
                        "2026-11-22T04:46:00.123Z level=info comp=raft "
                        "group=config msg=\"leader elected\" term=3\n");
    node_log(NODE_LOG_ERROR, "storage", NULL, "map full");
    assert_string_equal(taken(f),
                        "2026-11-22T04:46:00.123Z level=error comp=storage "
                        "msg=\"map full\"\n");
    LOG_WARN("node", "b1", "slow apply ms=%d index=%zu leader=%s:%u", 250,
             (size_t)42, "10.0.0.2", 7501u);
    assert_string_equal(taken(f),
                        "2026-11-22T04:46:00.123Z level=warn comp=node "
                        "group=b1 msg=\"slow apply\" ms=250 index=42 "
                        "leader=10.0.0.2:7501\n");
    /* Conversions in the message are formatted (and quoted with it). */
    LOG_ERROR("node", NULL, "open %s: %s code=%d", "/var/lib/cairn",
              "No such file", 2);
    assert_string_equal(taken(f),
                        "2026-11-22T04:46:00.123Z level=error comp=node "
                        "msg=\"open /var/lib/cairn: No such file\" code=2\n");
}

static void test_levels(void **state)
{
    struct fix *f = *state;
    int evaluated = 0;
    assert_int_equal(node_log_get_level(), NODE_LOG_INFO);
    assert_false(node_log_enabled(NODE_LOG_DEBUG));
    assert_true(node_log_enabled(NODE_LOG_INFO));
    LOG_DEBUG("raft", NULL, "hidden n=%d", ++evaluated);
    assert_int_equal(evaluated, 0); /* arguments not even evaluated */
    node_log(NODE_LOG_DEBUG, "raft", NULL, "hidden too");
    assert_string_equal(taken(f), "");

    node_log_set_level(NODE_LOG_WARN);
    LOG_INFO("raft", NULL, "hidden n=%d", ++evaluated);
    assert_int_equal(evaluated, 0);
    LOG_WARN("raft", NULL, "shown n=%d", ++evaluated);
    LOG_ERROR("raft", NULL, "shown n=%d", ++evaluated);
    assert_int_equal(evaluated, 2);
    assert_string_equal(taken(f),
                        "2026-11-22T04:46:00.123Z level=warn comp=raft "
                        "msg=\"shown\" n=1\n"
                        "2026-11-22T04:46:00.123Z level=error comp=raft "
                        "msg=\"shown\" n=2\n");

    node_log_set_level(NODE_LOG_DEBUG);
    LOG_DEBUG("raft", NULL, "now shown");
    assert_string_equal(field(taken(f), "level"), "debug");

    node_log_set_level(NODE_LOG_ERROR);
    LOG_WARN("raft", NULL, "hidden");
    assert_string_equal(taken(f), "");
    node_log_set_level((enum node_log_level)42);
    assert_int_equal(node_log_get_level(), NODE_LOG_ERROR);
    node_log_set_level((enum node_log_level)-3);
    assert_int_equal(node_log_get_level(), NODE_LOG_DEBUG);
}

static void test_level_names(void **state)
{
    enum node_log_level level = NODE_LOG_ERROR;
    const char *names[] = {"debug", "info", "warn", "error"};
    (void)state;
    for (int i = 0; i < 4; i++) {
        assert_string_equal(node_log_level_name((enum node_log_level)i),
                            names[i]);
        assert_int_equal(node_log_level_parse(names[i], &level), 0);
        assert_int_equal(level, i);
    }
    assert_string_equal(node_log_level_name((enum node_log_level)9), "?");
    level = NODE_LOG_WARN;
    assert_int_equal(node_log_level_parse("INFO", &level), -1);
    assert_int_equal(node_log_level_parse("", &level), -1);
    assert_int_equal(node_log_level_parse("warning", &level), -1);
    assert_int_equal(level, NODE_LOG_WARN);
}

static void test_escaping(void **state)
{
    struct fix *f = *state;
    const char *line;
    LOG_INFO("http", NULL,
             "say \"hi\" path=%s empty=%s quote=%s eq=%s bs=%s ctl=%s "
             "utf8=%s",
             "/a b", "", "x\"y", "a=b", "c:\\d", "l1\nl2\t\r\x01\x7f",
             "caf\xc3\xa9");
    line = taken(f);
    assert_string_equal(line,
                        "2026-11-22T04:46:00.123Z level=info comp=http "
                        "msg=\"say \\\"hi\\\"\" path=\"/a b\" empty=\"\" "
                        "quote=\"x\\\"y\" eq=\"a=b\" bs=\"c:\\\\d\" "
                        "ctl=\"l1\\nl2\\t\\r\\u0001\\u007f\" "
                        "utf8=caf\xc3\xa9\n");
    assert_int_equal(parse_record(line, NULL, NULL, 0), 10);
    assert_string_equal(field(line, "msg"), "say \"hi\"");
    assert_string_equal(field(line, "ctl"), "l1\nl2\t\r\x01\x7f");
    assert_string_equal(field(line, "bs"), "c:\\d");

    /* A value cannot forge pairs or records. */
    LOG_INFO("http", NULL, "req key=%s", "x level=error\n2026 fake=1");
    line = taken(f);
    assert_int_equal(parse_record(line, NULL, NULL, 0), 4);
    assert_string_equal(field(line, "key"), "x level=error\n2026 fake=1");

    /* Component and group are values too. */
    node_log(NODE_LOG_INFO, "my comp", "g=1", "m");
    assert_string_equal(taken(f),
                        "2026-11-22T04:46:00.123Z level=info comp=\"my comp\" "
                        "group=\"g=1\" msg=\"m\"\n");
    node_log(NODE_LOG_INFO, NULL, "", "m");
    assert_string_equal(taken(f),
                        "2026-11-22T04:46:00.123Z level=info comp=- "
                        "group=\"\" msg=\"m\"\n");
}

static void test_pairs_and_conversions(void **state)
{
    struct fix *f = *state;
    void *p = (void *)0x1234;
    char expect[256];
    LOG_INFO("t", NULL,
             "conv 100%% done i=%d u=%u x=%#x ll=%lld ull=%llu z=%zu "
             "w=%5d lw=%-4d| prec=%.2f star=%*d sp=%.*s c=%c pct=%d%% "
             "h=%hhd p=%p j=%jd",
             -1, 4000000000u, 255, -9000000000ll, 18446744073709551615ull,
             (size_t)7, 42, 7, 3.14159, 6, 9, 3, "abcdef", 'Z', 50,
             (signed char)-5, p, (intmax_t)-2);
    snprintf(expect, sizeof expect,
             "2026-11-22T04:46:00.123Z level=info comp=t "
             "msg=\"conv 100%% done\" i=-1 u=4000000000 x=0xff "
             "ll=-9000000000 ull=18446744073709551615 z=7 "
             "w=\"   42\" lw=\"7   |\" prec=3.14 star=\"     9\" sp=abc c=Z "
             "pct=50%% h=-5 p=%p j=-2\n",
             p);
    assert_string_equal(taken(f), expect);

    /* Wide characters and strings. */
    LOG_INFO("t", NULL, "m a=%ls b=%lc c=%d", L"wide", (wint_t)L'w', 5);
    assert_string_equal(taken(f),
                        "2026-11-22T04:46:00.123Z level=info comp=t msg=\"m\" "
                        "a=wide b=w c=5\n");

    /* Negative '*' width left-justifies; negative precision means none. */
    LOG_INFO("t", NULL, "m a=%*d| b=%.*s", -3, 1, -1, "whole");
    assert_string_equal(taken(f),
                        "2026-11-22T04:46:00.123Z level=info comp=t msg=\"m\" "
                        "a=\"1  |\" b=whole\n");

    /* " key=" without a conversion, or with %%, stays in the message. */
    LOG_INFO("t", NULL, "role=leader mode=on pct=%%%d x=%%", 5);
    assert_string_equal(taken(f),
                        "2026-11-22T04:46:00.123Z level=info comp=t "
                        "msg=\"role=leader mode=on pct=%5 x=%\"\n");
    /* The message may be empty. */
    LOG_INFO("t", NULL, " n=%d", 1);
    assert_string_equal(taken(f),
                        "2026-11-22T04:46:00.123Z level=info comp=t msg=\"\" "
                        "n=1\n");
    /* A flag like "% d" is part of the conversion, not a pair boundary. */
    LOG_INFO("t", NULL, "m v=% d", 4);
    assert_string_equal(taken(f),
                        "2026-11-22T04:46:00.123Z level=info comp=t msg=\"m\" "
                        "v=\" 4\"\n");
}

static void test_time_format(void **state)
{
    struct fix *f = *state;
    const struct {
        uint64_t ns;
        const char *text;
    } cases[] = {
        {0, "1970-01-01T00:00:00.000Z"},
        {999999, "1970-01-01T00:00:00.000Z"},
        {1000000, "1970-01-01T00:00:00.001Z"},
        {951782400000000000ull, "2000-02-29T00:00:00.000Z"},
        {951868799999000000ull, "2000-02-29T23:59:59.999Z"},
        {951868800000000000ull, "2000-03-01T00:00:00.000Z"},
        {1709251199999999999ull, "2024-02-29T23:59:59.999Z"},
        {1735689599000000000ull, "2024-12-31T23:59:59.000Z"},
        {T_EXAMPLE, "2026-11-22T04:46:00.123Z"},
        {4107542400000000000ull, "2100-03-01T00:00:00.000Z"},
        {4107542399000000000ull, "2100-02-28T23:59:59.000Z"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char expect[128];
        f->now = cases[i].ns;
        LOG_INFO("t", NULL, "m");
        snprintf(expect, sizeof expect,
                 "%s level=info comp=t msg=\"m\"\n", cases[i].text);
        assert_string_equal(taken(f), expect);
    }
}

static void test_default_clock(void **state)
{
    struct fix *f = *state;
    const char *line;
    node_log_set_clock(NULL, NULL);
    LOG_INFO("t", NULL, "m");
    line = taken(f);
    parse_record(line, NULL, NULL, 0);
    /* Some time after this test was written, before 2100. */
    assert_true(strncmp(line, "2025", 4) >= 0);
    assert_true(strncmp(line, "2100", 4) < 0);
}

static void test_truncation(void **state)
{
    struct fix *f = *state;
    char big[3000];
    const char *line;
    size_t len;
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';

    /* An overlong message: the line is cut to the maximum, the message
     * keeps its quotes and ends with the marker, later pairs are dropped. */
    LOG_INFO("t", "g", "%s n=%d", big, 1);
    line = taken(f);
    len = strlen(line);
    assert_int_equal(len, NODE_LOG_LINE_MAX);
    assert_int_equal(parse_record(line, NULL, NULL, 0), 5);
    assert_string_equal(line + len - strlen("aaa...\" truncated=true\n"),
                        "aaa...\" truncated=true\n");
    assert_null(strstr(line, " n=1"));
    assert_string_equal(field(line, "truncated"), "true");

    /* An overlong value: quoted even though it needs no quotes, cut. */
    LOG_INFO("t", NULL, "short v=%s after=%d", big, 2);
    line = taken(f);
    assert_int_equal(strlen(line), NODE_LOG_LINE_MAX);
    assert_int_equal(parse_record(line, NULL, NULL, 0), 5);
    assert_non_null(strstr(line, " msg=\"short\" v=\"aaaa"));
    assert_null(strstr(line, "after="));

    /* A value that just fits is not cut. */
    {
        char fits[NODE_LOG_LINE_MAX];
        size_t head = strlen("2026-11-22T04:46:00.123Z level=info comp=t "
                             "msg=\"\" v=");
        size_t room = NODE_LOG_LINE_MAX - 1 - strlen(" truncated=true") -
                      head;
        memset(fits, 'b', room);
        fits[room] = '\0';
        LOG_INFO("t", NULL, " v=%s", fits);
        line = taken(f);
        assert_null(strstr(line, "truncated"));
        assert_string_equal(field(line, "v"), fits);
        fits[room] = 'b';
        fits[room + 1] = '\0';
        LOG_INFO("t", NULL, " v=%s", fits);
        line = taken(f);
        assert_non_null(strstr(line, "...\" truncated=true\n"));
        parse_record(line, NULL, NULL, 0);
    }
}

static void test_truncation_keeps_sequences_whole(void **state)
{
    struct fix *f = *state;
    char text[3000];
    const char *line;
    /* Two-byte escapes at every position: the cut never splits one. */
    for (int shift = 0; shift < 8; shift++) {
        memset(text, 'x', (size_t)shift);
        memset(text + shift, '"', sizeof text - 1 - (size_t)shift);
        text[sizeof text - 1] = '\0';
        LOG_INFO("t", NULL, "%s", text);
        line = taken(f);
        assert_true(strlen(line) <= NODE_LOG_LINE_MAX);
        parse_record(line, NULL, NULL, 0);
        assert_non_null(strstr(line, "...\" truncated=true\n"));
    }
    /* Six-byte escapes. */
    memset(text, '\x01', sizeof text - 1);
    text[sizeof text - 1] = '\0';
    LOG_INFO("t", NULL, "m v=%s", text);
    line = taken(f);
    parse_record(line, NULL, NULL, 0);
    assert_non_null(strstr(line, "\\u0001...\" truncated=true\n"));
    /* Multi-byte UTF-8 characters (2, 3 and 4 bytes) are never split. */
    {
        const char *chars[] = {"\xc3\xa9", "\xe2\x82\xac",
                               "\xf0\x9f\x98\x80"};
        for (int c = 0; c < 3; c++) {
            for (int shift = 0; shift < 4; shift++) {
                size_t n = 0;
                const char *cut;
                size_t clen = strlen(chars[c]);
                memset(text, 'x', (size_t)shift);
                n = (size_t)shift;
                while (n + clen < sizeof text) {
                    memcpy(text + n, chars[c], clen);
                    n += clen;
                }
                text[n] = '\0';
                LOG_INFO("t", NULL, "%s", text);
                line = taken(f);
                parse_record(line, NULL, NULL, 0);
                cut = strstr(line, "...\" truncated=true\n");
                assert_non_null(cut);
                /* What precedes the marker ends a whole character. */
                assert_memory_equal(cut - clen, chars[c], clen);
            }
        }
    }
}

static void test_overlong_fields(void **state)
{
    struct fix *f = *state;
    char big[2000];
    const char *line;
    memset(big, 'g', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    /* An overlong group still gives one well-formed line. */
    node_log(NODE_LOG_INFO, "t", big, "m n=%d", 1);
    line = taken(f);
    assert_int_equal(strlen(line), NODE_LOG_LINE_MAX);
    assert_int_equal(parse_record(line, NULL, NULL, 0), 4);
    assert_null(strstr(line, "msg="));
    /* Many pairs: the ones that fit are kept whole, then the marker. */
    LOG_INFO("t", NULL,
             "m a=%s b=%s c=%s d=%s e=%s", big + 1700, big + 1700,
             big + 1700, big + 1700, big + 1700);
    line = taken(f);
    assert_true(strlen(line) <= NODE_LOG_LINE_MAX);
    parse_record(line, NULL, NULL, 0);
    assert_string_equal(field(line, "a"), big + 1700);
    assert_string_equal(field(line, "b"), big + 1700);
    assert_string_equal(field(line, "truncated"), "true");
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_line_format),
        T(test_levels),
        T(test_level_names),
        T(test_escaping),
        T(test_pairs_and_conversions),
        T(test_time_format),
        T(test_default_clock),
        T(test_truncation),
        T(test_truncation_keeps_sequences_whole),
        T(test_overlong_fields),
    };
#undef T
    return cmocka_run_group_tests_name("node_log", tests, NULL, NULL);
}
