/* SPDX-License-Identifier: Apache-2.0
 * A fake RDMA device: see fake_verbs.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fake_verbs.h"

/* The header's macros wrap the real entry points; this file defines those. */
#undef ibv_get_device_list
#undef ibv_query_port
#undef ibv_reg_mr

int fake_n_devices = 1;
int fake_list_errno;
bool fake_refuse_access_modify;
bool fake_link_down;
bool fake_refuse_err;
static bool refuse_reset_once;
static struct fake_faults faults;
static uint64_t fault_rng;

void fake_faults_set(const struct fake_faults *f)
{
	faults = *f;
	fault_rng = f->seed | 1u;
}

/** xorshift64*: one draw in [0, 1e6). */
static uint32_t fault_draw(void)
{
	fault_rng ^= fault_rng >> 12;
	fault_rng ^= fault_rng << 25;
	fault_rng ^= fault_rng >> 27;
	return (uint32_t)((fault_rng * 2685821657736338717ull) >> 32) % 1000000u;
}

void fake_qp_refuse_reset_once(void)
{
	refuse_reset_once = true;
}

#define FAKE_QPS 128   /* pw-sim: 8 per context, up to 9 contexts and a restart's */
#define FAKE_MRS 64
#define FAKE_SQ 1024
#define FAKE_CQ 4096
#define FAKE_INLINE 256
uint32_t fake_max_inline = FAKE_INLINE;

struct fake_wr {
	struct ibv_send_wr wr;
	struct ibv_sge sge;
	uint8_t data[FAKE_INLINE];   /* inline bytes, copied at post */
};

struct fake_qp {
	struct ibv_qp qp;            /* first: the backend's pointer is to this */
	bool used;
	int access;
	uint32_t dest_qpn;
	uint32_t max_inline;
	uint32_t max_send_wr;
	struct fake_wr *sq;
	uint32_t head, tail;
	uint32_t hold;               /**< polls the head operation still waits (faults) */
	bool head_drawn;             /**< the head operation's delay was drawn */
	uint8_t refuse_fence;        /**< moves to ERR or RESET still refused (faults) */
	struct fake_qp_log log;
};

struct fake_cq {
	struct ibv_cq cq;
	struct ibv_wc *e;
	int cap;
	uint32_t head, tail;
};

static struct ibv_device devs[2];
static struct fake_qp qps[FAKE_QPS];
static struct ibv_mr *mrs[FAKE_MRS];
static uint32_t next_qpn = 0x100, next_key = 0x1000;
static int live;

static struct fake_qp *qp_by_num(uint32_t qpn)
{
	for (int i = 0; i < FAKE_QPS; i++)
		if (qps[i].used && qps[i].qp.qp_num == qpn)
			return &qps[i];
	return NULL;
}

enum ibv_qp_state fake_qp_state(uint32_t qpn)
{
	struct fake_qp *q = qp_by_num(qpn);
	return q ? q->qp.state : IBV_QPS_UNKNOWN;
}

int fake_qp_access(uint32_t qpn)
{
	struct fake_qp *q = qp_by_num(qpn);
	return q ? q->access : -1;
}

const struct fake_qp_log *fake_qp_log(uint32_t qpn)
{
	struct fake_qp *q = qp_by_num(qpn);
	return q ? &q->log : NULL;
}

int fake_live_objects(void)
{
	return live;
}

/* ---- the data path, reached through ctx->ops ---- */

static void cq_add(struct fake_cq *c, const struct fake_wr *w, enum ibv_wc_status st,
		   uint32_t qpn)
{
	if ((int)(c->tail - c->head) >= c->cap)
		abort();   /* a CQ overrun is a bug of the backend under test */
	struct ibv_wc *e = &c->e[c->tail++ % (uint32_t)c->cap];
	memset(e, 0, sizeof(*e));
	e->wr_id = w->wr.wr_id;
	e->status = st;
	e->opcode = w->wr.opcode == IBV_WR_RDMA_READ ? IBV_WC_RDMA_READ : IBV_WC_RDMA_WRITE;
	e->qp_num = qpn;
	e->byte_len = w->sge.length;
}

