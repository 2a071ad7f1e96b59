#!/usr/bin/env bash
# The bootstrap guard (docs/operations.md, "Bootstrap guard"; docs/protocol.md, "Cluster
# uuid"). Three paxwired replicas over kernel UDP, started with --bootstrap. Checks:
#   - the first leader binds a cluster uuid through the log: every replica's stats line
#     names the same one;
#   - a follower killed -9 and started again WITH --bootstrap (durable: from an emptied
#     data dir, the disk "lost") is refused by the members that know it: it stops on
#     its own, exit status 1, with a line naming the fix, and the members say what they
#     refused; the cluster goes on committing meanwhile;
#   - started the right way (memory: without --bootstrap, it recovers; durable: its data
#     dir put back, it replays), it rejoins and binds the same uuid;
#   - durable only: a replica given the data dir of ANOTHER cluster (same cluster file,
#     bootstrapped before) is dropped by the members and drops them, each side naming
#     the other cluster's uuid; it applies nothing of this cluster;
#   - at a clean stop the replicas report the same apply_chain and service_hash.
# DURABILITY=memory (default) or durable.
. "$(dirname "$0")/lib.sh" "$1"

write_config 3
uuid_of() { grep -o '"cluster_uuid":"[0-9a-f]*"' "$TMP/replica$1.log" | tail -n 1 | cut -d'"' -f4; }
NONE=00000000000000000000000000000000

# wait_uuid I: waits until replica I's stats name a bound uuid; prints it
wait_uuid() {
	local u=""
	for _ in $(seq 1 100); do
		u=$(uuid_of "$1")
		[ -n "$u" ] && [ "$u" != "$NONE" ] && { echo "$u"; return 0; }
		sleep 0.1
	done
	return 1
}

if [ "$DURABILITY" = durable ]; then
	# Another cluster first, on the same cluster file: its data dirs are kept aside.
	for i in 0 1 2; do start_replica "$i" --bootstrap; done
	wait_leader 10 > /dev/null || fail "cluster B: no leader within 10 s"
	"$PWCTL" --config "$CONFIG" put b-key b-value > /dev/null || fail "cluster B: put failed"
	UUID_B=$(wait_uuid 0) || fail "cluster B: no uuid bound"
	kill -TERM "${PIDS[@]:0:3}"
	wait_gone "${PIDS[@]:0:3}"
	mkdir -p "$TMP/clusterB"
	for i in 0 1 2; do mv "$DATA/replica$i" "$TMP/clusterB/"; mv "$TMP/replica$i.log" "$TMP/B-replica$i.log"; done
	say "cluster B: uuid $UUID_B, stopped, its data dirs kept aside"
fi

for i in 0 1 2; do start_replica "$i" --bootstrap; done
L=$(wait_leader 10) || fail "no leader within 10 s"
"$PWCTL" --config "$CONFIG" put guard-key guard-value > /dev/null || fail "put guard-key failed"
UUID=$(wait_uuid "$L") || fail "the leader bound no uuid"
for i in 0 1 2; do
	u=$(wait_uuid "$i") || fail "replica $i bound no uuid"
	[ "$u" = "$UUID" ] || fail "replica $i bound uuid $u, the leader $UUID"
done
[ "$DURABILITY" = durable ] && [ "$UUID" = "$UUID_B" ] && fail "two clusters bound the same uuid"
grep -q "cluster uuid $UUID" "$TMP/replica$L.log" || fail "the leader did not log its uuid"
say "cluster A: leader $L, uuid $UUID ($DURABILITY)"

start_load 2 6 64
F=$(( (L + 1) % 3 ))
sleep 1
kill -9 "${PIDS[$F]}"
wait_gone "${PIDS[$F]}"
if [ "$DURABILITY" = durable ]; then
	mv "$DATA/replica$F" "$TMP/replica$F.kept"   # the disk is "lost"
