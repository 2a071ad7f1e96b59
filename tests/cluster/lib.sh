# Shared by the cluster tests: start and stop local paxwired processes, and make sure
# every process this test started is gone when it ends, even on failure.
# Usage: . lib.sh BUILD_DIR   (then call cluster_start N)
set -euo pipefail
BUILD=$(cd "$1" && pwd)
PAXWIRED=$BUILD/dataplane/paxwired
PWCTL=$BUILD/client/pwctl
PWBENCH=$BUILD/bench/pw-bench
LINCHECK=$BUILD/tests/lincheck/pw-lincheck
MEMIF_MESH=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../deploy" && pwd)/memif-mesh
TMP=$(mktemp -d /tmp/pw-cluster.XXXXXX)
# DPDK runtime dirs (one per --file-prefix: telemetry sockets, locks) under $TMP, gone
# with it even after a kill -9 (paxwired removes its own when it exits cleanly).
export RUNTIME_DIRECTORY=$TMP/run
mkdir -p "$RUNTIME_DIRECTORY"
declare -a PIDS=()
EXTRA_CLEANUP=${EXTRA_CLEANUP:-}

cleanup() {
	local rc=$?
	for p in "${PIDS[@]:-}"; do
		[ -n "$p" ] && kill -9 "$p" 2>/dev/null || true
	done
	[ -n "$EXTRA_CLEANUP" ] && eval "$EXTRA_CLEANUP" || true
	if [ $rc -ne 0 ]; then
		echo "--- logs kept in $TMP; their last lines:"
		for f in "$TMP"/*.log; do echo "== $f"; tail -c 1500 "$f"; echo; done 2>/dev/null || true
	else
		rm -rf "$TMP"
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() { echo "FAIL: $*" >&2; exit 1; }
say() { echo "[$(date +%T.%3N)] $*"; }

# A free block of UDP ports (one per replica) derived from the PID; the bind fails
# loudly if one is taken after all.
BASE_PORT=$((20000 + ($$ % 2000) * 10))

# TRANSPORT=udp (default) or memif: replicas talk over a full mesh of DPDK memif links
# (--no-huge; one ethdev port per peer, link.J in the config) and hear clients on a
# kernel UDP socket at ip:port (clients = udp).
TRANSPORT=${TRANSPORT:-udp}
N_REPLICAS=0
# DURABILITY=memory (default) or durable: each replica then keeps its journal in
# $DATA/replicaI (--data-dir), a dir of its own removed on every exit (EXTRA_CLEANUP).
DURABILITY=${DURABILITY:-memory}
DATA=""
if [ "$DURABILITY" = durable ]; then
	DATA=$(mktemp -d /tmp/pw-cluster-data.XXXXXX)
	EXTRA_CLEANUP="rm -rf '$DATA'; $EXTRA_CLEANUP"
fi

# LOG_TRANSPORT=message (default), shm: the leader writes ACCEPTs into followers' memory
# (docs/rdma.md). shm objects are named after the cluster id (/dev/shm/paxwire-cID-*):
# removed on every exit, a kill -9'd replica's included.
LOG_TRANSPORT=${LOG_TRANSPORT:-message}
CLUSTER_ID=$((($$ % 60000) + 1))
if [ "$LOG_TRANSPORT" != message ]; then
	EXTRA_CLEANUP="rm -f /dev/shm/paxwire-c$CLUSTER_ID-n*; $EXTRA_CLEANUP"
fi

# Authentication (docs/security.md): every test cluster runs with it. make_keys writes
# the cluster key (the replicas' key_file), a client key (id 1: the workloads) and an
# admin key (id 2: pwctl's stats, transfer-leader, backups), once per test; tools take
# the admin key from PAXWIRE_KEY_FILE, pw-bench the client key (kv_load).
CLUSTER_KEY=$TMP/cluster.key
CLIENT_KEY=$TMP/client.key
ADMIN_KEY=$TMP/admin.key
make_keys() {
	[ -f "$CLUSTER_KEY" ] && return 0
	"$PWCTL" keygen "$CLUSTER_KEY"
	"$PWCTL" keygen --client 1 --from "$CLUSTER_KEY" "$CLIENT_KEY"
	"$PWCTL" keygen --admin 2 --from "$CLUSTER_KEY" "$ADMIN_KEY"
	export PAXWIRE_KEY_FILE=$ADMIN_KEY
}
make_keys

# write_config N IP0 IP1 ... : a cluster file for N replicas.
write_config() {
	local n=$1; shift
	N_REPLICAS=$n
	{
		echo "[cluster]"
		echo "id = $CLUSTER_ID"
		echo "key_file = $CLUSTER_KEY"
		echo "replicas = $n"
		if [ "$TRANSPORT" = memif ]; then
			echo "transport = dpdk"
			echo "clients = udp"
		else
			echo "transport = udp"
		fi
		echo "durability = $DURABILITY"
		[ "$LOG_TRANSPORT" != message ] && echo "log_transport = $LOG_TRANSPORT"
		echo "heartbeat_ms = 10"
		echo "election_ms = 150"
		echo "tick_us = 1000"
		echo "window_slots = 4096"
		echo "pipeline_slots = 256"
		echo "idle = adaptive"
		echo "service = kv"
		for i in $(seq 0 $((n - 1))); do
			echo "[replica.$i]"
			echo "ip = ${1:-127.0.0.1}"
			[ $# -gt 0 ] && shift
			echo "port = $((BASE_PORT + i))"
			if [ "$TRANSPORT" = memif ]; then
				printf 'mac = 02:77:00:00:00:%02x\n' $((i + 1))
				"$MEMIF_MESH" --links "$n" "$i"
			fi
		done
	} > "$TMP/cluster.ini"
	CONFIG=$TMP/cluster.ini
}

# eal_args I: the EAL arguments of replica I under TRANSPORT=memif (deploy/memif-mesh:
# one memif vdev per peer in id order, abstract sockets that vanish with the process, so
# a killed replica restarts cleanly).
eal_args() {
	local lc="--lcores=0@(0-1)"
	"$MEMIF_MESH" "$N_REPLICAS" "$1" "$TMP" "$lc"
}

# start_replica I [--bootstrap|--rejoin|--join] [PREFIX...]: PREFIX runs it (e.g. ip netns
# exec NS); PAXWIRED_ARGS: more paxwired arguments (e.g. --log-format json)
start_replica() {
	local i=$1; shift
	local boot=""
	if [ "${1:-}" = "--bootstrap" ] || [ "${1:-}" = "--rejoin" ] || [ "${1:-}" = "--join" ]; then
		boot=$1; shift
	fi
	local eal="" data=""
	[ "$TRANSPORT" = memif ] && eal=$(eal_args "$i")
	[ -n "$DATA" ] && data="--data-dir $DATA/replica$i"
	# shellcheck disable=SC2086  # eal and data are lists of words
	# shellcheck disable=SC2086  # PAXWIRED_ARGS is a list of words
	"$@" "$PAXWIRED" $eal --config "$CONFIG" --id "$i" $boot $data --stats-interval-ms 200 ${PAXWIRED_ARGS:-} \
		>> "$TMP/replica$i.log" 2>&1 &
	PIDS[$i]=$!
	disown $!   # killed on purpose: no job-control notice
}

# wait_gone PID...: waits until each process has exited (a zombie whose threads have
# all exited counts as gone: its files, the journal's lock included, are closed); up
# to 30 s each
wait_gone() {
	local p
	for p in "$@"; do
		for _ in $(seq 1 3000); do
			[ -e "/proc/$p" ] || break
			# A zombie leader whose other threads are still exiting (a journal
			# writer in fdatasync) still holds the files, the lock included.
			grep -q '^State:[[:space:]]*Z' "/proc/$p/status" 2>/dev/null &&
				[ "$(ls "/proc/$p/task" 2>/dev/null | wc -l)" -le 1 ] && break
			sleep 0.01
		done
	done
}

# leader: prints the leader's id as pwctl sees it, or nothing
leader() { "$PWCTL" --config "$CONFIG" leader 2>/dev/null || true; }

# wait_leader SECONDS [NOT]: waits for a leader (other than NOT); prints its id
wait_leader() {
	local deadline=$(( $(date +%s%N) + $1 * 1000000000 )) not=${2:-}
	while [ "$(date +%s%N)" -lt $deadline ]; do
		local l; l=$(leader)
		if [ -n "$l" ] && [ "$l" != "$not" ]; then echo "$l"; return 0; fi
		sleep 0.05
	done
	return 1
}

# rm_stat_of I FIELD: the latest value of a field of replica I's remote-memory transport
# (its {"rm":...} stats lines; log_transport = shm | rdma)
rm_stat_of() {
	{ grep '^{"rm":' "$TMP/replica$1.log" 2>/dev/null || true; } | tail -n 1 |
		{ grep -o "\"$2\":[0-9]*" || true; } | cut -d: -f2
}

# stat_of I FIELD: the latest value of a numeric field in replica I's stats lines
stat_of() {
	# Nothing yet (a log with no stats line) is no failure under set -e: an empty value.
	{ grep -o "\"$2\":[0-9]*" "$TMP/replica$1.log" 2>/dev/null || true; } | tail -n 1 |
		cut -d: -f2
}

# The key-value workload of these tests (pw-bench): 40% put, 40% get, 15% cas, 5% del,
# 8-byte values, every operation counted from the start (no warm-up).
KV_LOAD=(--warmup 0 --value-bytes 8 --mix 40,40,0,15,5)

# start_load CLIENTS SECONDS KEYS: a recorded workload in the background (LOAD = pid).
# Clients pause between operations: until snapshots exist a replica catches up only
# while the log fits the window. LOAD_CONFIG: the clients' cluster file (default
# $CONFIG; the membership tests give them one that goes stale).
start_load() {
	PAXWIRE_KEY_FILE=$CLIENT_KEY "$PWBENCH" --config "${LOAD_CONFIG:-$CONFIG}" --clients "$1" --seconds "$2" --keys "$3" "${KV_LOAD[@]}" \
		--think-us 5000 --history "$TMP/history.jsonl" --final-reads \
		> "$TMP/load.json" 2> "$TMP/load.log" &
	LOAD=$!
	PIDS+=($LOAD)
}

# finish_load_and_check I LEADER: waits for the workload; replica I must reach the
# leader's commit point; enough operations succeeded; the history is linearizable.
finish_load_and_check() {
	local i=$1 l=$2 c="" c2=""
	wait $LOAD || fail "pw-bench failed: $(cat "$TMP/load.log")"
	cat "$TMP/load.json"
	for _ in $(seq 1 100); do
		c2=$(stat_of "$l" commit); c=$(stat_of "$i" applied)
		[ -n "$c" ] && [ -n "$c2" ] && [ "$c" -ge "$c2" ] && break
		sleep 0.1
	done
	[ -n "$c" ] && [ -n "$c2" ] && [ "$c" -ge "$c2" ] ||
		fail "replica $i applied ${c:-?}, leader committed ${c2:-?}"
	say "replica $i applied $c (leader's commit $c2)"
	local ok; ok=$(grep -o '"ok":[0-9]*' "$TMP/load.json" | cut -d: -f2)
	[ "${ok:-0}" -gt 100 ] || fail "only ${ok:-0} operations succeeded"
	"$LINCHECK" --timeout 60 "$TMP/history.jsonl" || fail "history is not linearizable"
}

# stop_and_compare [PREFIX]: SIGTERM replicas 0..N-1, wait for them, and require their
# final stats lines ($TMP/PREFIXreplicaI.log) to agree on applied, apply_chain and
# service_hash: the same applied log and the same state.
stop_and_compare() {
	LOG_PREFIX=${1:-} stop_ids_and_compare $(seq 0 $((N_REPLICAS - 1)))
}

# ---- Membership changes (durable mode; docs/operations.md, "Membership changes") ----

# add_section I: a [replica.I] section (127.0.0.1, BASE_PORT + I) appended to $CONFIG,
# for a replica added at run time (its paxwired --join and pwctl read it).
add_section() {
	{ echo "[replica.$1]"; echo "ip = 127.0.0.1"; echo "port = $((BASE_PORT + $1))"; } >> "$CONFIG"
}

# addr_of I: replica I's IP:PORT as add_section wrote it
addr_of() { echo "127.0.0.1:$((BASE_PORT + $1))"; }

# members_json: the membership the leader knows (pwctl members --json)
members_json() { "$PWCTL" --config "$CONFIG" members --json 2>/dev/null || true; }

# voters: the voter ids the leader knows, sorted, space-separated
voters() {
	members_json | python3 -c 'import json,sys
m = json.load(sys.stdin)
print(" ".join(str(x["id"]) for x in m["members"] if x["role"] == "voter"))' 2>/dev/null || true
}

# stop_ids_and_compare I...: SIGTERM replicas I..., wait for them, and require their final
# stats lines ($TMP/${LOG_PREFIX}replicaI.log) to agree on applied, apply_chain and
# service_hash.
stop_ids_and_compare() {
	local i f first="" pids=() prefix=${LOG_PREFIX:-}
	for i in "$@"; do pids+=("${PIDS[$i]}"); done
	kill -TERM "${pids[@]}"
	wait_gone "${pids[@]}"
	for i in "$@"; do
		f=$(grep '"final":true' "$TMP/${prefix}replica$i.log" | tail -n 1) ||
			fail "replica $i: no final line"
		f=$(echo "$f" | grep -o '"applied":[0-9]*\|"apply_chain":[0-9]*\|"service_hash":[0-9]*' |
			sort | tr '\n' ' ')
		say "replica $i final: $f"
		[ -z "$first" ] && first=$f
		[ "$f" = "$first" ] || fail "the replicas stopped in different states"
	done
}
