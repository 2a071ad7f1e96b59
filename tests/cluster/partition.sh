#!/usr/bin/env bash
# Three paxwired processes (kernel UDP backend), each in its own network namespace,
# joined through veth links to a bridge on this host where the clients run. Cut the
# leader's link: the isolated replica must stop accepting writes (check-quorum steps it
# down; a client that can reach only it gets no answer), the majority must elect a
# leader and go on; restore the link: it must rejoin and catch up. The history of the
# clients on the majority side must be linearizable. Needs root (ip netns, veth).
[ "$(id -u)" -eq 0 ] || { echo "partition test needs root (ip netns): skipped"; exit 77; }
command -v ip >/dev/null || { echo "iproute2 missing: skipped"; exit 77; }
S=pw$$
NET=10.$((200 + $$ % 50)).$((($$ / 50) % 250)).
EXTRA_CLEANUP='for i in 0 1 2; do ip netns del $S-$i 2>/dev/null; ip link del $S-v$i 2>/dev/null; done; ip link del $S-br 2>/dev/null'
. "$(dirname "$0")/lib.sh" "$1"

ip link add "$S-br" type bridge
ip addr add "${NET}254/24" dev "$S-br"
ip link set "$S-br" up
for i in 0 1 2; do
	ip netns add "$S-$i"
	ip link add "$S-v$i" type veth peer name eth0 netns "$S-$i"
	ip link set "$S-v$i" master "$S-br" up
	ip -n "$S-$i" addr add "${NET}$((i + 1))/24" dev eth0
	ip -n "$S-$i" link set eth0 up
	ip -n "$S-$i" link set lo up
done
write_config 3 "${NET}1" "${NET}2" "${NET}3"
for i in 0 1 2; do start_replica $i --bootstrap ip netns exec "$S-$i"; done
L=$(wait_leader 15) || fail "no leader within 15 s"
say "leader is $L"

start_load 3 9 8
sleep 2
L=$(wait_leader 5) || fail "no leader under load"
say "cut leader $L's link"
ip link set "$S-v$L" down
L2=$(wait_leader 10 "$L") || fail "the majority elected no leader within 10 s"
say "majority leader: $L2"
# The isolated replica has stepped down by now (check-quorum), and a write through it
# alone must not succeed: it can reach no majority.
sleep 1
grep -o '"role":"[a-z]*"' "$TMP/replica$L.log" | tail -n 1 | grep -q leader &&
	fail "isolated replica $L still leads"
if ip netns exec "$S-$L" "$PWCTL" --config "$CONFIG" --timeout 1500 put minority x \
	> "$TMP/minority.out" 2>&1; then
	fail "a write through the isolated minority succeeded"
fi
say "write through the minority refused: $(tr '\n' ' ' < "$TMP/minority.out")"
sleep 1
say "restore the link"
ip link set "$S-v$L" up
finish_load_and_check "$L" "$L2"
echo "1 passed, 0 failed"
