/* SPDX-License-Identifier: Apache-2.0
 * libpaxwire-client: the client library of paxwire, over plain UDP (kernel sockets, no
 * DPDK). pkg-config name: paxwire-client.
 *
 * A client object holds one session of the replicated service at a time. Before its
 * first command it registers one, by itself: a REQUEST flagged REGISTER with a random
 * nonce, which the replicas put through their log; the REPLY carries the session id the
 * log gave it. Then it sends commands as REQUESTs (session id, seq, command) and matches
 * each REPLY by (session id, seq) (docs/protocol.md, section 8.5).
 *
 * Two ways to run commands, on the same client:
 *   - synchronous (pw_put, pw_get, ...): the call returns with the command's outcome;
 *   - asynchronous (pw_submit, pw_put_async, ...; "Asynchronous operations" below):
 *     submit many commands, up to PW_INFLIGHT_MAX (64) outstanding in the session, and
 *     collect their completions with pw_poll (a queue) or a callback, driven from your
 *     own loop through pw_client_fd. The replicas keep a window of 64 sequence numbers
 *     per session, so exactly-once holds with commands in flight together, resent, and
 *     chosen out of order (docs/consistency.md, "Client sessions").
 * Both kinds may be mixed: a synchronous call is submitted like an asynchronous command
 * (the next seq of the session, after those outstanding; it waits for room in the
 * window) and runs the client until it completes; asynchronous commands outstanding
 * keep running meanwhile, and their completions wait for the next pw_poll.
 *
 * Threads: a client object is NOT thread safe. Every call on one client (submitting,
 * polling, the synchronous operations, closing) must come from one thread at a time;
 * use one client per thread (each its own session and socket; one thread may run many,
 * polling their fds together), or serialise calls with a lock. Distinct client objects
 * are independent. Callbacks (pw_client_set_completion, pw_client_set_observer) run on
 * the thread that called pw_poll (or the operation), inside that call.
 *
 * Finding the leader: the first registration goes to the member given by its nonce
 * (spreading clients out), later requests to the last member that answered as leader.
 * A member that is not the leader answers NOT_LEADER with a hint, which the client
 * follows.
 *
 * Membership changes (docs/operations.md, "Membership changes"): the cluster file (or
 * the members given) is where a client starts, not what it is bound to. When a hint
 * names a member the client has no address for, or every member it tries is silent,
 * it asks a member that answers for the membership (PX_ADMIN_MEMBERS, which a client
 * key may ask) and learns the addresses the log names: a client whose file is stale
 * still finds the cluster, as long as one member it knows answers.
 *
 * Retries and exactly-once: a command is re-sent, with the SAME (session id, seq) and
 * bytes, when an attempt times out (to the next member: attempt_timeout_us, which may
 * be microseconds; every command awaiting that member goes too), when the leader is
 * busy (after a short backoff) and when a member redirects (at once to the leader it
 * names, and so do the client's other commands). The replicas apply a given
 * (session id, seq) at most once and answer retries from the session's cached reply,
 * so a retried command takes effect once. Retries stop after retries_max re-sends or at
 * the operation's deadline, whichever comes first; the operation then returns
 * PW_E_TIMEOUT (or PW_E_NO_LEADER) and its outcome is UNKNOWN: it may have been applied,
 * or may still be applied later. A registration is retried the same way, within the
 * same deadline and retry budget as the command it precedes; if it does not complete,
 * the operation ends with PW_E_TIMEOUT or PW_E_NO_LEADER before its command was sent,
 * and the next operation registers again. (A retried registration may create two
 * sessions when a reply was lost; the one not used is evicted in its turn.)
 *
 * Sessions expire: the replicas hold a bounded number and evict the least recently
 * used one when a new client registers. A command of an evicted session is answered
 * PW_E_SESSION_EXPIRED, never applied from then on (and so is every other command the
 * client had outstanding in it); the client registers a new session at once and the
 * next operation uses it.
 *
 * Reads (pw_get, pw_read) are linearizable: the leader serves a read of a registered
 * session by read index (no log slot), or puts it through the log like a write.
 *
 * Memory: everything is allocated by pw_client_open; operations allocate nothing.
 */
#ifndef PAXWIRE_H
#define PAXWIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------- */
/* Limits (the library checks them at compile time against the protocol's own)         */

/** Members (replicas) of one cluster. */
#define PW_MEMBERS_MAX 9
/** Longest key, in bytes. */
#define PW_KEY_BYTES_MAX 255
/** Longest command body sent by pw_execute, in bytes. */
#define PW_CMD_BYTES_MAX 4096
/** Longest reply body pw_execute can return, in bytes. */
#define PW_REPLY_BYTES_MAX 4096
/** Bytes of key + value (+ expected value, for cas) that one kv command can carry: they
 *  share it with a 12-byte header. The cluster's kv_value_bytes (at most 3829) bounds the
 *  value further: the store answers a longer one PW_E_BAD_COMMAND. */
#define PW_KV_BYTES_MAX (PW_CMD_BYTES_MAX - 12)
/** Longest record pw_append can carry (one record must fit one read reply). */
#define PW_RECORD_BYTES_MAX 4076

/* ---------------------------------------------------------------------------------- */
/* Errors                                                                              */

