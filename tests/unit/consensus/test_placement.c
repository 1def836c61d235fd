/* Placement of a bucket's replicas: tags, cluster, zone spread, load. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "consensus.h"

typedef char tag_t[CAIRN_TAG_MAX + 1];

/* Five nodes in three zones; 1, 3 and 5 have SSDs. */
static tag_t t1[] = {"zone:a", "disk:ssd"}, t2[] = {"zone:a"},
             t3[] = {"zone:b", "disk:ssd"}, t4[] = {"zone:b"},
             t5[] = {"zone:c", "disk:ssd"};

static struct consensus_node five[] = {
    {1, "prod", 2, t1, 0}, {2, "prod", 1, t2, 0}, {3, "prod", 2, t3, 0},
    {4, "prod", 1, t4, 0}, {5, "prod", 2, t5, 0},
};

static cairn_bucket_config config(unsigned replicas)
{
    cairn_bucket_config cfg;
    cairn_bucket_config_init(&cfg, "b");
    cfg.num_replicas = replicas;
    return cfg;
}

static void test_three_replicas_spread_over_zones(void **state)
{
    cairn_bucket_config cfg = config(3);
    uint64_t ids[5];
    char err[CAIRN_ERRMSG_SIZE];
    (void)state;
    assert_int_equal(consensus_place(five, 5, &cfg, ids, err), 0);
    /* One per zone: a, b, c — lowest ids first at equal load. */
    assert_int_equal(ids[0], 1);
    assert_int_equal(ids[1], 3);
    assert_int_equal(ids[2], 5);
}

static void test_tags_restrict_and_spread(void **state)
{
    cairn_bucket_config cfg = config(2);
    uint64_t ids[5];
    char err[CAIRN_ERRMSG_SIZE];
    (void)state;
    snprintf(cfg.tags[0], sizeof cfg.tags[0], "disk:ssd");
    cfg.n_tags = 1;
    assert_int_equal(consensus_place(five, 5, &cfg, ids, err), 0);
    assert_int_equal(ids[0], 1);
    assert_int_equal(ids[1], 3);
    cfg.num_replicas = 4;
    assert_int_equal(consensus_place(five, 5, &cfg, ids, err),
                     CAIRN_EPLACEMENT);
    assert_string_equal(err,
                        "placement needs 4 nodes with tags [disk:ssd], 3 match");
}

static void test_fewest_replicas_first(void **state)
{
    struct consensus_node nodes[5];
    cairn_bucket_config cfg = config(1);
    uint64_t ids[5];
    char err[CAIRN_ERRMSG_SIZE];
    (void)state;
    memcpy(nodes, five, sizeof nodes);
    nodes[0].replicas = 4;
    nodes[1].replicas = 1;
    nodes[2].replicas = 3;
    nodes[3].replicas = 0;
    nodes[4].replicas = 2;
    assert_int_equal(consensus_place(nodes, 5, &cfg, ids, err), 0);
    assert_int_equal(ids[0], 4);
    /* With three replicas, zones still come first: b (node 4), then the
     * least loaded of zones a and c: node 2 (zone a, 1 replica). */
    cfg.num_replicas = 3;
    assert_int_equal(consensus_place(nodes, 5, &cfg, ids, err), 0);
    assert_int_equal(ids[0], 4);
    assert_int_equal(ids[1], 2);
    assert_int_equal(ids[2], 5);
}

static void test_cluster_must_match(void **state)
{
    struct consensus_node nodes[5];
    cairn_bucket_config cfg = config(3);
    uint64_t ids[5];
    char err[CAIRN_ERRMSG_SIZE];
    (void)state;
    memcpy(nodes, five, sizeof nodes);
    nodes[1].cluster = "edge";
    nodes[3].cluster = "edge";
    snprintf(cfg.cluster, sizeof cfg.cluster, "edge");
    assert_int_equal(consensus_place(nodes, 5, &cfg, ids, err),
                     CAIRN_EPLACEMENT);
    assert_string_equal(err, "placement needs 3 nodes in cluster 'edge', 2 match");
    cfg.num_replicas = 2;
    assert_int_equal(consensus_place(nodes, 5, &cfg, ids, err), 0);
    assert_int_equal(ids[0], 2);
    assert_int_equal(ids[1], 4);
}

static void test_nodes_without_zone_count_as_their_own(void **state)
{
    static tag_t none[1];
    struct consensus_node nodes[3] = {
        {7, "c", 0, none, 0}, {8, "c", 0, none, 0}, {9, "c", 1, t2, 5},
    };
    cairn_bucket_config cfg = config(3);
    uint64_t ids[3];
    char err[CAIRN_ERRMSG_SIZE];
    (void)state;
    assert_int_equal(consensus_place(nodes, 3, &cfg, ids, err), 0);
    assert_int_equal(ids[0], 7);
    assert_int_equal(ids[1], 8);
    assert_int_equal(ids[2], 9);
    cfg.num_replicas = 6;
    assert_int_equal(consensus_place(nodes, 3, &cfg, ids, err), CAIRN_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_three_replicas_spread_over_zones),
        cmocka_unit_test(test_tags_restrict_and_spread),
        cmocka_unit_test(test_fewest_replicas_first),
        cmocka_unit_test(test_cluster_must_match),
        cmocka_unit_test(test_nodes_without_zone_count_as_their_own),
    };
    return cmocka_run_group_tests_name("consensus_placement", tests, NULL,
                                       NULL);
}
