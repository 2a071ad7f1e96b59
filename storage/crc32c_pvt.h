/* SPDX-License-Identifier: Apache-2.0
 * The CRC32C (Castagnoli, as iSCSI) that every checksum in storage/ uses: the journal's
 * records (journal.c), the snapshots' headers and chunks and the compaction marker
 * (snapstore.c, journal.c). One convention for all of them, the standard one: initial
 * value and final xor 0xffffffff, so crc32c of "123456789" is 0xe3069283
 * (docs/storage.md, "Checksum: CRC32C from ISA-L").
 */
#ifndef CRC32C_PVT_H
#define CRC32C_PVT_H

#include <stddef.h>
#include <stdint.h>

#include <isa-l/crc.h>

/** The running value a checksum starts from. */
#define STORAGE_CRC32C_INIT 0xffffffffu

/** Adds len bytes to a running CRC32C c (crc32_iscsi takes an int length: 1 GiB a
 *  pass). Finish with storage_crc32c_end. */
static inline uint32_t storage_crc32c_add(uint32_t c, const void *buf, uint64_t len)
{
	const uint8_t *p = buf;

	/* Bounded: len / 2^30 + 1 passes. */
	while (len > 0) {
		int n = len > (1u << 30) ? (int)(1u << 30) : (int)len;
		c = crc32_iscsi((unsigned char *)(uintptr_t)p, n, c);
		p += n;
		len -= (uint64_t)n;
	}
	return c;
}

/** @return the checksum of a running value. */
static inline uint32_t storage_crc32c_end(uint32_t c)
{
	return ~c;
}

/** @return the CRC32C of len bytes. */
static inline uint32_t storage_crc32c(const void *buf, uint64_t len)
{
	return storage_crc32c_end(storage_crc32c_add(STORAGE_CRC32C_INIT, buf, len));
}

#endif /* CRC32C_PVT_H */
