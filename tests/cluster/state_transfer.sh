#!/usr/bin/env bash
# Three paxwired replicas over kernel UDP with a small log window (64 slots). Under a
# recorded workload (pw-bench), one follower is killed -9 and stays down while the
# log moves several windows on, so that no replica holds the slots it missed; then it
# restarts (no --bootstrap: memory mode recovers its promises first, durable mode
# replays its journal) and must heal by state transfer. Checks:
#   - the restarted follower installed a snapshot fetched from a peer (its log says so,
#     and its transfer counters);
#   - it applies the leader's commit point again, and the history is linearizable;
#   - at a clean stop every replica reports the same apply_chain and service_hash.
# DURABILITY=memory (default) or durable (each replica with its own data dir; a
# snapshot saved every 200 slots and the journal compacted below it, so the follower's
# restart also starts from its own saved snapshot).
. "$(dirname "$0")/lib.sh" "$1"

write_config 3
# A window of 64 slots: a second of load is many windows.
sed -i -e 's/^window_slots = .*/window_slots = 64/' -e 's/^pipeline_slots = .*/pipeline_slots = 16/' "$CONFIG"
# Durable: a snapshot every 200 applied slots, saved to the data dir, the journal
# compacted below it: the restarted follower starts from its own saved snapshot.
[ "$DURABILITY" = durable ] && sed -i -e '/^window_slots/a snapshot_every = 200' "$CONFIG"
for i in 0 1 2; do start_replica "$i" --bootstrap; done
L=$(wait_leader 10) || fail "no leader within 10 s"
F=$(( (L + 1) % 3 ))
say "leader is $L; replica $F will fall behind"

"$PWBENCH" --config "$CONFIG" --clients 4 --seconds 8 --keys 64 "${KV_LOAD[@]}" \
	--think-us 1000 --history "$TMP/history.jsonl" --final-reads \
	> "$TMP/load.json" 2> "$TMP/load.log" &
LOAD=$!
PIDS+=($LOAD)
sleep 1
if [ "$DURABILITY" = durable ]; then
	# Its first snapshot saved before the kill, however slow this machine is.
	for _ in $(seq 1 100); do
		s=$(stat_of "$F" snapshots_saved)
		[ "${s:-0}" -ge 1 ] && break
		sleep 0.1
	done
	[ "${s:-0}" -ge 1 ] || fail "replica $F saved no snapshot in 10 s of load"
fi

a0=$(stat_of "$F" applied)
say "kill -9 replica $F (applied ${a0:-?})"
kill -9 "${PIDS[$F]}"
wait_gone "${PIDS[$F]}"
# Down until the leader committed at least four windows past what it had applied.
for _ in $(seq 1 100); do
	c=$(stat_of "$L" commit)
	[ -n "$c" ] && [ -n "$a0" ] && [ "$c" -gt $((a0 + 4 * 64)) ] && break
	sleep 0.1
done
say "leader $L committed ${c:-?}: restart replica $F"
start_replica "$F"

wait $LOAD || fail "pw-bench failed: $(cat "$TMP/load.log")"
cat "$TMP/load.json"
ok=$(grep -o '"ok":[0-9]*' "$TMP/load.json" | cut -d: -f2)
[ "${ok:-0}" -gt 100 ] || fail "only ${ok:-0} operations succeeded"
grep -q '"final_reads_failed":0' "$TMP/load.json" || fail "a final read failed"

L2=$(wait_leader 5) || fail "no leader after the load"
for _ in $(seq 1 200); do
	c=$(stat_of "$L2" commit); a=$(stat_of "$F" applied)
	[ -n "$c" ] && [ -n "$a" ] && [ "$a" -ge "$c" ] && break
	sleep 0.1
done
[ -n "$c" ] && [ -n "$a" ] && [ "$a" -ge "$c" ] ||
	fail "replica $F applied ${a:-?}, leader $L2 committed ${c:-?}"
say "replica $F applied $a (leader's commit $c)"
grep -q "state transfer: installed the snapshot of slot" "$TMP/replica$F.log" ||
	fail "replica $F did not heal by state transfer"
say "replica $F $(grep "state transfer: installed" "$TMP/replica$F.log" | tail -n 1 | sed 's/^.*state transfer: //')"
if [ "$DURABILITY" = durable ]; then
	r=$(grep "restoring from the snapshot of slot" "$TMP/replica$F.log" | tail -n 1) ||
		fail "replica $F did not restart from a saved snapshot"
	say "replica $F at its restart: ${r#*info: }"
	for i in 0 1 2; do
		s=$(stat_of "$i" snapshots_saved)
		[ "${s:-0}" -ge 1 ] || fail "replica $i saved no snapshot"
	done
fi
inst=$(stat_of "$F" st_installed)
[ "${inst:-0}" -ge 1 ] || fail "replica $F: transfer counters say ${inst:-0} installs"
served=0
for i in 0 1 2; do
	[ "$i" = "$F" ] && continue
	s=$(stat_of "$i" st_chunks_out); served=$((served + ${s:-0}))
done
[ "$served" -ge 1 ] || fail "no replica served a chunk"
"$LINCHECK" --timeout 60 "$TMP/history.jsonl" || fail "history is not linearizable"

stop_and_compare
echo "1 passed, 0 failed"
