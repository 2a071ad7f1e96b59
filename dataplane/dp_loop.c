/* SPDX-License-Identifier: Apache-2.0
 * The run-to-completion loop of one replica (STYLE 8, DPDK l2fwd's shape):
 *
 *   rx burst -> for each datagram: decode; a replica message goes to px_step (its
 *   effects are sent at once); a REQUEST (a command, or a session registration) is
 *   queued (leader) or answered NOT_LEADER -> px_propose the queue (adaptive batching: whatever this burst brought; what the
 *   pipeline refuses is answered BUSY) -> ticks due by the clock -> one tx flush ->
 *   idle policy when the burst was empty.
 *
 * Effects of every call into the core (struct px_out) are handled before the next call,
 * because its messages point into the replica's log: messages are encoded straight into
 * transmit buffers; the committed range is applied slot by slot (px_slot_value ->
 * px_apply_slot -> REPLY to each client if this replica leads -> px_applied).
 * Memory durability only: the core never asks to persist (asserted).
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dp_pvt.h"

uint64_t dp_now_ns(void)
{
	return nic_now_ns();   /* the TSC in DPDK builds with the EAL up */
}

/* ---------------------------------------------------------------------------------- */
/* Transmit                                                                            */

/** Encodes m into a transmit buffer of port slot `port` for dst. false: no buffer
 *  (counted). */
bool dp_tx_msg(struct nic_port *p, const struct px_msg *m, const struct nic_addr *dst)
{
	uint32_t cap = 0;
	uint8_t *buf = nic_tx_buf(p, &cap);
	if (buf == NULL)
		return false;
	size_t len = px_encode(m, buf, cap);
	/* The core keeps every message within PX_MSG_BYTES_MAX and a buffer holds that
	 * much (dp_init), so a failed encode is our bug, not input. */
	assert(len > 0);
	nic_tx_commit(p, (uint32_t)len, dst);
	return true;
}

bool dp_tx_reply(struct nic_port *p, struct px_msg *m, const struct nic_addr *dst,
		 uint64_t ballot, uint8_t hint, uint64_t client_id, uint64_t seq,
		 uint8_t status, const uint8_t *body, uint32_t len)
{
	m->ballot = ballot;   /* the other header fields were set once (dp_init) */
	m->client_id = client_id;
	m->seq = seq;
	m->status = status;
	m->leader_hint = hint;
	m->body_len = len;
	m->body = len > 0 ? body : NULL;
	return dp_tx_msg(p, m, dst);
}

static bool send_to(struct dp_ctx *d, const struct px_msg *m, uint8_t port,
		    const struct nic_addr *dst)
{
	if (dp_tx_msg(d->ports[port], m, dst))
		return true;
	d->c.tx_no_buf++;
	return false;
}

/** A message of the core: to one peer, or to every other member. */
static void send_msg(struct dp_ctx *d, const struct px_msg *m)
{
	if (m->to != PX_NODE_NONE) {
		assert(m->to < d->pxc.n_replicas && m->to != d->self);
		send_to(d, m, d->peer_port[m->to], &d->peers[m->to]);
		return;
	}
	/* Encoded once per peer rather than copied from a first encoding: encoding is a
	 * header plus one memcpy per value, and it keeps each buffer independent of when
	 * the port recycles the others (ethdev: mbufs owned by the NIC after a flush). */
	for (uint8_t j = 0; j < d->pxc.n_replicas; j++)
		if (j != d->self)
			send_to(d, m, d->peer_port[j], &d->peers[j]);
}

static void send_reply(struct dp_ctx *d, uint8_t port, const struct nic_addr *dst,
		       uint64_t client_id, uint64_t seq, uint8_t status, const uint8_t *body,
		       uint32_t len)
{
	if (d->stage != NULL) {
		/* stages = 2: client ports transmit on the apply lcore. Only body-less answers
		 * (NOT_LEADER, BUSY, BAD_COMMAND) come from here: reads go through the log
		 * there. */
		assert(len == 0 && !d->port_is_link[port]);
		struct dp_rec rec = {
			.type = DP_REC_REPLY, .port = port, .status = status,
			.hint = px_leader_hint(d->r), .a = client_id, .seq = seq,
			.ballot = px_promised(d->r), .addr = *dst,
		};
		if (!dp_ring_push(&d->stage->ring, &rec))
			d->c.ring_full++;
		return;
	}
	if (!dp_tx_reply(d->ports[port], d->reply, dst, px_promised(d->r), px_leader_hint(d->r),
			 client_id, seq, status, body, len))
		d->c.tx_no_buf++;
}

