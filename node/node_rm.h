/* SPDX-License-Identifier: Apache-2.0
 * node_rm: the remote-memory log transport inside node/ (prefix nrm_; docs/rdma.md,
 * "The protocol"). Private to node/: node.c calls these at the points named below, and
 * node_rm.c calls back into node.c through node_pvt_* (node.c defines them).
 *
 * A leader writes each ACCEPT its core sends to a granted follower into that follower's
 * log region (a ring of records) with a one-sided write, and turns the write's
 * completion into that follower's ACCEPTED; a follower lets exactly the leader whose
 * ballot it promised write its region, takes the records in order as that leader's
 * ACCEPTs, and revokes the leader's access and takes what landed before its core may
 * promise another ballot. Setup travels as RM messages on the message path.
 */
#ifndef NODE_RM_H
#define NODE_RM_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "node.h"

struct node_rm;

/* node.c, for node_rm.c */
/** The core steps m (a record's ACCEPT, or an ACCEPTED built from completions) and
 *  node.c handles the effects, as for a datagram (observers see NODE_CALL_RM). */
void node_pvt_step(struct node *n, const struct px_msg *m);
/** Sends an RM message to peer `to` (sealed like every datagram). */
void node_pvt_send_rm(struct node *n, uint8_t to, uint8_t flags, uint64_t nonce,
		      uint64_t slot_lo, uint64_t slot_hi, const uint8_t *body, uint32_t len);
void node_pvt_log(struct node *n, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
struct px_replica *node_pvt_replica(struct node *n);
/** Authenticated mode (node_conf.keys): appends the trailer for peer `to` to the len
 *  encoded bytes in buf (cap >= len + PX_TRAILER_BYTES), as to a datagram for it;
 *  returns the new length. Without keys: len. */
uint32_t node_pvt_seal(struct node *n, uint8_t to, uint8_t *buf, uint32_t len, uint32_t cap);
/** Authenticated mode: the grant to peer `from` is made: its life as its HELLO showed
 *  it is the one its records are checked against (node_pvt_verify). */
void node_pvt_rm_granted(struct node *n, uint8_t from);
/** Authenticated mode: checks a record's trailer as the granted peer `from`'s (the
 *  life it had at the grant, the tag; no replay window: the record's seq orders it);
 *  returns the message's length, or 0 (counted in auth_drops). Without keys: len. */
uint32_t node_pvt_verify(struct node *n, uint8_t from, const uint8_t *buf, uint32_t len);
/** The observer's rm_polled, if any. */
void node_pvt_rm_polled(struct node *n);

/* node_rm.c, for node.c */
/** Arena bytes of the transport's state (0 without c->rm). */
size_t nrm_bytes(const struct node_conf *c);
/** Why c's transport settings are refused, or NULL. */
const char *nrm_conf_check(const struct node_conf *c);
/** Registers the regions (control path: allocates through rm). NULL with *why. */
struct node_rm *nrm_init(const struct node_conf *c, void *mem, const char **why);
/** Leader: the core's ACCEPT m for peer `to`, encoded (enc, len; NULL: not yet). true:
 *  it went as a write into the peer's region (no datagram to send). */
bool nrm_send_accept(struct node *n, struct node_rm *t, const struct px_msg *m, uint8_t to,
		     const uint8_t *enc, uint32_t len);
/** Follower: the core's message m goes unsent: an ACCEPTED answering a record, to the
 *  leader that wrote it (it counts the write's completion instead). */
bool nrm_quiet(struct node_rm *t, const struct px_msg *m);
/** Follower, before the core steps the datagram m: fences the granted leader first
 *  when m may raise the promise. false: the fence failed; m must not be stepped. */
bool nrm_before_step(struct node *n, struct node_rm *t, const struct px_msg *m);
/** After every call into the core: true if the grant still matches the promise (a bug
 *  of ours if not: the core promised without the fence). */
bool nrm_after_call(struct node *n, struct node_rm *t);
/** The granted leader (0xff: none) and its ballot. */
uint8_t nrm_writer(const struct node_rm *t, uint64_t *ballot);
/** node_rm_landed. */
unsigned nrm_landed(struct node *n, struct node_rm *t,
		    void (*visit)(void *ctx, const struct px_msg *m), void *ctx);
/** An RM message (HELLO or GRANT). */
void nrm_on_msg(struct node *n, struct node_rm *t, const struct px_msg *m);
/** Every tick: a leader (re-)sends HELLOs to followers without a write path. */
void nrm_tick(struct node *n, struct node_rm *t);
unsigned nrm_poll(struct node *n, struct node_rm *t);
/** node_rm_forge. */
bool nrm_forge(struct node_rm *t, unsigned how, uint64_t rnd);
const struct node_rm_counters *nrm_counters(const struct node_rm *t);

#endif /* NODE_RM_H */
