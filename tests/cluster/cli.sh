#!/usr/bin/env bash
# pwctl against three real paxwired (kernel UDP, authenticated; issue 15): options after
# the command; a value over the cluster's limit named with its key (kv_value_bytes); a
# transfer to a member that does not answer, or is no member, refused at once; with
# every replica gone, reads and queries say "no answer", only writes "outcome unknown";
# status names a recovering replica's role.
# Uses lib.sh, which stops everything it started on any exit.
. "$(dirname "$0")/lib.sh" "$1"

write_config 3
for i in 0 1 2; do start_replica $i --bootstrap; done
L=$(wait_leader 10) || fail "no leader within 10 s"
say "leader is $L"

# run EXPECTED_RC ARGS...: pwctl ARGS, its exit code must be EXPECTED_RC; stdout in
# $TMP/out, stderr in $TMP/err
run() {
	local want=$1 rc; shift
	set +e
	"$PWCTL" "$@" > "$TMP/out" 2> "$TMP/err"
	rc=$?
	set -e
	[ "$rc" = "$want" ] || fail "pwctl $* exited $rc, want $want: $(cat "$TMP/out" "$TMP/err")"
}

# Options after the command, and mixed.
run 0 put cli-k cli-v --config "$CONFIG"
run 0 get cli-k --timeout 2000 --config "$CONFIG"
[ "$(cat "$TMP/out")" = cli-v ] || fail "get after put: $(cat "$TMP/out")"
run 0 --timeout 2000 leader --config "$CONFIG"
[ "$(cat "$TMP/out")" = "$L" ] || fail "leader: $(cat "$TMP/out")"
run 0 --config "$CONFIG" put -- --json --wait
run 0 --config "$CONFIG" get -- --json
[ "$(cat "$TMP/out")" = --wait ] || fail "a key and value after --: $(cat "$TMP/out")"
run 0 put --help --config "$CONFIG"
grep -q "usage: pwctl \[options\] put KEY VALUE" "$TMP/out" || fail "put --help: $(cat "$TMP/out")"

# The limit and its key: kv_value_bytes defaults to 1024 (config/cfg.h).
big=$(head -c 2000 /dev/zero | tr '\0' x)
run 1 --config "$CONFIG" put cli-big "$big"
say "put of 2000 bytes: $(cat "$TMP/err")"
grep -q "value is 2000 bytes; the cluster's limit is kv_value_bytes = 1024" "$TMP/err" ||
	fail "the limit is not named: $(cat "$TMP/err")"
long=$(head -c 100 /dev/zero | tr '\0' k)
run 1 --config "$CONFIG" put "$long" v
grep -q "key is 100 bytes; the cluster's limit is kv_key_bytes = 64" "$TMP/err" ||
	fail "the key limit is not named: $(cat "$TMP/err")"

# transfer-leader to a member that does not answer: refused at once (not after the
# 3 s timeout), nothing asked of the leader; to an id that is no member: refused.
F=$(( (L + 1) % 3 ))
kill -STOP "${PIDS[$F]}"
t0=$(date +%s%N)
run 1 --config "$CONFIG" --timeout 3000 transfer-leader "$F"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
kill -CONT "${PIDS[$F]}"
say "transfer-leader $F (stopped): $(cat "$TMP/err") [$ms ms]"
grep -q "member $F .* does not answer" "$TMP/err" || fail "transfer to a stopped member: $(cat "$TMP/err")"
[ "$ms" -lt 2000 ] || fail "transfer to a stopped member took $ms ms to refuse"
grep -q "transfer leadership to $F" "$TMP/replica$L.log" && fail "the leader was asked to transfer to $F"
run 1 --config "$CONFIG" transfer-leader 5
grep -q "member 5 is no member" "$TMP/err" || fail "transfer to a non-member: $(cat "$TMP/err")"
[ "$(leader)" = "$L" ] || fail "the leader moved"

# No replica answers: reads and queries say "no answer", writes "outcome unknown".
for i in 0 1 2; do kill -STOP "${PIDS[$i]}"; done
EXTRA_CLEANUP="for p in ${PIDS[*]}; do kill -CONT \$p 2>/dev/null; done; $EXTRA_CLEANUP"
for cmd in "get cli-k" "stats" "stats 0" "members" "leader" "status" "is-leader 0"; do
	# shellcheck disable=SC2086  # cmd is a list of words
	run 2 --config "$CONFIG" --timeout 300 --attempt 100 $cmd
	grep -q "outcome unknown\|may or may not" "$TMP/err" && fail "pwctl $cmd: $(cat "$TMP/err")"
	[ -s "$TMP/err" ] || fail "pwctl $cmd said nothing"
done
run 2 --config "$CONFIG" --timeout 300 --attempt 100 get cli-k
say "get with no replica: $(cat "$TMP/err")"
grep -q "no answer" "$TMP/err" || fail "get: $(cat "$TMP/err")"
run 2 --config "$CONFIG" --timeout 300 --attempt 100 put cli-k v2
grep -q "outcome unknown" "$TMP/err" || fail "put with no replica: $(cat "$TMP/err")"
# A replica restarted while its peers are stopped stays recovering: status says so
# (its stats' role), not "follower".
kill -9 "${PIDS[$F]}"
wait_gone "${PIDS[$F]}"
start_replica "$F"
sleep 0.3
run 2 --config "$CONFIG" --timeout 500 --attempt 100 status
say "status, $F recovering: $(grep "^$F " "$TMP/out")"
grep -q "^$F .*recovering" "$TMP/out" || fail "status of a recovering replica: $(cat "$TMP/out")"
for i in 0 1 2; do kill -CONT "${PIDS[$i]}"; done
echo "1 passed, 0 failed"
