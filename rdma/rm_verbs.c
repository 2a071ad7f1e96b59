/* SPDX-License-Identifier: Apache-2.0
 * rm_verbs: the remote-memory transport over libibverbs RC queue pairs (rm.h).
 *
 * One protection domain, one completion queue, and one RC QP per possible peer, all
 * made by rm_open; regions are page-aligned allocations registered with local write,
 * remote read and remote write. Whether a peer may write is the QP's access flags:
 * IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_WRITE when granted, IBV_ACCESS_REMOTE_READ
 * when not (Mu, OSDI'20, 4.2: a follower changes the flags of the old leader's QP).
 *
 * Addressing: RoCE v2 through the GID at conf.gid_index (is_global = 1, the peer's GID
 * as dgid; rdma-core's show_gids names the index of the RoCE v2 entry of an address);
 * on InfiniBand the LID is carried too.
 *
 * Failure detection: conf.timeout (default 8: 4.096 us * 2^8 = 1.05 ms per attempt) and
 * conf.retry_cnt (default 2) make a dead or partitioned peer's operations complete with
 * RM_WC_RETRY_EXC_ERR after (retry_cnt + 1) attempts: about 3.1 ms by the formula (the
 * IB spec lets a NIC take up to 4x the nominal timeout per attempt, so up to ~12.6 ms).
 * rnr_retry is 0: nothing here posts receives, so a receiver-not-ready is a bug.
 * The message path's failure detector stays the one that elects; these bounds say how
 * long a leader may wait on a dead follower's write before counting it failed.
 *
 * Revoke: ibv_modify_qp(IBV_QP_ACCESS_FLAGS) on the peer's QP in RTS. Packets of the
 * peer's writes arriving after it returns are checked against the new flags and
 * refused (the peer sees IBV_WC_REM_ACCESS_ERR). A multi-packet write whose first
 * packets were accepted before may, depending on the NIC, have placed part of its
 * bytes: the entry checksum and ballot handle that. If the NIC refuses the access
 * change, the fallback resets the QP (IBV_QPS_RESET): the peer's writes then get no
 * answer and complete with IBV_WC_RETRY_EXC_ERR; both ends reconnect later.
 *
 * Work request ids: the 64-bit id given to the NIC is peer (8 bits), connection
 * generation (16 bits) and a per-peer sequence number (40 bits); the caller's wr_id is
 * kept in a ring of sq_depth per peer. A signaled completion retires every earlier
 * sequence number of that peer (RC completes in order); completions of an earlier
 * generation (before a reconnect) are dropped.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <infiniband/verbs.h>

#include "rm_pvt.h"

#define VB_SEQ_BITS 40
#define VB_SEQ_MASK ((1ull << VB_SEQ_BITS) - 1)
#define VB_TIMEOUT_DEFAULT 8
#define VB_RETRY_DEFAULT 2
/* How many CQ polls rm_connect spends collecting a failed QP's flushed work. */
#define VB_DRAIN_POLLS 100000

struct vb_peer {
	struct ibv_qp *qp;
	uint32_t psn;            /**< our starting PSN: drawn by rm_endpoint_get */
	uint16_t gen;            /**< connection generation, bumped by each connect */
	bool granted;
	uint64_t *wr_id;         /**< sq_depth caller ids, by seq % sq_depth */
	uint32_t *len;
	uint8_t *op;
	uint64_t posted;         /**< next seq. Invariant: retired <= posted */
	uint64_t retired;        /**< seqs below are complete. posted - retired <= sq_depth */
	uint32_t unsignaled_run;
};

struct vb_region {
	void *base;
	size_t len;
	struct ibv_mr *mr;
};

struct vb_ctx {
	struct rm_ctx base;
	struct ibv_context *dev;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	uint8_t mtu;             /**< enum ibv_mtu of the port */
	uint16_t lid;
	bool roce;
	union ibv_gid gid;
	struct vb_region region[RM_REGIONS_MAX];
	uint32_t n_regions;
	struct vb_peer peer[RM_PEERS_MAX];
	/* Completions collected while draining a peer in rm_connect, returned first. */
	struct rm_wc *pend;
	uint32_t pend_cap;       /**< cq_depth + sq_depth */
	uint32_t pend_head, pend_tail;
	struct ibv_wc wc_buf[RM_POLL_MAX];
	uint64_t rng;            /**< draws each connection's starting PSN */
};

