/* SPDX-License-Identifier: Apache-2.0
 * Simulated clients and their history.
 *
 * Each client registers a session through the log before its first operation (a
 * REQUEST flagged REGISTER, seq 0, a nonce naming the client; the reply carries the
 * session id) and again after an operation is answered SESSION_EXPIRED (its session was
 * evicted: that operation's outcome is recorded as unknown). It has one operation
 * outstanding, named (session id, seq), seq + 1 per new operation and growing across
 * sessions, so that (client, seq) names one command for the checks. It follows
 * NOT_LEADER hints at once, and on timeout resends the same request and bytes to the
 * next replica: the applier's sessions make that exactly-once. A resent registration may
 * register twice; the session not used is an orphan, evicted in its turn. The workload
 * is the kv store's get/put/del/cas over a few keys so that
 * clients conflict; every value written is unique ("client.seq"), which keeps the
 * linearizability search small and makes a lost or duplicated write visible.
 *
 * Every operation goes into the history with its call and return times (simulated
 * time); at the end the pw-lincheck checker decides whether the history is linearizable
 * for a register per key. A client accepts only a reply whose bytes some replica
 * produced when it applied that (client, seq) (sim_check_reply recorded it).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "lincheck.h"
#include "sim_pvt.h"
#include "wire_le.h"

/** Registration nonces: bit 62 set (session ids, slot * PX_BATCH_CMDS_MAX + index with
 *  slot <= SIM_SLOTS_MAX, never reach it), the registration's number, the client. */
#define SIM_NONCE_BASE (1ull << 62)
#define SIM_NONCE_REG_SHIFT 8u
_Static_assert(SIM_CLIENTS_MAX <= (1u << SIM_NONCE_REG_SHIFT), "the client fits its bits");
_Static_assert((uint64_t)(SIM_SLOTS_MAX + 1) * PX_BATCH_CMDS_MAX < SIM_NONCE_BASE,
	       "no session id looks like a nonce");
/** Backoff after BUSY or a NOT_LEADER without a hint, in time units. */
#define SIM_CLIENT_BACKOFF 3u
/** Time limit of the linearizability search: a budget, not part of the verdict's
 *  determinism (running out gives LC_UNKNOWN, which is reported, never a failure). */
#define SIM_LINCHECK_SECONDS 5.0

/* --auth: client i holds admin key id i + 1, whose tag (admin bit 24: nonce bit 62,
 * which SIM_NONCE_BASE sets anyway) goes in the nonce's top bits: the session is its. */
#define SIM_TAG_MASK (((1ull << 24) - 1u) << PX_OWNER_SHIFT)
_Static_assert(SIM_NONCE_BASE == (1ull << (PX_OWNER_SHIFT + 24)), "the admin bit is the base");
_Static_assert(SIM_NONCE_REG_SHIFT + 24 < PX_OWNER_SHIFT, "registrations below the tag");

static uint64_t nonce_make(const struct sim *s, const struct sim_client *c, uint32_t reg)
{
	uint64_t tag = s->o.auth ? (uint64_t)(c->idx + 1u) << PX_OWNER_SHIFT : 0;
	return SIM_NONCE_BASE | tag | ((uint64_t)reg << SIM_NONCE_REG_SHIFT) | c->idx;
}

/** The client of a nonce some client sent (registration numbers below its count). */
static int client_of_nonce(const struct sim *s, uint64_t nonce)
{
	nonce &= ~SIM_TAG_MASK;
	uint64_t ci = nonce & ((1u << SIM_NONCE_REG_SHIFT) - 1u);
	uint64_t reg = (nonce & ~SIM_NONCE_BASE) >> SIM_NONCE_REG_SHIFT;

	if ((nonce & ~(SIM_NONCE_BASE - 1)) != SIM_NONCE_BASE || ci >= s->o.n_clients ||
	    reg >= s->clients[ci].regs)
		return -1;
	return (int)ci;
}

