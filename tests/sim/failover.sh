#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# pw-sim --failover (docs/testing.md, "Failover"): a few seeds that crash the leader
# under load and then transfer leadership, with every safety check of the simulator on.
# Requires: exit 0 (no seed failed a check), one JSON line that parses, as many failover
# and transfer times as seeds, each a positive whole number of microseconds, p50 <= p99
# <= max. The speed goals (p50 <= 1 ms, p99 <= 2 ms) are not checked here: they are
# benchmarks (docs/benchmarks.md). Usage: failover.sh PW_SIM SEEDS
set -u
sim=$1
seeds=$2
out=$("$sim" --failover --seeds "$seeds" --jobs 2)
rc=$?
echo "$out"
if [ $rc -ne 0 ]; then
	echo "FAIL: pw-sim --failover --seeds $seeds exited $rc"
	exit 1
fi
echo "$out" | grep '^{' | tail -n 1 | python3 -c '
import json, sys
lines = sys.stdin.read().strip().splitlines()
if len(lines) != 1:
    sys.exit("FAIL: no JSON line")
j = json.loads(lines[0])
n = j["seeds"]
if n < 1 or j["failed"] != 0:
    sys.exit("FAIL: seeds %d failed %d" % (n, j["failed"]))
for k in ("failover", "transfer"):
    if j[k + "_measured"] != n:
        sys.exit("FAIL: %s measured in %d of %d seeds" % (k, j[k + "_measured"], n))
    p50, p99, mx = j[k + "_us_p50"], j[k + "_us_p99"], j[k + "_us_max"]
    if not all(isinstance(v, int) and v > 0 for v in (p50, p99, mx)) or not p50 <= p99 <= mx:
        sys.exit("FAIL: %s times %r %r %r" % (k, p50, p99, mx))
print("ok: %d seeds, failover p50 %d us p99 %d us, transfer p50 %d us" %
      (n, j["failover_us_p50"], j["failover_us_p99"], j["transfer_us_p50"]))
' || exit 1