static const struct rm_ops vb_ops;

static int qp_access(bool granted)
{
	return IBV_ACCESS_REMOTE_READ | (granted ? IBV_ACCESS_REMOTE_WRITE : 0);
}

static void vb_close(struct rm_ctx *b)
{
	struct vb_ctx *x = (struct vb_ctx *)b;
	for (uint32_t p = 0; p < RM_PEERS_MAX; p++) {
		if (x->peer[p].qp)
			ibv_destroy_qp(x->peer[p].qp);
		free(x->peer[p].wr_id);
		free(x->peer[p].len);
		free(x->peer[p].op);
	}
	for (uint32_t k = 0; k < x->n_regions; k++) {
		ibv_dereg_mr(x->region[k].mr);
		free(x->region[k].base);
	}
	if (x->cq)
		ibv_destroy_cq(x->cq);
	if (x->pd)
		ibv_dealloc_pd(x->pd);
	if (x->dev)
		ibv_close_device(x->dev);
	free(x->pend);
	free(x);
}

static struct rm_ctx *fail(struct vb_ctx *x, int e)
{
	vb_close(&x->base);
	errno = e;
	return NULL;
}

struct rm_ctx *rm_verbs_open(const struct rm_conf *conf, char *err, size_t errlen)
{
	struct vb_ctx *x = calloc(1, sizeof(*x));
	if (!x) {
		snprintf(err, errlen, "rm verbs: out of memory");
		errno = ENOMEM;
		return NULL;
	}
	x->base.ops = &vb_ops;
	x->base.conf = *conf;
	x->base.conf.cluster = NULL;
	x->base.conf.device = NULL;
	if (x->base.conf.timeout == 0) {
		x->base.conf.timeout = VB_TIMEOUT_DEFAULT;
		x->base.conf.retry_cnt = VB_RETRY_DEFAULT;
	}
	if (x->base.conf.port == 0)
		x->base.conf.port = 1;
	uint8_t port = x->base.conf.port;

