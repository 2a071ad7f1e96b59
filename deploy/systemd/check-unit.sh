#!/usr/bin/env bash
# The systemd template unit as systemd reads it: `systemd-analyze verify` of an instance
# (paxwired@0.service), which checks every key, that ExecStart's program exists and is
# executable, and the dependencies; then that it never starts a replica with a
# first-start flag by itself (the bootstrap rule) and that a restart follows only a crash.
set -euo pipefail
unit=$1
command -v systemd-analyze >/dev/null || { echo "systemd-analyze missing (scripts/setup installs systemd)"; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cp "$unit" "$dir/paxwired@.service"
out=$(systemd-analyze verify --man=no "$dir/paxwired@0.service" 2>&1) || {
	echo "systemd-analyze verify failed:"; echo "$out"; exit 1; }
# Any warning is a failure too (unknown keys are only warned about).
[ -z "$out" ] || { echo "systemd-analyze verify warned:"; echo "$out"; exit 1; }
exec_start=$(grep '^ExecStart=' "$dir/paxwired@.service")
case "$exec_start" in
*--bootstrap*|*--rejoin*|*--join*) echo "ExecStart passes a first-start flag: $exec_start"; exit 1 ;;
esac
grep -q '^Restart=on-abnormal$' "$dir/paxwired@.service" || { echo "restart policy is not on-abnormal"; exit 1; }
grep -q '^ExecStartPost=/bin/rm -f /run/paxwire/once-%i.env$' "$dir/paxwired@.service" ||
	{ echo "the once-file is not removed after the start"; exit 1; }
echo "paxwired@.service: verified ($exec_start)"
