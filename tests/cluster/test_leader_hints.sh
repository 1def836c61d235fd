#!/usr/bin/env bash
# Five cairnd nodes: a node that holds no replica of a bucket knows the
# bucket's leader from the catalog's leader hint. It answers 421 with the
# leader's client address (not just any replica's) and its cluster.status
# marks the leader; after the leader stops (SIGTERM hands leadership over)
# both follow the new leader; a bucket deleted and created again gets the
# hint of its new group. One hint is written per leadership change, none
# periodically.
# Usage: test_leader_hints.sh PATH/TO/cairnd PATH/TO/cairn-test-client
cairnd=$1
client=$2
. "$(dirname "$0")/lib.sh"

ids="1 2 3 4 5"

# redirects_to ID BUCKET LEADER: node ID answers a linearizable read of
# BUCKET with 421 naming node LEADER's client address.
redirects_to() {
    local out
    out=$(cli "$1" get "$2" k 2>&1)
    echo "$out" | grep "status=421 code=not_leader leader=$(caddr "$3") " >/dev/null
}

# status_leader ID BUCKET LEADER: node ID's cluster.status marks LEADER.
status_leader() {
    cli "$1" status | grep "^bucket $2 leader=$3 " >/dev/null
}

# others BUCKET_REPLICAS...: the nodes that hold none of these replicas.
others() {
    local id out=""
    for id in $ids; do
        case " $* " in *" $id "*) ;; *) out="$out $id" ;; esac
    done
    echo "$out"
}

# hints_recorded [BUCKET]: how many hints the meta leaders wrote (for
# BUCKET).
hints_recorded() {
    cat "$work"/n*.log | grep -c "${1:+group=$1 }msg=\"leader hint recorded\"" || true
}

# lists ID BUCKET: node ID's catalog lists BUCKET (cluster.status is served
# from the node's own catalog).
lists() {
    cli "$1" status | grep "^bucket $2 " >/dev/null
}

initial=$(initial_of $ids)
echo "1. five nodes start and register"
for id in $ids; do start "$id" --initial-cluster "$initial"; done
for id in $ids; do wait_registered "$id" 5; done

echo "2. num_replicas 1: a non-replica names the one replica as leader"
cli 1 --follow bucket-create solo replicas=1 >/dev/null || fail "create solo"
rep=$(replicas_of 1 solo)
[ "$(echo $rep | wc -w)" = 1 ] || fail "solo has replicas '$rep'"
cli "$rep" --deadline-ms 20000 wait-leader solo >/dev/null || fail "solo elects no leader"
for x in $(others $rep); do
    eventually 15 status_leader "$x" solo "$rep" ||
        fail "node $x's status: $(cli "$x" status | grep '^bucket solo ')"
    eventually 5 redirects_to "$x" solo "$rep" ||
        fail "node $x redirects solo: $(cli "$x" get solo k 2>&1)"
done
x=$(others $rep | awk '{print $1}')
[ "$(cli "$x" --follow put solo k v)" -ge 1 ] || fail "put to solo through node $x"
echo "   solo: node $rep leads; nodes$(others $rep) say so"

echo "3. num_replicas 3: non-replicas name the leader, not the first replica"
cli 2 --follow bucket-create trio replicas=3 >/dev/null || fail "create trio"
reps=$(replicas_of 1 trio)
[ "$(echo $reps | wc -w)" = 3 ] || fail "trio has replicas '$reps'"
first=${reps%% *}
leader=$(cli "$first" --deadline-ms 20000 wait-leader trio) || fail "trio elects no leader"
for x in $(others $reps); do
    eventually 15 status_leader "$x" trio "$leader" ||
        fail "node $x's status: $(cli "$x" status | grep '^bucket trio ')"
    eventually 5 redirects_to "$x" trio "$leader" ||
        fail "node $x redirects trio: $(cli "$x" get trio k 2>&1)"
done
echo "   trio: replicas $reps, node $leader leads"

echo "4. SIGTERM the leader: non-replicas follow the new leader"
rc=0
stop "$leader" TERM || rc=$?
[ $rc -eq 0 ] || fail "node $leader exited $rc after SIGTERM"
survivor=$(for id in $reps; do [ "$id" = "$leader" ] || echo "$id"; done | head -n 1)
new=$(cli "$survivor" --deadline-ms 20000 wait-leader trio) || fail "trio elects no new leader"
[ "$new" != "$leader" ] || fail "node $leader still leads trio after its stop"
for x in $(others $reps); do
    eventually 20 status_leader "$x" trio "$new" ||
        fail "node $x's status after the stop: $(cli "$x" status | grep '^bucket trio ')"
    eventually 5 redirects_to "$x" trio "$new" ||
        fail "node $x redirects trio after the stop: $(cli "$x" get trio k 2>&1)"
done
[ "$(cli "$(others $reps | awk '{print $1}')" --follow put trio k v)" -ge 1 ] ||
    fail "put to trio through a non-replica"
echo "   trio: node $new leads now"

echo "5. delete and create solo again: the hint follows the new group"
cli "$new" --follow bucket-delete solo >/dev/null || fail "delete solo"
eventually 10 sh -c "'$client' --addr $(caddr "$new") status >'$work/status' &&
    ! grep '^bucket solo ' '$work/status' >/dev/null" || fail "node $new still lists solo"
cli "$new" --follow bucket-create solo replicas=1 >/dev/null || fail "create solo again"
eventually 10 lists "$new" solo || fail "node $new does not list solo again"
rep=$(replicas_of "$new" solo)
for x in $(others $rep $leader); do
    eventually 20 status_leader "$x" solo "$rep" ||
        fail "node $x's status of the new solo: $(cli "$x" status | grep '^bucket solo ')"
    eventually 5 redirects_to "$x" solo "$rep" ||
        fail "node $x redirects the new solo: $(cli "$x" get solo k 2>&1)"
done
[ "$(cli "$x" --follow count solo)" = 0 ] || fail "the new solo is not empty"
# The delete took the old hint with it: no stale hint was left to sweep.
if grep -q 'leader hint of a former bucket group removed' "$work"/n*.log; then
    fail "a stale hint was swept: bucket delete left it behind"
fi
echo "   solo: node $rep leads the new group"

echo "6. one hint per leadership change, none periodically"
[ "$(hints_recorded solo)" = 2 ] || fail "solo's hint was written $(hints_recorded solo) times, want 2 (one per group)"
before=$(hints_recorded)
sleep 2
after=$(hints_recorded)
[ "$before" = "$after" ] || fail "hints rewritten while nothing changed: $before, then $after"
echo "   $after hints written in all"

echo "7. SIGTERM every node: each exits 0"
stop_all
echo "1 passed, 0 failed"
