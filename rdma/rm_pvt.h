/* SPDX-License-Identifier: Apache-2.0
 * rm: what the backends share (rm.c dispatches through struct rm_ops). */
#ifndef RM_PVT_H
#define RM_PVT_H

#include "rm.h"

struct rm_ops {
	void (*close)(struct rm_ctx *);
	int (*region_reg)(struct rm_ctx *, size_t len, struct rm_region *out);
	int (*endpoint_get)(struct rm_ctx *, uint32_t peer, struct rm_endpoint *out);
	int (*connect)(struct rm_ctx *, uint32_t peer, const struct rm_endpoint *remote);
	int (*grant)(struct rm_ctx *, uint32_t peer);
	int (*revoke)(struct rm_ctx *, uint32_t peer);
	int (*post)(struct rm_ctx *, uint32_t peer, enum rm_op op, uint64_t wr_id,
		    void *local, uint32_t len, const struct rm_region_desc *remote,
		    uint64_t off, unsigned flags);
	unsigned (*poll)(struct rm_ctx *, struct rm_wc *wc, unsigned max);
	int (*faults_set)(struct rm_ctx *, const struct rm_faults *);
};

/** The head of every backend's context. */
struct rm_ctx {
	const struct rm_ops *ops;
	struct rm_conf conf;          /**< validated; strings not kept (cluster copied) */
	char cluster[RM_NAME_MAX];
	enum rm_peer_state state[RM_PEERS_MAX];
	struct rm_stats stats;
};

struct rm_ctx *rm_shm_open(const struct rm_conf *conf, char *err, size_t errlen);
struct rm_ctx *rm_verbs_open(const struct rm_conf *conf, char *err, size_t errlen);

/** Counts one completion's status in stats. */
static inline void rm_count_wc(struct rm_stats *st, enum rm_status s)
{
	switch (s) {
	case RM_WC_SUCCESS: st->wc_ok++; break;
	case RM_WC_REM_ACCESS_ERR: st->wc_rem_access++; break;
	case RM_WC_RETRY_EXC_ERR: st->wc_retry_exc++; break;
	case RM_WC_FLUSH_ERR: st->wc_flush++; break;
	default: st->wc_other++; break;
	}
}

/** splitmix64: the fault injector's deterministic generator. */
static inline uint64_t rm_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

#endif /* RM_PVT_H */
