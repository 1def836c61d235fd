#!/usr/bin/env bash
# Five cairnd nodes tagged zone:a|b|c, some with disk:ssd: buckets with
# num_replicas 1 and 3 and placement tags land exactly where the tags say,
# spread over zones, and their groups run on exactly those nodes;
# impossible placements are refused with a message naming the tags and
# the counts.
# Usage: test_placement.sh PATH/TO/cairnd PATH/TO/cairn-test-client
cairnd=$1
client=$2
. "$(dirname "$0")/lib.sh"

declare -A tags=(
    [1]="--tag zone:a --tag disk:ssd"
    [2]="--tag zone:b --tag disk:ssd"
    [3]="--tag zone:c"
    [4]="--tag zone:a"
    [5]="--tag zone:b --tag disk:ssd"
)
declare -A zone=([1]=a [2]=b [3]=c [4]=a [5]=b)
ssd=" 1 2 5 "

initial=$(initial_of 1 2 3 4 5)
echo "1. five nodes start and register with their tags"
for id in 1 2 3 4 5; do
    # shellcheck disable=SC2086
    start "$id" --initial-cluster "$initial" ${tags[$id]}
done
for id in 1 2 3 4 5; do wait_registered "$id" 5; done
cli 3 status | grep -q "^node 5 .* tags=zone:b,disk:ssd " || fail "node 5's tags: $(cli 3 status)"

# running_on BUCKET: the ids of the nodes whose logs say they run BUCKET.
running_on() {
    local id out=""
    for id in 1 2 3 4 5; do
        if grep -q "group=$1 msg=\"replica started\"" "$work/n$id.log"; then
            out="$out $id"
        fi
    done
    echo "$out"
}

# check BUCKET WANT_COUNT: placed on WANT_COUNT nodes, running on exactly
# those, prints the replica ids.
check() {
    local b=$1 want=$2 reps id deadline
    reps=$(replicas_of 1 "$b")
    [ "$(echo $reps | wc -w)" = "$want" ] || fail "$b has replicas '$reps', want $want"
    deadline=$((SECONDS + 20))
    until [ "$(running_on "$b" | tr ' ' '\n' | sort -n | xargs)" = "$(echo $reps | tr ' ' '\n' | sort -n | xargs)" ]; do
        [ $SECONDS -lt $deadline ] || fail "$b runs on '$(running_on "$b")', placed on '$reps'"
        sleep 0.2
    done
    cli "${reps%% *}" --deadline-ms 20000 wait-leader "$b" >/dev/null || fail "$b elects no leader"
    echo "$reps"
}

echo "2. num_replicas 1 with disk:ssd lands on an ssd node"
cli 1 --follow bucket-create one replicas=1 tags=disk:ssd >/dev/null || fail "create one"
reps=$(check one 1)
case "$ssd" in *" $reps "*) ;; *) fail "bucket one on node $reps, not an ssd node" ;; esac
echo "   one: node $reps"

echo "3. num_replicas 3 without tags spreads over the three zones"
cli 2 --follow bucket-create three replicas=3 >/dev/null || fail "create three"
reps=$(check three 3)
zones=$(for id in $reps; do echo "${zone[$id]}"; done | sort -u | xargs)
[ "$zones" = "a b c" ] || fail "bucket three on nodes $reps: zones $zones"
echo "   three: nodes $reps (zones $zones)"

echo "4. num_replicas 3 with disk:ssd takes exactly the ssd nodes"
cli 4 --follow bucket-create fast replicas=3 tags=disk:ssd >/dev/null || fail "create fast"
reps=$(check fast 3)
[ "$(echo $reps | tr ' ' '\n' | sort -n | xargs)" = "1 2 5" ] || fail "bucket fast on nodes $reps"
[ "$(cli "${reps%% *}" --follow put fast k v)" -ge 1 ] || fail "put to fast"

echo "5. impossible placements are refused, naming tags and counts"
rc=0
out=$(cli 1 --follow bucket-create big replicas=4 tags=disk:ssd 2>&1) || rc=$?
echo "$out" | grep -q 'status=503 code=placement' || fail "4 ssd replicas said: $out"
echo "$out" | grep -q 'placement needs 4 nodes with tags \[disk:ssd\], 3 match' || fail "message: $out"
rc=0
out=$(cli 1 --follow bucket-create hdd replicas=1 tags=disk:hdd,zone:a 2>&1) || rc=$?
echo "$out" | grep -q 'status=503 code=placement' || fail "disk:hdd said: $out"
cli 1 --follow bucket-list | grep -q '^big$\|^hdd$' && fail "a refused bucket is listed"

echo "6. SIGTERM every node: each exits 0"
stop_all
echo "1 passed, 0 failed"
