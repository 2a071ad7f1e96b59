#!/usr/bin/env bash
# The counter plugin in a real cluster: three paxwired replicas over kernel UDP with
# service = counter and service_lib = the plugin. Commands go through the client
# library (pwcount: pw_execute). Kill -9 the leader while a client keeps adding; a new
# leader takes over; restart the killed one (memory mode: it recovers from the others
# before voting) and let it catch up. Then: every counter holds what the acknowledged
# ADDs sum to (and the concurrent one something between its acknowledged ADDs and
# those plus the unknown ones), and the replicas agree: stopped followers first, then
# the leader, their final lines carry the same applied slot, apply_chain and
# service_hash. Before all that, paxwired must refuse a bad service parameter, a name
# the plugin does not hold, and a plugin built for another ABI version.
# Usage: counter_cluster.sh BUILD_DIR
. "$(dirname "$0")/../../tests/cluster/lib.sh" "$1"

LIB=$BUILD/examples/counter/libpwcounter.so
PWCOUNT=$BUILD/examples/counter/pwcount
BAD_ABI=$BUILD/tests/services/libsvctest_bad_abi.so
[ -f "$LIB" ] || fail "no plugin at $LIB (ninja -C $BUILD)"

write_config 3
# lib.sh writes a kv cluster: make it a counter cluster.
sed -i "s|^service = kv\$|service = counter\nservice_lib = $LIB|" "$CONFIG"
printf '[service.counter]\ncounters = 64\nname_bytes = 16\n' >> "$CONFIG"
grep -q "^service_lib = $LIB\$" "$CONFIG" || fail "could not edit $CONFIG"

# expect_refusal FILE WHAT: paxwired exits 1 at start-up with one line containing WHAT.
expect_refusal() {
	local out rc=0
	out=$("$PAXWIRED" --config "$1" --id 0 --bootstrap 2>&1) || rc=$?
	[ "$rc" -eq 1 ] || fail "paxwired exited $rc, not 1, for: $2 (output: $out)"
	[ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] || fail "more than one line: $out"
	case "$out" in *"$2"*) ;; *) fail "paxwired said '$out'; expected '$2'" ;; esac
	say "refused: $out"
}
bad=$TMP/bad.ini
sed 's/^name_bytes = 16$/name_bits = 16/' "$CONFIG" > "$bad"
line=$(grep -n '^name_bits' "$bad" | cut -d: -f1)
expect_refusal "$bad" "$bad:$line: unknown key 'name_bits' in [service.counter] (service counter); fix: use one of counters, name_bytes"
sed 's/^service = counter$/service = counters/; s/^\[service.counter\]$/[service.counters]/' "$CONFIG" > "$bad"
expect_refusal "$bad" "holds service 'counter', not 'counters'; fix: service = counter"
if [ -f "$BAD_ABI" ]; then
	sed "s|^service_lib = .*|service_lib = $BAD_ABI|; s/^service = counter$/service = echo/; s/^\[service.counter\]$/[service.echo]/" "$CONFIG" > "$bad"
	expect_refusal "$bad" "built for service ABI version 3, this paxwired runs version 2 (the plugin is newer); fix: rebuild the plugin"
fi

# count ARGS...: pwcount against the cluster; prints the value; returns its exit code.
count() { "$PWCOUNT" --config "$CONFIG" --timeout 5000 "$@"; }
# must ARGS...: count, which must succeed.
must() { count "$@" || fail "pwcount $* failed ($?)"; }
# expect NAME VALUE: a linearizable read of counter NAME gives VALUE.
expect() {
	local v; v=$(must get "$1")
	[ "$v" = "$2" ] || fail "counter $1 is $v, expected $2"
}

for i in 0 1 2; do start_replica "$i" --bootstrap; done
L=$(wait_leader 10) || fail "no leader within 10 s"
say "leader is $L"
grep -q "service counter (plugin $LIB)" "$TMP/replica$L.log" ||
	fail "the start-up line does not name the plugin"

# A client that keeps adding 1 to "load" across the leader's death: it records each
# outcome (0 applied, 2 unknown; anything else is a failure) until told to stop.
loader() {
	while [ ! -e "$TMP/stop-load" ]; do
		local rc=0
		count add load > /dev/null 2>> "$TMP/load.log" || rc=$?
		echo "$rc" >> "$TMP/load.rc"
	done
}
LOADER=""
# On any exit: the loop and the pwcount it may be running (by their ids).
stop_loader() {
	[ -n "$LOADER" ] || return 0
	touch "$TMP/stop-load"
	kill -STOP "$LOADER" 2>/dev/null || true
	pkill -9 -P "$LOADER" 2>/dev/null || true
	kill -9 "$LOADER" 2>/dev/null || true
	kill -CONT "$LOADER" 2>/dev/null || true
}
EXTRA_CLEANUP=stop_loader
loader &
LOADER=$!

