#!/usr/bin/env bash
# The `cairn` CLI end to end against three real cairnd nodes: every command
# in human and --json form (each JSON output is checked with jq), the exit
# codes (1 negative answers, 2 usage errors, 3 cluster unavailable, 4 other
# errors) and their messages, $CAIRN_SERVERS, writes through a follower
# only, stale reads on every node, and exit 3 once every node is stopped.
# Usage: test_cli.sh PATH/TO/cairnd PATH/TO/cairn
cairnd=$1
cairn=$2
client=/bin/false # lib.sh's cairn-test-client helpers are not used here
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/cli_lib.sh"


echo "1. three nodes start; cluster status sees them all"
start_three
run 0 cluster status
has "$out" '^NODE  *NAME  *ROLE  *REACHABLE  *CLIENT  *PEER' "status header"
has "$out" "^2  *node2  *voter  *yes  *$(caddr 2)  *$(peer 2)" "status node 2"
run 0 --json cluster status
json '.nodes | length == 3'
json '[.nodes[].client] | sort == ["'"$(caddr 1)"'","'"$(caddr 2)"'","'"$(caddr 3)"'"]'
json '.nodes[0] | has("id") and has("name") and has("peer") and has("tags") and has("role")'

echo "2. bucket add, again (exit 1), impossible placement (exit 4), bad config (exit 2)"
run 0 bucket add b3 --replicas 3 --history 5 --description "cli test" \
    --metadata owner=ops --max-value-size 64KiB --ttl 0
has "$out" '^bucket b3 created$' "bucket add"
run 1 bucket add b3
has "$err" '^cairn: .*already exists' "bucket add existing"
run 4 bucket add ssd --replicas 3 --tag disk:ssd
has "$err" '^cairn: .*placement needs 3 nodes' "placement"
run 2 bucket add bad --history 65
has "$err" 'history 65' "bad history"
run 2 bucket add bad --storage tape
has "$err" "invalid --storage 'tape'" "bad storage"
run 2 bucket add bad --ttl 3parsecs
has "$err" "invalid --ttl '3parsecs'" "bad bucket ttl"
run 0 --json bucket add jb --storage memory --compression --replicas 1
json '.bucket == "jb" and (.created | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$"))'

echo "3. bucket ls and bucket info"
# bucket.list is answered from the catalog of whichever node is asked,
# which may lag the meta leader's for a moment.
listed() { "$cairn" --servers "$all" bucket ls | grep -qx "$1"; }
eventually 10 listed jb || fail "bucket ls never lists jb"
run 0 bucket ls
has "$out" '^b3$' "bucket ls"
has "$out" '^jb$' "bucket ls"
run 0 --json bucket ls
json '.buckets | index("b3") != null and index("jb") != null'
run 0 bucket info b3
has "$out" '^replicas:  *3$' "info replicas"
has "$out" '^history:  *5$' "info history"
has "$out" '^description:  *cli test$' "info description"
has "$out" '^metadata:  *owner=ops$' "info metadata"
has "$out" '^max_value_size:  *65536$' "info max_value_size"
has "$out" '^replica:  *node [123] ' "info replicas"
run 0 bucket info jb --json
json '.config.storage == "memory" and .config.compression == true and .config.tags == []'
run 0 --json bucket info b3
json '.name == "b3" and .config.replicas == 3 and .config.history == 5 and (.replicas | length == 3)'
run 1 bucket info nosuch
has "$err" "^cairn: .*bucket 'nosuch' not found" "info unknown bucket"

