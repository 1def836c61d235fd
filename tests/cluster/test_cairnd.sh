#!/usr/bin/env bash
# cairnd as real processes on 127.0.0.1: three nodes bootstrap the meta
# group; a graceful stop hands leadership over and exits 0; a killed node
# and a stopped one resume from their data; bad configurations exit 2
# before writing anything; a second process on a data directory is refused;
# a memory directory another node holds, one of another data directory, or
# the data directory itself is refused (exit 2) with nothing written.
# Every node started here is reaped on exit, whatever happens.
# Usage: test_cairnd.sh PATH/TO/cairnd
cairnd=$1
. "$(dirname "$0")/lib.sh"

initial=$(initial_of 1 2 3)

# wait_for FILE PATTERN [SECONDS]: until a line matching PATTERN appears.
wait_for() {
    local deadline=$((SECONDS + ${3:-20}))
    until grep -q -- "$2" "$1" 2>/dev/null; do
        [ $SECONDS -lt $deadline ] || fail "no '$2' in $1 after ${3:-20} s"
        sleep 0.1
    done
}

# The id every running node names as meta leader in its latest log line.
leader_of() { grep 'leader elected' "$work/n$1.log" | tail -n 1 | sed 's/.* leader=\([0-9]*\).*/\1/'; }

echo "1. three nodes bootstrap the meta group"
for id in 1 2 3; do start "$id" --initial-cluster "$initial"; done
for id in 1 2 3; do wait_for "$work/n$id.log" 'leader elected'; done
leader=$(leader_of 1)
for id in 2 3; do [ "$(leader_of "$id")" = "$leader" ] || fail "nodes disagree on the leader"; done
echo "   leader is node $leader"

echo "2. SIGTERM on the leader: it hands leadership over and exits 0"
rc=0
stop "$leader" TERM || rc=$?
[ $rc -eq 0 ] || fail "leader exited $rc after SIGTERM"
grep -q 'leadership transfer done' "$work/n$leader.log" || fail "no leadership transfer"
others=()
for id in 1 2 3; do [ "$id" = "$leader" ] || others+=("$id"); done
for id in "${others[@]}"; do
    wait_for "$work/n$id.log" "leader elected.*leader=[^$leader]"
done
echo "   new leader: node $(leader_of "${others[0]}")"

echo "3. the stopped node resumes from its data directory"
start "$leader"
wait_for "$work/n$leader.log" 'resumed from its log'
wait_for "$work/n$leader.log" 'fresh=no'

echo "4. SIGKILL a follower, restart it: it resumes"
victim=${others[1]}
stop "$victim" KILL || true
n_before=$(grep -c 'leader elected' "$work/n$victim.log")
start "$victim"
wait_for "$work/n$victim.log" 'resumed from its log'
deadline=$((SECONDS + 20))
until [ "$(grep -c 'leader elected' "$work/n$victim.log")" -gt "$n_before" ]; do
    [ $SECONDS -lt $deadline ] || fail "restarted node $victim sees no leader"
    sleep 0.1
done

echo "5. a second process on a running node's data directory is refused"
rc=0
"$cairnd" --id "$victim" --data-dir "$work/n$victim" --memory-dir "$work/second.mem" \
    --peer-listen "127.0.0.1:$((base + 150))" \
    --client-listen "127.0.0.1:$((base + 151))" --http-listen "127.0.0.1:$((base + 152))" \
    2>"$work/second.err" || rc=$?
[ $rc -eq 1 ] || fail "second process exited $rc, want 1"
grep -q 'in use by another cairnd' "$work/second.err" || fail "second process: $(cat "$work/second.err")"
[ ! -e "$work/second.mem" ] || fail "the refused second process created its memory directory"

echo "6. bad configurations exit 2 and write nothing"
rc=0
"$cairnd" --id 0 --data-dir "$work/bad" 2>"$work/bad.err" || rc=$?
[ $rc -eq 2 ] || fail "--id 0 exited $rc, want 2"
grep -q -- "--id: '0'" "$work/bad.err" || fail "--id 0 said: $(cat "$work/bad.err")"
[ ! -e "$work/bad" ] || fail "--id 0 created its data directory"
rc=0
"$cairnd" --id 7 --data-dir "$work/empty" --memory-dir "$work/empty.mem" \
    --peer-listen "127.0.0.1:$((base + 160))" \
    --client-listen "127.0.0.1:$((base + 161))" --http-listen "127.0.0.1:$((base + 162))" \
    2>"$work/empty.err" || rc=$?
[ $rc -eq 2 ] || fail "empty data dir without --initial-cluster exited $rc, want 2"
grep -q 'give --initial-cluster' "$work/empty.err" || fail "empty dir said: $(cat "$work/empty.err")"
[ ! -e "$work/empty/IDENTITY" ] || fail "a refused start wrote IDENTITY"
[ ! -e "$work/empty.mem" ] || fail "a refused start created its memory directory"

echo "6b. memory directories: one per node, of one data directory"
# bad_memory NAME WANT_MSG FLAGS...: a new node 7 refused with exit 2 and a
# message matching WANT_MSG, having written no IDENTITY.
bad_memory() {
    local name=$1 want=$2 rc=0
    shift 2
    "$cairnd" --id 7 --data-dir "$work/$name" --peer-listen "127.0.0.1:$((base + 160))" \
        --client-listen "127.0.0.1:$((base + 161))" --http-listen "127.0.0.1:$((base + 162))" \
        --initial-cluster "7=127.0.0.1:$((base + 160))" "$@" 2>"$work/$name.err" || rc=$?
    [ $rc -eq 2 ] || fail "$name: exited $rc, want 2: $(cat "$work/$name.err")"
    grep -qF -- "$want" "$work/$name.err" || fail "$name said: $(cat "$work/$name.err")"
    [ ! -e "$work/$name/IDENTITY" ] || fail "$name: a refused start wrote IDENTITY"
}
bad_memory shared "--memory-dir: '$(memdir "$victim")' is in use by another cairnd" \
    --memory-dir "$(memdir "$victim")"
grep -qx "data-dir $(realpath "$work/n$victim")" "$(memdir "$victim")/IDENTITY" ||
    fail "the refused node changed node $victim's memory directory"
bad_memory same "is the data directory" --memory-dir "$work/same"

echo "7. a data directory of another node is refused"
stop "$victim" TERM || true
rc=0
"$cairnd" --id 9 --data-dir "$work/n$victim" --memory-dir "$work/other.mem" \
    --peer-listen "$(peer "$victim")" \
    --client-listen "127.0.0.1:$((base + victim))" \
    --http-listen "127.0.0.1:$((base + 200 + victim))" 2>"$work/other.err" || rc=$?
[ $rc -eq 2 ] || fail "another node's data dir exited $rc, want 2"
grep -q 'belongs to another node' "$work/other.err" || fail "other dir said: $(cat "$work/other.err")"
bad_memory foreign "--memory-dir: '$(memdir "$victim")' belongs to the node of data directory '$(realpath "$work/n$victim")', not to '$(realpath "$work")/foreign'" \
    --memory-dir "$(memdir "$victim")"

echo "8. SIGTERM every node: each exits 0"
stop_all
echo "1 passed, 0 failed"
