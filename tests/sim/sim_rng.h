/* SPDX-License-Identifier: Apache-2.0
 * The simulator's only source of randomness: xoshiro256** seeded through splitmix64
 * (Vigna, "Scrambled linear pseudorandom number generators", 2021). Never rand() or
 * a clock: a seed must replay bit for bit on any machine and libc.
 *
 * One seed feeds several independent streams (options, network, faults, workload, ...)
 * so that, for example, drawing one more workload number does not shift every later
 * network decision: a change in one area keeps the others' behaviour recognisable.
 */
#ifndef SIM_RNG_H
#define SIM_RNG_H

#include <stdbool.h>
#include <stdint.h>

/** Stream ids: one per area of the simulation. */
enum sim_stream {
	SIM_STREAM_OPTS = 1,
	SIM_STREAM_NET = 2,
	SIM_STREAM_FAULT = 3,
	SIM_STREAM_WORK = 4,
	SIM_STREAM_NODE = 5,
	SIM_STREAM_DISK = 6,
	SIM_STREAM_HOSTILE = 7,   /**< corruption and stragglers (sim_net.c) */
	SIM_STREAM_SESSIONS = 8,  /**< the applier's session bound (sim_node.c) */
	SIM_STREAM_SNAP = 9,      /**< snapshot and state transfer options (sim_opts.c) */
	SIM_STREAM_DISK_OPTS = 10, /**< the faulty disk's options (sim_opts.c) */
	SIM_STREAM_AUTH = 11,      /**< --auth: the cluster key (sim_client.c) */
	SIM_STREAM_MEMBERS = 12,   /**< membership options (sim_opts.c) */
	SIM_STREAM_MEMBER_OPS = 13, /**< membership changes (sim_run.c) */
	SIM_STREAM_RM = 14,        /**< --log-transport rdma: its options (sim_opts.c) */
	SIM_STREAM_RM_FAULTS = 15, /**< and each life's fault seed (sim_node.c) */
};

struct sim_rng {
	uint64_t s[4];
};

static inline uint64_t sim_splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline void sim_rng_seed(struct sim_rng *r, uint64_t seed, enum sim_stream stream)
{
	/* Mixing the stream id through splitmix64 first keeps streams of nearby seeds
	 * (seed 1 stream 2 vs seed 2 stream 1) unrelated. */
	uint64_t x = seed ^ ((uint64_t)stream * 0xd1b54a32d192ed03ull);

	for (int i = 0; i < 4; i++)
		r->s[i] = sim_splitmix64(&x);
}

static inline uint64_t sim_rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static inline uint64_t sim_rng_next(struct sim_rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = sim_rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = sim_rotl(s[3], 45);
	return result;
}

/** Uniform in [0, n), n > 0. Multiply-shift: a bias below 2^-32, no division. */
static inline uint32_t sim_rng_below(struct sim_rng *r, uint32_t n)
{
	return (uint32_t)(((sim_rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

/** Uniform in [lo, hi], lo <= hi. */
static inline uint32_t sim_rng_range(struct sim_rng *r, uint32_t lo, uint32_t hi)
{
	return lo + sim_rng_below(r, hi - lo + 1);
}

/** True with probability per_mille / 1000. */
static inline bool sim_rng_chance(struct sim_rng *r, uint32_t per_mille)
{
	return sim_rng_below(r, 1000) < per_mille;
}

#endif /* SIM_RNG_H */
