#!/usr/bin/env bash
# Three cairnd nodes, a bucket with num_replicas 3: bucket create through
# the meta group (409 when it exists, 503 when placement is impossible);
# writes through the leader readable from every replica (stale reads) and
# linearizably from the leader; 421 from followers; malformed frames
# refused while the node keeps serving; kill -9 of the bucket leader under
# a stream of writes loses no acknowledged write; a wiped follower catches
# up by snapshot; bucket delete removes the replicas' data.
# Usage: test_replication.sh PATH/TO/cairnd PATH/TO/cairn-test-client
cairnd=$1
client=$2
# A low snapshot threshold so that a wiped follower needs a snapshot.
node_flags=(--snapshot-threshold 64 --snapshot-trailing 16)
. "$(dirname "$0")/lib.sh"

initial=$(initial_of 1 2 3)
echo "1. three nodes start and register in the catalog"
for id in 1 2 3; do start "$id" --initial-cluster "$initial"; done
for id in 1 2 3; do wait_registered "$id" 3; done
cli 1 status | grep -q "^node 2 name=node2 client=$(caddr 2) peer=$(peer 2)" ||
    fail "status lacks node 2: $(cli 1 status)"

echo "2. bucket create through any node; again: 409; impossible placement: 503"
cli 2 --follow bucket-create b3 replicas=3 | grep -q '^created ' || fail "bucket-create b3"
rc=0
out=$(cli 2 --follow bucket-create b3 replicas=3 2>&1) || rc=$?
[ $rc -eq 1 ] || fail "second create exited $rc: $out"
echo "$out" | grep -q 'status=409 code=bucket_exists' || fail "second create said: $out"
rc=0
out=$(cli 1 --follow bucket-create ssd replicas=3 tags=disk:ssd 2>&1) || rc=$?
[ $rc -eq 1 ] || fail "impossible placement exited $rc: $out"
echo "$out" | grep -q 'status=503 code=placement' || fail "placement said: $out"
echo "$out" | grep -q 'placement needs 3 nodes with tags \[disk:ssd\], 0 match' ||
    fail "placement message: $out"
for id in 1 2 3; do
    cli "$id" --follow bucket-list | grep -qx b3 || fail "node $id does not list b3"
    replicas_of "$id" b3 | grep -q . || fail "node $id catalog lacks b3"
done

echo "3. the bucket's group elects a leader on its replicas"
leader=$(cli 1 --deadline-ms 20000 wait-leader b3) || fail "no leader for b3"
echo "   leader of b3: node $leader"
[ "$(replicas_of 1 b3 | wc -w)" = 3 ] || fail "b3 replicas: $(replicas_of 1 b3)"

echo "4. writes through the leader; linearizable and stale reads"
for i in $(seq 1 20); do
    cli 1 --follow put b3 "k$i" "value-$i" >/dev/null || fail "put k$i"
done
[ "$(cli 3 --follow get b3 k7)" = "value-7" ] || fail "linearizable get k7"
for id in 1 2 3; do
    eventually 20 sh -c "[ \"\$('$client' --addr $(caddr "$id") --stale get b3 k20 | head -n 1)\" = value-20 ]" ||
        fail "stale read of k20 on node $id"
    cli "$id" --stale get b3 k20 | grep -q '^at=' || fail "stale read on node $id has no at"
    [ "$(cli "$id" --stale count b3)" = 20 ] || fail "node $id counts $(cli "$id" --stale count b3)"
done

echo "5. a follower answers 421 with the leader's client address"
follower=1
[ "$leader" != 1 ] || follower=2
rc=0
out=$(cli "$follower" put b3 kx vx 2>&1) || rc=$?
echo "$out" | grep -q "status=421 code=not_leader leader=$(caddr "$leader")" || fail "follower said: $out"
rc=0
out=$(cli "$follower" get b3 k1 2>&1) || rc=$?
echo "$out" | grep -q "status=421" || fail "linearizable read on a follower said: $out"
rc=0
out=$(cli 1 --follow get nosuch k1 2>&1) || rc=$?
echo "$out" | grep -q 'status=404 code=bucket_not_found' || fail "unknown bucket said: $out"

