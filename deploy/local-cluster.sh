#!/usr/bin/env bash
# A three-node cairn cluster on 127.0.0.1, for trying cairn out and for
# tests. Run with --help for the commands and the environment.
# Each node keeps its data under $CAIRN_DATA and its memory buckets in a
# --memory-dir of its own under /dev/shm ($CAIRN_MEMORY): stop keeps both,
# so a restart finds every bucket; a reboot of the machine empties the
# memory directories (memory buckets come back empty).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
prog=$(basename "$0")

usage() {
    cat <<EOF
usage: $prog start|stop|restart|status|logs [NODE]|--help

Runs a three-node cairn cluster on 127.0.0.1: nodes n1, n2, n3 (ids 1..3,
cluster "local", tags zone:a, zone:b, zone:c).

commands:
  start     build what is missing (installing Debian packages with
            apt-get when it must), start the nodes that are not running,
            wait until the cluster answers, print how to use it. A
            stopped or killed node comes back with its data.
  stop      stop the nodes: SIGTERM, then SIGKILL after
            \$CAIRN_STOP_TIMEOUT seconds (default 10). Their data and
            memory directories stay.
  restart   stop, then start (a node runs the binary it started with:
            restart after a new build)
  status    each node: name, client address, PID, running or stopped,
            answers or not. Exit 0 when all three run and answer, else 1.
  logs [NODE]
            the last lines of each node's log (or of NODE: n1, n2, n3)

ports (with the default CAIRN_LOCAL_PORT_BASE=7400):
  client 7401-7403, peer 7501-7503, HTTP 7601-7603

environment:
  CAIRN_DATA              data root (default: <repo>/data/local-cluster);
                          node N keeps its data, cairnd.pid and cairnd.log
                          in \$CAIRN_DATA/nN
  CAIRN_MEMORY            memory root: node N's --memory-dir, where buckets
                          with --storage memory live, is \$CAIRN_MEMORY/nN
                          (default: /dev/shm/cairn-local-<checksum of the
                          data root's path>, so two data roots never share
                          one; \$CAIRN_DATA/memory without /dev/shm). Like
                          the data, stop keeps it; a reboot empties it
                          (docs/cairnd.md, "Memory buckets")
  CAIRN_LOCAL_PORT_BASE   port base B (default 7400): client ports B+1..B+3,
                          peer B+101..B+103, HTTP B+201..B+203. A data root
                          keeps the base it was created with.
  CAIRN_BUILD_DIR         where the binaries are, in bin/ (default:
                          <repo>/build). When given, it is built only if
                          cairnd is missing there; by default also when the
                          sources are newer than the last build.
  CAIRN_STOP_TIMEOUT      seconds between SIGTERM and SIGKILL (default 10)
  CAIRN_START_TIMEOUT     seconds start waits for the cluster (default 30)

exit status: 0 success, 1 failure, 2 usage
EOF
}

die() {
    echo "$prog: $*" >&2
    exit 1
}

nodes=(1 2 3)
zones=(- a b c)
cluster_name=local

if [ -n "${CAIRN_BUILD_DIR:-}" ]; then
    build_dir=$CAIRN_BUILD_DIR
    build_given=1
else
    build_dir=$top/build
    build_given=0
