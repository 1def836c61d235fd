#!/usr/bin/env bash
# Watches across a leader crash, through the `cairn` CLI, on three real
# cairnd nodes and a bucket with three replicas:
#  - watchers of a prefix, of the whole bucket and of one key, from
#    revision 1, on different nodes (one of them on the bucket's leader),
#    and a watcher of the current values, run while a writer puts and
#    deletes keys; the bucket's leader is killed with SIGKILL mid-stream and
#    started again. Every watcher's revisions are exactly the bucket's
#    history of what it follows (strictly increasing, no gap, no
#    duplicate), with one "synced" marker; the current-values watcher ends
#    with the bucket's state. SIGINT ends a watcher with exit 0.
#  - a watch from a revision the bucket no longer keeps is refused with
#    "revision 1 is no longer kept; oldest is N" (exit 4).
#  - a watcher that stops reading (SIGSTOP) while 32 MiB are written: its
#    node cuts it off with a reason in its log instead of buffering it all
#    (its memory stays well below what was written), and once it reads
#    again the watcher still gets every revision exactly once.
#  - cairn-watch-api (watch_api.c) on a fresh bucket: libcairn's callback
#    watches, cairn_watch_cancel() from a callback and from another thread,
#    the iterator's timeout and end, and the errors of cairn_watch_open().
# Usage: test_watch.sh PATH/TO/cairnd PATH/TO/cairn PATH/TO/cairn-test-client
#                      PATH/TO/cairn-watch-api
cairnd=$1
cairn=$2
client=$3
watch_api=$4
node_flags=(--expire-interval-ms 200)
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/cli_lib.sh"


# watcher NAME ID ARGS...: `cairn --json watch ARGS...` against node ID in
# the background, its output in $work/NAME.out; its pid in wpid[NAME].
declare -A wpid=()
watcher() {
    local name=$1 id=$2
    shift 2
    # cairn itself, not a subshell running on(): the signals go to it.
    "$cairn" --servers "$(caddr "$id")" --json watch "$@" \
        >"$work/$name.out" 2>"$work/$name.err" &
    wpid[$name]=$!
    bg_pids+=("$!")
}

# events NAME: how many events watcher NAME printed.
events() { grep -c '"operation"' "$work/$1.out" || true; }

# revs NAME: the revisions watcher NAME printed, one per line.
revs() { jq -r 'select(.operation) | .revision' "$work/$1.out"; }

# stop_watcher NAME: SIGINT, then it must exit 0.
stop_watcher() {
    local rc=0
    kill -INT "${wpid[$1]}"
    wait "${wpid[$1]}" || rc=$?
    [ $rc -eq 0 ] || fail "watcher $1 exited $rc after SIGINT: $(cat "$work/$1.err")"
}

# leader_of BUCKET: the id of the node leading BUCKET.
leader_of() {
    "$cairn" --servers "$all" --json cluster status |
        jq -r --arg b "$1" '.buckets[] | select(.name == $b) | .leader // empty'
}

# history_revs BUCKET KEY...: every kept revision of the keys, sorted.
history_revs() {
    local b=$1 k
    shift
    for k in "$@"; do
        "$cairn" --servers "$all" --json history "$b" "$k" 2>/dev/null |
            jq -r '.history[].revision' || true
    done | sort -n
}

echo "1. three nodes; bucket w (3 replicas, history 64)"
start_three
run 0 bucket add w --replicas 3 --history 64
eventually 20 sh -c "[ -n \"\$('$cairn' --servers '$all' --json cluster status |
    jq -r '.buckets[] | select(.name == \"w\") | .leader // empty')\" ]" ||
    fail "bucket w has no leader"
leader=$(leader_of w)
others=()
for id in 1 2 3; do [ "$id" = "$leader" ] || others+=("$id"); done
echo "   leader of w: node $leader"
run 0 put w p/k0 first
run 0 put w o/x first

