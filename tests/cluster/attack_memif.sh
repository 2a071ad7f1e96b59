#!/usr/bin/env bash
# The attack suite over memif client ports (issue 12; docs/testing.md, "Attack suite").
# Three paxwired replicas on a full mesh of DPDK memif links (--no-huge) with
# clients = dpdk: each has two more memif ports that serve clients, one for the load
# (pw-bench-dpdk, a kv put load) and one for the attacker (pw-attack over DPDK, the
# memif client side of each). A memif link is shared memory between its two processes,
# so what an attacker on a client port can do is send: forged peer messages (every
# kind pw-attack forge makes, under wrong keys), client attacks (wrong client and admin
# keys; admin requests under the real client key, then those authentic datagrams
# replayed to every member and mutated), random bytes. Checks:
#   - every replica is alive;
#   - with authentication on: the drop counters rose for the reasons the attack
#     provokes (mac, short, field, sender, key_gen, not_admin, replay or stale), and
#     every attack datagram a member received is counted once (the drops equal what
#     the attacker's ports sent, less what the replicas' ports dropped before the node);
#   - the cluster committed during the attack (the leader's commit point moved, the
#     load completed commands);
#   - at a clean stop the replicas agree on applied, apply_chain and service_hash.
# No recorded history here: the DPDK client keeps none (attack.sh, over kernel UDP,
# checks linearizability and reads every key through each member).
. "$(dirname "$0")/lib.sh" "$1"

PWATTACK=$BUILD/tests/attack/pw-attack
PWBENCHDPDK=$BUILD/bench/pw-bench-dpdk
[ -x "$PWATTACK" ] || fail "$PWATTACK missing"
[ -x "$PWBENCHDPDK" ] || fail "$PWBENCHDPDK missing (a DPDK build)"

TRANSPORT=memif
write_config 3
sed -i 's/^clients = udp$/clients = dpdk/' "$CONFIG"
AUTH=0
grep -q '^key_file' "$CONFIG" && AUTH=1
ATK_KEY=()
[ $AUTH = 1 ] && ATK_KEY=(--client-key "$CLIENT_KEY")
BSIZE=18432
# Replica I's EAL arguments: its mesh links (ports 0, 1), then the load's client port
# (2) and the attacker's (3), both memif servers.
eal_args() {
	local m
	m=$("$MEMIF_MESH" "$N_REPLICAS" "$1" "$TMP" "--lcores=0@(0-1)")
	m=${m% --}
	echo "$m --vdev=net_memif2,role=server,id=0,bsize=$BSIZE,socket=$TMP/c$1-load.sock" \
		"--vdev=net_memif3,role=server,id=0,bsize=$BSIZE,socket=$TMP/c$1-atk.sock --"
}
# client_eal NAME: the EAL arguments of a DPDK client with port j on replica j's NAME port
client_eal() {
	local j
	echo --no-huge -m 256 --no-pci --no-shconf --no-telemetry --log-level=lib.eal:error \
		--log-level=pmd.net.memif:error "--file-prefix=pwatk$$-$1" "--lcores=0@(0-1)"
	for j in 0 1 2; do
		echo "--vdev=net_memif$j,role=client,id=0,bsize=$BSIZE,socket=$TMP/c$j-$1.sock"
	done
}
for i in 0 1 2; do
	start_replica "$i" --bootstrap
	sleep 0.3
done
L=$(wait_leader 10 2>/dev/null) || true   # no kernel client port: pwctl cannot ask
sleep 1
latest() { grep '^{"final"' "$TMP/replica$1.log" | tail -n 1; }
leader_id() {
	local i
	for i in 0 1 2; do latest "$i" | grep -q '"role":"leader"' && { echo "$i"; return 0; }; done
	return 1
}
L=$(leader_id) || fail "no leader after 2 s"
say "leader is $L (memif mesh, clients on memif ports; authentication $([ $AUTH = 1 ] && echo on || echo off))"

# shellcheck disable=SC2046  # lists of words
"$PWBENCHDPDK" $(client_eal load) -- --config "$CONFIG" --outstanding 4 --seconds 9 \
	--warmup 0.5 > "$TMP/load.json" 2> "$TMP/load.log" &
LOAD=$!
PIDS+=($LOAD)
sleep 2

L=$(leader_id) || fail "no leader under load"
for i in 0 1 2; do latest "$i" > "$TMP/before$i.json"; done
say "attack every member's memif client port while the load runs"
# shellcheck disable=SC2046  # lists of words
"$PWATTACK" $(client_eal atk) -- all --config "$CONFIG" --count 3000 "${ATK_KEY[@]}" \
	> "$TMP/attack.json" 2> "$TMP/attack.log" || fail "pw-attack: $(cat "$TMP/attack.log")"
