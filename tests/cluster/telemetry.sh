#!/usr/bin/env bash
# DPDK telemetry: a 1-replica paxwired over net_ring (no root, no NIC) serves
# /paxwire/role and /paxwire/stats on its telemetry socket: the role is leader, the
# stats carry every counter group, and the snapshot is live (its clock advances).
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
s2=$("$TELQ" "$SOCK" /paxwire/stats)
say "/paxwire/stats: ${s2:0:300}..."
for k in '"commit":' '"nic":' '"decode_drops":' '"px":' '"apply":' '"px_drops":'; do
	case "$s2" in *"$k"*) ;; *) fail "stats lack $k";; esac
done
t1=$(printf '%s' "$s1" | grep -o '"t_ms":[0-9]*' | head -1 | cut -d: -f2)
t2=$(printf '%s' "$s2" | grep -o '"t_ms":[0-9]*' | head -1 | cut -d: -f2)
[ -n "$t1" ] && [ -n "$t2" ] && [ "$t2" -gt "$t1" ] || fail "the snapshot is not live ($t1 -> $t2)"
lat=$("$TELQ" "$SOCK" /paxwire/commit_latency) || fail "commit_latency query failed"
say "/paxwire/commit_latency: ${lat:0:200}..."
n=$(printf '%s' "$lat" | sed -n 's/.*"commit_latency_log2_ns":\[\([0-9,]*\)\].*/\1/p' | tr ',' '\n' | grep -c .)
[ "$n" = 32 ] || fail "commit_latency has $n buckets, want 32"
kill -TERM "${PIDS[0]}"
echo "1 passed, 0 failed"
