# Shared by the multi-process tests: start cairnd nodes on 127.0.0.1 in a
# temporary directory, reap every one of them on exit (even on failure),
# and small helpers around cairn-test-client.
# The sourcing script sets: cairnd, client (paths), and may set node_flags
# (an array of extra flags for every node).
set -euo pipefail

work=$(mktemp -d "${TMPDIR:-/tmp}/cairn-cluster-XXXXXX")
# Each node's --memory-dir (memory buckets, docs/cairnd.md): on tmpfs when
# the machine has /dev/shm, so that memory buckets write nothing to disk as
# in production, else next to the data. One directory per test cluster, so
# clusters run in parallel never share one; node ID keeps the same one
# across its restarts. Removed on exit, even after a failure: it holds
# memory, and the logs in $work tell what happened.
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
    memwork=$(mktemp -d /dev/shm/cairn-cluster-XXXXXX)
else
    memwork=$work
fi
# Below the ephemeral range (32768-60999), where outgoing connections
# would take our ports.
base=$((10000 + RANDOM % 22000))
declare -A pids=()
declare -p node_flags >/dev/null 2>&1 || node_flags=()
bg_pids=()

cleanup() {
    local rc=$?
    for p in "${bg_pids[@]}"; do
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    for id in "${!pids[@]}"; do
        kill -KILL "${pids[$id]}" 2>/dev/null || true
        wait "${pids[$id]}" 2>/dev/null || true
    done
    [ "$memwork" = "$work" ] || rm -rf "$memwork"
    if [ $rc -ne 0 ]; then
        echo "--- node logs (kept in $work)"
        tail -n 30 "$work"/n*.log 2>/dev/null || true
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

peer() { echo "127.0.0.1:$((base + 100 + $1))"; }
memdir() { echo "$memwork/n$1.mem"; }
caddr() { echo "127.0.0.1:$((base + $1))"; }

# initial_of ID...: the --initial-cluster value for these voters.
initial_of() {
    local out="" id
    for id in "$@"; do out="$out${out:+,}$id=$(peer "$id")"; done
    echo "$out"
}

start() { # id [extra flags...]
    local id=$1
    shift
    "$cairnd" --id "$id" --data-dir "$work/n$id" --memory-dir "$(memdir "$id")" \
        --peer-listen "$(peer "$id")" --client-listen "$(caddr "$id")" \
        --http-listen "127.0.0.1:$((base + 200 + id))" \
        --election-timeout-ms 600 --heartbeat-ms 60 "${node_flags[@]}" "$@" \
        >>"$work/n$id.log" 2>&1 &
    pids[$id]=$!
}

stop() { # id signal: stop and reap, return the exit code
    local id=$1 rc=0
    kill "-$2" "${pids[$id]}"
    { wait "${pids[$id]}"; } 2>/dev/null || rc=$?
    unset "pids[$id]"
    return $rc
}

# cli ID ARGS...: cairn-test-client against node ID.
cli() {
    local id=$1
    shift
    "$client" --addr "$(caddr "$id")" "$@"
}

# eventually SECONDS CMD...: retry CMD every 0.2 s until it succeeds.
eventually() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $deadline ] || return 1
        sleep 0.2
    done
}

# status_nodes ID: how many nodes node ID's catalog lists.
status_nodes() { cli "$1" status 2>/dev/null | grep -c '^node ' || true; }

# wait_registered ID COUNT: until node ID lists COUNT nodes.
wait_registered() {
    local deadline=$((SECONDS + 30))
    until [ "$(status_nodes "$1")" = "$2" ]; do
        [ $SECONDS -lt $deadline ] || fail "node $1 lists $(status_nodes "$1") nodes, want $2"
        sleep 0.2
    done
}

# replicas_of ID BUCKET: the replica ids of BUCKET, space separated, once
# node ID's catalog lists the bucket (it may lag the meta leader a little).
replicas_of() {
    eventually 10 sh -c "'$client' --addr $(caddr "$1") status | grep -q '^bucket $2 '" || true
    cli "$1" status | awk -v b="$2" '$1 == "bucket" && $2 == b {
        for (i = 3; i <= NF; i++) if ($i ~ /^replicas=/) { sub("replicas=", "", $i); gsub(",", " ", $i); print $i } }'
}

# stop_all: SIGTERM every running node; each must exit 0.
stop_all() {
    local id rc
    for id in "${!pids[@]}"; do
        rc=0
        stop "$id" TERM || rc=$?
        [ $rc -eq 0 ] || fail "node $id exited $rc after SIGTERM"
    done
}
