#!/usr/bin/env bash
# Backup and restore (docs/operations.md, "Backup and restore"). Three paxwired replicas
# over kernel UDP under a recorded workload (pw-bench) and acknowledged marker writes
# (pwctl put): `pwctl snapshot save` takes a backup while the load runs. The cluster is
# stopped, and a NEW one (new ports; durable: empty data dirs) is started from the backup,
# every replica with --bootstrap --restore FILE. Checks:
#   - the backup holds the state after its slot, at or past every write acknowledged
#     before the save: every marker acknowledged before it reads back, with its value;
#     it spans many chunks, and under a tight transfer rate limit some requests were
#     dropped by the member and re-sent;
#   - each replica says it restored the backup's slot; a write after the restore works,
#     and the new cluster's log goes on past the backup's slot;
#   - a restart of the restored cluster keeps it: durable, all three killed -9 at once
#     and restarted from their data dirs (the saved snapshot and the journal above it);
#     memory, one follower killed -9 and restarted (recovery, then state transfer);
#   - at a clean stop every replica reports the same apply_chain and service_hash;
#   - the history of the first cluster's load is linearizable;
#   - refusals, each with a message naming the fix: --restore without --bootstrap, a
#     backup that does not exist, a flipped byte in its header, a flipped byte in its
#     snapshot, a file cut short; pwctl snapshot save to a path it cannot create.
# DURABILITY=memory (default) or durable.
. "$(dirname "$0")/lib.sh" "$1"

write_config 3
# A tight transfer rate limit (a member answers 2 x 2 chunk requests a tick, drops the
# rest): the backup's 16 requests in flight meet drops and must be re-sent.
sed -i -e '/^window_slots/a transfer_chunks_per_tick = 2' "$CONFIG"
CONFIG_A=$CONFIG
BACKUP=$TMP/backup.pxb
for i in 0 1 2; do start_replica "$i" --bootstrap; done
L=$(wait_leader 10) || fail "no leader within 10 s"
say "cluster A: leader is $L ($DURABILITY)"

# pwctl snapshot save to a place it cannot write: refused before anything is fetched.
rc=0
"$PWCTL" --config "$CONFIG" snapshot save /nonexistent-dir/backup.pxb > "$TMP/save-bad.out" 2>&1 || rc=$?
[ $rc -eq 3 ] || fail "snapshot save to /nonexistent-dir exited $rc, not 3: $(cat "$TMP/save-bad.out")"
grep -q "cannot create /nonexistent-dir/backup.pxb.tmp" "$TMP/save-bad.out" ||
	fail "snapshot save to /nonexistent-dir: $(cat "$TMP/save-bad.out")"

# The load: 4096 keys of 100-byte values, so that the backup spans many 8 KiB chunks.
"$PWBENCH" --config "$CONFIG" --clients 4 --seconds 6 --keys 4096 --warmup 0 \
	--value-bytes 100 --mix 60,20,0,15,5 --think-us 2000 --history "$TMP/history.jsonl" \
	--final-reads > "$TMP/load.json" 2> "$TMP/load.log" &
LOAD=$!
PIDS+=($LOAD)
sleep 1.5

# Markers acknowledged before the save: each must be in the backup.
: > "$TMP/markers.jsonl"
acked=0
t_end=$(( $(date +%s%N) + 2500000000 ))
while [ "$(date +%s%N)" -lt $t_end ] && [ $acked -lt 40 ]; do
	n=$((acked + 1))
	"$PWCTL" --config "$CONFIG" --history "$TMP/markers.jsonl" put "m$n" "v$n" \
		> /dev/null 2>> "$TMP/markers.log" || fail "marker m$n not acknowledged"
	acked=$n
done
[ $acked -ge 3 ] || fail "only $acked markers acknowledged in 2.5 s"
c0=$(stat_of "$L" commit)

say "pwctl snapshot save while the load runs ($acked markers acknowledged, leader's commit ${c0:-?})"
"$PWCTL" --config "$CONFIG" --timeout 5000 snapshot save "$BACKUP" > "$TMP/save.out" 2> "$TMP/save.err" ||
	fail "snapshot save failed: $(cat "$TMP/save.err")"
line=$(cat "$TMP/save.out")
say "$line"
SLOT=$(sed -n 's/^snapshot of slot \([0-9]*\): .*/\1/p' "$TMP/save.out")
BYTES=$(sed -n 's/^snapshot of slot [0-9]*: \([0-9]*\) bytes .*/\1/p' "$TMP/save.out")
[ -n "$SLOT" ] && [ -n "$BYTES" ] || fail "no slot and size in: $line"
[ "$SLOT" -ge "${c0:-0}" ] || fail "backup of slot $SLOT, below the commit point $c0 before the save"
[ "$(stat -c %s "$BACKUP")" -eq $((BYTES + 64)) ] || fail "$BACKUP is not 64 + $BYTES bytes"
[ -e "$BACKUP.tmp" ] && fail "$BACKUP.tmp left behind"
[ "$(head -c 8 "$BACKUP")" = PXBACKUP ] || fail "$BACKUP does not start with PXBACKUP"
[ "$BYTES" -gt $((8 * 8192)) ] || fail "a backup of $BYTES bytes: fewer than 8 chunks, the fetch is not tested"
RESENT=$(sed -n 's/^.* requests, \([0-9]*\) resent, .*/\1/p' "$TMP/save.out")
[ "${RESENT:-0}" -gt 0 ] || fail "no chunk request was re-sent under the rate limit: $line"

