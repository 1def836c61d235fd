/*
 * helpers.h — what the wire codec's unit tests (tests/unit/client/) share:
 * hand-built msgpack documents (msgpack-c's packer, so malformed requests
 * do not depend on the codec's own encoder), map edits, and field-by-field
 * comparisons of requests and responses.
 */
#ifndef CAIRN_TEST_CLIENT_HELPERS_H
#define CAIRN_TEST_CLIENT_HELPERS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <msgpack.h>

#include "wire.h"

/* A string as (pointer, length). */
#define S(str) (str), strlen(str)

#define RUN_TESTS(name, tests, argc, argv)                                   \
    do {                                                                     \
        if ((argc) > 1) {                                                    \
            cmocka_set_test_filter((argv)[1]);                               \
        }                                                                    \
        return cmocka_run_group_tests_name(name, tests, NULL, NULL);         \
    } while (0)

/* A msgpack document under construction. */
struct mp {
    msgpack_sbuffer sb;
    msgpack_packer pk;
};

void mp_init(struct mp *m);
void mp_free(struct mp *m);
/* Start over, keeping the memory. */
void mp_clear(struct mp *m);
void mp_str(struct mp *m, const char *s);
void mp_bin(struct mp *m, const void *p, size_t n);

/* The body of the single frame in @b (asserts the prefix is right). */
const uint8_t *one_body(const struct cairn_wire_buf *b, size_t *len);

/*
 * A copy of map @body in @out with field @key removed (@val NULL) or set
 * to the msgpack value @val (@val_len bytes): replaced where it is, else
 * appended. Returns whether @key was there.
 */
bool map_edit(const void *body, size_t len, const char *key, const void *val,
              size_t val_len, struct mp *out);

/*
 * A copy of document @body in @out with its @target-th value (counting
 * every map value and array element below the top-level map, depth first)
 * replaced by nil. Returns false when @body has no such value. @top_key
 * gets the key when the value sits right in the top-level map, else "".
 */
bool nil_at(const void *body, size_t len, int target, struct mp *out,
            char top_key[32]);

/* The names of map @body's string keys (at most @max). */
size_t map_names(const void *body, size_t len, char names[][32], size_t max);

/* Assert that @msg contains @part (printing both when it does not). */
void assert_msg_has(const char *msg, const char *part);

/* Assert that two nodes (node.join, cluster.status) are equal, their role
 * too when @role. */
void assert_node_equal(const struct cairn_wire_node *a,
                       const struct cairn_wire_node *b, bool role);

/* Assert that two requests carry the same fields (by op and .has). */
void assert_request_equal(const struct cairn_wire_request *a,
                          const struct cairn_wire_request *b);

/* Assert that two responses carry the same fields @op's response has. */
void assert_response_equal(uint32_t op, const struct cairn_wire_response *a,
                           const struct cairn_wire_response *b);

/* Byte strings equal (NULL, 0 equals any empty string). */
bool bytes_eq(const void *a, size_t alen, const void *b, size_t blen);

#endif
