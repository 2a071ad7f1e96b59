#!/usr/bin/env bash
# When the DPDK environment cannot start, paxwired says why in the operator's terms and
# names the fix (issue 15: "Permission denied" from rte_eal_init when no hugepages are
# reserved used to point at the EAL arguments and at dpdk-testpmd, which is not
# installed): no free hugepages; an -a address that is no PCI device; a port bound to
# a kernel driver instead of vfio-pci. Skipped (77) where hugepages are reserved: the
# EAL then starts.
. "$(dirname "$0")/lib.sh" "$1"

free=0
for f in /sys/kernel/mm/hugepages/hugepages-*/free_hugepages; do
	[ -r "$f" ] && free=$((free + $(cat "$f")))
done
if [ "$free" -gt 0 ]; then
	echo "SKIP: $free hugepages are free here; the EAL would start"
	exit 77
fi

make_keys
PREFIX=pw-eal-$$
EXTRA_CLEANUP="rm -rf /var/run/dpdk/$PREFIX; $EXTRA_CLEANUP"
sed "s|^key_file = .*|key_file = $CLUSTER_KEY|" \
	"$(dirname "$0")/../../deploy/nic-3.ini" > "$TMP/nic.ini"
OUT=$TMP/eal.out

# hint ADDR WHAT...: paxwired with the PCI address ADDR must exit 1 and print each WHAT
hint() {
	local addr=$1 rc=0
	shift
	timeout 20 "$PAXWIRED" -l 0 -a "$addr" --file-prefix="$PREFIX" -- \
		--config "$TMP/nic.ini" --id 0 --bootstrap > "$OUT" 2>&1 || rc=$?
	[ "$rc" -eq 1 ] || fail "paxwired -a $addr exited $rc, not 1: $(cat "$OUT")"
	for what in "$@"; do
		grep -qF -- "$what" "$OUT" || fail "paxwired -a $addr: no '$what' in: $(cat "$OUT")"
	done
	grep -q "testpmd" "$OUT" && fail "paxwired -a $addr still names dpdk-testpmd: $(cat "$OUT")"
	say "paxwired -a $addr: $(grep -c 'paxwired.* error: ' "$OUT") lines of its own, each finding named"
}

hint 0000:ff:1f.7 "the DPDK environment did not start" \
	"no free hugepages on this host" "fix: deploy/setup-host --hugepages 1024 --apply" \
	"-a 0000:ff:1f.7: no such PCI device on this host"
# A device bound to a kernel driver (the first one that has a driver), if any.
for dev in /sys/bus/pci/devices/*; do
	[ -e "$dev/driver" ] || continue
	drv=$(basename "$(readlink "$dev/driver")")
	case $drv in vfio-pci|uio_pci_generic|igb_uio|mlx5_core) continue ;; esac
	hint "$(basename "$dev")" "the port is bound to $drv, not vfio-pci" \
		"dpdk-devbind.py --bind=vfio-pci $(basename "$dev")"
	break
done
[ -e "/var/run/dpdk/$PREFIX" ] && rm -rf "/var/run/dpdk/$PREFIX"
say "PASS"