/** What an operation returns: PW_OK (0) or one of these positive codes. */
enum pw_err {
	PW_OK = 0,
	/** get/del: the key is absent. cas: a value was expected and the key is absent
	 *  (the cas was applied; nothing changed). */
	PW_E_NOT_FOUND = 1,
	/** cas: applied, the key holds something other than what was expected (or holds
	 *  a value while absence was expected). Nothing changed. */
	PW_E_CAS_MISMATCH = 2,
	/** put/cas of a new key: the store is full. Nothing changed. */
	PW_E_FULL = 3,
	/** The service rejected the command (malformed, or beyond the store's limits, e.g.
	 *  a value longer than the cluster's configured maximum). Nothing changed. */
	PW_E_BAD_COMMAND = 4,
	/** read: the offset asked for was overwritten; *next is the oldest offset held. */
	PW_E_TRUNCATED = 5,
	/** read: the offset asked for is past the end; *next is the next to be assigned. */
	PW_E_BEYOND = 6,
	/** Retries or the deadline ran out after some member answered (a redirect, BUSY).
	 *  OUTCOME UNKNOWN: the command may or may not have been applied. */
	PW_E_TIMEOUT = 7,
	/** Retries or the deadline ran out and no member answered at all, or every answer
	 *  was "not the leader, and I know of none". Check that the cluster is up and the
	 *  addresses are right. OUTCOME UNKNOWN, as for PW_E_TIMEOUT. */
	PW_E_NO_LEADER = 8,
	/** The replicas no longer hold this client's session (evicted to make room for
	 *  newer clients), so they cannot vouch for what happened to the command: OUTCOME
	 *  UNKNOWN (it may have been applied before the eviction; it will not be applied
	 *  after). The client registered a new session before returning, or, if that did
	 *  not complete in time, registers one with the next operation. Also (the session
	 *  lives on): the command's sequence number fell behind the session's window, or
	 *  it was applied and its cached reply is no longer kept; outcome unknown. */
	PW_E_SESSION_EXPIRED = 9,
	/** An argument exceeds a limit (key, value, record or command length). Nothing
	 *  was sent. */
	PW_E_TOO_LARGE = 10,
	/** The operation succeeded but its result does not fit the caller's buffer;
	 *  the length it needs is returned (*len), nothing is copied. */
	PW_E_BUFFER = 11,
	/** A bad argument (NULL pointer where one is needed), or an operation of the other
	 *  service than the one the cluster file names (kv or stream). Nothing was sent. */
	PW_E_INVAL = 12,
	/** The reply to this command is not what the service sends (e.g. the cluster runs
	 *  another service). The command was applied by something: OUTCOME UNKNOWN. */
	PW_E_PROTOCOL = 13,
	/** A system call failed (errno says why). OUTCOME UNKNOWN if anything was sent. */
	PW_E_SYS = 14,
	/** pw_snapshot_fetch: every member that answered has no snapshot to give (its
	 *  service has no snapshots, it applied nothing yet, or it is itself recovering or
	 *  fetching state). Nothing changed. */
	PW_E_NO_SNAPSHOT = 15,
	/** pw_add_member, pw_remove_member: a membership change is under way (proposed,
	 *  or chosen and not in force yet); one at a time. Nothing changed: try again once
	 *  it is in force (pw_members: next_epoch 0). */
	PW_E_BUSY = 16,
	/** Asynchronous submission: the client already has max_inflight commands
	 *  submitted and not yet completed (pw_poll them first); or a synchronous call
	 *  from a completion callback; or pw_client_new_session while commands are
	 *  outstanding. Nothing was sent. */
	PW_E_AGAIN = 17,
	/** Asynchronous: the command was cancelled (pw_cancel) before its answer came.
	 *  If its completion's `sent` is false nothing of it went out and it is never
	 *  applied; otherwise OUTCOME UNKNOWN, as for PW_E_TIMEOUT. */
	PW_E_CANCELLED = 18,
	PW_E_MAX = 19,
};

/**
 * @param err an enum pw_err value.
 * @return a static one-line description ("timeout: outcome unknown ...");
 *         "unknown error" for a value that is not an enum pw_err.
 */
const char *pw_strerror(int err);

/**
 * @param err an enum pw_err value.
 * @return true if an operation that returned err may or may not have taken effect
 *         (PW_E_TIMEOUT, PW_E_NO_LEADER, PW_E_SESSION_EXPIRED, PW_E_PROTOCOL, PW_E_SYS,
 *         PW_E_CANCELLED: see its completion's `sent`). That matters for writes: a
 *         read (pw_get, pw_read) or a query (pw_probe, pw_member_stats, pw_members)
 *         changes nothing whatever it returns, so such an error means only "no
 *         answer" (pwctl says so; pw_strerror's texts are the writes').
 */
bool pw_err_outcome_unknown(int err);

/* ---------------------------------------------------------------------------------- */
/* Opening a client                                                                    */

struct pw_client;

/** How to reach the cluster and how hard to try. Fill with pw_client_opts_default()
 *  first, then set what differs. */
