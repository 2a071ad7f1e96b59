#!/usr/bin/env bash
# The asynchronous client under failover: three paxwired over kernel UDP; pw-bench
# --inflight 8 (2 threads, each one client with 8 commands in flight: puts, gets and
# dels on 64 keys, recorded); kill -9 the leader mid-run. A new leader takes over, the
# clients' commands in flight move to it and are resent with their (session, seq); the
# replicas must end with the same applied log and state, and the history must be
# linearizable: no acknowledged write lost, none applied twice where a read could see it.
. "$(dirname "$0")/lib.sh" "$1"

write_config 3
for i in 0 1 2; do
	start_replica "$i" --bootstrap
done
L=$(wait_leader 10) || fail "no leader within 10 s"
say "leader is $L"

PAXWIRE_KEY_FILE=$CLIENT_KEY "$PWBENCH" --config "$CONFIG" --clients 2 --inflight 8 \
	--seconds 5 --warmup 0 --keys 64 --value-bytes 8 --mix 45,40,0,0,15 \
	--attempt-ms 20 --history "$TMP/history.jsonl" --final-reads \
	> "$TMP/load.json" 2> "$TMP/load.log" &
LOAD=$!
PIDS+=($LOAD)
sleep 2
L=$(wait_leader 5) || fail "no leader under load"
say "kill -9 leader $L (16 commands in flight)"
kill -9 "${PIDS[$L]}"
t0=$(date +%s%N)
L2=$(wait_leader 10 "$L") || fail "no new leader within 10 s of killing $L"
t1=$(date +%s%N)
say "new leader $L2 after $(( (t1 - t0) / 1000000 )) ms"
sleep 1
say "restart $L (no --bootstrap: it recovers)"
start_replica "$L"
finish_load_and_check "$L" "$L2"
grep -q '"inflight":8' "$TMP/load.json" || fail "pw-bench did not run --inflight 8"
unknown=$(grep -o '"unknown":[0-9]*' "$TMP/load.json" | cut -d: -f2)
say "outcome unknown: ${unknown:-?} of the commands (given up at their deadline)"
stop_and_compare
echo "1 passed, 0 failed"