static struct ibv_mr *mr_by_rkey(uint32_t rkey)
{
	for (int i = 0; i < FAKE_MRS; i++)
		if (mrs[i] && mrs[i]->rkey == rkey)
			return mrs[i];
	return NULL;
}

static struct ibv_mr *mr_by_lkey(uint32_t lkey)
{
	for (int i = 0; i < FAKE_MRS; i++)
		if (mrs[i] && mrs[i]->lkey == lkey)
			return mrs[i];
	return NULL;
}

static bool in_mr(const struct ibv_mr *m, uint64_t addr, uint32_t len)
{
	uint64_t b = (uint64_t)(uintptr_t)m->addr;
	return addr >= b && len <= m->length && addr - b <= m->length - len;
}

static enum ibv_wc_status execute(struct fake_qp *q, struct fake_wr *w)
{
	struct fake_qp *d = qp_by_num(q->dest_qpn);
	if (fake_link_down || !d || (d->qp.state != IBV_QPS_RTR && d->qp.state != IBV_QPS_RTS) ||
	    d->dest_qpn != q->qp.qp_num)
		return IBV_WC_RETRY_EXC_ERR;
	bool wr_op = w->wr.opcode == IBV_WR_RDMA_WRITE;
	int need = wr_op ? IBV_ACCESS_REMOTE_WRITE : IBV_ACCESS_REMOTE_READ;
	if (!(d->access & need))
		return IBV_WC_REM_ACCESS_ERR;
	struct ibv_mr *rm = mr_by_rkey(w->wr.wr.rdma.rkey);
	if (!rm || rm->pd->context != d->qp.context || !in_mr(rm, w->wr.wr.rdma.remote_addr,
							       w->sge.length))
		return IBV_WC_REM_ACCESS_ERR;
	void *remote = (void *)(uintptr_t)w->wr.wr.rdma.remote_addr;
	if (faults.drop_ppm && fault_draw() < faults.drop_ppm)
		return IBV_WC_RETRY_EXC_ERR;
	if (wr_op && faults.torn_ppm && fault_draw() < faults.torn_ppm) {
		const void *src = (w->wr.send_flags & IBV_SEND_INLINE) ? (const void *)w->data :
				  (const void *)(uintptr_t)w->sge.addr;
		struct ibv_mr *lm = mr_by_lkey(w->sge.lkey);
		if ((w->wr.send_flags & IBV_SEND_INLINE) || (lm && in_mr(lm, w->sge.addr,
									   w->sge.length)))
			memcpy(remote, src, w->sge.length / 2u);
		return IBV_WC_RETRY_EXC_ERR;
	}
	if (wr_op && (w->wr.send_flags & IBV_SEND_INLINE)) {
		memcpy(remote, w->data, w->sge.length);
		return IBV_WC_SUCCESS;
	}
	struct ibv_mr *lm = mr_by_lkey(w->sge.lkey);
	if (!lm || !in_mr(lm, w->sge.addr, w->sge.length))
		return IBV_WC_LOC_PROT_ERR;
	void *local = (void *)(uintptr_t)w->sge.addr;
	if (wr_op)
		memcpy(remote, local, w->sge.length);
	else
		memcpy(local, remote, w->sge.length);
	return IBV_WC_SUCCESS;
}

static void flush(struct fake_qp *q)
{
	struct fake_cq *c = (struct fake_cq *)q->qp.send_cq;
	q->hold = 0;
	q->head_drawn = false;
	while (q->head != q->tail) {
		cq_add(c, &q->sq[q->head % q->max_send_wr], IBV_WC_WR_FLUSH_ERR, q->qp.qp_num);
		q->head++;
	}
}