/* ---------------------------------------------------------------------------------- */
/* Effects                                                                             */

/** stages = 2: hands the apply lcore every slot the core handed out, as far as the ring
 *  has room; the rest waits for the next call (slots are never dropped). */
static void give_slots(struct dp_ctx *d)
{
	bool leader = px_role(d->r) == PX_LEADER;
	/* Bounded by the window: the core hands out at most window_slots slots at a time. */
	while (d->slots_given < d->slots_due) {
		uint64_t s = d->slots_given + 1u;
		uint32_t len = 0;
		const uint8_t *v = px_slot_value(d->r, s, &len);
		if (v == NULL) {
			dp_log(d, DP_LOG_ERROR, "slot %" PRIu64 " to apply is not held (core bug)", s);
			abort();
		}
		struct dp_rec rec = {
			.type = DP_REC_SLOT, .leader = leader, .hint = px_leader_hint(d->r),
			.len = len, .a = s, .ballot = px_promised(d->r), .value = v,
		};
		if (!dp_ring_push(&d->stage->ring, &rec))
			return;
		d->slots_given = s;
	}
}

static void apply_range(struct dp_ctx *d, uint64_t lo, uint64_t hi)
{
	if (d->stage != NULL) {
		assert(lo == d->slots_due + 1u);
		d->slots_due = hi;
		give_slots(d);
		return;
	}
	/* Bounded by the window: the core hands out at most window_slots chosen slots. */
	for (uint64_t s = lo; s <= hi; s++) {
		uint32_t len = 0;
		const uint8_t *v = px_slot_value(d->r, s, &len);
		if (v == NULL) {
			dp_log(d, DP_LOG_ERROR, "slot %" PRIu64 " to apply is not held (core bug)", s);
			abort();
		}
		px_apply_slot(d->a, s, v, len, d->aout);
		/* Only the leader answers: followers apply the same log silently. */
		if (px_role(d->r) == PX_LEADER) {
			for (uint32_t k = 0; k < d->aout->n; k++) {
				const struct px_reply *rp = &d->aout->replies[k];
				const struct dp_client *to = dp_clients_get(&d->clients, rp->client_id);
				if (to == NULL) {
					d->c.reply_no_addr++;
					continue;
				}
				send_reply(d, to->port, &to->addr, rp->client_id, rp->seq, rp->status,
					   rp->data, rp->len);
				d->c.replies++;
			}
		}
		px_applied(d->r, s);
	}
}

/** Leadership changed: no queued read can be confirmed any more (px.h). */
static void fail_reads(struct dp_ctx *d)
{
	for (; d->read_n > 0; d->read_n--) {
		const struct dp_read *q = &d->reads[d->read_head];
		send_reply(d, q->port, &q->src, q->client_id, q->seq, PX_NOT_LEADER, NULL, 0);
		d->c.reads_failed++;
		d->read_head = (d->read_head + 1u) % DP_READS_MAX;
	}
}

/** Serves the queued reads whose ticket is confirmed and whose read index is applied. */
static void serve_reads(struct dp_ctx *d)
{
	while (d->read_n > 0) {
		const struct dp_read *q = &d->reads[d->read_head];
		if (q->ticket > d->read_confirmed || px_applier_last_slot(d->a) < q->index)
			return;
		uint32_t rlen = 0;
		uint8_t status = PX_OK;
		const uint8_t *cmd = d->read_bytes + (size_t)d->read_head * PX_CMD_BYTES_MAX;
		int rc = px_apply_read(d->a, cmd, q->len, d->read_reply, PX_REPLY_BYTES_MAX, &rlen,
				       &status);
		/* Only px_apply_is_read() commands are queued (on_request): a failure is ours. */
		assert(rc == 0);
		(void)rc;
		send_reply(d, q->port, &q->src, q->client_id, q->seq, status, d->read_reply, rlen);
		d->c.reads_index++;
		d->read_head = (d->read_head + 1u) % DP_READS_MAX;
		d->read_n--;
	}
}