	int n = 0;
	struct ibv_device **list = ibv_get_device_list(&n);
	if (!list) {
		int e = errno;
		snprintf(err, errlen, "rm verbs: no RDMA device found (ibv_get_device_list "
			 "failed: %s): the kernel has no RDMA support loaded (no "
			 "/sys/class/infiniband: load the NIC's RDMA module, e.g. mlx5_ib); "
			 "processes on one host can use the shared-memory backend instead",
			 strerror(e));
		return fail(x, ENODEV);
	}
	if (n == 0) {
		ibv_free_device_list(list);
		snprintf(err, errlen, "rm verbs: no RDMA device found (ibv_get_device_list "
			 "returned none): this host has no RDMA NIC, or its kernel driver "
			 "(mlx5_ib for ConnectX, irdma, bnxt_re) or the userspace provider "
			 "(ibverbs-providers) is missing; processes on one host can use the "
			 "shared-memory backend instead");
		return fail(x, ENODEV);
	}
	struct ibv_device *dev = NULL;
	char names[160] = "";
	for (int i = 0; i < n; i++) {
		const char *nm = ibv_get_device_name(list[i]);
		if (!conf->device || (nm && strcmp(nm, conf->device) == 0)) {
			dev = list[i];
			break;
		}
		size_t used = strlen(names);
		snprintf(names + used, sizeof(names) - used, "%s%s", used ? " " : "",
			 nm ? nm : "?");
	}
	if (!dev) {
		ibv_free_device_list(list);
		snprintf(err, errlen, "rm verbs: RDMA device '%s' not found; this host has: %s",
			 conf->device, names);
		return fail(x, ENODEV);
	}
	char devname[64];
	snprintf(devname, sizeof(devname), "%s", ibv_get_device_name(dev));
	x->dev = ibv_open_device(dev);
	ibv_free_device_list(list);
	if (!x->dev) {
		snprintf(err, errlen, "rm verbs: ibv_open_device %s: %s (permissions on "
			 "/dev/infiniband/uverbs*?)", devname, strerror(errno));
		return fail(x, ENODEV);
	}
	struct ibv_port_attr pa;
	memset(&pa, 0, sizeof(pa));
	if (ibv_query_port(x->dev, port, &pa) != 0) {
		snprintf(err, errlen, "rm verbs: %s has no port %u (ibv_query_port: %s)",
			 devname, port, strerror(errno));
		return fail(x, EINVAL);
	}
	if (pa.state != IBV_PORT_ACTIVE) {
		snprintf(err, errlen, "rm verbs: %s port %u is not active (state %d): link down "
			 "or not configured (ibv_devinfo shows it)", devname, port, (int)pa.state);
		return fail(x, ENETDOWN);
	}
	x->mtu = (uint8_t)pa.active_mtu;
	x->lid = pa.lid;
	x->roce = pa.link_layer == IBV_LINK_LAYER_ETHERNET;
	/* The GID entry and its type: on Ethernet it must be RoCE v2 (UDP/IP, routable);
	 * a kernel without the extended query gets the plain one, unchecked. */
	struct ibv_gid_entry ge;
	memset(&ge, 0, sizeof(ge));
	int grc = ibv_query_gid_ex(x->dev, port, conf->gid_index, &ge, 0);
	if (grc == 0) {
		x->gid = ge.gid;
	} else if (grc == EOPNOTSUPP || grc == ENOSYS) {
		if (ibv_query_gid(x->dev, port, conf->gid_index, &x->gid) != 0)
			grc = errno ? errno : EINVAL;
		else
			grc = 0;
		ge.gid_type = IBV_GID_TYPE_ROCE_V2;
	}
	static const uint8_t zero[16];
	if (grc != 0 || (x->roce && memcmp(x->gid.raw, zero, 16) == 0)) {
		snprintf(err, errlen, "rm verbs: %s port %u: GID index %u is empty or absent "
			 "(%s); show_gids lists the indexes (pick the RoCE v2 one of the "
			 "address to use)", devname, port, conf->gid_index,
			 grc ? strerror(grc) : "all zero");
		return fail(x, EINVAL);
	}
	if (x->roce && ge.gid_type != IBV_GID_TYPE_ROCE_V2) {
		snprintf(err, errlen, "rm verbs: %s port %u: GID index %u is RoCE v1, not v2; "
			 "show_gids lists the indexes (each address has a v1 and a v2 entry: "
			 "pick the v2 one)", devname, port, conf->gid_index);
		return fail(x, EINVAL);
	}
	x->pd = ibv_alloc_pd(x->dev);
	if (!x->pd) {
		snprintf(err, errlen, "rm verbs: ibv_alloc_pd on %s: %s", devname, strerror(errno));
		return fail(x, ENOMEM);
	}
	/* The device's CQ must hold a flush of every peer's whole queue at once (an
	 * overrun is fatal on a NIC); cq_depth bounds the completions we keep. */
	uint32_t cqe = (RM_PEERS_MAX - 1) * conf->sq_depth;
	if (cqe < conf->cq_depth)
		cqe = conf->cq_depth;
	x->cq = ibv_create_cq(x->dev, (int)cqe, NULL, NULL, 0);
	if (!x->cq) {
		snprintf(err, errlen, "rm verbs: ibv_create_cq of %u entries on %s: %s; lower "
			 "sq_depth", cqe, devname, strerror(errno));
		return fail(x, ENOMEM);
	}
	x->pend_cap = conf->cq_depth + conf->sq_depth;
	x->pend = calloc(x->pend_cap, sizeof(*x->pend));
	if (!x->pend) {
		snprintf(err, errlen, "rm verbs: out of memory");
		return fail(x, ENOMEM);
	}
	x->rng = (uint64_t)getpid() ^ (uint64_t)time(NULL) ^ ((uint64_t)conf->self << 40);
	for (uint32_t p = 0; p < RM_PEERS_MAX; p++) {
		if (p == conf->self)
			continue;
		struct vb_peer *v = &x->peer[p];
		v->wr_id = calloc(conf->sq_depth, sizeof(*v->wr_id));
		v->len = calloc(conf->sq_depth, sizeof(*v->len));
		v->op = calloc(conf->sq_depth, sizeof(*v->op));
		if (!v->wr_id || !v->len || !v->op) {
			snprintf(err, errlen, "rm verbs: out of memory");
			return fail(x, ENOMEM);
		}
		/* Inline is an extension of the devices, not of the spec: the most a QP takes
		 * varies (with the WQE size, the SGEs). Ask for max_inline and halve it while
		 * the device refuses; the context then holds what every QP took (rm_max_inline):
		 * inline is a speed-up, not a reason to refuse to run. */
		struct ibv_qp_init_attr ia;
		for (;;) {
			ia = (struct ibv_qp_init_attr){
				.send_cq = x->cq, .recv_cq = x->cq, .qp_type = IBV_QPT_RC,
				.sq_sig_all = 0,
				.cap = { .max_send_wr = conf->sq_depth, .max_recv_wr = 1,
					 .max_send_sge = 1, .max_recv_sge = 1,
					 .max_inline_data = x->base.conf.max_inline },
			};
			v->qp = ibv_create_qp(x->pd, &ia);
			if (v->qp || x->base.conf.max_inline == 0)
				break;
			x->base.conf.max_inline /= 2u;
			x->base.stats.inline_lowered++;
		}
		if (!v->qp) {
			snprintf(err, errlen, "rm verbs: ibv_create_qp (RC, %u send WRs) on %s: %s; "
				 "lower sq_depth", conf->sq_depth, devname, strerror(errno));
			return fail(x, ENOMEM);
		}
		if (ia.cap.max_inline_data < x->base.conf.max_inline) {
			/* Created, but with less than asked: take what it gives. */
			x->base.conf.max_inline = ia.cap.max_inline_data;
			x->base.stats.inline_lowered++;
		}
	}
	return &x->base;
}