/** The map bucket of id, or the empty one where it would go. Ends: load <= 1/2. */
static uint32_t session_bucket(const struct sim *s, uint64_t id)
{
	uint32_t k = (uint32_t)((id * 0x9e3779b97f4a7c15ull) >> 40) & (SIM_SESSION_MAP - 1u);

	while (s->sessions[k].id != 0 && s->sessions[k].id != id)
		k = (k + 1u) & (SIM_SESSION_MAP - 1u);
	return k;
}

int sim_client_of(const struct sim *s, uint64_t client_id, uint64_t seq)
{
	const struct sim_session *e;

	if (seq == 0)
		return client_of_nonce(s, client_id);
	if (client_id == 0)
		return -1;
	e = &s->sessions[session_bucket(s, client_id)];
	return e->id == client_id ? e->client : -1;
}

void sim_session_put(struct sim *s, uint64_t id, uint32_t ci)
{
	struct sim_session *e = &s->sessions[session_bucket(s, id)];

	if (e->id == id) {
		if (e->client != ci)
			sim_fail(s, "session-id",
				 "session %" PRIu64 " given to client %u and to client %u", id,
				 e->client, ci);
		return;
	}
	if (s->n_sessions >= SIM_SESSION_MAP / 2)
		sim_fail(s, "sim-limit", "more than %u sessions registered", SIM_SESSION_MAP / 2);
	e->id = id;
	e->client = (uint8_t)ci;
	s->n_sessions++;
}

struct sim_cmd_rec *sim_cmd_lookup(struct sim *s, uint64_t client_id, uint64_t seq)
{
	int ci = sim_client_of(s, client_id, seq);
	struct sim_client *c;

	if (ci < 0)
		return NULL;
	if (seq == 0) {
		/* A registration: an empty command. It keeps no reply: each copy of one in
		 * the log (a resend) gets an id of its own, which sim_session_learn checks
		 * against its position as every replica applies it. */
		memset(&s->reg_rec, 0, sizeof(s->reg_rec));
		return &s->reg_rec;
	}
	c = &s->clients[ci];
	if (seq > c->seq || c->cmds[seq].session != client_id)
		return NULL;
	return &c->cmds[seq];
}

void sim_auth_keys(struct sim *s)
{
	if (!s->o.auth || s->keys.n != 0)
		return;
	/* The cluster key, from the seed: runs replay byte for byte. */
	struct sim_rng r;
	sim_rng_seed(&r, s->o.seed, SIM_STREAM_AUTH);
	s->keys.kind = AUTH_KIND_CLUSTER;
	s->keys.n = 1;
	s->keys.gen[0] = 1;
	for (unsigned b = 0; b < AUTH_KEY_BYTES; b++)
		s->keys.key[0][b] = (uint8_t)sim_rng_next(&r);
}

void sim_clients_setup(struct sim *s)
{
	struct sim_client *c;
	uint32_t i;

	sim_auth_keys(s);
	for (i = 0; i < s->o.n_clients; i++) {
		c = &s->clients[i];
		memset(c, 0, sizeof(*c));
		c->idx = (uint8_t)i;
		if (s->o.auth) {
			struct auth_keys k;
			if (s->client_auth[i] == NULL)
				s->client_auth[i] = aligned_alloc(64, (sizeof(struct auth_client) + 63u) &
								      ~(size_t)63u);
			if (s->client_auth[i] == NULL ||
			    auth_keys_derive_client(&s->keys, AUTH_ROLE_ADMIN, i + 1u, &k) != 0 ||
			    auth_client_init_life(s->client_auth[i], &k, SIM_CLUSTER_ID,
						  s->o.n_nodes, 0x5157000000000000ull + i + 1u) != 0)
				sim_fail(s, "sim", "client %u: no authenticated side", i);
		}
		c->ep = sim_ep_client(s, i);
		c->next_op_at = sim_rng_range(&s->rng_work, 0, s->o.think_max);
		c->target = (uint8_t)(i % s->o.n_nodes);
	}
}

