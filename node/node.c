/* SPDX-License-Identifier: Apache-2.0
 * The embedder (node.h): what the daemon, the simulator and the harness share between
 * the consensus core and the world.
 *
 * Every call into the core (px_step, px_tick, px_propose, px_persisted, px_read_begin,
 * px_transfer_leadership) is followed at once by handle_out, which handles its effects
 * in this order, because they point into the replica's log (valid until the next call):
 *   1. the persist request goes to the journal (it copies the values);
 *   2. the messages are encoded into transmit buffers (a broadcast once per peer);
 *   3. the confirmed read ticket is folded in; a role change fails the held reads and,
 *      for a replica that no longer leads, the queued commands (NOT_LEADER);
 *   4. observers see the step (the simulator checks its properties there);
 *   5. the committed range is applied slot by slot (px_slot_value -> px_apply_slot ->
 *      a REPLY to each client if this replica leads -> px_applied);
 *   6. held reads whose ticket is confirmed and whose read index is applied are served.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node.h"
#include "auth.h"
#include "node_rm.h"
#include "wire_hash.h"

/** Where a client's datagram came from: its address and, authenticated, its life's
 *  entry in the auth table (which seals the replies: auth_for_client). */
struct node_from {
	struct node_addr addr;
	uint64_t alife;          /**< the client's life; 0: no authentication */
	uint32_t aidx;           /**< its entry in the auth table */
	uint32_t key_id;
	uint8_t role;            /**< enum auth_role */
	bool challenge;          /**< sealed without this replica's life: answer, act not */
};

/** A client's last known address (the table is a cache: see client_put). */
struct node_client {
	uint64_t client_id;
	uint64_t stamp;          /**< 0: empty; else the table's clock when last used */
	struct node_from from;
};

/** One client life the replica heard, authenticated: its requests' windows and keys
 *  (bound to this replica's life, and the challenges' bound to none), and the key its
 *  replies are sealed with. */
struct node_auth_client {
	uint64_t life;           /**< the client's life; 0: empty entry */
	struct auth_rx rx;       /**< requests bound to this replica's life */
	struct auth_rx rx0;      /**< challenges (AUTH_TF_CHALLENGE) */
	struct auth_tx reply;
	uint64_t stamp;          /**< the table's clock when last used */
	uint32_t key_id;
	uint8_t role;
};

/** Authentication state (conf.keys): one sending and one receiving direction per peer,
 *  and the client lives. */
struct node_auth {
	struct auth_keys keys;
	struct auth_tx tx[PX_REPLICAS_MAX];
	struct auth_rx rx[PX_REPLICAS_MAX];
	/** The granted remote-memory writer's receiving state as its HELLO left it: its
	 *  records are sealed under that life, which rx[writer] may leave (a datagram of
	 *  its next life) before a fence takes them. */
	struct auth_rx rm_writer;
	uint64_t life;           /**< this replica's */
	uint64_t reply_ctr;      /**< the counter of every reply this life: each client
	                              life's reply key is used by this replica only, and a
	                              counter shared by all never repeats under one, even
	                              when an entry is evicted and made again */
	uint64_t clock;
	uint32_t clients_mask;
	struct node_auth_client *cl;
};

/** A read-index read held at the leader; the command's bytes are in read_bytes. */
struct node_read {
	uint64_t ticket, index, client_id, seq;
	struct node_from src;
	uint32_t len;
};

struct node {
	struct node_conf conf;
	const struct node_ops *ops;
	void *ctx;
	struct node_observer obs;
	bool have_obs;

	struct px_replica *r;
	struct px_applier *a;
	struct px_service svc;
	uint8_t self;
	/** The bound on node ids (PX_REPLICAS_MAX): any id may become a member (a
	 *  membership change), so peers are addressed by id; who gets a broadcast is the
	 *  configuration in force (px_membership). */
	uint8_t n_replicas;
	enum px_role role;           /**< as last reported by the core */
	/** A leadership's first commit, logged with the clock (failover measurements:
	 *  bench/failover): set when the role becomes leader, cleared once the commit
	 *  point passes lead_commit_from or the leadership ends. */
	bool lead_first_pending;
	uint64_t lead_commit_from;   /**< commit point when the leadership was won */
	uint64_t lead_won_ns;        /**< ops.now_ns then (0 without a clock) */
	/* What watch_leader logged last: the leader known, the core's suspicion and
	 * check-quorum step-down counts, and whether a quorum was lost since. */
	uint8_t leader_seen;
	uint64_t suspicions_seen;
	uint64_t stepdowns_seen;
	bool quorum_lost;
	/* Membership (docs/operations.md, "Membership changes"). */
	uint64_t conf_seen;          /**< the applier's conf counter members_sync saw */
	uint32_t epoch_seen;         /**< the epoch members_sync logged last */
	uint32_t promote_tick;       /**< ticks since the last promotion check */
	bool warned_state_transfer;
	bool flushing;               /**< inside node_flush: the queue is its own */

	/* Scratch: effects of one call into the core, replies of one applied slot, one
	 * decoded message, one REPLY being built, one broadcast encoded for every peer. */
	struct px_out *out;
	struct px_apply_out *aout;
	struct px_msg *msg;
	struct px_msg *reply;
	uint8_t bcast[PX_MSG_BYTES_MAX];

	/* Commands queued for the next flush; bodies point into the caller's datagrams. */
	uint32_t n_cmds;
	struct px_cmd_ref cmds[NODE_QUEUE_MAX];
	struct node_from cmd_src[NODE_QUEUE_MAX];

	/* Read-index reads (leader): a FIFO in ticket order, command bytes copied. */
	struct node_read *reads;     /**< conf.reads_max */
	uint8_t *read_bytes;         /**< conf.reads_max x PX_CMD_BYTES_MAX */
	uint8_t *read_reply;         /**< PX_REPLY_BYTES_MAX */
	uint32_t read_head, read_n;  /**< Invariant: read_n <= conf.reads_max */
	uint64_t read_confirmed;     /**< highest ticket confirmed since the role change */

	/* Client address table: open addressing, power-of-two entries. */
	struct node_client *clients;
	uint32_t clients_mask;
	uint64_t clients_clock;      /**< Invariant: > every entry's stamp */

	/* Commit latency (leader): when each slot of the window was proposed (0: not by
	 * this replica). */
	uint64_t *slot_t0;           /**< window_slots entries, by slot % window */

	/* Snapshots (conf.snapshot_buf): the one the buffer holds, served to peers. */
	uint64_t snap_slot;          /**< 0: the buffer holds no whole snapshot */
	uint64_t snap_id;            /**< its content hash (never 0) */
	size_t snap_len;
	bool snap_pinned;            /**< with ops->snapshot_save, not saved yet */
	uint64_t snap_saving;        /**< the slot of the snapshot being saved (pinned): a
	                                  state transfer may begin meanwhile (snap_slot 0),
	                                  but writes nothing into the buffer until it is */
	uint32_t chunks_per_tick;
	uint32_t serve_budget;       /**< chunks this tick may still serve */
	struct px_msg *smsg;         /**< a SNAP_REQ or SNAP_CHUNK being built */
	/* State transfer: the snapshot being fetched into the buffer. */
	struct {
		bool active;             /**< this replica needs one (fetching) */
		bool complete;           /**< every chunk here, hash checked: to install */
		uint64_t slot, id, total;/**< what is fetched; slot 0: nothing chosen yet */
		uint64_t chunks, got;
		uint64_t cursor;         /**< the next chunk the sweep asks for */
		uint8_t src;             /**< the replica asked */
		uint32_t turn;           /**< how many sources were tried */
		uint32_t quiet;          /**< ticks since the last useful chunk */
	} st;
	uint64_t *st_bits;           /**< chunks received, one bit each */
	uint64_t st_words;

	/* The cluster uuid (docs/protocol.md, "Cluster uuid"). */
	struct px_uuid uuid;         /**< bound by the applied log; zero before */
	struct px_uuid uuid_wire;    /**< what this replica's messages carry: the uuid, or
	                                  before it the fresh mark (conf.fresh) or zero */
	struct px_uuid bind;         /**< what this replica binds if it leads first */
	uint64_t bind_ballot;        /**< the ballot its bind was proposed at; 0: none */
	uint32_t members_seen;       /**< bit i: replica i sent the bound uuid */
	uint64_t members_ballot;     /**< the ballot a member mask was proposed at ... */
	uint32_t members_proposed;   /**< ... and that mask: once per ballot and mask */
	uint64_t fresh_start[PX_REPLICAS_MAX];/**< the fresh mark's start each replica sent
	                                  last (0: none seen): its stragglers are no new start */
	uint64_t loud_tick[PX_REPLICAS_MAX];  /**< when each peer was last logged about */
	uint64_t refuse_tick[PX_REPLICAS_MAX];/**< when each peer was last sent REFUSE */
	char refused[768];           /**< node_refused's text; empty while not refused */

	/* Authentication (docs/security.md); NULL: off (auth = off). */
	struct node_auth *au;
	struct node_from cur;        /**< the datagram node_recv handles */

	/* The remote-memory log transport (node_rm.c); NULL: off (conf.rm NULL). */
	struct node_rm *rm;

	struct node_counters c;
};

/* ---------------------------------------------------------------------------------- */
/* Small helpers                                                                       */

__attribute__((format(printf, 3, 0)))
static void vlogf_(const struct node *n, int level, const char *fmt, va_list ap)
{
	char line[512];

	if (n->ops->log == NULL)
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	n->ops->log(n->ctx, level, line);
}

__attribute__((format(printf, 3, 4)))
static void logf_(const struct node *n, int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlogf_(n, level, fmt, ap);
	va_end(ap);
}

/** Our bug (the core broke its contract, or we did): say so and stop. */
__attribute__((noreturn, format(printf, 2, 3)))
static void node_bug(const struct node *n, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n->ops->log != NULL)
		n->ops->log(n->ctx, NODE_LOG_ERROR, line);
	else
		fprintf(stderr, "node: %s\n", line);
	abort();
}

#define ALIGN64(x) (((x) + 63u) & ~(size_t)63u)

static uint32_t clients_entries(uint32_t sessions)
{
	uint32_t e = NODE_CLIENTS_MIN;
	/* Bounded: sessions <= PX_SESSIONS_MAX (2^16), so at most 17 doublings. */
	while (e < 2u * sessions && e < (1u << 20))
		e <<= 1;
	return e;
}

/* ---------------------------------------------------------------------------------- */
/* Client address table: client_id -> where its last request came from.
 * Open addressing over a power-of-two table of twice the session count, at most
 * NODE_CLIENT_PROBES probes per operation. A put that finds neither the client nor an
 * empty entry in its probe window overwrites the least recently used entry there: the
 * table is a cache, and a client whose address was lost gets no REPLY for that command;
 * its retry (same id and seq) re-records the address and is answered from the session
 * cache. No allocation, no deletion. */

static uint32_t client_home(const struct node *n, uint64_t id)
{
	/* Fibonacci hashing: ids are log positions or random nonces; both spread well. */
	return (uint32_t)((id * 0x9e3779b97f4a7c15ull) >> 32) & n->clients_mask;
}

static void client_put(struct node *n, uint64_t client_id, const struct node_from *from)
{
	uint32_t h = client_home(n, client_id);
	struct node_client *victim = NULL;

	for (uint32_t i = 0; i < NODE_CLIENT_PROBES; i++) {
		struct node_client *e = &n->clients[(h + i) & n->clients_mask];
		if (e->stamp != 0 && e->client_id == client_id) {
			victim = e;
			break;
		}
		if (victim == NULL || (victim->stamp != 0 && e->stamp < victim->stamp))
			victim = e;  /* the first empty entry, else the oldest */
	}
	if (victim->stamp != 0 && victim->client_id != client_id)
		n->c.client_evictions++;
	victim->client_id = client_id;
	victim->from = *from;
	victim->stamp = n->clients_clock++;
}

static const struct node_from *client_get(const struct node *n, uint64_t client_id)
{
	uint32_t h = client_home(n, client_id);

	for (uint32_t i = 0; i < NODE_CLIENT_PROBES; i++) {
		const struct node_client *e = &n->clients[(h + i) & n->clients_mask];
		/* An empty entry ends the search: entries are never emptied, and client_put
		 * takes the first empty one in the window, so none lies before a client's. */
		if (e->stamp == 0)
			return NULL;
		if (e->client_id == client_id)
			return &e->from;
	}
	return NULL;
}

/* ---------------------------------------------------------------------------------- */
/* Transmit                                                                            */

/** The sending direction of a datagram to dst (authenticated mode): the peer's, or
 *  the client life's that `cl` names, if its entry still holds that life. NULL: none
 *  (counted: the client's retry is answered once its entry is made again). */
static struct auth_tx *auth_for(struct node *n, const struct node_dst *dst,
				const struct node_from *cl)
{
	if (dst->peer != NODE_TO_CLIENT)
		return &n->au->tx[dst->peer];
	if (cl == NULL || cl->alife == 0)
		return NULL;
	struct node_auth_client *e = &n->au->cl[cl->aidx & n->au->clients_mask];
	if (e->life != cl->alife || e->key_id != cl->key_id || e->role != cl->role)
		return NULL;
	return &e->reply;
}

/** Appends the trailer (auth_seal) with atx; a client's reply takes the replica-wide
 *  reply counter (struct node_auth). */
static uint32_t seal(struct node *n, struct auth_tx *atx, const struct node_dst *dst,
		     uint8_t *buf, size_t len, uint32_t cap)
{
	bool client = dst->peer == NODE_TO_CLIENT;
	if (client)
		atx->ctr = n->au->reply_ctr;
	size_t out = auth_seal(atx, buf, len, cap);
	if (client)
		n->au->reply_ctr = atx->ctr;
	/* The caller left room for the trailer: a failure is our bug. */
	if (out == 0)
		node_bug(n, "no room for the trailer after %zu bytes in %u", len, cap);
	return (uint32_t)out;
}

/** Encodes m into a transmit buffer for dst (cl: the client, when dst is one); counts a
 *  datagram no buffer was had for. */
