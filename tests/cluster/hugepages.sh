#!/usr/bin/env bash
# paxwired's arenas on hugepages (mempool/): reserve 2 MiB pages, start a 1-replica
# transport = dpdk cluster with the EAL on hugepages (--in-memory: memfd-backed, no
# hugetlbfs mount), check that the arenas came from hugepages (its log, and the pages it
# holds while it runs), that put/get work, and that the pages come back when it stops.
# Restores nr_hugepages on any exit. Skips (77) when not root or no pages can be had.
set -uo pipefail
BUILD=$(cd "$1" && pwd)
NR=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
[ "$(id -u)" = 0 ] && [ -w "$NR" ] || { echo "SKIP: needs root and $NR"; exit 77; }
OLD=$(cat "$NR")
TMP=$(mktemp -d /tmp/pw-huge.XXXXXX)
PID=""
cleanup() {
	[ -n "$PID" ] && { kill -9 "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; }
	echo "$OLD" > "$NR"
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
fail() { echo "FAIL: $*"; [ -f "$TMP/err" ] && cat "$TMP/err"; exit 1; }
free_pages() { sed -n 's/^HugePages_Free: *//p' /proc/meminfo; }

echo $((OLD + 128)) > "$NR"
[ "$(cat "$NR")" -ge $((OLD + 100)) ] || { echo "SKIP: could not reserve 100 hugepages"; exit 77; }
before=$(free_pages)
port=$((21000 + $$ % 2000))
"$BUILD/client/pwctl" keygen "$TMP/c.key" || { echo "FAIL: pwctl keygen"; exit 1; }
export PAXWIRE_KEY_FILE=$TMP/c.key   # the cluster key: an admin (docs/security.md)
cat > "$TMP/c.ini" <<EOC
[cluster]
id = 9
key_file = c.key
replicas = 1
transport = dpdk
clients = udp
kv_keys = 4096
sessions = 256
[replica.0]
ip = 127.0.0.1
port = $port
mac = 02:77:00:00:00:01
EOC
"$BUILD/dataplane/paxwired" --in-memory --no-pci --no-telemetry --log-level=lib.eal:error \
	"--lcores=0@(0-$(($(nproc) - 1)))" -- --config "$TMP/c.ini" --id 0 --bootstrap \
	> "$TMP/out" 2> "$TMP/err" &
PID=$!
for _ in $(seq 50); do grep -q "role .* -> leader" "$TMP/err" && break; sleep 0.1; done
grep -q "arenas: .* from hugepages" "$TMP/err" || fail "arenas not from hugepages"
during=$(free_pages)
[ "$during" -lt "$before" ] || fail "no hugepage in use while it runs ($before free before, $during during)"
PW="$BUILD/client/pwctl --config $TMP/c.ini"
$PW put huge pages || fail "put"
[ "$($PW get huge)" = pages ] || fail "get"
kill -TERM "$PID"; wait "$PID"; rc=$?; PID=""
[ $rc = 0 ] || fail "paxwired exited $rc"
after=$(free_pages)
[ "$after" = "$before" ] || fail "hugepages not given back: $before free before, $after after"
echo "hugepages free: $before before, $during while running, $after after"
echo "1 passed, 0 failed"
