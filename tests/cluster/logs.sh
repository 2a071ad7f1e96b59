#!/usr/bin/env bash
# Logs (docs/operations.md, "Logs"): three replicas over kernel UDP, replica 2 with
# --log-format json. Every line of the text replicas' stderr starts with a UTC timestamp
# to the microsecond and paxwired[ID] LEVEL:, every one of replica 2's is a JSON object
# (ts, prog, id, level, msg); the first line is the start line with the version (the
# build's pw_version.h, as --version prints it), then the config summary. After kill -9 of the leader, a
# surviving follower logs the leader change, and a survivor its suspicion of the old one;
# SIGHUP is logged and ignored; the new leader, left alone (its follower stopped), logs
# that it lost its quorum, and that it is back once the follower runs again.
. "$(dirname "$0")/lib.sh" "$1"
VERSION=$(grep '^#define PW_VERSION ' "$BUILD/pw_version.h" | cut -d'"' -f2)
[ -n "$VERSION" ] || fail "no PW_VERSION in $BUILD/pw_version.h"

write_config 3
start_replica 0 --bootstrap
start_replica 1 --bootstrap
PAXWIRED_ARGS="--log-format json" start_replica 2 --bootstrap
L=$(wait_leader 10) || fail "no leader within 10 s"
say "leader is $L"
"$PWCTL" --config "$CONFIG" put logs one >/dev/null || fail "put"

# SIGHUP: a line, and the replica goes on.
F=$(( (L + 1) % 3 ))
kill -HUP "${PIDS[$F]}"
for _ in $(seq 1 100); do grep -q 'SIGHUP: ignored' "$TMP/replica$F.log" && break; sleep 0.05; done
grep -q 'SIGHUP: ignored' "$TMP/replica$F.log" || fail "replica $F: no SIGHUP line"
kill -0 "${PIDS[$F]}" || fail "replica $F died of SIGHUP"
"$PWCTL" --config "$CONFIG" put logs two >/dev/null || fail "put after SIGHUP"
say "SIGHUP to replica $F: logged, still serving"

say "kill -9 leader $L"
kill -9 "${PIDS[$L]}"
L2=$(wait_leader 10 "$L") || fail "no new leader within 10 s"
say "new leader $L2"
"$PWCTL" --config "$CONFIG" put logs three >/dev/null || fail "put under the new leader"
sleep 0.3
SURV=""
for i in 0 1 2; do [ "$i" != "$L" ] && SURV="$SURV $i"; done
FOLLOWER=""
for i in $SURV; do [ "$i" != "$L2" ] && FOLLOWER=$i; done

python3 - "$TMP" "$VERSION" "$L" "$L2" "$FOLLOWER" <<'PY' || fail "the logs do not hold up"
import json, re, sys
tmp, version, L, L2, F = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
TS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z"
bad = []
msgs = {}
for i in range(3):
    lines = [l.rstrip("\n") for l in open(f"{tmp}/replica{i}.log")]
    logs = []
    for l in lines:
        if l.startswith('{"final"'):
            continue   # the stats line (stdout)
        if i == 2:
            try:
                j = json.loads(l)
            except ValueError:
                bad.append(f"replica 2: not JSON: {l}")
                continue
            if not re.fullmatch(TS, j.get("ts", "")) or j.get("prog") != "paxwired" or \
               j.get("id") != 2 or j.get("level") not in ("error", "warn", "info", "debug"):
                bad.append(f"replica 2: bad JSON log line: {l}")
            logs.append(j.get("msg", ""))
        else:
            m = re.fullmatch(TS + r" paxwired\[" + str(i) + r"\] (error|warn|info|debug): (.*)", l)
            if not m:
                bad.append(f"replica {i}: bad line: {l}")
                continue
            logs.append(m.group(2))
    msgs[i] = logs
    if not logs or not logs[0].startswith(f"paxwired {version} starting (pid "):
        bad.append(f"replica {i}: first line is not the start line with version {version}: {logs[:1]}")
    if not any(x.startswith(f"config: replica {i} of 3, cluster ") for x in logs):
        bad.append(f"replica {i}: no config summary line")
f = msgs[F]
if not any(re.match(rf"leader {L} -> (none|{L2}) ", x) for x in f):
    bad.append(f"follower {F}: no line 'leader {L} -> ...': {[x for x in f if x.startswith('leader')]}")
if not any(re.match(rf"leader (none|{L}) -> {L2} ", x) for x in f):
    bad.append(f"follower {F}: no line '... -> {L2}'")
# The failure detector of at least one survivor gave up on the old leader (the other
# may learn of the election first).
if not any(x.startswith(f"leader {L} suspected") for x in f + msgs[L2]):
    bad.append(f"neither {F} nor {L2} logged a suspicion of leader {L}")
print(f"follower {F}:", [x for x in f if x.startswith("leader")])
for x in bad:
    print("BAD:", x)
sys.exit(1 if bad else 0)
PY
# Quorum: the new leader alone (its follower stopped with SIGSTOP) steps down and says
# so; once the follower runs again and a leader is elected, it says the quorum is back.
say "SIGSTOP follower $FOLLOWER: leader $L2 is alone"
kill -STOP "${PIDS[$FOLLOWER]}"
for _ in $(seq 1 100); do grep -q 'quorum lost' "$TMP/replica$L2.log" && break; sleep 0.05; done
grep -q 'quorum lost' "$TMP/replica$L2.log" || fail "replica $L2: no 'quorum lost' line"
say "replica $L2: $(grep -o 'quorum lost.*' "$TMP/replica$L2.log" | head -n 1)"
kill -CONT "${PIDS[$FOLLOWER]}"
wait_leader 10 >/dev/null || fail "no leader after $FOLLOWER came back"
for _ in $(seq 1 100); do grep -q 'quorum regained' "$TMP/replica$L2.log" && break; sleep 0.05; done
grep -q 'quorum regained' "$TMP/replica$L2.log" || fail "replica $L2: no 'quorum regained' line"
say "replica $L2: $(grep -o 'quorum regained.*' "$TMP/replica$L2.log" | head -n 1)"
stop_ids_and_compare $SURV
echo "1 passed, 0 failed"
