#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Replays one seed in two processes and requires identical output: the options, the
# summary and the final state hash (pw-sim -v). Usage: replay.sh PW_SIM SEED
set -eu
sim=$1
seed=$2
a=$("$sim" --seed "$seed" -v) || { echo "first run of seed $seed failed"; echo "$a"; exit 1; }
b=$("$sim" --seed "$seed" -v) || { echo "second run of seed $seed failed"; echo "$b"; exit 1; }
if [ "$a" != "$b" ]; then
	echo "seed $seed does not replay identically:"
	printf '%s\n' "$a" > "${TMPDIR:-/tmp}/pw-sim-replay-a.$$"
	printf '%s\n' "$b" > "${TMPDIR:-/tmp}/pw-sim-replay-b.$$"
	diff "${TMPDIR:-/tmp}/pw-sim-replay-a.$$" "${TMPDIR:-/tmp}/pw-sim-replay-b.$$" || true
	rm -f "${TMPDIR:-/tmp}/pw-sim-replay-a.$$" "${TMPDIR:-/tmp}/pw-sim-replay-b.$$"
	exit 1
fi
echo "$a" | tail -n 1