static void on_role(struct dp_ctx *d, enum px_role role)
{
	d->c.role_changes++;
	enum px_role was = d->role;
	d->role = role;
	uint64_t b = px_promised(d->r);
	/* Info: leadership won or lost, recovery done; the rest (pre-vote, candidacy) is
	 * debug, as it can be frequent on a flaky network. */
	bool notable = role == PX_LEADER || was == PX_LEADER || was == PX_RECOVERING;
	dp_log(d, notable ? DP_LOG_INFO : DP_LOG_DEBUG,
	       "role %s -> %s (ballot %" PRIu64 ".%u, commit %" PRIu64 ")%s", dp_role_name(was),
	       dp_role_name(role), px_ballot_round(b), px_ballot_node(b), px_commit(d->r),
	       was == PX_RECOVERING ? ": recovered, voting again" : "");
}

/** Commit latency: slots [lo, hi] were just handed out as committed. */
static void note_commits(struct dp_ctx *d, uint64_t lo, uint64_t hi)
{
	uint64_t now = 0;
	uint32_t w = d->pxc.window_slots;
	/* Bounded by the window (the core hands out at most window_slots slots). */
	for (uint64_t s = lo; s <= hi; s++) {
		uint64_t *t0 = &d->slot_t0[s & (w - 1u)];
		if (*t0 == 0)
			continue;   /* not proposed here (a follower, or before a restart) */
		if (now == 0)
			now = dp_now_ns();
		uint64_t lat = now > *t0 ? now - *t0 : 1u;
		uint32_t b = 63u - (uint32_t)__builtin_clzll(lat);
		d->commit_lat[b < DP_LAT_BUCKETS ? b : DP_LAT_BUCKETS - 1u]++;
		*t0 = 0;
	}
}

/** Handles everything the last call into the core produced. */
static void handle_out(struct dp_ctx *d)
{
	struct px_out *o = d->out;
	if (o->apply_lo <= o->apply_hi)
		note_commits(d, o->apply_lo, o->apply_hi);
	/* Memory mode: the core confirms nothing through storage (docs/consistency.md). */
	assert(o->persist_seq == 0);
	for (uint32_t i = 0; i < o->n_msgs; i++)
		send_msg(d, &o->msgs[i]);
	if (o->read_confirmed > d->read_confirmed)
		d->read_confirmed = o->read_confirmed;
	if (o->role_changed) {
		on_role(d, o->role);
		fail_reads(d);
	}
	if (o->state_transfer_needed && !d->warned_state_transfer) {
		d->warned_state_transfer = true;
		dp_log(d, DP_LOG_WARN,
		       "this replica fell behind the leader's window and needs state transfer, which is not built yet: it keeps voting but stops applying; rebuild it (stop it, start it again without --bootstrap once snapshots exist)");
	}
	if (o->apply_lo <= o->apply_hi)
		apply_range(d, o->apply_lo, o->apply_hi);
}

/* ---------------------------------------------------------------------------------- */
/* Receive                                                                             */

/** PX_ADMIN_STATS: a compact JSON object of this replica's state and main counters
 *  into buf (at most cap bytes). @return its length. */
