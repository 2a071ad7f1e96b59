#!/usr/bin/env bash
# A durable replica whose storage fails stops at once: replica 2 runs under a 16 KiB
# file-size limit (ulimit -f), so its journal's write fails with EFBIG under load. It
# must log the journal's error at error level and exit 1 (a replica that cannot keep
# its promises must not vote), while the other two go on serving a recorded workload.
# Restarted without the limit (no --bootstrap), it replays what was made durable and
# catches up; the history must be linearizable.
DURABILITY=durable
. "$(dirname "$0")/lib.sh" "$1"

write_config 3
start_replica 0 --bootstrap
start_replica 1 --bootstrap
# Its own log file, without periodic stats: the limit applies to every file it writes.
( ulimit -f 16; exec "$PAXWIRED" --config "$CONFIG" --id 2 --bootstrap \
	--data-dir "$DATA/replica2" > "$TMP/replica2-limited.log" 2>&1 ) &
P2=$!
PIDS[2]=$P2
L=$(wait_leader 10) || fail "no leader within 10 s"
say "leader is $L; replica 2 has a 16 KiB file-size limit"

start_load 4 6 16
for _ in $(seq 1 200); do
	grep -q "storage failed" "$TMP/replica2-limited.log" && break
	sleep 0.05
done
wait_gone "$P2"
rc=0
wait "$P2" || rc=$?
[ "$rc" -eq 1 ] || fail "replica 2 exited $rc, not 1: $(cat "$TMP/replica2-limited.log")"
grep -q "error: journal: write .* failed: File too large" "$TMP/replica2-limited.log" ||
	fail "replica 2 did not log the journal's error: $(cat "$TMP/replica2-limited.log")"
grep -q "error: storage failed: stopping now" "$TMP/replica2-limited.log" ||
	fail "replica 2 did not say why it stops"
say "replica 2 stopped: $(grep -o 'journal: write .*too large' "$TMP/replica2-limited.log")"

say "restart replica 2 without the limit (no --bootstrap: it replays its journal)"
start_replica 2
L2=$(wait_leader 5) || fail "no leader"
finish_load_and_check 2 "$L2"
grep -q "restored: applied" "$TMP/replica2.log" || fail "replica 2 did not restore"
say "replica 2 $(grep -o 'restored: .*' "$TMP/replica2.log" | sed 's/^restored: //')"
echo "1 passed, 0 failed"
