#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Replays seeds in separate processes and requires identical output, pass or fail:
# the options, the summary and the final state hash (pw-sim --seed N -v), or the
# failed check, its time and detail. Usage: replay.sh PW_SIM SEED...
set -u
sim=$1
shift
tmp=${TMPDIR:-/tmp}/pw-sim-replay.$$
status=0
for seed in "$@"; do
	"$sim" --seed "$seed" -v > "$tmp.a" 2>&1
	ra=$?
	"$sim" --seed "$seed" -v > "$tmp.b" 2>&1
	rb=$?
	if [ "$ra" != "$rb" ] || ! cmp -s "$tmp.a" "$tmp.b"; then
		echo "seed $seed does not replay identically (exit $ra then $rb):"
		diff "$tmp.a" "$tmp.b"
		status=1
	else
		echo "seed $seed replays identically (exit $ra): $(tail -n 1 "$tmp.a")"
	fi
done
rm -f "$tmp.a" "$tmp.b"
exit $status