bool sim_clients_idle(const struct sim *s)
{
	uint32_t i;

	for (i = 0; i < s->o.n_clients; i++)
		if (s->clients[i].waiting)
			return false;
	return true;
}

/** Values are "client.seq": unique per write. */
static uint32_t value_make(const struct sim_client *c, uint64_t seq)
{
	return ((uint32_t)(c->idx + 1) << 16) | (uint32_t)seq;
}

static int value_fmt(char *buf, size_t len, uint32_t v)
{
	return snprintf(buf, len, "%u.%u", v >> 16, v & 0xffffu);
}

/** Parses "a.b" back; false if the bytes are not a value some client wrote. */
static bool value_parse(const uint8_t *p, uint32_t len, uint32_t *v)
{
	uint32_t a = 0, b = 0, i = 0;

	if (len == 0 || len > 16)
		return false;
	for (; i < len && p[i] >= '0' && p[i] <= '9'; i++)
		a = a * 10 + (p[i] - '0');
	if (i == 0 || i >= len || p[i] != '.')
		return false;
	for (i++; i < len && p[i] >= '0' && p[i] <= '9'; i++)
		b = b * 10 + (p[i] - '0');
	if (i != len || a == 0 || a > SIM_CLIENTS_MAX || b == 0 || b > 0xffffu)
		return false;
	*v = (a << 16) | b;
	return true;
}

/** Sends the outstanding request: the registration, or the op's command. */
static void send_request(struct sim *s, struct sim_client *c)
{
	struct px_msg *m = &s->reply_msg;
	const struct sim_cmd_rec *rec = &c->cmds[c->seq];
	uint8_t buf[PX_WIRE_HDR_BYTES + 64 + SIM_CMD_BYTES_MAX + PX_TRAILER_BYTES];
	size_t len;

	memset(m, 0, offsetof(struct px_msg, entries));
	m->type = PX_MSG_REQUEST;
	m->from = PX_NODE_NONE;
	m->to = c->target;
	m->cluster_id = SIM_CLUSTER_ID;
	m->config_epoch = SIM_CONFIG_EPOCH;
	m->n_inc = 0;
	if (c->registering) {
		m->flags = PX_MF_REGISTER;
		m->client_id = c->nonce;
		m->seq = 0;
		m->body_len = 0;
		m->body = NULL;
	} else {
		m->client_id = c->session;
		m->seq = c->seq;
		m->body_len = rec->len;
		m->body = rec->body;
	}
	len = px_encode(m, buf, sizeof(buf) - PX_TRAILER_BYTES);
	if (len == 0)
		sim_fail(s, "codec", "client %u: REQUEST does not encode", c->idx);
	if (s->o.auth)
		len = auth_client_seal(s->client_auth[c->idx], c->target, buf, len, sizeof(buf));
	sim_net_send(s, c->ep, c->target, buf, (uint32_t)len);
	c->resend_at = s->now + s->o.client_timeout;
}

static uint8_t pick_kind(struct sim *s)
{
	const struct sim_opts *o = &s->o;
	uint32_t v = sim_rng_below(&s->rng_work, o->mix_get + o->mix_put + o->mix_del +
							 o->mix_cas);

	if (v < o->mix_get)
		return SIM_OP_GET;
	v -= o->mix_get;
	if (v < o->mix_put)
		return SIM_OP_PUT;
	v -= o->mix_put;
	if (v < o->mix_del)
		return SIM_OP_DEL;
	return SIM_OP_CAS;
}

/** Sets op's expectation to the client's last observation of op->key. */
static void expect_last_seen(const struct sim_client *c, struct sim_op *op)
{
	const struct sim_op *prev;
	uint32_t i;

	op->expect_absent = true;
	op->expect = 0;
	for (i = c->n_ops; i-- > 0;) {
		prev = &c->ops[i];
		if (prev->key != op->key || prev->ok != 1)
			continue;
		if (prev->kind == SIM_OP_GET) {
			op->expect_absent = prev->result_absent;
			op->expect = prev->result;
		} else if (prev->kind == SIM_OP_PUT || prev->kind == SIM_OP_CAS) {
			op->expect_absent = false;
			op->expect = prev->value;
		}
		return;
	}
}

