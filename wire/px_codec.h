/* SPDX-License-Identifier: Apache-2.0
 * Wire codec: struct px_msg <-> bytes. Versioned, little-endian, fixed header.
 * Decoding checks every length and bound and returns a reason; it never reads outside
 * the buffer and never asserts on input. See docs/protocol.md for the layout.
 */
#ifndef PX_CODEC_H
#define PX_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "px.h"

#define PX_WIRE_MAGIC 0x5850u   /* "PX" little-endian bytes 'P','X' */
#define PX_WIRE_VERSION 5u   /* 5: the 128-bit cluster uuid at offset 40 (header 56
                                 bytes). 4: SNAP_REQ and SNAP_CHUNK (state transfer).
                                 3: PREVOTE carries no flag, PREVOTE_REPLY's ballot is the
                                 responder's promise and its slot_lo the PREVOTE's ballot;
                                 registered sessions (REQUEST flag REGISTER, seq 0 in the
                                 log registers). 2: read_round at offset 32 in
                                 ACCEPT/ACCEPTED */
#define PX_WIRE_HDR_BYTES 56u   /* fixed header, before the crash vector */

/* Byte offsets of the fixed header's fields (docs/protocol.md, "Header"). Exposed so
 * that a dataplane can steer or count on type/to without a full decode, and so that
 * tests can craft bad messages. Multi-byte fields are little-endian. */
#define PX_WIRE_OFF_MAGIC 0u       /* u16 PX_WIRE_MAGIC */
#define PX_WIRE_OFF_VERSION 2u     /* u8  PX_WIRE_VERSION */
#define PX_WIRE_OFF_TYPE 3u        /* u8  enum px_msg_type */
#define PX_WIRE_OFF_FLAGS 4u       /* u8  PX_MF_*, only those px_wire_type_flags allows */
#define PX_WIRE_OFF_FROM 5u        /* u8  sender node id, PX_NODE_NONE for a client */
#define PX_WIRE_OFF_TO 6u          /* u8  destination node id or PX_NODE_NONE */
#define PX_WIRE_OFF_N_INC 7u       /* u8  crash vector entries */
#define PX_WIRE_OFF_CLUSTER 8u     /* u32 cluster id */
#define PX_WIRE_OFF_EPOCH 12u      /* u32 config epoch */
#define PX_WIRE_OFF_BALLOT 16u     /* u64 ballot */
#define PX_WIRE_OFF_TOTAL_LEN 24u  /* u32 whole message, header included */
#define PX_WIRE_OFF_BODY_LEN 28u   /* u32 type-specific body, after the crash vector */
#define PX_WIRE_OFF_RESERVED 32u   /* u64: ACCEPT/ACCEPTED read_round; zero for other types */
#define PX_WIRE_OFF_READ_ROUND PX_WIRE_OFF_RESERVED  /* the same u64, by its use */
#define PX_WIRE_OFF_UUID 40u       /* 16 bytes: the cluster uuid, lo u64 then hi u64
                                      (struct px_uuid: zero, PX_UUID_FRESH or the id) */

/** Encoded size of one log entry before its value: slot, vballot, flags, len. */
#define PX_WIRE_ENTRY_HDR_BYTES 21u

/** Why a decode failed. 0 is success; every other value is counted by the caller. */
enum px_wire_err {
	PX_WIRE_OK = 0,
	PX_WIRE_E_SHORT,          /**< shorter than the fixed header */
	PX_WIRE_E_MAGIC,          /**< not a paxwire message */
	PX_WIRE_E_VERSION,        /**< unknown protocol version */
	PX_WIRE_E_TYPE,           /**< unknown message type */
	PX_WIRE_E_CLUSTER,        /**< another cluster's message */
	PX_WIRE_E_SENDER,         /**< sender id out of range for this cluster, or a
	                               REQUEST whose sender is not PX_NODE_NONE */
	PX_WIRE_E_LENGTH,         /**< header's length disagrees with the buffer */
	PX_WIRE_E_INC_COUNT,      /**< crash vector size is not the cluster size */
	PX_WIRE_E_BODY,           /**< body shorter than its type requires */
	PX_WIRE_E_ENTRIES,        /**< more entries than PX_MSG_ENTRIES_MAX */
	PX_WIRE_E_ENTRY_LEN,      /**< an entry overruns the body or PX_SLOT_BYTES_MAX */
	PX_WIRE_E_BATCH,          /**< an entry's value is not a valid batch */
	PX_WIRE_E_CMD_LEN,        /**< a request/reply body exceeds its bound */
	PX_WIRE_E_TRAILING,       /**< bytes left over after the body */
	PX_WIRE_E_FIELD,          /**< a field holds an impossible value: to, flags,
	                               reserved bytes (the read round of a type other than
	                               ACCEPT/ACCEPTED), entry slot order or flags, REPLY
	                               status or leader_hint */
	PX_WIRE_E_MAX,
};

/** The PX_MF_* bits a message of this type may carry; 0 for an unknown type.
 *  px_encode asserts m->flags is within it and px_decode rejects other bits. */
uint8_t px_wire_type_flags(uint8_t type);

/** Static name of a decode error ("short", "magic", ...), for counters and logs. */
const char *px_wire_err_name(enum px_wire_err e);

/** Bytes px_encode will write for m. */
size_t px_encoded_len(const struct px_msg *m);

/** Encodes m into buf. Returns bytes written, or 0 if cap is too small (nothing
 *  written). Reads only the fields m's type carries, so stale values in the others do
 *  not reach the wire. Asserts that m is well formed (known type, allowed flags, counts
 *  and lengths within px_limits.h, entries in increasing slot order from slot 1):
 *  entry values are checked to be valid batches in PX_INVARIANTS builds only. With that,
 *  px_decode accepts whatever px_encode wrote, given a matching cluster id and size. */
size_t px_encode(const struct px_msg *m, uint8_t *buf, size_t cap);

/**
 * Decodes buf into m. Entry values and request/reply bodies point into buf (no copy):
 * buf must outlive the use of m. cluster_id and n_replicas are this node's; a message
 * for another cluster or with an out-of-range sender is rejected.
 * Fields of m that the type does not carry are zero, so a decoded message is a
 * deterministic function of the bytes. On an error m's contents are unspecified.
 * Every accepted buffer is the canonical encoding: px_encode of the result gives it back.
 * n_replicas must be 1..PX_REPLICAS_MAX (asserted: it is configuration, not input).
 */
enum px_wire_err px_decode(const uint8_t *buf, size_t len, uint32_t cluster_id,
			   uint8_t n_replicas, struct px_msg *m);

#endif /* PX_CODEC_H */
