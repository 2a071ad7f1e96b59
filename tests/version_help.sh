#!/usr/bin/env bash
# --version and --help of every program (issue 15). Usage: version_help.sh PW_VERSION_H
# PROGRAM...: each PROGRAM --version exits 0 and prints "NAME (paxwire) VERSION", VERSION
# being the one this build's pw_version.h holds (git describe when built); each
# PROGRAM --help exits 0 and prints its usage on stdout.
set -euo pipefail
want=$(grep '^#define PW_VERSION ' "$1" | cut -d'"' -f2)
shift
[ -n "$want" ] || { echo "FAIL: no PW_VERSION in pw_version.h"; exit 1; }
failed=0
for p in "$@"; do
	name=$(basename "$p")
	set +e
	v=$("$p" --version 2>&1); vrc=$?
	h=$("$p" --help 2>/dev/null); hrc=$?
	set -e
	if [ $vrc != 0 ] || [ "$v" != "$name (paxwire) $want" ]; then
		echo "FAIL: $name --version exited $vrc: '$v' (want '$name (paxwire) $want')"
		failed=$((failed + 1))
	fi
	if [ $hrc != 0 ] || ! grep -qi "usage" <<<"$h"; then
		echo "FAIL: $name --help exited $hrc, stdout: '${h:0:200}'"
		failed=$((failed + 1))
	fi
done
echo "$# programs: $name... version '$want'"
[ $failed = 0 ] || { echo "$failed failed"; exit 1; }
echo "1 passed, 0 failed"
