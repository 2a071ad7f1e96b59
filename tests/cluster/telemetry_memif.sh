#!/usr/bin/env bash
# Telemetry in the documented memif layout (deploy/memif-mesh, as deploy/local-3-memif.ini
# uses it): three replicas, each with its own --file-prefix and so its own telemetry
# socket; dpdk-telemetry.py reads /paxwire/role from each and they agree on the leader
# pwctl finds; stopped with SIGTERM, each replica removes its DPDK runtime dir.
TRANSPORT=memif
. "$(dirname "$0")/lib.sh" "$1"
command -v dpdk-telemetry.py >/dev/null || fail "dpdk-telemetry.py not found: install dpdk-dev (scripts/setup)"
write_config 3
for i in 0 1 2; do start_replica "$i" --bootstrap; sleep 0.3; done
L=$(wait_leader 10) || fail "no leader within 10 s"
say "leader is $L"
"$PWCTL" --config "$CONFIG" put tel memif >/dev/null || fail "put"
tag=$(printf '%s' "$TMP" | cksum | cut -d' ' -f1)
for i in 0 1 2; do
	sock=$RUNTIME_DIRECTORY/dpdk/pw$tag-$i/dpdk_telemetry.v2
	[ -S "$sock" ] || fail "replica $i: no telemetry socket at $sock"
	out=$(echo /paxwire/role | dpdk-telemetry.py -f "pw$tag-$i" 2>&1) || fail "dpdk-telemetry.py: $out"
	say "replica $i: $out"
	printf '%s' "$out" | python3 -c '
import json, sys
r = json.loads(sys.stdin.read())["/paxwire/role"]
want_id, want_leader = int(sys.argv[1]), int(sys.argv[2])
assert r["id"] == want_id and r["leader"] == want_leader, r
assert r["role"] == ("leader" if want_id == want_leader else "follower"), r
' "$i" "$L" || fail "replica $i: /paxwire/role does not name leader $L"
done
kill -TERM "${PIDS[@]}"
wait_gone "${PIDS[@]}"
for i in 0 1 2; do
	[ ! -e "$RUNTIME_DIRECTORY/dpdk/pw$tag-$i" ] || fail "replica $i left its runtime dir: $(ls -la "$RUNTIME_DIRECTORY/dpdk/pw$tag-$i")"
done
say "runtime dirs removed at exit"
echo "1 passed, 0 failed"
