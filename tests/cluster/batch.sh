#!/usr/bin/env bash
# batch_cmds_max means what it says: commands that arrived together are proposed as one
# batch of up to batch_cmds_max, whichever bursts and ports brought them (the receive
# buffers they point into are held until the batch is proposed), and never more.
# One replica (the unreplicated baseline) is stopped (SIGSTOP) while 100 clients send
# their first request (a registration) to it; continued, it finds 100 commands on its
# socket, three receive bursts' worth, and must propose them as batches of exactly
# batch_cmds_max = 64 and 36: the largest batch it reports is 64 (it was at most one
# burst, 32, before the holds).
. "$(dirname "$0")/lib.sh" "$1"

write_config 1
sed -i 's/^pipeline_slots = .*/pipeline_slots = 256\nbatch_cmds_max = 64/' "$CONFIG"
# auth = off here: an authenticated client's first datagram is a probe that learns the
# replica's life (docs/security.md, "Replays after a restart"), so the registrations
# would reach the stopped replica one round trip after the probes, not all at once.
# Batching is the same code either way; the other cluster tests run authenticated.
sed -i 's/^key_file = .*/auth = off/' "$CONFIG"
start_replica 0 --bootstrap
L=$(wait_leader 10) || fail "no leader within 10 s"
[ "$L" = 0 ] || fail "leader is $L"
kill -STOP "${PIDS[0]}"
# Resends only after 3 s: the socket holds just the first request of each client.
"$PWBENCH" --config "$CONFIG" --clients 100 --seconds 3 --max-ops 400 --keys 64 \
	"${KV_LOAD[@]}" --attempt-ms 3000 --deadline-ms 10000 \
	> "$TMP/load.json" 2> "$TMP/load.log" &
LOAD=$!
PIDS+=($LOAD)
sleep 1
kill -CONT "${PIDS[0]}"
wait $LOAD || fail "pw-bench failed: $(cat "$TMP/load.log")"
cat "$TMP/load.json"
ok=$(grep -o '"ok":[0-9]*' "$TMP/load.json" | cut -d: -f2)
[ "${ok:-0}" -ge 100 ] || fail "only ${ok:-0} operations succeeded"
sleep 0.5   # one more stats line
bm=$(stat_of 0 batch_max); fl=$(stat_of 0 flushes); holds=$(stat_of 0 rx_holds)
say "batch_max $bm, flushes $fl, datagrams held $holds"
[ "${bm:-0}" -eq 64 ] || fail "the largest batch was ${bm:-?} commands, not batch_cmds_max = 64"
[ "${holds:-0}" -ge 64 ] || fail "only ${holds:-0} datagrams were held past their burst"
echo "1 passed, 0 failed"
