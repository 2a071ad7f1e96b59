#!/usr/bin/env bash
# DPDK telemetry: a 1-replica paxwired over net_ring (no root, no NIC) serves
# /paxwire/role, /paxwire/stats and /paxwire/commit_latency on its telemetry socket,
# read with tel-query and with dpdk-telemetry.py: the role is leader, the stats have the
# stats line's schema (docs/metrics.md: same keys and shapes), the snapshot is live (its
# clock advances), and the latency buckets are cumulative.
. "$(dirname "$0")/lib.sh" "$1"
TELQ=$BUILD/tests/cluster/tel-query
RUN=$TMP/run
mkdir -p "$RUN"
cat > "$TMP/cluster.ini" <<INI
[cluster]
id = 7
key_file = $CLUSTER_KEY
replicas = 1
transport = dpdk
durability = memory
heartbeat_ms = 10
election_ms = 100
idle = adaptive
service = kv
[replica.0]
ip = 10.250.0.1
port = 7100
mac = 02:fa:00:00:00:01
port_index = 0
INI
CONFIG=$TMP/cluster.ini
RUNTIME_DIRECTORY=$RUN "$PAXWIRED" --no-huge -m 128 --no-pci --no-shconf \
	--file-prefix=pwtel$$ --vdev=net_ring0 -- --config "$CONFIG" --id 0 --bootstrap \
	> "$TMP/replica0.log" 2>&1 &
PIDS[0]=$!
disown $!
SOCK=$RUN/dpdk/pwtel$$/dpdk_telemetry.v2
for _ in $(seq 1 100); do [ -S "$SOCK" ] && break; sleep 0.05; done
[ -S "$SOCK" ] || fail "no telemetry socket at $SOCK"
role=""
for _ in $(seq 1 100); do
	role=$("$TELQ" "$SOCK" /paxwire/role) || fail "query failed"
	case "$role" in *'"role":"leader"'*) break ;; esac
	sleep 0.05
done
say "/paxwire/role: $role"
case "$role" in *'"role":"leader"'*) ;; *) fail "a 1-replica cluster did not report leadership";; esac
s1=$("$TELQ" "$SOCK" /paxwire/stats)
sleep 0.3
# The operator's tool (package dpdk-dev, installed by scripts/setup): one JSON reply a
# command on stdout, the socket found from --file-prefix and RUNTIME_DIRECTORY.
command -v dpdk-telemetry.py >/dev/null || fail "dpdk-telemetry.py not found: install dpdk-dev (scripts/setup)"
printf '/paxwire/stats\n/paxwire/commit_latency\n/paxwire/role\n' |
	RUNTIME_DIRECTORY=$RUN dpdk-telemetry.py -f "pwtel$$" > "$TMP/dpdk-telemetry.out" 2>&1 ||
	fail "dpdk-telemetry.py failed: $(cat "$TMP/dpdk-telemetry.out")"
say "dpdk-telemetry.py: $(head -c 300 "$TMP/dpdk-telemetry.out")..."
kill -USR1 "${PIDS[0]}"
sleep 0.3
grep '^{' "$TMP/replica0.log" | tail -n 1 > "$TMP/line.json"
# The same schema as the stats line (docs/metrics.md): every key, shape and group; the
# leader an integer; the snapshot live; the latency buckets cumulative.
python3 - "$TMP/dpdk-telemetry.out" "$TMP/line.json" "$s1" <<'PY' || fail "telemetry does not match the stats line's schema"
import json, sys
replies = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
assert len(replies) == 3, f"{len(replies)} replies: {open(sys.argv[1]).read()[:500]}"
st = replies[0]["/paxwire/stats"]
lat = replies[1]["/paxwire/commit_latency"]
role = replies[2]["/paxwire/role"]
line = json.load(open(sys.argv[2]))
first = json.loads(sys.argv[3])["/paxwire/stats"]
bad = []
for k in set(line) - {"final", "apply_chain", "service_hash"} | set(st):
    if k not in st or k not in line:
        bad.append(f"{k}: only in {'the line' if k in line else 'telemetry'}")
    elif type(st[k]) != type(line[k]):
        bad.append(f"{k}: {type(st[k]).__name__} in telemetry, {type(line[k]).__name__} in the line")
    elif isinstance(st[k], dict) and set(st[k]) != set(line[k]):
        bad.append(f"{k}: keys differ: {sorted(set(st[k]) ^ set(line[k]))}")
if role.get("role") != "leader" or role.get("leader") != 0 or st.get("leader") != 0:
    bad.append(f"role {role}")
if not st["t_ms"] > first["t_ms"]:
    bad.append(f"the snapshot is not live ({first['t_ms']} -> {st['t_ms']})")
b = lat.get("commit_latency_ns_buckets", [])
c = lat.get("commit_latency_ns", {})
if len(b) != 32 or b != sorted(b) or b[-1] != c.get("count"):
    bad.append(f"latency: {c} {b}")
for x in bad:
    print("BAD:", x)
print(f"telemetry: {len(st)} keys, the line's schema; commits timed {c.get('count')}")
sys.exit(1 if bad else 0)
PY
kill -TERM "${PIDS[0]}"
echo "1 passed, 0 failed"
