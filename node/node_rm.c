/* SPDX-License-Identifier: Apache-2.0
 * node_rm: the remote-memory log transport (node_rm.h; docs/rdma.md, "The protocol";
 * the safety argument: docs/consistency.md).
 *
 * A follower's log region:
 *   [0, 64)        header: consumed (u64: the next record seq it will take), horizon
 *                  (u64: the highest slot its core accepts now, applied + window). Its
 *                  own CPU writes them; the leader reads them (rm_post_read).
 *   [64, ...)      ring of `ring` records of REC_BYTES; record seq s at index s % ring:
 *                  seq u64, len u32, crc u32, ballot u64, then len bytes: an ACCEPT as
 *                  px_encode writes it. crc: CRC32C of the record with crc zero. RDMA
 *                  does not order a write's bytes, so a record is taken only when its
 *                  seq is the next one AND its checksum holds (never a trailing canary).
 * A leader's staging region: per peer NODE_RM_INFLIGHT records (each the source of one
 * write in flight, reused when it completes) and a 64-byte read buffer.
 */
#include "node_rm.h"

#include <errno.h>
#include <string.h>

#include "crc32c_pvt.h"
#include "px_codec.h"
#include "rm.h"
#include "wire_le.h"

#define HDR_BYTES 64u
#define REC_HDR 24u
#define BIND_BYTES 16u   /* after the ACCEPT: the record's seq and the grant's HELLO id */
#define REC_BYTES ((REC_HDR + PX_DGRAM_BYTES_MAX + BIND_BYTES + 63u) & ~63u)
#define EP_BYTES 31u
#define DESC_BYTES 28u
#define GRANT_BYTES (EP_BYTES + DESC_BYTES + 4u)   /* + the follower's incarnation */
#define HELLO_BYTES (EP_BYTES + 4u)                /* + the leader's incarnation */
#define NPEERS PX_REPLICAS_MAX
#define NONE 0xffu
_Static_assert(GRANT_BYTES <= PX_RM_BODY_MAX, "a GRANT's body fits");
_Static_assert(NPEERS <= RM_PEERS_MAX, "every replica id is an rm peer");
_Static_assert(NODE_RM_INFLIGHT <= 256, "a queue index fits");

/* wr_id: peer (8 bits) | path generation (16) | read (1) | sequence (39). */
#define WR_PEER(id) ((uint8_t)((id) >> 56))
#define WR_GEN(id) ((uint16_t)((id) >> 40))
#define WR_READ(id) ((((id) >> 39) & 1u) != 0)
#define WR_MAKE(peer, gen, rd, seq) \
	(((uint64_t)(peer) << 56) | ((uint64_t)(gen) << 40) | ((uint64_t)(rd) << 39) | \
	 ((seq) & ((1ull << 39) - 1u)))

enum path { PATH_IDLE = 0, PATH_HELLO = 1, PATH_ACTIVE = 2 };

/** A write in flight to one follower: the ACCEPT's slots, what its completion counts. */
struct inflight {
	uint64_t wr_id;
	uint64_t lo, hi;
	uint64_t read_round;
	uint32_t inc;          /**< the follower's incarnation as known at the post */
};

/** Leader: the write path to one follower. */
struct lpeer {
	enum path st;
	uint16_t gen;          /**< bumped whenever the path restarts: older completions
	                            are dropped */
	uint64_t ballot;       /**< the leadership the path belongs to */
	uint64_t hello_id;
	uint32_t age;          /**< ticks since the HELLO */
	uint32_t inc;          /**< the follower's incarnation, as its GRANT said: the path
	                            is used only while this replica knows that one */
	struct rm_region_desc remote;
	uint32_t ring;
	uint64_t seq;          /**< the next record */
	uint64_t consumed;     /**< the follower's consumed, as last read (or granted) */
	uint64_t horizon;      /**< its horizon, likewise */
	bool read_out;
	uint64_t cover;        /**< highest slot covered, contiguously from its ack, by
	                            completed writes */
	bool ack_pending;      /**< cover advanced: an ACCEPTED to step */
	uint64_t ack_round;
	uint32_t ack_inc;
	uint64_t wr_seq;
	struct inflight q[NODE_RM_INFLIGHT];
	uint32_t q_head, q_n;
};