echo "2. watchers on every node, one of them on the leader"
watcher prefix "$leader" w 'p/*' --from 1
watcher all "${others[0]}" w --from 1
watcher key "${others[1]}" w p/k1 --from 1
watcher current "$leader" w 'p/*'
eventually 10 sh -c "grep -q synced '$work/prefix.out' && grep -q synced '$work/all.out' &&
    grep -q synced '$work/key.out' && grep -q synced '$work/current.out'" ||
    fail "a watcher never got its initial data: $(cat "$work"/*.err)"

echo "3. a writer puts and deletes; the leader is killed mid-stream and restarted"
writes() { # FROM TO
    local i k
    for ((i = $1; i <= $2; i++)); do
        k="p/k$((i % 6))"
        if ((i % 7 == 0)); then
            "$cairn" --servers "$all" del w "$k" >/dev/null 2>&1 || true
        elif ((i % 5 == 0)); then
            "$cairn" --servers "$all" put w o/x "v$i" >/dev/null 2>&1 || true
        else
            "$cairn" --servers "$all" put w "$k" "v$i" >/dev/null 2>&1 || true
        fi
    done
}
writes 1 40
stop "$leader" KILL || true
echo "   node $leader killed"
writes 41 80
start "$leader"
writes 81 120
# The last write's own revision: acknowledged, so every later read sees it.
last=$("$cairn" --servers "$all" --json put w o/x last | jq .revision)
echo "   last revision: $last"
[ "$last" -gt 60 ] || fail "only $last revisions were written"

echo "4. every watcher saw exactly the history of what it follows"
keys=(p/k0 p/k1 p/k2 p/k3 p/k4 p/k5)
want_prefix=$(history_revs w "${keys[@]}")
want_all=$(history_revs w "${keys[@]}" o/x)
want_key=$(history_revs w p/k1)
[ "$(wc -l <<<"$want_all")" -eq "$last" ] ||
    fail "the bucket's history has $(wc -l <<<"$want_all") revisions, want $last"
n_prefix=$(wc -l <<<"$want_prefix")
n_key=$(wc -l <<<"$want_key")
eventually 30 sh -c "[ \$(grep -c '\"operation\"' '$work/prefix.out') -ge $n_prefix ] &&
    [ \$(grep -c '\"operation\"' '$work/all.out') -ge $last ] &&
    [ \$(grep -c '\"operation\"' '$work/key.out') -ge $n_key ]" ||
    fail "watchers behind: prefix $(events prefix)/$n_prefix all $(events all)/$last key $(events key)/$n_key"
sleep 1 # anything extra (a duplicate) would arrive by now
for name in prefix all key current; do
    stop_watcher "$name"
    [ "$(grep -c '"synced"' "$work/$name.out")" -eq 1 ] ||
        fail "watcher $name: $(grep -c '"synced"' "$work/$name.out") synced markers"
done
[ "$(revs prefix)" = "$want_prefix" ] ||
    fail "prefix watcher: $(diff <(revs prefix) <(echo "$want_prefix") | head -n 20)"
[ "$(revs all)" = "$want_all" ] ||
    fail "bucket watcher: $(diff <(revs all) <(echo "$want_all") | head -n 20)"
[ "$(revs key)" = "$want_key" ] ||
    fail "key watcher: $(diff <(revs key) <(echo "$want_key") | head -n 20)"
jq -e 'select(.operation) | select(.key | startswith("p/") | not)' \
    "$work/prefix.out" >/dev/null && fail "the prefix watcher got another key"
# The current-values watcher: strictly increasing revisions, and replaying
# its events leaves the bucket's state.
revs current | awk 'NR > 1 && $1 <= prev { exit 1 } { prev = $1 }' ||
    fail "current-values watcher: revisions out of order: $(revs current | tr '\n' ' ')"
got=$(jq -r -s '[.[] | select(.operation)] | reduce .[] as $e ({};
        .[$e.key] = (if $e.operation == "PUT" then $e.value else null end)) |
        to_entries | map(select(.value != null)) | sort_by(.key) |
        map("\(.key)=\(.value)") | .[]' "$work/current.out")
