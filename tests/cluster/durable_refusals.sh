#!/usr/bin/env bash
# What paxwired refuses in durable mode, each with its message and a non-zero exit:
#   - durability = durable without --data-dir (the message names the fix);
#   - --data-dir with durability = memory;
#   - a second paxwired on a data dir a running one holds (the dir's lock), whatever
#     its --id;
#   - --bootstrap on a data dir that holds a journal, and a start without --bootstrap
#     on one that holds none.
# And what it accepts: a restart from its journal after a clean stop, with what was
# written before it.
DURABILITY=durable
. "$(dirname "$0")/lib.sh" "$1"

write_config 3
OUT=$TMP/refused.out

# refused CODE WHAT ARGS...: paxwired ARGS must exit with CODE and print WHAT.
refused() {
	local code=$1 what=$2 rc=0
	shift 2
	timeout 10 "$PAXWIRED" "$@" > "$OUT" 2>&1 || rc=$?
	[ "$rc" -eq "$code" ] || fail "paxwired $* exited $rc, not $code: $(cat "$OUT")"
	grep -qF -- "$what" "$OUT" || fail "paxwired $*: no '$what' in: $(cat "$OUT")"
	grep -q "fix:" "$OUT" || fail "paxwired $*: the message names no fix: $(cat "$OUT")"
	say "refused ($rc): $(head -c 160 "$OUT" | head -n 1)..."
}

refused 2 "durability = durable keeps a journal on disk, and no --data-dir was given" \
	--config "$CONFIG" --id 0 --bootstrap
sed 's/^durability = durable$/durability = memory/' "$CONFIG" > "$TMP/memory.ini"
refused 2 "has durability = memory, which keeps nothing on disk" \
	--config "$TMP/memory.ini" --id 0 --bootstrap --data-dir "$DATA/memory"
[ -e "$DATA/memory" ] && fail "memory mode created a data dir"

# An empty dir without --bootstrap: that would be a restart that forgot everything.
refused 1 "holds no journal, and a start without --bootstrap is a restart" \
	--config "$CONFIG" --id 0 --data-dir "$DATA/replica0"

# The lock: replica 0 runs on its dir; a second paxwired on that dir is refused, with
# the same id (the lock is taken before the port) and with another one.
for i in 0 1 2; do start_replica "$i" --bootstrap; done
wait_leader 10 > /dev/null || fail "no leader within 10 s"
refused 1 "is in use: another paxwired holds its LOCK" \
	--config "$CONFIG" --id 0 --data-dir "$DATA/replica0"
refused 1 "is in use: another paxwired holds its LOCK" \
	--config "$CONFIG" --id 1 --data-dir "$DATA/replica0"
"$PWCTL" --config "$CONFIG" put durable yes > /dev/null || fail "put failed"
kill -0 "${PIDS[0]}" 2>/dev/null || fail "replica 0 died while refusing the others"

# Stop it cleanly; its dir now holds a journal: --bootstrap is refused, a restart works
# and still has the write.
kill -TERM "${PIDS[0]}"
wait_gone "${PIDS[0]}"
grep -q "info: stopped$" "$TMP/replica0.log" || fail "replica 0 did not stop cleanly"
refused 1 "--bootstrap, but data dir $DATA/replica0 holds a journal" \
	--config "$CONFIG" --id 0 --bootstrap --data-dir "$DATA/replica0"
start_replica 0
for _ in $(seq 1 100); do
	grep -q "restored: applied" "$TMP/replica0.log" && break
	sleep 0.05
done
r=$(grep "restored: applied" "$TMP/replica0.log") || fail "replica 0 did not restore"
echo "$r" | grep -q "restored: applied [1-9]" || fail "replica 0 restored nothing: $r"
v=$("$PWCTL" --config "$CONFIG" get durable) || fail "get after the restart failed"
[ "$v" = yes ] || fail "get after the restart: '$v'"
say "replica 0 restarted from its journal: ${r#*restored: }"
echo "1 passed, 0 failed"
