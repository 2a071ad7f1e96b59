/* SPDX-License-Identifier: Apache-2.0
 * The applier: runs chosen slots through a service in slot order, with client sessions
 * for exactly-once semantics (Raft dissertation section 6.3; VR's client table).
 *
 * Each client has at most one command outstanding; commands carry (client id, seq).
 * For each command in slot order:
 *   - seq == session.last_seq: duplicate; the cached reply is returned, nothing applied.
 *   - seq <  session.last_seq: stale retry of an answered command; PX_SESSION_EXPIRED.
 *   - seq >  session.last_seq: applied; the reply is cached in the session.
 *   - unknown client: a session is created. When the table is full the least recently
 *     used session is evicted first. This choice is a deterministic function of the
 *     applied log, so every replica evicts the same session at the same slot: eviction
 *     is decided through the log. A later command of an evicted client gets
 *     PX_SESSION_EXPIRED (its earlier outcome cannot be vouched for), seq 1 included
 *     while its id is among the last max_sessions evicted (remembered in the index),
 *     so a retried first command is not applied twice.
 * A command with seq 0 is never applied (sequences start at 1): PX_BAD_COMMAND.
 * Every command that finds its session (new, duplicate or stale) makes it the most
 * recently used; a command answered PX_SESSION_EXPIRED for an unknown client creates
 * no session, so an evicted client stays expired until it starts over with a new id.
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
};

/** A reply to one client command. data points into the px_apply_out buffer. */
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
	uint64_t duplicates;   /**< seq == last_seq: answered from the session's cache */
	uint64_t stale;        /**< seq < last_seq: PX_SESSION_EXPIRED */
	uint64_t expired;      /**< unknown client with seq > 1, or an evicted client:
	                            PX_SESSION_EXPIRED */
	uint64_t evictions;    /**< sessions evicted (LRU) to make room */
	uint64_t noops;        /**< slots with no command */
	uint64_t bad_seq;      /**< seq == 0: PX_BAD_COMMAND, not applied */
	uint64_t reads;        /**< read commands run by px_apply_read (outside the log) */
};

/** Bytes of arena for this many sessions (0 if max_sessions is out of range).
 *  Dominated by the reply caches: max_sessions * (PX_REPLY_BYTES_MAX + 64). */
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

/** True if the service has a read fast path and cmd is one of its read commands. */
bool px_apply_is_read(const struct px_applier *a, const uint8_t *cmd, uint32_t len);

/**
 * Runs a read command against the current state (every slot up to
 * px_applier_last_slot() applied), outside the log and without a client session: a
 * read changes nothing, so it needs no exactly-once dedupe, and the session table (a
 * function of the log) is not touched. The caller serves a read-index read with it
 * once its ticket is confirmed and px_applier_last_slot() >= its read index (px.h).
 * Only for a client that has a session already (px_applier_session_peek): a session
 * begins with a logged command of seq 1, and reads here consume the client's seq
 * numbers without the log seeing them.
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

/** Tests and tools: true and *last_seq if client_id has a session. Does not touch LRU. */
bool px_applier_session_peek(const struct px_applier *a, uint64_t client_id,
			     uint64_t *last_seq);

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
