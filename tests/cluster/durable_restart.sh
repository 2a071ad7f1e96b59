#!/usr/bin/env bash
# Three durable paxwired replicas over kernel UDP, each with its journal in a data dir of
# its own. Under a recorded workload (pw-bench) and a stream of acknowledged marker
# writes (pwctl): kill -9 all three at once. Restart them from their data dirs (without
# --bootstrap: each replays its journal and votes at once), more load, then check:
#   - every marker write acknowledged before the kill reads back after the restart;
#   - the whole history (both loads, the markers, the final reads of every key) is
#     linearizable (pw-lincheck), so no acknowledged write of the load was lost either;
#   - each replica replayed its journal (the "restored:" line);
#   - the replicas converge: the same applied point as the leader's commit, and at the
#     end the same apply_chain and service_hash in their final counters lines;
#   - a SIGTERM stops each cleanly (the journal closed without a storage error).
# Memory mode cannot pass this: with every replica down at once its state is gone.
DURABILITY=durable
. "$(dirname "$0")/lib.sh" "$1"

write_config 3
# A snapshot every 100 applied slots, saved to the data dir, the journal compacted
# below it: the restart starts from the newest saved snapshot and the journal above it.
sed -i -e '/^window_slots/a snapshot_every = 100' "$CONFIG"
for i in 0 1 2; do start_replica "$i" --bootstrap; done
L=$(wait_leader 10) || fail "no leader within 10 s"
say "leader is $L"

# Load A: runs across the crash. Its operations in flight while every replica is down
# time out ("ok":null: outcome unknown), the rest carry on after the restart.
"$PWBENCH" --config "$CONFIG" --clients 4 --seconds 7 --keys 16 "${KV_LOAD[@]}" \
	--think-us 5000 --history "$TMP/history-a.jsonl" \
	> "$TMP/load-a.json" 2> "$TMP/load-a.log" &
LOAD=$!
PIDS+=($LOAD)
sleep 1

# Markers: distinct keys, each written once by its own pwctl; the last ones are
# acknowledged moments before the kill.
: > "$TMP/markers.jsonl"
acked=0
t_end=$(( $(date +%s%N) + 1500000000 ))
while [ "$(date +%s%N)" -lt $t_end ] && [ $acked -lt 60 ]; do
	n=$((acked + 1))
	"$PWCTL" --config "$CONFIG" --history "$TMP/markers.jsonl" put "m$n" "v$n" \
		> /dev/null 2>> "$TMP/markers.log" || fail "marker m$n not acknowledged before the kill"
	acked=$n
done
[ $acked -ge 5 ] || fail "only $acked markers acknowledged in 1.5 s"
# Every replica saved a snapshot before the kill, however slow this machine is.
for i in 0 1 2; do
	for _ in $(seq 1 100); do
		s=$(stat_of "$i" snapshots_saved)
		[ "${s:-0}" -ge 1 ] && break
		sleep 0.1
	done
	[ "${s:-0}" -ge 1 ] || fail "replica $i saved no snapshot in 10 s of load"
done

say "kill -9 all three replicas at once ($acked markers acknowledged, load running)"
kill -9 "${PIDS[0]}" "${PIDS[1]}" "${PIDS[2]}"
wait_gone "${PIDS[0]}" "${PIDS[1]}" "${PIDS[2]}"
sleep 0.5
say "restart all three from their data dirs (no --bootstrap)"
t0=$(date +%s%N)
for i in 0 1 2; do start_replica "$i"; done
L2=$(wait_leader 10) || fail "no leader within 10 s of the restart"
t1=$(date +%s%N)
say "leader $L2 $(( (t1 - t0) / 1000000 )) ms after the restart"
for i in 0 1 2; do
	r=$(grep "restored: applied" "$TMP/replica$i.log" | tail -n 1) ||
		fail "replica $i did not restore from its journal"
	say "replica $i $(echo "$r" | sed 's/^.*restored: //')"
	grep "journal .*: replay read" "$TMP/replica$i.log" | tail -n 1 | grep -q "replay read 0 records" &&
		fail "replica $i replayed an empty journal"
	s=$(grep "restoring from the snapshot of slot" "$TMP/replica$i.log" | tail -n 1) ||
		fail "replica $i did not restart from a saved snapshot"
	say "replica $i ${s#*info: }"
done

# No acknowledged write lost: every marker reads back, and with its own value.
for n in $(seq 1 $acked); do
	v=$("$PWCTL" --config "$CONFIG" --history "$TMP/markers.jsonl" get "m$n" 2>> "$TMP/markers.log") ||
		fail "marker m$n (acknowledged before the kill) is gone after the restart"
	[ "$v" = "v$n" ] || fail "marker m$n reads '$v' after the restart, not v$n"
done
say "all $acked acknowledged markers read back"

wait $LOAD || fail "load A failed: $(cat "$TMP/load-a.log")"
cat "$TMP/load-a.json"
# Load B, after the restart: more writes, then one read of every key.
"$PWBENCH" --config "$CONFIG" --clients 4 --seconds 3 --keys 16 "${KV_LOAD[@]}" \
	--think-us 5000 --history "$TMP/history-b.jsonl" --final-reads \
	> "$TMP/load-b.json" 2> "$TMP/load-b.log" || fail "load B failed: $(cat "$TMP/load-b.log")"
cat "$TMP/load-b.json"
for f in load-a load-b; do
	ok=$(grep -o '"ok":[0-9]*' "$TMP/$f.json" | cut -d: -f2)
	[ "${ok:-0}" -gt 100 ] || fail "$f: only ${ok:-0} operations succeeded"
done
grep -q '"final_reads_failed":0' "$TMP/load-b.json" || fail "a final read failed"

# One history: load B's clients renumbered past load A's (client numbers name a
# client object within a history), the markers as pwctl recorded them.
cat "$TMP/history-a.jsonl" "$TMP/markers.jsonl" > "$TMP/history.jsonl"
sed -E 's/^\{"client":([0-9]+)/{"client":1\1/' "$TMP/history-b.jsonl" >> "$TMP/history.jsonl"
"$LINCHECK" --timeout 60 "$TMP/history.jsonl" || fail "history is not linearizable"

# Convergence: every replica applies up to the leader's commit point.
L3=$(wait_leader 5) || fail "no leader after the load"
for i in 0 1 2; do
	c=""; a=""
	for _ in $(seq 1 100); do
		c=$(stat_of "$L3" commit); a=$(stat_of "$i" applied)
		[ -n "$c" ] && [ -n "$a" ] && [ "$a" -ge "$c" ] && break
		sleep 0.1
	done
	[ -n "$c" ] && [ -n "$a" ] && [ "$a" -ge "$c" ] ||
		fail "replica $i applied ${a:-?}, leader $L3 committed ${c:-?}"
done
say "every replica applied the leader's commit point $c"

# A clean stop: each closes its journal (everything queued synced) and says so; the
# final lines must agree on what was applied and on the state it built.
stop_and_compare
for i in 0 1 2; do
	grep -q "info: stopped$" "$TMP/replica$i.log" || fail "replica $i did not stop cleanly"
	grep '"final":true' "$TMP/replica$i.log" | tail -n 1 |
		grep -q '"journal":{"records":[1-9]' || fail "replica $i: no journal counters"
done
echo "1 passed, 0 failed"