fi
say "replica $F killed -9; started again with --bootstrap (a mistake)"
# In the foreground, for its exit status (start_replica's run in the background).
data=""
[ -n "$DATA" ] && data="--data-dir $DATA/replica$F"
rc=0
# shellcheck disable=SC2086  # data is a list of words
timeout 15 "$PAXWIRED" --config "$CONFIG" --id "$F" --bootstrap $data --stats-interval-ms 200 \
	>> "$TMP/replica$F.log" 2>&1 || rc=$?
[ "$rc" -eq 124 ] && fail "replica $F started with --bootstrap in a live cluster still ran after 15 s"
[ "$rc" -eq 1 ] || fail "the refused replica exited $rc, not 1"
grep -q "refused by replica" "$TMP/replica$F.log" || fail "the refused replica did not say why"
grep -q "restart it without --bootstrap" "$TMP/replica$F.log" || fail "the refused replica did not name the fix"
grep -q "stopped: refused by the cluster" "$TMP/replica$F.log" || fail "no final line saying it was refused"
refusers=0
for i in 0 1 2; do
	[ "$i" = "$F" ] && continue
	grep -q "replica $F was started as the first start of a new cluster" "$TMP/replica$i.log" &&
		refusers=$((refusers + 1))
done
[ $refusers -ge 1 ] || fail "no member said it refused replica $F"
say "replica $F refused and stopped (exit 1); $refusers member(s) said so"

if [ "$DURABILITY" = durable ]; then
	# Another cluster's data dir: dropped both ways, loudly.
	mkdir -p "$DATA/replica$F"
	rm -rf "$DATA/replica$F"
	cp -a "$TMP/clusterB/replica$F" "$DATA/replica$F"
	mv "$TMP/replica$F.log" "$TMP/refused-replica$F.log"
	start_replica "$F"
	ok=0
	for _ in $(seq 1 100); do
		if grep -q "belongs to another cluster (uuid $UUID" "$TMP/replica$F.log" &&
			grep -q "replica $F belongs to another cluster (uuid $UUID_B" "$TMP/replica$L.log"; then
			ok=1; break
		fi
		sleep 0.1
	done
	[ $ok -eq 1 ] || fail "a replica with cluster B's data dir was not refused loudly on both sides"
	a=$(stat_of "$F" applied); c=$(stat_of "$L" commit)
	[ "${a:-0}" -lt "${c:-0}" ] || fail "the replica of cluster B applied $a, cluster A's commit is $c"
	say "a replica with cluster B's data dir: dropped both ways (its applied ${a:-?}, A's commit ${c:-?})"
	kill -TERM "${PIDS[$F]}"
	wait_gone "${PIDS[$F]}"
	rm -rf "$DATA/replica$F" "$TMP/replica$F.kept"   # its own disk stays lost
	mv "$TMP/replica$F.log" "$TMP/clusterB-replica$F.log"
	# A start on an empty dir without --bootstrap or --rejoin: refused, naming --rejoin.
	rc=0
	"$PAXWIRED" --config "$CONFIG" --id "$F" --data-dir "$DATA/replica$F" > "$TMP/norejoin.out" 2>&1 || rc=$?
	[ $rc -eq 1 ] && grep -q -- "add --rejoin" "$TMP/norejoin.out" ||
		fail "a restart on an empty data dir: exit $rc: $(cat "$TMP/norejoin.out")"
	rm -rf "$DATA/replica$F"
	say "replica $F rejoins from an empty data dir (--rejoin: a repair from its peers)"
	start_replica "$F" --rejoin
else
	say "replica $F started the right way (without --bootstrap)"
	start_replica "$F"
fi
finish_load_and_check "$F" "$L"
if [ "$DURABILITY" = durable ]; then
	grep -q "repair" "$TMP/replica$F.log" || fail "replica $F started with --rejoin did not say it repairs"
	[ -e "$DATA/replica$F/repairing" ] && fail "replica $F's repair did not complete (repairing still there)"
fi
u=$(wait_uuid "$F") || fail "replica $F bound no uuid after rejoining"
[ "$u" = "$UUID" ] || fail "replica $F rejoined with uuid $u, the cluster's is $UUID"
"$PWCTL" --config "$CONFIG" get guard-key | grep -q guard-value || fail "guard-key lost"
stop_and_compare
say "ok"
