#!/usr/bin/env bash
# Replace a dead box (docs/operations.md, "Replace a dead box"), under a recorded kv load:
# three durable paxwired replicas over kernel UDP, authentication on. kill -9 a follower
# (it stays dead: its box is gone); start a fresh replica with a NEW id on a new port
# (paxwired --join, an empty data dir, a [replica.5] section added to the file); pwctl
# replace-member OLD 5 IP:PORT adds it, waits until the leader promoted it to voter, and
# removes the dead one. Checks: pwctl exits 0; the voters are the two survivors and 5;
# the new replica applies up to the leader's commit point; the history is
# linearizable; the three members stop in the same state.
DURABILITY=durable
. "$(dirname "$0")/lib.sh" "$1"

write_config 3
for i in 0 1 2; do start_replica "$i" --bootstrap; done
L=$(wait_leader 10) || fail "no leader within 10 s"
say "leader is $L"
start_load 4 10 16
sleep 1
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
L2=$(wait_leader 10) || fail "no leader after the replacement"
finish_load_and_check 5 "$L2"
# shellcheck disable=SC2086  # KEEP is a list of ids
stop_ids_and_compare $KEEP
echo "1 passed, 0 failed"
