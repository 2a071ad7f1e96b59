#!/usr/bin/env bash
# The Wireshark dissector (deploy/wireshark/paxwire.lua) against a live cluster: tshark
# captures a 3-replica cluster (authenticated, memory mode) through puts, a get, admin
# requests, a leadership transfer and a killed follower's recovery; every datagram on the
# cluster's ports must decode as paxwire, with no malformed message and no Lua error,
# each of those flows' message types must be there, and the fields must say what was
# done (the kv key put, the admin op, the leader's id in the transfer). Datagrams made
# malformed on purpose must be flagged as such, exactly as many as were sent.
. "$(dirname "$0")/lib.sh" "$1"
LUA=$(cd "$(dirname "$0")/../../deploy/wireshark" && pwd)/paxwire.lua
command -v tshark >/dev/null || fail "tshark is not installed (scripts/setup installs it)"
CAP=$TMP/cap.pcapng
TSHARK_PID=""
EXTRA_CLEANUP="[ -n \"\$TSHARK_PID\" ] && kill \$TSHARK_PID 2>/dev/null; $EXTRA_CLEANUP"
# Heuristics first: the test's ports (from its PID) may be some other protocol's
# registered port, whose dissector would otherwise claim the datagrams.
ts() { tshark -n -r "$CAP" -X lua_script:"$LUA" -o udp.try_heuristic_first:TRUE "$@" \
	2>>"$TMP/tshark-read.log"; }

write_config 3
for i in 0 1 2; do start_replica "$i" --bootstrap; done
L=$(wait_leader 10) || fail "no leader within 10 s"
say "leader is $L; capturing"
tshark -n -i any -f "udp portrange $BASE_PORT-$((BASE_PORT + 2))" -w "$CAP" \
	> "$TMP/tshark.log" 2>&1 &
TSHARK_PID=$!
for _ in $(seq 100); do grep -q "Capture started" "$TMP/tshark.log" && break; sleep 0.1; done
grep -q "Capture started" "$TMP/tshark.log" || fail "tshark did not start capturing"
sleep 0.5

export PAXWIRE_KEY_FILE=$CLIENT_KEY
for k in 1 2 3; do "$PWCTL" --config "$CONFIG" put "wskey$k" "value$k" >/dev/null; done
[ "$("$PWCTL" --config "$CONFIG" get wskey2)" = value2 ] || fail "get wskey2"
export PAXWIRE_KEY_FILE=$ADMIN_KEY
"$PWCTL" --config "$CONFIG" stats "$L" >/dev/null
T=$(( (L + 1) % 3 ))
"$PWCTL" --config "$CONFIG" transfer-leader "$T" >/dev/null || fail "transfer to $T"
L2=$(wait_leader 10 "$L") || fail "no new leader after the transfer"
say "leader is $L2 after the transfer; kill -9 and restart follower $L"
kill -9 "${PIDS[$L]}"
wait_gone "${PIDS[$L]}"
start_replica "$L"
for _ in $(seq 100); do
	grep -q '"recoveries_completed":1' "$TMP/replica$L.log" && break
	sleep 0.1
done
grep -q '"recoveries_completed":1' "$TMP/replica$L.log" || fail "replica $L did not recover"
PAXWIRE_KEY_FILE=$CLIENT_KEY "$PWCTL" --config "$CONFIG" put wsafter yes >/dev/null

# Three malformed datagrams (magic and version right, so that the dissector takes them):
# a body length that does not add up, a REPLY whose body overruns, an ACCEPT with 65
# entries. The replica drops them (decode errors); the dissector must flag each.
python3 - "$BASE_PORT" <<'EOF'
import socket, struct, sys
port = int(sys.argv[1])
def hdr(ty, frm, to, n_inc, body_len, total):
    return struct.pack('<HBBBBBBIIQIIQQQ', 0x5850, 5, ty, 0, frm, to, n_inc, 1, 1, 0,
                       total, body_len, 0, 0, 0)
msgs = []
msgs.append(hdr(6, 0, 1, 0, 99, 56 + 16) + bytes(16))           # lengths do not add up
body = struct.pack('<QQBBI', 1, 1, 0, 0xff, 500) + b'x' * 10       # REPLY body overrun
msgs.append(hdr(21, 0, 0xff, 0, len(body), 56 + len(body)) + body)
body = struct.pack('<QI', 0, 65)                                    # 65 entries
msgs.append(hdr(5, 0, 1, 0, len(body), 56 + len(body)) + body)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for m in msgs:
    s.sendto(m, ('127.0.0.1', port))
EOF
sleep 1
kill -INT "$TSHARK_PID"
wait "$TSHARK_PID" 2>/dev/null || true
TSHARK_PID=""

udp=$(ts -Y udp | wc -l)
px=$(ts -Y paxwire | wc -l)
mal=$(ts -Y paxwire.malformed | wc -l)
say "captured $udp datagrams, $px decoded as paxwire, $mal flagged malformed"
[ "$udp" -gt 100 ] || fail "only $udp datagrams captured"
[ "$px" -eq "$udp" ] || fail "$((udp - px)) datagrams on the cluster's ports not decoded"
[ "$mal" -eq 3 ] || fail "$mal datagrams flagged malformed, 3 were sent"
if grep -qi "lua error" "$TMP/tshark-read.log" || ts -V | grep -qi "lua error"; then
	fail "the dissector raised a Lua error: $(grep -i -m1 "lua error" "$TMP/tshark-read.log")"
fi

# Every flow's types: replication, clients, the transfer's phase 1, memory-mode recovery.
types=$(ts -Y "paxwire && !paxwire.malformed" -T fields -e paxwire.type | sort -un | tr '\n' ' ')
say "message types seen: $types"
for t in 3 4 5 6 8 10 11 20 21; do
	case " $types " in *" $t "*) ;; *) fail "no message of type $t decoded" ;; esac
done
# Fields: the keys put, an admin STATS request, TIMEOUT_NOW from the old leader to T,
# every peer datagram with an authentication trailer of role peer.
keys=$(ts -Y 'paxwire.type == 20 && paxwire.kv.op == 1' -T fields -e paxwire.kv.key |
	sort -u | tr '\n' ' ')
for k in wskey1 wskey2 wskey3 wsafter; do
	hex=$(printf '%s' "$k" | od -An -tx1 | tr -d ' \n')
	case " $keys " in *" $hex "*) ;; *) fail "no PUT of $k decoded (keys: $keys)" ;; esac
done
[ "$(ts -Y 'paxwire.admin.op == 2' | wc -l)" -ge 1 ] || fail "no admin STATS decoded"
tn=$(ts -Y 'paxwire.type == 8' -T fields -e paxwire.from -e paxwire.to | sort -u)
[ "$tn" = "$L	$T" ] || fail "TIMEOUT_NOW decoded as '$tn', expected from $L to $T"
peers=$(ts -Y 'paxwire.type < 20 && !paxwire.malformed' | wc -l)
peer_auth=$(ts -Y 'paxwire.type < 20 && paxwire.auth.role == 1' | wc -l)
[ "$peers" -eq "$peer_auth" ] || fail "$peers peer datagrams, $peer_auth with a peer trailer"
say "dissector: $px datagrams decoded, types $types"
stop_and_compare
