#!/usr/bin/env bash
# Replace a dead box (docs/operations.md, "Replace a dead box"), under a recorded kv load:
# three durable paxwired replicas over kernel UDP, authentication on. kill -9 a follower
# (it stays dead: its box is gone); start a fresh replica with a NEW id on a new port
# (paxwired --join, an empty data dir, a [replica.5] section added to the file); pwctl
# replace-member OLD 5 IP:PORT adds it, waits until the leader promoted it to voter, and
# removes the dead one. The window is small (512 slots), so that the log has moved past
# it when 5 joins: it gets the state by state transfer (a snapshot), as on any cluster
# that ran a while (cluster-members-grow-shrink covers a joiner caught up from slot 1).
# Then 5 restarts without --join, from its data dir. Checks: pwctl exits 0; the voters
# are the two survivors and 5; 5 installed a snapshot, restarted from its data dir and
# applies up to the leader's commit point; the history is linearizable; the three
# members stop in the same state.
DURABILITY=durable
. "$(dirname "$0")/lib.sh" "$1"

write_config 3
sed -i 's/^window_slots = .*/window_slots = 512/' "$CONFIG"
for i in 0 1 2; do start_replica "$i" --bootstrap; done
L=$(wait_leader 10) || fail "no leader within 10 s"
say "leader is $L"
start_load 4 10 16
# Past the window: a joiner cannot get the log from slot 1.
for _ in $(seq 1 100); do [ "$(stat_of "$L" commit)" -gt 1200 ] 2>/dev/null && break; sleep 0.1; done
DEAD=$(( (L + 1) % 3 ))
say "kill -9 follower $DEAD (its box is gone for good)"
kill -9 "${PIDS[$DEAD]}"
wait_gone "${PIDS[$DEAD]}"
add_section 5
start_replica 5 --join
t0=$(date +%s%N)
"$PWCTL" --config "$CONFIG" replace-member "$DEAD" 5 "$(addr_of 5)" --wait 20000 ||
	fail "pwctl replace-member $DEAD 5"
say "replace-member took $(( ($(date +%s%N) - t0) / 1000000 )) ms"
KEEP=$(for i in 0 1 2 5; do [ "$i" != "$DEAD" ] && echo "$i"; done | tr '\n' ' ')
v=$(voters); say "voters: $v"
[ "$v " = "$KEEP" ] || fail "voters are '$v', not $KEEP"
[ -e "/proc/${PIDS[$DEAD]}" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/${PIDS[$DEAD]}/status" &&
	fail "replica $DEAD runs again"
grep -q "state transfer: installed the snapshot" "$TMP/replica5.log" ||
	fail "replica 5 did not install a snapshot (it should have needed one)"
say "replica 5: $(grep -o "state transfer: installed.*" "$TMP/replica5.log" | head -n 1)"
# A replica that joined restarts like any other: without --join, from its data dir (the
# snapshot it fetched, its journal above it), knowing the membership.
say "restart replica 5 (no --join)"
kill -TERM "${PIDS[5]}"
wait_gone "${PIDS[5]}"
start_replica 5
L2=$(wait_leader 10) || fail "no leader after the replacement"
finish_load_and_check 5 "$L2"
grep -q "restored: applied" "$TMP/replica5.log" || fail "replica 5 did not restart from its data dir"
v=$(voters)
[ "$v " = "$KEEP" ] || fail "voters are '$v' after replica 5's restart, not $KEEP"
# shellcheck disable=SC2086  # KEEP is a list of ids
stop_ids_and_compare $KEEP
echo "1 passed, 0 failed"
