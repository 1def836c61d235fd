/* Frames (docs/protocol.md "Frames"): the length-prefix writer and the
 * stream reader fed in every split — one byte at a time, several frames in
 * one feed, a frame across feeds — plus the size limit at its boundary. */
#include <stdio.h>
#include <stdlib.h>

#include "helpers.h"

/* A stream of @n frames; frame i has a body of sizes[i] bytes of value i. */
static void make_stream(struct cairn_wire_buf *out, const size_t *sizes,
                        size_t n)
{
    char err[CAIRN_ERRMSG_SIZE];
    for (size_t i = 0; i < n; i++) {
        uint8_t *body = malloc(sizes[i] + 1);
        assert_non_null(body);
        memset(body, (int)(i + 1), sizes[i]);
        assert_int_equal(cairn_wire_frame_write(out, body, sizes[i], err), 0);
        free(body);
    }
}

/* Feed @stream to @r in pieces of the lengths @cuts (the rest last) and
 * check that exactly the frames of @sizes come out, in order. */
static void read_in_pieces(const uint8_t *stream, size_t len,
                           const size_t *cuts, size_t n_cuts,
                           const size_t *sizes, size_t n)
{
    struct cairn_wire_reader r;
    size_t got = 0, off = 0;
    cairn_wire_reader_init(&r);
    for (size_t c = 0; c <= n_cuts; c++) {
        size_t piece = c < n_cuts ? cuts[c] : len - off;
        /* The fed memory is reused after the drain: copy it to a buffer
         * that is freed (and poisoned under ASan) right after. */
        uint8_t *copy = malloc(piece + 1);
        assert_non_null(copy);
        if (piece > 0) {
            memcpy(copy, stream + off, piece);
        }
        assert_int_equal(cairn_wire_reader_feed(&r, copy, piece), 0);
        for (;;) {
            const void *body;
            size_t blen;
            assert_int_equal(cairn_wire_reader_next(&r, &body, &blen), 0);
            if (body == NULL) {
                break;
            }
            assert_true(got < n);
            assert_int_equal(blen, sizes[got]);
            for (size_t i = 0; i < blen; i++) {
                assert_int_equal(((const uint8_t *)body)[i], got + 1);
            }
            got++;
        }
        free(copy);
        off += piece;
    }
    assert_int_equal(off, len);
    assert_int_equal(got, n);
    assert_int_equal(r.have, 0);
    cairn_wire_reader_close(&r);
}

static void test_frame_write_prefix(void **state)
{
    struct cairn_wire_buf b;
    char err[CAIRN_ERRMSG_SIZE];
    static const uint8_t body[] = {0x81, 0xa1, 'a', 0x01};
    (void)state;
    cairn_wire_buf_init(&b);
    assert_int_equal(cairn_wire_frame_write(&b, body, sizeof body, err), 0);
    assert_int_equal(b.len, 8);
    assert_memory_equal(b.data, "\x00\x00\x00\x04", 4);
    assert_memory_equal(b.data + 4, body, sizeof body);
    /* An empty body, then a second frame after the first. */
    assert_int_equal(cairn_wire_frame_write(&b, NULL, 0, err), 0);
    assert_int_equal(b.len, 12);
    assert_memory_equal(b.data + 8, "\x00\x00\x00\x00", 4);
    cairn_wire_buf_reset(&b);
    assert_int_equal(b.len, 0);
    cairn_wire_buf_close(&b);
}

static void test_frame_write_limit(void **state)
{
    struct cairn_wire_buf b;
    char err[CAIRN_ERRMSG_SIZE];
    uint8_t *big = calloc(1, (size_t)CAIRN_FRAME_MAX + 1);
    (void)state;
    assert_non_null(big);
    cairn_wire_buf_init(&b);
    assert_int_equal(cairn_wire_frame_write(&b, "x", 1, err), 0);
    assert_int_equal(cairn_wire_frame_write(&b, big,
                                            (size_t)CAIRN_FRAME_MAX + 1, err),
                     CAIRN_ETOOLARGE);
    assert_int_equal(b.len, 5); /* unchanged */
    assert_int_equal(
        cairn_wire_frame_write(&b, big, (size_t)CAIRN_FRAME_MAX, err), 0);
    assert_int_equal(b.len, 5 + 4 + (size_t)CAIRN_FRAME_MAX);
    assert_memory_equal(b.data + 5, "\x02\x00\x00\x00", 4);
    cairn_wire_buf_close(&b);
    free(big);
}

static const size_t sizes3[] = {3, 0, 70};