static uint32_t admin_stats(struct dp_ctx *d, char *buf, uint32_t cap)
{
	struct dp_snap s;
	dp_snap_fill(d, dp_now_ns(), &s);
	uint64_t drops = 0;
	for (int i = 0; i < NIC_DROP_MAX; i++)
		drops += s.nic.drops[i];
	for (int i = 1; i < PX_WIRE_E_MAX; i++)
		drops += s.dp.decode_drops[i];
	for (int i = 0; i < PX_DROP_MAX; i++)
		drops += s.px.drops[i];
	int n = snprintf(buf, cap,
		"{\"id\":%" PRIu64 ",\"role\":\"%s\",\"leader\":%d,\"ballot_round\":%" PRIu64
		",\"ballot_node\":%" PRIu64 ",\"commit\":%" PRIu64 ",\"applied\":%" PRIu64
		",\"last_slot\":%" PRIu64 ",\"t_ms\":%" PRIu64 ",\"rx_pkts\":%" PRIu64
		",\"tx_pkts\":%" PRIu64 ",\"drops\":%" PRIu64 ",\"requests\":%" PRIu64
		",\"proposals\":%" PRIu64 ",\"commands_proposed\":%" PRIu64 ",\"commits\":%" PRIu64
		",\"elections_started\":%" PRIu64 ",\"leaderships_won\":%" PRIu64
		",\"reads_index\":%" PRIu64 ",\"sessions\":%" PRIu64 ",\"commit_latency_log2_ns\":[",
		s.self, dp_role_name((enum px_role)s.role),
		s.leader == PX_NODE_NONE ? -1 : (int)s.leader, s.ballot_round, s.ballot_node,
		s.commit, s.applied, s.last_slot, s.t_ms, s.nic.rx_pkts, s.nic.tx_pkts, drops,
		s.dp.requests, s.px.proposals, s.px.commands_proposed, s.px.commits,
		s.px.elections_started, s.px.leaderships_won, s.dp.reads_index, s.sessions);
	uint32_t nb = DP_LAT_BUCKETS;
	while (nb > 0 && s.commit_lat[nb - 1u] == 0)
		nb--;
	for (uint32_t b = 0; b < nb && n > 0 && (uint32_t)n < cap; b++)
		n += snprintf(buf + n, cap - (uint32_t)n, "%s%" PRIu64, b ? "," : "", s.commit_lat[b]);
	if (n > 0 && (uint32_t)n < cap)
		n += snprintf(buf + n, cap - (uint32_t)n, "]}");
	/* ~700 bytes with every bucket at its largest: always fits PX_REPLY_BYTES_MAX. */
	assert(n > 0 && (uint32_t)n < cap);
	return (uint32_t)n;
}

/** An admin REQUEST (PX_MF_ADMIN), answered at once, never logged. */
static void on_admin(struct dp_ctx *d, const struct px_msg *m, uint8_t port,
		     const struct nic_addr *src)
{
	uint8_t status = PX_BAD_COMMAND;
	d->c.admin++;
	if (m->body_len == 1 && m->body[0] == PX_ADMIN_STATS) {
		if (d->stage != NULL) {
			/* stages = 2: replies from here cannot carry a body (dp_apply.c). */
			send_reply(d, port, src, m->client_id, m->seq, PX_BAD_COMMAND, NULL, 0);
			return;
		}
		uint32_t n = admin_stats(d, (char *)d->read_reply, PX_REPLY_BYTES_MAX);
		send_reply(d, port, src, m->client_id, m->seq, PX_OK, d->read_reply, n);
		return;
	}
	if (m->body_len == 2 && m->body[0] == PX_ADMIN_TRANSFER) {
		if (px_role(d->r) != PX_LEADER) {
			send_reply(d, port, src, m->client_id, m->seq, PX_NOT_LEADER, NULL, 0);
			d->c.not_leader++;
			return;
		}
		uint8_t target = m->body[1];
		if (target == d->self) {
			status = PX_OK;   /* already there */
		} else {
			px_out_reset(d->out);
			int rc = px_transfer_leadership(d->r, target, d->out);
			handle_out(d);
			status = rc == 0 ? PX_OK : rc == -EAGAIN ? PX_BUSY : PX_BAD_COMMAND;
			dp_log(d, DP_LOG_INFO, "admin: transfer leadership to %u: %s", target,
			       rc == 0 ? "started" : strerror(-rc));
		}
	}
	send_reply(d, port, src, m->client_id, m->seq, status, NULL, 0);
}

