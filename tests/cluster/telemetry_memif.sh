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
wait_leader 10 >/dev/null || fail "no leader within 10 s"
"$PWCTL" --config "$CONFIG" put tel memif >/dev/null || fail "put"
tag=$(printf '%s' "$TMP" | cksum | cut -d' ' -f1)
for i in 0 1 2; do
	sock=$RUNTIME_DIRECTORY/dpdk/pw$tag-$i/dpdk_telemetry.v2
	[ -S "$sock" ] || fail "replica $i: no telemetry socket at $sock"
done
# Each replica's /paxwire/role through its own socket; they must agree on one leader, the
# one pwctl finds (asked again if an election came in between: a loaded host can stall
# a replica past the election timeout).
agreed=""
for attempt in 1 2 3; do
	L=$(wait_leader 10) || fail "no leader"
	: > "$TMP/roles.txt"
	for i in 0 1 2; do
		out=$(echo /paxwire/role | dpdk-telemetry.py -f "pw$tag-$i" 2>&1) || fail "dpdk-telemetry.py: $out"
		printf '%s\n' "$out" >> "$TMP/roles.txt"
	done
	if python3 - "$TMP/roles.txt" "$L" <<'PY'
import json, sys
want = int(sys.argv[2])
roles = [json.loads(l)["/paxwire/role"] for l in open(sys.argv[1]) if l.startswith("{")]
assert [r["id"] for r in roles] == [0, 1, 2], roles
for r in roles:
    print(f"replica {r['id']}: role {r['role']}, leader {r['leader']}, ballot {r['ballot_round']}.{r['ballot_node']}")
ok = all(r["leader"] == want and r["role"] == ("leader" if r["id"] == want else "follower")
         for r in roles)
sys.exit(0 if ok else 1)
PY
	then agreed=$L; break; fi
	say "the replicas did not agree on leader $L (an election in between?): again"
done
[ -n "$agreed" ] || fail "the replicas' /paxwire/role never agreed with pwctl's leader"
say "every replica's telemetry names leader $agreed"
kill -TERM "${PIDS[@]}"
wait_gone "${PIDS[@]}"
for i in 0 1 2; do
	[ ! -e "$RUNTIME_DIRECTORY/dpdk/pw$tag-$i" ] || fail "replica $i left its runtime dir: $(ls -la "$RUNTIME_DIRECTORY/dpdk/pw$tag-$i")"
done
say "runtime dirs removed at exit"
echo "1 passed, 0 failed"