want=$("$cairn" --servers "$all" --json ls w --prefix p/ |
    jq -r '.entries | sort_by(.key) | map("\(.key)=\(.value)") | .[]')
[ "$got" = "$want" ] || fail "current-values watcher ends at: $got; the bucket holds: $want"
echo "   prefix $(events prefix), bucket $(events all), key $(events key), current $(events current) events"

echo "5. a watch from a revision no longer kept is refused by name"
run 0 bucket add c --replicas 3 --ttl 1s
run 0 put c k v
run 0 del c k
compacted() { [ "$("$cairn" --servers "$all" --json bucket info c | jq .compacted)" -ge 2 ]; }
eventually 20 compacted || fail "bucket c never compacted its DEL marker"
run 0 put c k2 v2
run 4 watch c --from 1
has "$err" "revision 1 is no longer kept; oldest is 3" "watch c --from 1"
run 0 --json watch c --from 3 --count 1
# (the replica serving it may mark "synced" before it applied k2)
[ "$(jq -r 'select(.operation) | .key' <<<"$out")" = k2 ] ||
    fail "watch c --from 3: $out"
run 1 watch nosuchbucket
has "$err" "not found" "watch nosuchbucket"

echo "6. a watcher that stops reading is cut off, then resumes with nothing lost"
run 0 bucket add big --replicas 3 --history 1
head -c 524288 /dev/zero | tr '\0' 'x' >"$work/value"
n_big=64
watcher slow 2 big --from 1 --count "$n_big"
eventually 10 grep -q synced "$work/slow.out" || fail "slow watcher not started"
kill -STOP "${wpid[slow]}"
rss() { awk '/^RssAnon/ { print $2 }' "/proc/${pids[$1]}/status"; }
for ((i = 0; i < n_big; i++)); do
    "$cairn" --servers "$all" put big "k$i" <"$work/value" >/dev/null ||
        fail "put big k$i"
done
# The library sends the watch to a replica of its choosing.
eventually 20 sh -c "grep -l 'watcher cut off' '$work'/n*.log" ||
    fail "no node cut the stopped watcher off"
cut=$(grep -l 'watcher cut off' "$work"/n*.log | head -n 1 | sed 's/.*n\([0-9]\)\.log/\1/')
other=$((cut % 3 + 1))
rss_cut=$(rss "$cut")
rss_other=$(rss "$other")
echo "   RssAnon: node $cut (serving the stopped watcher) ${rss_cut} KiB, node $other ${rss_other} KiB"
# 32 MiB were written; the watcher's node holds at most its 8 MiB bound
# more than a node that serves no watcher. (Not under AddressSanitizer: its
# quarantine keeps freed buffers resident.)
ldd "$cairnd" | grep -q libasan || [ $((rss_cut - rss_other)) -lt 16384 ] ||
    fail "node $cut grew $((rss_cut - rss_other)) KiB more than node $other with a stopped watcher"
kill -CONT "${wpid[slow]}"
rc=0
wait "${wpid[slow]}" || rc=$?
[ $rc -eq 0 ] || fail "slow watcher exited $rc: $(cat "$work/slow.err")"
[ "$(revs slow)" = "$(seq 1 "$n_big")" ] ||
    fail "slow watcher: $(diff <(revs slow) <(seq 1 "$n_big") | head -n 10)"

echo "7. the watch API: callbacks, cancellation, the iterator (cairn-watch-api)"
run 0 bucket add api --replicas 3 --history 8
rc=0
"$watch_api" "$all" api >"$work/watch_api.out" 2>&1 || rc=$?
sed 's/^/   /' "$work/watch_api.out"
[ $rc -eq 0 ] || fail "cairn-watch-api exited $rc"

echo "8. every node stops cleanly"
stop_all
echo "OK"