static void on_request(struct dp_ctx *d, const struct px_msg *m, uint8_t port,
		       const struct nic_addr *src)
{
	d->c.requests++;
	if (m->flags & PX_MF_ADMIN) {
		on_admin(d, m, port, src);
		return;
	}
	if (px_role(d->r) != PX_LEADER) {
		/* The hint names a replica; its address is in the client's copy of the config. */
		send_reply(d, port, src, m->client_id, m->seq, PX_NOT_LEADER, NULL, 0);
		d->c.not_leader++;
		return;
	}
	/* In the log, seq 0 means "register" (px_apply.h): only a REGISTER request becomes
	 * one, and only in its one form (seq 0, no body, a nonce). A plain seq 0 (pwctl's
	 * probe) or a malformed REGISTER is no command: answered here, never logged. */
	bool reg = (m->flags & PX_MF_REGISTER) != 0;
	if (reg ? m->seq != 0 || m->body_len != 0 || m->client_id == 0 : m->seq == 0) {
		send_reply(d, port, src, m->client_id, m->seq, PX_BAD_COMMAND, NULL, 0);
		d->c.bad_requests++;
		return;
	}
	if (reg)
		d->c.registers++;
	/* A read of a session the applier holds is served by read index, without a log
	 * slot; any other read goes through the log (which answers an evicted or unknown
	 * session SESSION_EXPIRED, so its client registers again), as does one the leader
	 * cannot take yet (its phase-1 slots not committed). */
	uint64_t last_seq = 0;
	if (!reg && d->reads != NULL && px_apply_is_read(d->a, m->body, m->body_len)) {
		if (!px_applier_session_peek(d->a, m->client_id, &last_seq) || !px_read_ready(d->r)) {
			d->c.reads_logged++;
		} else if (d->read_n == DP_READS_MAX) {
			send_reply(d, port, src, m->client_id, m->seq, PX_BUSY, NULL, 0);
			d->c.busy++;
			return;
		} else {
			uint32_t k = (d->read_head + d->read_n) % DP_READS_MAX;
			uint64_t index = 0;
			px_out_reset(d->out);
			uint64_t t = px_read_begin(d->r, d->out, &index);
			struct dp_read *q = &d->reads[k];
			if (t != 0) {
				q->ticket = t;
				q->index = index;
				q->client_id = m->client_id;
				q->seq = m->seq;
				q->src = *src;
				q->port = port;
				q->len = m->body_len;
				memcpy(d->read_bytes + (size_t)k * PX_CMD_BYTES_MAX, m->body,
				       m->body_len);
				d->read_n++;
			}
			handle_out(d);   /* the round's ACCEPTs (a single replica confirms here) */
			if (t != 0)
				return;
			d->c.reads_logged++;   /* px_read_ready said yes: not expected, but safe */
		}
	}
	/* One REQUEST per datagram keeps the queue within DP_CMDS_MAX; the check is there
	 * for the bound, not for input. */
	if (d->n_cmds == DP_CMDS_MAX) {
		send_reply(d, port, src, m->client_id, m->seq, PX_BUSY, NULL, 0);
		d->c.busy++;
		return;
	}
	/* The body stays in the receive buffer: the burst is proposed (px_propose copies it
	 * into the log slot) before the port's views are released (dp_run). A registration
	 * is queued as the command (nonce, seq 0, no body); its reply comes back to the
	 * nonce, which is what the address table is keyed by until the client has its id. */
	struct px_cmd_ref *c = &d->cmds[d->n_cmds];
	c->client_id = m->client_id;
	c->seq = m->seq;
	c->len = m->body_len;
	c->body = m->body;
	d->cmd_src[d->n_cmds] = *src;
	d->cmd_port[d->n_cmds] = port;
	d->n_cmds++;
}

static void on_datagram(struct dp_ctx *d, uint8_t port, const struct nic_pkt *pk)
{
	struct px_msg *m = d->msg;
	enum px_wire_err e = px_decode(pk->data, pk->len, d->pxc.cluster_id, d->pxc.n_replicas, m);
	if (e != PX_WIRE_OK) {
		d->c.decode_drops[e]++;
		return;
	}
	switch (m->type) {
	case PX_MSG_REQUEST:
		if (d->stage != NULL && d->port_is_link[port]) {
			d->c.client_on_link++;   /* its REPLY would need this lcore's port */
			return;
		}
		on_request(d, m, port, &pk->src);
		return;
	case PX_MSG_REPLY:
		d->c.unexpected++;
		return;
	default:
		break;
	}
	if (m->to != PX_NODE_NONE && m->to != d->self) {
		d->c.misaddressed++;
		return;
	}
	d->c.steps++;
	px_out_reset(d->out);
	px_step(d->r, m, d->out);
	handle_out(d);
}