/** Starts the client's next operation: encode, record, send. */
static void start_op(struct sim *s, struct sim_client *c)
{
	struct sim_op *op = &c->ops[c->n_ops];
	struct sim_cmd_rec *rec;
	char key[8], val[24], exp[24];
	uint8_t klen, vlen, elen;
	uint32_t len = 0;

	memset(op, 0, sizeof(*op));
	c->seq++;
	rec = &c->cmds[c->seq];
	memset(rec, 0, sizeof(*rec));
	rec->session = c->session;
	op->kind = pick_kind(s);
	op->key = (uint8_t)sim_rng_below(&s->rng_work, s->o.keys);
	op->value = value_make(c, c->seq);
	op->call = s->now;
	op->ok = -1;
	klen = (uint8_t)snprintf(key, sizeof(key), "k%u", op->key);
	vlen = (uint8_t)value_fmt(val, sizeof(val), op->value);
	switch (op->kind) {
	case SIM_OP_GET:
		len = wire_kv_encode_get(rec->body, sizeof(rec->body), key, klen);
		break;
	case SIM_OP_PUT:
		len = wire_kv_encode_put(rec->body, sizeof(rec->body), key, klen, val, vlen);
		break;
	case SIM_OP_DEL:
		len = wire_kv_encode_del(rec->body, sizeof(rec->body), key, klen);
		break;
	case SIM_OP_CAS:
		/* Expect what this client last saw of the key (often still current, so
		 * swaps succeed), and one time in four the opposite guess (absent vs
		 * some value: "1.1" is likely stale), so comparisons fail too. */
		expect_last_seen(c, op);
		if (sim_rng_below(&s->rng_work, 4) == 0) {
			op->expect = op->expect_absent ? value_make(&s->clients[0], 1) : 0;
			op->expect_absent = !op->expect_absent;
		}
		if (op->expect_absent) {
			len = wire_kv_encode_cas(rec->body, sizeof(rec->body), key, klen, val, vlen,
					       NULL, 0);
		} else {
			elen = (uint8_t)value_fmt(exp, sizeof(exp), op->expect);
			len = wire_kv_encode_cas(rec->body, sizeof(rec->body), key, klen, val, vlen,
					       exp, elen);
		}
		break;
	default:
		break;
	}
	if (len == 0)
		sim_fail(s, "sim", "client %u: kv command does not encode", c->idx);
	rec->len = len;
	c->n_ops++;
	c->waiting = true;
	c->backoff = false;
	send_request(s, c);
}

void sim_client_step(struct sim *s, struct sim_client *c)
{
	if (c->waiting) {
		if (s->now < c->resend_at)
			return;
		/* A backoff (BUSY, or NOT_LEADER with no hint) already chose the target.
		 * A timeout means the target is gone or cut off: try the next replica (a
		 * NOT_LEADER reply will point at the leader). */
		if (!c->backoff) {
			/* It may have restarted (a new life takes nothing bound to the old
			 * one): challenge it again when next asked, as the library does. */
			if (s->o.auth)
				auth_client_forget(s->client_auth[c->idx], c->target);
			c->target = (uint8_t)((c->target + 1) % s->o.n_nodes);
		}
		c->backoff = false;
		c->resends++;
		send_request(s, c);
		return;
	}
	if (s->liveness || c->n_ops >= s->o.ops_per_client || s->now < c->next_op_at)
		return;
	if (c->session == 0) {
		/* No session (the first op, or the last was answered SESSION_EXPIRED):
		 * register first; the op starts once the registration is answered. */
		c->nonce = nonce_make(s, c, c->regs++);
		c->registering = true;
		c->waiting = true;
		c->backoff = false;
		send_request(s, c);
		return;
	}
	start_op(s, c);
}

