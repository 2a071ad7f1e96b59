#!/usr/bin/env bash
# The per-packet path of paxwired does not allocate: run a replica under an allocator-
# counting shim twice, with 10x more client commands the second time; the numbers of
# allocator calls must be equal (everything is allocated at start-up). The load
# generator, pw-bench, runs under the shim too and is held to the same rule.
# DURABILITY=durable: the replica keeps its journal (a fresh data dir per run), so the
# journal's write path, its writer thread included, is held to the rule too.
# Usage: no_alloc.sh BUILD_DIR (a build without sanitizers).
. "$(dirname "$0")/lib.sh" "$1"
SHIM=$BUILD/tests/cluster/libpwmalloccount.so
[ -f "$SHIM" ] || { echo "no allocator shim in $BUILD (sanitized build?): skipped"; exit 77; }

run_with() {   # run_with OPS -> prints "malloc calloc realloc free" of replica 0, then of pw-bench
	local ops=$1 data=""
	write_config 1
	[ -n "$DATA" ] && data="--data-dir $DATA/run$ops"
	# shellcheck disable=SC2086  # data is a list of words
	PW_MALLOC_COUNT_FILE=$TMP/count LD_PRELOAD=$SHIM \
		"$PAXWIRED" --config "$CONFIG" --id 0 --bootstrap $data > "$TMP/r.log" 2>&1 &
	local pid=$!
	PIDS+=($pid)
	wait_leader 10 > /dev/null || fail "no leader"
	PW_MALLOC_COUNT_FILE=$TMP/bench-count LD_PRELOAD=$SHIM \
		"$PWBENCH" --config "$CONFIG" --clients 2 --seconds 60 --keys 16 "${KV_LOAD[@]}" \
		--max-ops "$ops" > "$TMP/load.json" 2> "$TMP/load.log" ||
		fail "pw-bench failed: $(cat "$TMP/load.log")"
	kill -TERM $pid; wait $pid || true
	echo "$(cat "$TMP/count")/$(cat "$TMP/bench-count")"
}
a=$(run_with 2000)
b=$(run_with 20000)
say "allocator calls (malloc calloc realloc free), paxwired/pw-bench: 2000 ops: $a; 20000 ops: $b"
[ -n "${a%/*}" ] && [ "${a%/*}" = "${b%/*}" ] ||
	fail "paxwired's allocator calls depend on the number of commands"
[ -n "${a#*/}" ] && [ "${a#*/}" = "${b#*/}" ] ||
	fail "pw-bench's allocator calls depend on the number of commands"
echo "1 passed, 0 failed"
