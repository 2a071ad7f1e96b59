#!/bin/sh
# check_client_purity.sh LIB...: libpaxwire-client (.a and .so) holds its own code,
# wire/'s codecs and the cluster-file parser, nothing else: no service store, no applier,
# no replica, no pw-lincheck, no history writer. Fails, naming each symbol, if a library
# defines (globally or locally) any symbol of those. Every px_ symbol that is not the
# protocol codec's (px_encode, px_decode, px_encoded_len, px_wire_*, px_batch_*) is
# consensus code, whatever file of consensus/ it comes from.
#
# Also fails if a library does not define pw_client_open, or an archive px_decode: a wrong
# or empty file must not pass. (A shared library built with LTO, the default, may have
# inlined px_decode into every caller: its code is there, its name is not.)
set -eu
# Patterns (extended regexps on the symbol, with .cold/.part.N/... suffixes removed):
#   px_*, pxr_*           the replica and the applier (px_replica_*, px_step, px_tick,
#                         px_propose, px_applier_*, px_apply_*, px_check_invariants, the
#                         replica's internal pxr_*, ...), except the wire codec's names
#   node_*, svc_*         the embedder (node/), the service registry and loader, and
#                         the stores (svc_kv_*, svc_stream_*: init, service, apply,
#                         is_read, hash, ..., registry descriptors); their codecs are
#                         wire/'s (wire_kv_*, wire_stream_*: allowed)
#   kv_*, stream_*, ...   the stores' own static functions
#   lc_*                  pw-lincheck
#   *history*, json_str*  the pw-lincheck history writer
codec='^px_(encode|decode|encoded_len|wire_.*|batch_.*)$'
bad='^(px_.*|pxr_.*|node_.*|svc_.*|kv_(insert|delete|put|cas|apply_general)|put_new_short|apply_general|index_(probe|remove)|stream_(append|read)|lc_.*|.*history.*|json_str.*)$'
status=0
for lib in "$@"; do
	if ! syms=$(nm --defined-only "$lib" 2>/dev/null) || [ -z "$syms" ]; then
		# A stripped shared library keeps its dynamic symbols only.
		syms=$(nm -D --defined-only "$lib")
	fi
	# Type N: debugging symbols (LTO names its units' debug info after the source file,
	# px_codec.c.08aee86f), not code.
	names=$(printf '%s\n' "$syms" | awk 'NF == 3 && $2 != "N" { print $3 }' |
		sed 's/@.*//; s/\..*//' | sort -u)
	n=$(printf '%s\n' "$names" | grep -c . || true)
	wants=pw_client_open
	case $lib in *.a) wants="$wants px_decode" ;; esac
	for want in $wants; do
		if ! printf '%s\n' "$names" | grep -qx "$want"; then
			echo "FAIL: $lib does not define $want: not the client library?"
			status=1
		fi
	done
	hits=$(printf '%s\n' "$names" | grep -Ev "$codec" | grep -E "$bad" || true)
	if [ -n "$hits" ]; then
		echo "FAIL: $lib defines $(printf '%s\n' "$hits" | wc -l) symbols of server or test-tool code:"
		printf '  %s\n' $hits
		status=1
	else
		echo "ok: $lib ($n symbols defined, none of a store, the applier, the replica, lincheck or the history writer)"
	fi
done
exit $status
