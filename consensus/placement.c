/* Placement: which nodes hold a new bucket's replicas (ARCHITECTURE.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consensus.h"

static bool has_tag(const struct consensus_node *n, const char *tag)
{
    for (uint32_t i = 0; i < n->n_tags; i++) {
        if (strcmp(n->tags[i], tag) == 0) {
            return true;
        }
    }
    return false;
}

static bool qualifies(const struct consensus_node *n,
                      const cairn_bucket_config *cfg)
{
    if (cfg->cluster[0] != '\0' &&
        (n->cluster == NULL || strcmp(n->cluster, cfg->cluster) != 0)) {
        return false;
    }
    for (uint32_t i = 0; i < cfg->n_tags; i++) {
        if (!has_tag(n, cfg->tags[i])) {
            return false;
        }
    }
    return true;
}

/* The node's zone ("zone:<value>" tag), or NULL. */
static const char *zone_of(const struct consensus_node *n)
{
    for (uint32_t i = 0; i < n->n_tags; i++) {
        if (strncmp(n->tags[i], "zone:", 5) == 0) {
            return n->tags[i] + 5;
        }
    }
    return NULL;
}

/* How many already chosen nodes share @n's zone. */
static unsigned zone_uses(const struct consensus_node *n,
                          const struct consensus_node *const *chosen,
                          unsigned n_chosen)
{
    const char *z = zone_of(n);
    unsigned uses = 0;
    if (z == NULL) {
        return 0;
    }
    for (unsigned i = 0; i < n_chosen; i++) {
        const char *cz = zone_of(chosen[i]);
        if (cz != NULL && strcmp(cz, z) == 0) {
            uses++;
        }
    }
    return uses;
}

/* Describe the requirement for an error message: "tags [a:b, c:d] in
 * cluster 'x'" (parts omitted when empty). */
static void describe(const cairn_bucket_config *cfg, char *buf, size_t size)
{
    size_t off = 0;
    buf[0] = '\0';
    if (cfg->n_tags > 0) {
        off += (size_t)snprintf(buf + off, size - off, " with tags [");
        for (uint32_t i = 0; i < cfg->n_tags && off < size; i++) {
            off += (size_t)snprintf(buf + off, size - off, "%s%s",
                                    i > 0 ? ", " : "", cfg->tags[i]);
        }
        if (off < size) {
            off += (size_t)snprintf(buf + off, size - off, "]");
        }
    }
    if (cfg->cluster[0] != '\0' && off < size) {
        snprintf(buf + off, size - off, " in cluster '%s'", cfg->cluster);
    }
}

int consensus_place(const struct consensus_node *nodes, size_t n,
                    const cairn_bucket_config *cfg, uint64_t *out,
                    char *errmsg)
{
    const struct consensus_node *chosen[CAIRN_REPLICAS_MAX];
    unsigned want = cfg->num_replicas, n_chosen = 0;
    size_t matching = 0;
    char what[160];

    if (want < 1 || want > CAIRN_REPLICAS_MAX) {
        if (errmsg != NULL) {
            snprintf(errmsg, CAIRN_ERRMSG_SIZE,
                     "num_replicas %u is out of range 1..%d", want,
                     CAIRN_REPLICAS_MAX);
        }
        return CAIRN_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        matching += qualifies(&nodes[i], cfg);
    }
    if (matching < want) {
        describe(cfg, what, sizeof what);
        if (errmsg != NULL) {
            snprintf(errmsg, CAIRN_ERRMSG_SIZE,
                     "placement needs %u node%s%.160s, %zu match", want,
                     want == 1 ? "" : "s", what, matching);
        }
        return CAIRN_EPLACEMENT;
    }
    while (n_chosen < want) {
        const struct consensus_node *best = NULL;
        unsigned best_uses = 0;
        for (size_t i = 0; i < n; i++) {
            const struct consensus_node *c = &nodes[i];
            unsigned uses;
            bool taken = false;
            if (!qualifies(c, cfg)) {
                continue;
            }
            for (unsigned j = 0; j < n_chosen; j++) {
                taken = taken || chosen[j]->id == c->id;
            }
            if (taken) {
                continue;
            }
            uses = zone_uses(c, chosen, n_chosen);
            if (best == NULL || uses < best_uses ||
                (uses == best_uses &&
                 (c->replicas < best->replicas ||
                  (c->replicas == best->replicas && c->id < best->id)))) {
                best = c;
                best_uses = uses;
            }
        }
        chosen[n_chosen] = best;
        out[n_chosen++] = best->id;
    }
    return 0;
}
