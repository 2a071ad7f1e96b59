/* SPDX-License-Identifier: Apache-2.0
 * Little-endian loads and stores of 16-, 32- and 64-bit integers at any address: every
 * multi-byte field paxwire puts on the wire, in a log slot or into a hash is
 * little-endian (docs/protocol.md), and this is the one place that reads and writes
 * them.
 *
 * Byte-wise via memcpy: legal at any alignment (no unaligned-pointer UB, no strict
 * aliasing problem), and on the hosts we build for a fixed-size memcpy compiles to one
 * load or store, plus a byte swap on a big-endian host (le*toh/htole* from <endian.h>).
 * p must point at 2, 4 or 8 readable (writable) bytes; nothing else is checked.
 */
#ifndef WIRE_LE_H
#define WIRE_LE_H

#include <endian.h>
#include <stdint.h>
#include <string.h>

/** @return the little-endian u16 at p[0..2). */
static inline uint16_t wire_ld16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return le16toh(v);
}

/** @return the little-endian u32 at p[0..4). */
static inline uint32_t wire_ld32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}

/** @return the little-endian u64 at p[0..8). */
static inline uint64_t wire_ld64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

/** Writes v little-endian to p[0..2). */
static inline void wire_st16(uint8_t *p, uint16_t v)
{
	v = htole16(v);
	memcpy(p, &v, sizeof(v));
}

/** Writes v little-endian to p[0..4). */
static inline void wire_st32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, sizeof(v));
}

/** Writes v little-endian to p[0..8). */
static inline void wire_st64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, sizeof(v));
}

#endif /* WIRE_LE_H */
