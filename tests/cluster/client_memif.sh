#!/usr/bin/env bash
# libpaxwire-client over its DPDK transport (opts.transport = "dpdk"; issue 14): three
# paxwired replicas on a full mesh of DPDK memif links (--no-huge) with clients = dpdk,
# each with one more memif port (2) that serves clients; client-dpdk-check (a program
# on the library) opens one memif link to each replica's client port (port j to
# replica j) and runs, twice: 50 synchronous puts, a full window of 64 asynchronous
# puts with a synchronous put and get among them (completions in submission order),
# then reads every key back, synchronously and asynchronously, checking each value.
# Then the clear errors: EAL arguments the EAL refuses, and too few ethdev ports.
# At a clean stop the replicas agree on applied, apply_chain and service_hash.
. "$(dirname "$0")/lib.sh" "$1"

CHECKER=$BUILD/tests/cluster/client-dpdk-check
[ -x "$CHECKER" ] || fail "$CHECKER missing (a DPDK build)"

TRANSPORT=memif
write_config 3
sed -i 's/^clients = udp$/clients = dpdk/' "$CONFIG"
BSIZE=18432
# Replica I's EAL arguments: its mesh links (ports 0, 1), then its client port (2), a
# memif server.
eal_args() {
	local m
	m=$("$MEMIF_MESH" "$N_REPLICAS" "$1" "$TMP" "--lcores=0@(0-1)")
	m=${m% --}
	echo "$m --vdev=net_memif2,role=server,id=0,bsize=$BSIZE,socket=$TMP/c$1-lib.sock --"
}
# The client's EAL arguments: port j a memif client of replica j's client port.
client_eal() {
	local j
	echo --no-huge -m 256 --no-pci --no-shconf --no-telemetry --log-level=lib.eal:error \
		--log-level=pmd.net.memif:error "--file-prefix=pwlib$$-$1" "--lcores=0@(0-1)"
	for j in 0 1 2; do
		echo "--vdev=net_memif$j,role=client,id=0,bsize=$BSIZE,socket=$TMP/c$j-lib.sock"
	done
}
for i in 0 1 2; do
	start_replica "$i" --bootstrap
	sleep 0.3
done
latest() { grep '^{"final"' "$TMP/replica$1.log" | tail -n 1; }   # the stats lines (docs/metrics.md)
leader_id() {
	local i
	for i in 0 1 2; do latest "$i" | grep -q '"role":"leader"' && { echo "$i"; return 0; }; done
	return 1
}
L=""
for _ in $(seq 1 50); do
	L=$(leader_id) && break
	sleep 0.2
done
[ -n "$L" ] || fail "no leader within 10 s"
say "leader is $L (memif mesh, clients on memif ports)"

PAXWIRE_KEY_FILE=$CLIENT_KEY "$CHECKER" --config "$CONFIG" --eal "$(client_eal run | tr '\n' ' ')" \
	--rounds 2 > "$TMP/check.json" 2> "$TMP/check.log" ||
	fail "client-dpdk-check: $(cat "$TMP/check.json") $(tail -n 20 "$TMP/check.log")"
say "library over memif: $(cat "$TMP/check.json")"
grep -q '"sync_ok":102,"async_ok":128,"reads_ok":228,' "$TMP/check.json" ||
	fail "not every command succeeded: $(cat "$TMP/check.json")"

# The errors name what failed and what to do.
PAXWIRE_KEY_FILE=$CLIENT_KEY "$CHECKER" --config "$CONFIG" \
	--eal "--no-huge -m 256 --no-pci --file-prefix=pwlib$$-bad --no-such-eal-option" \
	--expect-open-error "DPDK's EAL did not start" > "$TMP/bad-eal.txt" 2>&1 ||
	fail "bad EAL arguments: $(cat "$TMP/bad-eal.txt")"
say "$(tail -n 1 "$TMP/bad-eal.txt")"
PAXWIRE_KEY_FILE=$CLIENT_KEY "$CHECKER" --config "$CONFIG" \
	--eal "--no-huge -m 256 --no-pci --no-shconf --file-prefix=pwlib$$-noport" \
	--expect-open-error "no ethdev port 0 for member 0" > "$TMP/no-port.txt" 2>&1 ||
	fail "no ports: $(cat "$TMP/no-port.txt")"
say "$(tail -n 1 "$TMP/no-port.txt")"
for i in 0 1 2; do
	kill -0 "${PIDS[$i]}" 2>/dev/null || fail "replica $i died"
done
stop_and_compare
echo "1 passed, 0 failed"
