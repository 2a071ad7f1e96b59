/* SPDX-License-Identifier: Apache-2.0
 * The applier: runs chosen slots through a service in slot order, with registered
 * client sessions for exactly-once semantics (Ongaro's dissertation, "Consensus:
 * Bridging Theory and Practice", section 6.3; VR's client table).
 *
 * A client registers through the log, then sends commands (session id, seq), up to
 * PX_SESSION_WINDOW outstanding at a time (a window, as in Ongaro's section 6.3: the
 * client says with each command which of its earlier ones it still awaits). Each
 * command of a batch has a log position, px_session_id(slot, index in the batch). The
 * seq field of a command is px_seq_field(seq, behind): the sequence number (bits
 * 0..55, from 1 in each session) and `behind` (bits 56..63): how many seqs below this
 * one the client still awaits, so that seq - behind is the oldest (its "floor"; a
 * client with one command outstanding sends behind 0). Per session the applier keeps
 * the highest seq applied (last_seq), the highest floor any command named, which of
 * the seqs in [last_seq - PX_SESSION_WINDOW + 1, last_seq] it applied, and their
 * replies (a ring of PX_REPLY_BYTES_MAX bytes per session: the newest reply is always
 * kept, older ones until the ring's bytes are reused). For each command in slot order:
 *   - seq field == 0: a registration. A new session is created with id = the command's
 *     position (unique, never reused, never 0), last_seq 0, and the reply is PX_OK with
 *     body = the id (u64 LE, PX_SESSION_ID_BYTES), client_id = the command's client_id
 *     (the client's nonce) and seq 0. When the table is full the least recently used
 *     session is evicted first: a deterministic function of the applied log, so every
 *     replica evicts the same session at the same slot. A seq 0 with a body is no
 *     registration: PX_BAD_COMMAND; so is a seq field whose seq is 0 but behind not.
 *   - the session id is not in the table: PX_SESSION_EXPIRED, nothing applied. Either
 *     the id is a position the log has passed (its session was evicted; whether this
 *     command was applied before can no longer be told, and no later registration can
 *     bring the id back, so the command is refused forever), or a position it has not
 *     reached (or slot 0): never issued, impossible for an honest client.
 *   - the session's floor rises to seq - behind if that is higher. Then, with
 *     lo = max(floor, last_seq - PX_SESSION_WINDOW + 1):
 *   - seq <  lo: behind the window: PX_SESSION_EXPIRED with the one-byte body
 *     PX_EXPIRED_SEQ, nothing applied, now or later (the client said it no longer
 *     awaits it, or it is older than the window: whether it was applied can no longer
 *     be told). The session lives on.
 *   - seq in [lo, last_seq] and applied before: a duplicate; the cached reply is
 *     returned, nothing applied; if the ring no longer holds that reply,
 *     PX_SESSION_EXPIRED with the body PX_EXPIRED_REPLY (it was applied; its reply is
 *     gone; the session lives on).
 *   - seq in [lo, last_seq] and not applied: a gap filled (commands of a pipelining
 *     client may be chosen out of order, through resends and failover): applied, its
 *     reply cached; last_seq stays.
 *   - seq >  last_seq: applied, the reply cached; last_seq = seq, the window slides.
 * So a (session, seq) is applied at most once: only while its seq is within the window
 * and not marked applied, and a seq leaves the window only upwards. A client with one
 * command outstanding (behind 0) sees the older rule: its last seq again is a
 * duplicate, anything lower stale.
 * A registration makes its session the most recently used, and so does every command
 * that finds its session (applied, duplicate or stale).
 *   - client_id 0, seq 0, a body of PX_UUID_BYTES: a bind (node/ proposes it, no
 *     client can: a REGISTER needs a non-zero nonce and no body). The first bind in
 *     the log sets the cluster uuid (px_applier_uuid), kept in snapshots; later ones
 *     change nothing. Answered PX_OK to client 0, which embedders do not send.
 *   - client_id 0, seq 0, a body of PX_MEMBERS_BYTES (the uuid, then a u32 mask): the
 *     members known to have run in the cluster of that uuid (node/'s bootstrap guard)
 *     grow by the mask (px_applier_members), kept in snapshots; a mask for another
 *     uuid, or before one is bound, changes nothing.
 * Pure: no allocation after init.
 */