static void tx(struct node *n, const struct px_msg *m, const struct node_dst *dst,
	       const struct node_from *cl)
{
	uint32_t cap = 0;
	struct auth_tx *atx = NULL;

	if (n->au != NULL) {
		atx = auth_for(n, dst, cl);
		if (atx == NULL) {
			n->c.auth_reply_lost++;
			return;
		}
	}
	uint8_t *buf = n->ops->tx_buf(n->ctx, dst, &cap);
	if (buf == NULL) {
		n->c.tx_no_buf++;
		return;
	}
	/* The core keeps every message within PX_MSG_BYTES_MAX and a buffer holds that
	 * and a trailer (node_ops), so a failed encode is our bug, not input. */
	if (cap < PX_DGRAM_BYTES_MAX)
		node_bug(n, "a %u-byte transmit buffer (PX_DGRAM_BYTES_MAX is %u)", cap,
			 PX_DGRAM_BYTES_MAX);
	size_t len = px_encode(m, buf, PX_MSG_BYTES_MAX);
	if (len == 0)
		node_bug(n, "a message of type %u does not fit %u bytes", m->type,
			 PX_MSG_BYTES_MAX);
	if (atx != NULL)
		len = seal(n, atx, dst, buf, len, cap);
	n->ops->tx_commit(n->ctx, dst, (uint32_t)len);
}

/** Copies an encoded message of len bytes (<= PX_MSG_BYTES_MAX) into a transmit buffer
 *  for peer dst, sealed for it; counts a datagram no buffer was had for. */
static void tx_copy(struct node *n, const uint8_t *bytes, uint32_t len,
		    const struct node_dst *dst)
{
	uint32_t cap = 0;
	uint8_t *buf = n->ops->tx_buf(n->ctx, dst, &cap);

	if (buf == NULL) {
		n->c.tx_no_buf++;
		return;
	}
	if (cap < PX_DGRAM_BYTES_MAX || len > PX_MSG_BYTES_MAX)
		node_bug(n, "a %u-byte message for a %u-byte buffer", len, cap);
	/* A peer (send_msg's loop), read before the copy: gcc -O2 without LTO cannot tell
	 * that the memcpy leaves *dst alone, and saw au->tx[255] (-Warray-bounds). */
	uint8_t peer = dst->peer;
	if (peer >= n->n_replicas || peer >= PX_REPLICAS_MAX)
		node_bug(n, "tx_copy to %u", peer);
	memcpy(buf, bytes, len);
	if (n->au != NULL)
		len = seal(n, &n->au->tx[peer], dst, buf, len, cap);
	n->ops->tx_commit(n->ctx, dst, len);
}

/** A message of the core: to one peer, or to every other member. A broadcast is
 *  encoded once (n->bcast) and copied into each peer's buffer: an encode costs several
 *  copies (checks, header, crash vector, one memcpy per value), and each buffer stays
 *  independent of when the I/O layer recycles the others. */
static void send_msg(struct node *n, const struct px_msg *m)
{
	struct node_dst dst = { .peer = m->to, .client = NULL };

	if (m->to != PX_NODE_NONE) {
		if (m->to >= n->n_replicas || m->to == n->self)
			node_bug(n, "the core sent a message (type %u) to %u", m->type, m->to);
		if (n->rm != NULL && (nrm_send_accept(n, n->rm, m, m->to, NULL, 0) ||
				      nrm_quiet(n->rm, m)))
			return;
		tx(n, m, &dst, NULL);
		return;
	}
	/* Every other member of the configuration in force, and of a pending one. */
	uint32_t to = px_recipients(n->r);
	if (to == 0)
		return;
	size_t len = px_encode(m, n->bcast, sizeof(n->bcast));
	if (len == 0)
		node_bug(n, "a message of type %u does not fit %u bytes", m->type,
			 (unsigned)sizeof(n->bcast));
	for (uint8_t j = 0; j < n->n_replicas; j++) {
		if (!((to >> j) & 1u))
			continue;
		if (n->rm != NULL && nrm_send_accept(n, n->rm, m, j, n->bcast, (uint32_t)len))
			continue;
		dst.peer = j;
		tx_copy(n, n->bcast, (uint32_t)len, &dst);
	}
}

static void send_reply(struct node *n, const struct node_from *to, uint64_t client_id,
		       uint64_t seq, uint8_t status, const uint8_t *body, uint32_t len)
{
	struct px_msg *m = n->reply;   /* the header fields were set once (node_init) */
	struct node_dst dst = { .peer = NODE_TO_CLIENT, .client = &to->addr };

	m->ballot = px_promised(n->r);
	m->config_epoch = px_membership(n->r)->cur.epoch;
	m->leader_hint = px_leader_hint(n->r);
	m->client_id = client_id;
	m->seq = seq;
	m->status = status;
	m->body_len = len;
	m->body = len > 0 ? body : NULL;
	tx(n, m, &dst, to);
}

/* ---------------------------------------------------------------------------------- */
/* Effects                                                                             */

static void handle_out(struct node *n, enum node_call call, const struct px_msg *in);
static void step_msg(struct node *n, const struct px_msg *m, enum node_call call);
static void st_start(struct node *n);
static void uuid_sync(struct node *n);
static void uuid_unbound(struct node *n);
static void admin_log(struct node *n, const struct node_from *src, const char *what);
static void members_promote(struct node *n);

/** The applied log (or a snapshot) named member addresses: hand them to the I/O layer
 *  (ops->peer_addr), once per configuration that took. */
static void members_sync(struct node *n)
{
	const struct px_membership *ms = px_applier_membership(n->a);
	uint64_t conf = px_applier_counters(n->a)->conf;

	if (conf == n->conf_seen && ms->cur.epoch == n->epoch_seen)
		return;
	n->conf_seen = conf;
	if (ms->cur.epoch != n->epoch_seen && ms->cur.epoch != 0) {
		logf_(n, NODE_LOG_INFO,
		      "membership: epoch %u in force (voters 0x%03x, learners 0x%03x)%s",
		      ms->cur.epoch, ms->cur.voters, ms->cur.learners,
		      px_is_member(&ms->cur, n->self) ? "" :
		      "; this replica is no member of it: it only answers, and may be stopped");
		n->epoch_seen = ms->cur.epoch;
	}
	if (n->ops->peer_addr == NULL)
		return;
	for (uint8_t j = 0; j < PX_REPLICAS_MAX; j++) {
		const char *a = px_applier_member_addr(n->a, j);
		if (a != NULL && j != n->self)
			n->ops->peer_addr(n->ctx, j, a);
	}
}

/** Commit latency: slots [lo, hi] were just handed out as committed. */
static void note_commits(struct node *n, uint64_t lo, uint64_t hi)
{
	uint64_t now = 0;
	uint32_t w = n->conf.px.window_slots;

	if (n->ops->now_ns == NULL)
		return;
	/* Bounded by the window (the core hands out at most window_slots slots). */
	for (uint64_t s = lo; s <= hi; s++) {
		uint64_t *t0 = &n->slot_t0[s & (w - 1u)];
		if (*t0 == 0)
			continue;   /* not proposed here (a follower, or before a restart) */
		if (now == 0)
			now = n->ops->now_ns(n->ctx);
		uint64_t lat = now > *t0 ? now - *t0 : 1u;
		uint32_t b = 63u - (uint32_t)__builtin_clzll(lat);
		n->c.commit_lat[b < NODE_LAT_BUCKETS ? b : NODE_LAT_BUCKETS - 1u]++;
		n->c.commit_lat_sum_ns += lat;
		*t0 = 0;
	}
}

/** The slots [lo, hi] were just proposed here: when, for the commit latency. */
static void note_proposals(struct node *n, uint64_t lo, uint64_t hi)
{
	if (n->ops->now_ns == NULL || lo > hi)
		return;
	uint64_t now = n->ops->now_ns(n->ctx);
	/* Bounded: a call fills at most pipeline_slots slots. */
	for (uint64_t s = lo; s <= hi; s++)
		n->slot_t0[s & (n->conf.px.window_slots - 1u)] = now;
}

/** The core's persist request: the promise, the changed slots, a sync. */
static void persist(struct node *n, const struct px_out *o)
{
	if (n->ops->journal_sync == NULL)
		node_bug(n, "the core asked to persist in memory mode");
	if (o->persist_lo <= o->persist_hi &&
	    o->persist_hi - o->persist_lo >= n->conf.px.window_slots)
		node_bug(n, "persist range [%" PRIu64 ", %" PRIu64 "] exceeds the window",
			 o->persist_lo, o->persist_hi);
	n->ops->journal_promise(n->ctx, o->persist_ballot);
	if (o->persist_n_inc != 0)
		n->ops->journal_incarnation(n->ctx, o->persist_inc, o->persist_n_inc);
	/* Bounded by the window (checked above). */
	for (uint64_t s = o->persist_lo; s <= o->persist_hi; s++) {
		uint64_t vballot;
		bool chosen;
		const uint8_t *v;
		uint32_t len;
		if (px_slot_peek(n->r, s, &vballot, &chosen, &v, &len))
			n->ops->journal_slot(n->ctx, s, vballot, v, len);
	}
	n->ops->journal_sync(n->ctx, o->persist_seq, o->persist_commit);
	n->c.persists++;
}

/** Answers the queued commands from `from` on with status (BUSY, or NOT_LEADER: a
 *  replica that no longer leads) and empties the queue. */
static void answer_queue(struct node *n, uint32_t from, uint8_t status)
{
	for (uint32_t i = from; i < n->n_cmds; i++) {
		send_reply(n, &n->cmd_src[i], n->cmds[i].client_id, n->cmds[i].seq, status, NULL, 0);
		if (status == PX_BUSY)
			n->c.busy++;
		else
			n->c.not_leader++;
	}
	n->n_cmds = 0;
}

/** Leadership changed: no held read can be confirmed any more (px.h, read index). */
static void fail_reads(struct node *n)
{
	for (; n->read_n > 0; n->read_n--) {
		const struct node_read *q = &n->reads[n->read_head];
		send_reply(n, &q->src, q->client_id, q->seq, PX_NOT_LEADER, NULL, 0);
		n->c.reads_failed++;
		n->read_head = (n->read_head + 1u) % n->conf.reads_max;
	}
	n->read_confirmed = 0;
}

/** Serves the held reads whose ticket is confirmed and whose read index is applied,
 *  in ticket order (read indexes never decrease along it). */
static void serve_reads(struct node *n)
{
	/* Bounded: each pass serves one read. */
	while (n->read_n > 0) {
		const struct node_read *q = &n->reads[n->read_head];
		uint64_t applied = px_applier_last_slot(n->a);
		if (q->ticket > n->read_confirmed || applied < q->index)
			return;
		uint32_t rlen = 0;
		uint8_t status = PX_OK;
		const uint8_t *cmd = n->read_bytes + (size_t)n->read_head * PX_CMD_BYTES_MAX;
		/* Only px_apply_is_read() commands are held (on_request): a failure is ours. */
		if (px_apply_read(n->a, cmd, q->len, n->read_reply, PX_REPLY_BYTES_MAX, &rlen,
				  &status) != 0)
			node_bug(n, "px_apply_read refused a read it called a read");
		if (n->have_obs && n->obs.read_served != NULL)
			n->obs.read_served(n->obs.ctx, q->ticket, q->index, applied, q->client_id,
					   q->seq, status, n->read_reply, rlen);
		send_reply(n, &q->src, q->client_id, q->seq, status, n->read_reply, rlen);
		n->c.reads_index++;
		n->read_head = (n->read_head + 1u) % n->conf.reads_max;
		n->read_n--;
	}
}

static void on_role(struct node *n, enum px_role role)
{
	enum px_role was = n->role;
	uint64_t b = px_promised(n->r);

	n->c.role_changes++;
	n->role = role;
	/* Info: leadership won or lost, recovery done; the rest (pre-vote, candidacy) is
	 * debug, as it can be frequent on a flaky network. */
	bool notable = role == PX_LEADER || was == PX_LEADER || was == PX_RECOVERING ||
		       role == PX_RECOVERING;
	logf_(n, notable ? NODE_LOG_INFO : NODE_LOG_DEBUG,
	      "role %s -> %s (ballot %" PRIu64 ".%u, commit %" PRIu64 ")%s", px_role_name(was),
	      px_role_name(role), px_ballot_round(b), px_ballot_node(b), px_commit(n->r),
	      was == PX_RECOVERING ? ": recovered, voting again" : "");
	n->lead_first_pending = role == PX_LEADER;
	n->lead_commit_from = px_commit(n->r);
	n->lead_won_ns = n->ops->now_ns != NULL ? n->ops->now_ns(n->ctx) : 0;
}

/** Every replica says when the leader it knows changes and when its failure detector
 *  suspects the leader; a leader says when it steps down for want of a quorum (heard
 *  from fewer than a majority within an election timeout), and then, once a leader is
 *  known again, that a quorum is back. A few compares per call into the core; a line
 *  only on a change (docs/operations.md, "Logs"). */
static void watch_leader(struct node *n)
{
	const struct px_counters *pc = px_counters(n->r);
	uint8_t l = px_leader_hint(n->r);

	if (pc->suspicions == n->suspicions_seen &&
	    pc->stepdowns_check_quorum == n->stepdowns_seen && l == n->leader_seen)
		return;   /* the common case: three compares */
	uint64_t b = px_promised(n->r);
	if (pc->suspicions != n->suspicions_seen) {
		n->suspicions_seen = pc->suspicions;
		if (n->leader_seen != PX_NODE_NONE)
			logf_(n, NODE_LOG_WARN,
			      "leader %u suspected: no word from it for an election timeout (ballot %" PRIu64 ".%u, commit %" PRIu64 ")",
			      n->leader_seen, px_ballot_round(b), px_ballot_node(b), px_commit(n->r));
	}
	if (pc->stepdowns_check_quorum != n->stepdowns_seen) {
		n->stepdowns_seen = pc->stepdowns_check_quorum;
		n->quorum_lost = true;
		logf_(n, NODE_LOG_WARN,
		      "quorum lost: as leader, heard from fewer than a majority within an election timeout; stepping down (commit %" PRIu64 ")",
		      px_commit(n->r));
	}
	if (l == n->leader_seen)
		return;
	char was[8] = "none", now[8] = "none";
	if (n->leader_seen != PX_NODE_NONE)
		snprintf(was, sizeof(was), "%u", n->leader_seen);
	if (l != PX_NODE_NONE)
		snprintf(now, sizeof(now), "%u", l);
	logf_(n, NODE_LOG_INFO, "leader %s -> %s (ballot %" PRIu64 ".%u, commit %" PRIu64 ", role %s)",
	      was, now, px_ballot_round(b), px_ballot_node(b), px_commit(n->r),
	      px_role_name(px_role(n->r)));
	n->leader_seen = l;
	if (n->quorum_lost && l != PX_NODE_NONE) {
		n->quorum_lost = false;
		logf_(n, NODE_LOG_INFO, "quorum regained: leader %u holds a majority's votes", l);
	}
}