echo "6. malformed frames: an error, the connection closed, the node serves on"
# A frame of 3 bytes that are not a msgpack map.
out=$(cli 1 raw-hex 00000003c1c1c1 2>&1) || true
echo "$out" | grep -q 'status=400 code=protocol id=0' || fail "garbage frame said: $out"
echo "$out" | grep -q closed || fail "connection not closed after garbage: $out"
# A length above the 32 MiB frame limit.
out=$(cli 1 raw-hex 7fffffff 2>&1) || true
echo "$out" | grep -q 'status=413\|status=400' || fail "oversized frame said: $out"
# A client speaking another protocol version is refused by name.
rc=0
out=$(CAIRN_TEST_HELLO_VERSION=2 cli 1 status 2>&1) || rc=$?
echo "$out" | grep -q 'status=400 code=version' || fail "hello version 2 said: $out"
# A well-framed request with a bad field keeps the connection.
[ "$(cli 1 --follow get b3 k3)" = value-3 ] || fail "node 1 stopped serving"

echo "7. kill -9 the bucket leader under a stream of writes"
"$client" --addr "$(caddr 1),$(caddr 2),$(caddr 3)" --deadline-ms 60000 \
    writer b3 w 300 "$work/acked" >"$work/writer.out" 2>&1 &
writer=$!
bg_pids+=("$writer")
deadline=$((SECONDS + 30))
until [ -f "$work/acked" ] && [ "$(wc -l <"$work/acked")" -ge 50 ]; do
    [ $SECONDS -lt $deadline ] || fail "writer made no progress: $(cat "$work/writer.out")"
    sleep 0.1
done
leader=$(cli 1 --deadline-ms 20000 wait-leader b3)
stop "$leader" KILL || true
echo "   killed node $leader after $(wc -l <"$work/acked") acknowledged writes"
rc=0
wait "$writer" || rc=$?
[ $rc -eq 0 ] || fail "writer exited $rc: $(cat "$work/writer.out")"
alive=1
[ "$leader" != 1 ] || alive=2
"$client" --addr "$(caddr "$alive")" verify b3 "$work/acked" >"$work/verify.out" 2>&1 ||
    fail "acknowledged writes lost: $(head "$work/verify.out")"
echo "   $(cat "$work/verify.out")"
start "$leader"
eventually 30 sh -c "[ \"\$('$client' --addr $(caddr "$leader") --stale get b3 w000299 | head -n 1)\" = v299 ]" ||
    fail "restarted node $leader did not catch up"

echo "8. a wiped follower catches up by snapshot"
leader=$(cli 1 --deadline-ms 20000 wait-leader b3)
victim=1
[ "$leader" != 1 ] || victim=2
stop "$victim" KILL || true
rm -rf "$work/n$victim"
for i in $(seq 1 100); do
    cli "$leader" put b3 "after$i" "x$i" >/dev/null || fail "put after$i"
done
start "$victim" --initial-cluster "$initial"
eventually 40 sh -c "[ \"\$('$client' --addr $(caddr "$victim") --stale get b3 after100 | head -n 1)\" = x100 ]" ||
    fail "wiped node $victim did not catch up"
[ "$(cli "$victim" --stale get b3 w000000 | head -n 1)" = v0 ] || fail "wiped node lacks w000000"
want=$(cli "$leader" count b3)
[ "$(cli "$victim" --stale count b3)" = "$want" ] || fail "wiped node counts $(cli "$victim" --stale count b3), leader $want"
# The leader's log no longer starts at entry 1, so only a snapshot could
# bring the wiped node up to date.
gid=$(grep 'group=b3 msg="replica started"' "$work/n$leader.log" | tail -n 1 | sed 's/.* gid=\([0-9]*\).*/\1/')
ls "$work/n$leader/raft/$gid" | grep -q '^snapshot-' || fail "leader of b3 took no snapshot"
if ls "$work/n$leader/raft/$gid" | grep -q '^0000000000000001-'; then
    fail "leader of b3 still has entry 1: the test proves nothing"
fi

echo "9. bucket delete stops the groups and removes the data"
gid=$(grep 'group=b3 msg="replica started"' "$work/n3.log" | tail -n 1 | sed 's/.* gid=\([0-9]*\).*/\1/')
[ -n "$gid" ] || fail "no gid for b3 in node 3's log"
cli 1 --follow bucket-delete b3 | grep -q deleted || fail "bucket-delete"
for id in 1 2 3; do
    eventually 20 test ! -d "$work/n$id/raft/$gid" || fail "node $id kept raft/$gid"
done
rc=0
out=$(cli 1 --follow get b3 k1 2>&1) || rc=$?
echo "$out" | grep -q 'status=404' || fail "get after delete said: $out"

echo "10. SIGTERM every node: each exits 0"
stop_all
echo "1 passed, 0 failed"
