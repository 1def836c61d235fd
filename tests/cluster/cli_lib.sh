# Helpers for tests that drive the cairn CLI, sourced after lib.sh by a
# script that sets $cairn (the CLI's path) and starts nodes 1..3.

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

# has TEXT PATTERN WHAT: fail unless TEXT has a line matching PATTERN.
has() { grep -q -- "$2" <<<"$1" || fail "$3: no '$2' in: $1"; }