#ifndef PX_APPLY_H
#define PX_APPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "px.h"
#include "px_batch.h"

/** A replicated state machine. apply() must be deterministic. */
struct px_service {
	/**
	 * Applies one command. Writes at most cap reply bytes to reply.
	 * @return reply length; sets *status (PX_OK or PX_BAD_COMMAND).
	 */
	uint32_t (*apply)(void *ctx, const uint8_t *cmd, uint32_t len, uint8_t *reply,
			  uint32_t cap, uint8_t *status);
	/** A hash of the whole state, for tests and replica comparison. */
	uint64_t (*hash)(const void *ctx);
	void *ctx;
	/**
	 * Optional (NULL: no read fast path, every command goes through the log). True if
	 * cmd is a well-formed command that reads the state and changes nothing, so that
	 * apply() of it may run outside the log: px_apply_read(), at a leader that
	 * confirmed a read index (px_read_begin in px.h). Must depend on the bytes alone.
	 * Last, so that initialisers written before it still compile.
	 */
	bool (*is_read)(void *ctx, const uint8_t *cmd, uint32_t len);

	/* ---- Snapshots (state transfer, backups; docs/storage.md) --------------------
	 * All three, or none (NULL: this service cannot be snapshotted; a replica that
	 * falls behind the cluster's window then cannot heal, and paxwired says so). */
	/**
	 * The most bytes snapshot() can write for any state of this instance: a bound
	 * fixed at init (the embedder sizes one buffer by it, once).
	 */
	size_t (*snapshot_max)(const void *ctx);
	/**
	 * Writes the whole state into buf (cap >= snapshot_max()): the bytes restore()
	 * takes. Must not change the state. Equal states need not give equal bytes, but
	 * restore() of them must give a state equal in every observable way (every later
	 * apply() answers the same, hash() is the same).
	 * @return bytes written (> 0: even an empty state has a header).
	 */
	size_t (*snapshot)(const void *ctx, uint8_t *buf, size_t cap);
	/**
	 * Replaces the whole state by the one buf describes. The bytes come from another
	 * replica (checksummed, but check every length and count anyway: never read out
	 * of buf, never crash). len == 0 (buf may be NULL): the empty state, as after
	 * init; this never fails.
	 * @return 0, or -EINVAL: malformed, or beyond this instance's limits (the state
	 *         is then unspecified until the next successful restore()).
	 */
	int (*restore)(void *ctx, const uint8_t *buf, size_t len);
};

/** Bytes of a registration's reply body: the session id, u64 little-endian. */
#define PX_SESSION_ID_BYTES 8u

_Static_assert(PX_SESSION_ID_BYTES <= PX_REPLY_BYTES_MAX, "a session id fits a reply");

/**
 * The session id a registration at this log position creates: slot * PX_BATCH_CMDS_MAX
 * + index of the command in the slot's batch. Unique per position, increasing along the
 * log, never 0 (slots start at 1).
 */
static inline uint64_t px_session_id(uint64_t slot, uint32_t index)
{
	return slot * PX_BATCH_CMDS_MAX + index;
}

/** Bits of a command's seq field that are its sequence number; the top 8 are `behind`. */
#define PX_SEQ_BITS 56u
#define PX_SEQ_MASK ((1ull << PX_SEQ_BITS) - 1u)

_Static_assert(PX_SESSION_WINDOW <= 256u, "behind (seqs still awaited) fits 8 bits");