static void test_reader_whole_stream_in_one_feed(void **state)
{
    struct cairn_wire_buf b;
    struct cairn_wire_reader r;
    const void *body;
    size_t len;
    (void)state;
    cairn_wire_buf_init(&b);
    make_stream(&b, sizes3, 3);
    read_in_pieces(b.data, b.len, NULL, 0, sizes3, 3);
    /* Frames whole within a feed are views: nothing is buffered. */
    cairn_wire_reader_init(&r);
    assert_int_equal(cairn_wire_reader_feed(&r, b.data, b.len), 0);
    assert_int_equal(cairn_wire_reader_next(&r, &body, &len), 0);
    assert_ptr_equal(body, b.data + 4);
    assert_int_equal(cairn_wire_reader_next(&r, &body, &len), 0);
    assert_non_null(body); /* the empty frame */
    assert_int_equal(len, 0);
    assert_int_equal(cairn_wire_reader_next(&r, &body, &len), 0);
    assert_int_equal(len, 70);
    assert_int_equal(cairn_wire_reader_next(&r, &body, &len), 0);
    assert_null(body);
    assert_int_equal(r.cap, 0);
    cairn_wire_reader_close(&r);
    cairn_wire_buf_close(&b);
}

static void test_reader_one_byte_at_a_time(void **state)
{
    struct cairn_wire_buf b;
    size_t *cuts;
    (void)state;
    cairn_wire_buf_init(&b);
    make_stream(&b, sizes3, 3);
    cuts = malloc(b.len * sizeof *cuts);
    assert_non_null(cuts);
    for (size_t i = 0; i < b.len; i++) {
        cuts[i] = 1;
    }
    read_in_pieces(b.data, b.len, cuts, b.len - 1, sizes3, 3);
    free(cuts);
    cairn_wire_buf_close(&b);
}

static void test_reader_every_split(void **state)
{
    struct cairn_wire_buf b;
    (void)state;
    cairn_wire_buf_init(&b);
    make_stream(&b, sizes3, 3);
    /* Every cut into two feeds, and every pair of cuts into three. */
    for (size_t i = 0; i <= b.len; i++) {
        size_t cut[1] = {i};
        read_in_pieces(b.data, b.len, cut, 1, sizes3, 3);
        for (size_t j = 0; j <= b.len - i; j += 3) {
            size_t cuts[2] = {i, j};
            read_in_pieces(b.data, b.len, cuts, 2, sizes3, 3);
        }
    }
    /* Empty feeds in between change nothing. */
    {
        size_t cuts[5] = {0, 5, 0, 0, 2};
        read_in_pieces(b.data, b.len, cuts, 5, sizes3, 3);
    }
    cairn_wire_buf_close(&b);
}

static void test_reader_buffer_grows_to_largest_split_frame(void **state)
{
    static const size_t sizes[] = {10, 5000, 20, 300};
    struct cairn_wire_buf b;
    struct cairn_wire_reader r;
    const void *body;
    size_t len;
    (void)state;
    cairn_wire_buf_init(&b);
    make_stream(&b, sizes, 4);
    cairn_wire_reader_init(&r);
    /* The first frame whole, the 5000-byte one split after 100 bytes. */
    assert_int_equal(cairn_wire_reader_feed(&r, b.data, 14 + 100), 0);
    assert_int_equal(cairn_wire_reader_next(&r, &body, &len), 0);
    assert_int_equal(len, 10);
    assert_int_equal(cairn_wire_reader_next(&r, &body, &len), 0);
    assert_null(body);
    assert_int_equal(r.cap, 4 + 5000);
    assert_int_equal(cairn_wire_reader_feed(&r, b.data + 114, b.len - 114), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(cairn_wire_reader_next(&r, &body, &len), 0);
        assert_int_equal(len, sizes[i + 1]);
    }
    assert_int_equal(cairn_wire_reader_next(&r, &body, &len), 0);
    assert_null(body);
    assert_int_equal(r.cap, 4 + 5000); /* never grew again */
    cairn_wire_reader_close(&r);
    cairn_wire_buf_close(&b);
}

static void test_reader_oversized_length(void **state)
{
    struct cairn_wire_reader r;
    const void *body;
    size_t len;
    uint8_t hdr[4] = {0x02, 0x00, 0x00, 0x01}; /* CAIRN_FRAME_MAX + 1 */
    uint8_t huge[4] = {0xff, 0xff, 0xff, 0xff};
    (void)state;
    /* Whole header in one feed. */
    cairn_wire_reader_init(&r);
    assert_int_equal(cairn_wire_reader_feed(&r, hdr, 4), 0);
    assert_int_equal(cairn_wire_reader_next(&r, &body, &len),
                     CAIRN_ETOOLARGE);
    assert_null(body);
    assert_msg_has(r.errmsg, "larger than");
    /* Sticky. */
    assert_int_equal(cairn_wire_reader_next(&r, &body, &len),
                     CAIRN_ETOOLARGE);
    assert_int_equal(cairn_wire_reader_feed(&r, hdr, 4), CAIRN_ETOOLARGE);
    cairn_wire_reader_close(&r);
    /* Header split over feeds, and after a good frame. */
    cairn_wire_reader_init(&r);
    {
        uint8_t s[7] = {0, 0, 0, 1, 0x80, 0xff, 0xff};
        assert_int_equal(cairn_wire_reader_feed(&r, s, 7), 0);
        assert_int_equal(cairn_wire_reader_next(&r, &body, &len), 0);
        assert_int_equal(len, 1);
        assert_int_equal(cairn_wire_reader_next(&r, &body, &len), 0);
        assert_null(body);
    }
    assert_int_equal(cairn_wire_reader_feed(&r, huge + 2, 2), 0);
    assert_int_equal(cairn_wire_reader_next(&r, &body, &len),
                     CAIRN_ETOOLARGE);
    cairn_wire_reader_close(&r);
    /* Exactly the limit is a length the reader waits for. */
    cairn_wire_reader_init(&r);
    hdr[3] = 0x00;
    assert_int_equal(cairn_wire_reader_feed(&r, hdr, 4), 0);
    assert_int_equal(cairn_wire_reader_next(&r, &body, &len), 0);
    assert_null(body);
    cairn_wire_reader_close(&r);
}

