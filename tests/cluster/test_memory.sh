#!/usr/bin/env bash
# Memory buckets (storage: memory) on three real cairnd nodes, each with its
# own --memory-dir on tmpfs (lib.sh), through the `cairn` CLI, beside a file
# bucket given the same writes:
#  - watches and expiry read the memory bucket where it is;
#  (a) the memory bucket's writes reach no disk: the nodes' write_bytes
#      (/proc/PID/io, bytes sent to the block layer) grow by less than 1 MiB
#      over 300 puts, and by less than a tenth of what the same puts to the
#      file bucket cost; its LMDB environment and Raft log are in the memory
#      directory, not in the data directory;
#  (b) the bucket leader is killed and its memory directory wiped (its
#      machine restarted): every key stays readable through the cluster, the
#      restarted replica starts empty and is caught up (stale reads on it
#      alone return the latest value of every key, those written while it
#      was down included), and writes go on;
#  (b2) another replica that lost only its memory Raft log drops what is left
#      and is caught up from nothing too;
#  (c) all three nodes are killed and started again: tmpfs kept their memory
#      directories, so the bucket resumes with all its data;
#  (d) all three stop and every memory directory is wiped (every machine
#      restarted): the bucket still exists, empty and writable, and the file
#      bucket kept its data.
# Usage: test_memory.sh PATH/TO/cairnd PATH/TO/cairn PATH/TO/cairn-test-client
cairnd=$1
cairn=$2
client=$3
# The sweeper looks every 200 ms, so expiry lands soon after the ttl.
node_flags=(--expire-interval-ms 200)
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/cli_lib.sh"

# Exit code 77 is this test's SKIP_RETURN_CODE.
if [ "$(stat -f -c %T "$memwork")" != tmpfs ]; then
    echo "SKIP: $memwork is not on tmpfs (no /dev/shm): memory directories would be on disk"
    exit 77
fi

# written ID...: the bytes nodes ID... have caused to be written to disk.
written() {
    local id sum=0 b
    for id in "$@"; do
        b=$(awk '$1 == "write_bytes:" { print $2 }' "/proc/${pids[$id]}/io")
        sum=$((sum + b))
    done
    echo "$sum"
}

# writer BUCKET PREFIX N: put PREFIX000000=v0 ... through the cluster, one
# request at a time; the keys acknowledged go to $work/BUCKET.PREFIX.acks.
writer() {
    local got
    got=$("$client" --addr "$all" writer "$1" "$2" "$3" "$work/$1.$2.acks") ||
        fail "writer $1 $2 $3: $got"
    [ "$got" = "acked $3" ] || fail "writer $1 $2 $3: $got"
}

# verify BUCKET PREFIX: every acknowledged key of that writer reads back
# (linearizable reads through the cluster).
verify() {
    local got n
    n=$(wc -l <"$work/$1.$2.acks")
    got=$("$client" --addr "$all" --follow verify "$1" "$work/$1.$2.acks") ||
        fail "verify $1 $2: $got"
    [ "$got" = "ok $n" ] || fail "verify $1 $2: $got"
}

# stale_scan ID BUCKET: "KEY VALUE" lines of node ID's own replica.
stale_scan() { "$client" --addr "$(caddr "$1")" --stale scan "$2"; }

# holds_all ID: node ID's replica of m holds exactly $work/m.want.
holds_all() { [ "$(stale_scan "$1" m)" = "$(cat "$work/m.want")" ]; }

# purged_on ID: node ID's replica applied the expire of m's key short (its
# history is the PURGE marker expiry leaves).
purged_on() { "$client" --addr "$(caddr "$1")" --stale history m short | grep -q '^[0-9]* purge$'; }

# leader_of BUCKET: the node leading BUCKET, from the cluster status.
leader_of() {
    "$cairn" --servers "$all" --json cluster status |
        jq -er --arg b "$1" '.buckets[] | select(.name == $b) | .replicas[] | select(.leader) | .node'
}