struct pw_client_opts {
	/** Cluster file (config/cfg.h format). If set, the members and the cluster
	 *  id come from it and `members`, `n_members`, `cluster_id` are ignored. */
	const char *config_path;
	/** Member addresses "IPv4:port" or "hostname:port" (resolved once, IPv4), indexed
	 *  by node id: members[i] is replica i. Used when config_path is NULL. */
	const char *const *members;
	/** Entries in members: 1..PW_MEMBERS_MAX. */
	uint8_t n_members;
	/** The cluster's id (REPLYs of other clusters are dropped). */
	uint32_t cluster_id;
	/** The nonce of this client's first registration (the client id of that REQUEST;
	 *  the cluster then gives the session its own id). 0 (the default) picks a random
	 *  nonzero 64-bit nonce with getrandom(2); later registrations always do. Two
	 *  clients registering with one nonce at once may swap sessions: leave it 0 unless
	 *  a test needs to know where the first request goes (nonce % members). */
	uint64_t client_id;
	/** One attempt's wait for a reply before re-sending to the next member.
	 *  Default 100 ms. Must be > 0 (attempt_timeout_us, if set, replaces it). */
	uint32_t attempt_timeout_ms;
	/** An operation's total time, retries included. Default 3000 ms. Must be > 0. */
	uint32_t deadline_ms;
	/** Re-sends after the first send of an operation (redirects and BUSY included).
	 *  Default 32. */
	uint32_t retries_max;
	/** First backoff after BUSY, "no leader known", or a second redirect in one
	 *  operation; it doubles per backoff within an operation, up to
	 *  attempt_timeout_ms. Default 2 ms; 0: none. */
	uint32_t backoff_ms;
	/** This client's key file (docs/security.md: `pwctl keygen --client ID --from
	 *  CLUSTER_KEY FILE`; an admin key for admin requests). NULL: $PAXWIRE_KEY_FILE if
	 *  set. Required when the cluster file turns authentication on (key_file, the
	 *  default); with members given by hand, a key turns it on. */
	const char *key_file;
	/** One attempt's wait in microseconds; 0 (the default): attempt_timeout_ms. A
	 *  cluster on dedicated cores answers in tens of microseconds: an attempt timeout
	 *  of a few hundred lets a client leave a dead leader within a millisecond. */
	uint32_t attempt_timeout_us;
	/** Asynchronous commands outstanding at once (submitted, not yet completed), 1..
	 *  PW_INFLIGHT_MAX; 0 (the default): PW_INFLIGHT_MAX. Sizes the client's buffers:
	 *  16 KiB a command (those delivered keep theirs until the next pw_poll). */
	uint32_t max_inflight;
	/** false (the default): completions come in the order the commands were
	 *  submitted (a command answered early waits for those before it). true: in the
	 *  order they complete. */
	bool unordered;
	/** How datagrams travel. NULL or "udp" (the default): a kernel UDP socket.
	 *  "dpdk": kernel bypass, in builds of the library made with DPDK: this process
	 *  starts DPDK's EAL with eal_args (once per process; later clients reuse it and
	 *  their eal_args are ignored), and ethdev port j leads to member j (a memif link
	 *  to that replica's client port, or a NIC port), the client being 127.0.0.254:9999
	 *  on each (the cluster file's members' ip, port and mac are where it sends; the
	 *  cluster runs with clients = dpdk). The same API over both; with "dpdk" the
	 *  client busy-polls (pw_poll(c, ..., 0) in your loop; a synchronous call spins
	 *  until its answer) and pw_client_fd fails with EOPNOTSUPP. Members learnt at
	 *  run time are not reachable over "dpdk" (their ports are fixed at open). Anything
	 *  else, or "dpdk" in a build without DPDK, fails pw_client_open with a message. */
	const char *transport;
	/** "dpdk": the EAL arguments, separated by spaces, e.g. "--no-huge -m 256 --no-pci
	 *  --file-prefix=app1 --vdev=net_memif0,role=client,socket=/run/pw/c0.sock ..."
	 *  (deploy/memif-mesh and tests/cluster/client_memif.sh show memif layouts). */
	const char *eal_args;
};

/**
 * Fills o with the defaults (no members, cluster id 0, random nonce, 100 ms per
 * attempt, 3000 ms per operation, 32 retries, 2 ms first backoff, 64 commands in
 * flight, completions in submission order).
 * @param o options to fill.
 */
void pw_client_opts_default(struct pw_client_opts *o);

/**
 * Opens a client: resolves the members, opens one UDP socket (IPv4, ephemeral port).
 * Sends nothing.
 * @param o options (see struct pw_client_opts).
 * @param err if not NULL, receives a one-line reason on failure (e.g. the config
 *            file's "FILE:LINE: what is wrong; fix: ...").
 * @param errlen size of err.
 * @return the client, or NULL with errno set: EINVAL (bad options, bad address, bad
 *         cluster file), ENOTSUP (config_path given but this build has no config
 *         parser), ENOMEM, or a socket error.
 */
struct pw_client *pw_client_open(const struct pw_client_opts *o, char *err, size_t errlen);

/**
 * Closes the socket and frees the client. The observer (pw_client_set_observer), if
 * any, is not called.
 * @param c client, or NULL (nothing happens).
 */
void pw_client_close(struct pw_client *c);

/**
 * @param c client.
 * @return the current session's id, as the cluster gave it at registration; 0 before
 *         the first registration completed, and after the session was dropped (expired
 *         without a new registration yet, or pw_client_new_session).
 */
uint64_t pw_client_id(const struct pw_client *c);

/**
 * @param c client.
 * @return one above the highest node id this client has an address for (from the
 *         cluster file or the members given, and those learnt from the cluster since):
 *         node ids are 0 .. n-1, some of which may have no address
 *         (pw_client_member_addr: NULL).
 */
uint8_t pw_client_members(const struct pw_client *c);

/**
 * @param c client.
 * @param id a node id.
 * @return member id's address as this client knows it ("ip:port"), or NULL if it has
 *         none (an id no file listed and the cluster did not name).
 */
const char *pw_client_member_addr(const struct pw_client *c, uint8_t id);

/**
 * @param c client.
 * @return the node id of the member that last answered as leader, or -1 if unknown.
 */
int pw_client_leader(const struct pw_client *c);

/**
 * Drops the current session: the next operation registers a new one (a new random
 * nonce, sequence numbers from 1 again). The library registers by itself before its
 * first command and after PW_E_SESSION_EXPIRED; call this only to drop a session on
 * purpose. Sends nothing (the cluster evicts the old session in its turn).
 * @param c client.
 * @return PW_OK, or PW_E_AGAIN (asynchronous commands are outstanding: nothing done).
 */
int pw_client_new_session(struct pw_client *c);

