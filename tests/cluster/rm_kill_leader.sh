#!/usr/bin/env bash
# Three paxwired processes with log_transport = shm (docs/rdma.md): the leader writes its
# ACCEPTs into the followers' log regions through shared memory, control traffic on
# kernel UDP. Under a recorded workload: the writes must carry the log (records taken by
# the followers, acks counted from completions); kill -9 the leader; the survivors must
# revoke its write access and grant the new leader's (the permission switch); restart
# the killed replica (memory mode: it recovers, and is written by the new leader); the
# history must be linearizable and the replicas must stop in the same state. The shm
# objects are removed on every exit (lib.sh), the killed replica's included.
. "$(dirname "$0")/lib.sh" "$1"
LOG_TRANSPORT=shm
EXTRA_CLEANUP="rm -f /dev/shm/paxwire-c$CLUSTER_ID-n*; $EXTRA_CLEANUP"

N=3
write_config "$N"
grep -q '^log_transport = shm$' "$CONFIG" || fail "the cluster file has no log_transport = shm"
for i in $(seq 0 $((N - 1))); do
	start_replica "$i" --bootstrap
done
L=$(wait_leader 10) || fail "no leader within 10 s"
say "leader is $L"

# wait_rm I FIELD MIN SECONDS: replica I's rm counter FIELD reaches MIN; prints it
wait_rm() {
	local v=""
	for _ in $(seq 1 $(($4 * 10))); do
		v=$(rm_stat_of "$1" "$2")
		[ -n "$v" ] && [ "$v" -ge "$3" ] && { echo "$v"; return 0; }
		sleep 0.1
	done
	echo "${v:-none}"
	return 1
}

start_load 4 8 16
sleep 2
L=$(wait_leader 5) || fail "no leader under load"
w=$(wait_rm "$L" counted 50 5) || fail "leader $L counted ${w} acks from write completions"
say "leader $L: $(rm_stat_of "$L" writes) writes, $w acks counted from completions"
for i in $(seq 0 $((N - 1))); do
	[ "$i" = "$L" ] && continue
	r=$(wait_rm "$i" records 50 5) || fail "follower $i took ${r} records from its log region"
	say "follower $i: $r records taken, $(rm_stat_of "$i" grants) grants"
done
[ -e "/dev/shm/paxwire-c$CLUSTER_ID-n$L-ctl" ] || fail "no shm control object for replica $L"

say "kill -9 leader $L"
kill -9 "${PIDS[$L]}"
t0=$(date +%s%N)
L2=$(wait_leader 10 "$L") || fail "no new leader within 10 s of killing $L"
t1=$(date +%s%N)
say "new leader $L2 after $(( (t1 - t0) / 1000000 )) ms"
# The permission switch: every survivor revoked the dead leader and granted the new one,
# and the new leader writes into the other survivor's log.
for i in $(seq 0 $((N - 1))); do
	[ "$i" = "$L" ] || [ "$i" = "$L2" ] && continue
	v=$(wait_rm "$i" revokes 1 5) || fail "follower $i revoked nobody after the leader's death"
	g=$(wait_rm "$i" grants 2 5) || fail "follower $i granted ${g} leaders (the new one not)"
	say "follower $i: $v revokes, $g grants"
done
c=$(wait_rm "$L2" grants_in 1 5) || fail "new leader $L2 was granted no follower's log"
w2=$(wait_rm "$L2" counted 20 5) || fail "new leader $L2 counted ${w2} acks from completions"
say "new leader $L2: $c grants taken, $w2 acks counted"

say "restart $L (no --bootstrap: it recovers; its earlier objects are removed first)"
start_replica "$L"
finish_load_and_check "$L" "$L2"
grep -q '"recoveries_completed":1' "$TMP/replica$L.log" || fail "replica $L did not recover"
grep -q "removed [0-9]* objects of an earlier run of replica $L" "$TMP/replica$L.log" ||
	fail "replica $L's restart did not remove its earlier shm objects"
stop_and_compare
for i in $(seq 0 $((N - 1))); do
	f=$(grep '^{"rm":{"at_exit":true' "$TMP/replica$i.log" | tail -n 1) ||
		fail "replica $i: no final rm line"
	say "replica $i rm: $f"
done
# A clean exit removes a replica's objects.
left=$(ls /dev/shm | grep -c "^paxwire-c$CLUSTER_ID-" || true)
[ "$left" = 0 ] || fail "$left shm objects left after every replica stopped"
echo "1 passed, 0 failed"