/** Proposes what this burst queued; answers what the pipeline did not take. */
static void propose_queued(struct dp_ctx *d)
{
	px_out_reset(d->out);
	uint64_t last0 = px_last_slot(d->r);
	uint32_t took = px_propose(d->r, d->cmds, d->n_cmds, d->out);
	assert(took <= d->n_cmds);
	/* The slots this call filled: when they were proposed, for the commit latency
	 * (bounded: a call fills at most pipeline_slots slots). */
	uint64_t last1 = px_last_slot(d->r);
	if (last1 > last0) {
		uint64_t now = dp_now_ns();
		for (uint64_t s = last0 + 1u; s <= last1; s++)
			d->slot_t0[s & (d->pxc.window_slots - 1u)] = now;
	}
	/* Addresses first: a 1-replica cluster commits and applies within this call. */
	for (uint32_t i = 0; i < took; i++) {
		if (d->stage == NULL) {
			dp_clients_put(&d->clients, d->cmds[i].client_id, &d->cmd_src[i],
				       d->cmd_port[i]);
			continue;
		}
		struct dp_rec rec = {
			.type = DP_REC_ADDR, .port = d->cmd_port[i], .a = d->cmds[i].client_id,
			.addr = d->cmd_src[i],
		};
		if (!dp_ring_push(&d->stage->ring, &rec))
			d->c.ring_full++;   /* no REPLY for it; the client's retry is answered */
	}
	d->c.proposed += took;
	handle_out(d);
	bool leader = px_role(d->r) == PX_LEADER;
	for (uint32_t i = took; i < d->n_cmds; i++) {
		const struct px_cmd_ref *c = &d->cmds[i];
		send_reply(d, d->cmd_port[i], &d->cmd_src[i], c->client_id, c->seq,
			   leader ? PX_BUSY : PX_NOT_LEADER, NULL, 0);
		if (leader)
			d->c.busy++;
		else
			d->c.not_leader++;
	}
	d->n_cmds = 0;
}

/* ---------------------------------------------------------------------------------- */
/* Time                                                                                */

static void run_ticks(struct dp_ctx *d, uint64_t now)
{
	if (now < d->next_tick_ns)
		return;
	uint64_t due = (now - d->next_tick_ns) / d->tick_ns + 1;
	uint64_t run = due < DP_TICKS_CATCHUP_MAX ? due : DP_TICKS_CATCHUP_MAX;
	for (uint64_t i = 0; i < run; i++) {
		px_out_reset(d->out);
		px_tick(d->r, d->out);
		handle_out(d);
	}
	d->c.ticks += run;
	d->c.ticks_skipped += due - run;
	d->next_tick_ns += due * d->tick_ns;
}

static void periodic(struct dp_ctx *d, uint64_t now)
{
	/* stages = 2: a restart must not pull a client port from under the apply lcore's
	 * transmit side, so only links are restarted there. */
	for (uint8_t k = 0; k < d->n_ports; k++)
		if (d->stage == NULL || d->port_is_link[k])
			nic_housekeep(d->ports[k], now);
	/* Pairs with nothing: the handler's store and this exchange run on this thread;
	 * the atomic only makes the handler's write well defined. */
	if (atomic_exchange_explicit(d->stats_now, false, memory_order_relaxed))
		dp_stats_print(d, stdout, now, false);
	if (d->stats_interval_ns != 0 && now >= d->next_stats_ns) {
		dp_stats_print(d, stdout, now, false);
		d->next_stats_ns = now + d->stats_interval_ns;
	}
	if (d->pub != NULL) {
		/* relaxed: want carries no data; a reader waits for seq to move, and the
		 * seqlock's acquire/release pairs (dp_pub_write) order the snapshot itself. */
		bool asked = atomic_load_explicit(&d->pub->want, memory_order_relaxed);
		if (asked || now >= d->next_pub_ns) {
			if (asked)
				atomic_store_explicit(&d->pub->want, false, memory_order_relaxed);
			struct dp_snap s;
			dp_snap_fill(d, now, &s);
			dp_pub_write(d->pub, &s);
			d->next_pub_ns = now + DP_PUB_INTERVAL_NS;
		}
	}
	if (!d->warned_recovering && px_role(d->r) == PX_RECOVERING &&
	    now - d->start_ns > 5000000000ull) {
		d->warned_recovering = true;
		dp_log(d, DP_LOG_WARN,
		       "still recovering after 5 s: recovery needs answers from f + 1 = %u of the %u other replicas, running normally. If this is the first start of a new cluster, start every replica with --bootstrap",
		       d->pxc.n_replicas / 2u + 1u, d->pxc.n_replicas - 1u);
	}
}

/** Adaptive idle: keep polling for DP_IDLE_SPIN_NS after the last datagram (traffic
 *  comes in trains), then sleep in poll() until a datagram arrives or the next tick (or
 *  stats line) is due. A wake-up for a tick alone goes straight back to sleep. */
