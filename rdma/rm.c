/* SPDX-License-Identifier: Apache-2.0
 * rm: argument checks and dispatch to the backend (rm.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "rm_pvt.h"

bool rm_verbs_built(void)
{
#ifdef PW_HAVE_VERBS
	return true;
#else
	return false;
#endif
}

static int conf_check(const struct rm_conf *c, char *err, size_t errlen)
{
	if (c->backend != RM_BACKEND_SHM && c->backend != RM_BACKEND_VERBS) {
		snprintf(err, errlen, "rm: unknown backend %d (shm or verbs)", (int)c->backend);
		return -EINVAL;
	}
	if (c->self >= RM_PEERS_MAX) {
		snprintf(err, errlen, "rm: node id %u out of range (0..%u)", c->self,
			 RM_PEERS_MAX - 1);
		return -EINVAL;
	}
	if (c->sq_depth < 2 || c->sq_depth > RM_SQ_DEPTH_MAX) {
		snprintf(err, errlen, "rm: sq_depth %u out of range (2..%u)", c->sq_depth,
			 RM_SQ_DEPTH_MAX);
		return -EINVAL;
	}
	if (c->cq_depth < c->sq_depth || c->cq_depth > RM_CQ_DEPTH_MAX) {
		snprintf(err, errlen, "rm: cq_depth %u out of range (sq_depth %u..%u)",
			 c->cq_depth, c->sq_depth, RM_CQ_DEPTH_MAX);
		return -EINVAL;
	}
	if (c->max_inline > RM_INLINE_MAX) {
		snprintf(err, errlen, "rm: max_inline %u above %u", c->max_inline, RM_INLINE_MAX);
		return -EINVAL;
	}
	if (c->retry_cnt > 7 || c->timeout > 31) {
		snprintf(err, errlen, "rm: retry_cnt %u (0..7) or timeout %u (0..31) out of range",
			 c->retry_cnt, c->timeout);
		return -EINVAL;
	}
	if (c->backend == RM_BACKEND_SHM) {
		const char *n = c->cluster;
		size_t len = n ? strlen(n) : 0;
		if (len == 0 || len >= RM_NAME_MAX) {
			snprintf(err, errlen, "rm: shm backend needs a cluster name of 1..%u characters",
				 RM_NAME_MAX - 1);
			return -EINVAL;
		}
		for (size_t i = 0; i < len; i++) {
			char ch = n[i];
			if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_')) {
				snprintf(err, errlen, "rm: cluster name '%s': only A-Z a-z 0-9 - _ "
					 "(it names /dev/shm objects)", n);
				return -EINVAL;
			}
		}
	}
	return 0;
}

struct rm_ctx *rm_open(const struct rm_conf *conf, char *err, size_t errlen)
{
	char dummy[8];
	if (!err || errlen == 0) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	err[0] = '\0';
	if (!conf) {
		snprintf(err, errlen, "rm: no configuration");
		errno = EINVAL;
		return NULL;
	}
	int rc = conf_check(conf, err, errlen);
	if (rc) {
		errno = -rc;
		return NULL;
	}
	if (conf->backend == RM_BACKEND_SHM)
		return rm_shm_open(conf, err, errlen);
#ifdef PW_HAVE_VERBS
	return rm_verbs_open(conf, err, errlen);
#else
	snprintf(err, errlen, "rm: this paxwire was built without libibverbs, so the verbs "
		 "backend is missing: install libibverbs-dev (rdma-core) and rebuild");
	errno = ENOTSUP;
	return NULL;
#endif
}

void rm_close(struct rm_ctx *ctx)
{
	if (ctx)
		ctx->ops->close(ctx);
}

int rm_region_reg(struct rm_ctx *ctx, size_t len, struct rm_region *out)
{
	if (!ctx || !out || len == 0)
		return -EINVAL;
	return ctx->ops->region_reg(ctx, len, out);
}

int rm_endpoint_get(struct rm_ctx *ctx, uint32_t peer, struct rm_endpoint *out)
{
	if (!ctx || !out || peer >= RM_PEERS_MAX || peer == ctx->conf.self)
		return -EINVAL;
	return ctx->ops->endpoint_get(ctx, peer, out);
}

int rm_connect(struct rm_ctx *ctx, uint32_t peer, const struct rm_endpoint *remote)
{
	if (!ctx || peer >= RM_PEERS_MAX || peer == ctx->conf.self)
		return -EINVAL;
	if (remote && remote->node != peer)
		return -EINVAL;
	int rc = ctx->ops->connect(ctx, peer, remote);
	if (rc == 0)
		ctx->stats.connects++;
	return rc;
}

enum rm_peer_state rm_peer_state(const struct rm_ctx *ctx, uint32_t peer)
{
	if (!ctx || peer >= RM_PEERS_MAX)
		return RM_PEER_IDLE;
	return ctx->state[peer];
}

int rm_grant(struct rm_ctx *ctx, uint32_t peer)
{
	if (!ctx || peer >= RM_PEERS_MAX || peer == ctx->conf.self)
		return -EINVAL;
	int rc = ctx->ops->grant(ctx, peer);
	if (rc == 0)
		ctx->stats.grants++;
	return rc;
}

int rm_revoke(struct rm_ctx *ctx, uint32_t peer)
{
	if (!ctx || peer >= RM_PEERS_MAX || peer == ctx->conf.self)
		return -EINVAL;
	int rc = ctx->ops->revoke(ctx, peer);
	if (rc == 0)
		ctx->stats.revokes++;
	else if (rc == -ETIMEDOUT)
		ctx->stats.revoke_timeouts++;
	return rc;
}

static int post_check(struct rm_ctx *ctx, uint32_t peer, uint32_t len,
		      const struct rm_region_desc *remote, uint64_t off)
{
	if (peer >= RM_PEERS_MAX || peer == ctx->conf.self || !remote || len == 0)
		return -EINVAL;
	if (ctx->state[peer] != RM_PEER_CONNECTED)
		return -ENOTCONN;
	/* The target checks bounds too (a stale descriptor is its business); this catches
	 * the caller's own arithmetic. */
	if (remote->owner != peer || off > remote->len || len > remote->len - off)
		return -EINVAL;
	return 0;
}