/** Logs a leadership's first commit, with the clock (CLOCK_MONOTONIC in paxwired over
 *  UDP, the TSC calibrated against it with DPDK): bench/failover reads the line. */
static void note_first_commit(struct node *n)
{
	if (!n->lead_first_pending || px_commit(n->r) <= n->lead_commit_from)
		return;
	n->lead_first_pending = false;
	if (n->ops->now_ns == NULL)
		return;
	uint64_t now = n->ops->now_ns(n->ctx);
	logf_(n, NODE_LOG_INFO,
	      "first commit as leader: slot %" PRIu64 " at mono_ns %" PRIu64 ", %" PRIu64
	      " us after winning (mono_ns %" PRIu64 ")", px_commit(n->r), now,
	      (now - n->lead_won_ns) / 1000u, n->lead_won_ns);
}

/** Applies the chosen slots [lo, hi] in order; the leader answers their clients. */
static void apply_range(struct node *n, uint64_t lo, uint64_t hi)
{
	/* Bounded by the window: the core hands out at most window_slots chosen slots. */
	for (uint64_t s = lo; s <= hi; s++) {
		uint32_t len = 0;
		const uint8_t *v = px_slot_value(n->r, s, &len);
		if (v == NULL)
			node_bug(n, "slot %" PRIu64 " to apply is not held (commit %" PRIu64 ")", s,
				 px_commit(n->r));
		if (px_applier_last_slot(n->a) + 1u != s)
			node_bug(n, "slot %" PRIu64 " handed out to apply after slot %" PRIu64, s,
				 px_applier_last_slot(n->a));
		if (n->have_obs && n->obs.apply_begin != NULL)
			n->obs.apply_begin(n->obs.ctx, s, v, len);
		px_apply_slot(n->a, s, v, len, n->aout);
		if (n->have_obs && n->obs.apply_end != NULL)
			n->obs.apply_end(n->obs.ctx, s, n->aout);
		/* Only the leader answers: followers apply the same log silently. */
		if (px_role(n->r) == PX_LEADER) {
			for (uint32_t k = 0; k < n->aout->n; k++) {
				const struct px_reply *rp = &n->aout->replies[k];
				if (rp->client_id == 0 && rp->seq == 0)
					continue;   /* a bind (uuid_bind_propose): no client */
				const struct node_from *to = client_get(n, rp->client_id);
				if (to == NULL) {
					n->c.reply_no_addr++;
					continue;
				}
				send_reply(n, to, rp->client_id, rp->seq, rp->status, rp->data,
					   rp->len);
				n->c.replies++;
			}
		}
		px_applied(n->r, s);
	}
	uuid_sync(n);
	members_sync(n);
}

static void handle_out(struct node *n, enum node_call call, const struct px_msg *in)
{
	struct px_out *o = n->out;

	if (o->apply_lo <= o->apply_hi)
		note_commits(n, o->apply_lo, o->apply_hi);
	if (o->persist_seq != 0)
		persist(n, o);
	for (uint32_t i = 0; i < o->n_msgs; i++) {
		o->msgs[i].uuid = n->uuid_wire;
		send_msg(n, &o->msgs[i]);
	}
	if (o->read_confirmed > n->read_confirmed)
		n->read_confirmed = o->read_confirmed;
	if (o->role_changed) {
		on_role(n, o->role);
		fail_reads(n);
	}
	watch_leader(n);
	note_first_commit(n);
	/* Commands wait for the next flush only at a leader (node_flush answers those it
	 * holds itself). */
	if (!n->flushing && n->n_cmds > 0 && px_role(n->r) != PX_LEADER)
		answer_queue(n, 0, PX_NOT_LEADER);
	if (o->state_transfer_needed && !n->st.active)
		st_start(n);
	if (n->have_obs && n->obs.step != NULL)
		n->obs.step(n->obs.ctx, call, in, o);
	if (o->apply_lo <= o->apply_hi) {
		apply_range(n, o->apply_lo, o->apply_hi);
		if (n->conf.snapshot_every != 0 && !n->snap_pinned &&
		    px_applier_last_slot(n->a) - n->snap_slot >= n->conf.snapshot_every)
			(void)node_snapshot_take(n);
	}
	if (n->read_n > 0)
		serve_reads(n);
	if (n->rm != NULL && !nrm_after_call(n, n->rm)) {
		uint64_t wb = 0;
		uint8_t w = nrm_writer(n->rm, &wb);
		node_bug(n, "rm: replica %u may write this log at ballot %#" PRIx64 " but the "
			 "promise is %#" PRIx64 ": the core promised without the fence", w, wb,
			 px_promised(n->r));
	}
}

/* ---------------------------------------------------------------------------------- */
/* Life                                                                                */

/** Where node_init carves the arena (node_arena_bytes sums the same). */
struct layout {
	size_t node, replica, applier, out, aout, msg, reply, smsg, reads, read_bytes,
		read_reply, clients, slot_t0, st_bits, auth, auth_cl, rm, total;
	uint32_t auth_n;
	uint64_t st_words;
	size_t replica_len, applier_len;
	uint32_t clients_n;
};

static bool conf_ok(const struct node_conf *c, const char **why)
{
	const char *w = NULL;

	if (px_config_check(&c->px, &w) != 0)
		;
	else if (c->sessions == 0 || c->sessions > PX_SESSIONS_MAX)
		w = "sessions must be in [1, 65536]";
	else if (c->reads_max > NODE_READS_MAX)
		w = "reads_max must be at most 256";
	else if (c->queue_max == 0 || c->queue_max > NODE_QUEUE_MAX)
		w = "queue_max must be in [1, 256]";
	else if ((c->snapshot_buf == NULL) != (c->snapshot_bytes == 0))
		w = "snapshot_buf and snapshot_bytes go together";
	else if (c->transfer_chunks_per_tick > NODE_TRANSFER_CHUNKS_MAX)
		w = "transfer_chunks_per_tick must be at most 1024";
	else if (c->keys != NULL &&
		 (c->keys->kind != AUTH_KIND_CLUSTER || c->keys->n == 0 ||
		  c->keys->n > AUTH_KEYS_MAX || c->keys->send >= c->keys->n))
		w = "keys must be a cluster key file's";
	else if (c->keys != NULL && c->auth_life == 0)
		w = "auth_life must be set with keys (auth_life_now)";
	else if (c->keys != NULL && (c->auth_clients > NODE_AUTH_CLIENTS_MAX ||
				     (c->auth_clients & (c->auth_clients - 1u)) != 0 ||
				     (c->auth_clients != 0 && c->auth_clients < NODE_CLIENT_PROBES)))
		w = "auth_clients must be a power of two in [8, 65536] (0: the default)";
	else if (c->keys != NULL && !auth_available())
		w = "authentication needs AES-256-GCM, which libsodium runs only on a CPU with "
		    "AES-NI and PCLMUL; this one has not both (docs/security.md)";
	else
		w = nrm_conf_check(c);
	if (why != NULL)
		*why = w;
	return w == NULL;
}

static void layout(const struct node_conf *c, struct layout *l)
{
	size_t off = 0;

	l->replica_len = px_replica_arena_bytes(&c->px);
	l->applier_len = px_applier_arena_bytes(c->sessions);
	l->clients_n = clients_entries(c->sessions);
#define PLACE(field, bytes) do { l->field = off; off += ALIGN64(bytes); } while (0)
	PLACE(node, sizeof(struct node));
	PLACE(replica, l->replica_len);
	PLACE(applier, l->applier_len);
	PLACE(out, sizeof(struct px_out));
	PLACE(aout, sizeof(struct px_apply_out));
	PLACE(msg, sizeof(struct px_msg));
	PLACE(reply, sizeof(struct px_msg));
	PLACE(smsg, sizeof(struct px_msg));
	PLACE(reads, (size_t)c->reads_max * sizeof(struct node_read));
	PLACE(read_bytes, (size_t)c->reads_max * PX_CMD_BYTES_MAX);
	PLACE(read_reply, PX_REPLY_BYTES_MAX);
	PLACE(clients, (size_t)l->clients_n * sizeof(struct node_client));
	PLACE(slot_t0, (size_t)c->px.window_slots * sizeof(uint64_t));
	l->st_words = (c->snapshot_bytes / PX_SNAP_CHUNK_BYTES + 1u + 63u) / 64u;
	PLACE(st_bits, (size_t)l->st_words * sizeof(uint64_t));
	l->auth_n = c->keys == NULL ? 0
		  : c->auth_clients != 0 ? c->auth_clients : NODE_AUTH_CLIENTS_DEFAULT;
	PLACE(auth, c->keys != NULL ? sizeof(struct node_auth) : 0);
	PLACE(auth_cl, (size_t)l->auth_n * sizeof(struct node_auth_client));
	PLACE(rm, nrm_bytes(c));
#undef PLACE
	l->total = off + 64;   /* room to align the arena's start */
}

size_t node_arena_bytes(const struct node_conf *c)
{
	struct layout l;

	if (!conf_ok(c, NULL))
		return 0;
	layout(c, &l);
	return l.total;
}

/** Authenticated mode: the keys copied, a sending direction per peer, none heard. */
static void auth_setup(struct node *n, const struct node_conf *c, struct node_auth *au,
		       struct node_auth_client *cl, uint32_t entries)
{
	memset(au, 0, sizeof(*au));
	memset(cl, 0, (size_t)entries * sizeof(*cl));
	au->keys = *c->keys;
	au->life = c->auth_life;
	au->cl = cl;
	au->clients_mask = entries - 1u;
	uint8_t s = au->keys.send;
	for (uint8_t j = 0; j < n->n_replicas; j++) {
		uint8_t key[AUTH_KEY_BYTES];
		auth_rx_init(&au->rx[j], true);
		if (j == n->self)
			continue;
		auth_peer_life_key(au->keys.key[s], c->px.cluster_id, n->self, j, au->life, key);
		auth_tx_init(&au->tx[j], key, n->self, au->keys.gen[s], AUTH_ROLE_PEER, au->life);
		sodium_memzero(key, sizeof(key));
	}
	n->au = au;
}

struct node *node_init(const struct node_conf *c, const struct px_service *svc,
		       const struct node_ops *ops, void *ctx, const struct node_observer *obs,
		       void *arena, size_t len, const char **why)
{
	struct layout l;
	const char *w = NULL;

	if (why != NULL)
		*why = NULL;
	if (!conf_ok(c, &w) || svc == NULL || ops == NULL || ops->tx_buf == NULL ||
	    ops->tx_commit == NULL ||
	    (c->px.durability == PX_DURABLE &&
	     (ops->journal_promise == NULL || ops->journal_slot == NULL ||
	      ops->journal_sync == NULL || ops->journal_incarnation == NULL))) {
		if (why != NULL)
			*why = w != NULL ? w : "ops: tx_buf and tx_commit are required, and the "
					       "journal in durable mode";
		errno = EINVAL;
		return NULL;
	}
	layout(c, &l);
	if (arena == NULL || len < l.total) {
		errno = ENOSPC;
		return NULL;
	}
	uint8_t *base = (uint8_t *)ALIGN64((uintptr_t)arena);
	struct node *n = (struct node *)(base + l.node);
	memset(n, 0, sizeof(*n));
	n->conf = *c;
	n->ops = ops;
	n->ctx = ctx;
	if (obs != NULL) {
		n->obs = *obs;
		n->have_obs = true;
	}
	n->svc = *svc;
	n->self = c->px.self;
	n->n_replicas = PX_REPLICAS_MAX;
	n->out = (struct px_out *)(base + l.out);
	n->aout = (struct px_apply_out *)(base + l.aout);
	n->msg = (struct px_msg *)(base + l.msg);
	n->reply = (struct px_msg *)(base + l.reply);
	n->reads = (struct node_read *)(base + l.reads);
	n->read_bytes = base + l.read_bytes;
	n->read_reply = base + l.read_reply;
	n->clients = (struct node_client *)(base + l.clients);
	n->clients_mask = l.clients_n - 1u;
	n->clients_clock = 1;
	n->slot_t0 = (uint64_t *)(base + l.slot_t0);
	n->smsg = (struct px_msg *)(base + l.smsg);
	n->st_bits = (uint64_t *)(base + l.st_bits);
	n->st_words = l.st_words;
	n->chunks_per_tick = c->transfer_chunks_per_tick != 0 ? c->transfer_chunks_per_tick
							      : NODE_TRANSFER_CHUNKS_DEFAULT;
	n->serve_budget = 2u * n->chunks_per_tick;
	memset(n->clients, 0, (size_t)l.clients_n * sizeof(struct node_client));
	memset(n->slot_t0, 0, (size_t)c->px.window_slots * sizeof(uint64_t));

	n->r = px_replica_init(&c->px, base + l.replica, l.replica_len);
	if (n->r == NULL)
		return NULL;   /* errno from px_replica_init */
	n->a = px_applier_init(c->sessions, &n->svc, base + l.applier, l.applier_len);
	if (n->a == NULL)
		return NULL;
	px_applier_set_membership(n->a, px_membership(n->r));
	n->epoch_seen = px_membership(n->r)->cur.epoch;
	if (c->snapshot_bytes != 0 && c->snapshot_bytes < px_applier_snapshot_max(n->a)) {
		if (why != NULL)
			*why = "snapshot_bytes is below what a snapshot of this service and "
			       "session table can take (px_applier_snapshot_max)";
		errno = EINVAL;
		return NULL;
	}
	n->role = px_role(n->r);
	n->leader_seen = PX_NODE_NONE;

	/* The REPLY header, once: only the per-reply fields change (send_reply). */
	memset(n->reply, 0, offsetof(struct px_msg, entries));
	n->reply->type = PX_MSG_REPLY;
	n->reply->from = n->self;
	n->reply->to = PX_NODE_NONE;
	n->reply->cluster_id = c->px.cluster_id;
	n->reply->config_epoch = c->px.config_epoch;
	n->reply->n_inc = 0;   /* client messages may carry no crash vector */

	n->bind = px_uuid_is_id(c->bind) ? c->bind : (struct px_uuid){ 0, 0 };
	uuid_unbound(n);
	n->conf.keys = NULL;   /* the caller's: copied below */
	if (c->keys != NULL)
		auth_setup(n, c, (struct node_auth *)(base + l.auth),
			   (struct node_auth_client *)(base + l.auth_cl), l.auth_n);
	if (c->rm != NULL) {
		n->rm = nrm_init(c, base + l.rm, &w);
		if (n->rm == NULL) {
			if (why != NULL)
				*why = w;
			return NULL;   /* errno from nrm_init */
		}
	}
	return n;
}

