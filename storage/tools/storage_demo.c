/*
 * cairn-storage-demo: walks through the storage engine on a real data
 * directory — bucket create, put, get, update with a stale revision, cas,
 * delete, history, a paged scan, TTL expiry, snapshot and restore — and
 * prints what each step returned. Usage: cairn-storage-demo [DATA_DIR]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "storage.h"

#define SEC 1000000000ULL

static storage *s;
static char err[CAIRN_ERRMSG_SIZE];
static uint64_t now_ns = 1700000000ULL * SEC; /* the demo's own clock */

static void die(const char *what, int rc)
{
    fprintf(stderr, "%s: %s (%s)\n", what, err, cairn_strerror(rc));
    storage_close(s);
    exit(1);
}

static struct storage_result apply(struct storage_cmd *cmd, const char *what)
{
    struct storage_result r;
    int rc;
    cmd->time = now_ns;
    rc = storage_apply(s, "config", cmd, 0, &r, err);
    if (rc != 0) {
        die(what, rc);
    }
    if (r.code == CAIRN_OK) {
        printf("%-34s -> ok, revision %llu\n", what,
               (unsigned long long)r.revision);
    } else {
        printf("%-34s -> %s: %s\n", what, cairn_errname(r.code), r.errmsg);
    }
    return r;
}

static void put(const char *key, const char *value, int64_t ttl_s)
{
    char what[128];
    struct storage_cmd cmd = {.type = STORAGE_CMD_PUT};
    cmd.w.key = key;
    cmd.w.key_len = strlen(key);
    cmd.w.value = value;
    cmd.w.value_len = strlen(value);
    cmd.w.ttl_ns = ttl_s * (int64_t)SEC;
    snprintf(what, sizeof what, "put %s = %s%s", key, value,
             ttl_s ? " (ttl)" : "");
    apply(&cmd, what);
}

static void get(const char *key)
{
    storage_txn *t;
    struct storage_entry e;
    int rc;
    if ((rc = storage_read_begin(s, &t, err)) != 0) {
        die("read", rc);
    }
    rc = storage_get(t, "config", key, strlen(key), 0, now_ns, &e, err);
    if (rc == 0) {
        printf("%-34s -> %.*s (revision %llu)\n", key, (int)e.value_len,
               (const char *)e.value, (unsigned long long)e.revision);
    } else {
        printf("get %-30s -> %s: %s\n", key, cairn_errname(rc), err);
    }
    storage_txn_end(t);
}

static int print_entry(void *arg, const struct storage_entry *e)
{
    static const char *ops[] = {"?", "PUT", "DEL", "PURGE"};
    (void)arg;
    printf("    rev %-3llu %-5s %.*s%s%.*s\n", (unsigned long long)e->revision,
           ops[e->op], (int)e->key_len, (const char *)e->key,
           e->value_len ? " = " : "", (int)e->value_len,
           e->value ? (const char *)e->value : "");
    return 0;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "./data/storage-demo";
    cairn_bucket_config cfg;
    struct storage_cmd cmd;
    struct storage_scan sc = {0};
    struct storage_page page;
    storage_txn *t;
    void *snap;
    size_t snap_len;
    int rc;

    if ((rc = storage_open(dir, NULL, &s, err)) != 0) {
        die("open", rc);
    }
    printf("data directory: %s\n\n", dir);
    storage_bucket_delete(s, "config", err); /* start afresh on reruns */
    cairn_bucket_config_init(&cfg, "config");
    cfg.history = 5;
    snprintf(cfg.description, sizeof cfg.description, "service config");
    if ((rc = storage_bucket_create(s, &cfg, now_ns, err)) != 0) {
        die("bucket create", rc);
    }
    printf("bucket 'config' created (history 5)\n");

    put("db.url", "postgres://a", 0);
    put("db.pool", "16", 0);
    put("feature.dark-mode", "off", 0);
    put("session.42", "alice", 30);
    get("db.url");

    memset(&cmd, 0, sizeof cmd);
    cmd.type = STORAGE_CMD_UPDATE;
    cmd.w.key = "db.url";
    cmd.w.key_len = 6;
    cmd.w.value = "postgres://b";
    cmd.w.value_len = 12;
    cmd.revision = 1;
    apply(&cmd, "update db.url at revision 1");
    apply(&cmd, "update db.url at revision 1 again");

    memset(&cmd, 0, sizeof cmd);
    cmd.type = STORAGE_CMD_CAS;
    cmd.w.key = "feature.dark-mode";
    cmd.w.key_len = 17;
    cmd.w.value = "on";
    cmd.w.value_len = 2;
    cmd.has_old = true;
    cmd.old = "off";
    cmd.old_len = 3;
    apply(&cmd, "cas feature.dark-mode off -> on");

    memset(&cmd, 0, sizeof cmd);
    cmd.type = STORAGE_CMD_DELETE;
    cmd.w.key = "db.pool";
    cmd.w.key_len = 7;
    apply(&cmd, "delete db.pool");

    printf("history of db.url:\n");
    storage_read_begin(s, &t, err);
    storage_history(t, "config", "db.url", 6, now_ns, print_entry, NULL, err);
    printf("scan, 2 keys a page:\n");
    sc.limit = 2;
    sc.now = now_ns;
    do {
        static uint8_t cursor[STORAGE_CURSOR_MAX];
        if ((rc = storage_scan(t, "config", &sc, print_entry, NULL, &page,
                               err)) != 0) {
            die("scan", rc);
        }
        printf("  -- page of %u%s\n", page.count, page.more ? ", more" : "");
        memcpy(cursor, page.cursor, page.cursor_len);
        sc.cursor = cursor;
        sc.cursor_len = page.cursor_len;
    } while (page.more);
    storage_txn_end(t);

    now_ns += 31 * SEC;
    printf("31 s later:\n");
    get("session.42");
    memset(&cmd, 0, sizeof cmd);
    cmd.type = STORAGE_CMD_EXPIRE;
    apply(&cmd, "expire");

    if ((rc = storage_snapshot(s, "config", &snap, &snap_len, err)) != 0) {
        die("snapshot", rc);
    }
    printf("snapshot: %zu bytes\n", snap_len);
    ((uint8_t *)snap)[snap_len / 2] ^= 0x10;
    rc = storage_restore(s, "config", snap, snap_len, err);
    printf("restore of a corrupted copy       -> %s: %s\n", cairn_errname(rc),
           err);
    ((uint8_t *)snap)[snap_len / 2] ^= 0x10;
    rc = storage_restore(s, "config", snap, snap_len, err);
    printf("restore of the snapshot           -> %s\n", cairn_errname(rc));
    free(snap);
    get("feature.dark-mode");
    storage_close(s);
    return 0;
}
