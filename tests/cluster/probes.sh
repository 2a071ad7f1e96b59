#!/usr/bin/env bash
# Probes write nothing (issue 15): pwctl status, leader, is-leader and members, run 50
# times each (with the admin key, and status, leader, is-leader with a client key), leave
# every member's commit point and applied slot where they were; one put afterwards
# moves them (so the figures compared are live ones). Three paxwired over kernel UDP,
# authenticated. Uses lib.sh, which stops everything it started on any exit.
. "$(dirname "$0")/lib.sh" "$1"

N=${PROBES:-50}
write_config 3
for i in 0 1 2; do start_replica $i --bootstrap; done
L=$(wait_leader 10) || fail "no leader within 10 s"
say "leader is $L"
"$PWCTL" --config "$CONFIG" put probe-key before >/dev/null || fail "put before the probes"

# points: "ID COMMIT APPLIED" for each member, from pwctl stats (an admin query; tried
# again on a miss: a loaded host may lose an answer)
points() {
	local i out
	for i in 1 2 3 4 5; do
		out=$("$PWCTL" --config "$CONFIG" stats 2>/dev/null) && break
		sleep 0.2
	done
	echo "$out" | python3 -c 'import json, sys
for line in sys.stdin:
    s = json.loads(line)
    print(s["id"], s["commit"], s["applied"])'
}
# ballots: each member's ballot (round.node): a leader change, which writes slots of its
# own (phase 1), shows here
ballots() {
	"$PWCTL" --config "$CONFIG" stats 2>/dev/null | python3 -c 'import json, sys
print(" ".join("%s.%s" % (s["ballot_round"], s["ballot_node"]) for s in map(json.loads, sys.stdin)))'
}
# settle: waits until the put is applied everywhere and nothing moves (two readings
# agree); sets before
settle() {
	before=""
	for _ in $(seq 1 50); do
		a=$(points) || fail "pwctl stats"
		sleep 0.2
		b=$(points) || fail "pwctl stats"
		if [ "$a" = "$b" ] && [ "$(echo "$a" | wc -l)" = 3 ] &&
		   [ "$(echo "$a" | awk '{print $2 "-" $3}' | sort -u | wc -l)" = 1 ]; then
			before=$a
			break
		fi
	done
	[ -n "$before" ] || fail "the members did not settle: $a / $b"
}

probe() {   # probe KEYFILE ARGS...: one pwctl run; 0, 1 and 2 are answers, 3 a failure
	local k=$1; shift
	set +e
	PAXWIRE_KEY_FILE=$k "$PWCTL" --config "$CONFIG" "$@" >/dev/null 2>"$TMP/probe.err"
	local rc=$?
	set -e
	[ $rc -le 2 ] || fail "pwctl $* exited $rc: $(cat "$TMP/probe.err")"
}
# probe_round: N of each probe (the admin key, and a client key's) between two readings
# of every member's commit point and applied slot; sets before, after, b0, b1 (the
# members' ballots before and after) and L, F (the leader and a follower then).
probe_round() {
	settle
	b0=$(ballots)
	L=$(wait_leader 10) || fail "no leader"
	F=$(( (L + 1) % 3 ))
	say "round $round: before the probes (id commit applied): $(echo $before); ballots $b0; leader $L"
	local t0; t0=$(date +%s%N)
	for _ in $(seq 1 "$N"); do
		probe "$ADMIN_KEY" status
		probe "$ADMIN_KEY" leader
		probe "$ADMIN_KEY" is-leader "$L"
		probe "$ADMIN_KEY" is-leader "$F"
		probe "$ADMIN_KEY" members
		probe "$CLIENT_KEY" status
		probe "$CLIENT_KEY" leader
		probe "$CLIENT_KEY" is-leader "$F"
	done
	say "$((N * 8)) probes in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
	after=$(points) || fail "pwctl stats after the probes"
	b1=$(ballots)
	say "after the probes  (id commit applied): $(echo $after); ballots $b1"
}
# A leader change during a round (a loaded host, ASan: heartbeats late) writes slots of
# its own (phase 1), no probe's: that round is run again, 3 rounds at most. The commit
# point or applied slot moving with every ballot unchanged fails at once.
for round in 1 2 3; do
	probe_round
	[ "$after" = "$before" ] && break
	[ -n "$b1" ] && [ "$b1" = "$b0" ] &&
		fail "the probes moved the log: before: $(echo $before); after: $(echo $after); the same ballots ($b0)"
	[ $round -lt 3 ] || fail "a leader change in each of 3 rounds: the host is too loaded to tell"
	say "a leader change during round $round (ballots $b0 -> $b1): again"
done
# The probes answered what they should: the leader leads, a follower does not.
L=$(wait_leader 10) || fail "no leader after the probes"
F=$(( (L + 1) % 3 ))
"$PWCTL" --config "$CONFIG" is-leader "$L" || fail "is-leader $L: not the leader"
set +e
"$PWCTL" --config "$CONFIG" is-leader "$F"; rc=$?
set -e
[ $rc = 1 ] || fail "is-leader $F exited $rc, want 1 (a follower)"
# A client key may probe; status then shows no commit / applied (an admin query).
PAXWIRE_KEY_FILE=$CLIENT_KEY "$PWCTL" --config "$CONFIG" status > "$TMP/status-client.txt" ||
	fail "status with a client key: $(cat "$TMP/status-client.txt")"
grep -q "leader" "$TMP/status-client.txt" || fail "status with a client key names no leader"
# ... and its admin queries were not sent: no replica logged a refused admin request.
! grep -h "refused: an admin request" "$TMP"/replica*.log || fail "a probe with a client key sent an admin query"

# The control: one write moves every member's commit point.
"$PWCTL" --config "$CONFIG" put probe-key after >/dev/null || fail "put after the probes"
for _ in $(seq 1 50); do
	moved=$(points)
	[ "$(echo "$moved" | awk -v b="$(echo "$before" | awk 'NR==1{print $2}')" '$2 > b' | wc -l)" = 3 ] && break
	sleep 0.1
done
say "after one put     (id commit applied): $(echo $moved)"
[ "$(echo "$moved" | awk -v b="$(echo "$before" | awk 'NR==1{print $2}')" '$2 > b' | wc -l)" = 3 ] ||
	fail "a put did not move the commit points: $(echo $moved)"
echo "1 passed, 0 failed"
