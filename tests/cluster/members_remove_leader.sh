#!/usr/bin/env bash
# Removing the leader (issue 13), under a recorded kv load: three durable paxwired
# replicas over kernel UDP, authentication on, grown to four (replica 3 with --join, then
# pwctl add-member --voter: three voters must stay). pwctl remove-member LEADER: the
# change takes effect, the old leader hands over, leadership moves to another voter.
# Then the removed replica's process is stopped and started again from the same data
# dir: it is no member (its journal says so) and must do no harm: it runs, says it is no
# member, and the members commit on. Last, it is started from a copy of its data dir
# taken just before its removal (a stale disk image: it believes it is a voter and
# campaigns): the members drop its messages as not_member (pwctl stats: px_drops), it
# never leads, commits go on.
# Checks: pwctl exits 0; the new leader is another replica; the removed one runs after
# each restart; the members committed meanwhile; the history is linearizable; the three
# members stop in the same state.
DURABILITY=durable
. "$(dirname "$0")/lib.sh" "$1"

write_config 3
for i in 0 1 2; do start_replica "$i" --bootstrap; done
L=$(wait_leader 10) || fail "no leader within 10 s"
start_load 4 12 16
add_section 3
start_replica 3 --join
"$PWCTL" --config "$CONFIG" add-member 3 "$(addr_of 3)" --voter --wait 20000 ||
	fail "pwctl add-member 3"
L=$(wait_leader 5) || fail "no leader with four voters"
# A crash image of its data dir before the removal (the journal cuts a torn tail).
cp -a "$DATA/replica$L" "$DATA/stale$L"
rm -f "$DATA/stale$L/LOCK"
say "remove the leader, $L"
"$PWCTL" --config "$CONFIG" remove-member "$L" --wait 20000 || fail "pwctl remove-member $L"
L2=$(wait_leader 10 "$L") || fail "no new leader after removing $L"
say "leadership moved to $L2"
[ "$L2" != "$L" ] || fail "the removed replica still leads"
KEEP=$(for i in 0 1 2 3; do [ "$i" != "$L" ] && echo "$i"; done | tr '\n' ' ')
v=$(voters); say "voters: $v"
[ "$v " = "$KEEP" ] || fail "voters are '$v', not $KEEP"

# not_member_drops: the members' px drops of messages from non-members, summed
not_member_drops() {
	local t=0 i v
	for i in $KEEP; do
		v=$("$PWCTL" --config "$CONFIG" stats "$i" 2>/dev/null | grep -o '"not_member":[0-9]*' | cut -d: -f2)
		t=$((t + ${v:-0}))
	done
	echo "$t"
}
say "stop the removed replica $L and start it again from its data dir"
kill -TERM "${PIDS[$L]}"
wait_gone "${PIDS[$L]}"
d0=$(not_member_drops)
c0=$(stat_of "$L2" commit)
start_replica "$L"
sleep 3
kill -0 "${PIDS[$L]}" 2>/dev/null || fail "the removed replica $L did not keep running"
grep -q "this replica is no member of it" "$TMP/replica$L.log" ||
	fail "the removed replica $L does not know it is no member"
d1=$(not_member_drops)
c1=$(stat_of "$L2" commit)
say "after its restart: the members dropped $((d1 - d0)) of its messages as not_member; leader $L2's commit $c0 -> $c1"
[ "${c1:-0}" -gt "${c0:-0}" ] || fail "no commit while the removed replica ran"

say "stop it again, and start it from the copy of its data dir taken before its removal"
kill -TERM "${PIDS[$L]}"
wait_gone "${PIDS[$L]}"
mv "$DATA/replica$L" "$DATA/removed$L"
mv "$DATA/stale$L" "$DATA/replica$L"
d0=$(not_member_drops)
c0=$(stat_of "$L2" commit)
start_replica "$L"
sleep 3
kill -0 "${PIDS[$L]}" 2>/dev/null || fail "the stale replica $L did not keep running"
d1=$(not_member_drops)
c1=$(stat_of "$L2" commit)
l=$(leader)
say "stale image: the members dropped $((d1 - d0)) of its messages as not_member; commit $c0 -> $c1; leader $l"
[ $((d1 - d0)) -gt 0 ] || fail "no message of the stale replica $L was dropped as not_member"
[ "${c1:-0}" -gt "${c0:-0}" ] || fail "no commit while the stale replica ran"
[ "$l" != "$L" ] || fail "the stale replica $L leads"
L3=$(wait_leader 5 "$L") || fail "no leader among the members"
finish_load_and_check "$L3" "$L3"
grep -q '"final_reads_failed":0' "$TMP/load.json" || fail "a final read failed"
kill -TERM "${PIDS[$L]}"
# shellcheck disable=SC2086  # KEEP is a list of ids
stop_ids_and_compare $KEEP
echo "1 passed, 0 failed"