/**
 * The applier was rebuilt from state the core never saw (a journal replayed, a snapshot
 * installed): the core takes the membership the applier followed to that state. A
 * snapshot older than PXSNAP04 knows none: the applier takes the core's instead.
 */
static int members_from_applier(struct node *n)
{
	const struct px_membership *ms = px_applier_membership(n->a);

	if (ms->cur.epoch == 0) {
		if (px_membership(n->r)->cur.epoch != 0)
			px_applier_set_membership(n->a, px_membership(n->r));
		return 0;
	}
	if (px_restore_membership(n->r, ms, px_applier_last_slot(n->a)) != 0)
		return -EINVAL;
	members_sync(n);
	return 0;
}

int node_restore(struct node *n, const struct node_journal *j, struct node_restored *res)
{
	struct node_restored r = {0, 0, 0, 0};
	uint64_t vballot, applied = 0;
	const uint8_t *value;
	uint32_t len;

	if (n->conf.px.durability != PX_DURABLE || n->conf.px.restarted ||
	    px_last_slot(n->r) != 0 || px_applier_last_slot(n->a) != 0)
		return -EINVAL;
	if (px_restore_promise(n->r, j->promised) != 0)
		return -EINVAL;
	if (j->n_inc != 0 && px_restore_incarnations(n->r, j->incarnation, j->n_inc) != 0)
		return -EINVAL;
	/* A snapshot first (the journal below it may be compacted away). */
	if (j->snapshot != NULL) {
		if (px_applier_restore(n->a, j->snapshot, j->snapshot_len) != 0)
			return -EINVAL;
		applied = px_applier_last_slot(n->a);
		if (j->snapshot == n->conf.snapshot_buf) {
			/* Served as it is until a newer one is taken. */
			n->snap_slot = applied;
			n->snap_len = j->snapshot_len;
			n->snap_id = wire_snap_hash(j->snapshot, j->snapshot_len);
		}
		if (n->have_obs && n->obs.installed != NULL)
			n->obs.installed(n->obs.ctx, applied);
	}
	/* The state machine is rebuilt from the journal's chosen prefix: every slot up to
	 * the recorded commit point, while the journal holds it. Bounded by the journal. */
	for (uint64_t s = applied + 1; s <= j->commit && s <= j->hi; s++) {
		if (!j->slot(j->jctx, s, &vballot, &value, &len))
			break;
		if (n->have_obs && n->obs.apply_begin != NULL)
			n->obs.apply_begin(n->obs.ctx, s, value, len);
		px_apply_slot(n->a, s, value, len, n->aout);
		if (n->have_obs && n->obs.apply_end != NULL)
			n->obs.apply_end(n->obs.ctx, s, n->aout);
		applied = s;
		r.replayed++;
	}
	if (members_from_applier(n) != 0)
		return -EINVAL;
	if (applied > 0 && px_restore_applied(n->r, applied) != 0)
		return -EINVAL;
	/* The votes above it. -EINVAL: the replica cannot hold the slot (beyond its window
	 * after a restart): a forgotten accepted value, which the replica accounts for by
	 * needing a state transfer (px_restore_slot); counted. */
	for (uint64_t s = applied + 1; s <= j->hi; s++) {
		if (!j->slot(j->jctx, s, &vballot, &value, &len))
			continue;
		if (px_restore_slot(n->r, s, vballot, value, len) == 0)
			r.restored++;
		else
			r.rejected++;
	}
	/* History below the applied point, newest first, while the window holds it: the
	 * restarted replica can then serve catch-up for it (as a leader must). */
	for (uint64_t s = applied; s >= 1; s--) {
		if (!j->slot(j->jctx, s, &vballot, &value, &len) ||
		    px_restore_slot(n->r, s, vballot, value, len) != 0)
			break;
		r.history++;
	}
	n->role = px_role(n->r);
	uuid_sync(n);
	if (res != NULL)
		*res = r;
	return 0;
}

int node_start_from(struct node *n, const uint8_t *snapshot, size_t len)
{
	uint64_t slot = 0, chain = 0;

	/* A replica that never ran: nothing applied, held, promised, stepped or ticked. */
	if (px_last_slot(n->r) != 0 || px_applier_last_slot(n->a) != 0 ||
	    px_promised(n->r) != 0 || n->c.steps != 0 || n->c.ticks != 0 ||
	    n->conf.px.restarted)
		return -EINVAL;
	if (snapshot == NULL || !px_snapshot_peek(snapshot, len, &slot, &chain) || slot == 0 ||
	    slot > PX_SLOT_MAX)
		return -EBADMSG;
	if (px_applier_restore(n->a, snapshot, len) != 0)
		return -EBADMSG;   /* the applier is empty again (px_applier_restore) */
	/* A new cluster: its cluster file's membership, not the backup's. */
	px_applier_set_membership(n->a, px_membership(n->r));
	px_out_reset(n->out);
	if (px_start_from(n->r, slot, n->out) != 0)
		node_bug(n, "px_start_from(%" PRIu64 ") refused a replica that never ran", slot);
	if (snapshot == n->conf.snapshot_buf) {
		/* Served to peers as it is until a newer one is taken. */
		n->snap_slot = slot;
		n->snap_len = len;
		n->snap_id = wire_snap_hash(snapshot, len);
	}
	if (n->have_obs && n->obs.installed != NULL)
		n->obs.installed(n->obs.ctx, slot);
	logf_(n, NODE_LOG_INFO,
	      "started from a snapshot of slot %" PRIu64 " (%zu bytes): the next slot is %" PRIu64,
	      slot, len, slot + 1u);
	uuid_sync(n);
	/* Durable mode: the core's persist request (the commit point) goes to the journal. */
	handle_out(n, NODE_CALL_INSTALL, NULL);
	n->role = px_role(n->r);
	return 0;
}

/* ---------------------------------------------------------------------------------- */
/* Snapshots and state transfer (docs/storage.md, "State transfer")                    *
 *
 * One buffer (conf.snapshot_buf) holds either the snapshot this replica serves or the
 * one it fetches: a replica that needs state has none worth serving. The receiver
 * pulls: SNAP_REQ(need, slot, id, off) for up to chunks_per_tick chunks a tick, a
 * sweep over the chunks still missing, so a lost request or chunk is asked again on
 * the next lap; the server answers each with one SNAP_CHUNK, at most twice that many a
 * tick. Any replica whose applied state covers `need` serves, followers first (the
 * leader's loop is the cluster's commit path). A source that says SNAP_NONE or stays
 * silent for a while is replaced by the next. A snapshot is named by (slot, content
 * hash): chunks of another are not mixed in, and a newer one replaces an older one
 * being fetched. Once whole and its hash checked, the applier is restored from it and
 * the core told (px_state_installed); the leader's catch-up brings the slots after. */

static bool st_bit(const struct node *n, uint64_t c)
{
	return (n->st_bits[c / 64u] >> (c % 64u)) & 1u;
}

/** Forgets the snapshot being fetched (not the need: the next lap asks again). */
static void st_reset_target(struct node *n)
{
	n->st.slot = 0;
	n->st.id = 0;
	n->st.total = 0;
	n->st.chunks = 0;
	n->st.got = 0;
	n->st.cursor = 0;
	n->st.complete = false;
}

/** The source for this turn: the followers in turn, then the leader (its loop
 *  commits). Chosen again each tick until a snapshot is chosen, as the leader becomes
 *  known (a restarted replica does not know it at first). */
static void st_pick_source(struct node *n)
{
	uint8_t leader = px_leader_hint(n->r);
	uint8_t cand[PX_REPLICAS_MAX];
	uint32_t k = 0;

	const struct px_members *cur = &px_membership(n->r)->cur;
	for (uint8_t j = 0; j < n->n_replicas; j++)
		if (j != n->self && j != leader && px_is_member(cur, j))
			cand[k++] = j;
	if (leader != PX_NODE_NONE && leader != n->self)
		cand[k++] = leader;
	if (k == 0)
		return;   /* a single replica never needs state transfer */
	n->st.src = cand[n->st.turn % k];
}

static void st_switch(struct node *n)
{
	n->c.st_source_switches++;
	n->st.turn++;
	n->st.quiet = 0;
	st_pick_source(n);
}

/** Silence from a source this long (ticks) and the next one is asked. */
static uint32_t st_quiet_max(const struct node *n)
{
	uint32_t e = n->conf.px.election_ticks;
	return 2u * e > 16u ? 2u * e : 16u;
}

static void snap_msg_init(struct node *n, uint8_t type, uint8_t to)
{
	struct px_msg *m = n->smsg;

	memset(m, 0, offsetof(struct px_msg, entries));
	m->type = type;
	m->from = n->self;
	m->to = to;
	m->cluster_id = n->conf.px.cluster_id;
	m->config_epoch = px_membership(n->r)->cur.epoch;
	m->uuid = n->uuid_wire;
	m->ballot = px_promised(n->r);
	m->n_inc = 0;   /* outside the core: no crash vector */
}

static void st_request(struct node *n, uint64_t off)
{
	struct node_dst dst = { .peer = n->st.src, .client = NULL };

	snap_msg_init(n, PX_MSG_SNAP_REQ, n->st.src);
	n->smsg->slot_lo = px_state_transfer_need(n->r);
	n->smsg->slot_hi = n->st.slot;
	n->smsg->nonce = n->st.id;
	n->smsg->snap_off = off;
	tx(n, n->smsg, &dst, NULL);
	n->c.st_requests_out++;
}

static void st_start(struct node *n)
{
	if (n->st.active)
		return;
	if (n->conf.snapshot_bytes == 0 || px_applier_snapshot_max(n->a) == 0) {
		if (!n->warned_state_transfer) {
			n->warned_state_transfer = true;
			logf_(n, NODE_LOG_WARN,
			      "this replica fell behind the cluster's window and needs a state transfer, but %s: it keeps voting but stops applying; rebuild it",
			      n->conf.snapshot_bytes == 0 ? "it has no snapshot buffer"
							  : "its service has no snapshots");
		}
		return;
	}
	memset(&n->st, 0, sizeof(n->st));
	n->st.active = true;
	n->snap_slot = 0;   /* the buffer is the fetch's now */
	n->c.st_started++;
	st_pick_source(n);
	logf_(n, NODE_LOG_INFO,
	      "state transfer: this replica needs the state after slot %" PRIu64
	      " (applied %" PRIu64 "); asking replica %u",
	      px_state_transfer_need(n->r), px_applier_last_slot(n->a), n->st.src);
}

/** The snapshot fetched is whole: restore the applier from it and tell the core. */
static void st_install(struct node *n)
{
	uint64_t need = px_state_transfer_need(n->r), slot = 0, chain = 0;

	if (n->st.slot < need) {
		/* The cluster moved past it while it came: fetch a newer one. */
		n->c.st_stale++;
		st_reset_target(n);
		return;
	}
	if (px_role(n->r) != PX_FOLLOWER)
		return;   /* recovering: installed once recovery completes (node_tick) */
	if (!px_snapshot_peek(n->conf.snapshot_buf, n->st.total, &slot, &chain) ||
	    slot != n->st.slot || px_applier_restore(n->a, n->conf.snapshot_buf, n->st.total) != 0) {
		n->c.st_restore_failed++;
		logf_(n, NODE_LOG_WARN,
		      "state transfer: the snapshot of slot %" PRIu64 " from replica %u does not restore; asking another replica",
		      n->st.slot, n->st.src);
		st_reset_target(n);
		st_switch(n);
		return;
	}
	if (members_from_applier(n) != 0) {
		n->c.st_restore_failed++;
		st_reset_target(n);
		st_switch(n);
		return;
	}
	px_out_reset(n->out);
	if (px_state_installed(n->r, slot, n->out) != 0)
		node_bug(n, "px_state_installed(%" PRIu64 ") refused (need %" PRIu64 ")", slot,
			 need);
	n->c.st_installed++;
	n->st.active = false;
	uuid_sync(n);
	n->snap_slot = slot;
	n->snap_id = n->st.id;
	n->snap_len = n->st.total;
	logf_(n, NODE_LOG_INFO,
	      "state transfer: installed the snapshot of slot %" PRIu64 " (%" PRIu64
	      " bytes, from replica %u); catching up from the log",
	      slot, n->st.total, n->st.src);
	if (n->have_obs && n->obs.installed != NULL)
		n->obs.installed(n->obs.ctx, slot);
	if (n->ops->snapshot_save != NULL) {
		n->snap_pinned = true;
		n->snap_saving = n->snap_slot;
		n->ops->snapshot_save(n->ctx, n->snap_slot, n->snap_id, n->conf.snapshot_buf,
				      n->snap_len);
	}
	handle_out(n, NODE_CALL_INSTALL, NULL);
}