a=0; b=0
for i in $(seq 1 10); do
	v=$(must add a); a=$((a + 1)); [ "$v" = "$a" ] || fail "add a gave $v, expected $a"
	v=$(must add b "$i"); b=$((b + i)); [ "$v" = "$b" ] || fail "add b $i gave $v, expected $b"
done
v=$(must add b -100); b=$((b - 100)); [ "$v" = "$b" ] || fail "add b -100 gave $v"
expect a 10
expect b "$b"
rc=0; count get never > /dev/null 2>&1 || rc=$?
[ "$rc" -eq 1 ] || fail "get of a counter never added: exit $rc, expected 1 (not found)"

L=$(wait_leader 5) || fail "no leader"
say "kill -9 leader $L (a client is adding meanwhile)"
kill -9 "${PIDS[$L]}"
t0=$(date +%s%N)
L2=$(wait_leader 10 "$L") || fail "no new leader within 10 s of killing $L"
say "new leader $L2 after $(( ($(date +%s%N) - t0) / 1000000 )) ms"
for i in $(seq 1 10); do must add a > /dev/null; a=$((a + 1)); done
expect a "$a"

say "restart $L (no --bootstrap: it recovers)"
start_replica "$L"
for _ in $(seq 1 100); do
	grep -q '"recoveries_completed":1' "$TMP/replica$L.log" && break
	sleep 0.1
done
grep -q '"recoveries_completed":1' "$TMP/replica$L.log" || fail "replica $L did not recover"
v=$(must add a 5); a=$((a + 5)); [ "$v" = "$a" ] || fail "add a 5 gave $v, expected $a"

touch "$TMP/stop-load"
wait "$LOADER" || true
LOADER=""
ok=$(grep -c '^0$' "$TMP/load.rc" || true)
unknown=$(grep -c '^2$' "$TMP/load.rc" || true)
other=$(grep -vc '^[02]$' "$TMP/load.rc" || true)
[ "$other" -eq 0 ] || fail "the adding client failed $other times: $(tail -n 3 "$TMP/load.log")"
load=$(must get load)
say "load: $ok adds acknowledged, $unknown unknown; the counter holds $load"
[ "$ok" -gt 0 ] || fail "no add of the concurrent client succeeded"
[ "$load" -ge "$ok" ] && [ "$load" -le $((ok + unknown)) ] ||
	fail "load = $load, outside [$ok, $((ok + unknown))]: an add was lost or applied twice"
expect a "$a"
expect b "$b"

# Every replica applied the leader's commit point.
L3=$(wait_leader 5) || fail "no leader at the end"
for _ in $(seq 1 100); do
	c=$(stat_of "$L3" commit); behind=0
	for i in 0 1 2; do
		ap=$(stat_of "$i" applied)
		[ -n "$c" ] && [ -n "$ap" ] && [ "$ap" -ge "$c" ] || behind=1
	done
	[ "$behind" -eq 0 ] && break
	sleep 0.1
done
[ "$behind" -eq 0 ] || fail "a replica did not apply the leader's commit $c"

# Stop the followers, then the leader (alone, it can commit nothing more), and compare
# their final lines.
stop() {   # stop I: SIGTERM replica I and wait until it is gone (it was disowned)
	local p=${PIDS[$1]}
	kill -TERM "$p"
	for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.05; done
	fail "replica $1 did not stop within 5 s of SIGTERM"
}
for i in 0 1 2; do
	[ "$i" = "$L3" ] || stop "$i"
done
stop "$L3"
final() {   # final I FIELD: FIELD of replica I's final counters line
	grep '"final":true' "$TMP/replica$1.log" | tail -n 1 | grep -o "\"$2\":[0-9]*" | head -n 1 |
		cut -d: -f2
}
ref=""
for i in 0 1 2; do
	got="$(final "$i" applied)/$(final "$i" apply_chain)/$(final "$i" service_hash)"
	say "replica $i: applied/apply_chain/service_hash = $got"
	case "$got" in /*|*//*|*/) fail "replica $i has no final line with those fields" ;; esac
	[ -z "$ref" ] && ref=$got
	[ "$got" = "$ref" ] || fail "replica $i disagrees: $got, replica 0: $ref"
done
echo "1 passed, 0 failed"