struct node_rm {
	struct rm_ctx *ctx;
	uint32_t ring;              /**< records in this replica's region */
	uint32_t window;            /**< the core's window_slots */
	uint32_t bugs;
	uint32_t cluster_id;
	struct rm_region log;       /**< this replica's log region */
	struct rm_region stage;     /**< staging records and read buffers */
	/* follower */
	uint8_t writer;             /**< the granted leader, NONE */
	uint64_t wballot;
	uint64_t wnonce;            /**< the HELLO id of the grant: every record binds it */
	/* The last grant made (kept across fences): a HELLO of that leader at that ballot
	 * with an id no newer is a late copy, refused (re-granting it would make this
	 * replica expect records bound to an id its leader has moved past). */
	uint8_t last_from;
	uint64_t last_ballot, last_nonce;
	uint64_t bad_seq;           /**< the seq last counted in record_drops (once each) */
	uint64_t next;              /**< the next record seq to take */
	uint64_t torn_seq;          /**< the seq last counted torn (once per record) */
	uint8_t quiet;              /**< while a record is stepped: its leader, whose ACCEPTED
	                                 the core's answer would be (NONE otherwise) */
	/* leader */
	uint64_t hello_ctr;
	struct lpeer p[NPEERS];
	struct node_rm_counters c;
	struct px_msg msg;          /**< a record's ACCEPT, decoded */
	struct px_msg ack;          /**< an ACCEPTED built from completions */
	uint8_t rec[REC_BYTES];     /**< a record copied out of the ring */
};

static bool bug(const struct node_rm *t, uint32_t b)
{
#ifdef PX_INVARIANTS
	return (t->bugs & b) != 0;
#else
	(void)t;
	(void)b;
	return false;
#endif
}

size_t nrm_bytes(const struct node_conf *c)
{
	return c->rm != NULL ? sizeof(struct node_rm) : 0;
}

static uint32_t ring_of(const struct node_conf *c)
{
	return c->rm_ring != 0 ? c->rm_ring : NODE_RM_RING_DEFAULT;
}

const char *nrm_conf_check(const struct node_conf *c)
{
	uint32_t r = ring_of(c);

	if (c->rm == NULL)
		return c->rm_ring != 0 ? "rm_ring is set without a remote-memory context" : NULL;
	if (c->px.durability != PX_MEMORY)
		return "the remote-memory log transport serves durability = memory only (a "
		       "landed write is in a replica's memory, not on its disk)";
	if (r < 8u || r > NODE_RM_RING_MAX || (r & (r - 1u)) != 0)
		return "rm_ring must be a power of two in [8, 1024]";
	return NULL;
}

static uint8_t *stage_rec(struct node_rm *t, uint8_t peer, uint32_t idx)
{
	return (uint8_t *)t->stage.base +
	       ((size_t)peer * NODE_RM_INFLIGHT + idx) * REC_BYTES;
}

static uint8_t *read_buf(struct node_rm *t, uint8_t peer)
{
	return (uint8_t *)t->stage.base + (size_t)NPEERS * NODE_RM_INFLIGHT * REC_BYTES +
	       (size_t)peer * 64u;
}

static uint8_t *ring_rec(struct node_rm *t, uint64_t seq)
{
	return (uint8_t *)t->log.base + HDR_BYTES + (size_t)(seq & (t->ring - 1u)) * REC_BYTES;
}

static void publish(struct node_rm *t, struct px_replica *r)
{
	uint64_t *h = (uint64_t *)t->log.base;
	uint64_t horizon = px_applied_slot(r) + t->window;

	__atomic_store_n(&h[0], t->next, __ATOMIC_RELEASE);
	if (__atomic_load_n(&h[1], __ATOMIC_RELAXED) < horizon)
		__atomic_store_n(&h[1], horizon, __ATOMIC_RELEASE);
}

struct node_rm *nrm_init(const struct node_conf *c, void *mem, const char **why)
{
	struct node_rm *t = mem;

	memset(t, 0, sizeof(*t));
	t->ctx = c->rm;
	t->ring = ring_of(c);
	t->window = c->px.window_slots;
	t->bugs = c->px.bugs;
	t->cluster_id = c->px.cluster_id;
	t->writer = NONE;
	t->last_from = NONE;
	t->quiet = NONE;
	t->next = 1;
	if (rm_region_reg(t->ctx, HDR_BYTES + (size_t)t->ring * REC_BYTES, &t->log) != 0 ||
	    rm_region_reg(t->ctx, (size_t)NPEERS * (NODE_RM_INFLIGHT * REC_BYTES + 64u),
			  &t->stage) != 0) {
		*why = "rm_region_reg failed: the remote-memory context has no room for the "
		       "log region and the staging region (2 of its RM_REGIONS_MAX; one "
		       "context per node)";
		errno = ENOMEM;
		return NULL;
	}
	uint64_t *h = (uint64_t *)t->log.base;
	h[0] = t->next;
	h[1] = c->px.window_slots;
	return t;
}