/** Counters of one client (monotonic since open). */
struct pw_client_stats {
	uint64_t ops;              /**< operations that sent a command */
	uint64_t sends;            /**< REQUEST datagrams sent (first sends and retries) */
	uint64_t send_errors;      /**< sendto failures (treated as a lost datagram) */
	uint64_t attempt_timeouts; /**< attempts that got no answer in time */
	uint64_t redirects;        /**< NOT_LEADER answers */
	uint64_t busy;             /**< BUSY answers */
	uint64_t replies;          /**< REPLYs matching the command in flight */
	uint64_t stale;            /**< REPLYs for this session but another seq (late
	                                duplicates of earlier commands), ignored */
	uint64_t foreign;          /**< REPLYs for another id (another client's, an
	                                earlier session's, an earlier nonce's), ignored */
	uint64_t undecodable;      /**< datagrams that are not a valid message of this
	                                cluster (garbage, other cluster, truncated), ignored */
	uint64_t not_reply;        /**< valid messages that are not REPLYs, ignored */
	uint64_t timeouts;         /**< operations that ended PW_E_TIMEOUT/PW_E_NO_LEADER */
	uint64_t new_sessions;     /**< sessions registered after the first */
	uint64_t unauthentic;      /**< datagrams dropped: not from a member, or their
	                                trailer did not check (forged, replayed, another
	                                key); authenticated clients only */
};

/**
 * @param c client.
 * @param st filled with the counters.
 */
void pw_client_stats(const struct pw_client *c, struct pw_client_stats *st);

/* ---------------------------------------------------------------------------------- */
/* Observing operations (tracing, metrics, histories for a linearizability checker)    */

/** The operations an observer is told of. */
enum pw_op {
	PW_OP_PUT = 1,
	PW_OP_GET = 2,
	PW_OP_DEL = 3,
	PW_OP_CAS = 4,
	PW_OP_APPEND = 5,
	PW_OP_READ = 6,
	PW_OP_EXECUTE = 7,
};

/**
 * One finished operation, as its observer sees it. The pointers are the operation's
 * arguments or point into the client: valid during the callback only. A field the
 * operation does not have is NULL or 0.
 */
struct pw_op_event {
	enum pw_op op;
	/** What the operation returns (enum pw_err). */
	int rc;
	/** At least one datagram of the command went out. false: the command cannot have
	 *  taken effect, whatever rc says (the session's registration failed first). */
	bool sent;
	/** CLOCK_MONOTONIC in ns (one clock for every process of a machine), taken before
	 *  the operation's first send (its registration's, when it registered first). */
	uint64_t call_ns;
	/** CLOCK_MONOTONIC in ns when the command's final answer arrived; 0 if none did. */
	uint64_t return_ns;
	/** put, get, del, cas: the key. */
	const void *key;
	size_t klen;
	/** put, cas: the value written. append: the record. */
	const void *value;
	size_t vlen;
	/** cas: the value expected; NULL for "only if absent". */
	const void *expect;
	size_t elen;
	/** get answered with a value (PW_OK, or PW_E_BUFFER: then the whole value, which
	 *  did not fit the caller's buffer): that value, non-NULL even when empty. NULL
	 *  otherwise (absent, or no answer). */
	const void *result;
	size_t rlen;
};

/** An observer: called once per finished operation (pw_client_set_observer). */
typedef void (*pw_op_fn)(void *arg, const struct pw_op_event *ev);

/**
 * Calls fn(arg, ev) at the end of every operation that ran its command: pw_put, pw_get,
 * pw_del, pw_cas, pw_append, pw_read and pw_execute, whatever they return, but not when
 * they refuse their arguments before sending anything (PW_E_INVAL, PW_E_TOO_LARGE),
 * nor for pw_probe, pw_transfer_leader or pw_member_stats. fn runs on the caller's
 * thread before the operation returns, and must not use this client. For tracing,
 * metrics, or a history for a linearizability checker: paxwire's tools record
 * pw-lincheck histories with one (client/pw_history.h in the source tree).
 * @param c client.
 * @param fn the observer, or NULL for none (the default).
 * @param arg passed to fn.
 */
void pw_client_set_observer(struct pw_client *c, pw_op_fn fn, void *arg);

/* ---------------------------------------------------------------------------------- */
/* Key-value operations (a cluster running the kv service)                             */

/**
 * Stores key = val.
 * @param c client.
 * @param key key bytes (any bytes; may be NULL when klen is 0).
 * @param klen key length, <= PW_KEY_BYTES_MAX.
 * @param val value bytes (may be NULL when vlen is 0).
 * @param vlen value length; klen + vlen <= PW_KV_BYTES_MAX.
 * @return PW_OK, PW_E_FULL, PW_E_BAD_COMMAND, PW_E_TOO_LARGE, or an outcome-unknown
 *         error (PW_E_TIMEOUT, ...).
 */
int pw_put(struct pw_client *c, const void *key, size_t klen, const void *val, size_t vlen);

/**
 * Reads a key (linearizable: by read index at the leader, or through the log).
 * @param c client.
 * @param key key bytes.
 * @param klen key length, <= PW_KEY_BYTES_MAX.
 * @param buf receives the value (may be NULL when cap is 0).
 * @param cap size of buf.
 * @param len receives the value's length (on PW_OK and PW_E_BUFFER). Required.
 * @return PW_OK, PW_E_NOT_FOUND, PW_E_BUFFER (value longer than cap: *len says how
 *         long, nothing copied), PW_E_BAD_COMMAND, PW_E_TOO_LARGE, or an error.
 */
int pw_get(struct pw_client *c, const void *key, size_t klen, void *buf, size_t cap,
	   size_t *len);

/**
 * Removes a key.
 * @param c client.
 * @param key key bytes.
 * @param klen key length, <= PW_KEY_BYTES_MAX.
 * @return PW_OK (it was there), PW_E_NOT_FOUND (it was not), or an error.
 */
int pw_del(struct pw_client *c, const void *key, size_t klen);