/** A command's seq field: seq (1..PX_SEQ_MASK) and how many seqs below it the client
 *  still awaits (0..PX_SESSION_WINDOW - 1). */
static inline uint64_t px_seq_field(uint64_t seq, uint32_t behind)
{
	return (seq & PX_SEQ_MASK) | ((uint64_t)(behind & 0xffu) << PX_SEQ_BITS);
}
/** The sequence number in a seq field. */
static inline uint64_t px_seq_of(uint64_t field)
{
	return field & PX_SEQ_MASK;
}
/** The `behind` in a seq field. */
static inline uint32_t px_seq_behind(uint64_t field)
{
	return (uint32_t)(field >> PX_SEQ_BITS);
}

/** The one-byte body of a PX_SESSION_EXPIRED reply to a command of a session the
 *  applier still holds (an empty body: the session is not held). */
#define PX_EXPIRED_SEQ 1u    /**< seq behind the session's window: never applied now */
#define PX_EXPIRED_REPLY 2u  /**< applied, but its cached reply is no longer kept */

/** A reply to one client command. data points into the px_apply_out buffer.
 *  Registrations: client_id is the client's nonce, seq 0, data the session id. */
struct px_reply {
	uint64_t client_id;
	uint64_t seq;
	uint8_t status;   /**< enum px_status */
	uint32_t len;
	const uint8_t *data;
};

/** Bytes of reply one slot may produce: every command of a full batch with a reply of
 *  the largest size. Sized for that worst case so that no reply is ever cut: a client
 *  that got PX_OK has the whole reply (the applier asserts it). 1 MiB: embedders keep
 *  their px_apply_out on the heap or in an arena, never on a stack. */
#define PX_APPLY_OUT_BYTES (PX_BATCH_CMDS_MAX * PX_REPLY_BYTES_MAX)

_Static_assert(PX_APPLY_OUT_BYTES / PX_BATCH_CMDS_MAX >= PX_REPLY_BYTES_MAX,
	       "one slot's replies, each as long as a reply can be, fit px_apply_out");

/** One slot's replies. Invariant: used <= PX_APPLY_OUT_BYTES, and each reply is whole. */
struct px_apply_out {
	uint32_t n;
	struct px_reply replies[PX_BATCH_CMDS_MAX];
	uint32_t used;
	uint8_t buf[PX_APPLY_OUT_BYTES];
};

struct px_applier;

struct px_apply_counters {
	uint64_t slots;        /**< slots applied (no-ops included) */
	uint64_t commands;     /**< commands passed to the service */
	uint64_t duplicates;   /**< a seq the window marks applied: answered from the
	                            session's cache */
	uint64_t stale;        /**< seq behind the window: PX_SESSION_EXPIRED */
	uint64_t expired;      /**< session id of a position the log passed, not in the
	                            table (evicted): PX_SESSION_EXPIRED */
	uint64_t evictions;    /**< sessions evicted (LRU) to make room */
	uint64_t noops;        /**< slots with no command */
	uint64_t bad_seq;      /**< seq == 0 with a body (not a registration):
	                            PX_BAD_COMMAND, not applied */
	uint64_t reads;        /**< read commands run by px_apply_read (outside the log) */
	uint64_t registrations; /**< sessions created (seq 0 commands) */
	uint64_t unissued;     /**< session id of a position the log has not reached (or
	                            slot 0): PX_SESSION_EXPIRED, never applied */
	uint64_t binds;        /**< binds applied that set the cluster uuid (0 or 1 since
	                            the last restore) */
	uint64_t binds_late;   /**< binds applied after the uuid was set: no effect */
	uint64_t members_grown; /**< member masks applied that added a member */
	uint64_t conf;          /**< configuration entries applied that took (membership) */
	uint64_t gaps_filled;   /**< commands applied below their session's last_seq (a
	                             pipelining client's, chosen out of order) */
	uint64_t replies_lost;  /**< duplicates whose reply the ring no longer held:
	                             PX_SESSION_EXPIRED (PX_EXPIRED_REPLY) */
};