static void test_reader_frame_at_the_limit(void **state)
{
    struct cairn_wire_buf b;
    struct cairn_wire_reader r;
    const void *body;
    size_t len, off = 0, got = 0;
    uint8_t *big = calloc(1, CAIRN_FRAME_MAX);
    char err[CAIRN_ERRMSG_SIZE];
    (void)state;
    assert_non_null(big);
    big[CAIRN_FRAME_MAX - 1] = 0x5a;
    cairn_wire_buf_init(&b);
    assert_int_equal(cairn_wire_frame_write(&b, big, CAIRN_FRAME_MAX, err), 0);
    free(big);
    cairn_wire_reader_init(&r);
    while (off < b.len) {
        size_t piece = b.len - off < 1000000 ? b.len - off : 1000000;
        assert_int_equal(cairn_wire_reader_feed(&r, b.data + off, piece), 0);
        for (;;) {
            assert_int_equal(cairn_wire_reader_next(&r, &body, &len), 0);
            if (body == NULL) {
                break;
            }
            assert_int_equal(len, CAIRN_FRAME_MAX);
            assert_int_equal(((const uint8_t *)body)[len - 1], 0x5a);
            got++;
        }
        off += piece;
    }
    assert_int_equal(got, 1);
    assert_int_equal(r.cap, CAIRN_WIRE_HEADER + (size_t)CAIRN_FRAME_MAX);
    cairn_wire_reader_close(&r);
    cairn_wire_buf_close(&b);
}

static void test_reader_feed_before_drain(void **state)
{
    struct cairn_wire_buf b;
    struct cairn_wire_reader r;
    const void *body;
    size_t len;
    (void)state;
    cairn_wire_buf_init(&b);
    make_stream(&b, sizes3, 3);
    cairn_wire_reader_init(&r);
    assert_int_equal(cairn_wire_reader_feed(&r, b.data, b.len), 0);
    assert_int_equal(cairn_wire_reader_next(&r, &body, &len), 0);
    assert_int_equal(cairn_wire_reader_feed(&r, b.data, b.len), CAIRN_EINVAL);
    assert_msg_has(r.errmsg, "drained");
    assert_int_equal(cairn_wire_reader_next(&r, &body, &len), CAIRN_EINVAL);
    cairn_wire_reader_close(&r);
    cairn_wire_buf_close(&b);
}

/* Encoders stop a body that passes the limit and leave @out as it was. */
static void test_encoder_frame_too_large(void **state)
{
    struct cairn_wire_buf b;
    struct cairn_wire_entry e;
    struct cairn_wire_entry *many;
    uint8_t *val = calloc(1, 1 << 20);
    uint32_t n = 40;
    char err[CAIRN_ERRMSG_SIZE];
    (void)state;
    assert_non_null(val);
    many = calloc(n, sizeof *many);
    assert_non_null(many);
    memset(&e, 0, sizeof e);
    e.key = "k";
    e.key_len = 1;
    e.has_value = true;
    e.value = val;
    e.value_len = 1 << 20;
    e.op = CAIRN_OP_PUT;
    for (uint32_t i = 0; i < n; i++) {
        many[i] = e;
    }
    cairn_wire_buf_init(&b);
    assert_int_equal(cairn_wire_reply_write(&b, 1, 2, err), 0);
    {
        size_t before = b.len;
        assert_int_equal(
            cairn_wire_reply_history(&b, 2, many, n, NULL, err),
            CAIRN_ETOOLARGE);
        assert_int_equal(b.len, before);
        assert_msg_has(err, "larger than");
        /* The buffer is usable afterwards. */
        assert_int_equal(cairn_wire_reply_history(&b, 3, many, 30, NULL, err),
                         0);
        assert_true(b.len > before + 30 * (1u << 20));
    }
    cairn_wire_buf_close(&b);
    free(many);
    free(val);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_write_prefix),
        cmocka_unit_test(test_frame_write_limit),
        cmocka_unit_test(test_reader_whole_stream_in_one_feed),
        cmocka_unit_test(test_reader_one_byte_at_a_time),
        cmocka_unit_test(test_reader_every_split),
        cmocka_unit_test(test_reader_buffer_grows_to_largest_split_frame),
        cmocka_unit_test(test_reader_oversized_length),
        cmocka_unit_test(test_reader_frame_at_the_limit),
        cmocka_unit_test(test_reader_feed_before_drain),
        cmocka_unit_test(test_encoder_frame_too_large),
    };
    RUN_TESTS("client_wire_frame", tests, argc, argv);
}
