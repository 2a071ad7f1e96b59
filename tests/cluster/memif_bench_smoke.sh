#!/usr/bin/env bash
# bench/memif-bench end to end, briefly: the DPDK client (pw-bench-dpdk) over memif
# links to 1 and then 3 replicas (clients = dpdk, one more memif port per replica), and
# the memif wire floor against nic-dpdk-echo. Every run must complete commands with no
# error answers; memif-bench stops what it started, this script removes its output.
# And nothing on the links is multiplied: the peer messages the replicas of a run
# decoded (msgs_in, every type but client REQUESTs) are at most the datagrams the
# replicas sent (nic.tx_pkts). 64 outstanding make ACCEPTs of several KB, the frames
# DPDK 22.11's memif repeated when they were chained over 2 KB buffers.
set -euo pipefail
BUILD=$(cd "$1" && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$(mktemp -d /tmp/pw-memif-smoke.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
"$SRC/bench/memif-bench" --build "$BUILD" --out "$OUT" --seconds 0.5 --warmup 0.2 \
	--outstanding 64
for r in wire r1-k1 r1-k64 r3-k1 r3-k64 r3-lib-k1 r3-lib-k32; do
	j=$OUT/$r.json
	[ -s "$j" ] || { echo "FAIL: $r produced no result"; exit 1; }
	ok=$(sed -n 's/.*"ok":\([0-9]*\).*/\1/p' "$j")
	err=$(sed -n 's/.*"errors":\([0-9]*\).*/\1/p' "$j")
	[ "${ok:-0}" -gt 10 ] || { echo "FAIL: $r completed ${ok:-0} commands"; cat "$j"; exit 1; }
	[ "${err:-1}" = 0 ] || { echo "FAIL: $r got $err error answers"; cat "$j"; exit 1; }
	echo "$r: $ok commands"
done
grep -q "replicated / unreplicated" "$OUT/summary.txt" || { echo "FAIL: no ratios"; exit 1; }
python3 - "$OUT/logs" <<'PY' || exit 1
import glob, json, re, sys
runs = {}
for f in glob.glob(sys.argv[1] + "/replica*-run*.log"):
    run = re.search(r"run(\d+)", f).group(1)
    last = None
    for line in open(f, errors="replace"):
        if line.startswith("{"):
            last = line
    if last is None:
        print(f"FAIL: {f} has no counters line"); sys.exit(1)
    j = json.loads(last)
    r = runs.setdefault(run, [0, 0])
    r[0] += sum(v for k, v in j["msgs_in"].items() if k not in ("REQUEST", "REPLY"))
    r[1] += j["nic"]["tx_pkts"]
for run, (got, sent) in sorted(runs.items()):
    print(f"run {run}: replicas decoded {got} peer messages, sent {sent} datagrams")
    if got > sent:
        print("FAIL: more peer messages arrived than were sent (a link repeats frames)")
        sys.exit(1)
PY
echo "1 passed, 0 failed"