/** Bytes of arena for this many sessions (0 if max_sessions is out of range).
 *  Dominated by the reply caches: max_sessions * (PX_REPLY_BYTES_MAX + 8 *
 *  PX_SESSION_WINDOW + 128), 4.7 KiB a session. */
size_t px_applier_arena_bytes(uint32_t max_sessions);

/** NULL + errno (EINVAL: sessions 0 or > PX_SESSIONS_MAX; ENOSPC: arena too small). */
struct px_applier *px_applier_init(uint32_t max_sessions, const struct px_service *svc,
				   void *arena, size_t len);

/**
 * Applies the batch chosen for `slot` (must be the previous slot + 1; the first slot is
 * 1). `value` must be a batch that px_batch_valid accepted (the codec checks every
 * incoming one); anything else is the caller's bug and stops the process. Replies go to
 * out (reset by this call), one per command, in batch order, each whole: the service
 * gets cap = PX_REPLY_BYTES_MAX and writes straight into the session's cache, and out
 * holds PX_BATCH_CMDS_MAX replies of that size.
 */
void px_apply_slot(struct px_applier *a, uint64_t slot, const uint8_t *value, uint32_t len,
		   struct px_apply_out *out);

uint64_t px_applier_last_slot(const struct px_applier *a);

/** The cluster uuid the applied log bound (the first bind), or all zero if none yet. */
struct px_uuid px_applier_uuid(const struct px_applier *a);

/** Writes the bind command for uuid u (an id: px_uuid_is_id) into body
 *  (PX_UUID_BYTES): propose it as { client_id 0, seq 0, body }. */
void px_bind_body(struct px_uuid u, uint8_t body[PX_UUID_BYTES]);

/** Bytes of a member-mask command's body: the uuid, then the mask (u32 LE). */
#define PX_MEMBERS_BYTES (PX_UUID_BYTES + 4u)

/** Members the applied log recorded as having run in the bound cluster (bit i: replica
 *  i); 0 while no uuid is bound. */
uint32_t px_applier_members(const struct px_applier *a);

/** Membership (px.h, "Membership"): the applier follows configuration entries as the
 *  replica does (px_membership_chosen on every applied slot), and keeps the result and
 *  the members' addresses in snapshots, so that a replica installing one (a joiner, one
 *  healing) learns the membership in force after its slot. set: the cluster file's, at
 *  start (a snapshot's replaces it). */
void px_applier_set_membership(struct px_applier *a, const struct px_membership *ms);
/** The membership in force after px_applier_last_slot (cur.epoch 0: unknown: restored
 *  from a snapshot older than PXSNAP04). */
const struct px_membership *px_applier_membership(const struct px_applier *a);
/** Member id's address as the newest configuration entry that took named it; NULL if
 *  none did (the cluster file's members until a change names them). */
const char *px_applier_member_addr(const struct px_applier *a, uint8_t id);

/** Writes the member-mask command (uuid u, mask) into body (PX_MEMBERS_BYTES). */
void px_members_body(struct px_uuid u, uint32_t mask, uint8_t body[PX_MEMBERS_BYTES]);

/** True if the service has a read fast path and cmd is one of its read commands. */
bool px_apply_is_read(const struct px_applier *a, const uint8_t *cmd, uint32_t len);

