#!/bin/sh
# check_exports.sh LIB.so HEADER: the shared library's dynamic symbols are exactly the
# functions the public header declares (no codec or service internals leak, no API
# function is missing from paxwire-client.map).
set -eu
lib=$1
hdr=$2
want=$(grep -oE '\bpw_[a-z_]+\(' "$hdr" | tr -d '(' | sort -u)
have=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TW]$/ { print $3 }' | sed 's/@.*//' | sort -u)
if [ "$want" != "$have" ]; then
	echo "exported functions differ from $hdr:"
	echo "$want" > "${TMPDIR:-/tmp}/want.$$"
	echo "$have" > "${TMPDIR:-/tmp}/have.$$"
	diff "${TMPDIR:-/tmp}/want.$$" "${TMPDIR:-/tmp}/have.$$" || true
	rm -f "${TMPDIR:-/tmp}/want.$$" "${TMPDIR:-/tmp}/have.$$"
	exit 1
fi
echo "$(echo "$want" | wc -l) functions exported, as declared"
