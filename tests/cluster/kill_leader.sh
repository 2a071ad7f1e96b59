#!/usr/bin/env bash
# Three paxwired processes over kernel UDP (TRANSPORT=memif: over a mesh of DPDK memif
# links, clients on kernel UDP). Under a recorded workload: kill -9 the
# leader; a new leader must take over; restart the killed replica (memory mode: it
# recovers before voting) and it must catch up; the history must be linearizable (so
# no acknowledged write was lost) and the final reads must succeed.
. "$(dirname "$0")/lib.sh" "$1"

write_config 3
for i in 0 1 2; do start_replica $i --bootstrap; [ "$TRANSPORT" = memif ] && sleep 0.3; done
L=$(wait_leader 10) || fail "no leader within 10 s"
say "leader is $L"

start_load 4 8 16
sleep 2
L=$(wait_leader 5) || fail "no leader under load"
say "kill -9 leader $L"
kill -9 "${PIDS[$L]}"
t0=$(date +%s%N)
L2=$(wait_leader 10 "$L") || fail "no new leader within 10 s of killing $L"
t1=$(date +%s%N)
say "new leader $L2 after $(( (t1 - t0) / 1000000 )) ms"
sleep 1
say "restart $L (no --bootstrap: it recovers)"
start_replica "$L"
finish_load_and_check "$L" "$L2"
grep -q '"recoveries_completed":1' "$TMP/replica$L.log" || fail "replica $L did not recover"
echo "1 passed, 0 failed"
