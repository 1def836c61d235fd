#!/usr/bin/env bash
# A fourth node joins a running three-node cluster with --join (any node's
# client address): it becomes a voter of the meta group, appears in the
# catalog and can hold bucket replicas; beyond five voters a node joins as
# a standby; nodes are removed.
# Usage: test_join.sh PATH/TO/cairnd PATH/TO/cairn-test-client
cairnd=$1
client=$2
. "$(dirname "$0")/lib.sh"

initial=$(initial_of 1 2 3)
echo "1. three nodes"
for id in 1 2 3; do start "$id" --initial-cluster "$initial"; done
for id in 1 2 3; do wait_registered "$id" 3; done
cli 1 --follow bucket-create before replicas=3 >/dev/null || fail "create before"
cli 1 --follow --deadline-ms 20000 put before k1 v1 >/dev/null || fail "put before"

echo "2. node 4 joins through node 2 (whichever node leads the catalog)"
start 4 --join "$(caddr 2)" --tag zone:d
wait_registered 1 4
wait_registered 4 4
cli 1 status | grep -q "^node 4 .*role=voter\|^node 4 " || fail "node 4 missing"
grep -q 'registered via' "$work/n4.log" || fail "node 4 did not register"

echo "3. the new node holds a replica of a bucket placed by tag"
cli 3 --follow bucket-create onfour replicas=1 tags=zone:d >/dev/null || fail "create onfour"
eventually 10 sh -c "'$client' --addr $(caddr 3) status | grep -q '^bucket onfour '" || fail "onfour not listed"
[ "$(replicas_of 3 onfour)" = 4 ] || fail "onfour placed on $(replicas_of 3 onfour)"
[ "$(cli 4 --follow --deadline-ms 20000 put onfour a b)" -ge 1 ] || fail "put onfour"
[ "$(cli 4 get onfour a)" = b ] || fail "get onfour"

echo "4. node 4 restarts (SIGKILL) and resumes as a member"
stop 4 KILL || true
start 4 --join "$(caddr 2)" --tag zone:d
eventually 30 sh -c "[ \"\$('$client' --addr $(caddr 4) --follow get onfour a)\" = b ]" ||
    fail "node 4 did not resume"

echo "5. nodes 5 and 6 join: the fifth voter, then a standby"
start 5 --join "$(caddr 1)"
wait_registered 1 5
start 6 --join "$(caddr 4)"
wait_registered 1 6
eventually 20 sh -c "'$client' --addr $(caddr 1) status | grep -q '^node 6 .* role=standby'" ||
    fail "node 6 is not a standby: $(cli 1 status | grep '^node 6')"
[ "$(cli 1 status | grep -c ' role=voter')" = 5 ] || fail "want 5 voters: $(cli 1 status)"
stop 6 TERM || fail "node 6 exited non-zero"
cli 1 --follow node-remove 6 >/dev/null || fail "node-remove 6"
wait_registered 1 5

echo "6. node 3 is removed; the others go on"
cli 1 --follow node-remove 3 >/dev/null || fail "node-remove 3"
wait_registered 1 4
stop 3 TERM || true
cli 1 --follow --deadline-ms 20000 put before k2 v2 >/dev/null || fail "put after remove"
cli 1 --follow bucket-create after replicas=3 >/dev/null || fail "create after remove"
reps=$(replicas_of 1 after)
case " $reps " in *" 3 "*) fail "bucket placed on removed node 3: $reps" ;; esac

echo "7. SIGTERM every node: each exits 0"
stop_all
echo "1 passed, 0 failed"