/**
 * Compare-and-swap: key = val if key currently holds expect (or, with expect NULL, if
 * key is absent).
 * @param c client.
 * @param key key bytes.
 * @param klen key length, <= PW_KEY_BYTES_MAX.
 * @param expect expected value, or NULL for "only if absent".
 * @param elen expected value's length (ignored when expect is NULL).
 * @param val new value.
 * @param vlen new value's length; klen + vlen + elen <= PW_KV_BYTES_MAX.
 * @return PW_OK (swapped), PW_E_CAS_MISMATCH, PW_E_NOT_FOUND (a value was expected,
 *         the key is absent), PW_E_FULL, or an error.
 */
int pw_cas(struct pw_client *c, const void *key, size_t klen, const void *expect,
	   size_t elen, const void *val, size_t vlen);

/* ---------------------------------------------------------------------------------- */
/* Stream operations (a cluster running the stream service)                            */

/**
 * Appends one record.
 * @param c client.
 * @param payload record bytes (may be NULL when len is 0).
 * @param len record length, <= PW_RECORD_BYTES_MAX.
 * @param offset if not NULL, receives the offset assigned to the record.
 * @return PW_OK, PW_E_TOO_LARGE, PW_E_BAD_COMMAND, or an error.
 */
int pw_append(struct pw_client *c, const void *payload, size_t len, uint64_t *offset);

/** Called by pw_read for each record, in offset order. data is valid during the call. */
typedef void (*pw_record_fn)(void *arg, uint64_t offset, const void *data, size_t len);

/**
 * Reads records from an offset on (linearizable, as pw_get). One reply carries
 * as many as fit max_bytes (4 + len per record) and one datagram, and at least one if
 * any is there; call again from *next to go on.
 * @param c client.
 * @param from first offset wanted.
 * @param max_bytes soft bound on the records' bytes in the reply.
 * @param fn called once per record (may be NULL to only learn *next).
 * @param arg passed to fn.
 * @param next receives the offset to read next (PW_OK; == from: caught up), the oldest
 *        offset held (PW_E_TRUNCATED) or the next offset to be assigned (PW_E_BEYOND).
 *        Required.
 * @return PW_OK, PW_E_TRUNCATED, PW_E_BEYOND, PW_E_BAD_COMMAND, or an error.
 */
int pw_read(struct pw_client *c, uint64_t from, uint32_t max_bytes, pw_record_fn fn,
	    void *arg, uint64_t *next);

/* ---------------------------------------------------------------------------------- */
/* Any service                                                                         */

/**
 * Runs one command in the service's own encoding (wire/wire_kv.h,
 * wire/wire_stream.h, or a service of your own) and returns its reply bytes.
 * @param c client.
 * @param cmd command bytes (may be NULL when len is 0).
 * @param len command length, <= PW_CMD_BYTES_MAX.
 * @param reply receives the reply (may be NULL when cap is 0).
 * @param cap size of reply.
 * @param reply_len receives the reply's length (PW_OK, PW_E_BAD_COMMAND, PW_E_BUFFER).
 *        Required.
 * @return PW_OK, PW_E_BAD_COMMAND (the service rejected it; its reply is returned
 *         too), PW_E_BUFFER (reply longer than cap: nothing copied), or an error.
 */
int pw_execute(struct pw_client *c, const void *cmd, size_t len, void *reply, size_t cap,
	       size_t *reply_len);

/* ---------------------------------------------------------------------------------- */
/* Asynchronous operations                                                             */
/*
 * Submit commands without waiting, up to max_inflight (at most PW_INFLIGHT_MAX)
 * outstanding, and collect one completion per command:
 *
 *     uint64_t id;
 *     pw_put_async(c, "k", 1, "v", 1, my_ctx, &id);     // returns at once
 *     ...
 *     struct pw_completion done[16];
 *     int n = pw_poll(c, done, 16, 1000);               // up to 1 ms for the first
 *     for (int i = 0; i < n; i++) handle(done[i].user, done[i].rc, ...);
 *
 * or register a callback (pw_client_set_completion) and pw_poll delivers to it.
 * pw_poll does all the client's work: it sends what is due (several datagrams per
 * system call, sendmmsg), reads every reply queued (recvmmsg), re-sends after silence,
 * NOT_LEADER or BUSY with the same (session, seq), ends commands at their deadlines,
 * and delivers completions. Nothing happens between calls: call it often, or wait on
 * pw_client_fd in your own poll loop and call pw_poll(c, ..., 0) when it is readable.
 *
 * Exactly-once: every command keeps its (session id, seq) for good, so a resend is
 * answered from the replicas' cache. Each REQUEST also says which of the client's
 * earlier seqs it still awaits; a command completed (or given up: deadline, cancel)
 * leaves that set, and once the replicas saw a later command saying so, a late copy of
 * it is refused. Completions come in submission order unless opts.unordered.
 *
 * Every submitted command gets exactly one completion, whatever happens to it, except
 * when the client is closed first. The synchronous operations run on the same engine:
 * each takes the session's next seq (waiting for room if the window of PW_INFLIGHT_MAX
 * seqs is full), runs the client until its own answer comes, and returns; the completions of asynchronous commands that arrive meanwhile
 * wait for the next pw_poll (no callback runs inside a synchronous call). They do not
 * count in pw_client_outstanding. pw_probe, pw_members and the other admin calls may
 * be mixed in too: replies to asynchronous commands that arrive meanwhile are kept
 * for them.
 */

/** Commands one session may have outstanding (the replicas' window per session). */
#define PW_INFLIGHT_MAX 64

/** One completed asynchronous command. Pointers point into the client: valid until the
 *  next pw_poll (or synchronous operation) on it, or, for a callback, during the call. */
