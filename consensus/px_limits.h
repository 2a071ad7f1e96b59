/* SPDX-License-Identifier: Apache-2.0
 * Every bound of the consensus core, in one place, with the relations between them
 * checked when compiling (TigerBeetle's constants.zig). A run-time config may choose
 * smaller values; px_config_check() rejects larger ones.
 */
#ifndef PX_LIMITS_H
#define PX_LIMITS_H

#include <stdint.h>

/** Replicas in one cluster: 3, 5, 7 or 9 (2f+1). Node ids are 0..n-1. */
#define PX_REPLICAS_MIN 3
#define PX_REPLICAS_MAX 9

/** Slots of the in-memory log window (ring). A power of two. */
#define PX_WINDOW_MAX 4096u
#define PX_WINDOW_MIN 16u

/** Slots a leader may have proposed but not yet committed (the pipeline, W). */
#define PX_PIPELINE_MAX 1024u

/** Client commands packed into one slot (one batch). */
#define PX_BATCH_CMDS_MAX 256u

/** Bytes of one client command body (service-defined encoding). */
#define PX_CMD_BYTES_MAX 4096u

/** Bytes of one slot's value: the encoded batch (header + commands). */
#define PX_SLOT_BYTES_MAX 16384u

/** Bytes of one encoded wire message (header included). Fits a jumbo-frame UDP datagram. */
#define PX_MSG_BYTES_MAX 17408u

/** Bytes a datagram carries after its message: the authentication trailer (auth/auth.h,
 *  docs/protocol.md "Authentication trailer"); and so the largest datagram. */
#define PX_TRAILER_BYTES 40u
/** Largest body of an RM message (node/'s remote-memory setup: endpoint and region). */
#define PX_RM_BODY_MAX 128u
#define PX_DGRAM_BYTES_MAX (PX_MSG_BYTES_MAX + PX_TRAILER_BYTES)

/** Log entries carried by one message (ACCEPT, PROMISE, RECOVER_REPLY). */
#define PX_MSG_ENTRIES_MAX 64u

/** Messages one call into the core may emit. */
#define PX_OUT_MSGS_MAX 64u

/** Client replies one call into the applier may emit. */
#define PX_OUT_REPLIES_MAX (PX_BATCH_CMDS_MAX * 4u)

/** Bytes of a cached reply kept per client session (exactly-once retries). */
#define PX_REPLY_BYTES_MAX 4096u

/** Bytes of snapshot one SNAP_CHUNK carries (state transfer; the last chunk less). */
#define PX_SNAP_CHUNK_BYTES 8192u
/** State transfer's rate limit: chunks a receiving replica asks for per tick (a
 *  serving one sends twice that), by default and at most. 16 x 8 KiB a 1 ms tick is
 *  128 MB/s. */
#define PX_TRANSFER_CHUNKS_DEFAULT 16u
#define PX_TRANSFER_CHUNKS_MAX 1024u

/** Client sessions kept by the applier (LRU, evicted deterministically at apply). */
#define PX_SESSIONS_MAX 65536u

/** Sequence numbers one client session may have outstanding at once (its window,
 *  px_apply.h): a pipelining client keeps at most this many commands in flight, and
 *  the applier remembers which of the last this many seqs it applied, with their
 *  replies. A power of two, at most 64 (one bit each in a u64). */
#define PX_SESSION_WINDOW 64u

/** Slots a leader re-sends to one lagging follower per heartbeat (catch-up). */
#define PX_CATCHUP_SLOTS_MAX 32u

/** Encoded size of one command inside a batch: client id, seq, length. */
#define PX_CMD_HDR_BYTES 20u
/** Encoded size of a batch header: command count. */
#define PX_BATCH_HDR_BYTES 4u

/** Ticks: every timeout is counted in calls to px_tick(). */
#define PX_TICKS_MAX 1000000u