const struct node_rm_counters *nrm_counters(const struct node_rm *t) { return &t->c; }

bool nrm_forge(struct node_rm *t, unsigned how, uint64_t rnd)
{
	if (t->writer == NONE)
		return false;
	uint8_t *slot = ring_rec(t, t->next);
	if (__atomic_load_n((const uint64_t *)slot, __ATOMIC_ACQUIRE) == t->next)
		return false;   /* the leader's record is there: a fabric that lies erases it */
	uint8_t *rec = t->rec;
	uint32_t len;
	if (how == 0 || wire_ld32(rec + 8) == 0 || wire_ld32(rec + 8) > PX_DGRAM_BYTES_MAX +
							      BIND_BYTES) {
		/* Bytes of no one's: a header-sized prefix copied from the last record seen
		 * (so the message looks like a paxwire one), the rest noise. */
		len = 100u + (uint32_t)(rnd % 300u);
		for (uint32_t i = PX_WIRE_HDR_BYTES; i < len; i++) {
			rnd = rnd * 6364136223846793005ull + 1442695040888963407ull;
			rec[REC_HDR + i] = (uint8_t)(rnd >> 56);
		}
	} else {
		len = wire_ld32(rec + 8);   /* an authentic record replayed at another seq */
	}
	wire_st64(rec, t->next);
	wire_st32(rec + 8, len);
	wire_st32(rec + 12, 0);
	wire_st64(rec + 16, t->wballot);
	wire_st32(rec + 12, storage_crc32c(rec, REC_HDR + len));
	memcpy(slot, rec, REC_HDR + len);
	return true;
}

/* ---------------------------------------------------------------------------------- */
/* Bodies of RM messages                                                               */

static void ep_put(uint8_t *p, const struct rm_endpoint *e)
{
	wire_st32(p, e->node);
	wire_st32(p + 4, e->qpn);
	wire_st32(p + 8, e->psn);
	wire_st16(p + 12, e->lid);
	p[14] = e->mtu;
	memcpy(p + 15, e->gid, 16);
}

static void ep_get(const uint8_t *p, struct rm_endpoint *e)
{
	memset(e, 0, sizeof(*e));
	e->node = wire_ld32(p);
	e->qpn = wire_ld32(p + 4);
	e->psn = wire_ld32(p + 8);
	e->lid = wire_ld16(p + 12);
	e->mtu = p[14];
	memcpy(e->gid, p + 15, 16);
}

static void desc_put(uint8_t *p, const struct rm_region_desc *d)
{
	wire_st64(p, d->addr);
	wire_st64(p + 8, d->len);
	wire_st32(p + 16, d->rkey);
	wire_st32(p + 20, d->owner);
	wire_st32(p + 24, d->index);
}

static void desc_get(const uint8_t *p, struct rm_region_desc *d)
{
	d->addr = wire_ld64(p);
	d->len = wire_ld64(p + 8);
	d->rkey = wire_ld32(p + 16);
	d->owner = wire_ld32(p + 20);
	d->index = wire_ld32(p + 24);
}

/* ---------------------------------------------------------------------------------- */
/* Follower                                                                            */

/** Copies record seq out of the ring into t->rec if it is whole: 0 if it has not
 *  landed (or is still landing, or torn), else its length. Copied first, then checked:
 *  what is checked is what is decoded. */
static uint32_t rec_copy(struct node_rm *t, uint64_t seq)
{
	const uint8_t *rec = ring_rec(t, seq);
	if (__atomic_load_n((const uint64_t *)rec, __ATOMIC_ACQUIRE) != seq)
		return 0;
	uint32_t len = wire_ld32(rec + 8);
	if (len == 0 || len > PX_DGRAM_BYTES_MAX + BIND_BYTES)
		return 0;
	memcpy(t->rec, rec, REC_HDR + len);
	uint32_t crc = wire_ld32(t->rec + 12);
	wire_st32(t->rec + 12, 0);
	if (wire_ld64(t->rec) != seq || wire_ld32(t->rec + 8) != len ||
	    storage_crc32c(t->rec, REC_HDR + len) != crc)
		return 0;
	return len;
}

/** The whole record seq in t->rec (len bytes: an ACCEPT, its binding, sealed in
 *  authenticated mode) opened and decoded into t->msg: true if it is an authentic
 *  ACCEPT of the granted leader at the granted ballot, for this replica, written for
 *  this seq under this grant. The binding (seq, HELLO id) is inside what the trailer
 *  authenticates: an authentic record replayed at another seq, or from an earlier
 *  grant, is refused like a forged one. */