/** The answer to the client's registration: the session id the log gave it. */
static void registered(struct sim *s, struct sim_client *c, const struct px_msg *m)
{
	uint64_t id;

	if (m->body_len != PX_SESSION_ID_BYTES)
		sim_fail(s, "reply", "client %u: a registration reply of %u bytes", c->idx,
			 m->body_len);
	id = wire_ld64(m->body);
	/* Some applier gave this id to this very client (sim_session_learn). */
	if (sim_client_of(s, id, 1) != c->idx)
		sim_fail(s, "reply",
			 "client %u: registration answered with session %" PRIu64 ", which no "
			 "replica gave it", c->idx, id);
	sim_trace(s, "c%u registered: session %" PRIu64, c->idx, id);
	c->session = id;
	c->registering = false;
	c->waiting = false;
	c->backoff = false;
	c->target = m->from;   /* the leader that answered */
}

/** The op was answered SESSION_EXPIRED: the session was evicted. Whether the command
 *  was applied before that cannot be told, so the outcome is unknown (ok stays -1);
 *  the next op registers a new session first. */
static void expired(struct sim *s, struct sim_client *c, const struct px_msg *m)
{
	sim_trace(s, "c%u seq %" PRIu64 " session %" PRIu64 " expired", c->idx, c->seq,
		  c->session);
	c->expired++;
	s->ops_unknown++;
	c->session = 0;
	c->waiting = false;
	c->backoff = false;
	c->target = m->from;
	c->next_op_at = s->now + sim_rng_range(&s->rng_work, 0, s->o.think_max);
}

/** The reply to the current op, accepted: decode it into the history. */
static void complete(struct sim *s, struct sim_client *c, const struct px_msg *m)
{
	struct sim_op *op = &c->ops[c->n_ops - 1];
	struct sim_cmd_rec *rec = &c->cmds[c->seq];
	struct wire_kv_reply r;
	uint64_t h;

	/* The reply must be exactly what the replicas produced applying this command. */
	h = px_hash_bytes(PX_HASH_SEED, &m->status, 1);
	h = px_hash_bytes(h, m->body, m->body_len);
	if (rec->n_read_serves > 0 || rec->read_serves_lost) {
		/* Served by read index: one of the replies a leader sent for it (or, after
		 * a resend to a leader without its session yet, the one the log gave). */
		bool found = rec->read_serves_lost || (rec->reply_known && rec->reply_hash == h);
		for (uint32_t i = 0; i < rec->n_read_serves; i++)
			found = found || rec->read_hash[i] == h;
		if (!found)
			sim_fail(s, "reply",
				 "client %u seq %" PRIu64 ": accepted reply is none a leader served "
				 "by read index or the log applied", c->idx, c->seq);
	} else if (!rec->reply_known) {
		sim_fail(s, "reply",
			 "client %u seq %" PRIu64 ": got an OK reply but no replica applied it",
			 c->idx, c->seq);
	} else if (rec->reply_hash != h) {
		sim_fail(s, "reply",
			 "client %u seq %" PRIu64 ": accepted reply differs from the one applied",
			 c->idx, c->seq);
	}
	if (wire_kv_decode_reply(m->body, m->body_len, &r) != 0)
		sim_fail(s, "reply", "client %u seq %" PRIu64 ": kv reply does not decode",
			 c->idx, c->seq);

	op->ret = s->now;
	op->ok = 1;
	switch (op->kind) {
	case SIM_OP_GET:
		if (r.result == WIRE_KV_R_NOT_FOUND) {
			op->result_absent = true;
		} else if (r.result != WIRE_KV_R_OK ||
			   !value_parse(r.value, r.value_len, &op->result)) {
			sim_fail(s, "reply", "client %u seq %" PRIu64 ": get returned result %u",
				 c->idx, c->seq, r.result);
		}
		break;
	case SIM_OP_PUT:
		if (r.result != WIRE_KV_R_OK)
			sim_fail(s, "reply", "client %u seq %" PRIu64 ": put returned result %u",
				 c->idx, c->seq, r.result);
		break;
	case SIM_OP_DEL:
		if (r.result != WIRE_KV_R_OK && r.result != WIRE_KV_R_NOT_FOUND)
			sim_fail(s, "reply", "client %u seq %" PRIu64 ": del returned result %u",
				 c->idx, c->seq, r.result);
		break;
	case SIM_OP_CAS:
		/* Applied either way: a failed comparison is ok == 0, a read (lincheck.h). */
		if (r.result == WIRE_KV_R_OK)
			op->ok = 1;
		else if (r.result == WIRE_KV_R_CAS_MISMATCH || r.result == WIRE_KV_R_NOT_FOUND)
			op->ok = 0;
		else
			sim_fail(s, "reply", "client %u seq %" PRIu64 ": cas returned result %u",
				 c->idx, c->seq, r.result);
		break;
	default:
		break;
	}
	c->waiting = false;
	c->backoff = false;
	c->target = m->from;  /* the leader that answered: the next op goes there */
	c->next_op_at = s->now + sim_rng_range(&s->rng_work, 0, s->o.think_max);
	s->ops_done++;
}