static void progress(struct fake_qp *q)
{
	struct fake_cq *c = (struct fake_cq *)q->qp.send_cq;
	while (q->head != q->tail && q->qp.state == IBV_QPS_RTS) {
		if (q->hold > 0) {
			q->hold--;
			return;
		}
		if (!q->head_drawn && faults.delay_ppm && fault_draw() < faults.delay_ppm) {
			q->head_drawn = true;
			q->hold = 1u + fault_draw() % (faults.delay_polls_max ? faults.delay_polls_max : 1u);
			return;
		}
		q->head_drawn = false;
		struct fake_wr *w = &q->sq[q->head % q->max_send_wr];
		enum ibv_wc_status st = execute(q, w);
		q->head++;
		if (st != IBV_WC_SUCCESS || (w->wr.send_flags & IBV_SEND_SIGNALED))
			cq_add(c, w, st, q->qp.qp_num);
		if (st != IBV_WC_SUCCESS) {
			q->qp.state = IBV_QPS_ERR;
			flush(q);
		}
	}
}

static int fake_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr, struct ibv_send_wr **bad)
{
	struct fake_qp *q = (struct fake_qp *)qp;
	for (; wr; wr = wr->next) {
		*bad = wr;
		if (qp->state != IBV_QPS_RTS && qp->state != IBV_QPS_ERR)
			return EINVAL;
		if (wr->num_sge != 1 || (wr->opcode != IBV_WR_RDMA_WRITE &&
					 wr->opcode != IBV_WR_RDMA_READ))
			return EINVAL;
		if (q->tail - q->head >= q->max_send_wr)
			return ENOMEM;
		if ((wr->send_flags & IBV_SEND_INLINE) &&
		    (wr->sg_list[0].length > q->max_inline || wr->opcode != IBV_WR_RDMA_WRITE))
			return EINVAL;
		struct fake_wr *w = &q->sq[q->tail % q->max_send_wr];
		w->wr = *wr;
		w->sge = wr->sg_list[0];
		w->wr.sg_list = &w->sge;
		w->wr.next = NULL;
		if (wr->send_flags & IBV_SEND_INLINE)
			memcpy(w->data, (void *)(uintptr_t)w->sge.addr, w->sge.length);
		q->tail++;
		q->log.last_send_flags = wr->send_flags;
		q->log.posted++;
		if (qp->state == IBV_QPS_ERR)
			flush(q);
	}
	*bad = NULL;
	return 0;
}

static int fake_poll_cq(struct ibv_cq *cq, int n, struct ibv_wc *wc)
{
	struct fake_cq *c = (struct fake_cq *)cq;
	for (int i = 0; i < FAKE_QPS; i++)
		if (qps[i].used && qps[i].qp.send_cq == cq)
			progress(&qps[i]);
	int got = 0;
	while (got < n && c->head != c->tail)
		wc[got++] = c->e[c->head++ % (uint32_t)c->cap];
	return got;
}

/* ---- the control path: what the backend links against instead of libibverbs ---- */

struct ibv_device **ibv_get_device_list(int *num)
{
	if (fake_list_errno) {
		errno = fake_list_errno;
		return NULL;
	}
	struct ibv_device **l = calloc(3, sizeof(*l));
	if (!l)
		return NULL;
	int n = fake_n_devices > 2 ? 2 : fake_n_devices;
	for (int i = 0; i < n; i++) {
		strcpy(devs[i].name, i == 0 ? "fake0" : "fake1");
		l[i] = &devs[i];
	}
	if (num)
		*num = n;
	return l;
}

void ibv_free_device_list(struct ibv_device **list)
{
	free(list);
}

const char *ibv_get_device_name(struct ibv_device *d)
{
	return d->name;
}

struct ibv_context *ibv_open_device(struct ibv_device *d)
{
	struct ibv_context *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->device = d;
	c->ops.post_send = fake_post_send;
	c->ops.poll_cq = fake_poll_cq;
	c->abi_compat = NULL;   /* not a verbs_context: the compat query_port path */
	live++;
	return c;
}

int ibv_close_device(struct ibv_context *c)
{
	free(c);
	live--;
	return 0;
}

int ibv_query_port(struct ibv_context *c, uint8_t port, struct _compat_ibv_port_attr *out)
{
	(void)c;
	if (port != 1) {
		errno = EINVAL;
		return EINVAL;
	}
	struct ibv_port_attr *a = (struct ibv_port_attr *)out;
	a->state = IBV_PORT_ACTIVE;
	a->active_mtu = IBV_MTU_1024;
	a->max_mtu = IBV_MTU_4096;
	a->lid = 0;
	a->link_layer = IBV_LINK_LAYER_ETHERNET;
	a->gid_tbl_len = 8;
	return 0;
}