static bool rec_valid(struct node *n, struct node_rm *t, uint64_t seq, uint32_t len)
{
	struct px_msg *m = &t->msg;

	if (t->writer == NONE)
		return false;
	/* Nothing unauthenticated reaches the core: a record is sealed as a datagram. */
	len = node_pvt_verify(n, t->writer, t->rec + REC_HDR, len);
	if (len < PX_WIRE_HDR_BYTES + BIND_BYTES)
		return false;
	len -= BIND_BYTES;
	if (wire_ld64(t->rec + REC_HDR + len) != seq ||
	    wire_ld64(t->rec + REC_HDR + len + 8u) != t->wnonce)
		return false;
	enum px_wire_err e = px_decode(t->rec + REC_HDR, len, t->cluster_id, PX_REPLICAS_MAX, m);

	return e == PX_WIRE_OK && t->writer != NONE && m->type == PX_MSG_ACCEPT &&
	       m->from == t->writer && m->ballot == t->wballot &&
	       wire_ld64(t->rec + 16) == t->wballot &&
	       (m->to == node_self(n) || m->to == PX_NODE_NONE);
}

/** Takes the records that landed, in order: each an ACCEPT of the granted leader at
 *  its ballot, stepped like a datagram. Stops at the first record not (yet) whole. */
static unsigned drain(struct node *n, struct node_rm *t)
{
	struct px_replica *r = node_pvt_replica(n);
	unsigned took = 0;

	for (uint32_t k = 0; k < t->ring; k++) {
		uint32_t len = rec_copy(t, t->next);
		if (len == 0) {
			/* Not landed, still landing, or torn by a failed write (its leader
			 * writes it again after a reconnect, or a new leader overwrites it). A
			 * record whose seq is the next one but does not check is counted once. */
			const uint8_t *rec = ring_rec(t, t->next);
			if (__atomic_load_n((const uint64_t *)rec, __ATOMIC_ACQUIRE) == t->next &&
			    t->torn_seq != t->next) {
				t->torn_seq = t->next;
				t->c.torn++;
			}
			break;
		}
		if (!rec_valid(n, t, t->next, len)) {
			/* Whole but not the granted leader's record for this seq (forged,
			 * replayed, or a bug): taken as not landed, so that the leader's own
			 * write of this seq, when it lands, is the one taken. Counted once. */
			if (t->bad_seq != t->next) {
				t->bad_seq = t->next;
				t->c.record_drops++;
			}
			break;
		}
		t->next++;
		took++;
		t->c.records++;
		t->c.record_bytes += len;
		/* The leader counted this record from its write's completion: the core's
		 * ACCEPTED in answer would tell it nothing more (nrm_quiet). */
		t->quiet = t->writer;
		node_pvt_step(n, &t->msg);
		t->quiet = NONE;
	}
	publish(t, r);
	return took;
}

unsigned nrm_landed(struct node *n, struct node_rm *t,
		    void (*visit)(void *ctx, const struct px_msg *m), void *ctx)
{
	unsigned seen = 0;

	for (uint64_t seq = t->next; seq < t->next + t->ring; seq++) {
		uint32_t len = rec_copy(t, seq);
		if (len == 0 || !rec_valid(n, t, seq, len))
			break;   /* as drain: it stops there */
		visit(ctx, &t->msg);
		seen++;
	}
	return seen;
}

/** Takes write access back from the granted leader and takes what it wrote: after it,
 *  every record that landed under the grant is in the core. false: not fenced. */
static bool fence(struct node *n, struct node_rm *t)
{
	if (t->writer == NONE)
		return true;
	if (bug(t, PX_BUG_RM_NO_REVOKE)) {
		t->writer = NONE;
		return true;
	}
	int rc = rm_revoke(t->ctx, t->writer);
	if (rc != 0) {
		t->c.revoke_failed++;
		node_pvt_log(n, NODE_LOG_WARN,
			     "rm: could not revoke replica %u's write access (%s): no promise "
			     "until it is fenced",
			     t->writer, strerror(-rc));
		return false;
	}
	t->c.revokes++;
	(void)drain(n, t);
	t->writer = NONE;
	return true;
}

/** Whether stepping m may leave this replica's core unwilling to take the granted
 *  leader's next ACCEPT at its ballot: a record that lands after that would be counted
 *  by the leader and dropped here. */