void sim_client_deliver(struct sim *s, struct sim_client *c, const uint8_t *buf, uint32_t len)
{
	struct px_msg *m = &s->msg;
	enum px_wire_err err;

	if (s->o.auth) {
		size_t ml = 0;
		enum auth_err ae = auth_client_open(s->client_auth[c->idx],
						    len > PX_WIRE_OFF_FROM ? buf[PX_WIRE_OFF_FROM] : 0,
						    buf, len, &ml);
		/* The network duplicates and delays: a copy already taken, or one far older
		 * than what came since, is dropped as the library drops it. */
		if (ae == AUTH_E_REPLAY || ae == AUTH_E_STALE || ae == AUTH_E_OLD_LIFE)
			return;
		if (ae != AUTH_OK)
			sim_fail(s, "auth", "client %u: a %u-byte reply fails its check: %s", c->idx,
				 len, auth_err_name(ae));
		len = (uint32_t)ml;
	}
	err = px_decode(buf, len, SIM_CLUSTER_ID, s->o.n_nodes, m);
	if (err != PX_WIRE_OK)
		sim_fail(s, "codec", "client %u: px_decode of a %u-byte reply: %s", c->idx, len,
			 px_wire_err_name(err));
	s->window_by_type[m->type]++;
	if (m->type != PX_MSG_REPLY || sim_client_of(s, m->client_id, m->seq) != c->idx)
		sim_fail(s, "sim", "client %u got message type %u for id %" PRIu64 " seq %" PRIu64,
			 c->idx, m->type, m->client_id, m->seq);
	if (!c->waiting)
		return;  /* a late or duplicated reply to an earlier request */
	if (c->registering ? m->seq != 0 || m->client_id != c->nonce
			   : m->seq != c->seq || m->client_id != c->session)
		return;

	switch (m->status) {
	case PX_OK:
		c->hint_run = 0;
		if (c->registering)
			registered(s, c, m);
		else
			complete(s, c, m);
		break;
	case PX_NOT_LEADER:
		c->not_leader++;
		/* Hints may go round in a circle: replicas removed from the cluster (or cut
		 * off) each name a leader they heard of last. After as many NOT_LEADERs as
		 * there are replicas without an answer, the replicas in turn until one
		 * answers (libpaxwire-client asks a member for the membership). */
		if (m->leader_hint != PX_NODE_NONE && m->leader_hint != m->from &&
		    ++c->hint_run <= s->o.n_nodes) {
			c->target = m->leader_hint;
			c->backoff = false;
			send_request(s, c);
		} else {
			/* No leader known there (or hints went round in a circle): try the
			 * next replica after a pause. */
			c->target = (uint8_t)((m->from + 1) % s->o.n_nodes);
			c->backoff = true;
			c->resend_at = s->now + SIM_CLIENT_BACKOFF;
		}
		break;
	case PX_BUSY:
		/* The leader's pipeline or queue is full: the same leader, a little later. */
		c->busy++;
		c->target = m->from;
		c->backoff = true;
		c->resend_at = s->now + SIM_CLIENT_BACKOFF;
		break;
	default:
		if (m->status == PX_SESSION_EXPIRED && !c->registering) {
			expired(s, c, m);
			break;
		}
		/* BAD_COMMAND: the workload sends well-formed commands and registrations;
		 * a registration is never answered SESSION_EXPIRED. Either is a bug. */
		sim_fail(s, "reply", "client %u seq %" PRIu64 "%s: status %u from node %u",
			 c->idx, c->seq, c->registering ? " (registering)" : "", m->status,
			 m->from);
	}
}

