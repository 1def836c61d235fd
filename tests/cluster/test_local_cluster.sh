#!/usr/bin/env bash
# deploy/local-cluster.sh on a temporary data root and free ports: start
# brings up three nodes that answer; status shows them; a node killed with
# SIGKILL shows as stopped, and start brings back only that one, with its
# data, leaving the others' PIDs alone; stop stops them all and removes the
# PID files, keeping the data and memory directories; usage errors exit 2.
# Usage: test_local_cluster.sh PATH/TO/cairnd PATH/TO/cairn-test-client
# (both in <build>/bin/, which the script is pointed at with CAIRN_BUILD_DIR).
set -euo pipefail

cairnd=$1
client=$2
script=$(cd "$(dirname "$0")/../.." && pwd)/deploy/local-cluster.sh
bin_dir=$(cd "$(dirname "$cairnd")" && pwd)
[ "$(cd "$(dirname "$client")" && pwd)" = "$bin_dir" ] ||
    { echo "FAIL: cairnd and cairn-test-client are not in one bin/ directory" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/cairn-local-XXXXXX")
export CAIRN_DATA=$work/data
# Under $work rather than /dev/shm, so that the trap removes it.
export CAIRN_MEMORY=$work/memory
export CAIRN_BUILD_DIR=${bin_dir%/bin}
unset CAIRN_STOP_TIMEOUT CAIRN_START_TIMEOUT

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A port base in 20000..29750 whose nine ports are free; below the
# ephemeral range (32768-60999) where outgoing connections take ports.
pick_base() {
    local b off free
    for _ in $(seq 1 50); do
        b=$((20000 + 250 * (RANDOM % 40)))
        free=1
        for off in 1 2 3 101 102 103 201 202 203; do
            if port_in_use $((b + off)); then
                free=0
                break
            fi
        done
        [ $free = 0 ] || {
            echo "$b"
            return 0
        }
    done
    return 1
}
base=$(pick_base) || { echo "FAIL: no free port base" >&2; exit 1; }
export CAIRN_LOCAL_PORT_BASE=$base

# Every cairnd PID the test has seen, for the trap.
seen=()

# ours PID: PID is a live cairnd running on a data dir under $work.
ours() {
    local st="" arg
    { read -r _ _ st _ <"/proc/$1/stat"; } 2>/dev/null || return 1
    [ "$st" != Z ] || return 1
    while IFS= read -r -d '' arg; do
        case $arg in "$work"/*) return 0 ;; esac
    done 2>/dev/null <"/proc/$1/cmdline"
    return 1
}

cleanup() {
    local rc=$? p f
    for f in "$CAIRN_DATA"/n*/cairnd.pid; do
        [ -f "$f" ] && seen+=("$(head -n 1 "$f")")
    done
    for p in "${seen[@]}"; do
        if ours "$p"; then
            echo "cleanup: SIGKILL cairnd $p"
            kill -KILL "$p" 2>/dev/null || true
        fi
    done
    if [ $rc -ne 0 ]; then
        echo "--- node logs (kept in $work)"
        tail -n 30 "$CAIRN_DATA"/n*/cairnd.log 2>/dev/null || true
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

caddr() { echo "127.0.0.1:$((base + $1))"; }
pid_of() { head -n 1 "$CAIRN_DATA/n$1/cairnd.pid"; }
cli() {
    local id=$1
    shift
    "$client" --addr "$(caddr "$id")" "$@"
}
lc() { "$script" "$@"; }

# eventually SECONDS CMD...: retry CMD every 0.2 s until it succeeds.
eventually() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $deadline ] || return 1
        sleep 0.2
    done
}

# status_line ID: node ID's line of 'local-cluster.sh status'.
status_line() { lc status 2>/dev/null | awk -v n="n$1" '$1 == n' || true; }
node_stopped() { status_line "$1" | grep -q ' - *stopped *does not answer$'; }

echo "0. usage (port base $base, data $CAIRN_DATA)"
rc=0
lc no-such-command >/dev/null 2>&1 || rc=$?
[ $rc -eq 2 ] || fail "unknown command exited $rc"
rc=0
lc >/dev/null 2>&1 || rc=$?
[ $rc -eq 2 ] || fail "no command exited $rc"
out=$(lc --help) || fail "--help exited non-zero"
for w in CAIRN_DATA CAIRN_MEMORY CAIRN_LOCAL_PORT_BASE CAIRN_BUILD_DIR start stop status; do
    grep -q "$w" <<<"$out" || fail "--help does not mention $w"
done

echo "1. start: three nodes that answer and list each other"
out=$(lc start 2>&1) || fail "start exited non-zero: $out"
for id in 1 2 3; do
    grep -q "^starting n$id " <<<"$out" || fail "start did not start n$id: $out"
    seen+=("$(pid_of "$id")")
