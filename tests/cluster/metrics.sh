#!/usr/bin/env bash
# Metrics (docs/metrics.md): three replicas over kernel UDP and 20 puts; then
#   - pwctl metrics and paxwire-exporter's /metrics both pass `promtool check metrics`,
#     name no metric docs/metrics.md leaves out, and type every one (no untyped);
#   - both say every member is up, agree on the leader and the commit point, and count
#     the leader's commits (>= 20) and their latency (histogram count >= 20, p50 > 0);
#   - pwctl stats (the admin reply) and the stats line have one schema: every key of
#     the one is in the other with the same JSON type, every group the same keys.
. "$(dirname "$0")/lib.sh" "$1"
EXPORTER=$BUILD/client/paxwire-exporter
DOC=$(cd "$(dirname "$0")/../.." && pwd)/docs/metrics.md
command -v promtool >/dev/null || fail "promtool not found: install the prometheus package (scripts/setup)"
[ -x "$EXPORTER" ] || fail "no $EXPORTER: install libmicrohttpd-dev (scripts/setup) and reconfigure"

write_config 3
for i in 0 1 2; do start_replica "$i" --bootstrap; done
PORT=$((BASE_PORT + 9))
"$EXPORTER" --config "$CONFIG" --listen "127.0.0.1:$PORT" > "$TMP/exporter.log" 2>&1 &
PIDS+=($!)
EXP=$!
scrape() {
	python3 - "$PORT" "$1" <<'PY'
import sys, time, urllib.request
for _ in range(100):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=10) as r:
            ct = r.headers.get("Content-Type", "")
            assert ct.startswith("text/plain; version=0.0.4"), ct
            open(sys.argv[2], "wb").write(r.read())
            sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)
PY
}
# ballot L: leader L's ballot round (pwctl stats), to tell whether an election came between
ballot() { "$PWCTL" --config "$CONFIG" stats "$1" 2>/dev/null | grep -o '"ballot_round":[0-9]*' | cut -d: -f2; }

# 20 puts, then both outputs, pwctl stats and a stats line; again if an election came in
# between (a loaded host can stall a replica past the election timeout): the checks
# below need one leader throughout.
for attempt in 1 2 3; do
	L=$(wait_leader 10) || fail "no leader within 10 s"
	b0=$(ballot "$L")
	say "leader is $L (ballot round $b0)"
	for k in $(seq 1 20); do "$PWCTL" --config "$CONFIG" put "m$attempt.$k" "v$k" >/dev/null || fail "put m$k"; done
	"$PWCTL" --config "$CONFIG" metrics > "$TMP/pwctl.prom" || fail "pwctl metrics: exit $?"
	scrape "$TMP/exporter.prom" || fail "no scrape from the exporter: $(cat "$TMP/exporter.log")"
	"$PWCTL" --config "$CONFIG" stats "$L" > "$TMP/stats.json" || fail "pwctl stats $L"
	kill -USR1 "${PIDS[$L]}"
	sleep 0.3
	grep '^{' "$TMP/replica$L.log" | tail -n 1 > "$TMP/line.json"
	[ "$(leader)" = "$L" ] && [ "$(ballot "$L")" = "$b0" ] && break
	say "an election came in between (leader now $(leader)): again"
	[ "$attempt" = 3 ] && fail "no stable leader in 3 attempts"
done

for f in pwctl exporter; do
	promtool check metrics < "$TMP/$f.prom" || fail "promtool check metrics: $f"
	say "$f: promtool check metrics passed ($(grep -vc '^#' "$TMP/$f.prom") samples)"
	! grep -q untyped "$TMP/$f.prom" || fail "$f: untyped metrics: $(grep untyped "$TMP/$f.prom")"
	for name in $(awk '/^# TYPE/ { print $3 }' "$TMP/$f.prom"); do
		grep -q "\`$name\`" "$DOC" || fail "$f: $name is not in docs/metrics.md"
	done
done

python3 - "$L" "$TMP/pwctl.prom" "$TMP/exporter.prom" "$TMP/stats.json" "$TMP/line.json" <<'PY' || fail "metrics do not hold up"
import json, re, sys
L = sys.argv[1]
def parse(path):
    v = {}
    for line in open(path):
        if line.startswith("#") or not line.strip():
            continue
        m = re.match(r'^(\w+)(\{[^}]*\})? (\S+)$', line.strip())
        assert m, line
        v[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return v
bad = []
for path in sys.argv[2:4]:
    v = parse(path)
    for i in "012":
        if v.get(f'paxwire_member_up{{member="{i}"}}') != 1:
            bad.append(f"{path}: member {i} not up")
        if v.get(f'paxwire_leader{{member="{i}"}}') != float(L):
            bad.append(f"{path}: member {i} does not name leader {L}")
    commits = v.get(f'paxwire_px_commits_total{{member="{L}"}}', 0)
    count = v.get(f'paxwire_commit_latency_seconds_count{{member="{L}"}}', 0)
    p50 = v.get(f'paxwire_commit_latency_quantile_seconds{{member="{L}",q="0.5"}}', 0)
    inf = v.get(f'paxwire_commit_latency_seconds_bucket{{member="{L}",le="+Inf"}}', -1)
    if commits < 20 or count < 20 or not p50 > 0 or inf != count:
        bad.append(f"{path}: leader's commits {commits}, latency count {count}, +Inf {inf}, p50 {p50}")
    cp = v.get('paxwire_commit{member="%s"}' % L)
    print(f"{path}: commits {commits:.0f}, latency count {count:.0f}, p50 {p50 * 1e6:.1f} us, commit point {cp}")
a, b = parse(sys.argv[2]), parse(sys.argv[3])
for k in (f'paxwire_commit{{member="{L}"}}', f'paxwire_px_commits_total{{member="{L}"}}'):
    if a.get(k) != b.get(k):
        bad.append(f"pwctl and exporter differ on {k}: {a.get(k)} vs {b.get(k)}")
# One schema: the admin reply's keys are the stats line's, with the same shapes.
st, ln = json.load(open(sys.argv[4])), json.load(open(sys.argv[5]))
for k, x in st.items():
    if k not in ln:
        bad.append(f"stats key {k} not in the stats line")
    elif type(x) != type(ln[k]):
        bad.append(f"{k}: {type(x).__name__} in stats, {type(ln[k]).__name__} in the line")
    elif isinstance(x, dict) and set(x) != set(ln[k]):
        bad.append(f"{k}: keys differ: {sorted(set(x) ^ set(ln[k]))}")
    elif isinstance(x, list) and len(x) != len(ln[k]):
        bad.append(f"{k}: {len(x)} entries in stats, {len(ln[k])} in the line")
if st["leader"] != int(L) or ln["leader"] != int(L):
    bad.append(f"leader {st['leader']} / {ln['leader']}, want {L}")
print("stats keys:", len(st), "line keys:", len(ln))
for x in bad:
    print("BAD:", x)
sys.exit(1 if bad else 0)
PY
kill -TERM "$EXP"
rc=0
wait "$EXP" || rc=$?
[ "$rc" = 0 ] || fail "the exporter exited with $rc at SIGTERM: $(cat "$TMP/exporter.log")"
grep -q "stopping" "$TMP/exporter.log" || fail "the exporter did not stop cleanly: $(cat "$TMP/exporter.log")"
stop_and_compare
echo "1 passed, 0 failed"