static bool may_unsettle(struct node *n, const struct node_rm *t, const struct px_msg *m)
{
	struct px_replica *r = node_pvt_replica(n);
	uint8_t self = node_self(n);

	/* Only px_step of a message raises a promise (ticks only pre-vote): one above the
	 * granted ballot (a PREVOTE's names a ballot it does not make anyone promise), or
	 * one that may start this replica's own candidacy. */
	if ((m->ballot > t->wballot && m->type != PX_MSG_PREVOTE) ||
	    m->type == PX_MSG_PREVOTE_REPLY || m->type == PX_MSG_TIMEOUT_NOW)
		return true;
	/* A crash vector with a newer number of this replica (it re-announces: no vote
	 * until it has) or of the leader (whose records carry the old one: stale). */
	return (m->n_inc > self && m->incarnation[self] > px_incarnation(r, self)) ||
	       (m->n_inc > t->writer && m->incarnation[t->writer] > px_incarnation(r, t->writer));
}

bool nrm_before_step(struct node *n, struct node_rm *t, const struct px_msg *m)
{
	/* Every message the core steps merges its crash vector, a PREVOTE's too. */
	if (t->writer == NONE || !may_unsettle(n, t, m))
		return true;
	return fence(n, t);
}

bool nrm_quiet(struct node_rm *t, const struct px_msg *m)
{
	if (t->quiet == NONE || m->type != PX_MSG_ACCEPTED || m->to != t->quiet)
		return false;
	t->c.quiet_acks++;
	return true;
}

bool nrm_after_call(struct node *n, struct node_rm *t)
{
	struct px_replica *r = node_pvt_replica(n);

	return t->writer == NONE || px_promised(r) == t->wballot || bug(t, PX_BUG_RM_NO_REVOKE);
}

uint8_t nrm_writer(const struct node_rm *t, uint64_t *ballot)
{
	*ballot = t->wballot;
	return t->writer;
}

static void on_hello(struct node *n, struct node_rm *t, const struct px_msg *m)
{
	struct px_replica *r = node_pvt_replica(n);
	struct rm_endpoint ep, mine;
	uint8_t body[GRANT_BYTES];

	/* Only the leader whose ballot this replica promised, while it follows, and only
	 * if its records would not be dropped as a stale life's: the incarnation its
	 * records carry for itself is no older than the one this replica knows. */
	if (m->body_len != HELLO_BYTES || px_role(r) != PX_FOLLOWER || m->ballot == 0 ||
	    px_promised(r) != m->ballot || px_ballot_node(m->ballot) != m->from ||
	    wire_ld32(m->body + EP_BYTES) < px_incarnation(r, m->from) ||
	    (m->from == t->last_from && m->ballot == t->last_ballot &&
	     m->nonce <= t->last_nonce)) {
		t->c.setup_drops++;
		return;
	}
	ep_get(m->body, &ep);
	if (ep.node != m->from) {
		t->c.setup_drops++;
		return;
	}
	if (!fence(n, t))
		return;
	/* Records at or past the next seq are a fenced writer's (RC leaves none past a
	 * failed write, but this does not rest on it): wiped, so that the new writer's
	 * sequence is the only one the ring can hold from here. */
	for (uint32_t k = 0; k < t->ring; k++) {
		uint64_t *seq = (uint64_t *)(void *)((uint8_t *)t->log.base + HDR_BYTES +
						     (size_t)k * REC_BYTES);
		if (__atomic_load_n(seq, __ATOMIC_RELAXED) >= t->next)
			__atomic_store_n(seq, 0, __ATOMIC_RELAXED);
	}
	/* What lies at next from here on is new: a bad or torn record there is counted
	 * again (seqs start at 1). */
	t->bad_seq = 0;
	t->torn_seq = 0;
	int rc = rm_endpoint_get(t->ctx, m->from, &mine);
	if (rc == 0)
		rc = rm_connect(t->ctx, m->from, &ep);
	if (rc == 0)
		rc = rm_grant(t->ctx, m->from);
	if (rc != 0) {
		t->c.errors++;
		node_pvt_log(n, NODE_LOG_WARN, "rm: cannot take replica %u as writer: %s",
			     m->from, strerror(-rc));
		return;
	}
	t->writer = m->from;
	t->wballot = m->ballot;
	t->wnonce = m->nonce;
	node_pvt_rm_granted(n, m->from);
	t->last_from = m->from;
	t->last_ballot = m->ballot;
	t->last_nonce = m->nonce;
	t->c.grants++;
	publish(t, r);
	ep_put(body, &mine);
	desc_put(body + EP_BYTES, &t->log.desc);
	wire_st32(body + EP_BYTES + DESC_BYTES, px_incarnation(r, node_self(n)));
	node_pvt_send_rm(n, m->from, PX_MF_RM_GRANT, m->nonce, t->next,
			 px_applied_slot(r) + t->window, body, sizeof(body));
}