int ibv_query_gid(struct ibv_context *c, uint8_t port, int index, union ibv_gid *gid)
{
	(void)port;
	if (index < 0 || index >= 8) {
		errno = EINVAL;
		return -1;
	}
	memset(gid, 0, sizeof(*gid));
	if (index < 4) {   /* 4..7 are empty slots */
		gid->raw[10] = 0xff;
		gid->raw[11] = 0xff;
		gid->raw[12] = 10;
		gid->raw[15] = (uint8_t)(uintptr_t)c;   /* distinct per context */
		gid->raw[14] = (uint8_t)index;
	}
	return 0;
}

/* Each address has two entries, as on a RoCE NIC: even indexes RoCE v1, odd v2. */
int _ibv_query_gid_ex(struct ibv_context *c, uint32_t port, uint32_t index,
		      struct ibv_gid_entry *e, uint32_t flags, size_t size)
{
	(void)flags;
	if (size < sizeof(*e) || index >= 8)
		return EINVAL;
	if (index >= 4)
		return ENODATA;   /* an empty slot, as the kernel answers */
	memset(e, 0, sizeof(*e));
	if (ibv_query_gid(c, (uint8_t)port, (int)index, &e->gid) != 0)
		return EINVAL;
	e->gid_index = index;
	e->port_num = port;
	e->gid_type = index % 2 ? IBV_GID_TYPE_ROCE_V2 : IBV_GID_TYPE_ROCE_V1;
	return 0;
}

struct ibv_pd *ibv_alloc_pd(struct ibv_context *c)
{
	struct ibv_pd *pd = calloc(1, sizeof(*pd));
	if (!pd)
		return NULL;
	pd->context = c;
	live++;
	return pd;
}

int ibv_dealloc_pd(struct ibv_pd *pd)
{
	free(pd);
	live--;
	return 0;
}

struct ibv_mr *ibv_reg_mr(struct ibv_pd *pd, void *addr, size_t len, int access)
{
	for (int i = 0; i < FAKE_MRS; i++) {
		if (mrs[i])
			continue;
		struct ibv_mr *m = calloc(1, sizeof(*m));
		if (!m)
			return NULL;
		m->context = pd->context;
		m->pd = pd;
		m->addr = addr;
		m->length = len;
		m->lkey = next_key++;
		m->rkey = next_key++;
		m->handle = (uint32_t)access;
		mrs[i] = m;
		live++;
		return m;
	}
	errno = ENOMEM;
	return NULL;
}

int ibv_dereg_mr(struct ibv_mr *m)
{
	for (int i = 0; i < FAKE_MRS; i++)
		if (mrs[i] == m)
			mrs[i] = NULL;
	free(m);
	live--;
	return 0;
}

struct ibv_cq *ibv_create_cq(struct ibv_context *c, int cqe, void *cq_context,
			     struct ibv_comp_channel *ch, int vec)
{
	(void)cq_context;
	(void)ch;
	(void)vec;
	if (cqe <= 0 || cqe > FAKE_CQ) {
		errno = EINVAL;
		return NULL;
	}
	struct fake_cq *f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->e = calloc((size_t)cqe, sizeof(*f->e));
	if (!f->e) {
		free(f);
		return NULL;
	}
	f->cap = cqe;
	f->cq.context = c;
	f->cq.cqe = cqe;
	live++;
	return &f->cq;
}

int ibv_destroy_cq(struct ibv_cq *cq)
{
	struct fake_cq *f = (struct fake_cq *)cq;
	free(f->e);
	free(f);
	live--;
	return 0;
}

