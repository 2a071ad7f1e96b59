#!/usr/bin/env bash
# Peer ids the cluster file does not list (issue 13: the node may now address any id
# 0..8). Three paxwired replicas over kernel UDP with auth = off (a lab: anyone can send
# as any replica), under a recorded kv load; pw-attack forges PREVOTE, PREPARE and
# ACCEPT from ids 3..8 at a configuration epoch above the cluster's, which the core
# hears (a member the log may add looks like that) and answers. The replicas have no
# address for those ids: the answer must be refused (tx_no_buf), never crash the
# replica (dataplane dst_port asserted before). Checks: every replica alive, tx_no_buf
# rose, the cluster keeps committing, the history is linearizable.
. "$(dirname "$0")/lib.sh" "$1"

PWATTACK=$BUILD/tests/attack/pw-attack
[ -x "$PWATTACK" ] || fail "$PWATTACK missing; build it (ninja -C $BUILD tests/attack/pw-attack)"

write_config 3
sed -i 's/^key_file = .*/auth = off/' "$CONFIG"
unset PAXWIRE_KEY_FILE
for i in 0 1 2; do start_replica "$i" --bootstrap; done
L=$(wait_leader 10) || fail "no leader within 10 s"
say "leader is $L"
CLIENT_KEY="" start_load 2 5 8
sleep 1
before=$(stat_of "$L" commit)
for round in 1 2 3; do
	"$PWATTACK" forge --config "$CONFIG" --only stranger_newer_epoch --seed "$round" \
		> "$TMP/attack-$round.json" || fail "pw-attack forge"
	sleep 0.3
done
say "forged: $(cut -c 1-300 "$TMP/attack-1.json")"
grep -q '"stranger_newer_epoch":[1-9]' "$TMP/attack-1.json" ||
	fail "pw-attack sent no stranger_newer_epoch datagram"
for i in 0 1 2; do
	kill -0 "${PIDS[$i]}" 2>/dev/null || fail "replica $i died (a send to an unknown peer id?)"
done
sleep 0.5
nobuf=0
for i in 0 1 2; do
	v=$(stat_of "$i" tx_no_buf)
	nobuf=$((nobuf + ${v:-0}))
done
say "tx_no_buf over the replicas: $nobuf"
[ "$nobuf" -gt 0 ] || fail "no replica refused a send to an unknown id (tx_no_buf 0): the attack did not reach the path it tests"
L2=$(wait_leader 10) || fail "no leader after the attack"
finish_load_and_check "$L2" "$L2"
after=$(stat_of "$L2" commit)
[ "${after:-0}" -gt "${before:-0}" ] || fail "no commit after the attack ($before -> $after)"
stop_and_compare
echo "1 passed, 0 failed"