/* ---------------------------------------------------------------------------------- */
/* Leader                                                                              */

static void path_reset(struct lpeer *p, enum path st)
{
	p->st = st;
	p->gen++;
	p->q_n = 0;
	p->q_head = 0;
	p->read_out = false;
	p->ack_pending = false;
}

static void on_grant(struct node *n, struct node_rm *t, const struct px_msg *m)
{
	struct px_replica *r = node_pvt_replica(n);
	struct lpeer *p = &t->p[m->from];
	struct rm_endpoint ep;
	struct rm_region_desc d;

	if (m->body_len != GRANT_BYTES || px_role(r) != PX_LEADER ||
	    m->ballot != px_promised(r) || p->st != PATH_HELLO || p->ballot != m->ballot ||
	    m->nonce != p->hello_id) {
		t->c.setup_drops++;
		return;
	}
	ep_get(m->body, &ep);
	desc_get(m->body + EP_BYTES, &d);
	uint32_t inc = wire_ld32(m->body + EP_BYTES + DESC_BYTES);
	/* The region's length is page-rounded (64 KiB pages leave room for several more
	 * records): the ring is the largest power of two that fits, which is the
	 * follower's own (it has at least 8 records, and less than a page is added). */
	uint64_t ring = d.len > HDR_BYTES ? (d.len - HDR_BYTES) / REC_BYTES : 0;
	while (ring & (ring - 1u))
		ring &= ring - 1u;
	if (ep.node != m->from || d.owner != m->from || ring < 8u || ring > NODE_RM_RING_MAX ||
	    (ring & (ring - 1u)) != 0 || m->slot_lo == 0 || m->slot_lo > (1ull << 62) ||
	    inc != px_incarnation(r, m->from)) {
		/* An incarnation other than the one this leader knows: the follower is
		 * re-announcing, or this leader has yet to learn its number. */
		t->c.setup_drops++;
		return;
	}
	int rc = rm_connect(t->ctx, m->from, &ep);
	if (rc != 0) {
		t->c.errors++;
		path_reset(p, PATH_IDLE);
		return;
	}
	p->st = PATH_ACTIVE;
	p->inc = inc;
	p->remote = d;
	p->ring = (uint32_t)ring;
	p->seq = m->slot_lo;
	p->consumed = m->slot_lo;
	p->horizon = m->slot_hi;
	p->cover = px_peer_ack(r, m->from);
	t->c.grants_in++;
	node_pvt_log(n, NODE_LOG_INFO, "rm: writing into replica %u's log (ballot %#llx)",
		     m->from, (unsigned long long)m->ballot);
}

void nrm_on_msg(struct node *n, struct node_rm *t, const struct px_msg *m)
{
	if (m->from >= NPEERS || m->from == node_self(n)) {
		t->c.setup_drops++;
		return;
	}
	if (m->flags & PX_MF_RM_GRANT)
		on_grant(n, t, m);
	else
		on_hello(n, t, m);
}

void nrm_tick(struct node *n, struct node_rm *t)
{
	struct px_replica *r = node_pvt_replica(n);
	bool leader = px_role(r) == PX_LEADER;
	uint64_t b = px_promised(r);
	uint32_t to = leader ? px_recipients(r) : 0;
	uint8_t body[HELLO_BYTES];

	for (uint8_t j = 0; j < NPEERS; j++) {
		struct lpeer *p = &t->p[j];
		if (j == node_self(n) || !((to >> j) & 1u)) {
			if (p->st != PATH_IDLE)
				path_reset(p, PATH_IDLE);
			continue;
		}
		if (p->st == PATH_ACTIVE && p->ballot == b && p->inc == px_incarnation(r, j))
			continue;
		if (p->st == PATH_HELLO && p->ballot == b && ++p->age < 8u)
			continue;
		struct rm_endpoint ep;
		if (rm_endpoint_get(t->ctx, j, &ep) != 0) {
			t->c.errors++;
			continue;
		}
		path_reset(p, PATH_HELLO);
		p->ballot = b;
		p->age = 0;
		p->hello_id = ++t->hello_ctr;
		ep_put(body, &ep);
		wire_st32(body + EP_BYTES, px_incarnation(r, node_self(n)));
		t->c.hellos++;
		node_pvt_send_rm(n, j, 0, p->hello_id, 0, 0, body, sizeof(body));
	}
}