struct ibv_qp *ibv_create_qp(struct ibv_pd *pd, struct ibv_qp_init_attr *ia)
{
	if (ia->qp_type != IBV_QPT_RC || ia->cap.max_send_wr == 0 ||
	    ia->cap.max_send_wr > FAKE_SQ || ia->cap.max_inline_data > fake_max_inline) {
		errno = EINVAL;
		return NULL;
	}
	for (int i = 0; i < FAKE_QPS; i++) {
		struct fake_qp *q = &qps[i];
		if (q->used)
			continue;
		memset(q, 0, sizeof(*q));
		q->sq = calloc(ia->cap.max_send_wr, sizeof(*q->sq));
		if (!q->sq)
			return NULL;
		q->used = true;
		q->qp.context = pd->context;
		q->qp.pd = pd;
		q->qp.send_cq = ia->send_cq;
		q->qp.recv_cq = ia->recv_cq;
		q->qp.qp_num = next_qpn++;
		q->qp.state = IBV_QPS_RESET;
		q->qp.qp_type = IBV_QPT_RC;
		q->max_send_wr = ia->cap.max_send_wr;
		q->max_inline = ia->cap.max_inline_data;
		live++;
		return &q->qp;
	}
	errno = ENOMEM;
	return NULL;
}

int ibv_destroy_qp(struct ibv_qp *qp)
{
	struct fake_qp *q = (struct fake_qp *)qp;
	free(q->sq);
	q->sq = NULL;
	q->used = false;
	live--;
	return 0;
}

static bool has(int mask, int want)
{
	return (mask & want) == want;
}

int ibv_modify_qp(struct ibv_qp *qp, struct ibv_qp_attr *a, int mask)
{
	struct fake_qp *q = (struct fake_qp *)qp;
	if (!(mask & IBV_QP_STATE)) {
		/* Attributes alone: the access flags in RTS (or RTR). */
		if (mask != IBV_QP_ACCESS_FLAGS ||
		    (qp->state != IBV_QPS_RTS && qp->state != IBV_QPS_RTR) ||
		    fake_refuse_access_modify)
			return EINVAL;
		if ((q->access & IBV_ACCESS_REMOTE_WRITE) &&
		    !(a->qp_access_flags & IBV_ACCESS_REMOTE_WRITE) && faults.revoke_fail_ppm &&
		    fault_draw() < faults.revoke_fail_ppm) {
			q->refuse_fence = fault_draw() % 2u ? 2u : 0u;
			return EIO;
		}
		q->access = a->qp_access_flags;
		q->log.access_changes++;
		return 0;
	}
	enum ibv_qp_state from = qp->state, to = a->qp_state;
	switch (to) {
	case IBV_QPS_RESET:
		if (mask != IBV_QP_STATE)
			return EINVAL;
		if (refuse_reset_once) {
			refuse_reset_once = false;
			return EIO;
		}
		if (q->refuse_fence > 0) {
			q->refuse_fence--;
			return EIO;
		}
		q->head = q->tail = 0;   /* a reset discards work without completions */
		q->hold = 0;
		q->head_drawn = false;
		q->access = 0;
		q->dest_qpn = 0;
		q->log.resets++;
		break;
	case IBV_QPS_ERR:
		if (mask != IBV_QP_STATE || fake_refuse_err)
			return EINVAL;
		if (q->refuse_fence > 0) {
			q->refuse_fence--;
			return EIO;
		}
		qp->state = IBV_QPS_ERR;
		flush(q);
		return 0;
	case IBV_QPS_INIT:
		if (from != IBV_QPS_RESET ||
		    !has(mask, IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS) ||
		    a->port_num != 1)
			return EINVAL;
		q->access = a->qp_access_flags;
		q->log.init = *a;
		q->log.init_mask = mask;
		break;
	case IBV_QPS_RTR:
		if (from != IBV_QPS_INIT ||
		    !has(mask, IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
				     IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER))
			return EINVAL;
		q->dest_qpn = a->dest_qp_num;
		q->log.rtr = *a;
		q->log.rtr_mask = mask;
		break;
	case IBV_QPS_RTS:
		if (from != IBV_QPS_RTR ||
		    !has(mask, IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY |
				     IBV_QP_SQ_PSN | IBV_QP_MAX_QP_RD_ATOMIC))
			return EINVAL;
		q->log.rts = *a;
		q->log.rts_mask = mask;
		break;
	default:
		return EINVAL;
	}
	qp->state = to;
	return 0;
}