/** Once a tick: ask for what is missing, within the rate limit. */
static void st_tick(struct node *n)
{
	if (!n->st.active) {
		if (px_needs_state_transfer(n->r))
			st_start(n);
		return;
	}
	if (n->snap_pinned)
		return;   /* the buffer is still being saved */
	if (n->st.complete) {
		st_install(n);
		return;
	}
	if (++n->st.quiet > st_quiet_max(n))
		st_switch(n);
	if (n->st.slot == 0) {
		/* Followers first: a replica that just restarted does not know the leader
		 * yet; wait for it a while (half the silence bound) before asking anyone. */
		if (px_leader_hint(n->r) == PX_NODE_NONE && n->st.turn == 0 &&
		    n->st.quiet < st_quiet_max(n) / 2u)
			return;
		st_pick_source(n);
		st_request(n, 0);
		return;
	}
	/* A sweep over the missing chunks; bounded by the rate limit and by one lap. */
	uint32_t sent = 0;
	for (uint64_t k = 0; k < n->st.chunks && sent < n->chunks_per_tick; k++) {
		uint64_t c = n->st.cursor;
		n->st.cursor = c + 1u < n->st.chunks ? c + 1u : 0;
		if (!st_bit(n, c)) {
			st_request(n, c * PX_SNAP_CHUNK_BYTES);
			sent++;
		}
	}
}

static void on_snap_chunk(struct node *n, const struct px_msg *m)
{
	if (!n->st.active || n->st.complete || n->snap_pinned) {
		n->c.st_late_chunks++;   /* after the install, or a second answer */
		return;
	}
	if (m->flags & PX_MF_SNAP_NONE) {
		n->c.st_none_in++;
		if (m->from == n->st.src)
			st_switch(n);
		return;
	}
	if (m->slot_hi != n->st.slot || m->nonce != n->st.id || m->snap_total != n->st.total) {
		/* Another snapshot: taken if it covers what we need, fits, and is newer than
		 * the one being fetched (a source that took a newer one, or another source). */
		if (m->slot_hi < px_state_transfer_need(n->r) || m->slot_hi > PX_SLOT_MAX ||
		    m->nonce == 0 || m->snap_total == 0 ||
		    m->snap_total > n->conf.snapshot_bytes ||
		    (n->st.slot != 0 && m->slot_hi <= n->st.slot)) {
			n->c.st_bad_chunk++;
			return;
		}
		st_reset_target(n);
		n->st.slot = m->slot_hi;
		n->st.id = m->nonce;
		n->st.total = m->snap_total;
		n->st.chunks = (m->snap_total + PX_SNAP_CHUNK_BYTES - 1u) / PX_SNAP_CHUNK_BYTES;
		memset(n->st_bits, 0, (size_t)((n->st.chunks + 63u) / 64u) * sizeof(uint64_t));
	}
	/* The codec checked off + len <= total; total fits the buffer (above). */
	uint64_t c = m->snap_off / PX_SNAP_CHUNK_BYTES;
	uint64_t want = m->snap_total - m->snap_off < PX_SNAP_CHUNK_BYTES ?
				m->snap_total - m->snap_off : PX_SNAP_CHUNK_BYTES;
	if (m->snap_off % PX_SNAP_CHUNK_BYTES != 0 || m->body_len != want) {
		n->c.st_bad_chunk++;
		return;
	}
	if (st_bit(n, c))
		return;   /* a duplicate: the sweep asked twice */
	memcpy(n->conf.snapshot_buf + m->snap_off, m->body, m->body_len);
	n->st_bits[c / 64u] |= 1ull << (c % 64u);
	n->st.got++;
	n->st.quiet = 0;
	n->c.st_chunks_in++;
	n->c.st_bytes_in += m->body_len;
	if (n->st.got < n->st.chunks)
		return;
	if (wire_snap_hash(n->conf.snapshot_buf, n->st.total) != n->st.id) {
		n->c.st_hash_mismatch++;
		logf_(n, NODE_LOG_WARN,
		      "state transfer: the snapshot of slot %" PRIu64 " from replica %u fails its hash; fetching again",
		      n->st.slot, n->st.src);
		st_reset_target(n);
		st_switch(n);
		return;
	}
	n->st.complete = true;
	st_install(n);
}

/** A peer (or a tool) asks for a chunk of our snapshot. */
static void on_snap_req(struct node *n, const struct px_msg *m, const struct node_from *src)
{
	struct node_dst dst = { .peer = m->from, .client = NULL };
	uint8_t to = m->from;
	uint64_t off = 0;

	if (m->from == n->self) {
		n->c.st_bad_chunk++;
		return;
	}
	if (m->from == PX_NODE_NONE) {
		dst.peer = NODE_TO_CLIENT;
		dst.client = &src->addr;
		if (m->snap_off == 0 && m->nonce == 0)
			admin_log(n, src, "backup: a snapshot asked for");
	}
	if (n->serve_budget == 0) {
		n->c.st_throttled++;
		return;
	}
	n->serve_budget--;
	bool match = n->snap_slot != 0 && m->slot_hi == n->snap_slot && m->nonce == n->snap_id &&
		     m->snap_off % PX_SNAP_CHUNK_BYTES == 0 && m->snap_off < n->snap_len;
	if (match) {
		off = m->snap_off;
	} else if (n->st.active || px_role(n->r) == PX_RECOVERING ||
		   px_applier_last_slot(n->a) < m->slot_lo ||
		   ((n->snap_slot == 0 || n->snap_slot < m->slot_lo) && node_snapshot_take(n) != 0)) {
		/* We need state ourselves, are behind what it needs, or cannot take one. */
		snap_msg_init(n, PX_MSG_SNAP_CHUNK, to);
		n->smsg->flags = PX_MF_SNAP_NONE;
		n->smsg->slot_hi = m->slot_lo;
		tx(n, n->smsg, &dst, src);
		n->c.st_refused++;
		return;
	}
	snap_msg_init(n, PX_MSG_SNAP_CHUNK, to);
	n->smsg->slot_hi = n->snap_slot;
	n->smsg->nonce = n->snap_id;
	n->smsg->snap_total = n->snap_len;
	n->smsg->snap_off = off;
	n->smsg->body_len = (uint32_t)(n->snap_len - off < PX_SNAP_CHUNK_BYTES ? n->snap_len - off
									       : PX_SNAP_CHUNK_BYTES);
	n->smsg->body = n->conf.snapshot_buf + off;
	tx(n, n->smsg, &dst, src);
	n->c.st_chunks_out++;
	n->c.st_bytes_out += n->smsg->body_len;
}

int node_snapshot_take(struct node *n)
{
	if (n->conf.snapshot_bytes == 0 || px_applier_snapshot_max(n->a) == 0)
		return -ENOTSUP;
	if (n->snap_pinned || n->st.active)
		return -EBUSY;
	if (px_applier_last_slot(n->a) == 0)
		return -EAGAIN;   /* nothing applied: nothing to serve */
	uint64_t t0 = n->ops->now_ns != NULL ? n->ops->now_ns(n->ctx) : 0;
	size_t len = px_applier_snapshot(n->a, n->conf.snapshot_buf, n->conf.snapshot_bytes);
	if (len == 0)
		node_bug(n, "px_applier_snapshot wrote nothing into %zu bytes", n->conf.snapshot_bytes);
	n->snap_len = len;
	n->snap_slot = px_applier_last_slot(n->a);
	n->snap_id = wire_snap_hash(n->conf.snapshot_buf, len);
	n->c.snapshots_taken++;
	n->c.snapshot_bytes_last = len;
	if (n->ops->now_ns != NULL) {
		n->c.snapshot_ns_last = n->ops->now_ns(n->ctx) - t0;
		if (n->c.snapshot_ns_last > n->c.snapshot_ns_max)
			n->c.snapshot_ns_max = n->c.snapshot_ns_last;
	}
	if (n->ops->snapshot_save != NULL) {
		n->snap_pinned = true;
		n->snap_saving = n->snap_slot;
		n->ops->snapshot_save(n->ctx, n->snap_slot, n->snap_id, n->conf.snapshot_buf, len);
	}
	return 0;
}

void node_snapshot_saved(struct node *n, uint64_t slot, bool ok)
{
	if (!n->snap_pinned || slot != n->snap_saving)
		node_bug(n, "node_snapshot_saved(%" PRIu64 ") but slot %" PRIu64 " is %s", slot,
			 n->snap_saving, n->snap_pinned ? "being saved" : "not being saved");
	n->snap_pinned = false;
	if (ok)
		n->c.snapshots_saved++;
}

uint64_t node_snapshot_slot(const struct node *n, uint64_t *id, size_t *len)
{
	if (id != NULL)
		*id = n->snap_id;
	if (len != NULL)
		*len = n->snap_len;
	return n->snap_slot;
}

bool node_transferring(const struct node *n) { return n->st.active; }

/* ---------------------------------------------------------------------------------- */
/* The cluster uuid (docs/protocol.md, "Cluster uuid")                                 *
 *
 * The first leader of a new cluster proposes a bind (px_apply.h): the first one the log
 * chooses names the cluster, on every replica alike, and snapshots keep it. Every
 * message carries the sender's: a peer message with another cluster's is dropped and
 * said loudly; one with the fresh mark (a first start, paxwired --bootstrap) from a
 * replica this one has heard as a member is answered REFUSE, and the refused replica
 * stops (node_refused): its start forgot promises and votes of its earlier life.    */

#define UUID_FMT "%016" PRIx64 "%016" PRIx64
#define UUID_ARGS(u) (u).hi, (u).lo
/** Ticks between two loud lines about one peer, and between two REFUSEs to it. */
#define UUID_LOUD_TICKS 4096u
#define UUID_REFUSE_TICKS 64u

/** What messages carry while no uuid is bound: the fresh mark of this start, or zero. */
static void uuid_unbound(struct node *n)
{
	n->uuid_wire.lo = n->conf.fresh ? PX_UUID_FRESH_WORD : 0;
	/* Names this start (non-zero): its own stragglers are not taken for a new one. */
	n->uuid_wire.hi = n->conf.fresh ? (n->conf.bind.hi ^ n->conf.px.seed ^
					   n->conf.px.boot_nonce) | 1u : 0;
	n->reply->uuid = n->uuid_wire;
}

/** The applied state may have bound the uuid (a slot, a snapshot): take it. */
static void uuid_sync(struct node *n)
{
	struct px_uuid u = px_applier_uuid(n->a);

	if (px_uuid_eq(u, n->uuid))
		return;
	n->uuid = u;
	n->members_seen = 0;
	if (px_uuid_is_id(u)) {
		n->uuid_wire = u;
		logf_(n, NODE_LOG_INFO, "cluster uuid " UUID_FMT " (applied slot %" PRIu64 ")",
		      UUID_ARGS(u), px_applier_last_slot(n->a));
		n->reply->uuid = n->uuid_wire;
	} else {
		uuid_unbound(n);
	}
}

/** Once per peer per UUID_LOUD_TICKS: true if a line about peer may be logged now. */
static bool uuid_loud(struct node *n, uint8_t peer)
{
	uint64_t now = n->c.ticks + 1u;

	if (n->loud_tick[peer] != 0 && now - n->loud_tick[peer] < UUID_LOUD_TICKS)
		return false;
	n->loud_tick[peer] = now;
	return true;
}

/** A replica's message: admitted by its uuid, or dropped (counted, said, answered). */
static bool uuid_admit(struct node *n, const struct px_msg *m)
{
	struct px_uuid u = m->uuid;
	uint8_t from = m->from;

	if (from == PX_NODE_NONE)
		return true;   /* a client or a tool: the cluster file's id was checked */
	if (from == n->self) {
		/* No replica sends to itself: a forged or mangled datagram. Answering it (a
		 * REFUSE to a fresh mark) would send to this replica itself, which the
		 * transports assert against (pw-attack forge --only from_self). */
		n->c.decode_drops[PX_WIRE_E_SENDER]++;
		return false;
	}
	if (px_uuid_is_id(u)) {
		if (!px_uuid_is_id(n->uuid))
			return true;   /* this replica learns its uuid from the log */
		if (!px_uuid_eq(u, n->uuid)) {
			n->c.uuid_other++;
			if (uuid_loud(n, from))
				logf_(n, NODE_LOG_ERROR,
				      "replica %u belongs to another cluster (uuid " UUID_FMT
				      "; this one's is " UUID_FMT "): its messages are dropped. "
				      "Two clusters share this cluster file's addresses and id, or a "
				      "data dir of another cluster was given to replica %u; fix: give "
				      "each replica its own cluster's data dir, or a distinct "
				      "cluster_id to each cluster (docs/operations.md, \"Bootstrap guard\")",
				      from, UUID_ARGS(u), UUID_ARGS(n->uuid), from);
			return false;
		}
		n->members_seen |= 1u << from;
		return true;
	}
	if (!px_uuid_fresh(u))
		return true;   /* a restart that learns the uuid again */
	if (!px_uuid_is_id(n->uuid) || !(node_uuid_members(n) & (1u << from)) ||
	    n->fresh_start[from] == u.hi) {
		/* Not known as a member yet (a first start, or a late one), or a straggler
		 * from the start heard before it knew the uuid: welcome. */
		n->fresh_start[from] = u.hi;
		return true;
	}
	/* Another first start of a member this replica has heard in its cluster. */
	n->c.fresh_refused++;
	uint64_t now = n->c.ticks + 1u;
	if (n->refuse_tick[from] == 0 || now - n->refuse_tick[from] >= UUID_REFUSE_TICKS) {
		struct node_dst dst = { .peer = from, .client = NULL };
		n->refuse_tick[from] = now;
		snap_msg_init(n, PX_MSG_REFUSE, from);
		tx(n, n->smsg, &dst, NULL);
	}
	if (uuid_loud(n, from))
		logf_(n, NODE_LOG_ERROR,
		      "replica %u was started as the first start of a new cluster (--bootstrap), "
		      "but it is a member of this running cluster (uuid " UUID_FMT "): refused, "
		      "its messages are dropped; fix: restart replica %u without --bootstrap",
		      from, UUID_ARGS(n->uuid), from);
	return false;
}