fi
data=${CAIRN_DATA:-$top/data/local-cluster}
# Relative paths are the caller's; the nodes get absolute ones.
case $build_dir in /*) ;; *) build_dir=$PWD/$build_dir ;; esac
case $data in /*) ;; *) data=$PWD/$data ;; esac
# One spelling of the path: the nodes are recognized by it (running_pid).
data=$(realpath -m -- "$data")
# Memory directories are named after the data root: a node must get the
# same one at every start (another is refused, exit 2), and another data
# root (another cluster) must not get it.
if [ -n "${CAIRN_MEMORY:-}" ]; then
    memory=$CAIRN_MEMORY
    case $memory in /*) ;; *) memory=$PWD/$memory ;; esac
elif [ -d /dev/shm ]; then
    memory=/dev/shm/cairn-local-$(printf '%s' "$data" | cksum | cut -d ' ' -f 1)
else
    memory=$data/memory
fi
bin=$build_dir/bin
stop_timeout=${CAIRN_STOP_TIMEOUT:-10}
start_timeout=${CAIRN_START_TIMEOUT:-30}
case $stop_timeout$start_timeout in *[!0-9]*)
    echo "$prog: CAIRN_STOP_TIMEOUT and CAIRN_START_TIMEOUT are whole seconds" >&2
    exit 2
    ;;
esac

# The port base: the one the data root was created with (ports.conf), or
# CAIRN_LOCAL_PORT_BASE, or 7400. The nodes' Raft configuration holds the
# peer addresses, so a data root cannot move to other ports.
port_base() {
    local want=${CAIRN_LOCAL_PORT_BASE:-} have=""
    if [ -f "$data/ports.conf" ]; then
        have=$(sed -n 's/^base=\([0-9][0-9]*\)$/\1/p' "$data/ports.conf")
    fi
    case $want in '' | *[!0-9]*) [ -z "$want" ] || die "CAIRN_LOCAL_PORT_BASE: '$want' is not a number" ;; esac
    if [ -n "$have" ] && [ -n "$want" ] && [ "$have" != "$want" ]; then
        die "$data was created with CAIRN_LOCAL_PORT_BASE=$have, not $want: use $have, or stop the cluster and remove $data"
    fi
    base=${have:-${want:-7400}}
    [ "$base" -ge 1 ] && [ "$base" -le 65300 ] && return 0
    die "CAIRN_LOCAL_PORT_BASE: $base leaves no room for ports up to base+203"
}

client_addr() { echo "127.0.0.1:$((base + $1))"; }
peer_addr() { echo "127.0.0.1:$((base + 100 + $1))"; }
http_addr() { echo "127.0.0.1:$((base + 200 + $1))"; }
node_dir() { echo "$data/n$1"; }
memory_dir() { echo "$memory/n$1"; }
pid_file() { echo "$data/n$1/cairnd.pid"; }
log_file() { echo "$data/n$1/cairnd.log"; }

all_clients() {
    local out="" id
    for id in "${nodes[@]}"; do out="$out${out:+,}$(client_addr "$id")"; done
    echo "$out"
}

initial_cluster() {
    local out="" id
    for id in "${nodes[@]}"; do out="$out${out:+,}$id=$(peer_addr "$id")"; done
    echo "$out"
}

# --- building ---------------------------------------------------------

# Whether a source file is newer than REF (a file).
sources_newer_than() {
    local d found
    for d in CMakeLists.txt cmake client consensus node storage tests; do
        [ -e "$top/$d" ] || continue
        found=$(find "$top/$d" -type f \( -name '*.c' -o -name '*.h' -o -name '*.txt' \
            -o -name '*.cmake' -o -name '*.in' \) -newer "$1" -print -quit 2>/dev/null)
        [ -z "$found" ] || return 0
    done
    return 1
}

needs_build() {
    [ -x "$bin/cairnd" ] || return 0
    [ -x "$bin/cairn" ] || [ -x "$bin/cairn-test-client" ] || return 0
    [ "$build_given" = 0 ] || return 1
    # The stamp marks the last build made here; without it, cairnd's age.
    local ref=$bin/cairnd
    [ ! -f "$build_dir/.local-cluster-built" ] || ref=$build_dir/.local-cluster-built
    sources_newer_than "$ref"
}

build() {
    local log=$build_dir/local-cluster-build.log
    echo "building cairn in $build_dir (log: $log)"
    bash "$top/deploy/install-deps.sh"
    mkdir -p "$build_dir"
    : >"$log"
    # A build dir given by CAIRN_BUILD_DIR keeps its own configuration.
    if [ "$build_given" = 0 ] || [ ! -f "$build_dir/CMakeCache.txt" ]; then
        cmake -S "$top" -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo >>"$log" 2>&1 || {
            tail -n 40 "$log" >&2
            die "cmake failed (log: $log)"
        }
    fi
    cmake --build "$build_dir" -j"$(nproc 2>/dev/null || echo 2)" >>"$log" 2>&1 || {
        grep -E 'error|Error' "$log" | tail -n 30 >&2 || true
        die "the build failed (log: $log)"
    }
    [ -x "$bin/cairnd" ] || die "the build made no $bin/cairnd"
    [ -x "$bin/cairn" ] || [ -x "$bin/cairn-test-client" ] ||
        die "the build made neither $bin/cairn nor $bin/cairn-test-client (configure with -DBUILD_TESTING=ON)"
    touch "$build_dir/.local-cluster-built"
}

# --- talking to the cluster --------------------------------------------

# cluster_status ADDR[,ADDR...]: the cluster status from the first node
# that answers. Prefers the cairn CLI; falls back to cairn-test-client.
cluster_status() {
    if [ -x "$bin/cairn" ]; then
        timeout 10 "$bin/cairn" --servers "$1" --timeout 3s cluster status
        return
    fi
    local a
    local -a addrs
    IFS=, read -r -a addrs <<<"$1"
    for a in "${addrs[@]}"; do
        timeout 10 "$bin/cairn-test-client" --addr "$a" --timeout-ms 2000 status 2>/dev/null && return 0
    done
    return 3
}

# cluster_answers ADDR[,ADDR...]: a node answers the cluster status and
# lists all three nodes.
cluster_answers() {
    local out id
    out=$(cluster_status "$1" 2>/dev/null) || return 1
    for id in "${nodes[@]}"; do
        grep -qw "n$id" <<<"$out" || return 1
    done
}

# node_answers ID: node ID answers the cluster status on its own address.
# A port that refuses connections is not asked (the CLI would retry it).
node_answers() {
    port_in_use $((base + $1)) || return 1
    cluster_status "$(client_addr "$1")" >/dev/null 2>&1
}

# --- processes ---------------------------------------------------------

# running_pid ID: print the PID of node ID's cairnd and succeed if its PID
# file names a live cairnd process running on node ID's data directory
# (so a recycled PID is never taken for the node).
running_pid() {
    local f pid exe dir arg prev=""
    f=$(pid_file "$1")
    [ -f "$f" ] || return 1
    pid=$(head -n 1 "$f" 2>/dev/null) || return 1
    case $pid in '' | *[!0-9]*) return 1 ;; esac
    exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
    exe=${exe% (deleted)}
    [ "$(basename "$exe")" = cairnd ] || return 1
    dir=$(node_dir "$1")
    while IFS= read -r -d '' arg; do
        if [ "$prev" = --data-dir ] && [ "$arg" = "$dir" ]; then
            echo "$pid"
            return 0
        fi
        prev=$arg
    done 2>/dev/null <"/proc/$pid/cmdline"
    return 1
}

# proc_alive PID: the process exists and is not a zombie.
proc_alive() {
    local st=""
    { read -r _ _ st _ <"/proc/$1/stat"; } 2>/dev/null || return 1
    [ "$st" != Z ]
}

# Milliseconds of wall clock ($SECONDS counts whole seconds only).
now_ms() {
    local t=${EPOCHREALTIME//[!0-9]/}
    echo $((10#$t / 1000))
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# check_ports ID: node ID's ports are free (nothing accepts connections).
check_ports() {
    local p
    for p in $((base + $1)) $((base + 100 + $1)) $((base + 200 + $1)); do
        ! port_in_use "$p" ||
            die "port $p (for n$1) is in use by another process: stop it, or use other ports with CAIRN_LOCAL_PORT_BASE and another CAIRN_DATA"
    done
}

start_node() {
    local id=$1 dir
    dir=$(node_dir "$id")
    mkdir -p "$dir" "$memory"
    echo "starting n$id (client $(client_addr "$id"), log $(log_file "$id"))"
    # setsid: the node outlives this script and the terminal's signals.
    # 9>&-: the node must not hold our lock.
    setsid "$bin/cairnd" --id "$id" --name "n$id" --cluster "$cluster_name" \
        --data-dir "$dir" --memory-dir "$(memory_dir "$id")" \
        --client-listen "$(client_addr "$id")" \
        --peer-listen "$(peer_addr "$id")" \
        --http-listen "$(http_addr "$id")" \
        --tag "zone:${zones[$id]}" \
        --initial-cluster "$(initial_cluster)" \
        </dev/null >>"$(log_file "$id")" 2>&1 9>&- &
    echo $! >"$(pid_file "$id")"
}

# The last log lines of each node (or of the nodes given).
show_logs() {
    local id n=${1:-40}
    shift || true
    for id in "$@"; do
        echo "--- n$id: $(log_file "$id")"
        tail -n "$n" "$(log_file "$id")" 2>/dev/null || echo "(no log)"
    done
}

# Serialize start and stop on one data root.
lock_data() {
    mkdir -p "$data"
    exec 9>"$data/local-cluster.lock"
    flock -w 120 9 || die "another $prog holds $data/local-cluster.lock"
}

cmd_start() {
    local i id pid deadline started=() started_pids=()
    if needs_build; then build; fi
    lock_data
    [ -f "$data/ports.conf" ] || echo "base=$base" >"$data/ports.conf"
    for id in "${nodes[@]}"; do
        if pid=$(running_pid "$id"); then
            echo "n$id is running (pid $pid)"
        else
            rm -f "$(pid_file "$id")"
            check_ports "$id"
            started+=("$id")
        fi
    done
    for id in "${started[@]}"; do
        start_node "$id"
        started_pids+=("$(cat "$(pid_file "$id")")")
    done
    echo "waiting for the cluster to answer (up to ${start_timeout}s)"
    deadline=$(($(now_ms) + start_timeout * 1000))
    until cluster_answers "$(all_clients)" && all_started_answer "${started[@]}"; do
        for i in "${!started[@]}"; do
            proc_alive "${started_pids[$i]}" || {
                id=${started[$i]}
                rm -f "$(pid_file "$id")"
                show_logs 30 "$id" >&2
                die "n$id exited during start (log above: $(log_file "$id")); nodes that run keep running ('$prog stop' stops them)"
            }
        done
        if [ "$(now_ms)" -ge $deadline ]; then
            show_logs 20 "${nodes[@]}" >&2
            die "the cluster did not answer within ${start_timeout}s (logs above); the nodes keep running ('$prog stop' stops them)"
        fi
        sleep 0.3
    done
    for id in "${nodes[@]}"; do
        running_pid "$id" >/dev/null || die "n$id answers, but its PID file $(pid_file "$id") names no cairnd of it"
    done
    cmd_status || true
    how_to
}

# all_started_answer ID...: each node just started answers on its address.
all_started_answer() {
    local id
    for id in "$@"; do node_answers "$id" || return 1; done
}

how_to() {
    local servers cli
    servers=$(all_clients)
    cli=$bin/cairn
    case $cli in "$PWD"/*) cli=${cli#"$PWD"/} ;; esac
    cat <<EOF

The cluster runs. Use it with the cairn CLI:
  export CAIRN_SERVERS=$servers
  $cli bucket add config --replicas 3
  $cli put config db.url postgres://db.example:5432/app
  $cli get config db.url
  $cli cluster status
Status:  $0 status
Stop:    $0 stop        (start again: $0 start; the data stays)
Logs:    $data/n{1,2,3}/cairnd.log  ($0 logs [n1|n2|n3])
Data:    $data  (remove it after stop for a fresh cluster)
Memory:  $memory  (memory buckets: kept by stop, lost at reboot)
EOF
    if [ ! -x "$bin/cairn" ]; then
        echo "(The cairn CLI is not built yet: $bin/cairn. Meanwhile:"
        echo " $bin/cairn-test-client --addr $(client_addr 1) --follow put|get|status ...)"
    fi
}

# stop_node ID: SIGTERM, wait up to stop_timeout, then SIGKILL.
stop_node() {
    local id=$1 pid deadline
    if ! pid=$(running_pid "$id"); then
        rm -f "$(pid_file "$id")"
        return 0
    fi
    echo "stopping n$id (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$(($(now_ms) + stop_timeout * 1000))
    while running_pid "$id" >/dev/null; do
        if [ "$(now_ms)" -ge $deadline ]; then
            echo "n$id did not stop within ${stop_timeout}s: SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null || true
            sleep 0.2
            break
        fi
        sleep 0.1
    done
    rm -f "$(pid_file "$id")"
}

cmd_stop() {
    local id
    [ -d "$data" ] || {
        echo "nothing to stop: no $data"
        return 0
    }
    lock_data
    for id in "${nodes[@]}"; do stop_node "$id"; done
    echo "stopped (data kept in $data)"
}

cmd_status() {
    local id pid state answers rc=0
    printf '%-5s %-16s %-8s %-8s %s\n' node client pid state answers
    for id in "${nodes[@]}"; do
        if pid=$(running_pid "$id"); then state=running; else
            pid=- state=stopped rc=1
        fi
        if [ ! -x "$bin/cairn" ] && [ ! -x "$bin/cairn-test-client" ]; then
            answers="unknown (no $bin/cairn or cairn-test-client)" rc=1
        elif node_answers "$id"; then answers=answers; else
            answers="does not answer" rc=1
        fi
        printf '%-5s %-16s %-8s %-8s %s\n' "n$id" "$(client_addr "$id")" "$pid" "$state" "$answers"
    done
    return $rc
}

cmd_logs() {
    case ${1:-} in
        '') show_logs 40 "${nodes[@]}" ;;
        n[1-3] | [1-3]) show_logs 100 "${1#n}" ;;
        *)
            echo "$prog: logs: unknown node '$1' (n1, n2 or n3)" >&2
            exit 2
            ;;
    esac
}

cmd=${1:-}
case $cmd in
    start | stop | restart | status) [ $# -eq 1 ] || {
        usage >&2
        exit 2
    } ;;
    logs) [ $# -le 2 ] || {
        usage >&2
        exit 2
    } ;;
    -h | --help | help)
        usage
        exit 0
        ;;
    *)
        usage >&2
        exit 2
        ;;
esac

port_base
case $cmd in
    start) cmd_start ;;
    stop) cmd_stop ;;
    restart)
        cmd_stop
        cmd_start
        ;;
    status) cmd_status ;;
    logs) cmd_logs "${2:-}" ;;
esac