done
grep -q "CAIRN_SERVERS=$(caddr 1),$(caddr 2),$(caddr 3)" <<<"$out" || fail "no how-to: $out"
for id in 1 2 3; do
    grep -qx "data-dir $CAIRN_DATA/n$id" "$CAIRN_MEMORY/n$id/IDENTITY" ||
        fail "n$id's memory directory is not $CAIRN_MEMORY/n$id"
done
# A node's catalog may lag the meta leader's a little.
lists_three() { [ "$(cli "$1" status | grep -c '^node ')" = 3 ]; }
for id in 1 2 3; do
    cli "$id" status >/dev/null || fail "n$id does not answer status"
    eventually 10 lists_three "$id" || fail "n$id lists: $(cli "$id" status 2>&1)"
    st=$(cli "$id" status)
    grep -q "^node $id name=n$id client=$(caddr "$id") .*tags=zone:" <<<"$st" ||
        fail "n$id's record: $st"
done

echo "2. status: three running nodes that answer"
out=$(lc status) || fail "status exited non-zero: $out"
for id in 1 2 3; do
    grep -Eq "^n$id +$(caddr "$id") +$(pid_of "$id") +running +answers$" <<<"$out" ||
        fail "status for n$id: $out"
done

echo "3. data written now survives n2's SIGKILL"
cli 1 --follow bucket-create keep replicas=3 >/dev/null || fail "bucket-create"
cli 1 --follow --deadline-ms 20000 put keep k1 v1 >/dev/null || fail "put"
eventually 20 sh -c "[ \"\$('$client' --addr $(caddr 2) --stale get keep k1 | head -n 1)\" = v1 ]" ||
    fail "n2 did not replicate k1"

echo "4. SIGKILL n2: status shows it stopped"
p1=$(pid_of 1)
p2=$(pid_of 2)
p3=$(pid_of 3)
kill -KILL "$p2"
eventually 10 node_stopped 2 || fail "status after SIGKILL: $(lc status 2>&1)"
rc=0
lc status >/dev/null 2>&1 || rc=$?
[ $rc -eq 1 ] || fail "status with n2 down exited $rc"
status_line 1 | grep -q ' running *answers$' || fail "n1 after n2's kill: $(status_line 1)"

echo "5. start again: only n2 starts, with its data"
out=$(lc start 2>&1) || fail "second start exited non-zero: $out"
seen+=("$(pid_of 2)")
grep -q '^starting n2 ' <<<"$out" || fail "n2 not started: $out"
! grep -q '^starting n[13] ' <<<"$out" || fail "started a running node: $out"
grep -q "^n1 is running (pid $p1)" <<<"$out" || fail "n1 not reported running: $out"
[ "$(pid_of 1)" = "$p1" ] || fail "n1's PID changed: $p1 -> $(pid_of 1)"
[ "$(pid_of 3)" = "$p3" ] || fail "n3's PID changed: $p3 -> $(pid_of 3)"
[ "$(pid_of 2)" != "$p2" ] || fail "n2's PID file still names the killed process"
ours "$(pid_of 2)" || fail "n2's PID $(pid_of 2) is not a cairnd of ours"
cli 2 status >/dev/null || fail "n2 does not answer"
[ "$(cli 2 --stale get keep k1 | head -n 1)" = v1 ] || fail "n2 lost k1"
out=$(lc status) || fail "status after restart: $out"
[ "$(grep -c ' running *answers$' <<<"$out")" = 3 ] || fail "status after restart: $out"

echo "6. stop: every node gone, PID files removed"
pids=("$(pid_of 1)" "$(pid_of 2)" "$(pid_of 3)")
out=$(lc stop 2>&1) || fail "stop exited non-zero: $out"
for id in 1 2 3; do
    [ ! -e "$CAIRN_DATA/n$id/cairnd.pid" ] || fail "n$id's PID file remains"
done
for p in "${pids[@]}" "${seen[@]}"; do
    ! ours "$p" || fail "cairnd $p still runs after stop"
done
grep -q 'SIGKILL' <<<"$out" && fail "stop needed SIGKILL: $out"
for id in 1 2 3; do
    node_stopped "$id" || fail "status after stop: $(status_line "$id")"
    grep -q 'msg="stopped"' "$CAIRN_DATA/n$id/cairnd.log" || fail "n$id did not stop cleanly"
done
out=$(lc stop 2>&1) || fail "a second stop exited non-zero: $out"
for id in 1 2 3; do
    [ -d "$CAIRN_MEMORY/n$id/storage" ] || fail "stop removed n$id's memory directory"
done

echo "1 passed, 0 failed"