static int vb_region_reg(struct rm_ctx *b, size_t len, struct rm_region *out)
{
	struct vb_ctx *x = (struct vb_ctx *)b;
	if (x->n_regions == RM_REGIONS_MAX)
		return -ENOSPC;
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	len = (len + pg - 1) / pg * pg;
	void *p = aligned_alloc(pg, len);
	if (!p)
		return -ENOMEM;
	memset(p, 0, len);
	struct ibv_mr *mr = ibv_reg_mr(x->pd, p, len, IBV_ACCESS_LOCAL_WRITE |
				       IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ);
	if (!mr) {
		int e = errno ? errno : EIO;
		free(p);
		return -e;
	}
	uint32_t k = x->n_regions++;
	x->region[k] = (struct vb_region){ .base = p, .len = len, .mr = mr };
	*out = (struct rm_region){ .base = p, .len = len,
		.desc = { .addr = (uint64_t)(uintptr_t)p, .len = len, .rkey = mr->rkey,
			  .owner = b->conf.self, .index = k } };
	return 0;
}

static int vb_endpoint_get(struct rm_ctx *b, uint32_t peer, struct rm_endpoint *out)
{
	struct vb_ctx *x = (struct vb_ctx *)b;
	memset(out, 0, sizeof(*out));
	out->node = b->conf.self;
	/* A fresh starting PSN for each connection, so that packets of an older one are
	 * out of sequence for the new one. The next rm_connect uses it. */
	x->peer[peer].psn = (uint32_t)rm_rand(&x->rng) & 0xffffff;
	out->qpn = x->peer[peer].qp->qp_num;
	out->psn = x->peer[peer].psn;
	out->lid = x->lid;
	out->mtu = x->mtu;
	memcpy(out->gid, x->gid.raw, 16);
	return 0;
}

static int modify(struct ibv_qp *qp, struct ibv_qp_attr *a, int mask)
{
	int rc = ibv_modify_qp(qp, a, mask);
	return rc > 0 ? -rc : (rc < 0 ? -EIO : 0);
}

