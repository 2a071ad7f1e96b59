/* SPDX-License-Identifier: Apache-2.0
 * The harnesses' input, read as a stream of little-endian numbers (zeros once it runs
 * out, so every input is a whole schedule). Shared by fuzz_auth.c and fuzz_core.c.
 */
#ifndef FUZZ_INPUT_H
#define FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>

struct input {
	const uint8_t *p;
	size_t left;
};

static inline uint8_t in_u8(struct input *in)
{
	if (in->left == 0)
		return 0;
	in->left--;
	return *in->p++;
}

static inline uint16_t in_u16(struct input *in)
{
	uint16_t lo = in_u8(in);

	return (uint16_t)(lo | (uint16_t)in_u8(in) << 8);
}

static inline uint64_t in_u64(struct input *in)
{
	uint64_t v = 0;

	for (int k = 0; k < 8; k++)
		v |= (uint64_t)in_u8(in) << (8 * k);
	return v;
}

#endif /* FUZZ_INPUT_H */