/* Defaults: the one table. px_config_default() fills a px_config from it, and
 * config/ (cluster files: cfg_defaults) takes its sizes from it; a run-time
 * config may choose any value the limits above allow. Timeouts are in ticks here and in
 * milliseconds (heartbeat_ms, election_ms) or microseconds (heartbeat_us, election_us) in
 * a cluster file (at the default tick of 1 ms, the same numbers as milliseconds). */
#define PX_DEFAULT_WINDOW_SLOTS 1024u
#define PX_DEFAULT_PIPELINE_SLOTS 256u
#define PX_DEFAULT_SLOT_BYTES 8192u
#define PX_DEFAULT_BATCH_CMDS 64u
#define PX_DEFAULT_HEARTBEAT_TICKS 5u
#define PX_DEFAULT_ELECTION_TICKS 50u

/* Ceilings on numbers that arrive from the network (docs/protocol.md, "Bounds"). Each is
 * far beyond what an honest cluster reaches in its lifetime, so a message above one is
 * a mangled or forged message: it is dropped and counted, never acted on, and the
 * arithmetic on accepted values (round + 1, slot + window) can never wrap. */

/** Ballot rounds: a round grows by one per election (pre-votes do not raise the
 *  voter's own round), so 2^40 lasts 35 years at a thousand elections a second. */
#define PX_ROUND_MAX (1ull << 40)

/** Slot numbers (entries, commit points, page bounds): 2^62 lasts 14,000 years at
 *  ten million slots a second. */
#define PX_SLOT_MAX (1ull << 62)

/** Configuration epochs: one per membership change. */
#define PX_EPOCH_MAX (1u << 30)

/** Incarnations (memory-mode crash vectors): one per restart of a replica. */
#define PX_INCARNATION_MAX (1u << 30)


_Static_assert(PX_REPLICAS_MAX < 255, "node ids fit a u8 with 255 reserved for broadcast");
_Static_assert((PX_WINDOW_MAX & (PX_WINDOW_MAX - 1)) == 0, "window is a power of two");
_Static_assert((PX_WINDOW_MIN & (PX_WINDOW_MIN - 1)) == 0, "window is a power of two");
_Static_assert(PX_WINDOW_MAX >= 2 * PX_PIPELINE_MAX,
               "the window holds the pipeline twice: in flight plus history for catch-up");
_Static_assert(PX_SLOT_BYTES_MAX >= PX_BATCH_HDR_BYTES + PX_CMD_HDR_BYTES + PX_CMD_BYTES_MAX,
               "one maximal command fits a slot");
_Static_assert(PX_MSG_BYTES_MAX >= PX_SLOT_BYTES_MAX + 1024,
               "one maximal slot fits a message with its headers");
_Static_assert(PX_OUT_MSGS_MAX >= 2 * PX_REPLICAS_MAX + 4,
               "one step can answer or address every peer twice");
_Static_assert(PX_SESSION_WINDOW >= 1 && PX_SESSION_WINDOW <= 64 &&
	       (PX_SESSION_WINDOW & (PX_SESSION_WINDOW - 1)) == 0,
	       "a session's window is a power of two that fits a u64 bitmap");
_Static_assert(PX_CATCHUP_SLOTS_MAX <= PX_MSG_ENTRIES_MAX, "catch-up entries fit a message");
_Static_assert(PX_REPLY_BYTES_MAX <= PX_MSG_BYTES_MAX - 256, "a reply fits a message");
_Static_assert(PX_ROUND_MAX < (1ull << 56) - 1, "round + 1 fits a ballot's 56 round bits");
_Static_assert(PX_SLOT_MAX + 2ull * PX_WINDOW_MAX < UINT64_MAX / 2,
	       "slot + window arithmetic on accepted slots cannot wrap");
_Static_assert((uint64_t)PX_INCARNATION_MAX + 1 < UINT32_MAX, "incarnation + 1 fits a u32");

#endif /* PX_LIMITS_H */