# mark ID: remember where node ID's log ends, before a restart.
declare -A marks=()
mark() { marks[$1]=$(wc -l <"$work/n$1.log"); }
# since_mark ID: node ID's log lines since its mark.
since_mark() { tail -n "+$((marks[$1] + 1))" "$work/n$1.log"; }
# m_start ID: node ID's "replica started" line for m since its mark.
m_start() { since_mark "$1" | grep 'group=m .*msg="replica started"' || true; }
# m_started ID FRESH: node ID started m since its mark, with fresh=FRESH.
m_started() { m_start "$1" | grep -q "fresh=$2"; }

echo "1. three nodes; memory bucket m and file bucket f, 3 replicas each"
start_three
run 0 bucket add m --replicas 3 --storage memory
run 0 bucket add f --replicas 3
run 0 --json bucket info m
json '.config.storage == "memory" and (.replicas | length) == 3'
run 0 --json bucket info f
json '.config.storage == "file"'
# Leaders elected, connections up, environments touched once.
run 0 put m warm 1
run 0 put f warm 1
for id in 1 2 3; do
    data=$(realpath "$work/n$id")
    mem=$(memdir "$id")
    grep -qx "data-dir $data" "$mem/IDENTITY" ||
        fail "node $id: $mem/IDENTITY does not name $data: $(cat "$mem/IDENTITY")"
    [ -s "$mem/storage/data.mdb" ] || fail "node $id: no memory environment in $mem/storage"
    # m's group is the only one under the memory directory; f's and the
    # meta group's are in the data directory.
    mem_groups=$(ls "$mem/raft" 2>/dev/null || true)
    [ "$(wc -w <<<"$mem_groups")" = 1 ] || fail "node $id: $mem/raft holds: $mem_groups"
    [ -e "$mem/raft/$mem_groups/metadata1" ] || fail "node $id: no Raft log in $mem/raft/$mem_groups"
    [ ! -e "$work/n$id/raft/$mem_groups" ] || fail "node $id: m's log is in the data directory too"
    [ "$(ls "$work/n$id/raft" | wc -l)" = 2 ] ||
        fail "node $id: $work/n$id/raft holds: $(ls "$work/n$id/raft")"
done

# Watches and the TTL sweeper find the bucket in the memory environment.
run 0 put m short x --ttl 300ms
got=$(timeout 20 "$cairn" --servers "$(caddr 1)" watch m --from 1 --count 2) ||
    fail "watch m on node 1: $got"
has "$got" 'PUT m > warm: 1' "watch m"
has "$got" 'PUT m > short: x' "watch m"
for id in 1 2 3; do
    eventually 20 purged_on "$id" || fail "node $id: short was not expired: $(cli "$id" --stale history m short 2>&1)"
done

echo "2. (a) 300 puts to m write (almost) nothing to disk; the same to f does"
before=$(written 1 2 3)
writer m k 300
m_bytes=$(($(written 1 2 3) - before))
before=$(written 1 2 3)
writer f k 300
f_bytes=$(($(written 1 2 3) - before))
echo "   write_bytes over the 3 nodes: m (memory) $m_bytes, f (file) $f_bytes"
[ "$m_bytes" -lt $((1 << 20)) ] || fail "300 puts to memory bucket m wrote $m_bytes bytes to disk"
[ "$m_bytes" -lt $((f_bytes / 10)) ] ||
    fail "memory bucket m wrote $m_bytes bytes, not under a tenth of file bucket f's $f_bytes"
verify m k
verify f k

echo "3. (b) m's leader is killed and loses its memory directory"
victim=$(leader_of m) || fail "no leader for m: $(cat "$work/err")"
echo "   m's leader: node $victim"
stop "$victim" KILL || true
rm -rf "$(memdir "$victim")"
mark "$victim"
# Written while it is down: new keys, and a new value for an old one.
writer m late 50
run 0 put m warm 2
verify m late
start "$victim"
eventually 30 m_started "$victim" yes ||
    fail "node $victim did not start m empty: $(m_start "$victim")"
since_mark "$victim" | grep -q 'msg="started".*fresh=no' ||
    fail "node $victim did not resume its data directory"