/**
 * Runs a read command against the current state (every slot up to
 * px_applier_last_slot() applied), outside the log and without a client session: a
 * read changes nothing, so it needs no exactly-once dedupe, and the session table (a
 * function of the log) is not touched. The caller serves a read-index read with it
 * once its ticket is confirmed and px_applier_last_slot() >= its read index (px.h).
 * Embedders take this path only for a session the table holds
 * (px_applier_session_peek), from its registration on: the read's seq never reaches
 * the log, which is fine (a session applies any seq above its last). A read of a
 * session not held goes through the log instead, which answers it
 * PX_SESSION_EXPIRED: the client learns its session is gone at its next command,
 * read or write, and registers again.
 * @param reply at least PX_REPLY_BYTES_MAX bytes (cap is checked: a caller bug).
 * @param reply_len set to the reply's length; @param status PX_OK or PX_BAD_COMMAND.
 * @return 0, or -EINVAL (nothing run, nothing written) if the service has no read fast
 *         path or cmd is not a read (px_apply_is_read() false).
 */
int px_apply_read(struct px_applier *a, const uint8_t *cmd, uint32_t len, uint8_t *reply,
		  uint32_t cap, uint32_t *reply_len, uint8_t *status);
/**
 * Hash chain over every applied (slot, value): equal iff the applied logs are equal
 * (up to 64-bit collisions). Starts at PX_HASH_SEED. Each slot's value is read as
 * little-endian u64 words (the last one zero-padded) spread over four lanes seeded from
 * the slot number and the value length, each step lane = (lane ^ word) * odd constant;
 * then the chain takes the slot number and the four lanes the same way. Word-wise, four
 * lanes wide, rather than px_hash_bytes' byte-wise FNV, because the chain runs over
 * every byte of every applied slot on every replica: byte-wise it cost more than the
 * rest of the apply path. Each step is a bijection of its state for a fixed word and
 * injective in the word, so two logs that differ in one word always differ here.
 */
uint64_t px_applier_chain(const struct px_applier *a);
const struct px_apply_counters *px_applier_counters(const struct px_applier *a);

/** Sessions held now (<= max_sessions). */
uint32_t px_applier_sessions(const struct px_applier *a);

/** True and *last_seq (the highest seq applied; 0 before its first command) if the
 *  table holds session_id. Does not touch the LRU order. */
bool px_applier_session_peek(const struct px_applier *a, uint64_t session_id,
			     uint64_t *last_seq);

/**
 * Sessions belong to who registered them (docs/security.md, "Sessions"): a session's
 * owner is the top PX_OWNER_BITS of its registration's nonce, which an authenticated
 * client sets to its key's tag (px_owner_tag) and the embedder checks against the key
 * that sealed the REGISTER; afterwards the embedder serves a command or read of a
 * session only to the key of its owner. 0: no key's (an older snapshot's session).
 */
#define PX_OWNER_BITS 26u
#define PX_OWNER_SHIFT (64u - PX_OWNER_BITS)
static inline uint32_t px_session_owner(uint64_t nonce)
{
	return (uint32_t)(nonce >> PX_OWNER_SHIFT);
}
/** A key's tag: its id (1..2^24-1, 0 for the cluster key's admin) and whether it is an
 *  admin's (bit 24). Never 0. */
static inline uint32_t px_owner_tag(uint32_t key_id, bool admin)
{
	return (key_id & 0xffffffu) | (admin ? 1u << 24 : 0) | (key_id == 0 ? 1u << 25 : 0);
}

/** True and *owner if the table holds session_id. Does not touch the LRU order. */
bool px_applier_session_owner(const struct px_applier *a, uint64_t session_id,
			      uint32_t *owner);

