# Helpers for tests that drive the cairn CLI, sourced after lib.sh by a
# script that sets $cairn (the CLI's path); the nodes are 1..3 (start_three
# starts them).

command -v jq >/dev/null || fail "jq is missing (deploy/install-deps.sh installs it)"

all="$(caddr 1),$(caddr 2),$(caddr 3)"

# run EXPECTED_RC ARGS...: run cairn against every node; $out and $err get
# its stdout and stderr; fail unless it exits EXPECTED_RC.
run() {
    local want=$1 rc=0
    shift
    "$cairn" --servers "$all" "$@" >"$work/out" 2>"$work/err" || rc=$?
    out=$(cat "$work/out")
    err=$(cat "$work/err")
    [ "$rc" -eq "$want" ] ||
        fail "cairn $* exited $rc, want $want; stdout: $out; stderr: $err"
}

# json FILTER: evaluate jq FILTER (must be true) on $out, which must parse.
json() {
    jq -e . <<<"$out" >/dev/null || fail "not JSON: $out"
    jq -e "$1" <<<"$out" >/dev/null || fail "jq '$1' is not true for: $out"
}

# has TEXT PATTERN WHAT: fail unless TEXT has a line matching PATTERN.
has() { grep -q -- "$2" <<<"$1" || fail "$3: no '$2' in: $1"; }

# on ID ARGS...: cairn against node ID first (the library may still follow
# a redirect to another node).
on() {
    local id=$1
    shift
    "$cairn" --servers "$(caddr "$id")" "$@"
}

# start_three: start nodes 1..3 as a new cluster and wait until
# cluster status shows all three reachable.
start_three() {
    local initial id
    initial=$(initial_of 1 2 3)
    for id in 1 2 3; do start "$id" --initial-cluster "$initial"; done
    eventually 30 all_up || fail "cluster status never shows 3 reachable nodes"
}
all_up() {
    "$cairn" --servers "$all" --json cluster status |
        jq -e '[.nodes[] | select(.reachable)] | length == 3' >/dev/null
}
