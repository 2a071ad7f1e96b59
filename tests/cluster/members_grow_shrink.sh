#!/usr/bin/env bash
# Membership changes online (issue 13): three durable paxwired replicas over kernel UDP,
# authentication on, grow to five and shrink back to three under a recorded kv load:
#   - replicas 3 and 4 start with --join (sections added to the cluster file); pwctl
#     add-member ID IP:PORT --voter adds each and waits until the leader promoted it;
#   - pwctl remove-member takes out two of the initial voters (the leader among them if
#     it is one: leadership moves), whose processes are then stopped;
#   - leadership is moved to replica 3, which the load's cluster file (the initial one,
#     never updated) does not list: its clients must learn the new members from the
#     cluster (a NOT_LEADER hint naming an unknown id; PX_ADMIN_MEMBERS);
# Checks: every step's pwctl exits 0 and the voters are what they should be; the load
# completes enough operations; its history (with final reads) is linearizable; the three
# remaining replicas stop in the same state.
DURABILITY=durable
. "$(dirname "$0")/lib.sh" "$1"

write_config 3
for i in 0 1 2; do start_replica "$i" --bootstrap; done
L=$(wait_leader 10) || fail "no leader within 10 s"
say "leader is $L"
# The clients' file stays the initial one (ids 0..2): it goes stale as the cluster moves.
cp "$CONFIG" "$TMP/clients.ini"
LOAD_CONFIG=$TMP/clients.ini start_load 4 14 16
add_section 3
add_section 4
start_replica 3 --join
start_replica 4 --join
sleep 1
for i in 3 4; do
	say "add member $i"
	"$PWCTL" --config "$CONFIG" add-member "$i" "$(addr_of "$i")" --voter --wait 20000 ||
		fail "pwctl add-member $i"
done
v=$(voters); say "voters: $v"
[ "$v" = "0 1 2 3 4" ] || fail "voters are '$v', not 0 1 2 3 4"

# Two of the initial voters leave: the leader if it is one of 0 and 1, else 0 and 1.
L=$(wait_leader 5) || fail "no leader with five voters"
if [ "$L" = 2 ]; then GONE="0 1"; else GONE="$L $(( L == 0 ? 1 : 0 ))"; fi
for i in $GONE; do
	say "remove member $i (leader now: $(leader))"
	"$PWCTL" --config "$CONFIG" remove-member "$i" --wait 20000 || fail "pwctl remove-member $i"
	kill -TERM "${PIDS[$i]}"
done
wait_gone $(for i in $GONE; do echo "${PIDS[$i]}"; done)
KEEP=$(for i in 0 1 2 3 4; do case " $GONE " in *" $i "*) ;; *) echo "$i";; esac; done | tr '\n' ' ')
v=$(voters); say "voters: $v (kept: $KEEP)"
[ "$v " = "$KEEP" ] || fail "voters are '$v', not $KEEP"
L=$(wait_leader 10) || fail "no leader after the removals"
# A removed id is never a member again (its replica may still run with its old log).
i=${GONE%% *}
out=$("$PWCTL" --config "$CONFIG" add-member "$i" "$(addr_of "$i")" 2>&1) && rc=0 || rc=$?
say "add-member $i again: rc $rc: $out"
[ "$rc" = 1 ] || fail "re-adding removed member $i: exit $rc, not 1 (refused)"
case "$out" in *"never reused"*) ;; *) fail "re-adding $i: no reason given" ;; esac
say "leader is $L; transfer leadership to 3 (not in the clients' file)"
"$PWCTL" --config "$CONFIG" transfer-leader 3 || fail "pwctl transfer-leader 3"

finish_load_and_check 3 3
grep -q '"final_reads_failed":0' "$TMP/load.json" || fail "a final read failed"
# shellcheck disable=SC2086  # KEEP is a list of ids
stop_ids_and_compare $KEEP
echo "1 passed, 0 failed"