struct pw_completion {
	/** What pw_submit returned for it (never 0). */
	uint64_t id;
	/** The user pointer given at submission. */
	void *user;
	enum pw_op op;
	/** enum pw_err: as the synchronous operation of the same kind would return
	 *  (put: PW_OK, PW_E_FULL, ...; get: PW_OK, PW_E_NOT_FOUND, ...), or
	 *  PW_E_CANCELLED. */
	int rc;
	/** At least one datagram of the command went out (false: it was never applied). */
	bool sent;
	/** CLOCK_MONOTONIC ns: submitted; its final answer arrived (0 if none did). */
	uint64_t call_ns;
	uint64_t return_ns;
	/** get (PW_OK): the value. execute (PW_OK, PW_E_BAD_COMMAND): the reply bytes.
	 *  NULL and 0 otherwise. */
	const void *value;
	size_t vlen;
	/** append (PW_OK): the offset the record was given. */
	uint64_t offset;
};

/** A command to submit (pw_submit): fields the operation does not take are ignored. */
struct pw_request {
	/** PW_OP_PUT, PW_OP_GET, PW_OP_DEL, PW_OP_CAS, PW_OP_APPEND or PW_OP_EXECUTE. */
	enum pw_op op;
	/** put, get, del, cas: the key (klen <= PW_KEY_BYTES_MAX). */
	const void *key;
	size_t klen;
	/** put, cas: the value; append: the record; execute: the command bytes. */
	const void *value;
	size_t vlen;
	/** cas: the value expected, or NULL for "only if absent". */
	const void *expect;
	size_t elen;
	/** Its deadline, in microseconds from now; 0: the client's deadline_ms. After it
	 *  the command completes PW_E_TIMEOUT or PW_E_NO_LEADER (outcome unknown). */
	uint64_t deadline_us;
	/** Given back in its completion. */
	void *user;
};

/** A completion callback (pw_client_set_completion). It may submit and cancel
 *  commands on this client, but not call pw_poll, a synchronous operation (it
 *  returns PW_E_AGAIN, unsent) or pw_client_close. */
typedef void (*pw_complete_fn)(void *arg, const struct pw_completion *done);

/**
 * Submits a command. Copies what it needs (the caller's buffers may be reused at once);
 * the next pw_poll sends it, with everything else due then (one system call for many
 * datagrams), registering a session first if the client has none.
 * @param c client.
 * @param rq the command.
 * @param id if not NULL, receives the command's id (for pw_cancel; in its completion).
 * @return PW_OK (submitted: one completion will come), PW_E_AGAIN (max_inflight
 *         outstanding), PW_E_INVAL, PW_E_TOO_LARGE. Nothing is submitted on error.
 */
int pw_submit(struct pw_client *c, const struct pw_request *rq, uint64_t *id);

/** pw_submit of a put, with the client's deadline. */
int pw_put_async(struct pw_client *c, const void *key, size_t klen, const void *val,
		 size_t vlen, void *user, uint64_t *id);
/** pw_submit of a get (linearizable, as pw_get). */
int pw_get_async(struct pw_client *c, const void *key, size_t klen, void *user,
		 uint64_t *id);
/** pw_submit of a del. */
int pw_del_async(struct pw_client *c, const void *key, size_t klen, void *user,
		 uint64_t *id);
/** pw_submit of a cas (expect NULL: only if absent). */
int pw_cas_async(struct pw_client *c, const void *key, size_t klen, const void *expect,
		 size_t elen, const void *val, size_t vlen, void *user, uint64_t *id);
/** pw_submit of an append (stream service). */
int pw_append_async(struct pw_client *c, const void *payload, size_t len, void *user,
		    uint64_t *id);
/** pw_submit of a command in the service's own encoding (as pw_execute). */
int pw_execute_async(struct pw_client *c, const void *cmd, size_t len, void *user,
		     uint64_t *id);

/**
 * Does the client's work (sends, receives, re-sends, deadlines) and delivers the
 * completions that are ready: to the callback if one is set (out is then not used),
 * else up to max of them into out. Frees the previous call's completions' buffers.
 * @param c client.
 * @param out receives completions (may be NULL with a callback set, or max 0).
 * @param max entries in out.
 * @param timeout_us 0: do what is ready and return; > 0: wait up to this long until
 *        at least one completion is delivered; < 0: wait until one is (returns 0 at once
 *        if no command is outstanding).
 * @return completions delivered (>= 0), or -1 with errno set (the socket failed).
 */
int pw_poll(struct pw_client *c, struct pw_completion *out, int max, int64_t timeout_us);

/**
 * Cancels a command submitted and not yet completed: it completes PW_E_CANCELLED at
 * the next pw_poll (sent says whether any of it went out: if so, it may have been or
 * still be applied, and the replicas refuse it once a later command of this client
 * says it no longer awaits it). A command already answered keeps its answer.
 * @return PW_OK (cancelled), or PW_E_NOT_FOUND (no such command outstanding: unknown
 *         id, or already completed).
 */
int pw_cancel(struct pw_client *c, uint64_t id);

/**
 * Completions go to fn(arg, done) from pw_poll instead of its out array; NULL: back to
 * the queue (the default).
 */
void pw_client_set_completion(struct pw_client *c, pw_complete_fn fn, void *arg);

/**
 * A file descriptor that becomes readable when pw_poll has work: a datagram arrived, a
 * re-send or deadline is due, or completions are waiting. Wait on it with poll, epoll
 * or select (for reading) in your loop, then call pw_poll(c, ..., 0); do not read it or
 * close it (pw_client_close does). An epoll descriptor over the client's UDP socket
 * and a timerfd, made at the first call (later calls return the same one).
 * @return the descriptor, or -1 with errno set (EOPNOTSUPP: transport "dpdk", which
 *         has none: call pw_poll(c, ..., 0) in a loop).
 */
int pw_client_fd(struct pw_client *c);