echo "4. put, get (human, --json, --details), stdin, binary values, ttl and metadata"
run 0 put b3 k1 v1
has "$out" '^revision [0-9][0-9]*$' "put"
rev1=${out#revision }
run 0 get b3 k1
[ "$out" = v1 ] || fail "get k1: $out"
run 0 --json get b3 k1
json '.bucket == "b3" and .key == "k1" and .value == "v1" and .operation == "PUT"'
json ".revision == $rev1 and .created_revision == $rev1 and .expires == null"
json '.updated | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$")'
printf 'line 1\nline 2' | "$cairn" --servers "$all" put b3 multi >/dev/null || fail "put from stdin"
run 0 get b3 multi
[ "$out" = "$(printf 'line 1\nline 2')" ] || fail "get multi: $out"
printf '\377\000\001' | "$cairn" --servers "$all" put b3 bin >/dev/null || fail "put binary"
run 0 --json get b3 bin
json '.value_b64 == "/wAB" and (has("value") | not)'
run 0 put b3 m v --ttl 1h --meta owner=me --meta env=prod --json
json '.revision > 0'
run 0 --json get b3 m
json '.meta == {"owner": "me", "env": "prod"} and .expires != null'
run 0 get b3 m --details
has "$out" '^meta: *{"owner":"me","env":"prod"}$' "get --details meta"
has "$out" '^expires: *20[0-9][0-9]-' "get --details expires"
has "$out" '^value: *v$' "get --details value"
run 0 put b3 empty ""
run 0 --json get b3 empty
json '.value == ""'
run 0 purge b3 empty
run 0 put b3 ключ значение
run 0 --json get b3 ключ
json '.key == "ключ" and .value == "значение"'
run 0 purge b3 ключ
run 0 put b3 dash -- -1
run 0 get b3 dash
[ "$out" = -1 ] || fail "get dash: $out"
run 2 put b3 k1 v --ttl 10parsecs
has "$err" "invalid --ttl '10parsecs'" "put bad ttl"
run 2 put b3 k1 v --meta novalue
has "$err" "invalid --meta 'novalue'" "put bad meta"
run 4 put b3 big "$(head -c 70000 /dev/zero | tr '\0' x)"
has "$err" '^cairn: ' "too large value"

echo "5. create, update, cas: conflicts exit 1 and name the current revision"
run 1 create b3 k1 x
has "$err" "^cairn: .*current revision $rev1" "create existing"
run 0 create b3 fresh v
run 0 update b3 k1 v2 "$rev1"
rev2=${out#revision }
run 1 update b3 k1 v3 "$rev1"
has "$err" "^cairn: .*current revision $rev2" "update stale revision"
run 2 update b3 k1 v3 notanumber
has "$err" "invalid REVISION 'notanumber'" "update bad revision"
run 0 cas b3 k1 v2 v3
rev3=${out#revision }
run 1 cas b3 k1 wrong v4
has "$err" "^cairn: .*current revision $rev3" "cas mismatch"
run 0 get b3 k1
[ "$out" = v3 ] || fail "get after cas: $out"
run 0 get b3 k1 --revision "$rev1"
[ "$out" = v1 ] || fail "get --revision $rev1: $out"

echo "6. history, keys, ls with pages and ranges"
run 0 history b3 k1
[ "$(wc -l <<<"$out")" = 3 ] || fail "history lines: $out"
has "$(head -n 1 <<<"$out")" "^$rev1	PUT	20[0-9-]*T[0-9:.]*Z	v1$" "history first line"
has "$(tail -n 1 <<<"$out")" "^$rev3	PUT	.*	v3$" "history last line"
run 0 --json history b3 k1
json '.bucket == "b3" and .key == "k1" and ([.history[].value] == ["v1", "v2", "v3"])'
run 0 keys b3
[ "$out" = "$(printf 'bin\ndash\nfresh\nk1\nm\nmulti')" ] || fail "keys: $out"
run 0 keys b3 --prefix m
[ "$out" = "$(printf 'm\nmulti')" ] || fail "keys --prefix m: $out"
run 0 --json keys b3 --prefix k
json '.bucket == "b3" and .keys == ["k1"]'
run 0 ls b3 --limit 2
[ "$(head -n 2 <<<"$out")" = "$(printf 'bin\t\\xff\\x00\\x01\ndash\t-1')" ] || fail "ls page 1: $out"
has "$out" '^# more: --cursor [0-9a-f][0-9a-f]*$' "ls page 1 cursor"
cursor=$(sed -n 's/^# more: --cursor //p' <<<"$out")
seen=$(head -n 2 <<<"$out" | cut -f 1)
while [ -n "$cursor" ]; do
    run 0 ls b3 --limit 2 --cursor "$cursor"
    seen="$seen"$'\n'"$(grep -v '^# more' <<<"$out" | cut -f 1)"
    cursor=$(sed -n 's/^# more: --cursor //p' <<<"$out")
done
[ "$seen" = "$(printf 'bin\ndash\nfresh\nk1\nm\nmulti')" ] || fail "ls pages: $seen"
run 0 ls b3 --start dash --end k1
[ "$out" = "$(printf 'dash\t-1\nfresh\tv')" ] || fail "ls --start --end: $out"
run 0 ls b3 --prefix mu
[ "$out" = "$(printf 'multi\tline 1\\nline 2')" ] || fail "ls --prefix: $out"
run 0 --json ls b3 --limit 3
json '.bucket == "b3" and (.entries | length == 3) and .more == true and (.cursor | type == "string")'
json '.entries[1].key == "dash" and .entries[1].value == "-1"'
cursor=$(jq -r .cursor <<<"$out")
run 0 --json ls b3 --cursor "$cursor"
json '[.entries[].key] == ["k1", "m", "multi"] and .more == false and .cursor == null'
run 2 ls b3 --prefix a --start b
has "$err" "cannot be combined" "ls --prefix --start"
run 2 ls b3 --cursor xyz
has "$err" "invalid --cursor 'xyz'" "ls bad cursor"
run 2 ls b3 --limit 0
has "$err" "invalid --limit '0'" "ls bad limit"

echo "7. del and purge; negative answers exit 1"
run 0 del b3 k1
has "$out" '^revision [0-9][0-9]*$' "del"
run 1 get b3 k1
has "$err" '^cairn: get b3/k1: ' "get deleted"
run 0 history b3 k1
has "$(tail -n 1 <<<"$out")" '^[0-9]*	DEL	' "history after del"
run 0 --json purge b3 multi
json '.revision > 0'
run 0 history b3 multi
[ "$(wc -l <<<"$out")" = 1 ] || fail "history after purge: $out"
has "$out" '^[0-9]*	PURGE	' "history after purge"
run 1 get b3 nokey
has "$err" '^cairn: get b3/nokey: ' "get missing key"
run 1 --json get b3 nokey
[ -z "$out" ] || fail "get missing key --json printed: $out"
run 1 get nosuch k
has "$err" "^cairn: .*bucket 'nosuch' not found" "get unknown bucket"
run 1 put nosuch k v
run 1 keys nosuch
run 1 del b3 nokey --revision 99999
run 1 bucket rm nosuch
has "$err" "^cairn: .*bucket 'nosuch' not found" "bucket rm unknown"

echo "8. usage errors exit 2"
run 2 --timeout 5x get b3 k1
has "$err" "invalid --timeout '5x'" "bad --timeout"
run 2 get b3 k1 --timeout 3q
has "$err" "invalid --timeout '3q'" "bad --timeout after the command"
run 2 frobnicate
has "$err" "no command 'frobnicate'" "unknown command"
run 2 bucket frobnicate
run 2 get b3 k1 --frobnicate
has "$err" "unknown option '--frobnicate'" "unknown option"
run 2 get b3
run 2 get b3 k1 extra
has "$err" "unexpected argument 'extra'" "extra argument"
run 2 get b3 k1 --revision
has "$err" "option '--revision' needs a value" "missing option value"
rc=0
"$cairn" --servers "nocolon" get b3 k1 2>"$work/err" || rc=$?
[ $rc -eq 2 ] || fail "bad --servers exited $rc: $(cat "$work/err")"

echo "9. \$CAIRN_SERVERS; a follower alone takes writes; stale reads on every node"
[ "$(CAIRN_SERVERS="$(caddr 2)" "$cairn" get b3 fresh)" = v ] || fail "CAIRN_SERVERS"
run 0 --json cluster status
json '.buckets[] | select(.name == "b3") | (.replicas | length == 3) and (.leader | type == "number")'
json '.buckets[] | select(.name == "b3") | [.replicas[].lag] | all(type == "number" and . >= 0)'
leader=$(jq '.buckets[] | select(.name == "b3") | .leader' <<<"$out")
follower=1
[ "$leader" != 1 ] || follower=2
echo "   leader of b3: node $leader; writing through node $follower only"
"$cairn" --servers "$(caddr "$follower")" put b3 via-follower yes >/dev/null ||
    fail "put through follower $follower"
"$cairn" --servers "$(caddr "$follower")" bucket add via-follower >/dev/null ||
    fail "bucket add through node $follower"
for id in 1 2 3; do
    eventually 20 sh -c "[ \"\$('$cairn' --servers $(caddr "$id") get b3 via-follower --stale)\" = yes ]" ||
        fail "stale read on node $id"
done
run 0 cluster status
has "$out" "^b3  *$leader  *leader  *[0-9][0-9]*  *0$" "status leader row"
has "$out" "^BUCKET  *NODE  *ROLE  *APPLIED  *LAG$" "status bucket header"

echo "10. bucket rm"
run 0 bucket rm jb
has "$out" '^bucket jb deleted$' "bucket rm"
run 0 --json bucket rm via-follower
json '.bucket == "via-follower" and .deleted == true'
unlisted() { ! listed "$1"; }
eventually 10 unlisted jb || fail "bucket ls still lists jb"
eventually 10 sh -c "'$cairn' --servers $all get jb k; [ \$? -eq 1 ]" ||
    fail "get from a deleted bucket does not exit 1"
run 1 get jb k
has "$err" "^cairn: .*bucket 'jb' not found" "get from a deleted bucket"

echo "11. every node stopped: exit 3"
stop_all
run 3 --timeout 2s get b3 fresh
has "$err" '^cairn: get b3/fresh: ' "unavailable get"
run 3 --timeout 1s bucket ls
run 3 --timeout 1s cluster status
run 3 --timeout 1s put b3 k v
echo "PASS"