/**
 * A REFUSE: a peer knows this replica as a member; a fresh start stops. Not once it
 * bound the uuid: a bound replica sends no fresh mark, so a REFUSE then answers a
 * straggler of its own first start (a member that learned of it from the log's member
 * mask never saw that start's messages). Binding needs the log up to the bind, which a
 * refused start does not get: the members that know it drop its acks (the leader never
 * counts it as replied, so sends it no catch-up) and its SNAP_REQs.
 */
static void on_refuse(struct node *n, const struct px_msg *m)
{
	n->c.refuse_in++;
	if (!n->conf.fresh || px_uuid_is_id(n->uuid) || !px_uuid_is_id(m->uuid) ||
	    m->to != n->self || n->refused[0] != 0)
		return;   /* not a fresh start (or already refused): nothing to act on */
	snprintf(n->refused, sizeof(n->refused),
		 "refused by replica %u: replica %u is a member of the running cluster " UUID_FMT
		 ", so this start with --bootstrap (the first start of a NEW cluster) has "
		 "forgotten the promises and votes of its earlier life and must not vote; fix: "
		 "restart it without --bootstrap (memory mode: it recovers from its peers; "
		 "durable: it replays its data dir); to start a new cluster instead, stop every "
		 "replica of the old one first (docs/operations.md, \"Bootstrap guard\")",
		 m->from, n->self, UUID_ARGS(m->uuid));
	logf_(n, NODE_LOG_ERROR, "%s", n->refused);
}

/**
 * A leader of a cluster with no uuid yet proposes its bind, once per ballot. A leader
 * of a bound cluster that heard members the log does not record yet proposes the
 * grown mask (once per ballot and mask): every replica then knows them as members, a
 * restarted one too once it caught up, and refuses their first starts.
 */
static void uuid_bind_propose(struct node *n)
{
	uint8_t body[PX_MEMBERS_BYTES];
	struct px_cmd_ref c = { .client_id = 0, .seq = 0, .body = body };
	uint64_t b = px_promised(n->r);

	if (!px_uuid_is_id(n->bind) || px_role(n->r) != PX_LEADER)
		return;
	if (!px_uuid_is_id(n->uuid)) {
		if (n->bind_ballot == b)
			return;
		px_bind_body(n->bind, body);
		c.len = PX_UUID_BYTES;
		if (node_propose(n, &c, 1) == 1) {
			n->bind_ballot = b;
			n->c.binds_proposed++;
		}
		return;
	}
	uint32_t known = px_applier_members(n->a);
	uint32_t mask = known | n->members_seen | (1u << n->self);
	if (mask == known || (n->members_ballot == b && n->members_proposed == mask))
		return;
	px_members_body(n->uuid, mask, body);
	c.len = PX_MEMBERS_BYTES;
	if (node_propose(n, &c, 1) == 1) {
		n->members_ballot = b;
		n->members_proposed = mask;
		n->c.members_proposed++;
	}
}

struct px_uuid node_uuid(const struct node *n) { return n->uuid; }

uint64_t node_auth_life(const struct node *n) { return n->au != NULL ? n->au->life : 0; }

uint32_t node_uuid_members(const struct node *n)
{
	return n->members_seen | px_applier_members(n->a);
}

const char *node_refused(const struct node *n) { return n->refused[0] != 0 ? n->refused : NULL; }

/* ---------------------------------------------------------------------------------- */
/* Authentication (docs/security.md): the trailer is checked before anything decodes  */

/** Names a client's address and key in the log: admin actions say who asked. */
static void admin_log_at(struct node *n, int level, const struct node_from *src,
			 const char *what)
{
	char addr[80];

	if (n->ops->log == NULL)
		return;
	if (n->ops->addr_name != NULL) {
		n->ops->addr_name(n->ctx, &src->addr, addr, sizeof(addr));
	} else {
		for (unsigned i = 0; i < 12; i++)
			snprintf(addr + 2 * i, sizeof(addr) - 2 * i, "%02x", src->addr.b[i]);
	}
	if (src->alife != 0)
		logf_(n, level, "admin: %s (from %s, %s key %u)", what, addr,
		      src->role == AUTH_ROLE_ADMIN ? "admin" : "client", src->key_id);
	else
		logf_(n, level, "admin: %s (from %s, no authentication)", what, addr);
}

static void admin_log(struct node *n, const struct node_from *src, const char *what)
{
	admin_log_at(n, NODE_LOG_INFO, src, what);
}

static int auth_gen(const struct node *n, uint8_t gen)
{
	for (uint8_t i = 0; i < n->au->keys.n; i++)
		if (n->au->keys.gen[i] == gen)
			return i;
	return -1;
}

struct peer_derive {
	const struct node *n;
	uint8_t from;
};

static void peer_derive(void *ctx, const struct auth_trailer *t, uint8_t key[AUTH_KEY_BYTES])
{
	const struct peer_derive *d = ctx;
	const struct node *n = d->n;
	/* auth_in checked the generation. */
	int g = auth_gen(n, t->gen);
	auth_peer_life_key(n->au->keys.key[g], n->conf.px.cluster_id, d->from, n->self, t->life,
			   key);
}

struct client_derive {
	const struct node *n;
	int g;
	bool challenge;
};

/** A client life's request key: bound to this replica's life, or (a challenge) to none. */
static void client_derive(void *ctx, const struct auth_trailer *t, uint8_t key[AUTH_KEY_BYTES])
{
	const struct client_derive *d = ctx;
	const struct node *n = d->n;
	uint8_t kc[AUTH_KEY_BYTES];
	auth_client_key(n->au->keys.key[d->g], (enum auth_role)t->role, t->key_id, kc);
	auth_req_life_key(kc, n->conf.px.cluster_id, n->self, t->life,
			  d->challenge ? 0 : n->au->life, key);
	sodium_memzero(kc, sizeof(kc));
}

static uint32_t auth_home(const struct node *n, const struct auth_trailer *t)
{
	uint64_t h = (t->life ^ ((uint64_t)t->key_id << 8) ^ t->role) * 0x9e3779b97f4a7c15ull;
	return (uint32_t)(h >> 32) & n->au->clients_mask;
}

/** A client's datagram: its life's entry (made once its first datagram is authentic;
 *  the least recently used entry of the probe window makes room). A challenge (sealed
 *  without this replica's life) is checked with its own key and window. */
static enum auth_err auth_client_in(struct node *n, const struct auth_trailer *t, int g,
				    const uint8_t *buf, size_t msg_len)
{
	struct node_auth *au = n->au;
	uint32_t h = auth_home(n, t);
	struct node_auth_client *victim = NULL;
	uint32_t vidx = 0;
	bool challenge = (t->flags & AUTH_TF_CHALLENGE) != 0;
	struct client_derive d = { .n = n, .g = g, .challenge = challenge };

	for (uint32_t i = 0; i < NODE_CLIENT_PROBES; i++) {
		uint32_t k = (h + i) & au->clients_mask;
		struct node_auth_client *e = &au->cl[k];
		if (e->life == t->life && e->key_id == t->key_id && e->role == t->role) {
			enum auth_err err = auth_open(challenge ? &e->rx0 : &e->rx, t, buf, msg_len,
						      client_derive, &d);
			if (err == AUTH_OK) {
				e->stamp = ++au->clock;
				n->cur.aidx = k;
			}
			return err;
		}
		if (victim == NULL || (victim->life != 0 && e->stamp < victim->stamp)) {
			victim = e;   /* the first empty entry, else the least recently used */
			vidx = k;
		}
	}
	/* A new life: authentic before it takes an entry. */
	struct auth_rx rx;
	auth_rx_init(&rx, false);
	enum auth_err err = auth_open(&rx, t, buf, msg_len, client_derive, &d);
	if (err != AUTH_OK)
		return err;
	if (victim->life != 0)
		n->c.auth_evictions++;
	n->c.auth_lives++;
	victim->life = t->life;
	auth_rx_init(&victim->rx, false);
	auth_rx_init(&victim->rx0, false);
	if (challenge)
		victim->rx0 = rx;
	else
		victim->rx = rx;
	sodium_memzero(&rx, sizeof(rx));
	victim->key_id = t->key_id;
	victim->role = t->role;
	victim->stamp = ++au->clock;
	uint8_t kc[AUTH_KEY_BYTES], key[AUTH_KEY_BYTES];
	auth_client_key(au->keys.key[g], (enum auth_role)t->role, t->key_id, kc);
	auth_reply_life_key(kc, n->conf.px.cluster_id, n->self, au->life, t->life, key);
	auth_tx_init(&victim->reply, key, n->self, t->gen, AUTH_ROLE_PEER, au->life);
	sodium_memzero(key, sizeof(key));
	sodium_memzero(kc, sizeof(kc));
	n->cur.aidx = vidx;
	return AUTH_OK;
}

/** Checks a datagram's trailer (authenticated mode). @return its message's length, or
 *  0: dropped and counted by reason. Sets n->cur's client fields. */
static uint32_t auth_in(struct node *n, const uint8_t *buf, uint32_t len)
{
	struct auth_trailer t;
	size_t msg_len = 0;
	enum auth_err e = auth_parse(buf, len, &t, &msg_len);

	if (e == AUTH_OK) {
		/* The header's bytes, read raw: the codec checks them after the tag does. */
		uint8_t type = buf[PX_WIRE_OFF_TYPE], from = buf[PX_WIRE_OFF_FROM];
		int g = auth_gen(n, t.gen);
		if (t.role == AUTH_ROLE_PEER) {
			if (t.key_id != from || from >= n->n_replicas || from == n->self ||
			    type == PX_MSG_REQUEST) {
				e = AUTH_E_SENDER;
			} else if (g < 0) {
				e = AUTH_E_GEN;
			} else {
				struct peer_derive d = { n, from };
				e = auth_open(&n->au->rx[from], &t, buf, msg_len, peer_derive, &d);
			}
		} else {
			if (from != PX_NODE_NONE ||
			    (type != PX_MSG_REQUEST && type != PX_MSG_SNAP_REQ))
				e = AUTH_E_SENDER;
			else if (g < 0)
				e = AUTH_E_GEN;
			else
				e = auth_client_in(n, &t, g, buf, msg_len);
			/* Admin requests and a tool's snapshot (a backup) need an admin key, except
			 * PX_ADMIN_MEMBERS (read only: who the members are and where), which
			 * clients ask to find a cluster whose membership changed. Raw bytes: a
			 * client REQUEST has no crash vector, its body follows client id, seq
			 * and body length (the codec checks them all next). */
			bool members_q = msg_len == PX_WIRE_HDR_BYTES + 21u &&
					 buf[PX_WIRE_OFF_N_INC] == 0 &&
					 wire_ld32(buf + PX_WIRE_HDR_BYTES + 16u) == 1u &&
					 buf[PX_WIRE_HDR_BYTES + 20u] == PX_ADMIN_MEMBERS;
			if (e == AUTH_OK && t.role != AUTH_ROLE_ADMIN &&
			    (type == PX_MSG_SNAP_REQ ||
			     ((buf[PX_WIRE_OFF_FLAGS] & PX_MF_ADMIN) != 0 && !members_q)))
				e = AUTH_E_ADMIN;
			if (e == AUTH_OK) {
				n->cur.alife = t.life;
				n->cur.key_id = t.key_id;
				n->cur.role = t.role;
				n->cur.challenge = (t.flags & AUTH_TF_CHALLENGE) != 0;
			}
		}
	}
	if (e != AUTH_OK) {
		n->c.auth_drops[e]++;
		/* Logged with its source, but not at the rate anyone with a client key can
		 * send: the first 8, then at each power of two (the counter has them all). */
		uint64_t na = n->c.auth_drops[AUTH_E_ADMIN];
		if (e == AUTH_E_ADMIN && (na <= 8u || (na & (na - 1u)) == 0)) {
			n->cur.alife = t.life;   /* named in the log; no reply is sent */
			n->cur.key_id = t.key_id;
			n->cur.role = t.role;
			admin_log_at(n, NODE_LOG_WARN, &n->cur,
				     "refused: an admin request with a client key");
		}
		return 0;
	}
	return (uint32_t)msg_len;
}

/* ---------------------------------------------------------------------------------- */
/* Input                                                                               */

/** An admin REQUEST (PX_MF_ADMIN), answered at once, never logged. */
/** PX_ADMIN_MEMBERS: the membership this replica knows, as JSON (docs/operations.md). */
static uint32_t members_json(struct node *n, char *buf, uint32_t cap)
{
	const struct px_membership *ms = px_membership(n->r);
	bool lead = px_role(n->r) == PX_LEADER;
	uint64_t commit = px_commit(n->r);
	uint32_t all = (uint32_t)ms->cur.voters | ms->cur.learners | ms->next.voters |
		       ms->next.learners;
	size_t o = 0;

#define J(...) do { if (o < cap) o += (size_t)snprintf(buf + o, cap - o, __VA_ARGS__); } while (0)
	J("{\"id\":%u,\"epoch\":%u,\"alpha\":%u,\"commit\":%" PRIu64 ",\"leader\":%d,"
	  "\"next_epoch\":%u,\"next_from_slot\":%" PRIu64 ",\"members\":[",
	  n->self, ms->cur.epoch, ms->alpha, commit,
	  px_leader_hint(n->r) == PX_NODE_NONE ? -1 : (int)px_leader_hint(n->r),
	  ms->next_eff != 0 ? ms->next.epoch : 0, ms->next_eff);
	bool first = true;
	for (uint8_t j = 0; j < PX_REPLICAS_MAX; j++) {
		if (!((all >> j) & 1u))
			continue;
		const char *role = px_is_voter(&ms->cur, j) ? "voter"
				   : px_is_member(&ms->cur, j) ? "learner" : "joining";
		if (ms->next_eff != 0 && px_is_member(&ms->cur, j) && !px_is_member(&ms->next, j))
			role = "leaving";
		const char *a = px_applier_member_addr(n->a, j);
		J("%s{\"id\":%u,\"role\":\"%s\",\"addr\":\"%s\"", first ? "" : ",", j, role,
		  a != NULL ? a : "");
		if (lead && j != n->self) {
			uint64_t ack = px_peer_ack(n->r, j);
			J(",\"ack\":%" PRIu64 ",\"lag\":%" PRIu64, ack, ack < commit ? commit - ack : 0);
		} else if (lead) {
			J(",\"ack\":%" PRIu64 ",\"lag\":0", commit);
		}
		J("}");
		first = false;
	}
	J("]}");
#undef J
	return o < cap ? (uint32_t)o : cap - 1u;
}

