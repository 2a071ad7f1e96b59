#!/usr/bin/env bash
# The link.J lines of deploy/local-N-memif.ini are the ones deploy/memif-mesh --links
# prints (the port order of the EAL arguments it prints): one layout, checked.
set -euo pipefail
cd "$(dirname "$0")"
for n in 3 5; do
	for i in $(seq 0 $((n - 1))); do
		want=$(./memif-mesh --links "$n" "$i")
		have=$(sed -n "/^\[replica\.$i\]/,/^\[/p" "local-$n-memif.ini" | grep '^link\.' || true)
		[ "$want" = "$have" ] || { echo "FAIL: local-$n-memif.ini [replica.$i]: '$have', memif-mesh says '$want'"; exit 1; }
	done
done
echo "1 passed, 0 failed"
