/* SPDX-License-Identifier: Apache-2.0
 * The content hash that names a snapshot of the applied state (prefix wire_): the `nonce`
 * of SNAP_REQ and SNAP_CHUNK (docs/protocol.md), the id a replica saves a snapshot under
 * (storage/snapstore.h) and the id a backup file carries (wire_backup.h). One copy, for
 * the replicas (node/) and for the tools that fetch snapshots (libpaxwire-client, pwctl),
 * which link no node/ code. Inline: nothing to link.
 */
#ifndef WIRE_HASH_H
#define WIRE_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "px_apply.h"   /* px_hash_bytes, PX_HASH_SEED */
#include "wire_le.h"

/**
 * The content hash of a snapshot: four lanes over little-endian u64 words (32 bytes a
 * step), each lane = (lane ^ word) * odd constant, folded with an xor-shift; the lanes
 * combined, the tail (len % 32 bytes) taken byte-wise by px_hash_bytes, then a final
 * avalanche. Four lanes rather than px_hash_bytes' byte-wise FNV because it runs over
 * every byte of snapshots of gigabytes (as px_applier_chain does over every slot). Not
 * cryptographic: it names a snapshot and catches corruption, not forgery.
 * @return the hash, never 0 (0 means "any snapshot" in a SNAP_REQ).
 */
static inline uint64_t wire_snap_hash(const uint8_t *p, size_t len)
{
	uint64_t h[4] = { PX_HASH_SEED ^ len, 0x9e3779b97f4a7c15ull, 0xc2b2ae3d27d4eb4full,
			  0x165667b19e3779f9ull };
	size_t i = 0;

	/* Bounded by len. */
	for (; i + 32u <= len; i += 32u) {
		for (uint32_t k = 0; k < 4; k++) {
			uint64_t w = wire_ld64(p + i + 8u * k);
			h[k] = (h[k] ^ w) * 0xff51afd7ed558ccdull;
			h[k] ^= h[k] >> 29;
		}
	}
	uint64_t t = h[0] ^ (h[1] * 3u) ^ (h[2] * 5u) ^ (h[3] * 7u);
	t = px_hash_bytes(t, p + i, len - i);
	t ^= t >> 33;
	t *= 0xc4ceb9fe1a85ec53ull;
	t ^= t >> 33;
	return t != 0 ? t : 1u;
}

#endif /* WIRE_HASH_H */