static void refresh(struct node_rm *t, struct lpeer *p, uint8_t peer)
{
	if (p->read_out || p->st != PATH_ACTIVE)
		return;
	uint64_t id = WR_MAKE(peer, p->gen, 1u, ++p->wr_seq);
	if (rm_post_read(t->ctx, peer, id, read_buf(t, peer), 16, &p->remote, 0) == 0) {
		p->read_out = true;
		t->c.reads++;
	}
}

bool nrm_send_accept(struct node *n, struct node_rm *t, const struct px_msg *m, uint8_t to,
		     const uint8_t *enc, uint32_t len)
{
	struct px_replica *r = node_pvt_replica(n);

	if (m->type != PX_MSG_ACCEPT || m->n_entries == 0 || to >= NPEERS)
		return false;
	struct lpeer *p = &t->p[to];
	if (p->st != PATH_ACTIVE || p->ballot != m->ballot || px_role(r) != PX_LEADER) {
		t->c.fallback++;   /* no write path to this follower (yet) */
		return false;
	}
	if (px_incarnation(r, to) != p->inc) {
		/* A newer number of the follower: its core drops what was written for the
		 * old one. The message path until the next GRANT. */
		path_reset(p, PATH_IDLE);
		t->c.fallback++;
		return false;
	}
	uint64_t lo = m->entries[0].slot;
	uint64_t hi = m->entries[m->n_entries - 1].slot;
	/* A completion vouches for lo..hi as a whole: only a run without gaps. */
	if (hi < lo || hi - lo + 1u != m->n_entries)
		return false;
	if (p->q_n >= NODE_RM_INFLIGHT || p->seq >= p->consumed + p->ring || hi > p->horizon) {
		refresh(t, p, to);
		t->c.fallback++;
		return false;
	}
	uint32_t idx = (p->q_head + p->q_n) % NODE_RM_INFLIGHT;
	uint8_t *rec = stage_rec(t, to, idx);
	if (enc != NULL) {
		memcpy(rec + REC_HDR, enc, len);
	} else {
		size_t l = px_encode(m, rec + REC_HDR, PX_MSG_BYTES_MAX);
		if (l == 0)
			return false;
		len = (uint32_t)l;
	}
	/* The binding, then (authenticated mode) the trailer over both. */
	wire_st64(rec + REC_HDR + len, p->seq);
	wire_st64(rec + REC_HDR + len + 8u, p->hello_id);
	len = node_pvt_seal(n, to, rec + REC_HDR, len + BIND_BYTES,
			    PX_DGRAM_BYTES_MAX + BIND_BYTES);
	wire_st64(rec, p->seq);
	wire_st32(rec + 8, len);
	wire_st32(rec + 12, 0);
	wire_st64(rec + 16, m->ballot);
	wire_st32(rec + 12, storage_crc32c(rec, REC_HDR + len));
	uint64_t id = WR_MAKE(to, p->gen, 0u, ++p->wr_seq);
	/* Every record signaled: its completion is the follower's ack. A small one goes
	 * inline (the NIC takes the bytes with the work request, no DMA read of them). */
	bool inl = REC_HDR + len <= rm_max_inline(t->ctx);
	int rc = rm_post_write(t->ctx, to, id, rec, REC_HDR + len, &p->remote,
			       HDR_BYTES + (uint64_t)(p->seq & (p->ring - 1u)) * REC_BYTES,
			       RM_WR_SIGNALED | (inl ? RM_WR_INLINE : 0u));
	if (rc != 0) {
		if (rc != -ENOBUFS)
			path_reset(p, PATH_IDLE);
		t->c.fallback++;
		return false;
	}
	struct inflight *f = &p->q[idx];
	f->wr_id = id;
	f->lo = lo;
	f->hi = hi;
	f->read_round = m->read_round;
	f->inc = px_incarnation(r, to);
	p->q_n++;
	p->seq++;
	t->c.writes++;
	t->c.inline_writes += inl;
	t->c.write_bytes += REC_HDR + len;
	/* Read the follower's position before the ring or the horizon runs out. */
	if (p->seq - p->consumed >= p->ring / 2u || hi + t->window / 4u >= p->horizon)
		refresh(t, p, to);
	return true;
}

/** A completed write (or, with the planted bug, a posted one) counts towards the
 *  follower's ack when it continues what is covered. */