/* Turns one device completion into the caller's; false if it is stale. */
static bool translate(struct vb_ctx *x, const struct ibv_wc *w, struct rm_wc *out)
{
	uint32_t p = (uint32_t)(w->wr_id >> 56);
	uint16_t gen = (uint16_t)(w->wr_id >> VB_SEQ_BITS);
	if (p >= RM_PEERS_MAX || p == x->base.conf.self)
		return false;
	struct vb_peer *v = &x->peer[p];
	uint64_t seq = w->wr_id & VB_SEQ_MASK;
	/* posted stays below 2^40 within one generation (reset by each connect). */
	if (gen != v->gen || seq < v->retired || seq >= v->posted)
		return false;
	uint32_t slot = (uint32_t)(seq % x->base.conf.sq_depth);
	enum rm_status st;
	switch (w->status) {
	case IBV_WC_SUCCESS: st = RM_WC_SUCCESS; break;
	case IBV_WC_REM_ACCESS_ERR: st = RM_WC_REM_ACCESS_ERR; break;
	case IBV_WC_RETRY_EXC_ERR: st = RM_WC_RETRY_EXC_ERR; break;
	case IBV_WC_WR_FLUSH_ERR: st = RM_WC_FLUSH_ERR; break;
	case IBV_WC_LOC_LEN_ERR:
	case IBV_WC_LOC_QP_OP_ERR:
	case IBV_WC_LOC_PROT_ERR: st = RM_WC_LOCAL_ERR; break;
	default: st = RM_WC_OTHER_ERR; break;
	}
	*out = (struct rm_wc){ .wr_id = v->wr_id[slot], .peer = p, .len = v->len[slot],
		.op = (enum rm_op)v->op[slot], .status = st };
	v->retired = seq + 1;    /* RC: everything before it is complete too */
	if (st != RM_WC_SUCCESS)
		x->base.state[p] = RM_PEER_ERROR;
	rm_count_wc(&x->base.stats, st);
	return true;
}

/* Moves completions from the device CQ into the pending ring until peer p has none
 * outstanding (bounded). */
static int drain_peer(struct vb_ctx *x, uint32_t p)
{
	struct vb_peer *v = &x->peer[p];
	uint32_t cqd = x->pend_cap;
	for (int i = 0; i < VB_DRAIN_POLLS && v->retired < v->posted; i++) {
		uint32_t room = cqd - (x->pend_tail - x->pend_head);
		if (room == 0)
			return -ENOBUFS;
		int want = (int)(room < RM_POLL_MAX ? room : RM_POLL_MAX);
		int n = ibv_poll_cq(x->cq, want, x->wc_buf);
		if (n < 0)
			return -EIO;
		for (int k = 0; k < n; k++) {
			struct rm_wc wc;
			if (translate(x, &x->wc_buf[k], &wc))
				x->pend[x->pend_tail++ % cqd] = wc;
		}
	}
	return v->retired < v->posted ? -EBUSY : 0;
}

/* Moves the QP to error, which makes the device flush every outstanding request to
 * the CQ, and collects them into the pending ring. */
static int quiesce(struct vb_ctx *x, uint32_t p)
{
	struct ibv_qp_attr a;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_ERR;
	int rc = modify(x->peer[p].qp, &a, IBV_QP_STATE);
	if (rc == 0)
		x->base.state[p] = RM_PEER_ERROR;
	if (rc == 0 && x->peer[p].retired < x->peer[p].posted)
		rc = drain_peer(x, p);
	return rc;
}

