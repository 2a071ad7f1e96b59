#!/usr/bin/env bash
# deploy/setup-host (root): check mode reports and changes nothing; --apply reserves and
# mounts hugepages and moves IRQs off the given core, and a second check then passes
# those checks. Everything it changed is put back on exit, even on failure.
set -euo pipefail
SETUP=$(cd "$(dirname "$0")/../../deploy" && pwd)/setup-host
HP=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
fail() { echo "FAIL: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "needs root: skipped"; exit 77; }

hp0=$(cat "$HP")
mounted0=$(awk '$3 == "hugetlbfs"' /proc/mounts | wc -l)
declare -A aff0
for d in /proc/irq/[0-9]*; do
	[ -r "$d/smp_affinity_list" ] && aff0[$d]=$(cat "$d/smp_affinity_list")
done
snapshot() {
	cat "$HP"; awk '$3 == "hugetlbfs"' /proc/mounts | wc -l
	for d in "${!aff0[@]}"; do echo "$d $(cat "$d/smp_affinity_list" 2>/dev/null)"; done | sort
}
restore() {
	local rc=$?
	echo "$hp0" > "$HP" 2>/dev/null || true
	if [ "$mounted0" -eq 0 ] && grep -qs " /dev/hugepages hugetlbfs" /proc/mounts; then
		umount /dev/hugepages || true
	fi
	for d in "${!aff0[@]}"; do echo "${aff0[$d]}" > "$d/smp_affinity_list" 2>/dev/null || true; done
	exit $rc
}
trap restore EXIT
trap 'exit 130' INT TERM

# A core to isolate: the last one (needs two).
last=$(( $(nproc --all) - 1 ))
[ "$last" -ge 1 ] || { echo "one core: skipped"; exit 77; }

before=$(snapshot)
out=$("$SETUP" --cores "$last" --hugepages $((hp0 + 8))) && rc=0 || rc=$?
echo "$out"
[ "$rc" = 1 ] || fail "check mode exit $rc, expected 1 (fewer hugepages than asked)"
echo "$out" | grep -q "^FAIL hugepages: $hp0 x 2 MiB reserved, want $((hp0 + 8))" ||
	fail "check mode did not report the hugepages it saw"
[ "$(snapshot)" = "$before" ] || fail "check mode changed the host"

"$SETUP" --apply --only hugepages --hugepages $((hp0 + 8)) || fail "--apply hugepages failed"
[ "$(cat "$HP")" -ge $((hp0 + 8)) ] || fail "--apply reserved $(cat "$HP") hugepages"
grep -qs " hugetlbfs " /proc/mounts || fail "--apply mounted no hugetlbfs"
"$SETUP" --only hugepages --hugepages $((hp0 + 8)) || fail "hugepages check after --apply"

# IRQs that may run on that core besides others (one bound to it alone is per-CPU: stays).
shared() {
	local n=0 d a
	for d in "${!aff0[@]}"; do
		a=$(cat "$d/smp_affinity_list" 2>/dev/null) || continue
		[ "$a" = "$last" ] && continue
		for c in $(echo "$a" | tr ',' ' '); do
			if [[ $c == *-* ]]; then
				[ "${c%-*}" -le "$last" ] && [ "$last" -le "${c#*-}" ] && { n=$((n + 1)); break; }
			elif [ "$c" = "$last" ]; then n=$((n + 1)); break; fi
		done
	done
	echo $n
}
n0=$(shared)
"$SETUP" --apply --only irqs --cores "$last" || true   # some IRQs refuse to move
n1=$(shared)
echo "IRQs that may run on core $last besides others: $n0 before --apply, $n1 after"
[ "$n0" -eq 0 ] || [ "$n1" -lt "$n0" ] || fail "--apply moved no IRQ off core $last"
echo "1 passed, 0 failed"