static void idle(struct dp_ctx *d, uint64_t now)
{
	if (now - d->last_rx_ns < DP_IDLE_SPIN_NS)
		return;
	uint64_t until = d->next_tick_ns;
	if (d->stats_interval_ns != 0 && d->next_stats_ns < until)
		until = d->next_stats_ns;
	if (d->pub != NULL && d->next_pub_ns < until)
		until = d->next_pub_ns;
	if (until <= now)
		return;
	uint64_t wait = until - now;
	if (wait > DP_IDLE_SLEEP_NS_MAX)
		wait = DP_IDLE_SLEEP_NS_MAX;
	d->c.idle_sleeps++;
	if (d->n_ports == 1) {
		int r = nic_wait_rx(d->ports[0], wait);
		if (r < 0)
			dp_log(d, DP_LOG_WARN, "poll: %s", strerror(-r));
		return;
	}
	/* Several ports: look at the others, then sleep a slice on the sleep port (a kernel
	 * socket wakes at once on a client datagram); at most wait / slice + 1 rounds. */
	uint64_t slept = 0;
	for (;;) {
		for (uint8_t k = 0; k < d->n_ports; k++)
			if (k != d->sleep_port && nic_wait_rx(d->ports[k], 0) == 1)
				return;
		uint64_t slice = wait - slept < DP_IDLE_SLICE_NS ? wait - slept : DP_IDLE_SLICE_NS;
		int r = nic_wait_rx(d->ports[d->sleep_port], slice);
		if (r != 0) {
			if (r < 0)
				dp_log(d, DP_LOG_WARN, "poll: %s", strerror(-r));
			return;
		}
		slept += slice;
		if (slept >= wait || atomic_load_explicit(d->stop, memory_order_relaxed))
			return;
	}
}

static void flush_all(struct dp_ctx *d)
{
	for (uint8_t k = 0; k < d->n_ports; k++)
		if (d->stage == NULL || d->port_is_link[k])
			nic_tx_flush(d->ports[k]);
}

/** stages = 2: what the apply lcore finished releases log memory; hand it more. */
static void stage_sync(struct dp_ctx *d)
{
	struct dp_stage *st = d->stage;
	/* acquire: pairs with the apply lcore's release after applying those slots */
	uint64_t a = atomic_load_explicit(&st->applied_pub, memory_order_acquire);
	if (a > d->applied_told) {
		px_applied(d->r, a);
		d->applied_told = a;
	}
	if (d->slots_given < d->slots_due)
		give_slots(d);
	dp_ring_publish(&st->ring);
}

int dp_run(struct dp_ctx *d)
{
	uint64_t now = dp_now_ns();
	d->start_ns = now;
	d->next_tick_ns = now + d->tick_ns;
	d->next_stats_ns = now + d->stats_interval_ns;
	d->next_pub_ns = now;   /* publish on the first iteration */
	d->last_rx_ns = now;
	d->role = px_role(d->r);

	/* The stop flag is set by a signal handler on this same thread; acquire pairs with
	 * the handler's release store (and costs nothing on x86). */
	while (!atomic_load_explicit(d->stop, memory_order_acquire)) {
		d->c.iterations++;
		uint32_t n = 0;
		for (uint8_t k = 0; k < d->n_ports; k++) {
			struct nic_port *p = d->ports[k];
			uint16_t got = nic_rx_burst(p, d->pkts, DP_RX_BURST);
			for (uint16_t i = 0; i < got; i++)
				on_datagram(d, k, &d->pkts[i]);
			/* Propose per port burst (the queue holds one burst, DP_CMDS_MAX), before
			 * the views are released: the queued bodies point into them. */
			if (d->n_cmds > 0)
				propose_queued(d);
			nic_rx_done(p);
			n += got;
		}
		now = dp_now_ns();
		if (n > 0)
			d->last_rx_ns = now;
		run_ticks(d, now);
		if (d->read_n > 0)
			serve_reads(d);
		if (d->stage != NULL)
			stage_sync(d);
		flush_all(d);
		periodic(d, now);
		if (n == 0 && d->cfg->idle == PW_IDLE_ADAPTIVE)
			idle(d, now);
	}
	flush_all(d);
	return 0;
}