for k in forge random; do
	grep "^{\"cmd\":\"$k\"" "$TMP/attack.json" > "$TMP/attack-$k.json" || fail "no $k line"
done
for k in forge random; do say "$k: $(cut -c 1-400 "$TMP/attack-$k.json")"; done
kill -0 "$LOAD" 2>/dev/null || fail "the load ended before the attack did (raise its seconds)"
sleep 0.6
for i in 0 1 2; do
	kill -0 "${PIDS[$i]}" 2>/dev/null || fail "replica $i died under attack"
	latest "$i" > "$TMP/after$i.json"
done
say "every replica alive"

python3 - "$TMP" "$AUTH" "$L" <<'PY' || fail "attack checks (above)"
import json, sys
tmp, auth, leader = sys.argv[1], sys.argv[2] == "1", int(sys.argv[3])
atk = [json.loads(open(f"{tmp}/attack-{k}.json").read()) for k in ("forge", "random")]
load = lambda p: json.loads(open(p).read())
key = "auth_drops" if auth else "decode_drops"
bad, drops = [], {}
# What the attacker's ports handed to the links, per member (sent counts only what the
# link took; the ports' own drops are tx_dropped, a total).
dropped_tx = sum(a["tx_dropped"] for a in atk)
if dropped_tx:
    print(f"the attacker's ports dropped {dropped_tx} datagrams (links full)")
import time
def settled(i, want):
    """Replica i's latest stats line once its drops reach want (a busy replica may still
    be working through its queue), or after 3 s."""
    for _ in range(30):
        lines = [l for l in open(f"{tmp}/replica{i}.log") if l.startswith('{"final"')]
        a = json.loads(lines[-1])
        if key not in a or sum(a[key].values()) + sum(a["nic_drops"].values()) >= want:
            break
        time.sleep(0.1)
    return a
for i in range(3):
    sent = sum(x["by_target"][i] for x in atk)
    b = load(f"{tmp}/before{i}.json")
    a = settled(i, sum(b.get(key, {}).values()) + sum(b["nic_drops"].values()) + sent - dropped_tx)
    nic = sum(v for k, v in a["nic_drops"].items() if k.startswith("rx_")) - \
        sum(v for k, v in b["nic_drops"].items() if k.startswith("rx_"))
    if key not in a:
        bad.append(f"replica {i}: no {key} in its stats line")
        continue
    d = {r: v - b[key].get(r, 0) for r, v in a[key].items()}
    for r, v in d.items():
        drops[r] = drops.get(r, 0) + v
    got = sum(d.values()) + nic
    print(f"replica {i}: {sent} attack datagrams, {key} +{sum(d.values())}, nic drops +{nic}; "
          f"rx_pkts +{a['nic']['rx_pkts'] - b['nic']['rx_pkts']}, msgs_in "
          f"+{ {t: v - b['msgs_in'][t] for t, v in a['msgs_in'].items() if v != b['msgs_in'][t]} }")
    if auth and (got > sent or got < sent - dropped_tx):
        bad.append(f"replica {i}: {got} drops counted for {sent} attack datagrams "
                   f"({dropped_tx} dropped by the attacker's ports)")
total = sum(drops.values())
print(f"{key} +{total} {drops}")
if auth:
    for r in ("mac", "short", "field", "sender", "key_gen", "not_admin"):
        if drops.get(r, 0) == 0:
            bad.append(f"no datagram counted as {r}")
    if drops.get("replay", 0) + drops.get("stale", 0) == 0:
        bad.append("no replayed datagram counted as replay or stale")
    if atk[0]["admin_ok"] != 0 or atk[0]["replies_authentic"] != 0:
        bad.append(f"forged requests answered: {atk[0]['admin_ok']} admin OK, "
                   f"{atk[0]['replies_authentic']} authentic replies")
elif total == 0:
    bad.append("nothing counted as a decode drop")
c0, c1 = load(f"{tmp}/before{leader}.json")["commit"], load(f"{tmp}/after{leader}.json")["commit"]
print(f"leader {leader}'s commit {c0} -> {c1} across the attack")
if c1 <= c0:
    bad.append(f"the leader's commit point did not move ({c0} -> {c1})")
for b in bad:
    print("FAIL:", b)
sys.exit(1 if bad else 0)
PY
wait "$LOAD" || fail "pw-bench-dpdk failed: $(tail -n 3 "$TMP/load.log")"
say "load: $(cat "$TMP/load.json")"
ok=$(grep -o '"ok":[0-9]*' "$TMP/load.json" | cut -d: -f2)
[ "${ok:-0}" -gt 100 ] || fail "only ${ok:-0} commands completed"
stop_and_compare
echo "1 passed, 0 failed"