since_mark "$victim" | grep -q 'group=m .*msg="memory replica lost' &&
    fail "node $victim found a part of m's state that was wiped"
[ -e "$(memdir "$victim")/IDENTITY" ] || fail "node $victim did not recreate its memory directory"
# What every replica must hold: "KEY VALUE" in key order.
{
    echo "warm 2"
    for i in $(seq 0 299); do printf 'k%06d v%d\n' "$i" "$i"; done
    for i in $(seq 0 49); do printf 'late%06d v%d\n' "$i" "$i"; done
} | LC_ALL=C sort >"$work/m.want"
verify m k
verify m late
run 0 get m warm
[ "$out" = 2 ] || fail "get m warm: '$out', want 2"
eventually 60 holds_all "$victim" ||
    fail "node $victim's replica of m was not caught up: $(diff <(stale_scan "$victim" m) "$work/m.want" | head -n 5)"
# The CLI's stale read on that node alone agrees.
for key in warm k000000 k000299 late000049; do
    got=$(on "$victim" get m "$key" --stale) || fail "stale get m $key on node $victim"
    want=$(awk -v k="$key" '$1 == k { print $2 }' "$work/m.want")
    [ "$got" = "$want" ] || fail "stale get m $key on node $victim: '$got', want '$want'"
done
run 0 put m after-b yes
echo "after-b yes" >>"$work/m.want"
LC_ALL=C sort -o "$work/m.want" "$work/m.want"
run 0 get m after-b
[ "$out" = yes ] || fail "get m after-b: '$out'"

echo "4. (b2) another replica of m loses only its Raft log: it starts m empty and catches up"
follower=$((victim % 3 + 1)) # leader or not
stop "$follower" KILL || true
rm -rf "$(memdir "$follower")/raft"
run 0 put m down-b2 1
echo "down-b2 1" >>"$work/m.want"
LC_ALL=C sort -o "$work/m.want" "$work/m.want"
mark "$follower"
start "$follower"
eventually 30 m_started "$follower" yes ||
    fail "node $follower did not start m empty: $(m_start "$follower")"
since_mark "$follower" | grep -q 'group=m .*msg="memory replica lost its Raft log' ||
    fail "node $follower did not say why it dropped m's data"
eventually 60 holds_all "$follower" ||
    fail "node $follower's replica of m was not caught up: $(diff <(stale_scan "$follower" m) "$work/m.want" | head -n 5)"

echo "5. (c) SIGKILL all three and start them again: tmpfs kept m"
for id in 1 2 3; do stop "$id" KILL || true; done
for id in 1 2 3; do mark "$id"; start "$id"; done
eventually 30 all_up || fail "the cluster did not come back"
verify m k
verify m late
for id in 1 2 3; do
    eventually 30 holds_all "$id" ||
        fail "node $id's replica of m after the restart: $(diff <(stale_scan "$id" m) "$work/m.want" | head -n 5)"
    m_started "$id" no || fail "node $id did not resume m: $(m_start "$id")"
done

echo "6. (d) stop all three, wipe every memory directory, start again"
stop_all
for id in 1 2 3; do rm -rf "$(memdir "$id")"; done
for id in 1 2 3; do mark "$id"; start "$id"; done
eventually 30 all_up || fail "the cluster did not come back"
for id in 1 2 3; do
    eventually 30 m_started "$id" yes || fail "node $id did not start m empty: $(m_start "$id")"
done
empty_m() {
    "$cairn" --servers "$all" --json bucket info m |
        jq -e '.config.storage == "memory" and .keys == 0 and .revision == 0'
}
eventually 30 empty_m || fail "bucket info m after every memory dir was lost: $("$cairn" --servers "$all" --json bucket info m 2>&1)"
run 1 get m k000005
run 0 keys m
[ -z "$out" ] || fail "keys m after the wipe: $out"
run 0 put m reborn 1
run 0 get m reborn
[ "$out" = 1 ] || fail "get m reborn: '$out'"
verify f k
run 0 get f warm
[ "$out" = 1 ] || fail "get f warm: '$out'"

stop_all
echo "1 passed, 0 failed"