/**
 * @return microseconds until the client next needs pw_poll for a timer (a re-send, a
 *         deadline; 0: now), or -1 if none is pending: for a loop that waits on the
 *         socket or other events itself, as an alternative to pw_client_fd.
 */
int64_t pw_client_timeout_us(const struct pw_client *c);

/** @return commands submitted whose completion has not been delivered yet. */
uint32_t pw_client_outstanding(const struct pw_client *c);

/* ---------------------------------------------------------------------------------- */
/* Members                                                                             */

/** What pw_probe learned about one member. */
struct pw_member_status {
	char addr[64];        /**< "ip:port" as resolved */
	bool answered;        /**< it answered the probe */
	bool leads;           /**< it answered as the leader (anything but NOT_LEADER) */
	int leader_hint;      /**< a follower's hint: the leader's id, -1 if none or unknown */
	uint64_t rtt_ns;      /**< from the probe's first send to its answer */
};

/**
 * Asks every member, in parallel, whether it leads. The protocol has no status message
 * yet, so the probe is a REQUEST with seq 0, no REGISTER flag and an empty command: a
 * member that is not the leader answers NOT_LEADER (with its hint); the leader answers
 * BAD_COMMAND at once (seq 0 is no command), logging nothing. So a probe changes no
 * state: no log slot, no session (tests/cluster/probes.sh checks every member's commit
 * point and applied slot after 400 probes). It needs no admin key. The probe is sent up to 3 times, attempt_timeout_ms apart, to the members that
 * have not answered, within the deadline. The leader found is cached.
 * @param c client.
 * @param st receives one entry per member, indexed by node id: pw_client_members(c)
 *        entries (at most PW_MEMBERS_MAX).
 * @return PW_OK (whoever answered), or PW_E_SYS.
 */
int pw_probe(struct pw_client *c, struct pw_member_status *st);

/**
 * Asks the leader to hand its leadership to member `target` (an admin REQUEST: seq 0,
 * not logged, no session), then waits until `target` answers a probe as the leader.
 * The leader lets the target catch up, tells it to start its election at once
 * (TIMEOUT_NOW), and steps down when the target's ballot arrives; clients meanwhile
 * get NOT_LEADER or BUSY and retry. Anyone who can reach the cluster can ask: like
 * every client operation, admin requests are not authenticated.
 * @return PW_OK (target leads), PW_E_INVAL (no such member), PW_E_BAD_COMMAND (the
 *         leader refused), PW_E_TIMEOUT (started, but target did not lead before the
 *         deadline, or the leader kept answering BUSY), PW_E_NO_LEADER, PW_E_SYS.
 */
int pw_transfer_leader(struct pw_client *c, uint8_t target);

/**
 * Asks member `member` (leader or not) for its state and main counters: an admin
 * REQUEST (not logged), answered by the member itself with one JSON object (role,
 * leader, ballot, commit, applied, packets, drops, proposals, elections, the leader's
 * commit-latency histogram as log2-ns buckets, ...), NUL-terminated into buf.
 * @param len receives the JSON's length (also when it does not fit).
 * @return PW_OK, PW_E_BUFFER (cap too small), PW_E_BAD_COMMAND (the member cannot
 *         answer), PW_E_TIMEOUT (no answer), PW_E_INVAL, PW_E_SYS.
 */
int pw_member_stats(struct pw_client *c, uint8_t member, char *buf, size_t cap, size_t *len);

/**
 * pw_member_stats for page `page` of the member's metrics (docs/metrics.md: each page
 * is one JSON object of the identity fields and some of the metric groups; page 0 is
 * what pw_member_stats answers). Ask pages 0, 1, ... until PW_E_BAD_COMMAND (no such
 * page) to get every group.
 * @return as pw_member_stats; PW_E_BAD_COMMAND also when there is no such page.
 */
int pw_member_stats_page(struct pw_client *c, uint8_t member, uint8_t page, char *buf,
			 size_t cap, size_t *len);

/** One member, as a member reports it (pw_members). */
struct pw_member_info {
	uint8_t id;
	/** "voter", "learner" (receives the log, does not vote: caught up, the leader
	 *  promotes it), "leaving" (in force, not in the pending configuration),
	 *  "joining" (in the pending configuration only). */
	char role[12];
	/** "IP:PORT" as the log names it; "" for a member the log has not named (the
	 *  cluster file's initial voters, until a change names them). */
	char addr[32];
	/** The answering member leads: ack (the highest slot this member acknowledged) and
	 *  lag (the commit point minus ack) are known. */
	bool has_lag;
	uint64_t ack, lag;
};

/** The membership one member knows (PX_ADMIN_MEMBERS; docs/operations.md). */
struct pw_membership {
	int from;                 /**< the member that answered */
	int leader;               /**< the leader it knows, -1 if none */
	uint32_t epoch;           /**< the configuration in force (1: the cluster file's) */
	uint32_t alpha;           /**< a change takes effect alpha slots after it is chosen */
	uint32_t next_epoch;      /**< the pending configuration's epoch; 0: none pending */
	uint64_t next_from_slot;  /**< the slot it takes effect at (0: none pending) */
	uint64_t commit;          /**< the answering member's commit point */
	uint8_t n;                /**< entries in m */
	struct pw_member_info m[PW_MEMBERS_MAX];
};

/**
 * Asks a member for the membership it knows (an admin REQUEST, not logged, that a
 * client key may send too), and learns the addresses it names (later requests can
 * reach members the cluster file does not list).
 * @param c client.
 * @param member a node id, or -1: the leader (found by a probe if not known; its answer
 *        has each member's ack and lag), else the first member that answers.
 * @param ms filled on PW_OK. Required.
 * @param json if not NULL, receives the answer as the member wrote it (one JSON object,
 *        NUL-terminated); cap its size, *len its length (also when it does not fit).
 * @return PW_OK, PW_E_BUFFER (json too small; ms filled), PW_E_TIMEOUT (no answer),
 *         PW_E_PROTOCOL (an answer that is no membership), PW_E_INVAL, PW_E_SYS.
 */