static void count(struct node_rm *t, struct px_replica *r, uint8_t peer,
		  const struct inflight *f)
{
	struct lpeer *p = &t->p[peer];
	uint64_t ack = px_peer_ack(r, peer);

	(void)t;
	if (p->cover < ack)
		p->cover = ack;
	if (f->lo > p->cover + 1u || f->hi <= p->cover)
		return;
	p->cover = f->hi;
	if (!p->ack_pending || f->read_round > p->ack_round)
		p->ack_round = f->read_round;
	if (!p->ack_pending || f->inc < p->ack_inc)
		p->ack_inc = f->inc;
	p->ack_pending = true;
}

static void step_acks(struct node *n, struct node_rm *t)
{
	struct px_replica *r = node_pvt_replica(n);

	for (uint8_t j = 0; j < NPEERS; j++) {
		struct lpeer *p = &t->p[j];
		if (!p->ack_pending)
			continue;
		p->ack_pending = false;
		if (p->st != PATH_ACTIVE || px_role(r) != PX_LEADER || px_promised(r) != p->ballot ||
		    px_incarnation(r, j) != p->inc)
			continue;
		struct px_msg *a = &t->ack;
		memset(a, 0, offsetof(struct px_msg, entries));
		a->type = PX_MSG_ACCEPTED;
		a->from = j;
		a->to = node_self(n);
		a->cluster_id = t->cluster_id;
		a->config_epoch = px_membership(r)->cur.epoch;
		a->ballot = p->ballot;
		a->slot_hi = p->cover;
		a->commit = 0;   /* the follower's commit point is not known here */
		a->read_round = p->ack_round;
		a->n_inc = PX_REPLICAS_MAX;
		for (uint8_t k = 0; k < PX_REPLICAS_MAX; k++)
			a->incarnation[k] = px_incarnation(r, k);
		a->incarnation[j] = p->ack_inc;
		t->c.counted++;
		node_pvt_step(n, a);
	}
}

static void on_wc(struct node_rm *t, struct px_replica *r, const struct rm_wc *wc)
{
	uint8_t peer = WR_PEER(wc->wr_id);
	if (peer >= NPEERS)
		return;
	struct lpeer *p = &t->p[peer];
	if (WR_GEN(wc->wr_id) != p->gen || p->st != PATH_ACTIVE)
		return;   /* a path that has restarted since */
	if (wc->status != RM_WC_SUCCESS) {
		/* The write may be torn: nothing counts; the core's catch-up re-sends on
		 * the message path, and the next tick says HELLO again. */
		t->c.write_errors++;
		path_reset(p, PATH_IDLE);
		return;
	}
	if (WR_READ(wc->wr_id)) {
		const uint8_t *b = read_buf(t, peer);
		uint64_t consumed = wire_ld64(b), horizon = wire_ld64(b + 8);
		p->read_out = false;
		/* Bounded by what this leader wrote; both only grow. */
		if (consumed > p->consumed && consumed <= p->seq)
			p->consumed = consumed;
		if (horizon > p->horizon)
			p->horizon = horizon;
		return;
	}
	/* RC completes in order: this completion retires every earlier write. */
	for (uint32_t k = 0; k < NODE_RM_INFLIGHT && p->q_n > 0; k++) {
		const struct inflight *f = &p->q[p->q_head];
		p->q_head = (p->q_head + 1u) % NODE_RM_INFLIGHT;
		p->q_n--;
		t->c.completions++;
		if (!bug(t, PX_BUG_RM_COUNT_POSTED))
			count(t, r, peer, f);
		if (f->wr_id == wc->wr_id)
			break;
	}
}

unsigned nrm_poll(struct node *n, struct node_rm *t)
{
	struct px_replica *r = node_pvt_replica(n);
	struct rm_wc wc[RM_POLL_MAX];
	unsigned done = 0;

	if (bug(t, PX_BUG_RM_COUNT_POSTED)) {
		/* The planted bug: every write in flight counts as if it had completed. */
		for (uint8_t j = 0; j < NPEERS; j++) {
			struct lpeer *p = &t->p[j];
			for (uint32_t k = 0; k < p->q_n && p->st == PATH_ACTIVE; k++)
				count(t, r, j, &p->q[(p->q_head + k) % NODE_RM_INFLIGHT]);
		}
	}
	unsigned got = rm_poll(t->ctx, wc, RM_POLL_MAX);
	node_pvt_rm_polled(n);
	for (unsigned i = 0; i < got; i++)
		on_wc(t, r, &wc[i]);
	done += got;
	step_acks(n, t);
	if (t->writer != NONE)
		done += drain(n, t);
	else
		publish(t, r);
	return done;
}
