#!/usr/bin/env bash
# Bucket status through `cairn bucket info`, on three real cairnd nodes:
#  - every field a bucket was created with comes back (description,
#    history, ttl, max_bytes, max_value_size, storage, compression,
#    placement tags, metadata, replicas), with the created time, the
#    number of values, the logical and stored bytes and the last revision
#    of what was written;
#  - the leader answers, whichever node is asked, and reports each
#    replica's lag: a follower that stops (SIGSTOP) falls behind by the
#    writes made meanwhile and is marked unreachable; once it runs again
#    its lag returns to 0;
#  - with --json the same, machine-readable;
#  - max_value_size and max_bytes refuse with the limit named, and every
#    replica holds the same keys and bytes afterwards;
#  - a compressed bucket and an uncompressed one given the same writes
#    return identical values on every replica, count the same logical
#    bytes, and the compressed one stores fewer.
# Usage: test_status.sh PATH/TO/cairnd PATH/TO/cairn PATH/TO/cairn-test-client
cairnd=$1
cairn=$2
client=$3
node_flags=(--tag disk:ssd)
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/cli_lib.sh"

echo "1. three nodes; bucket s with every option set"
start_three
run 0 bucket add s --replicas 3 --history 4 --ttl 1h --max-bytes 10MiB \
    --max-value-size 4096 --compression --description "feature flags" \
    --tag disk:ssd --metadata owner=ops --metadata tier=gold
before=$(date +%s)
for i in 1 2 3 4 5; do run 0 put s "k$i" "value-$i"; done
run 0 put s k1 again
run 0 del s k5
run 0 --json bucket info s
json '.name == "s" and .config.description == "feature flags"'
json '.config.history == 4 and .config.ttl_ns == 3600000000000'
json '.config.max_bytes == 10485760 and .config.max_value_size == 4096'
json '.config.storage == "file" and .config.compression == true'
json '.config.tags == ["disk:ssd"] and .config.metadata == {"owner": "ops", "tier": "gold"}'
json '.config.replicas == 3 and (.replicas | length) == 3'
# k1..k4 live (k5 deleted); 7 revisions; history 4 keeps them all.
json '.keys == 4 and .revision == 7'
# bytes: every kept revision's key and value (the DEL marker: its key).
want_bytes=$(( (2 + 7) * 5 + 2 + 5 + 2 ))
json ".bytes == $want_bytes and .stored_bytes > 0"
json '[.replicas[] | select(.leader)] | length == 1'
# Followers acknowledge the last writes within a heartbeat or two.
all_current() {
    "$cairn" --servers "$all" --json bucket info s |
        jq -e '[.replicas[] | select(.lag == 0 and .active)] | length == 3'
}
eventually 20 all_current || fail "replicas never all current: $(cat "$work/out")"
created=$(jq -r .created <<<"$out")
[ "$(date -d "$created" +%s)" -le "$before" ] ||
    fail "created $created is after the bucket was created ($before)"
run 0 bucket info s
has "$out" '^description: *feature flags$' "bucket info"
has "$out" '^metadata: *owner=ops$' "bucket info"
has "$out" '^keys: *4$' "bucket info"
has "$out" '^stored_bytes: ' "bucket info"
has "$out" '^replica: *node [0-9] leader applied [0-9]* lag 0$' "bucket info"

echo "2. any node answers with the leader's view"
for id in 1 2 3; do
    rev=$(on "$id" --json bucket info s | jq .revision)
    [ "$rev" = 7 ] || fail "bucket info through node $id: revision $rev, want 7"
done

echo "3. a stopped follower falls behind and is marked unreachable"
leader=$("$cairn" --servers "$all" --json bucket info s |
    jq -r '.replicas[] | select(.leader) | .node')
follower=$((leader % 3 + 1))
kill -STOP "${pids[$follower]}"
for i in 1 2 3 4 5 6 7 8; do run 0 put s "k$i" "w$i"; done
behind() {
    "$cairn" --servers "$all" --json bucket info s |
        jq -e --argjson f "$follower" \
            '.replicas[] | select(.node == $f) | .lag >= 8 and (.active | not)'
}
eventually 20 behind || {
    kill -CONT "${pids[$follower]}"
    fail "node $follower never shown behind: $("$cairn" --servers "$all" --json bucket info s)"
}
run 0 bucket info s
has "$out" "^replica: *node $follower follower applied [0-9]* lag [0-9]* unreachable$" "bucket info"
kill -CONT "${pids[$follower]}"
eventually 20 all_current || fail "node $follower never caught up: $(cat "$work/out")"

echo "4. max_value_size and max_bytes: the same refusal, the same state on every replica"
run 0 bucket add lim --replicas 3 --max-bytes 300 --max-value-size 100
run 4 put lim big "$(head -c 101 /dev/zero | tr '\0' x)"
has "$err" "value of 101 bytes is larger than bucket 'lim' allows (max_value_size 100)" "put lim/big"
for i in 1 2 3; do run 0 put lim "k$i" "$(head -c 90 /dev/zero | tr '\0' y)"; done
run 4 put lim k4 "$(head -c 90 /dev/zero | tr '\0' y)"
has "$err" "bucket 'lim' is full (max_bytes 300)" "put lim/k4"
# Every replica applied the same writes and refused the same ones.
same_everywhere() {
    local id
    for id in 1 2 3; do
        [ "$(cli "$id" bucket-info lim | cut -d' ' -f1-3)" = "keys=3 bytes=276 rev=3" ] || return 1
    done
}
eventually 20 same_everywhere ||
    fail "replicas differ: $(for id in 1 2 3; do cli "$id" bucket-info lim; done)"

echo "5. compressed and uncompressed buckets return identical values"
run 0 bucket add zc --replicas 3 --compression --history 2
run 0 bucket add zu --replicas 3 --history 2
# A compressible JSON-ish value, random bytes, and a small value.
for i in $(seq 1 300); do printf '{"user":"u%d","theme":"dark"},' "$i"; done >"$work/json"
head -c 4000 /dev/urandom | base64 -w 0 >"$work/random"
for b in zc zu; do
    run 0 put "$b" json <"$work/json"
    run 0 put "$b" random <"$work/random"
    run 0 put "$b" small tiny
    run 0 put "$b" json <"$work/json"
done
for k in json random small; do
    for id in 1 2 3; do
        a=$(on "$id" get zc "$k" --stale | sha256sum)
        b=$(on "$id" get zu "$k" --stale | sha256sum)
        [ "$a" = "$b" ] || fail "zc/$k and zu/$k differ on node $id"
    done
done
[ "$(on 1 get zc json --stale)" = "$(cat "$work/json")" ] || fail "zc/json is not what was written"
run 0 history zc json
[ "$(grep -c PUT <<<"$out")" -eq 2 ] || fail "zc/json history: $out"
run 0 --json bucket info zc
json ".bytes > 0 and .stored_bytes < .bytes"
zc_bytes=$(jq .bytes <<<"$out")
run 0 --json bucket info zu
json ".bytes == $zc_bytes and .stored_bytes == .bytes"

echo "6. every node stops cleanly"
stop_all
echo "OK"