/* ---- Snapshots: the applied state at one slot ---------------------------------
 * A snapshot is the applier's state (the last slot applied, the hash chain, every
 * session in LRU order with its cached reply) followed by the service's snapshot, in
 * one buffer (format in docs/storage.md, little-endian):
 *   magic "PXSNAP05" (8), slot u64, chain u64, max_sessions u32, n_sessions u32,
 *   the cluster uuid (lo u64, hi u64; zero: not bound yet), members u32, zero u32,
 *   the membership in force after slot: cur (epoch u32, voters u16, learners u16),
 *   next (the same), next_eff u64, alpha u32, zero u32, then PX_REPLICAS_MAX addresses
 *   of PX_CONF_ADDR_BYTES (NUL-padded; epoch 0: unknown),
 *   then n_sessions times, least recently used first:
 *     id u64, last_seq u64, floor u64, applied u64 (bit i: seq last_seq - i applied),
 *     owner u32, ring u32 (the reply ring's write position), then for each bit set in
 *     applied, lowest first: status u8, kept u8 (1: its reply is in the ring), len u16,
 *     start u32 (its position in the ring), and, if kept, the len reply bytes,
 *   then service_len u64 and the service's bytes.
 * Restoring it gives an applier that answers every later command exactly as the one
 * that wrote it: which session an eviction takes depends on the LRU order only, which
 * reply a later one overwrites on the ring positions only.
 * "PXSNAP04" (one reply per session: id u64, last_seq u64, reply_status u8, reply_len
 * u32, owner u32, reply bytes) is read as a window holding last_seq alone, with the
 * floor at last_seq (what that applier answered: anything lower was stale);
 * "PXSNAP03" (before membership) is read with the membership unknown too;
 * "PXSNAP02" (before session owners: no owner field) is read with owners 0; "PXSNAP01"
 * (before the uuid: the header ends after n_sessions) is read as unbound too.
 * px_snapshot_rebase (a backup seeding a new cluster) also clears the uuid. */

/** The most bytes px_applier_snapshot can write (0 if the service has no snapshots). */
size_t px_applier_snapshot_max(const struct px_applier *a);

/** The same bound before an applier exists: max_sessions sessions, a service whose
 *  snapshot_max() is service_max. */
size_t px_snapshot_bytes_max(uint32_t max_sessions, size_t service_max);

/**
 * Writes a snapshot of the state after slot px_applier_last_slot(a) into buf.
 * @return bytes written, or 0 if the service has no snapshots or cap is below
 *         px_applier_snapshot_max (a caller bug).
 */
size_t px_applier_snapshot(const struct px_applier *a, uint8_t *buf, size_t cap);

/** Reads a snapshot's slot and chain without restoring it. false: not a snapshot. */
bool px_snapshot_peek(const uint8_t *buf, size_t len, uint64_t *slot, uint64_t *chain);

/**
 * Moves a snapshot to a later slot: the state is the same, the log it continues
 * resumes after `slot` instead. A new cluster seeded from a backup does this (slot =
 * the backup's + PX_RESTORE_SLOT_GAP) so that no log position after the backup is
 * issued again: a client session registered there after the backup was taken is then
 * one the new cluster's log has passed (SESSION_EXPIRED: the client registers again),
 * never another client's. @return 0, or -EINVAL (not a snapshot; slot not above its
 * own, or above PX_SLOT_MAX).
 */
int px_snapshot_rebase(uint8_t *buf, size_t len, uint64_t slot);

/** The slots a restored cluster's log skips after the backup's slot (2^32). */
#define PX_RESTORE_SLOT_GAP (1ull << 32)

/**
 * Replaces the applier's state and the service's by the snapshot's: last slot,
 * chain, sessions, service state. Counters are kept (they count what this applier did).
 * @return 0, or -EINVAL (malformed; more sessions than this applier holds; the
 *         service refused its part; no snapshots): the applier is then empty (slot 0,
 *         no session, the service's empty state) and must be restored again before it
 *         applies anything.
 */
int px_applier_restore(struct px_applier *a, const uint8_t *buf, size_t len);

/**
 * Tests: checks the session table (hash index, LRU list, counts); NULL or a static
 * string naming the first violated invariant. O(max_sessions).
 */
const char *px_applier_check_invariants(const struct px_applier *a);

/** 64-bit FNV-1a continuation, shared by hash chains. */
static inline uint64_t px_hash_bytes(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}
#define PX_HASH_SEED 0xcbf29ce484222325ull

#endif /* PX_APPLY_H */
