#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# 3 paxwired replicas over DPDK (net_af_packet on veth pairs joined by a Linux bridge),
# clients over kernel UDP from the bridge's address: the deployment shape of
# docs/architecture.md (kernel-socket clients, DPDK replicas) on one host.
#
#   sudo dataplane/afpacket-cluster.sh [BUILD_DIR]     (default build-dpdk; needs root)
#
# Builds pwbr0 (10.77.0.254/24) and veth pairs pwvN <-> pwvNp (N = 0..2; pwvN on the
# bridge, pwvNp given to replica N's af_packet port), starts the replicas of
# deploy/local-3-afpacket.ini with --no-huge, then checks: ping of each replica (ICMP
# answered by the DPDK backend; the kernel's ARP answered by it too), put/get through
# pwctl, a leader kill and a put after failover. Exit 0 when every check passed.
# On any exit it stops the replicas it started (by pid), deletes the bridge and veths
# and the EAL runtime directory. Nothing else is touched.
set -u
BUILD=$(cd "${1:-build-dpdk}" 2>/dev/null && pwd) || { echo "afpacket-cluster: no build folder ${1:-build-dpdk}"; exit 2; }
cd "$(dirname "$0")/.."   # the repository root: the cluster file is relative to it
CFG=deploy/local-3-afpacket.ini
PAXWIRED=$BUILD/dataplane/paxwired
PWCTL=$BUILD/client/pwctl
[ "$(id -u)" = 0 ] || { echo "afpacket-cluster: needs root (veth, bridge, AF_PACKET)"; exit 2; }
[ -x "$PAXWIRED" ] && [ -x "$PWCTL" ] || { echo "afpacket-cluster: build $BUILD first (ninja -C $BUILD)"; exit 2; }
for n in pwbr0 pwv0 pwv1 pwv2; do
	if ip link show "$n" >/dev/null 2>&1; then
		echo "afpacket-cluster: interface $n exists (another run?); fix: ip link del $n"; exit 2
	fi
done

RUN=$(mktemp -d /tmp/pw-afpacket.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]:-}"; do
		[ -n "$p" ] && kill -TERM "$p" 2>/dev/null
	done
	for p in "${PIDS[@]:-}"; do
		[ -n "$p" ] || continue
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null
	done
	for n in 0 1 2; do ip link del "pwv$n" 2>/dev/null; done
	ip link del pwbr0 2>/dev/null
	rm -rf "$RUN"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# The example file, authenticated: a copy next to a fresh cluster key (key_file =
# cluster.key is relative to the file), used as an admin key by pwctl too.
cp "$CFG" "$RUN/cluster.ini"
CFG=$RUN/cluster.ini
"$PWCTL" keygen "$RUN/cluster.key" || exit 1
export PAXWIRE_KEY_FILE=$RUN/cluster.key

fails=0
check() {  # check NAME COMMAND...
	if "${@:2}"; then echo "PASS $1"; else echo "FAIL $1"; fails=$((fails + 1)); fi
}

ip link add pwbr0 type bridge || exit 1
ip link set pwbr0 mtu 9000
ip addr add 10.77.0.254/24 dev pwbr0
for n in 0 1 2; do
	ip link add "pwv$n" mtu 9000 type veth peer name "pwv${n}p" mtu 9000 || exit 1
	ip link set "pwv$n" master pwbr0
	# No kernel stack on the DPDK end: no IPv6 chatter, no address.
	sysctl -qw "net.ipv6.conf.pwv${n}p.disable_ipv6=1" 2>/dev/null
	ip link set "pwv$n" up
	ip link set "pwv${n}p" up
done
ip link set pwbr0 up

start() {  # start ID [--bootstrap]
	local id=$1; shift
	# Each process: its own EAL prefix, no shared config, main lcore floating on cpus 0-1.
	RUNTIME_DIRECTORY=$RUN "$PAXWIRED" --no-huge -m 256 --no-pci --no-shconf --no-telemetry \
		--file-prefix="pwafp$id" --lcores="0@(0-1)" --log-level=lib.eal:error \
		--vdev="net_af_packet0,iface=pwv${id}p,blocksz=16384,framesz=16384,framecnt=512" \
		-- --config "$CFG" --id "$id" "$@" >"$RUN/r$id.out" 2>"$RUN/r$id.err" &
	PIDS[$id]=$!
}
for n in 0 1 2; do start "$n" --bootstrap; done
sleep 2
for n in 0 1 2; do
	if ! kill -0 "${PIDS[$n]}" 2>/dev/null; then
		echo "FAIL replica $n exited:"; cat "$RUN/r$n.err"; exit 1
	fi
done

# ICMP echo through a raw socket (no ping binary needed); the kernel ARPs first, so a
# reply also proves the backend answered ARP.
icmp_echo() {  # icmp_echo IP
	python3 - "$1" <<'PY'
import socket, struct, sys, time
ip = sys.argv[1]
def csum(b):
    if len(b) % 2: b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff); s += s >> 16
    return ~s & 0xffff
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.settimeout(0.5)
payload = b'paxwire-echo-test'
for seq in range(1, 6):
    h = struct.pack('!BBHHH', 8, 0, 0, 0x7077, seq)
    s.sendto(struct.pack('!BBHHH', 8, 0, csum(h + payload), 0x7077, seq) + payload, (ip, 0))
    end = time.time() + 0.5
    while time.time() < end:
        try:
            d, a = s.recvfrom(2048)
        except socket.timeout:
            break
        ihl = (d[0] & 15) * 4
        t, _, _, ident, sq = struct.unpack('!BBHHH', d[ihl:ihl + 8])
        if a[0] == ip and t == 0 and ident == 0x7077 and sq == seq and d[ihl + 8:] == payload \
           and csum(d[ihl:]) == 0:
            sys.exit(0)
sys.exit(1)
PY
}
for n in 0 1 2; do
	check "ICMP echo to 10.77.0.$((n + 1)) answered by the DPDK backend" icmp_echo "10.77.0.$((n + 1))"
	check "kernel ARP resolved 10.77.0.$((n + 1)) to the configured MAC" \
		sh -c "ip neigh show 10.77.0.$((n + 1)) dev pwbr0 | grep -q 'lladdr 02:70:00:00:00:0$((n + 1))'"
done
PW="$PWCTL --config $CFG --timeout 5000"
check "put over kernel UDP" $PW put alpha one
got=$($PW get alpha 2>&1)
check "get returns the value (got '$got')" test "$got" = one
leader=$($PW leader 2>/dev/null)
echo "  leader: ${leader:-none}"
if [ -n "$leader" ]; then
	kill -TERM "${PIDS[$leader]}"; wait "${PIDS[$leader]}" 2>/dev/null
	echo "  leader $leader stopped; its counters:"; tail -c 600 "$RUN/r$leader.out" | sed 's/^/    /'; echo
	PIDS[$leader]=""
	check "put after leader failover" $PW put beta two
	got=$($PW get alpha 2>&1)
	check "value survives failover (got '$got')" test "$got" = one
else
	check "a leader answers" false
fi
for n in 0 1 2; do
	[ -n "${PIDS[$n]}" ] || continue
	kill -USR1 "${PIDS[$n]}"
done
sleep 0.3
for n in 0 1 2; do
	echo "  replica $n stderr:"; sed 's/^/    /' "$RUN/r$n.err" | tail -3
	echo "  replica $n nic counters:"
	grep -o '"nic":{[^}]*}' "$RUN/r$n.out" | tail -1 | sed 's/^/    /'
done
echo "afpacket-cluster: $fails failed"
[ "$fails" = 0 ]