static int vb_connect(struct rm_ctx *b, uint32_t p, const struct rm_endpoint *r)
{
	struct vb_ctx *x = (struct vb_ctx *)b;
	struct vb_peer *v = &x->peer[p];
	const struct rm_conf *c = &b->conf;
	if (!r)
		return -EINVAL;
	int rc;
	struct ibv_qp_attr a;
	/* A reconnect first collects what the old connection still owes: moving the QP to
	 * error makes the device flush every outstanding operation to the CQ. */
	if (v->retired < v->posted && (rc = quiesce(x, p)) != 0)
		return rc;
	b->state[p] = RM_PEER_IDLE;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RESET;
	if ((rc = modify(v->qp, &a, IBV_QP_STATE)) != 0)
		return rc;
	v->gen++;
	v->retired = v->posted = 0;
	v->unsignaled_run = 0;

	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_INIT;
	a.pkey_index = 0;
	a.port_num = c->port;
	a.qp_access_flags = qp_access(v->granted);
	if ((rc = modify(v->qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
			 IBV_QP_ACCESS_FLAGS)) != 0)
		return rc;

	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	a.path_mtu = (enum ibv_mtu)(r->mtu && r->mtu < x->mtu ? r->mtu : x->mtu);
	a.dest_qp_num = r->qpn;
	a.rq_psn = r->psn & 0xffffff;
	a.max_dest_rd_atomic = 1;     /* reads in flight the peer may have against us */
	a.min_rnr_timer = 12;         /* unused: no sends, so no receiver-not-ready */
	a.ah_attr.port_num = c->port;
	a.ah_attr.dlid = r->lid;
	a.ah_attr.is_global = 1;      /* RoCE needs the GRH; IB uses it across subnets */
	memcpy(a.ah_attr.grh.dgid.raw, r->gid, 16);
	a.ah_attr.grh.sgid_index = c->gid_index;
	a.ah_attr.grh.hop_limit = 64;
	if ((rc = modify(v->qp, &a, IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU |
			 IBV_QP_DEST_QPN | IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC |
			 IBV_QP_MIN_RNR_TIMER)) != 0)
		return rc;

	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	a.timeout = c->timeout;
	a.retry_cnt = c->retry_cnt;
	a.rnr_retry = 0;
	a.sq_psn = v->psn;
	a.max_rd_atomic = 1;
	if ((rc = modify(v->qp, &a, IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
			 IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN | IBV_QP_MAX_QP_RD_ATOMIC)) != 0)
		return rc;
	b->state[p] = RM_PEER_CONNECTED;
	return 0;
}

/* True if the QP is connected (RTS: its access flags can be modified). An idle QP
 * takes the flags at its next connect; one in error is reset by that connect. */
static bool qp_live(const struct vb_ctx *x, uint32_t p)
{
	return x->base.state[p] == RM_PEER_CONNECTED;
}

static int vb_grant(struct rm_ctx *b, uint32_t p)
{
	struct vb_ctx *x = (struct vb_ctx *)b;
	struct vb_peer *v = &x->peer[p];
	v->granted = true;
	if (!qp_live(x, p))
		return 0;   /* applied at the next connect's INIT */
	struct ibv_qp_attr a;
	memset(&a, 0, sizeof(a));
	a.qp_access_flags = qp_access(true);
	return modify(v->qp, &a, IBV_QP_ACCESS_FLAGS);
}

static int vb_revoke(struct rm_ctx *b, uint32_t p)
{
	struct vb_ctx *x = (struct vb_ctx *)b;
	struct vb_peer *v = &x->peer[p];
	v->granted = false;
	if (!qp_live(x, p))
		return 0;
	struct ibv_qp_attr a;
	memset(&a, 0, sizeof(a));
	a.qp_access_flags = qp_access(false);
	if (modify(v->qp, &a, IBV_QP_ACCESS_FLAGS) == 0)
		return 0;
	/* Fallback: take the QP out of service. In the error state it drops what arrives
	 * (the peer's writes time out) and flushes our own outstanding requests to the CQ,
	 * where rm_poll returns them. If even that is refused, RESET, which discards them
	 * without completions: they are returned as RM_WC_RETRY_EXC_ERR (fate unknown). */
	b->stats.revoke_resets++;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_ERR;
	if (modify(v->qp, &a, IBV_QP_STATE) == 0) {
		b->state[p] = RM_PEER_ERROR;
		return 0;
	}
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RESET;
	if (modify(v->qp, &a, IBV_QP_STATE) != 0)
		return -EIO;   /* neither worked: the peer is not fenced */
	b->state[p] = RM_PEER_ERROR;
	uint32_t total = x->pend_cap;
	for (uint64_t seq = v->retired; seq < v->posted; seq++) {
		uint32_t slot = (uint32_t)(seq % b->conf.sq_depth);
		if (x->pend_tail - x->pend_head < total) {
			x->pend[x->pend_tail++ % total] = (struct rm_wc){ .wr_id = v->wr_id[slot],
				.peer = p, .len = v->len[slot], .op = (enum rm_op)v->op[slot],
				.status = RM_WC_RETRY_EXC_ERR };
			rm_count_wc(&b->stats, RM_WC_RETRY_EXC_ERR);
		}
	}
	v->gen++;   /* anything the device still reports of them is stale */
	v->retired = v->posted = 0;
	return 0;
}

