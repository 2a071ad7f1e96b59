#!/usr/bin/env bash
# A durable replica whose journal is damaged in the middle repairs from its peers
# (docs/storage.md, "Repair"). Three durable replicas under a recorded workload
# (pw-bench); one follower killed (-9), one byte flipped in the middle of its journal
# (not in its last record), restarted without --bootstrap. Then:
#   - it says loudly what was damaged (file, offset, why) and that it repairs from its
#     peers, and keeps every damaged file, byte for byte, in its data dir's damaged-1/;
#   - it completes the repair (the `repairing` file goes once its recovery wrote its
#     first records), applies again up to the leader's commit point, and the history
#     of the whole load is linearizable;
#   - the three stop with the same applied point, apply_chain and service_hash;
#   - restarted once more from their data dirs, the repaired one replays its new
#     journal like any replica (no second repair) and the cluster takes writes;
#   - a one-replica cluster (no peer to repair from) refuses a damaged journal, with
#     --bootstrap or without, says why and the fix, and leaves the journal untouched.
DURABILITY=durable
. "$(dirname "$0")/lib.sh" "$1"

write_config 3
for i in 0 1 2; do start_replica "$i" --bootstrap; done
L=$(wait_leader 10) || fail "no leader within 10 s"
F=$(( (L + 1) % 3 ))
say "leader is $L, follower $F will be damaged"

start_load 4 8 16
sleep 2
say "kill -9 follower $F under load"
kill -9 "${PIDS[$F]}"
wait_gone "${PIDS[$F]}"

SEG=$DATA/replica$F/journal-0000000000000000
size=$(stat -c %s "$SEG")
[ "$size" -ge 8192 ] || fail "follower $F's journal is only $size bytes after 2 s of load"
# A byte in the middle of the file: records follow it, from later drains, so replay
# cannot take it for a torn tail.
at=$(( size / 2 ))
cp "$SEG" "$TMP/journal-before"
b=$(od -An -tu1 -j "$at" -N1 "$SEG" | tr -d ' ')
printf "$(printf '\\%03o' $(( b ^ 0x5a )))" | dd of="$SEG" bs=1 seek="$at" conv=notrunc status=none
cmp -s "$SEG" "$TMP/journal-before" && fail "the byte at $at did not change"
cp "$SEG" "$TMP/journal-damaged"
say "flipped the byte at offset $at of $size in $SEG"

sleep 1
start_replica "$F"
# It starts (no refusal) and says what it found and what it does.
for _ in $(seq 1 100); do
	grep -q "REPAIR:" "$TMP/replica$F.log" && break
	sleep 0.05
done
grep -q "is DAMAGED in the middle: journal: .*journal-0000000000000000: bad record at offset" \
	"$TMP/replica$F.log" || fail "follower $F did not report the damage"
grep -q "damage is at journal-0000000000000000 offset" "$TMP/replica$F.log" ||
	fail "follower $F did not say where the damage is"
grep -q "REPAIR: this replica can no longer vouch" "$TMP/replica$F.log" ||
	fail "follower $F did not say that it repairs from its peers"
say "follower $F: $(grep -o 'DAMAGED in the middle: .*' "$TMP/replica$F.log" | head -n 1)"
# The damaged journal is kept for the operator, unchanged.
cmp -s "$DATA/replica$F/damaged-1/journal-0000000000000000" "$TMP/journal-damaged" ||
	fail "the damaged journal was not kept unchanged in damaged-1/"

finish_load_and_check "$F" "$L"
# The repair completed: its recovery wrote its crash vector, `repairing` is gone.
for _ in $(seq 1 100); do
	[ -e "$DATA/replica$F/repairing" ] || break
	sleep 0.1
done
if [ -e "$DATA/replica$F/repairing" ]; then fail "follower $F never completed its repair"; fi
say "follower $F repaired: applied again up to the leader's commit, history linearizable"
stop_and_compare

# A normal restart of every replica: the repaired one replays its new journal.
say "restart all three from their data dirs"
for i in 0 1 2; do start_replica "$i"; done
wait_leader 10 > /dev/null || fail "no leader after the restart"
n=$(grep -c "REPAIR:" "$TMP/replica$F.log")
[ "$n" -eq 1 ] || fail "follower $F repaired $n times (a completed repair must not repeat)"
grep "restored: applied" "$TMP/replica$F.log" > /dev/null ||
	fail "follower $F did not restore from its journal after the repair"
# Its new incarnation came back from its journal (the crash vector it wrote).
grep "restored: applied" "$TMP/replica$F.log" | tail -n 1 | grep -q "; incarnation [1-9]" ||
	fail "follower $F restarted without the incarnation of its repair: $(grep 'restored: applied' "$TMP/replica$F.log" | tail -n 1)"
for k in 1 2 3; do
	"$PWCTL" --config "$CONFIG" put "after$k" "v$k" > /dev/null || fail "put after$k failed"
done
[ "$("$PWCTL" --config "$CONFIG" get after3)" = v3 ] || fail "after3 does not read back"
L2=$(wait_leader 5) || fail "no leader"
c=""; a=""
for _ in $(seq 1 100); do
	c=$(stat_of "$L2" commit); a=$(stat_of "$F" applied)
	[ -n "$c" ] && [ -n "$a" ] && [ "$a" -ge "$c" ] && break
	sleep 0.1
done
stop_and_compare

# Without peers a repair is impossible: a one-replica cluster refuses to start on a
# damaged journal, says why and what to do, and leaves the journal as it is.
write_config 1
SD=$DATA/single
"$PAXWIRED" --config "$CONFIG" --id 0 --bootstrap --data-dir "$SD" --stats-interval-ms 200 \
	>> "$TMP/single.log" 2>&1 &
PIDS[0]=$!
wait_leader 10 > /dev/null || fail "the single replica did not lead"
for k in $(seq 1 30); do
	"$PWCTL" --config "$CONFIG" put "s$k" "v$k" > /dev/null || fail "single: put s$k failed"
done
kill -TERM "${PIDS[0]}"
wait_gone "${PIDS[0]}"
SEG=$DATA/single/journal-0000000000000000
at=$(( $(stat -c %s "$SEG") / 3 ))
b=$(od -An -tu1 -j "$at" -N1 "$SEG" | tr -d ' ')
printf "$(printf '\\%03o' $(( b ^ 0x5a )))" | dd of="$SEG" bs=1 seek="$at" conv=notrunc status=none
cp "$SEG" "$TMP/single-damaged"
for boot in "" --bootstrap; do
	rc=0
	# shellcheck disable=SC2086  # boot is empty or one word
	"$PAXWIRED" --config "$CONFIG" --id 0 $boot --data-dir "$SD" > "$TMP/single-refused.log" 2>&1 || rc=$?
	[ $rc -eq 1 ] || fail "single replica${boot:+ with $boot}: exit $rc on a damaged journal, not 1"
	grep -q "bad record at offset" "$TMP/single-refused.log" || fail "single replica: no damage named"
	if [ -z "$boot" ]; then
		grep -q "a repair from peers is impossible: the cluster has one replica" \
			"$TMP/single-refused.log" || fail "single replica: the refusal does not say why"
	else
		grep -q "start it without --bootstrap" "$TMP/single-refused.log" ||
			fail "single replica with --bootstrap: the refusal names no fix"
	fi
	cmp -s "$SEG" "$TMP/single-damaged" || fail "a refused start changed the journal"
	if [ -e "$SD/damaged-1" ]; then fail "a refused start moved the journal"; fi
done
say "one replica: a damaged journal is refused (no peer to repair from), untouched"
echo "1 passed, 0 failed"
