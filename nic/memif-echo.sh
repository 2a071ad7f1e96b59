#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Two processes linked by DPDK memif exchange framed UDP datagrams through the nic API:
# nic-dpdk-echo server (10.88.0.1) echoes what nic-dpdk-echo client (10.88.0.2) sends;
# the client checks every payload and source. No root needed beyond what memif needs
# (a unix socket in a private temp dir); --no-huge. Removes its temp dir and stops the
# server (by pid) on any exit.
#   nic/memif-echo.sh [BUILD_DIR] [COUNT]        (default build-dpdk, 500)
set -u
BUILD=${1:-build-dpdk}
COUNT=${2:-500}
ECHO=$BUILD/nic/nic-dpdk-echo
[ -x "$ECHO" ] || { echo "memif-echo: build $BUILD with DPDK first"; exit 2; }
RUN=$(mktemp -d /tmp/pw-memif.XXXXXX)
SPID=""
cleanup() {
	if [ -n "$SPID" ]; then
		kill -TERM "$SPID" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$SPID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$SPID" 2>/dev/null
	fi
	rm -rf "$RUN"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
EAL="--no-huge -m 128 --no-pci --no-shconf --no-telemetry --lcores=0@(0-1) --log-level=lib.eal:error"
SOCK="bsize=4096,socket=$RUN/memif.sock,socket-abstract=no"   # a whole frame per buffer
RUNTIME_DIRECTORY=$RUN "$ECHO" $EAL --file-prefix=pwmifs \
	--vdev="net_memif0,role=server,id=0,$SOCK,mac=02:88:00:00:00:01" \
	-- server 10.88.0.1 7100 >"$RUN/server.out" 2>"$RUN/server.err" &
SPID=$!
sleep 1
RUNTIME_DIRECTORY=$RUN "$ECHO" $EAL --file-prefix=pwmifc \
	--vdev="net_memif0,role=client,id=0,$SOCK,mac=02:88:00:00:00:02" \
	-- client 10.88.0.2 7200 10.88.0.1 7100 02:88:00:00:00:01 "$COUNT"
rc=$?
kill -TERM "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null; SPID=""
cat "$RUN/server.out"
[ "$rc" = 0 ] || { echo "memif-echo: FAIL (server stderr:)"; cat "$RUN/server.err"; }
[ "$rc" = 0 ] && echo "memif-echo: PASS"
exit "$rc"