uint32_t rm_max_inline(const struct rm_ctx *ctx)
{
	return ctx ? ctx->conf.max_inline : 0;
}

int rm_post_write(struct rm_ctx *ctx, uint32_t peer, uint64_t wr_id, const void *src,
		  uint32_t len, const struct rm_region_desc *remote, uint64_t off,
		  unsigned flags)
{
	if (!ctx || !src || (flags & ~(RM_WR_SIGNALED | RM_WR_INLINE)))
		return -EINVAL;
	int rc = post_check(ctx, peer, len, remote, off);
	if (rc)
		return rc;
	if ((flags & RM_WR_INLINE) && len > ctx->conf.max_inline)
		return -EINVAL;
	rc = ctx->ops->post(ctx, peer, RM_OP_WRITE, wr_id, (void *)(uintptr_t)src, len,
			    remote, off, flags);
	if (rc == 0)
		ctx->stats.writes_posted++;
	return rc;
}

int rm_post_read(struct rm_ctx *ctx, uint32_t peer, uint64_t wr_id, void *dst,
		 uint32_t len, const struct rm_region_desc *remote, uint64_t off)
{
	if (!ctx || !dst)
		return -EINVAL;
	int rc = post_check(ctx, peer, len, remote, off);
	if (rc)
		return rc;
	rc = ctx->ops->post(ctx, peer, RM_OP_READ, wr_id, dst, len, remote, off,
			    RM_WR_SIGNALED);
	if (rc == 0)
		ctx->stats.reads_posted++;
	return rc;
}

unsigned rm_poll(struct rm_ctx *ctx, struct rm_wc *wc, unsigned max)
{
	if (max > RM_POLL_MAX)
		max = RM_POLL_MAX;
	return ctx->ops->poll(ctx, wc, max);
}

int rm_faults_set(struct rm_ctx *ctx, const struct rm_faults *faults)
{
	if (!ctx || !faults)
		return -EINVAL;
	if (!ctx->ops->faults_set)
		return -ENOTSUP;
	return ctx->ops->faults_set(ctx, faults);
}

const struct rm_stats *rm_stats(const struct rm_ctx *ctx)
{
	return &ctx->stats;
}

const char *rm_status_str(enum rm_status s)
{
	switch (s) {
	case RM_WC_SUCCESS: return "success";
	case RM_WC_REM_ACCESS_ERR: return "remote access error";
	case RM_WC_RETRY_EXC_ERR: return "retry exceeded";
	case RM_WC_FLUSH_ERR: return "flushed";
	case RM_WC_LOCAL_ERR: return "local error";
	case RM_WC_OTHER_ERR: return "other error";
	}
	return "?";
}
