#!/usr/bin/env bash
# Bucket features against three real cairnd nodes, through the `cairn` CLI:
#  - TTL: keys written with --ttl, --expires-at, a bucket ttl, or a ttl in a
#    bulk file disappear from stale reads on every replica, and the bucket
#    leader's expire command reaches every replica (history shows the PURGE
#    marker it leaves, bucket info stops counting the key); a key overwritten
#    without a ttl stays; an older value never comes back when a newer one
#    expires.
#  - Bulk: put-bulk of exactly 10000 pairs writes them all in one txn; 10001
#    are refused by the CLI (exit 4) and by the node itself (413), both
#    naming the limit.
# Usage: test_ttl_bulk.sh PATH/TO/cairnd PATH/TO/cairn PATH/TO/cairn-test-client
cairnd=$1
cairn=$2
client=$3
# The sweeper looks every 200 ms, so expiry lands soon after the ttl.
node_flags=(--expire-interval-ms 200)
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/cli_lib.sh"


# gone_on ID BUCKET KEY: a stale read on node ID finds no KEY (exit 1).
gone_on() {
    local rc=0
    on "$1" get "$2" "$3" --stale >/dev/null 2>&1 || rc=$?
    [ $rc -eq 1 ]
}

# purged_on ID BUCKET KEY: node ID's own replica holds only the PURGE
# marker expiry left for KEY: the expire command was applied there.
purged_on() {
    local h
    h=$(cli "$1" --stale history "$2" "$3") || return 1
    [ "$(wc -l <<<"$h")" -eq 1 ] && grep -q '^[0-9]* purge$' <<<"$h"
}

# keys_on ID BUCKET: the keys node ID's replica counts (bucket info).
keys_on() { cli "$1" bucket-info "$2" | sed -n 's/^keys=\([0-9]*\) .*/\1/p'; }

echo "1. three nodes; buckets t (history 5) and bt (ttl 2s), 3 replicas each"
start_three
run 0 bucket add t --replicas 3 --history 5
run 0 bucket add bt --replicas 3 --history 3 --ttl 2s

echo "2. writes that expire in about 2 s, and ones that must not"
run 0 put t k1 v1 --ttl 2s
run 0 put t k2 old --ttl 2s
run 0 put t k2 new                       # overwritten without a ttl
run 0 put t k3 v1
run 0 put t k3 v2 --ttl 2s               # the newer value expires
k3_v1_rev=$(on 1 --json history t k3 | jq '.history[0].revision')
run 0 put t k4 v --expires-at $(($(date +%s) + 3))
run 0 put bt a x                         # the bucket's ttl
printf '[{"key":"b1","value":"short","ttl":"2s"},{"key":"b2","value":"long"}]' >"$work/small.json"
run 0 --json put-bulk t "$work/small.json"
jq -e '.count == 2 and .last_revision == .first_revision + 1' <<<"$out" >/dev/null ||
    fail "put-bulk --json: $out"
for k in k1 k2 k3 k4 b1 b2; do
    run 0 get t "$k"
done
run 0 get bt a
run 0 get t k2
[ "$out" = new ] || fail "get t k2: $out"
run 0 --json get t k1
jq -e '.expires != null' <<<"$out" >/dev/null || fail "k1 has no expiry: $out"
run 0 --json get t b1
jq -e '.expires != null' <<<"$out" >/dev/null || fail "bulk b1 has no expiry: $out"

echo "3. after expiry: gone from stale reads and applied on every replica"
for id in 1 2 3; do
    for k in k1 k3 k4 b1; do
        eventually 15 gone_on "$id" t "$k" || fail "t/$k still readable on node $id"
    done
    eventually 15 gone_on "$id" bt a || fail "bt/a still readable on node $id"
    for k in k1 k3 k4 b1; do
        eventually 15 purged_on "$id" t "$k" ||
            fail "node $id: history of t/$k: $(cli "$id" --stale history t "$k" 2>&1)"
    done
    eventually 15 sh -c "[ \"\$('$client' --addr $(caddr "$id") bucket-info bt |
        sed -n 's/^keys=\([0-9]*\) .*/\1/p')\" = 0 ]" ||
        fail "node $id still counts bt/a: $(keys_on "$id" bt)"
done
# A key overwritten without a ttl stays, as does the bulk pair without one.
run 0 get t k2
[ "$out" = new ] || fail "t/k2 after expiry: $out"
run 0 get t b2
[ "$out" = long ] || fail "t/b2 after expiry: $out"
# The older value does not come back: not by get, not by revision, not in
# history.
run 1 get t k3
run 1 get t k3 --revision "$k3_v1_rev"
run 0 history t k3
has "$out" $'\tPURGE\t' "history t k3"
grep -q 'v1' <<<"$out" && fail "history t k3 shows the old value: $out"
# Expired keys are not counted any more: the expire reached every replica.
for id in 1 2 3; do
    eventually 10 sh -c "[ \"\$('$client' --addr $(caddr "$id") bucket-info t |
        sed -n 's/^keys=\([0-9]*\) .*/\1/p')\" = 2 ]" ||
        fail "node $id counts $(keys_on "$id" t) keys in t, want 2"
done

echo "4. put-bulk of exactly 10000 pairs, then 10001"
awk 'BEGIN { for (i = 0; i < 10000; i++) printf "{\"key\":\"bulk%05d\",\"value\":\"v%d\"}\n", i, i }' \
    >"$work/10000.jsonl"
run 0 bucket add bulk --replicas 3
run 0 put-bulk bulk "$work/10000.jsonl"
has "$out" '^10000 keys written at revisions 1\.\.10000$' "put-bulk 10000"
run 0 keys bulk
[ "$(wc -l <<<"$out")" -eq 10000 ] || fail "keys bulk: $(wc -l <<<"$out") keys"
run 0 get bulk bulk09999
[ "$out" = v9999 ] || fail "get bulk09999: $out"
for id in 1 2 3; do
    eventually 15 sh -c "[ \"\$('$client' --addr $(caddr "$id") bucket-info bulk |
        sed -n 's/^keys=\([0-9]*\) .*/\1/p')\" = 10000 ]" ||
        fail "node $id counts $(keys_on "$id" bulk) keys in bulk"
done
echo '{"key":"bulk10000","value":"one too many"}' >>"$work/10000.jsonl"
run 4 put-bulk bulk "$work/10000.jsonl"
has "$err" '10000' "put-bulk 10001"
run 1 get bulk bulk10000
# The node refuses a raw txn of 10001 writes too: 413, naming the limit.
# {"id": 2, "op": "txn", "bucket": "bulk", "ops": [nil x 10001]}
body="84a2696402a26f70a374786ea66275636b6574a462756c6ba36f7073dc2711"
body="$body$(printf 'c0%.0s' $(seq 10001))"
frame="$(printf '%08x' $((${#body} / 2)))$body"
out=$(cli 1 raw-hex "$frame" 2>&1) || true
has "$out" '^status=413 code=too_large id=2$' "raw txn of 10001 writes"
has "$out" '^message=.*10000' "raw txn of 10001 writes"
[ "$(keys_on 1 bulk)" = 10000 ] || fail "bulk keys after the refusals: $(keys_on 1 bulk)"

echo "5. every node stops cleanly"
stop_all
echo "OK"