int pw_members(struct pw_client *c, int member, struct pw_membership *ms, char *json,
	       size_t cap, size_t *len);

/** What the leader answered to a membership change (pw_add_member, pw_remove_member). */
struct pw_change {
	uint64_t slot;            /**< PW_OK: the slot the change was proposed at */
	uint32_t epoch;           /**< PW_OK: the configuration epoch it makes */
	int leader;               /**< the member that answered (the leader), -1 if none */
	char error[256];          /**< PW_E_BUSY, PW_E_BAD_COMMAND: the leader's reason */
};

/**
 * Asks the leader to add member `id` (0..8, an id no replica ever ran with: the leader
 * refuses one its log records as having run, PW_E_BAD_COMMAND) reached at
 * `addr` ("IPv4:PORT", 1..31 characters, as its [replica.ID] says): it joins as a
 * learner (the replica started with paxwired --join fetches the state), and the leader
 * promotes it to voter once it has caught up. An admin REQUEST (admin key), sent to
 * the leader (hints followed); the change is proposed through the log and takes effect
 * alpha slots after it is chosen: poll pw_members until epoch >= out->epoch and
 * next_epoch is 0. Not exactly-once: a resend after a lost answer may be answered
 * PW_E_BUSY (the first was proposed) or PW_E_BAD_COMMAND ("already a member"):
 * pw_members tells.
 * @return PW_OK; PW_E_BUSY (a change is under way); PW_E_BAD_COMMAND (refused: out->
 *         error says why: a member already, too many learners (4), memory mode, a
 *         transport that cannot reach new members, ...); PW_E_INVAL; PW_E_TIMEOUT /
 *         PW_E_NO_LEADER (outcome unknown: pw_members tells); PW_E_SYS.
 */
int pw_add_member(struct pw_client *c, uint8_t id, const char *addr, struct pw_change *out);

/**
 * Asks the leader to remove member `id` (voter or learner); at least three voters must
 * stay. Removing the leader: it hands leadership over once the change is in force.
 * Return codes and waiting as pw_add_member.
 */
int pw_remove_member(struct pw_client *c, uint8_t id, struct pw_change *out);

/* ---------------------------------------------------------------------------------- */
/* Snapshots (backups)                                                                 */

/** What pw_snapshot_fetch fetched, and how. */
struct pw_snapshot_info {
	uint64_t slot;        /**< the applied slot the snapshot holds the state after */
	uint64_t id;          /**< its content hash, checked over the bytes */
	uint64_t len;         /**< its bytes */
	int member;           /**< the member that served it (-1: none) */
	uint32_t cluster_id;  /**< the cluster's id (the client's) */
	uint32_t restarts;    /**< fetches started over: the member took a newer snapshot,
	                           stopped answering or refused (another member is asked), or
	                           the whole failed its hash */
	uint64_t requests;    /**< SNAP_REQ datagrams sent (resends included) */
	uint64_t resends;     /**< of which resends after silence */
	uint8_t answered;     /**< members that answered at all */
	uint8_t refused;      /**< members that answered they have no snapshot (SNAP_NONE) */
};

/** Called by pw_snapshot_fetch once the snapshot's size is known (and again, with its
 *  new size, each time the fetch starts over with another snapshot): a buffer of len
 *  bytes, valid until pw_snapshot_fetch returns or calls it again; NULL to give up
 *  (PW_E_BUFFER). */
typedef void *(*pw_snapshot_buf_fn)(void *arg, uint64_t len);

/**
 * Fetches a whole snapshot of the cluster's applied state from one member, for a backup
 * (`pwctl snapshot save`; docs/operations.md, "Backup and restore"). The members are
 * asked in turn, followers and leader alike (the leader last when known): a member
 * that applied min_slot serves the snapshot it holds if that covers min_slot, or takes
 * one (SNAP_REQ from a tool, docs/protocol.md); then its chunks are asked for by
 * offset, several in flight, each re-sent after silence (bounded); chunks of another
 * snapshot mean the member took a newer one, and the fetch starts over (bounded). The
 * whole is checked against its content hash. Reads only: nothing goes through the
 * log, no session is used.
 * Time: the options' deadline bounds the search for a member that serves (members
 * that refuse are asked again: one behind min_slot catches up, one saving a snapshot
 * finishes), and then the wait for each next useful chunk (not the whole transfer,
 * which takes as long as the snapshot's size and the members' rate limit make it).
 * @param c client.
 * @param min_slot the lowest slot the snapshot must hold the state after (0: any). The
 *        leader's commit point when the backup starts covers every write acknowledged
 *        before it.
 * @param buf_for gives the buffer (see pw_snapshot_buf_fn).
 * @param arg passed to buf_for.
 * @param info filled on every return (what is known so far). Required.
 * @return PW_OK (the buffer holds info->len bytes whose hash is info->id);
 *         PW_E_NO_SNAPSHOT (every member that answered refused); PW_E_TIMEOUT (no member
 *         answered, or the transfer stalled past the deadline, or it kept starting
 *         over); PW_E_PROTOCOL (the snapshot kept failing its hash); PW_E_BUFFER
 *         (buf_for gave none); PW_E_INVAL; PW_E_SYS.
 */
int pw_snapshot_fetch(struct pw_client *c, uint64_t min_slot, pw_snapshot_buf_fn buf_for,
		      void *arg, struct pw_snapshot_info *info);

#ifdef __cplusplus
}
#endif

#endif /* PAXWIRE_H */
