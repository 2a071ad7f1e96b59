#!/usr/bin/env bash
# bench/memif-bench end to end, briefly: the DPDK client (pw-bench-dpdk) over memif
# links to 1 and then 3 replicas (clients = dpdk, one more memif port per replica), and
# the memif wire floor against nic-dpdk-echo. Every run must complete commands with no
# error answers; memif-bench stops what it started, this script removes its output.
set -euo pipefail
BUILD=$(cd "$1" && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$(mktemp -d /tmp/pw-memif-smoke.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
"$SRC/bench/memif-bench" --build "$BUILD" --out "$OUT" --seconds 0.5 --warmup 0.2 \
	--outstanding 8
for r in wire r1-k1 r1-k8 r3-k1 r3-k8; do
	j=$OUT/$r.json
	[ -s "$j" ] || { echo "FAIL: $r produced no result"; exit 1; }
	ok=$(sed -n 's/.*"ok":\([0-9]*\).*/\1/p' "$j")
	err=$(sed -n 's/.*"errors":\([0-9]*\).*/\1/p' "$j")
	[ "${ok:-0}" -gt 10 ] || { echo "FAIL: $r completed ${ok:-0} commands"; cat "$j"; exit 1; }
	[ "${err:-1}" = 0 ] || { echo "FAIL: $r got $err error answers"; cat "$j"; exit 1; }
	echo "$r: $ok commands"
done
grep -q "replicated / unreplicated" "$OUT/summary.txt" || { echo "FAIL: no ratios"; exit 1; }
echo "1 passed, 0 failed"