static int vb_post(struct rm_ctx *b, uint32_t p, enum rm_op op, uint64_t wr_id,
		   void *local, uint32_t len, const struct rm_region_desc *remote,
		   uint64_t off, unsigned flags)
{
	struct vb_ctx *x = (struct vb_ctx *)b;
	struct vb_peer *v = &x->peer[p];
	uint32_t sq = b->conf.sq_depth;
	if (v->posted - v->retired >= sq)
		return -ENOBUFS;
	bool inl = op == RM_OP_WRITE && (flags & RM_WR_INLINE);
	uint32_t lkey = 0;
	if (!inl) {
		bool found = false;
		for (uint32_t k = 0; k < x->n_regions && !found; k++) {
			uint8_t *base = x->region[k].base, *l = local;
			if (l >= base && len <= x->region[k].len &&
			    (size_t)(l - base) <= x->region[k].len - len) {
				found = true;
				lkey = x->region[k].mr->lkey;
			}
		}
		if (!found)
			return -EINVAL;
	}
	bool sig = (flags & RM_WR_SIGNALED) != 0;
	if (!sig && v->unsignaled_run + 1 >= sq / 2) {
		sig = true;
		b->stats.signaled_forced++;
	}
	struct ibv_sge sge = { .addr = (uint64_t)(uintptr_t)local, .length = len, .lkey = lkey };
	struct ibv_send_wr wr, *bad = NULL;
	memset(&wr, 0, sizeof(wr));
	uint64_t seq = v->posted;
	wr.wr_id = ((uint64_t)p << 56) | ((uint64_t)v->gen << VB_SEQ_BITS) | (seq & VB_SEQ_MASK);
	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.opcode = op == RM_OP_WRITE ? IBV_WR_RDMA_WRITE : IBV_WR_RDMA_READ;
	wr.send_flags = (sig ? IBV_SEND_SIGNALED : 0) | (inl ? IBV_SEND_INLINE : 0);
	wr.wr.rdma.remote_addr = remote->addr + off;
	wr.wr.rdma.rkey = remote->rkey;
	int rc = ibv_post_send(v->qp, &wr, &bad);
	if (rc)
		return rc > 0 ? -rc : -EIO;
	uint32_t slot = (uint32_t)(seq % sq);
	v->wr_id[slot] = wr_id;
	v->len[slot] = len;
	v->op[slot] = (uint8_t)op;
	v->posted = seq + 1;
	v->unsignaled_run = sig ? 0 : v->unsignaled_run + 1;
	return 0;
}

static unsigned vb_poll(struct rm_ctx *b, struct rm_wc *wc, unsigned max)
{
	struct vb_ctx *x = (struct vb_ctx *)b;
	unsigned n = 0;
	while (n < max && x->pend_head != x->pend_tail)
		wc[n++] = x->pend[x->pend_head++ % x->pend_cap];
	if (n == max)
		return n;
	int got = ibv_poll_cq(x->cq, (int)(max - n), x->wc_buf);
	for (int k = 0; k < got; k++)
		if (translate(x, &x->wc_buf[k], &wc[n]))
			n++;
	return n;
}

static const struct rm_ops vb_ops = {
	.close = vb_close,
	.region_reg = vb_region_reg,
	.endpoint_get = vb_endpoint_get,
	.connect = vb_connect,
	.grant = vb_grant,
	.revoke = vb_revoke,
	.post = vb_post,
	.poll = vb_poll,
	.faults_set = NULL,
};
