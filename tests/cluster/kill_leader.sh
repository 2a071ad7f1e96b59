#!/usr/bin/env bash
# Three paxwired processes over kernel UDP (TRANSPORT=memif: over a mesh of DPDK memif
# links, clients on kernel UDP; REPLICAS=5: five of them). Under a recorded workload:
# kill -9 the leader (with 5 replicas, a follower too: f = 2 failures at once); a new
# leader must take over; restart the killed replicas (memory mode: they recover before
# voting) and they must catch up; the history must be linearizable (so no acknowledged
# write was lost) and the final reads must succeed.
. "$(dirname "$0")/lib.sh" "$1"

N=${REPLICAS:-3}
write_config "$N"
for i in $(seq 0 $((N - 1))); do
	start_replica "$i" --bootstrap
	[ "$TRANSPORT" = memif ] && sleep 0.3
done
L=$(wait_leader 10) || fail "no leader within 10 s"
say "leader is $L"

start_load 4 8 16
sleep 2
L=$(wait_leader 5) || fail "no leader under load"
say "kill -9 leader $L"
kill -9 "${PIDS[$L]}"
F=""
if [ "$N" -ge 5 ]; then
	F=$(( (L + 1) % N ))
	say "kill -9 follower $F too (2 of $N down)"
	kill -9 "${PIDS[$F]}"
fi
t0=$(date +%s%N)
L2=$(wait_leader 10 "$L") || fail "no new leader within 10 s of killing $L"
t1=$(date +%s%N)
say "new leader $L2 after $(( (t1 - t0) / 1000000 )) ms"
sleep 1
say "restart $L${F:+ and $F} (no --bootstrap: they recover)"
start_replica "$L"
[ -n "$F" ] && start_replica "$F"
finish_load_and_check "$L" "$L2"
grep -q '"recoveries_completed":1' "$TMP/replica$L.log" || fail "replica $L did not recover"
if [ -n "$F" ]; then
	grep -q '"recoveries_completed":1' "$TMP/replica$F.log" || fail "replica $F did not recover"
	c=""; c2=""
	for _ in $(seq 1 100); do
		c2=$(stat_of "$L2" commit); c=$(stat_of "$F" applied)
		[ -n "$c" ] && [ -n "$c2" ] && [ "$c" -ge "$c2" ] && break
		sleep 0.1
	done
	[ -n "$c" ] && [ -n "$c2" ] && [ "$c" -ge "$c2" ] || fail "replica $F applied ${c:-?} < ${c2:-?}"
	say "replica $F applied $c (leader's commit $c2)"
fi
# A peer's death is no crash: no port is polled while it is stopped (memif: the
# client's restart fails while its server is gone), so ethdev never prints its
# "not ready port" stack dump (issue 15).
if grep -l "not ready port\|rte_dump_stack" "$TMP"/replica*.log; then
	fail "a replica's log has ethdev's stack dump of a stopped port"
fi
echo "1 passed, 0 failed"
