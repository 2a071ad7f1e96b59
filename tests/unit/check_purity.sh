#!/bin/sh
# Fails if any object of the consensus libraries imports a forbidden symbol.
# Allowed from libc: memcpy/memset/memcmp/memmove, abort and fprintf/stderr (assertion
# failure path only), __assert_fail, __stack_chk_fail.
set -eu
bad='^(malloc|calloc|realloc|free|aligned_alloc|posix_memalign|mmap|munmap|brk|sbrk|clock_gettime|gettimeofday|time|clock|nanosleep|usleep|sleep|socket|send|sendto|sendmsg|recv|recvfrom|recvmsg|read|write|open|close|pthread_.*|rte_.*|ibv_.*|rand|random|srand|getrandom)$'
status=0
for lib in "$@"; do
	syms=$(nm -u "$lib" | awk '{print $2}' | sed 's/@.*//' | sort -u)
	hits=$(printf '%s\n' "$syms" | grep -E "$bad" || true)
	if [ -n "$hits" ]; then
		echo "FAIL: $lib imports forbidden symbols:"; printf '  %s\n' $hits
		status=1
	else
		echo "ok: $lib ($(printf '%s\n' "$syms" | grep -c . ) undefined symbols, none forbidden)"
	fi
done
exit $status