# A write after the save: it may or may not be in the backup (not checked).
"$PWCTL" --config "$CONFIG" put after-save x > /dev/null || fail "put after the save failed"
finish_load_and_check "$(( (L + 1) % 3 ))" "$L"

say "stop cluster A"
kill -TERM "${PIDS[0]}" "${PIDS[1]}" "${PIDS[2]}"
wait_gone "${PIDS[0]}" "${PIDS[1]}" "${PIDS[2]}"
if [ "$DURABILITY" = durable ]; then
	for i in 0 1 2; do mv "$DATA/replica$i" "$DATA/a-replica$i"; done
fi

# Cluster B: the same file on new ports (the next block of three).
sed -e "s/^port = $BASE_PORT\$/port = $((BASE_PORT + 3))/" \
	-e "s/^port = $((BASE_PORT + 1))\$/port = $((BASE_PORT + 4))/" \
	-e "s/^port = $((BASE_PORT + 2))\$/port = $((BASE_PORT + 5))/" "$CONFIG_A" > "$TMP/cluster-b.ini"
CONFIG=$TMP/cluster-b.ini
grep -q "^port = $((BASE_PORT + 5))\$" "$CONFIG" || fail "cluster B's config has no new ports"

# Refusals: paxwired ARGS must exit with CODE, print WHAT and name a fix.
OUT=$TMP/refused.out
refused() {
	local code=$1 what=$2 rc=0 data=""
	shift 2
	[ -n "$DATA" ] && data="--data-dir $DATA/refused-$RANDOM"
	# shellcheck disable=SC2086
	timeout 20 "$PAXWIRED" "$@" $data > "$OUT" 2>&1 || rc=$?
	[ "$rc" -eq "$code" ] || fail "paxwired $* exited $rc, not $code: $(cat "$OUT")"
	grep -qF -- "$what" "$OUT" || fail "paxwired $*: no '$what' in: $(cat "$OUT")"
	grep -q "fix:" "$OUT" || fail "paxwired $*: the message names no fix: $(cat "$OUT")"
	say "refused ($rc): $(grep -m1 -F -- "$what" "$OUT" | head -c 150)..."
}
refused 2 "without --bootstrap" --config "$CONFIG" --id 0 --restore "$BACKUP"
refused 1 "No such file or directory" --config "$CONFIG" --id 0 --bootstrap --restore "$TMP/nonexistent.pxb"
cp "$BACKUP" "$TMP/bad-header.pxb"
printf '\x01' | dd of="$TMP/bad-header.pxb" bs=1 seek=20 conv=notrunc status=none
refused 1 "the header's hash does not match" --config "$CONFIG" --id 0 --bootstrap --restore "$TMP/bad-header.pxb"
cp "$BACKUP" "$TMP/bad-snapshot.pxb"
b=$(od -An -tu1 -j 200 -N 1 "$BACKUP" | tr -d ' ')
printf "\\x$(printf %02x $(( (b + 1) % 256 )))" | dd of="$TMP/bad-snapshot.pxb" bs=1 seek=200 conv=notrunc status=none
cmp -s "$BACKUP" "$TMP/bad-snapshot.pxb" && fail "the flipped byte did not land"
refused 1 "content hash" --config "$CONFIG" --id 0 --bootstrap --restore "$TMP/bad-snapshot.pxb"
head -c $((BYTES + 63)) "$BACKUP" > "$TMP/short.pxb"
refused 1 "cut short or extended" --config "$CONFIG" --id 0 --bootstrap --restore "$TMP/short.pxb"

say "cluster B: every replica with --bootstrap --restore (slot $SLOT)"
for i in 0 1 2; do
	data=""
	[ -n "$DATA" ] && data="--data-dir $DATA/replica$i"
	# shellcheck disable=SC2086
	"$PAXWIRED" --config "$CONFIG" --id "$i" --bootstrap --restore "$BACKUP" $data \
		--stats-interval-ms 200 > "$TMP/b-replica$i.log" 2>&1 &
	PIDS[$i]=$!
	disown $!