static void on_admin(struct node *n, const struct px_msg *m, const struct node_from *src)
{
	uint8_t status = PX_BAD_COMMAND;

	n->c.admin++;
	if ((m->body_len == 1 || m->body_len == 2) && m->body[0] == PX_ADMIN_STATS) {
		admin_log_at(n, NODE_LOG_DEBUG, src, "stats");
		uint8_t page = m->body_len == 2 ? m->body[1] : 0u;
		uint32_t len = n->ops->admin_stats == NULL ? 0u :
			n->ops->admin_stats(n->ctx, page, (char *)n->read_reply, PX_REPLY_BYTES_MAX);
		if (len == 0) {   /* no metrics, or no such page */
			send_reply(n, src, m->client_id, m->seq, PX_BAD_COMMAND, NULL, 0);
			return;
		}
		if (len > PX_REPLY_BYTES_MAX)
			node_bug(n, "admin_stats wrote %u bytes", len);
		send_reply(n, src, m->client_id, m->seq, PX_OK, n->read_reply, len);
		return;
	}
	if (m->body_len == 1 && m->body[0] == PX_ADMIN_MEMBERS) {
		uint32_t len = members_json(n, (char *)n->read_reply, PX_REPLY_BYTES_MAX);
		send_reply(n, src, m->client_id, m->seq, PX_OK, n->read_reply, len);
		return;
	}
	if ((m->body_len >= 3 && m->body_len <= 2 + PX_CONF_ADDR_BYTES - 1 &&
	     m->body[0] == PX_ADMIN_ADD) ||
	    (m->body_len == 2 && m->body[0] == PX_ADMIN_REMOVE)) {
		char addr[PX_CONF_ADDR_BYTES] = { 0 };
		bool add = m->body[0] == PX_ADMIN_ADD;
		uint8_t id = m->body[1];
		if (add)
			memcpy(addr, m->body + 2, m->body_len - 2u);
		/* Text only: no NUL, nothing a log line would carry oddly. */
		for (uint32_t k = 0; add && addr[k] != 0; k++)
			if (addr[k] < 0x21 || addr[k] > 0x7e)
				addr[0] = 0;
		int64_t rc = add ? node_add_member(n, id, addr) : node_remove_member(n, id);
		uint32_t len = 0;
		if (rc == -EAGAIN && px_role(n->r) != PX_LEADER) {
			send_reply(n, src, m->client_id, m->seq, PX_NOT_LEADER, NULL, 0);
			n->c.not_leader++;
			return;
		}
		const char *why = rc > 0 ? NULL : rc == -EPERM ? n->conf.members_fixed
				 : rc == -EAGAIN ? "a membership change is under way (wait until it is in force: pwctl members)"
				 : rc == -ENOTSUP ? "membership changes need durability = durable (docs/consistency.md, Membership changes)"
				 : rc == -EEXIST ? "a replica ran with this id in this cluster: ids are never reused (pick another id, 0-8)"
				 : add ? "id already a member, out of range (0-8), too many learners (4), or the address is empty, over 31 characters or not printable"
				       : "id no member, or removing it would leave fewer than 3 voters";
		if (rc > 0)
			len = (uint32_t)snprintf((char *)n->read_reply, PX_REPLY_BYTES_MAX,
						 "{\"slot\":%" PRId64 ",\"epoch\":%u}", rc,
						 px_membership(n->r)->cur.epoch + 1u);
		else
			len = (uint32_t)snprintf((char *)n->read_reply, PX_REPLY_BYTES_MAX,
						 "{\"error\":\"%s\"}", why);
		/* JSON: the texts are ours, but a members_fixed text may quote. */
		for (uint32_t k = 10; rc <= 0 && k + 2 < len; k++)
			if (n->read_reply[k] == '"' || n->read_reply[k] == '\\')
				n->read_reply[k] = '\'';
		char what[320];
		snprintf(what, sizeof(what), "%s member %u%s%s: %s", add ? "add" : "remove", id,
			 add ? " at " : "", add ? addr : "", rc > 0 ? "proposed" : why);
		admin_log(n, src, what);
		send_reply(n, src, m->client_id, m->seq,
			   rc > 0 ? PX_OK : rc == -EAGAIN ? PX_BUSY : PX_BAD_COMMAND,
			   n->read_reply, len);
		return;
	}
	if (m->body_len == 2 && m->body[0] == PX_ADMIN_TRANSFER) {
		if (px_role(n->r) != PX_LEADER) {
			send_reply(n, src, m->client_id, m->seq, PX_NOT_LEADER, NULL, 0);
			n->c.not_leader++;
			return;
		}
		uint8_t target = m->body[1];
		if (target == n->self) {
			status = PX_OK;   /* already there */
		} else {
			int rc = node_transfer(n, target);
			status = rc == 0 ? PX_OK : rc == -EAGAIN ? PX_BUSY : PX_BAD_COMMAND;
			char what[96];
			snprintf(what, sizeof(what), "transfer leadership to %u: %s", target,
				 rc == 0 ? "started" : strerror(-rc));
			admin_log(n, src, what);
		}
	}
	send_reply(n, src, m->client_id, m->seq, status, NULL, 0);
}

/**
 * Authenticated mode: a session is its registering key's (docs/security.md,
 * "Sessions"). A REGISTER must carry its key's tag in its nonce's top bits (the
 * applier keeps it as the session's owner); a command or read is served only to the
 * owner's key. A session the applier does not hold yet (its registration applied here
 * later) is answered BUSY, so that nothing reaches the log unchecked; one it no longer
 * holds goes on to the log, which answers SESSION_EXPIRED on every replica alike.
 * @return true to go on; false: answered here.
 */
static bool owner_ok(struct node *n, const struct px_msg *m, const struct node_from *src,
		     bool reg)
{
	uint32_t tag = px_owner_tag(src->key_id, src->role == AUTH_ROLE_ADMIN);
	uint32_t owner = 0;

	if (reg) {
		if (px_session_owner(m->client_id) == tag)
			return true;
		send_reply(n, src, m->client_id, m->seq, PX_BAD_COMMAND, NULL, 0);
		n->c.auth_owner_other++;
		return false;
	}
	if (px_applier_session_owner(n->a, m->client_id, &owner)) {
		if (owner == tag)
			return true;
		/* Another key's session: as if it were gone (the client registers again,
		 * under its own key). */
		send_reply(n, src, m->client_id, m->seq, PX_SESSION_EXPIRED, NULL, 0);
		n->c.auth_owner_other++;
		return false;
	}
	if (m->client_id / PX_BATCH_CMDS_MAX > px_applier_last_slot(n->a)) {
		send_reply(n, src, m->client_id, m->seq, PX_BUSY, NULL, 0);
		n->c.busy++;
		return false;
	}
	return true;
}

/** A resend of a request still queued or held: the first copy will be answered. */
static bool already_here(const struct node *n, uint64_t client_id, uint64_t seq)
{
	for (uint32_t i = 0; i < n->n_cmds; i++)
		if (n->cmds[i].client_id == client_id && n->cmds[i].seq == seq)
			return true;
	for (uint32_t i = 0, k = n->read_head; i < n->read_n;
	     i++, k = (k + 1u) % n->conf.reads_max)
		if (n->reads[k].client_id == client_id && n->reads[k].seq == seq)
			return true;
	return false;
}

/** A read of a session the applier holds, at a leader ready for it: held until its
 *  ticket is confirmed and its read index applied. false: it goes through the log. */
static bool try_read_index(struct node *n, const struct px_msg *m, const struct node_from *src)
{
	uint64_t last_seq = 0, index = 0;

	if (!px_applier_session_peek(n->a, m->client_id, &last_seq) || !px_read_ready(n->r))
		return false;
	if (n->read_n == n->conf.reads_max) {
		send_reply(n, src, m->client_id, m->seq, PX_BUSY, NULL, 0);
		n->c.busy++;
		return true;
	}
	px_out_reset(n->out);
	uint64_t t = px_read_begin(n->r, n->out, &index);
	if (t != 0) {
		uint32_t k = (n->read_head + n->read_n) % n->conf.reads_max;
		struct node_read *q = &n->reads[k];
		q->ticket = t;
		q->index = index;
		q->client_id = m->client_id;
		q->seq = m->seq;
		q->src = *src;
		q->len = m->body_len;
		memcpy(n->read_bytes + (size_t)k * PX_CMD_BYTES_MAX, m->body, m->body_len);
		n->read_n++;
		if (n->have_obs && n->obs.read_begin != NULL)
			n->obs.read_begin(n->obs.ctx, t, index);
	}
	/* The round's ACCEPTs (a single replica confirms here, and serves). */
	handle_out(n, NODE_CALL_READ, NULL);
	return t != 0;   /* px_read_ready said yes: 0 is not expected, but the log is safe */
}

/** @return whether a command now points into the request's bytes (queued, and not
 *  proposed by a flush within this call). */
static bool on_request(struct node *n, const struct px_msg *m, const struct node_from *src)
{
	n->c.requests++;
	if (m->flags & PX_MF_ADMIN) {
		on_admin(n, m, src);
		return false;
	}
	if (px_role(n->r) != PX_LEADER) {
		/* The hint names a replica; its address is in the client's copy of the config. */
		send_reply(n, src, m->client_id, m->seq, PX_NOT_LEADER, NULL, 0);
		n->c.not_leader++;
		return false;
	}
	/* In the log, seq 0 means "register" (px_apply.h): only a REGISTER request becomes
	 * one, and only in its one form (seq 0, no body, a nonce). A plain seq 0 (pwctl's
	 * probe) or a malformed REGISTER is no command: answered here, never logged. */
	bool reg = (m->flags & PX_MF_REGISTER) != 0;
	if (reg ? m->seq != 0 || m->body_len != 0 || m->client_id == 0 : m->seq == 0) {
		send_reply(n, src, m->client_id, m->seq, PX_BAD_COMMAND, NULL, 0);
		n->c.bad_requests++;
		return false;
	}
	if (n->au != NULL && !owner_ok(n, m, src, reg))
		return false;
	if (already_here(n, m->client_id, m->seq)) {
		n->c.duplicates++;
		return false;
	}
	/* A read of a session the applier holds goes by read index, without a log slot;
	 * any other read goes through the log (which answers an evicted or unknown session
	 * SESSION_EXPIRED, so its client registers again), as does one the leader cannot
	 * take yet (its phase-1 slots not committed). */
	if (!reg && n->conf.reads_max > 0 && px_apply_is_read(n->a, m->body, m->body_len)) {
		if (try_read_index(n, m, src))
			return false;
		n->c.reads_logged++;
	}
	if (reg)
		n->c.registers++;
	if (n->n_cmds == n->conf.queue_max) {
		send_reply(n, src, m->client_id, m->seq, PX_BUSY, NULL, 0);
		n->c.busy++;
		return false;
	}
	/* The body stays in the caller's datagram until the next flush (px_propose copies
	 * it into the log slot). A registration is queued as the command (nonce, seq 0, no
	 * body); its reply comes back to the nonce, which is what the address table is
	 * keyed by until the client has its id. */
	struct px_cmd_ref *c = &n->cmds[n->n_cmds];
	c->client_id = m->client_id;
	c->seq = m->seq;
	c->len = m->body_len;
	c->body = m->body;
	n->cmd_src[n->n_cmds] = *src;
	n->n_cmds++;
	/* A full batch goes at once (adaptive batching: otherwise whatever the flush finds). */
	if (n->n_cmds >= n->conf.px.batch_cmds_max) {
		node_flush(n);
		return false;
	}
	return true;
}

/**
 * A client's challenge (AUTH_TF_CHALLENGE: sealed without this replica's life, so
 * possibly a capture from before this replica started, replayed): acted on only when
 * acting changes nothing, a probe (seq 0, no REGISTER, no admin); anything else is
 * answered BUSY (NOT_LEADER at a follower), whose trailer names this life, so that the
 * client sends it again bound to it. A tool's SNAP_REQ is dropped (pwctl probes first).
 * @return true to go on with the message.
 */
static bool on_challenge(struct node *n, const struct px_msg *m, const struct node_from *f)
{
	n->c.auth_challenges++;
	if (m->type != PX_MSG_REQUEST)
		return false;
	if (m->seq == 0 && (m->flags & (PX_MF_REGISTER | PX_MF_ADMIN)) == 0)
		return true;   /* a probe: its answer is the same whoever sent it */
	/* An admin request is any member's to answer: BUSY sends it back here. */
	bool here = px_role(n->r) == PX_LEADER || (m->flags & PX_MF_ADMIN) != 0;
	send_reply(n, f, m->client_id, m->seq, here ? PX_BUSY : PX_NOT_LEADER, NULL, 0);
	return false;
}

