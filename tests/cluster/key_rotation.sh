#!/usr/bin/env bash
# A key rotation with no downtime (docs/security.md, "Key rotation"), under a recorded
# workload whose client holds a key of the old generation only:
#   1. pwctl keygen --rotate: every replica restarted in turn with both keys (sending
#      the old one);
#   2. send = the new generation: every replica restarted in turn (sending the new one,
#      taking both); a client key derived now holds both and sends the new one;
#   3. pwctl keygen --retire: every replica restarted in turn with the new key only.
# The load (old key) runs through steps 1 and 2 and must stay linearizable; after step 3
# the old client key is refused (key_gen, counted), a new-generation key works, and
# the replicas end in the same state.
. "$(dirname "$0")/lib.sh" "$1"

write_config 3
for i in 0 1 2; do start_replica "$i" --bootstrap; done
L=$(wait_leader 10) || fail "no leader within 10 s"
"$PWCTL" --config "$CONFIG" put rot-key before >/dev/null || fail "put before"

# restart_each: every replica in turn, SIGTERM then a plain restart (memory mode: it
# recovers from the other two); waits until it is a follower or the leader again.
restart_each() {
	local i
	for i in 0 1 2; do
		kill -TERM "${PIDS[$i]}"
		wait_gone "${PIDS[$i]}"
		start_replica "$i"
		local ok=0
		for _ in $(seq 1 200); do
			if tail -n 1 "$TMP/replica$i.log" 2>/dev/null |
				grep -q '"role":"follower"\|"role":"leader"'; then
				ok=1; break
			fi
			sleep 0.05
		done
		[ $ok = 1 ] || fail "replica $i did not come back after its restart"
	done
	wait_leader 10 > /dev/null || fail "no leader after the restarts"
}

start_load 2 14 32
sleep 1
"$PWCTL" keygen --rotate "$CLUSTER_KEY" "$TMP/next.key" || fail "keygen --rotate"
grep -c '^key = ' "$TMP/next.key" | grep -qx 2 || fail "the rotated file holds no two keys"
cp "$TMP/next.key" "$CLUSTER_KEY"   # cp keeps the target's mode (0600)
restart_each
say "step 1 done: both keys everywhere, the old one sent"
new_gen=$(sed -n 's/^key = \([0-9]*\):.*/\1/p' "$CLUSTER_KEY" | tail -n 1)
sed -i "s/^send = .*/send = $new_gen/" "$CLUSTER_KEY"
restart_each
say "step 2 done: generation $new_gen sent, both taken"
"$PWCTL" keygen --client 3 --from "$CLUSTER_KEY" "$TMP/client-new.key" || fail "keygen --client"
"$PWCTL" --config "$CONFIG" --key "$TMP/client-new.key" put rot-key during >/dev/null ||
	fail "a new client key does not work during the rotation"
finish_load_and_check 0 "$(wait_leader 5)"
# The operators' admin key is reissued too (the old one is of the old generation).
"$PWCTL" keygen --admin 4 --from "$CLUSTER_KEY" "$TMP/admin-new.key" || fail "keygen --admin"
export PAXWIRE_KEY_FILE=$TMP/admin-new.key

"$PWCTL" keygen --retire "$CLUSTER_KEY" "$TMP/final.key" || fail "keygen --retire"
grep -c '^key = ' "$TMP/final.key" | grep -qx 1 || fail "the retired file holds more than one key"
cp "$TMP/final.key" "$CLUSTER_KEY"
restart_each
say "step 3 done: generation $new_gen only"
v=$("$PWCTL" --config "$CONFIG" --key "$TMP/client-new.key" get rot-key) ||
	fail "a new-generation client key was refused after the rotation"
[ "$v" = during ] || fail "rot-key is '$v', not 'during'"
rc=0
"$PWCTL" --config "$CONFIG" --key "$CLIENT_KEY" --timeout 600 get rot-key >/dev/null 2>&1 || rc=$?
[ $rc = 2 ] || fail "the old generation's client key still works (pwctl exit $rc)"
sleep 0.5   # one more stats line
drops=0
for i in 0 1 2; do
	d=$(grep -o '"key_gen":[0-9]*' "$TMP/replica$i.log" | tail -n 1 | cut -d: -f2)
	drops=$((drops + ${d:-0}))
done
[ "$drops" -gt 0 ] || fail "the old key's datagrams were not counted as key_gen drops"
say "the old client key is refused (key_gen drops: $drops); values kept"
stop_and_compare
echo "1 passed, 0 failed"
