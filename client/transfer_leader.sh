#!/usr/bin/env bash
# pwctl transfer-leader and stats against 3 real paxwired (kernel UDP): leadership moves
# to the member asked for, writes go on through the new leader, a bad target is
# refused (exit 1: no member), transferring to the current leader is a no-op; every member answers `stats`
# (the new leader with its commit-latency histogram) and `status` shows their progress. Uses tests/cluster/lib.sh, which stops
# everything it started on any exit.
. "$(dirname "$0")/../tests/cluster/lib.sh" "$1"

write_config 3
for i in 0 1 2; do start_replica $i --bootstrap; done
L=$(wait_leader 10) || fail "no leader within 10 s"
say "leader is $L"
"$PWCTL" --config "$CONFIG" put before transfer || fail "put before the transfer"
T=$(( (L + 1) % 3 ))
out=$("$PWCTL" --config "$CONFIG" --timeout 5000 transfer-leader "$T") ||
	fail "transfer-leader $T failed: $out"
say "$out"
[ "$out" = "leader is now $T" ] || fail "unexpected output '$out'"
now=$("$PWCTL" --config "$CONFIG" leader) || fail "no leader after the transfer"
[ "$now" = "$T" ] || fail "leader is $now, not $T"
"$PWCTL" --config "$CONFIG" put after transfer || fail "put after the transfer"
[ "$("$PWCTL" --config "$CONFIG" get before)" = transfer ] || fail "value lost"
out=$("$PWCTL" --config "$CONFIG" transfer-leader "$T") || fail "transfer to the leader itself"
[ "$("$PWCTL" --config "$CONFIG" leader)" = "$T" ] || fail "leader moved on a no-op"
st=$("$PWCTL" --config "$CONFIG" stats "$T") || fail "pwctl stats $T"
say "stats $T: ${st:0:160}..."
case "$st" in *'"role":"leader"'*'"commit_latency_ns_buckets":['*) ;; *) fail "stats of $T: $st";; esac
[ "$("$PWCTL" --config "$CONFIG" stats | grep -c '"role":')" = 3 ] || fail "stats of every member"
"$PWCTL" --config "$CONFIG" status | tee "$TMP/status.txt"
[ "$(grep -cE ' [0-9]+ / [0-9]+$' "$TMP/status.txt")" = 3 ] || fail "status lacks commit / applied"
set +e
"$PWCTL" --config "$CONFIG" transfer-leader 7 2>/dev/null
rc=$?
set -e
[ $rc = 1 ] || fail "transfer-leader 7 exited $rc, want 1 (no member: refused)"
grep -q '"transfers":1' <(tail -n 1 "$TMP/replica$L.log") ||
	grep -q "transfer leadership to $T: started" "$TMP/replica$L.log" || fail "no transfer logged by $L"
echo "1 passed, 0 failed"