/* ---------------------------------------------------------------------------------- */
/* History                                                                             */

static int add_op(struct lc_history *h, const struct sim_client *c, const struct sim_op *op)
{
	char key[8], val[24], exp[24], res[24];
	struct lc_event ev;

	memset(&ev, 0, sizeof(ev));
	snprintf(key, sizeof(key), "k%u", op->key);
	value_fmt(val, sizeof(val), op->value);
	ev.client = c->idx;
	ev.key = key;
	ev.call_ns = op->call;
	ev.return_ns = op->ok == -1 ? op->call : op->ret;
	ev.ok = op->ok;
	switch (op->kind) {
	case SIM_OP_GET:
		ev.op = LC_GET;
		if (op->ok == 1 && !op->result_absent) {
			value_fmt(res, sizeof(res), op->result);
			ev.result = res;
		}
		break;
	case SIM_OP_PUT:
		ev.op = LC_PUT;
		ev.value = val;
		break;
	case SIM_OP_DEL:
		ev.op = LC_DEL;
		break;
	case SIM_OP_CAS:
		ev.op = LC_CAS;
		ev.value = val;
		if (!op->expect_absent) {
			value_fmt(exp, sizeof(exp), op->expect);
			ev.expect = exp;
		}
		break;
	default:
		return -EINVAL;
	}
	return lc_history_add(h, &ev);
}

int sim_history_check(struct sim *s, char *why, size_t why_len)
{
	struct lc_history *h = lc_history_new();
	struct lc_witness w;
	enum lc_result res;
	size_t i, off;
	uint32_t ci, k;
	int rc;

	why[0] = '\0';
	if (h == NULL) {
		snprintf(why, why_len, "lc_history_new: %s", strerror(errno));
		return LC_UNKNOWN;
	}
	for (ci = 0; ci < s->o.n_clients; ci++) {
		const struct sim_client *c = &s->clients[ci];

		for (k = 0; k < c->n_ops; k++) {
			rc = add_op(h, c, &c->ops[k]);
			if (rc != 0) {
				snprintf(why, why_len, "lc_history_add: %s", strerror(-rc));
				lc_history_free(h);
				return LC_UNKNOWN;
			}
		}
	}
	memset(&w, 0, sizeof(w));
	res = lc_check(h, SIM_LINCHECK_SECONDS, &w);
	if (res == LC_NOT_LINEARIZABLE) {
		off = (size_t)snprintf(why, why_len, "key %.*s (%zu ops):", (int)w.key_len, w.key,
				       w.key_ops);
		for (i = 0; i < w.n_ops && off < why_len; i++) {
			off += (size_t)snprintf(why + off, why_len - off, " [");
			if (off >= why_len)
				break;
			lc_history_format_op(h, w.ops[i], why + off, why_len - off);
			off += strlen(why + off);
			if (off < why_len)
				off += (size_t)snprintf(why + off, why_len - off, "]");
		}
		lc_witness_free(&w);
	} else if (res == LC_UNKNOWN) {
		snprintf(why, why_len, "search gave up (time or memory limit)");
	}
	lc_history_free(h);
	return (int)res;
}