bool node_recv(struct node *n, const uint8_t *buf, uint32_t len, const struct node_addr *src)
{
	struct px_msg *m = n->msg;
	struct node_from *f = &n->cur;

	f->addr = *src;
	f->alife = 0;
	f->aidx = 0;
	f->key_id = 0;
	f->role = 0;
	f->challenge = false;
	if (n->au != NULL) {
		len = auth_in(n, buf, len);
		if (len == 0)
			return false;
	}
	enum px_wire_err e = px_decode(buf, len, n->conf.px.cluster_id, n->n_replicas, m);

	if (e != PX_WIRE_OK) {
		n->c.decode_drops[e]++;
		return false;
	}
	n->c.msgs_in[m->type]++;   /* the codec admits only types below PX_MSG_TYPE_MAX */
	if (n->refused[0] != 0 || !uuid_admit(n, m))
		return false;
	if (f->challenge && !on_challenge(n, m, f))
		return false;
	switch (m->type) {
	case PX_MSG_REQUEST:
		return on_request(n, m, f);
	case PX_MSG_REPLY:
		n->c.unexpected++;
		return false;
	case PX_MSG_REFUSE:
		on_refuse(n, m);
		return false;
	case PX_MSG_SNAP_REQ:
	case PX_MSG_SNAP_CHUNK: {
		/* Not for this replica, or from a replica of no configuration it knows at
		 * an epoch no newer than its own (a removed one): dropped, counted, as the
		 * core drops such messages (PX_DROP_NOT_MEMBER). A tool's SNAP_REQ (from
		 * PX_NODE_NONE: a backup) may say any epoch, as it knows none; it only
		 * reads. */
		if (m->to != n->self ||
		    (m->from != PX_NODE_NONE && !px_heard_from(n->r, m->from, m->config_epoch))) {
			n->c.st_misaddressed++;
			return false;
		}
		if (m->type == PX_MSG_SNAP_REQ)
			on_snap_req(n, m, f);
		else
			on_snap_chunk(n, m);
		return false;
	}
	case PX_MSG_RM:
		/* Setup of the remote-memory transport: for this replica, from a member,
		 * both bound to the same cluster uuid. A replica that has not bound it (a
		 * first start, a restart still catching up to the bind) catches up over
		 * datagrams, where the bootstrap guard's refusals meet it as they would
		 * without the transport. */
		if (n->rm == NULL || m->to != n->self ||
		    !px_heard_from(n->r, m->from, m->config_epoch) ||
		    !px_uuid_is_id(n->uuid) || !px_uuid_eq(m->uuid, n->uuid)) {
			n->c.unexpected++;
			return false;
		}
		nrm_on_msg(n, n->rm, m);
		return false;
	default:
		break;
	}
	/* A message that may raise the promise fences the remote writer first. */
	if (n->rm != NULL && !nrm_before_step(n, n->rm, m))
		return false;
	step_msg(n, m, NODE_CALL_STEP);
	return false;
}

/* ---------------------------------------------------------------------------------- */
/* For node_rm.c (node_rm.h)                                                           */

/** A datagram's message (NODE_CALL_STEP) or one the remote-memory transport made. */
static void step_msg(struct node *n, const struct px_msg *m, enum node_call call)
{
	n->c.steps++;
	px_out_reset(n->out);
	px_step(n->r, m, n->out);
	handle_out(n, call, m);
}

void node_pvt_step(struct node *n, const struct px_msg *m)
{
	step_msg(n, m, NODE_CALL_RM);
}

void node_pvt_send_rm(struct node *n, uint8_t to, uint8_t flags, uint64_t nonce,
		      uint64_t slot_lo, uint64_t slot_hi, const uint8_t *body, uint32_t len)
{
	struct node_dst dst = { .peer = to, .client = NULL };
	struct px_msg *m = n->smsg;

	snap_msg_init(n, PX_MSG_RM, to);
	m->flags = flags;
	m->nonce = nonce;
	m->slot_lo = slot_lo;
	m->slot_hi = slot_hi;
	m->body = body;
	m->body_len = len;
	tx(n, m, &dst, NULL);
}

void node_pvt_log(struct node *n, int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlogf_(n, level, fmt, ap);
	va_end(ap);
}

struct px_replica *node_pvt_replica(struct node *n) { return n->r; }

uint32_t node_pvt_seal(struct node *n, uint8_t to, uint8_t *buf, uint32_t len, uint32_t cap)
{
	if (n->au == NULL)
		return len;
	if (to >= n->n_replicas || to == n->self || cap < len + PX_TRAILER_BYTES)
		node_bug(n, "a record for %u: %u bytes in %u", to, len, cap);
	struct node_dst dst = { .peer = to, .client = NULL };
	return seal(n, &n->au->tx[to], &dst, buf, len, cap);
}

void node_pvt_rm_granted(struct node *n, uint8_t from)
{
	if (n->au != NULL && from < PX_REPLICAS_MAX)
		n->au->rm_writer = n->au->rx[from];
}

uint32_t node_pvt_verify(struct node *n, uint8_t from, const uint8_t *buf, uint32_t len)
{
	if (n->au == NULL)
		return len;
	struct auth_trailer t;
	size_t msg_len = 0;
	enum auth_err e = auth_parse(buf, len, &t, &msg_len);
	const struct auth_rx *rx = from < PX_REPLICAS_MAX ? &n->au->rm_writer : NULL;

	if (e == AUTH_OK && (rx == NULL || t.role != AUTH_ROLE_PEER || t.key_id != from ||
			     buf[PX_WIRE_OFF_FROM] != from))
		e = AUTH_E_SENDER;
	/* The writer's life as its HELLO made it known here (node_pvt_rm_granted): a
	 * record opens no new life and moves no replay window (its seq orders it). */
	if (e == AUTH_OK && (rx->life == 0 || t.life != rx->life || t.gen != rx->gen))
		e = AUTH_E_OLD_LIFE;
	if (e == AUTH_OK)
		e = auth_verify(&rx->st, &t, buf, msg_len);
	if (e != AUTH_OK) {
		n->c.auth_drops[e]++;
		return 0;
	}
	return (uint32_t)msg_len;
}

void node_pvt_rm_polled(struct node *n)
{
	if (n->have_obs && n->obs.rm_polled != NULL)
		n->obs.rm_polled(n->obs.ctx);
}

unsigned node_rm_poll(struct node *n)
{
	return n->rm != NULL && n->refused[0] == 0 ? nrm_poll(n, n->rm) : 0;
}

bool node_rm_forge(struct node *n, unsigned how, uint64_t rnd)
{
	return n->rm != NULL && nrm_forge(n->rm, how, rnd);
}

unsigned node_rm_landed(struct node *n, void (*visit)(void *ctx, const struct px_msg *m),
			void *ctx)
{
	return n->rm != NULL ? nrm_landed(n, n->rm, visit, ctx) : 0;
}

const struct node_rm_counters *node_rm_counters(const struct node *n)
{
	static const struct node_rm_counters none;

	return n->rm != NULL ? nrm_counters(n->rm) : &none;
}

void node_flush(struct node *n)
{
	if (n->n_cmds == 0)
		return;
	if (px_role(n->r) != PX_LEADER) {
		answer_queue(n, 0, PX_NOT_LEADER);
		return;
	}
	n->flushing = true;
	px_out_reset(n->out);
	uint64_t last0 = px_last_slot(n->r);
	uint32_t took = px_propose(n->r, n->cmds, n->n_cmds, n->out);
	if (took > n->n_cmds)
		node_bug(n, "px_propose took %u of %u commands", took, n->n_cmds);
	note_proposals(n, last0 + 1u, px_last_slot(n->r));
	/* Addresses first: a 1-replica cluster commits and applies within this call. */
	for (uint32_t i = 0; i < took; i++)
		client_put(n, n->cmds[i].client_id, &n->cmd_src[i]);
	n->c.proposed += took;
	if (took > 0)
		n->c.flushes++;
	if (took > n->c.batch_max)
		n->c.batch_max = took;
	handle_out(n, NODE_CALL_PROPOSE, NULL);
	/* What the pipeline did not take (or a leadership lost in the call). */
	uint8_t status = px_role(n->r) == PX_LEADER ? PX_BUSY : PX_NOT_LEADER;
	answer_queue(n, took, status);
	n->flushing = false;
}

uint32_t node_propose(struct node *n, const struct px_cmd_ref *cmds, uint32_t k)
{
	px_out_reset(n->out);
	uint64_t last0 = px_last_slot(n->r);
	uint32_t took = px_propose(n->r, cmds, k, n->out);
	note_proposals(n, last0 + 1u, px_last_slot(n->r));
	n->c.proposed += took;
	handle_out(n, NODE_CALL_PROPOSE, NULL);
	return took;
}

void node_tick(struct node *n)
{
	n->c.ticks++;
	if (n->refused[0] != 0)
		return;   /* stopped: the embedder exits (node_refused) */
	px_out_reset(n->out);
	px_tick(n->r, n->out);
	handle_out(n, NODE_CALL_TICK, NULL);
	if (n->rm != NULL)
		nrm_tick(n, n->rm);
	uuid_bind_propose(n);
	members_promote(n);
	n->serve_budget = 2u * n->chunks_per_tick;
	st_tick(n);
}

void node_persisted(struct node *n, uint64_t seq)
{
	px_out_reset(n->out);
	px_persisted(n->r, seq, n->out);
	handle_out(n, NODE_CALL_PERSISTED, NULL);
}

/* ---------------------------------------------------------------------------------- */
/* Membership changes                                                                  */

/** Proposes the configuration m (epoch: the one in force + 1) with the applied
 *  addresses, and addr for id `named` if not NODE_TO_CLIENT. */
static int64_t members_propose(struct node *n, const struct px_members *m, uint8_t named,
			       const char *addr)
{
	const char *addrs[PX_REPLICAS_MAX];
	uint8_t body[PX_CONF_BYTES];

	for (uint8_t j = 0; j < PX_REPLICAS_MAX; j++)
		addrs[j] = j == named ? addr : px_applier_member_addr(n->a, j);
	px_conf_body(body, px_membership(n->r)->cur.epoch, m, addrs);
	px_out_reset(n->out);
	int64_t rc = px_propose_members(n->r, body, n->out);
	handle_out(n, NODE_CALL_PROPOSE, NULL);
	if (rc > 0) {
		n->c.conf_proposed++;
		logf_(n, NODE_LOG_INFO,
		      "membership: proposed epoch %u (voters 0x%03x, learners 0x%03x) at slot %" PRId64,
		      m->epoch, m->voters, m->learners, rc);
	}
	return rc;
}

/** The change applies to the configuration in force; none may be pending. */
static int members_next(struct node *n, struct px_members *m)
{
	const struct px_membership *ms = px_membership(n->r);

	if (px_role(n->r) != PX_LEADER || ms->next_eff != 0)
		return -EAGAIN;
	*m = ms->cur;
	m->epoch = ms->cur.epoch + 1;
	return 0;
}

int64_t node_add_member(struct node *n, uint8_t id, const char *addr)
{
	struct px_members m;
	int rc;

	if (n->conf.members_fixed != NULL)
		return -EPERM;
	if (id >= PX_REPLICAS_MAX || addr == NULL || addr[0] == 0 ||
	    strlen(addr) >= PX_CONF_ADDR_BYTES)
		return -EINVAL;
	if ((rc = members_next(n, &m)) != 0)
		return rc;
	if (px_is_member(&m, id))
		return -EINVAL;
	/* An id that ran in this cluster (the applied member mask) is never a member again:
	 * a removed replica may still run with its old log and promises. */
	if ((px_applier_members(n->a) >> id) & 1u)
		return -EEXIST;
	m.learners = (uint16_t)(m.learners | (1u << id));
	if (!px_members_valid(&m))
		return -EINVAL;
	return members_propose(n, &m, id, addr);
}

int64_t node_remove_member(struct node *n, uint8_t id)
{
	struct px_members m;
	int rc;

	if (id >= PX_REPLICAS_MAX)
		return -EINVAL;
	if ((rc = members_next(n, &m)) != 0)
		return rc;
	if (!px_is_member(&m, id))
		return -EINVAL;
	m.voters = (uint16_t)(m.voters & ~(1u << id));
	m.learners = (uint16_t)(m.learners & ~(1u << id));
	if (!px_members_valid(&m))
		return -EINVAL;
	return members_propose(n, &m, NODE_TO_CLIENT, NULL);
}

int64_t node_set_members(struct node *n, uint16_t voters, uint16_t learners)
{
	struct px_members m;
	int rc;

	if ((rc = members_next(n, &m)) != 0)
		return rc;
	m.voters = voters;
	m.learners = learners;
	if (!px_members_valid(&m))
		return -EINVAL;
	return members_propose(n, &m, NODE_TO_CLIENT, NULL);
}

/** Leader, every heartbeat: a learner caught up (within NODE_PROMOTE_LAG of the commit
 *  point) becomes a voter, one change at a time. */
static void members_promote(struct node *n)
{
	struct px_members m;

	if (++n->promote_tick < n->conf.px.heartbeat_ticks)
		return;
	n->promote_tick = 0;
	if (members_next(n, &m) != 0 || m.learners == 0)
		return;
	uint64_t commit = px_commit(n->r);
	for (uint8_t j = 0; j < PX_REPLICAS_MAX; j++) {
		if (!((m.learners >> j) & 1u) || px_peer_ack(n->r, j) + NODE_PROMOTE_LAG < commit)
			continue;
		m.learners = (uint16_t)(m.learners & ~(1u << j));
		m.voters = (uint16_t)(m.voters | (1u << j));
		if (!px_members_valid(&m))
			return;
		if (members_propose(n, &m, NODE_TO_CLIENT, NULL) > 0)
			n->c.promotions++;
		return;
	}
}

int node_transfer(struct node *n, uint8_t target)
{
	px_out_reset(n->out);
	int rc = px_transfer_leadership(n->r, target, n->out);
	handle_out(n, NODE_CALL_TRANSFER, NULL);
	return rc;
}

uint64_t node_read_begin(struct node *n, uint64_t *read_index)
{
	px_out_reset(n->out);
	uint64_t t = px_read_begin(n->r, n->out, read_index);
	handle_out(n, NODE_CALL_READ, NULL);
	return t;
}

/* ---------------------------------------------------------------------------------- */
/* Queries                                                                             */

const struct px_replica *node_replica(const struct node *n) { return n->r; }
const struct px_applier *node_applier(const struct node *n) { return n->a; }
const struct node_counters *node_counters(const struct node *n) { return &n->c; }
uint32_t node_queued(const struct node *n) { return n->n_cmds; }
uint32_t node_reads_held(const struct node *n) { return n->read_n; }
uint64_t node_read_confirmed(const struct node *n) { return n->read_confirmed; }
uint8_t node_self(const struct node *n) { return n->self; }
