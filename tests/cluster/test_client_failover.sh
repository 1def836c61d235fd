#!/usr/bin/env bash
# libcairn under a leader crash: four threads share one client and write
# unique keys to a bucket with num_replicas 3 while its leader is killed
# with SIGKILL. Every write either succeeded and is present exactly once at
# the revision it was acknowledged with, or failed and was applied at most
# once. The killed node then restarts and catches up.
# Usage: test_client_failover.sh CAIRND CAIRN-TEST-CLIENT CAIRN-CLIENT-STRESS
cairnd=$1
client=$2
stress=$3
. "$(dirname "$0")/lib.sh"

initial=$(initial_of 1 2 3)
servers="$(caddr 1),$(caddr 2),$(caddr 3)"
echo "1. three nodes, bucket s with num_replicas 3"
for id in 1 2 3; do start "$id" --initial-cluster "$initial"; done
for id in 1 2 3; do wait_registered "$id" 3; done
cli 1 --follow bucket-create s replicas=3 history=8 >/dev/null || fail "bucket-create s"
leader=$(cli 1 --deadline-ms 20000 wait-leader s) || fail "no leader for s"
echo "   leader of s: node $leader"

echo "2. four threads write for 8 s; the leader is killed after 2 s"
"$stress" write "$servers" s 4 8 "$work/writes" >"$work/stress.out" 2>"$work/stress.err" &
writer=$!
bg_pids+=("$writer")
sleep 2
stop "$leader" KILL || true
rc=0
wait "$writer" || rc=$?
cat "$work/stress.out"
[ $rc -eq 0 ] || fail "stress writer exited $rc: $(tail -n 5 "$work/stress.err")"
acked=$(grep -c ' ok ' "$work/writes" || true)
[ "$acked" -gt 0 ] || fail "no write was acknowledged"

echo "3. every acknowledged write is present exactly once; none applied twice"
"$stress" verify "$servers" s "$work/writes" || fail "verify after the crash"

echo "4. the killed node restarts and catches up"
start "$leader" --initial-cluster "$initial"
last=$(tail -n 1 "$work/writes" | awk '{print $1}')
eventually 30 sh -c "'$client' --addr $(caddr "$leader") --stale get s '$(grep ' ok ' "$work/writes" | tail -n 1 | awk '{print $1}')' >/dev/null" ||
    fail "node $leader did not catch up ($last)"
stop_all
echo "PASS"