done
L2=$(wait_leader 10) || fail "cluster B: no leader within 10 s"
say "cluster B: leader is $L2"
for i in 0 1 2; do
	r=$(grep "restored from backup" "$TMP/b-replica$i.log") || fail "replica $i did not restore the backup"
	echo "$r" | grep -q "the state after slot $SLOT " || fail "replica $i: $r"
	echo "$r" | grep -q "the next slot is $((SLOT + 4294967296 + 1))" || fail "replica $i: $r"
done
say "replica 0 ${r#*info: }"

# check_markers WHEN: every marker acknowledged before the save reads back.
check_markers() {
	for n in $(seq 1 $acked); do
		v=$("$PWCTL" --config "$CONFIG" get "m$n" 2>> "$TMP/markers.log") ||
			fail "$1: marker m$n (acknowledged before the backup) is missing"
		[ "$v" = "v$n" ] || fail "$1: marker m$n reads '$v', not v$n"
	done
	say "$1: all $acked markers read back"
}
check_markers "after the restore"
"$PWCTL" --config "$CONFIG" put after-restore yes > /dev/null || fail "a write after the restore failed"
v=$("$PWCTL" --config "$CONFIG" get after-restore) || fail "get after-restore failed"
[ "$v" = yes ] || fail "after-restore reads '$v'"
a=$(for _ in $(seq 1 50); do x=$(grep -o '"applied":[0-9]*' "$TMP/b-replica$L2.log" | tail -n 1 | cut -d: -f2); [ "${x:-0}" -gt "$SLOT" ] && { echo "$x"; break; }; sleep 0.1; done)
[ -n "$a" ] || fail "cluster B's leader applied nothing past the backup's slot $SLOT"
say "cluster B applied $a, past the backup's slot $SLOT"

# b_stat I FIELD: the latest value of a field in cluster B's replica I's stats lines
b_stat() { grep -o "\"$2\":[0-9]*" "$TMP/b-replica$1.log" | tail -n 1 | cut -d: -f2; }
restart_b() {
	local i=$1 data=""
	[ -n "$DATA" ] && data="--data-dir $DATA/replica$i"
	# shellcheck disable=SC2086
	"$PAXWIRED" --config "$CONFIG" --id "$i" $data --stats-interval-ms 200 \
		>> "$TMP/b-replica$i.log" 2>&1 &
	PIDS[$i]=$!
	disown $!
}
if [ "$DURABILITY" = durable ]; then
	say "kill -9 all three restored replicas; restart them from their data dirs"
	kill -9 "${PIDS[0]}" "${PIDS[1]}" "${PIDS[2]}"
	wait_gone "${PIDS[0]}" "${PIDS[1]}" "${PIDS[2]}"
	for i in 0 1 2; do restart_b "$i"; done
	wait_leader 10 > /dev/null || fail "no leader after restarting the restored cluster"
	for i in 0 1 2; do
		s=$(grep "restoring from the snapshot of slot" "$TMP/b-replica$i.log" | tail -n 1) ||
			fail "replica $i did not restart from the saved snapshot"
		grep "journal .*: replay read" "$TMP/b-replica$i.log" | tail -n 1 |
			grep -q "replay read 0 records" && fail "replica $i replayed an empty journal"
	done
	say "replica 2 ${s#*info: }"
else
	F=$(( (L2 + 1) % 3 ))
	say "kill -9 follower $F of the restored cluster; restart it (recovery, then state transfer)"
	kill -9 "${PIDS[$F]}"
	wait_gone "${PIDS[$F]}"
	restart_b "$F"
fi
check_markers "after the restart"
if [ "$DURABILITY" != durable ]; then
	# Its peers hold no slot at or below the backup's: it can only heal from a snapshot.
	for _ in $(seq 1 100); do
		grep -q "state transfer: installed the snapshot" "$TMP/b-replica$F.log" && break
		sleep 0.1
	done
	grep -q "state transfer: installed the snapshot" "$TMP/b-replica$F.log" ||
		fail "replica $F did not heal by state transfer after its restart"
	say "replica $F $(grep "state transfer: installed" "$TMP/b-replica$F.log" | tail -n 1 | sed 's/^.*state transfer: //')"
fi
v=$("$PWCTL" --config "$CONFIG" get after-restore) || fail "get after-restore failed after the restart"
[ "$v" = yes ] || fail "after-restore reads '$v' after the restart"

L3=$(wait_leader 5) || fail "no leader at the end"
for i in 0 1 2; do
	c=""; a=""
	for _ in $(seq 1 150); do
		c=$(b_stat "$L3" commit); a=$(b_stat "$i" applied)
		[ -n "$c" ] && [ -n "$a" ] && [ "$a" -ge "$c" ] && break
		sleep 0.1
	done
	[ -n "$c" ] && [ -n "$a" ] && [ "$a" -ge "$c" ] ||
		fail "replica $i applied ${a:-?}, leader $L3 committed ${c:-?}"
done
say "every replica applied the leader's commit point $c"

stop_and_compare b-
echo "1 passed, 0 failed"
