/* SPDX-License-Identifier: Apache-2.0
 * libpaxwire-client: one UDP socket, one command in flight, retries with the same
 * (session id, seq) so that the replicas' sessions apply each command once
 * (docs/protocol.md 8.5, docs/consistency.md "Client sessions"). See paxwire.h.
 *
 * Before its first command, and after the cluster answers SESSION_EXPIRED, the client
 * registers: a REQUEST flagged PX_MF_REGISTER with seq 0 and a random nonce as client
 * id, retried like a command; the REPLY to (nonce, 0) carries the session id the log
 * gave it.
 *
 * Input from the network is never trusted: every datagram is decoded by the consensus
 * codec (px_decode: exact lengths, this cluster's id, a sender id within the cluster),
 * and a REPLY counts only if it names the id and seq in flight. Everything else is
 * counted by reason and dropped.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "env.h"
#include "paxwire.h"
#include "pw_transport.h"
#include "wire_kv.h"
#include "wire_stream.h"
#include "px.h"
#include "px_apply.h"
#include "px_codec.h"
#include "wire_hash.h"
#include "wire_le.h"
#ifdef PW_CLIENT_HAVE_CONFIG
#include "cfg.h"
#endif

/* The public header repeats these bounds as plain numbers (it cannot include the
 * consensus headers, which are not installed): keep them equal. */
_Static_assert(PW_MEMBERS_MAX == PX_REPLICAS_MAX, "members bound = replicas bound");
_Static_assert(PW_KEY_BYTES_MAX == WIRE_KV_KEY_BYTES_MAX, "key bound = the kv store's");
_Static_assert(PW_CMD_BYTES_MAX == PX_CMD_BYTES_MAX, "command bound = the protocol's");
_Static_assert(PW_REPLY_BYTES_MAX == PX_REPLY_BYTES_MAX, "reply bound = the protocol's");
_Static_assert(PW_KV_BYTES_MAX == PX_CMD_BYTES_MAX - WIRE_KV_CMD_HDR_BYTES,
	       "key + value + expect share one kv command");
_Static_assert(PW_RECORD_BYTES_MAX == WIRE_STREAM_PAYLOAD_MAX, "record bound = the stream's");
_Static_assert(PW_E_MAX == 19, "pw_strerror covers every code");
_Static_assert(PW_INFLIGHT_MAX == PX_SESSION_WINDOW, "in flight = the replicas' window");
_Static_assert(2 * PW_INFLIGHT_MAX + 1 < 256, "an op's index + 1 fits a u8 (win[])");

#define PW_ATTEMPT_TIMEOUT_MS_DEFAULT 100u
#define PW_DEADLINE_MS_DEFAULT 3000u
#define PW_RETRIES_DEFAULT 32u
#define PW_BACKOFF_MS_DEFAULT 2u
/** pw_probe sends to each silent member at most this many times. */
#define PW_PROBE_ROUNDS 3u

/** A REQUEST carrying the largest command, without a crash vector. */
#define TX_BYTES (PX_WIRE_HDR_BYTES + 20u + PX_CMD_BYTES_MAX)
/** One byte over the largest datagram, so that an oversized one shows (MSG_TRUNC). */
#define RX_BYTES (PX_DGRAM_BYTES_MAX + 1u)
_Static_assert(TX_BYTES <= PX_MSG_BYTES_MAX, "a REQUEST fits one message");

#define NS_PER_MS 1000000ull
#define NS_PER_US 1000ull

/* The asynchronous engine's batched I/O: datagrams per sendmmsg/recvmmsg, the bytes of
 * the send batch, and a receive buffer: the largest REPLY (a whole reply body and the
 * trailer) and one byte more, so that anything longer shows as truncated. */
#define BATCH_N 32u
#define TXB_BYTES (64u * 1024u)
#define RXB_BYTES (PX_WIRE_HDR_BYTES + 22u + PX_REPLY_BYTES_MAX + PX_TRAILER_BYTES + 1u)
_Static_assert(TXB_BYTES >= TX_BYTES + PX_TRAILER_BYTES, "one REQUEST fits the batch");

/* Services, as config/cfg.h's enum cfg_service numbers them. */
#define SERVICE_KV 1u
#define SERVICE_STREAM 2u
#ifdef PW_CLIENT_HAVE_CONFIG
_Static_assert(SERVICE_KV == CFG_SERVICE_KV && SERVICE_STREAM == CFG_SERVICE_STREAM,
	       "service numbers as in the cluster file");
#endif

/** The slot in c->ops of the synchronous call in progress (pw_put, ...): never handed
 *  to pw_submit, never delivered by pw_poll, not counted in `outstanding`. */
#define SYNC_OP 0u

/** A command (asynchronous, or the synchronous one in ops[SYNC_OP]), or the
 *  registration in progress (c->reg). */
enum aop_state {
	AOP_FREE = 0,
	AOP_QUEUED,   /**< submitted; waits for a session, or for room in the window */
	AOP_FLIGHT,   /**< has its seq; sent or to be sent */
	AOP_DONE,     /**< completed, not delivered yet */
	AOP_OUT,      /**< delivered by the last pw_poll: its buffers live until the next */
};

struct aop {
	uint64_t id;              /**< pw_submit's id; 0: free */
	void *user;
	uint64_t cid;             /**< the REQUEST's client id: session id (nonce: reg) */
	uint64_t seq;             /**< 0 until given one (the registration: always 0) */
	uint64_t call_ns, return_ns, deadline, attempt_end, next_send, backoff, sent_ns;
	uint32_t sends, silent, cmd_len, reply_len;
	int rc;                   /**< AOP_DONE: enum pw_err of the transport; the result is
	                               decoded at delivery from status and reply */
	uint8_t state, op, target, status;
	bool sent, awaiting, redirected, leader_named, learnt, cas_expect;
	uint8_t *cmd;             /**< PX_CMD_BYTES_MAX */
	uint8_t *reply;           /**< PX_REPLY_BYTES_MAX */
};

struct pw_client {
	/** How datagrams travel (pw_transport.h): udp_ops on fd, the default. */
	const struct pw_tp_ops *tp;
	void *tp_arg;
	/** The UDP transport's socket; -1 with another transport. */
	int fd;
	uint32_t cluster_id;
	/** One above the highest id in `known`: 1..PW_MEMBERS_MAX. */
	uint8_t n_members;
	/** Bit i: addr[i] is replica i's address (the cluster file's or the members given,
	 *  or one the cluster named: learn_members). Never empty. */
	uint16_t known;
	/** The membership last learnt from the cluster (every id a member reported, in
	 *  force or pending); 0: none learnt. Requests rotate over known & members when
	 *  that is not empty, so that removed members are not waited for. */
	uint16_t members;
	/** The service the cluster runs, from its cluster file; 0 if not known (members
	 *  given by hand). Operations of the other service are refused unsent. */
	uint8_t service;
	/** The member that last answered as leader, PX_NODE_NONE if unknown.
	 *  Invariant: PX_NODE_NONE or a known id. */
	uint8_t leader;
	/** The session id the cluster gave this client; 0: none, register before the next
	 *  command (never registered, the session expired, or it was dropped). */
	uint64_t session_id;
	/** The nonce of the next registration (nonzero); a new random one after each. */
	uint64_t nonce;
	/** Registrations completed (the first one is not a "new" session). */
	uint64_t registrations;
	/** The client id of probes and admin requests (random, nonzero, fixed): apart from
	 *  the nonces, so that a late answer to a probe is never taken for a registration's. */
	uint64_t probe_id;
	/** The seq of the last admin request (PX_ADMIN_MEMBERS, ADD, REMOVE, STATS,
	 *  TRANSFER: with probe_id, no session): each call its own, so that a late answer
	 *  to an earlier one (several members asked at once), or to a probe (seq 0; the
	 *  leader's is BAD_COMMAND), is never taken for this one's. */
	uint64_t admin_seq;
	/** Last seq sent in this session; 0 before the first. */
	uint64_t seq;
	uint64_t attempt_ns, deadline_ns, backoff_ns;
	uint32_t retries_max;
	/** Told of every operation that ran its command; NULL: none. */
	pw_op_fn observer;
	void *observer_arg;
	struct pw_client_stats st;

	/* The command in flight and what became of it. */
	bool sent;                        /**< at least one datagram of it went out */
	uint64_t call_ns, return_ns;
	uint8_t status;                   /**< PX_OK or PX_BAD_COMMAND once answered */
	uint32_t cmd_len, reply_len;
	uint8_t cmd[PX_CMD_BYTES_MAX];
	uint8_t reply[PX_REPLY_BYTES_MAX];

	struct sockaddr_in addr[PW_MEMBERS_MAX];
	/** Each member's MAC from the cluster file (zero: unknown), for transport dpdk. */
	uint8_t mac[PW_MEMBERS_MAX][6];
	char addr_str[PW_MEMBERS_MAX][64];
	/** Authentication (docs/security.md): on when the cluster file says so (or, with
	 *  members given by hand, when a key file is given). */
	bool auth_on;
	struct auth_client auth;
	uint8_t tx[TX_BYTES + PX_TRAILER_BYTES];
	uint32_t tx_len;
	/** The request in flight, kept while learn_members uses tx. */
	uint8_t tx_saved[TX_BYTES];
	uint32_t tx_saved_len;
	uint8_t rx[RX_BYTES];
	struct px_msg msg;                /**< the last decoded datagram; body points into rx */

	/* The engine (pw_submit, pw_poll; the synchronous calls: ops[SYNC_OP]). */
	struct aop *ops;                  /**< ops[SYNC_OP], then 2 x max_inflight for
	                                       pw_submit: those delivered by the last pw_poll
	                                       keep their buffers */
	uint32_t n_ops;
	/** Every op at or above it is AOP_FREE (1..n_ops): the engine's loops stop there,
	 *  so that a client with few commands in flight does not walk all n_ops. */
	uint32_t ops_hi;
	/** pw_poll is handing out completions (a callback runs): no synchronous call. */
	bool delivering;
	uint32_t max_inflight;
	uint32_t outstanding;             /**< submitted, not delivered */
	struct aop reg;                   /**< the registration, AOP_FLIGHT while it runs */
	uint8_t *op_mem;
	uint64_t next_id;
	/** The op (index + 1) holding each seq of the window (seq % PW_INFLIGHT_MAX). */
	uint8_t win[PW_INFLIGHT_MAX];
	bool unordered;
	pw_complete_fn done_fn;
	void *done_arg;
	/** When each member was last heard from (a datagram that decoded). */
	uint64_t heard_ns[PW_MEMBERS_MAX];
	/** Every member tried was silent, or a hint named an unknown member: learn the
	 *  membership (learn_members) at the top of the next engine round. */
	bool learn_pending;
	uint8_t learn_prefer, learn_hint;
	/** The send batch: datagrams laid end to end in txb, described in txd. */
	uint32_t txn, txoff;
	struct pw_tp_dgram txd[BATCH_N];
	uint8_t txb[TXB_BYTES];
	/** The receive batch: rxd[i] is rxb[i]. */
	struct pw_tp_dgram rxd[BATCH_N];
	/* The UDP transport's message headers (sendmmsg, recvmmsg into rxb). */
	struct mmsghdr txm[BATCH_N];
	struct iovec txv[BATCH_N];
	struct mmsghdr rxm[BATCH_N];
	struct iovec rxv[BATCH_N];
	struct sockaddr_in rxa[BATCH_N];
	uint8_t rxb[BATCH_N][RXB_BYTES];
	/** pw_client_fd: an epoll over fd and a timerfd armed at armed_ns (0: not). */
	int efd, tfd;
	uint64_t armed_ns;
};

/* ---------------------------------------------------------------------------------- */
/* Errors                                                                              */

const char *pw_strerror(int err)
{
	static const char *const names[PW_E_MAX] = {
		[PW_OK] = "ok",
		[PW_E_NOT_FOUND] = "not found",
		[PW_E_CAS_MISMATCH] = "cas mismatch: the key holds another value",
		[PW_E_FULL] = "store full: nothing changed",
		[PW_E_BAD_COMMAND] = "bad command: the service rejected it, nothing changed",
		[PW_E_TRUNCATED] = "truncated: the offset was overwritten",
		[PW_E_BEYOND] = "beyond: the offset is past the end of the stream",
		[PW_E_TIMEOUT] = "timeout: outcome unknown (it may or may not have been applied)",
		[PW_E_NO_LEADER] = "no leader: no member answered, or none knows a leader; "
				   "outcome unknown",
		[PW_E_SESSION_EXPIRED] = "session expired: outcome unknown; a new session "
					 "was started (or starts with the next operation)",
		[PW_E_TOO_LARGE] = "too large: an argument exceeds a limit, nothing sent",
		[PW_E_BUFFER] = "buffer too small for the result",
		[PW_E_INVAL] = "invalid argument, or a command of another service than the "
			       "cluster runs; nothing sent",
		[PW_E_PROTOCOL] = "unexpected reply from the service; outcome unknown",
		[PW_E_SYS] = "system error (see errno)",
		[PW_E_NO_SNAPSHOT] = "no snapshot: every member that answered has none to give "
				     "(no snapshots in its service, nothing applied yet, or "
				     "recovering); nothing changed",
		[PW_E_BUSY] = "busy: a membership change is under way (one at a time); "
			      "nothing changed",
		[PW_E_AGAIN] = "again: as many commands outstanding as the client allows; "
			       "poll for completions first; nothing sent",
		[PW_E_CANCELLED] = "cancelled: outcome unknown if any of it was sent",
	};

	if (err < 0 || err >= PW_E_MAX)
		return "unknown error";
	return names[err];
}

bool pw_err_outcome_unknown(int err)
{
	return err == PW_E_TIMEOUT || err == PW_E_NO_LEADER || err == PW_E_SESSION_EXPIRED ||
	       err == PW_E_PROTOCOL || err == PW_E_SYS || err == PW_E_CANCELLED;
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* ---------------------------------------------------------------------------------- */
/* Time, ids, addresses                                                                */

static uint64_t now_ns(void)
{
	return env_mono_ns();
}

/** A random nonzero id (a registration nonce) other than `avoid`. 0 or -errno. */
static int random_id(uint64_t avoid, uint64_t *id)
{
	do {
		ssize_t n = getrandom(id, sizeof(*id), 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(*id))
			return n < 0 ? -errno : -EIO;
	} while (*id == 0 || *id == avoid);
	return 0;
}

/** Parses "host:port" (IPv4 or a name resolved to IPv4). 0 or -EINVAL. */
static int resolve(const char *s, struct sockaddr_in *sa, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_DGRAM };
	struct addrinfo *res = NULL;
	const char *colon = strrchr(s, ':');
	char host[256];
	unsigned long port;
	char *end;
	int rc;

	if (colon == NULL || colon == s || (size_t)(colon - s) >= sizeof(host)) {
		set_err(err, errlen, "member \"%s\": expected HOST:PORT, e.g. 127.0.0.1:7100", s);
		return -EINVAL;
	}
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno != 0 || end == colon + 1 || *end != '\0' || port == 0 || port > 65535) {
		set_err(err, errlen, "member \"%s\": port must be 1..65535", s);
		return -EINVAL;
	}
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	rc = getaddrinfo(host, NULL, &hints, &res);
	if (rc != 0 || res == NULL) {
		set_err(err, errlen, "member \"%s\": cannot resolve \"%s\" to IPv4: %s", s, host,
			gai_strerror(rc));
		if (res != NULL)
			freeaddrinfo(res);
		return -EINVAL;
	}
	memcpy(sa, res->ai_addr, sizeof(*sa));
	sa->sin_port = htons((uint16_t)port);
	freeaddrinfo(res);
	return 0;
}

static void addr_format(const struct sockaddr_in *sa, char *buf, size_t len)
{
	char ip[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &sa->sin_addr, ip, sizeof(ip));
	snprintf(buf, len, "%s:%u", ip, (unsigned)ntohs(sa->sin_port));
}

/** n_members after `known` changed. */
static void known_changed(struct pw_client *c)
{
	c->n_members = 0;
	for (uint8_t i = 0; i < PW_MEMBERS_MAX; i++)
		if ((c->known >> i) & 1u)
			c->n_members = (uint8_t)(i + 1u);
}

static bool is_known(const struct pw_client *c, uint8_t id)
{
	return id < PW_MEMBERS_MAX && ((c->known >> id) & 1u) != 0;
}

/** The members requests go round: the known members of the membership last learnt,
 *  or every known one (none learnt, or it names none this client can reach). */
static uint16_t rotation(const struct pw_client *c)
{
	uint16_t r = (uint16_t)(c->known & c->members);
	return r != 0 ? r : c->known;
}

static uint32_t popcount16(uint16_t x)
{
	return (uint32_t)__builtin_popcount(x);
}

/** The member after `id` in the rotation (id itself if it is the only one). */
static uint8_t next_member(const struct pw_client *c, uint8_t id)
{
	uint16_t r = rotation(c);
	for (uint8_t k = 1; k <= PW_MEMBERS_MAX; k++) {
		uint8_t j = (uint8_t)((id + k) % PW_MEMBERS_MAX);
		if ((r >> j) & 1u)
			return j;
	}
	assert(0 && "the rotation is never empty");
	return id;
}

/** The (spread mod count)-th member of the rotation. */
static uint8_t nth_member(const struct pw_client *c, uint64_t spread)
{
	uint16_t r = rotation(c);
	uint32_t k = (uint32_t)(spread % popcount16(r));
	for (uint8_t j = 0; j < PW_MEMBERS_MAX; j++)
		if (((r >> j) & 1u) && k-- == 0)
			return j;
	assert(0 && "k < popcount");
	return 0;
}

/** Fills the members and the cluster id from the options. 0 or -errno. */
static int load_members(struct pw_client *c, const struct pw_client_opts *o, char *err,
			size_t errlen)
{
	if (o->config_path != NULL) {
#ifdef PW_CLIENT_HAVE_CONFIG
		struct cfg_cluster cfg;
		int rc = cfg_load(o->config_path, &cfg, err, errlen);

		if (rc != 0)
			return rc < 0 ? rc : -EINVAL;
		if (cfg.n_replicas < 1 || cfg.n_replicas > PW_MEMBERS_MAX) {
			set_err(err, errlen, "%s: %u replicas; fix: 1..%d", o->config_path,
				(unsigned)cfg.n_replicas, PW_MEMBERS_MAX);
			return -EINVAL;
		}
		c->cluster_id = cfg.cluster_id;
		c->service = (uint8_t)cfg.service;
		c->auth_on = !cfg.auth_off;
		/* Every member the file lists: the initial voters, and members added at run
		 * time that it lists too ([replica.N] above replicas - 1). */
		for (uint8_t i = 0; i < PW_MEMBERS_MAX; i++) {
			if (!((cfg.listed >> i) & 1u))
				continue;
			c->addr[i] = (struct sockaddr_in){
				.sin_family = AF_INET,
				.sin_port = htons(cfg.members[i].port),
				.sin_addr.s_addr = cfg.members[i].ip_be,
			};
			memcpy(c->mac[i], cfg.members[i].mac, sizeof(c->mac[i]));
			c->known = (uint16_t)(c->known | (1u << i));
		}
		known_changed(c);
		return 0;
#else
		set_err(err, errlen, "%s: this build of libpaxwire-client has no cluster-file "
			"parser; fix: pass the members and cluster id instead", o->config_path);
		return -ENOTSUP;
#endif
	}
	if (o->members == NULL || o->n_members < 1 || o->n_members > PW_MEMBERS_MAX) {
		set_err(err, errlen, "%u members given; fix: 1..%d addresses, or a config path",
			(unsigned)o->n_members, PW_MEMBERS_MAX);
		return -EINVAL;
	}
	c->cluster_id = o->cluster_id;
	for (uint8_t i = 0; i < o->n_members; i++) {
		if (o->members[i] == NULL) {
			set_err(err, errlen, "member %u: NULL address", (unsigned)i);
			return -EINVAL;
		}
		if (resolve(o->members[i], &c->addr[i], err, errlen) != 0)
			return -EINVAL;
		c->known = (uint16_t)(c->known | (1u << i));
	}
	known_changed(c);
	return 0;
}

/** The client's key (docs/security.md): opts.key_file, else $PAXWIRE_KEY_FILE; needed
 *  when the cluster file turns authentication on, and turning it on when the members
 *  are given by hand. 0 or -errno. */
static int load_key(struct pw_client *c, const struct pw_client_opts *o, char *err,
		    size_t errlen)
{
	const char *path = o->key_file != NULL ? o->key_file : getenv("PAXWIRE_KEY_FILE");
	struct auth_keys k;
	char why[400];

	if (path != NULL && path[0] == 0)
		path = NULL;
	if (o->config_path == NULL)
		c->auth_on = path != NULL;
	if (!c->auth_on)
		return 0;
	if (path == NULL) {
		set_err(err, errlen, "%s turns authentication on (key_file): this client needs a "
			"key; fix: give its key file (pw_client_opts.key_file, $PAXWIRE_KEY_FILE, "
			"or pwctl --key FILE); make one with pwctl keygen --client ID --from "
			"CLUSTER_KEY FILE", o->config_path);
		return -EINVAL;
	}
	if (auth_init() != 0 || !auth_available()) {
		set_err(err, errlen, "authentication needs AES-256-GCM, which libsodium runs only "
			"on a CPU with AES-NI and PCLMUL; this one lacks them");
		return -ENOTSUP;
	}
	if (auth_keys_load(path, &k, why, sizeof(why)) != 0) {
		set_err(err, errlen, "key file: %s", why);
		return -EINVAL;
	}
	/* Every id a member may have: the cluster may add members the file does not list. */
	int rc = auth_client_init(&c->auth, &k, c->cluster_id, PW_MEMBERS_MAX);
	sodium_memzero(&k, sizeof(k));
	if (rc != 0) {
		set_err(err, errlen, "key file %s: not usable for %u members", path,
			(unsigned)PW_MEMBERS_MAX);
		return -EINVAL;
	}
	return 0;
}

/* ---------------------------------------------------------------------------------- */
/* Opening                                                                             */

void pw_client_opts_default(struct pw_client_opts *o)
{
	*o = (struct pw_client_opts){
		.attempt_timeout_ms = PW_ATTEMPT_TIMEOUT_MS_DEFAULT,
		.deadline_ms = PW_DEADLINE_MS_DEFAULT,
		.retries_max = PW_RETRIES_DEFAULT,
		.backoff_ms = PW_BACKOFF_MS_DEFAULT,
	};
}

static void engine_rx_init(struct pw_client *c);
static const struct pw_tp_ops udp_ops;

struct pw_client *pw_client_open(const struct pw_client_opts *o, char *err, size_t errlen)
{
	struct sockaddr_in any = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY) };
	struct pw_client *c;
	int rc;

	if (o == NULL || o->attempt_timeout_ms == 0 || o->deadline_ms == 0) {
		set_err(err, errlen, "options: attempt_timeout_ms and deadline_ms must be > 0; "
			"fix: start from pw_client_opts_default()");
		errno = EINVAL;
		return NULL;
	}
	if (o->max_inflight > PW_INFLIGHT_MAX) {
		set_err(err, errlen, "options: max_inflight %u; fix: 0..%d", o->max_inflight,
			PW_INFLIGHT_MAX);
		errno = EINVAL;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		set_err(err, errlen, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	c->fd = -1;
	c->efd = -1;
	c->tfd = -1;
	c->unordered = o->unordered;
	c->learn_hint = PX_NODE_NONE;
	c->max_inflight = o->max_inflight != 0 ? o->max_inflight : PW_INFLIGHT_MAX;
	c->n_ops = 1u + 2u * c->max_inflight;
	c->ops_hi = SYNC_OP + 1u;
	c->ops = calloc(c->n_ops, sizeof(*c->ops));
	c->op_mem = malloc((size_t)(c->n_ops - 1u) * (PX_CMD_BYTES_MAX + PX_REPLY_BYTES_MAX));
	if (c->ops == NULL || c->op_mem == NULL) {
		set_err(err, errlen, "out of memory");
		free(c->ops);
		free(c->op_mem);
		free(c);
		errno = ENOMEM;
		return NULL;
	}
	for (uint32_t i = SYNC_OP + 1u; i < c->n_ops; i++) {
		c->ops[i].cmd = c->op_mem + (size_t)(i - 1u) * (PX_CMD_BYTES_MAX + PX_REPLY_BYTES_MAX);
		c->ops[i].reply = c->ops[i].cmd + PX_CMD_BYTES_MAX;
	}
	c->reg.reply = c->reply;   /* a registration's answer: 8 bytes */
	/* The synchronous calls' command and reply are the client's own. */
	c->ops[SYNC_OP].cmd = c->cmd;
	c->ops[SYNC_OP].reply = c->reply;
	engine_rx_init(c);
	rc = load_members(c, o, err, errlen);
	if (rc != 0)
		goto fail;
	rc = load_key(c, o, err, errlen);
	if (rc != 0)
		goto fail;
	for (uint8_t i = 0; i < c->n_members; i++)
		if (is_known(c, i))
			addr_format(&c->addr[i], c->addr_str[i], sizeof(c->addr_str[i]));

	c->nonce = o->client_id;
	if (c->nonce == 0 && (rc = random_id(0, &c->nonce)) != 0) {
		set_err(err, errlen, "getrandom: %s", strerror(-rc));
		goto fail;
	}
	if ((rc = random_id(c->nonce, &c->probe_id)) != 0) {
		set_err(err, errlen, "getrandom: %s", strerror(-rc));
		goto fail;
	}
	c->leader = PX_NODE_NONE;
	c->attempt_ns = o->attempt_timeout_us != 0 ? o->attempt_timeout_us * NS_PER_US
						   : o->attempt_timeout_ms * NS_PER_MS;
	c->deadline_ns = o->deadline_ms * NS_PER_MS;
	c->backoff_ns = o->backoff_ms * NS_PER_MS;
	c->retries_max = o->retries_max;

	if (o->transport != NULL && strcmp(o->transport, "dpdk") == 0) {
#ifdef PW_CLIENT_HAVE_DPDK
		struct pw_tp_dpdk_member m[PW_MEMBERS_MAX];
		memset(m, 0, sizeof(m));
		for (uint8_t i = 0; i < c->n_members; i++) {
			if (!is_known(c, i))
				continue;
			m[i].present = true;
			m[i].ip_be = c->addr[i].sin_addr.s_addr;
			m[i].port = ntohs(c->addr[i].sin_port);
			memcpy(m[i].mac, c->mac[i], sizeof(m[i].mac));
		}
		rc = pw_tp_dpdk_open(o->eal_args, m, c->n_members, &c->tp, &c->tp_arg, err, errlen);
		if (rc != 0)
			goto fail;
		return c;
#else
		set_err(err, errlen, "transport dpdk: this build of libpaxwire-client has no DPDK "
			"(meson found no libdpdk); fix: transport udp, or rebuild with libdpdk");
		rc = -ENOTSUP;
		goto fail;
#endif
	}
	if (o->transport != NULL && strcmp(o->transport, "udp") != 0) {
		set_err(err, errlen, "transport \"%s\": unknown; fix: \"udp\" (the default) or "
			"\"dpdk\"", o->transport);
		rc = -EINVAL;
		goto fail;
	}
	c->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || bind(c->fd, (const struct sockaddr *)&any, sizeof(any)) != 0) {
		rc = -errno;
		set_err(err, errlen, "UDP socket: %s", strerror(errno));
		goto fail;
	}
	c->tp = &udp_ops;
	c->tp_arg = c;
	return c;
fail:
	pw_client_close(c);
	errno = -rc;
	return NULL;
}

void pw_client_close(struct pw_client *c)
{
	if (c == NULL)
		return;
	if (c->tp != NULL)
		c->tp->close(c->tp_arg);
	else if (c->fd >= 0)
		close(c->fd);
	if (c->efd >= 0)
		close(c->efd);
	if (c->tfd >= 0)
		close(c->tfd);
	sodium_memzero(&c->auth, sizeof(c->auth));
	free(c->ops);
	free(c->op_mem);
	free(c);
}

uint64_t pw_client_id(const struct pw_client *c)
{
	return c->session_id;
}

uint8_t pw_client_members(const struct pw_client *c)
{
	return c->n_members;
}

const char *pw_client_member_addr(const struct pw_client *c, uint8_t id)
{
	return c != NULL && is_known(c, id) ? c->addr_str[id] : NULL;
}

int pw_client_leader(const struct pw_client *c)
{
	return c->leader == PX_NODE_NONE ? -1 : c->leader;
}

static bool engine_busy(const struct pw_client *c);

int pw_client_new_session(struct pw_client *c)
{
	if (engine_busy(c))
		return PW_E_AGAIN;
	c->session_id = 0;
	c->seq = 0;
	return PW_OK;
}

void pw_client_set_observer(struct pw_client *c, pw_op_fn fn, void *arg)
{
	c->observer = fn;
	c->observer_arg = arg;
}

void pw_client_stats(const struct pw_client *c, struct pw_client_stats *st)
{
	*st = c->st;
}

/* ---------------------------------------------------------------------------------- */
/* One command: send, wait, retry                                                      */

/** Encodes a REQUEST for (client_id, seq, body) into c->tx, addressed to `to`. */
static void encode_request_flags(struct pw_client *c, uint64_t client_id, uint64_t seq,
				 const uint8_t *body, uint32_t len, uint8_t to, uint8_t flags)
{
	/* A small struct px_msg would do, but px_encode takes the full one; zeroed so that
	 * no stale field reaches the wire. */
	struct px_msg *m = &c->msg;

	memset(m, 0, offsetof(struct px_msg, entries));
	m->type = PX_MSG_REQUEST;
	m->from = PX_NODE_NONE;
	m->to = to;
	m->cluster_id = c->cluster_id;
	m->client_id = client_id;
	m->seq = seq;
	m->flags = flags;
	m->body_len = len;
	m->body = len != 0 ? body : NULL;
	c->tx_len = (uint32_t)px_encode(m, c->tx, sizeof(c->tx));
	assert(c->tx_len != 0);
}

static void encode_request(struct pw_client *c, uint64_t client_id, uint64_t seq,
			   const uint8_t *body, uint32_t len, uint8_t to)
{
	encode_request_flags(c, client_id, seq, body, len, to, 0);
}

static int recv_decoded(struct pw_client *c);
static bool engine_dispatch(struct pw_client *c);

/**
 * Authenticated: a member's life must be known before a datagram is bound to it
 * (docs/security.md, "Replays after a restart"): until then, a probe (a challenge, which
 * changes nothing wherever it lands) is sent and its answer awaited, up to one
 * attempt's time; the answer's trailer names the life. Whatever else arrives meanwhile
 * (late answers of earlier operations) is dropped as stale.
 */
static void learn_life(struct pw_client *c, uint8_t to)
{
	uint8_t buf[PX_WIRE_HDR_BYTES + 64 + PX_TRAILER_BYTES];
	struct px_msg *m = &c->msg;   /* scratch: nothing decoded is pending before a send */
	uint64_t until = now_ns() + c->attempt_ns;

	memset(m, 0, offsetof(struct px_msg, entries));
	m->type = PX_MSG_REQUEST;
	m->from = PX_NODE_NONE;
	m->to = to;
	m->cluster_id = c->cluster_id;
	m->client_id = c->probe_id;
	size_t len = px_encode(m, buf, sizeof(buf) - PX_TRAILER_BYTES);
	assert(len != 0);
	len = auth_client_seal(&c->auth, to, buf, len, sizeof(buf));
	assert(len != 0);
	c->st.sends++;
	struct pw_tp_dgram d = { .buf = buf, .len = (uint32_t)len, .peer = to };
	if (c->tp->send(c->tp_arg, &d, 1) != 1)
		c->st.send_errors++;
	while (!auth_client_bound(&c->auth, to)) {
		int rc = recv_decoded(c);
		if (rc < 0)
			return;
		if (rc > 0) {
			/* An asynchronous command's answer is not lost meanwhile. */
			if (c->msg.type == PX_MSG_REPLY && c->msg.client_id != c->probe_id)
				(void)engine_dispatch(c);
			continue;
		}
		if (now_ns() >= until)
			return;   /* silent: the send below goes as a challenge, and times out */
		if (c->tp->wait(c->tp_arg, until) < 0)
			return;
	}
}

/** Sends c->tx to member `to`, setting its `to` byte. A failure counts as a lost
 *  datagram: the attempt then times out and the next member is tried. */
static void send_to(struct pw_client *c, uint8_t to)
{
	assert(is_known(c, to));
	/* A probe (seq 0, no flags) is itself a fine challenge: it changes nothing. */
	bool probe = c->tx[PX_WIRE_OFF_TYPE] == PX_MSG_REQUEST && c->tx[PX_WIRE_OFF_FLAGS] == 0 &&
		     c->tx[PX_WIRE_OFF_N_INC] == 0 && wire_ld64(c->tx + PX_WIRE_HDR_BYTES + 8u) == 0;
	if (c->auth_on && !probe && !auth_client_bound(&c->auth, to))
		learn_life(c, to);
	c->tx[PX_WIRE_OFF_TO] = to;
	/* Each datagram its own trailer (a resend gets a new counter), after the message. */
	size_t len = c->auth_on ? auth_client_seal(&c->auth, to, c->tx, c->tx_len, sizeof(c->tx))
				: c->tx_len;
	assert(len != 0);
	struct pw_tp_dgram d = { .buf = c->tx, .len = (uint32_t)len, .peer = to };
	c->st.sends++;
	if (c->tp->send(c->tp_arg, &d, 1) != 1)
		c->st.send_errors++;
}

/** The member an address is; PX_NODE_NONE if none. */
static uint8_t member_of(const struct pw_client *c, const struct sockaddr_in *a)
{
	for (uint8_t i = 0; i < c->n_members; i++)
		if (is_known(c, i) && c->addr[i].sin_addr.s_addr == a->sin_addr.s_addr &&
		    c->addr[i].sin_port == a->sin_port)
			return i;
	return PX_NODE_NONE;
}

/* ---- the kernel UDP transport (pw_transport.h): the client itself is its state ---- */

static uint32_t udp_send(void *tp, const struct pw_tp_dgram *d, uint32_t n)
{
	struct pw_client *c = tp;
	uint32_t done = 0;

	if (n == 1) {
		ssize_t k;
		do {
			k = sendto(c->fd, d->buf, d->len, 0, (const struct sockaddr *)&c->addr[d->peer],
				   sizeof(c->addr[d->peer]));
		} while (k < 0 && errno == EINTR);
		return k == (ssize_t)d->len;
	}
	assert(n <= BATCH_N);
	for (uint32_t i = 0; i < n; i++) {
		c->txv[i] = (struct iovec){ .iov_base = d[i].buf, .iov_len = d[i].len };
		c->txm[i].msg_hdr = (struct msghdr){
			.msg_name = &c->addr[d[i].peer], .msg_namelen = sizeof(c->addr[d[i].peer]),
			.msg_iov = &c->txv[i], .msg_iovlen = 1 };
	}
	while (done < n) {
		int k = sendmmsg(c->fd, c->txm + done, n - done, 0);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		done += (uint32_t)k;
	}
	return done;
}

/** One datagram: recvfrom into d's buffer. The engine's batch (c->rxd, BATCH_N): one
 *  recvmmsg into rxb, whose headers engine_rx_init laid out. */
static int udp_recv(void *tp, struct pw_tp_dgram *d, uint32_t n)
{
	struct pw_client *c = tp;

	for (;;) {
		if (n == 1) {
			struct sockaddr_in from;
			socklen_t flen = sizeof(from);
			ssize_t k = recvfrom(c->fd, d->buf, d->cap, MSG_DONTWAIT | MSG_TRUNC,
					     (struct sockaddr *)&from, &flen);
			if (k >= 0) {
				d->trunc = (size_t)k > d->cap;
				d->len = d->trunc ? d->cap : (uint32_t)k;
				d->peer = member_of(c, &from);
				return 1;
			}
		} else {
			assert(d == c->rxd && n <= BATCH_N);
			int k = recvmmsg(c->fd, c->rxm, n, MSG_DONTWAIT, NULL);
			if (k >= 0) {
				for (int i = 0; i < k; i++) {
					d[i].len = c->rxm[i].msg_len;
					d[i].trunc = (c->rxm[i].msg_hdr.msg_flags & MSG_TRUNC) != 0;
					d[i].peer = member_of(c, &c->rxa[i]);
					/* The kernel wrote these: as engine_rx_init laid them. */
					c->rxm[i].msg_hdr.msg_namelen = sizeof(c->rxa[i]);
					c->rxm[i].msg_hdr.msg_flags = 0;
				}
				return k;
			}
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		if (errno != EINTR && errno != ECONNREFUSED)
			return -errno;
	}
}

static int udp_wait(void *tp, uint64_t until_ns)
{
	struct pw_client *c = tp;
	uint64_t now = now_ns();

	if (now >= until_ns)
		return 0;
	uint64_t left = until_ns - now;
	struct pollfd p = { .fd = c->fd, .events = POLLIN };
	struct timespec ts = { .tv_sec = (time_t)(left / 1000000000ull),
			       .tv_nsec = (long)(left % 1000000000ull) };
	if (ppoll(&p, 1, &ts, NULL) < 0 && errno != EINTR)
		return -errno;
	return 0;
}

static int udp_fd(void *tp)
{
	return ((struct pw_client *)tp)->fd;
}

static void udp_close(void *tp)
{
	struct pw_client *c = tp;

	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static const struct pw_tp_ops udp_ops = {
	.name = "udp", .send = udp_send, .recv = udp_recv, .wait = udp_wait, .fd = udp_fd,
	.close = udp_close,
};

/**
 * Checks and decodes one received datagram (d: its bytes, and the member it came from
 * as the transport says) into c->msg (authenticated: opened in place).
 * @return true if c->msg holds it; false: counted and dropped.
 */
static bool decode_dgram(struct pw_client *c, const struct pw_tp_dgram *d)
{
	uint8_t *buf = d->buf;
	size_t len = d->len;

	if (d->trunc || len > PX_DGRAM_BYTES_MAX) {
		c->st.undecodable++;
		return false;
	}
	uint8_t sender = PX_NODE_NONE;
	if (c->auth_on) {
		/* Only a member's datagram, sealed for this client life, is read. */
		size_t msg_len = 0;
		sender = d->peer < PW_MEMBERS_MAX && is_known(c, d->peer) ? d->peer : PX_NODE_NONE;
		if (sender == PX_NODE_NONE ||
		    auth_client_open(&c->auth, sender, buf, len, &msg_len) != AUTH_OK) {
			c->st.unauthentic++;
			return false;
		}
		len = msg_len;
	}
	/* Any replica id: the cluster may have members the file does not list. */
	if (px_decode(buf, len, c->cluster_id, PX_REPLICAS_MAX, &c->msg) != PX_WIRE_OK) {
		c->st.undecodable++;
		return false;
	}
	/* Authenticated: the sender is the member whose key sealed it. */
	if (sender != PX_NODE_NONE && c->msg.from != sender) {
		c->st.unauthentic++;
		return false;
	}
	if (c->msg.from < PW_MEMBERS_MAX)
		c->heard_ns[c->msg.from] = now_ns();
	return true;
}

/**
 * Reads the next queued datagram that decodes into c->msg; undecodable ones are
 * counted and dropped. @return 1 (c->msg holds it), 0 (queue empty), or -errno.
 */
static int recv_decoded(struct pw_client *c)
{
	for (;;) {
		struct pw_tp_dgram d = { .buf = c->rx, .cap = sizeof(c->rx) };
		int n = c->tp->recv(c->tp_arg, &d, 1);

		if (n <= 0)
			return n;
		if (decode_dgram(c, &d))
			return 1;
	}
}

/**
 * Reads the datagrams already queued until one is a REPLY for (client_id, seq), which
 * is left decoded in c->msg. Everything else is counted and dropped.
 * @return 1 (found), 0 (queue empty), or -errno.
 */
static int recv_match(struct pw_client *c, uint64_t client_id, uint64_t seq)
{
	for (;;) {
		int rc = recv_decoded(c);
		if (rc <= 0)
			return rc;
		if (c->msg.type != PX_MSG_REPLY) {
			c->st.not_reply++;
			continue;
		}
		if (c->msg.client_id != client_id) {
			/* An asynchronous command's, answered meanwhile: handed over. */
			if (!engine_dispatch(c))
				c->st.foreign++;
			continue;
		}
		if (c->msg.seq != seq) {
			c->st.stale++;
			continue;
		}
		return 1;
	}
}

/** Waits until a REPLY for (client_id, seq) arrives (1, in c->msg) or until `until`
 *  (0). -errno on a socket error. */
static int await_reply(struct pw_client *c, uint64_t client_id, uint64_t seq, uint64_t until)
{
	for (;;) {
		int rc = recv_match(c, client_id, seq);

		if (rc != 0)
			return rc;
		if (now_ns() >= until)
			return 0;
		rc = c->tp->wait(c->tp_arg, until);
		if (rc < 0)
			return rc;
	}
}

/* ---------------------------------------------------------------------------------- */
/* Membership: what a member knows (PX_ADMIN_MEMBERS), and learning addresses from it  */

/** The value after "\"key\":" in js (a number, possibly negative), or false. */
static bool members_json_num(const char *js, const char *key, long long *v)
{
	char pat[32];
	snprintf(pat, sizeof(pat), "\"%s\":", key);
	const char *p = strstr(js, pat);
	if (p == NULL)
		return false;
	p += strlen(pat);
	char *end = NULL;
	errno = 0;
	long long x = strtoll(p, &end, 10);
	if (errno != 0 || end == p)
		return false;
	*v = x;
	return true;
}

/** The string after "\"key\":\"" in js into out (cap bytes, NUL-terminated): printable
 *  characters up to the closing quote; false if absent, unterminated or too long. */
static bool members_json_text(const char *js, const char *key, char *out, size_t cap)
{
	char pat[32];
	snprintf(pat, sizeof(pat), "\"%s\":\"", key);
	const char *p = strstr(js, pat);
	if (p == NULL)
		return false;
	p += strlen(pat);
	size_t n = 0;
	while (p[n] != '"') {
		if (p[n] < 0x20 || p[n] > 0x7e || p[n] == '\\' || n + 1 >= cap)
			return false;
		n++;
	}
	memcpy(out, p, n);
	out[n] = '\0';
	return true;
}

/**
 * Parses a member's PX_ADMIN_MEMBERS answer (docs/operations.md: {"id":..,"epoch":..,
 * "alpha":..,"commit":..,"leader":..,"next_epoch":..,"next_from_slot":..,"members":[
 * {"id":..,"role":"..","addr":"..",["ack":..,"lag":..]},...]}). Input from the network:
 * every field is checked, anything else refused. @return true if ms is filled.
 */
static bool members_parse(const char *js, struct pw_membership *ms)
{
	long long v;

	/* The header's numbers, each within its bounds. */
	static const struct { const char *key; long long lo, hi; } hdr[] = {
		{ "id", 0, PW_MEMBERS_MAX - 1 }, { "epoch", 0, UINT32_MAX },
		{ "alpha", 0, UINT32_MAX }, { "commit", 0, LLONG_MAX },
		{ "leader", -1, PW_MEMBERS_MAX - 1 }, { "next_epoch", 0, UINT32_MAX },
		{ "next_from_slot", 0, LLONG_MAX },
	};
	long long h[sizeof(hdr) / sizeof(hdr[0])];

	memset(ms, 0, sizeof(*ms));
	for (size_t k = 0; k < sizeof(hdr) / sizeof(hdr[0]); k++)
		if (!members_json_num(js, hdr[k].key, &h[k]) || h[k] < hdr[k].lo ||
		    h[k] > hdr[k].hi)
			return false;
	ms->from = (int)h[0];
	ms->epoch = (uint32_t)h[1];
	ms->alpha = (uint32_t)h[2];
	ms->commit = (uint64_t)h[3];
	ms->leader = (int)h[4];
	ms->next_epoch = (uint32_t)h[5];
	ms->next_from_slot = (uint64_t)h[6];
	const char *p = strstr(js, "\"members\":[");
	if (p == NULL)
		return false;
	/* Bounded: each object is at least 8 characters, and at most PW_MEMBERS_MAX. */
	while ((p = strstr(p, "{\"id\":")) != NULL) {
		const char *end = strchr(p, '}');
		char obj[192];
		size_t n = end != NULL ? (size_t)(end - p) + 1u : 0;
		if (n == 0 || n >= sizeof(obj) || ms->n >= PW_MEMBERS_MAX)
			return false;
		memcpy(obj, p, n);
		obj[n] = '\0';
		struct pw_member_info *m = &ms->m[ms->n];
		if (!members_json_num(obj, "id", &v) || v < 0 || v >= PW_MEMBERS_MAX ||
		    !members_json_text(obj, "role", m->role, sizeof(m->role)) ||
		    !members_json_text(obj, "addr", m->addr, sizeof(m->addr)))
			return false;
		m->id = (uint8_t)v;
		long long ack = 0, lag = 0;
		m->has_lag = members_json_num(obj, "ack", &ack) && members_json_num(obj, "lag", &lag) &&
			     ack >= 0 && lag >= 0;
		m->ack = m->has_lag ? (uint64_t)ack : 0;
		m->lag = m->has_lag ? (uint64_t)lag : 0;
		ms->n++;
		p = end;
	}
	return true;
}

/** Parses "a.b.c.d:port" (numeric: the text the log keeps) into sa. */
static bool parse_ipport(const char *s, struct sockaddr_in *sa)
{
	const char *colon = strrchr(s, ':');
	char ip[INET_ADDRSTRLEN];
	char *end = NULL;

	if (colon == NULL || colon == s || (size_t)(colon - s) >= sizeof(ip) ||
	    colon[1] < '0' || colon[1] > '9')
		return false;
	memcpy(ip, s, (size_t)(colon - s));
	ip[colon - s] = '\0';
	errno = 0;
	unsigned long port = strtoul(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || port == 0 || port > 65535)
		return false;
	*sa = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	return inet_pton(AF_INET, ip, &sa->sin_addr) == 1 && sa->sin_addr.s_addr != 0;
}

/** Takes the addresses and the membership a member reported: ids named at an address
 *  become reachable (a new address replaces the old one), and requests go round the
 *  members only. */
static void members_learn(struct pw_client *c, const struct pw_membership *ms)
{
	uint16_t all = 0;

	for (uint8_t k = 0; k < ms->n; k++) {
		const struct pw_member_info *m = &ms->m[k];
		struct sockaddr_in sa;
		all = (uint16_t)(all | (1u << m->id));
		if (m->addr[0] == '\0' || !parse_ipport(m->addr, &sa))
			continue;   /* not named by the log: the file's address stands */
		if (is_known(c, m->id) && c->addr[m->id].sin_addr.s_addr == sa.sin_addr.s_addr &&
		    c->addr[m->id].sin_port == sa.sin_port)
			continue;
		c->addr[m->id] = sa;
		addr_format(&sa, c->addr_str[m->id], sizeof(c->addr_str[m->id]));
		c->known = (uint16_t)(c->known | (1u << m->id));
		if (c->auth_on)
			auth_client_forget(&c->auth, m->id);   /* another process: learn its life */
	}
	known_changed(c);
	c->members = all;
	if (c->leader != PX_NODE_NONE && !is_known(c, c->leader))
		c->leader = PX_NODE_NONE;
}

/**
 * Sends PX_ADMIN_MEMBERS to every member in `to` (known ids), again to the silent ones
 * up to PW_PROBE_ROUNDS times, one attempt's timeout apart, until the first answer or
 * `deadline` (with several asked, the first answer of a replica that knows a
 * membership: a joiner's, epoch 0, is passed over). The answer is parsed into *ms, its text kept in js (cap bytes), and
 * learnt (members_learn). Uses c->tx and c->msg.
 * @return PW_OK, PW_E_TIMEOUT (no answer), PW_E_PROTOCOL (an answer that does not
 *         parse), PW_E_SYS.
 */
static int members_ask(struct pw_client *c, uint16_t to, uint64_t deadline,
		       struct pw_membership *ms, char *js, size_t cap)
{
	const uint8_t body[1] = { PX_ADMIN_MEMBERS };
	const uint64_t seq = ++c->admin_seq;

	assert(cap > PX_REPLY_BYTES_MAX);
	to = (uint16_t)(to & c->known);
	for (uint32_t round = 0; round < PW_PROBE_ROUNDS && to != 0; round++) {
		uint64_t now = now_ns(), end;
		uint16_t send = to, heard = 0;

		if (now >= deadline)
			break;
		/* Authenticated: every life first (a probe each; learn_life drops whatever
		 * else arrives meanwhile, so no answer to the request below may be on its
		 * way then). A member silent to its probe is not asked this round. */
		for (uint8_t i = 0; i < PW_MEMBERS_MAX && c->auth_on; i++) {
			if (!((to >> i) & 1u) || auth_client_bound(&c->auth, i))
				continue;
			learn_life(c, i);
			if (!auth_client_bound(&c->auth, i))
				send = (uint16_t)(send & ~(1u << i));
		}
		encode_request_flags(c, c->probe_id, seq, body, sizeof(body), PX_NODE_NONE,
				     PX_MF_ADMIN);
		for (uint8_t i = 0; i < PW_MEMBERS_MAX; i++)
			if ((send >> i) & 1u)
				send_to(c, i);
		now = now_ns();
		end = now + c->attempt_ns < deadline ? now + c->attempt_ns : deadline;
		for (;;) {
			const struct px_msg *m = &c->msg;
			int rc = await_reply(c, c->probe_id, seq, end);

			if (rc < 0) {
				errno = -rc;
				return PW_E_SYS;
			}
			if (rc == 0)
				break;
			c->st.replies++;
			if (m->from < PW_MEMBERS_MAX)
				heard = (uint16_t)(heard | (1u << m->from));
			if (m->status != PX_OK || !is_known(c, m->from) || !((to >> m->from) & 1u))
				continue;   /* a challenge answered (BUSY), or a late answer */
			memcpy(js, m->body, m->body_len);
			js[m->body_len] = '\0';
			if (!members_parse(js, ms) || ms->from != m->from)
				return PW_E_PROTOCOL;
			/* A replica that knows no membership yet (a joiner before its state):
			 * asked among others, another one's answer is awaited. */
			if (ms->epoch == 0 && popcount16(to) > 1)
				continue;
			if (ms->epoch != 0)
				members_learn(c, ms);
			return PW_OK;
		}
		/* Silent members may have restarted: their new life is learnt again. */
		for (uint8_t i = 0; i < PW_MEMBERS_MAX && c->auth_on; i++)
			if ((send >> i) & 1u && !((heard >> i) & 1u))
				auth_client_forget(&c->auth, i);
	}
	return PW_E_TIMEOUT;
}

/**
 * Within an operation (the engine, or an admin request): a hint named a member this client has no address
 * for, or every member it tried was silent. Asks the known members (`prefer` first,
 * if it is one: it just answered) for the membership, keeping the request in flight
 * (c->tx) intact. At most one attempt's time of the operation's deadline.
 * @return true if the membership was learnt.
 */
static bool learn_members(struct pw_client *c, uint8_t prefer, uint64_t deadline)
{
	struct pw_membership ms;
	char js[PX_REPLY_BYTES_MAX + 1];
	uint64_t until = now_ns() + c->attempt_ns;
	int rc = PW_E_TIMEOUT;

	if (until > deadline)
		until = deadline;
	memcpy(c->tx_saved, c->tx, c->tx_len);
	c->tx_saved_len = c->tx_len;
	if (is_known(c, prefer))
		rc = members_ask(c, (uint16_t)(1u << prefer), until, &ms, js, sizeof(js));
	if (rc != PW_OK && rc != PW_E_SYS)
		rc = members_ask(c, c->known, until + c->attempt_ns < deadline
						     ? until + c->attempt_ns : deadline,
				 &ms, js, sizeof(js));
	memcpy(c->tx, c->tx_saved, c->tx_saved_len);
	c->tx_len = c->tx_saved_len;
	return rc == PW_OK;
}

/** The current backoff, doubled for next time; never longer than one attempt's timeout
 *  (with an attempt of 200 us, the 2 ms default first backoff would outlast it). */
static uint64_t backoff_next(const struct pw_client *c, uint64_t *backoff)
{
	uint64_t b = *backoff < c->attempt_ns ? *backoff : c->attempt_ns;

	*backoff = b * 2 < c->attempt_ns ? b * 2 : c->attempt_ns;
	return b;
}

/** The member to send to first: the leader if known, else one picked by `spread`
 *  (a nonce), which spreads clients over the members until they learn the leader. */
static uint8_t first_target(const struct pw_client *c, uint64_t spread)
{
	return c->leader != PX_NODE_NONE && is_known(c, c->leader) ? c->leader
								   : nth_member(c, spread);
}

static bool aop_live(const struct aop *o);
static void aop_complete(struct pw_client *c, struct aop *o, int rc);
static int reg_start(struct pw_client *c, uint64_t now, uint64_t deadline, uint64_t for_id);
static int engine_round(struct pw_client *c, uint64_t until, const struct aop *want);
static void engine_assign(struct pw_client *c, uint64_t now);
static void engine_send(struct pw_client *c);

/** Runs the engine until o (a synchronous call's op, or the registration) is no longer
 *  live. Other commands' completions wait for pw_poll. 0 or -errno (a socket error). */
static int engine_wait(struct pw_client *c, const struct aop *o)
{
	/* Bounded: o's deadline ends it (engine_timers), and each round waits for an event. */
	while (aop_live(o)) {
		int rc = engine_round(c, UINT64_MAX, o);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/**
 * Runs the command in c->cmd[0..c->cmd_len) to its final REPLY through the engine (the
 * synchronous call's op, ops[SYNC_OP]), registering a session first if the client has
 * none; asynchronous commands outstanding keep running meanwhile, and those that
 * complete wait for pw_poll. On PW_OK, c->status is PX_OK or PX_BAD_COMMAND and c->reply
 * holds the reply. c->sent says whether any datagram of the command went out (a
 * registration that failed sends none).
 * @return PW_OK, PW_E_TIMEOUT, PW_E_NO_LEADER, PW_E_SESSION_EXPIRED, PW_E_PROTOCOL,
 *         PW_E_SYS, or PW_E_AGAIN (called from a completion callback: not sent).
 */
static int run_cmd(struct pw_client *c)
{
	struct aop *o = &c->ops[SYNC_OP];
	int rc;

	c->sent = false;
	if (c->delivering)
		return PW_E_AGAIN;
	c->st.ops++;
	c->call_ns = now_ns();
	c->return_ns = 0;
	*o = (struct aop){ .id = ++c->next_id, .call_ns = c->call_ns,
			   .deadline = c->call_ns + c->deadline_ns, .cmd_len = c->cmd_len,
			   .state = AOP_QUEUED, .op = PW_OP_EXECUTE, .cmd = c->cmd,
			   .reply = c->reply };
	/* Out at once (with whatever else is due), before the rounds, which receive first:
	 * no receive system call ahead of the send. */
	engine_assign(c, c->call_ns);
	engine_send(c);
	rc = engine_wait(c, o);
	if (rc < 0) {
		if (aop_live(o))
			aop_complete(c, o, PW_E_SYS);
		errno = -rc;
	} else {
		rc = o->rc;
	}
	c->sent = o->sent;
	if (rc == PW_OK) {
		c->return_ns = o->return_ns;
		c->status = o->status;
		c->reply_len = o->reply_len;
	} else if (rc == PW_E_SESSION_EXPIRED && c->session_id == 0 &&
		   c->reg.state != AOP_FLIGHT && now_ns() < o->deadline &&
		   reg_start(c, now_ns(), o->deadline, 0) == PW_OK) {
		/* The cluster no longer holds the session (evicted): it cannot vouch for
		 * what became of this command. Register a new one now, within what is left
		 * of the deadline; if that fails, the next operation registers. */
		(void)engine_wait(c, &c->reg);
	}
	*o = (struct aop){ .cmd = c->cmd, .reply = c->reply };
	return rc;
}

/* ---------------------------------------------------------------------------------- */
/* Observer                                                                            */

/**
 * Tells the observer, if any, of the operation run_cmd() just ran, which ends with rc.
 * ev holds the operation's own fields; the rest are the client's record of the command.
 */
static void observe(struct pw_client *c, struct pw_op_event *ev, int rc)
{
	if (c->observer == NULL)
		return;
	ev->rc = rc;
	ev->sent = c->sent;
	ev->call_ns = c->call_ns;
	ev->return_ns = c->return_ns;
	c->observer(c->observer_arg, ev);
}

/* ---------------------------------------------------------------------------------- */
/* Key-value operations                                                                */

/** Runs the kv command in c->cmd and decodes its reply into r.
 *  PW_OK (r filled), PW_E_BAD_COMMAND, PW_E_PROTOCOL, or run_cmd's errors. */
static int kv_call(struct pw_client *c, uint32_t len, struct wire_kv_reply *r)
{
	int rc;

	c->cmd_len = len;
	rc = run_cmd(c);
	if (rc != PW_OK)
		return rc;
	if (c->status == PX_BAD_COMMAND)
		return PW_E_BAD_COMMAND;
	if (wire_kv_decode_reply(c->reply, c->reply_len, r) != 0 || r->result == WIRE_KV_R_BAD)
		return PW_E_PROTOCOL;
	return PW_OK;
}

/** The service the cluster runs, if known, is `svc`. */
static bool service_ok(const struct pw_client *c, uint8_t svc)
{
	return c->service == 0 || c->service == svc;
}

static bool kv_args_ok(const struct pw_client *c, const void *key, size_t klen)
{
	return c != NULL && service_ok(c, SERVICE_KV) && (key != NULL || klen == 0);
}

int pw_put(struct pw_client *c, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct pw_op_event ev = { .op = PW_OP_PUT, .key = key, .klen = klen, .value = val,
				  .vlen = vlen };
	struct wire_kv_reply r;
	uint32_t len;
	int rc;

	if (!kv_args_ok(c, key, klen) || (val == NULL && vlen != 0))
		return PW_E_INVAL;
	if (klen > PW_KEY_BYTES_MAX || vlen > PW_KV_BYTES_MAX)
		return PW_E_TOO_LARGE;
	len = wire_kv_encode_put(c->cmd, sizeof(c->cmd), key, (uint8_t)klen, val, (uint32_t)vlen);
	if (len == 0)
		return PW_E_TOO_LARGE;
	rc = kv_call(c, len, &r);
	if (rc == PW_OK && r.result != WIRE_KV_R_OK)
		rc = r.result == WIRE_KV_R_FULL ? PW_E_FULL : PW_E_PROTOCOL;
	observe(c, &ev, rc);
	return rc;
}

int pw_get(struct pw_client *c, const void *key, size_t klen, void *buf, size_t cap,
	   size_t *len)
{
	struct pw_op_event ev = { .op = PW_OP_GET, .key = key, .klen = klen };
	struct wire_kv_reply r;
	uint32_t n;
	int rc;

	if (!kv_args_ok(c, key, klen) || len == NULL || (buf == NULL && cap != 0))
		return PW_E_INVAL;
	if (klen > PW_KEY_BYTES_MAX)
		return PW_E_TOO_LARGE;
	n = wire_kv_encode_get(c->cmd, sizeof(c->cmd), key, (uint8_t)klen);
	assert(n != 0);
	rc = kv_call(c, n, &r);
	if (rc == PW_OK) {
		if (r.result == WIRE_KV_R_OK) {
			/* value points into c->reply: "" rather than NULL when empty. */
			ev.result = r.value != NULL ? r.value : (const uint8_t *)"";
			ev.rlen = r.value_len;
			*len = r.value_len;
			if (r.value_len > cap)
				rc = PW_E_BUFFER;
			else if (r.value_len != 0)
				memcpy(buf, r.value, r.value_len);
		} else {
			rc = r.result == WIRE_KV_R_NOT_FOUND ? PW_E_NOT_FOUND : PW_E_PROTOCOL;
		}
	}
	observe(c, &ev, rc);
	return rc;
}

int pw_del(struct pw_client *c, const void *key, size_t klen)
{
	struct pw_op_event ev = { .op = PW_OP_DEL, .key = key, .klen = klen };
	struct wire_kv_reply r;
	uint32_t n;
	int rc;

	if (!kv_args_ok(c, key, klen))
		return PW_E_INVAL;
	if (klen > PW_KEY_BYTES_MAX)
		return PW_E_TOO_LARGE;
	n = wire_kv_encode_del(c->cmd, sizeof(c->cmd), key, (uint8_t)klen);
	assert(n != 0);
	rc = kv_call(c, n, &r);
	if (rc == PW_OK && r.result != WIRE_KV_R_OK)
		rc = r.result == WIRE_KV_R_NOT_FOUND ? PW_E_NOT_FOUND : PW_E_PROTOCOL;
	observe(c, &ev, rc);
	return rc;
}

int pw_cas(struct pw_client *c, const void *key, size_t klen, const void *expect,
	   size_t elen, const void *val, size_t vlen)
{
	struct pw_op_event ev = { .op = PW_OP_CAS, .key = key, .klen = klen, .value = val,
				  .vlen = vlen, .expect = expect };
	struct wire_kv_reply r;
	uint32_t n;
	int rc;

	if (expect == NULL)
		elen = 0;
	ev.elen = elen;
	if (!kv_args_ok(c, key, klen) || (val == NULL && vlen != 0))
		return PW_E_INVAL;
	if (klen > PW_KEY_BYTES_MAX || vlen > PW_KV_BYTES_MAX || elen > PW_KV_BYTES_MAX)
		return PW_E_TOO_LARGE;
	n = wire_kv_encode_cas(c->cmd, sizeof(c->cmd), key, (uint8_t)klen, val, (uint32_t)vlen,
			     expect, (uint32_t)elen);
	if (n == 0)
		return PW_E_TOO_LARGE;
	rc = kv_call(c, n, &r);
	if (rc == PW_OK) {
		switch (r.result) {
		case WIRE_KV_R_OK:
			break;
		case WIRE_KV_R_CAS_MISMATCH:
			rc = PW_E_CAS_MISMATCH;
			break;
		case WIRE_KV_R_NOT_FOUND:
			rc = expect != NULL ? PW_E_NOT_FOUND : PW_E_PROTOCOL;
			break;
		case WIRE_KV_R_FULL:
			rc = expect == NULL ? PW_E_FULL : PW_E_PROTOCOL;
			break;
		default:
			rc = PW_E_PROTOCOL;
			break;
		}
	}
	observe(c, &ev, rc);
	return rc;
}

/* ---------------------------------------------------------------------------------- */
/* Stream operations                                                                   */

/** Runs the stream command in c->cmd and decodes its reply into r. */
static int stream_call(struct pw_client *c, uint32_t len, struct wire_stream_reply *r)
{
	int rc;

	c->cmd_len = len;
	rc = run_cmd(c);
	if (rc != PW_OK)
		return rc;
	if (c->status == PX_BAD_COMMAND)
		return PW_E_BAD_COMMAND;
	if (wire_stream_decode_reply(c->reply, c->reply_len, r) != 0 ||
	    r->result == WIRE_STREAM_R_BAD)
		return PW_E_PROTOCOL;
	return PW_OK;
}

int pw_append(struct pw_client *c, const void *payload, size_t len, uint64_t *offset)
{
	struct pw_op_event ev = { .op = PW_OP_APPEND, .value = payload, .vlen = len };
	struct wire_stream_reply r;
	uint32_t n;
	int rc;

	if (c == NULL || !service_ok(c, SERVICE_STREAM) || (payload == NULL && len != 0))
		return PW_E_INVAL;
	if (len > PW_RECORD_BYTES_MAX)
		return PW_E_TOO_LARGE;
	n = wire_stream_encode_append(c->cmd, sizeof(c->cmd), payload, (uint32_t)len);
	if (n == 0)
		return PW_E_TOO_LARGE;
	rc = stream_call(c, n, &r);
	if (rc == PW_OK && (r.result != WIRE_STREAM_R_OK || r.n_records != 0))
		rc = PW_E_PROTOCOL;
	if (rc == PW_OK && offset != NULL)
		*offset = r.offset;
	observe(c, &ev, rc);
	return rc;
}

/** What pw_read returns for the decoded reply r to a READ from `from`; calls fn per
 *  record and sets *next as pw_read documents. */
static int read_result(const struct wire_stream_reply *r, uint64_t from, pw_record_fn fn,
		       void *arg, uint64_t *next)
{
	const uint8_t *data;
	uint32_t off = 0, dlen;
	uint64_t at = from;

	switch (r->result) {
	case WIRE_STREAM_R_OK:
		if (r->offset != from + r->n_records)
			return PW_E_PROTOCOL;
		while (wire_stream_reply_next(r, &off, &data, &dlen)) {
			if (fn != NULL)
				fn(arg, at, data, dlen);
			at++;
		}
		*next = r->offset;
		return PW_OK;
	case WIRE_STREAM_R_TRUNCATED:
		*next = r->offset;
		return PW_E_TRUNCATED;
	case WIRE_STREAM_R_BEYOND:
		*next = r->offset;
		return PW_E_BEYOND;
	default:
		return PW_E_PROTOCOL;
	}
}

int pw_read(struct pw_client *c, uint64_t from, uint32_t max_bytes, pw_record_fn fn,
	    void *arg, uint64_t *next)
{
	struct pw_op_event ev = { .op = PW_OP_READ };
	struct wire_stream_reply r;
	uint32_t n;
	int rc;

	if (c == NULL || !service_ok(c, SERVICE_STREAM) || next == NULL)
		return PW_E_INVAL;
	n = wire_stream_encode_read(c->cmd, sizeof(c->cmd), from, max_bytes);
	assert(n != 0);
	rc = stream_call(c, n, &r);
	if (rc == PW_OK)
		rc = read_result(&r, from, fn, arg, next);
	observe(c, &ev, rc);
	return rc;
}

/* ---------------------------------------------------------------------------------- */
/* Any service                                                                         */

int pw_execute(struct pw_client *c, const void *cmd, size_t len, void *reply, size_t cap,
	       size_t *reply_len)
{
	struct pw_op_event ev = { .op = PW_OP_EXECUTE };
	int rc;

	if (c == NULL || (cmd == NULL && len != 0) || reply_len == NULL ||
	    (reply == NULL && cap != 0))
		return PW_E_INVAL;
	if (len > PW_CMD_BYTES_MAX)
		return PW_E_TOO_LARGE;
	if (len != 0)
		memcpy(c->cmd, cmd, len);
	c->cmd_len = (uint32_t)len;
	rc = run_cmd(c);
	if (rc == PW_OK) {
		*reply_len = c->reply_len;
		if (c->reply_len > cap) {
			rc = PW_E_BUFFER;
		} else {
			if (c->reply_len != 0)
				memcpy(reply, c->reply, c->reply_len);
			rc = c->status == PX_OK ? PW_OK : PW_E_BAD_COMMAND;
		}
	}
	observe(c, &ev, rc);
	return rc;
}

/* ---------------------------------------------------------------------------------- */
/* The engine (paxwire.h, "Asynchronous operations"; the synchronous calls run on it)  */
/*
 * Commands live in c->ops (buffers allocated at open): ops[SYNC_OP] for the synchronous
 * call in progress (run_cmd: queued like a submitted command, then the engine runs until
 * it completes; the completions of other commands wait for pw_poll), then 2 x
 * max_inflight for pw_submit (those delivered by the last pw_poll keep their buffers).
 * A command is AOP_QUEUED until the session is registered and the window has
 * room: seqs are handed out in submission order, and a seq is given only while it is
 * within PW_INFLIGHT_MAX of the oldest one still in flight, so that every REQUEST can
 * name that oldest as its floor (px_seq_field: behind = seq - oldest) and the replicas'
 * window covers every command awaited. Each command in flight runs on its own: after
 * silence the next member, after NOT_LEADER the hint at once (a second redirect after a
 * backoff), after BUSY the same member after a backoff; its own attempt timeout, backoff,
 * retry budget (retries_max + 1 sends) and deadline. Two things are shared: the leader (a redirect or an
 * answer moves every later send), and silence: when one command's attempt times out
 * and nothing was heard from its member since it was sent, every command awaiting that
 * member moves on to the next one at once. Every round: receive everything queued
 * (the transport's receive batch: UDP recvmmsg), run the timers, hand out seqs, send
 * everything due (one send batch: UDP sendmmsg), and wait (the transport's wait: UDP
 * ppoll) until the next timer or datagram. The work of a round is bounded by
 * max_inflight commands and BATCH_N datagrams per system call.
 */

static bool aop_live(const struct aop *o)
{
	return o->state == AOP_QUEUED || o->state == AOP_FLIGHT;
}

static bool engine_busy(const struct pw_client *c)
{
	if (c->reg.state == AOP_FLIGHT)
		return true;
	for (uint32_t i = 0; i < c->ops_hi; i++)
		if (c->ops[i].state != AOP_FREE && c->ops[i].state != AOP_OUT)
			return true;
	return false;
}

/** The oldest seq in flight; 0: none. */
static uint64_t oldest_flight(const struct pw_client *c)
{
	uint64_t s = 0;

	for (uint32_t i = 0; i < c->ops_hi; i++)
		if (c->ops[i].state == AOP_FLIGHT && (s == 0 || c->ops[i].seq < s))
			s = c->ops[i].seq;
	return s;
}

/** Ends a command with rc (the transport's outcome; the answer is in status/reply). */
static void aop_complete(struct pw_client *c, struct aop *o, int rc)
{
	if (o->seq != 0 && o != &c->reg) {
		uint8_t *w = &c->win[o->seq % PW_INFLIGHT_MAX];
		if (*w != 0 && &c->ops[*w - 1u] == o)
			*w = 0;
	}
	/* Operations timed out; a registration's failure counts in the commands it ends. */
	if ((rc == PW_E_TIMEOUT || rc == PW_E_NO_LEADER) && o != &c->reg)
		c->st.timeouts++;
	o->rc = rc;
	o->state = o == &c->reg ? AOP_FREE : AOP_DONE;
	if (o->return_ns == 0 && rc == PW_OK)
		o->return_ns = now_ns();
}

/** The registration ended with rc (not PW_OK): the commands waiting for it end too. */
static void reg_failed(struct pw_client *c, int rc)
{
	aop_complete(c, &c->reg, rc);
	for (uint32_t i = 0; i < c->ops_hi; i++)
		if (c->ops[i].state == AOP_QUEUED)
			aop_complete(c, &c->ops[i], rc);
}

/** The session is gone (SESSION_EXPIRED without a reason): every command in flight in it
 *  ends PW_E_SESSION_EXPIRED; queued ones wait for a new registration. */
static void session_gone(struct pw_client *c)
{
	for (uint32_t i = 0; i < c->ops_hi; i++)
		if (c->ops[i].state == AOP_FLIGHT)
			aop_complete(c, &c->ops[i], PW_E_SESSION_EXPIRED);
	c->session_id = 0;
	c->seq = 0;
}

/** Starts a registration (c->reg) for the queued commands, until `deadline`; `for_id`:
 *  the command that waits for it first (its id; 0: none). */
static int reg_start(struct pw_client *c, uint64_t now, uint64_t deadline, uint64_t for_id)
{
	struct aop *r = &c->reg;
	uint64_t nonce = c->auth_on ? (c->nonce & ((1ull << PX_OWNER_SHIFT) - 1u)) |
					      ((uint64_t)px_owner_tag(c->auth.id,
								      c->auth.role == AUTH_ROLE_ADMIN)
					       << PX_OWNER_SHIFT)
				    : c->nonce;
	uint64_t next;
	int rc = random_id(nonce, &next);

	if (rc != 0) {
		errno = -rc;
		return PW_E_SYS;
	}
	c->nonce = next;
	uint8_t *reply = r->reply;
	*r = (struct aop){ .id = for_id, .cid = nonce, .call_ns = now, .deadline = deadline,
			   .next_send = now, .backoff = c->backoff_ns, .state = AOP_FLIGHT,
			   .target = first_target(c, nonce), .reply = reply };
	return PW_OK;
}

/** Hands out seqs to queued commands, in submission order, while the window has room;
 *  starts a registration if there is no session. */
static void engine_assign(struct pw_client *c, uint64_t now)
{
	for (;;) {
		struct aop *o = NULL;
		for (uint32_t i = 0; i < c->ops_hi; i++)
			if (c->ops[i].state == AOP_QUEUED && (o == NULL || c->ops[i].id < o->id))
				o = &c->ops[i];
		if (o == NULL)
			return;
		if (c->session_id == 0) {
			if (c->reg.state != AOP_FLIGHT) {
				int rc = reg_start(c, now, o->deadline, o->id);
				if (rc != PW_OK)
					reg_failed(c, rc);
			}
			return;
		}
		uint64_t oldest = oldest_flight(c);
		if (oldest != 0 && c->seq + 1u - oldest >= PW_INFLIGHT_MAX)
			return;
		o->seq = ++c->seq;
		o->cid = c->session_id;
		/* A synchronous call's budget of sends (retries_max + 1) covers the
		 * registration it waited for, as its deadline does. */
		if (o == &c->ops[SYNC_OP] && c->reg.id == o->id)
			o->sends = c->reg.sends;
		c->win[o->seq % PW_INFLIGHT_MAX] = (uint8_t)(o - c->ops + 1);
		o->state = AOP_FLIGHT;
		o->target = first_target(c, c->session_id);
		o->next_send = now;
		o->backoff = c->backoff_ns;
	}
}

/** Every command (and the registration) awaiting member m gives up on it: m is
 *  silent. Each goes to the next member at once. */
static void member_silent(struct pw_client *c, uint8_t m, uint64_t now)
{
	if (c->auth_on)
		auth_client_forget(&c->auth, m);
	if (c->leader == m)
		c->leader = PX_NODE_NONE;
	for (uint32_t i = 0; i <= c->ops_hi; i++) {
		struct aop *o = i < c->ops_hi ? &c->ops[i] : &c->reg;
		if (o->state != AOP_FLIGHT || !o->awaiting || o->target != m)
			continue;
		c->st.attempt_timeouts++;
		o->awaiting = false;
		if (++o->silent >= popcount16(rotation(c)) && !o->learnt) {
			o->learnt = true;
			o->silent = 0;
			c->learn_pending = true;
			c->learn_prefer = PX_NODE_NONE;
		}
		o->target = next_member(c, m);
		o->next_send = now;
	}
}

/** Deadlines and attempt timeouts. */
static void engine_timers(struct pw_client *c, uint64_t now)
{
	for (uint32_t i = 0; i <= c->ops_hi; i++) {
		struct aop *o = i < c->ops_hi ? &c->ops[i] : &c->reg;
		if (!aop_live(o))
			continue;
		if (now >= o->deadline) {
			int rc = o->leader_named || (o->state == AOP_QUEUED && c->reg.leader_named)
					 ? PW_E_TIMEOUT : PW_E_NO_LEADER;
			if (o == &c->reg)
				reg_failed(c, rc);
			else
				aop_complete(c, o, rc);
			continue;
		}
		if (o->state == AOP_FLIGHT && o->awaiting && now >= o->attempt_end) {
			uint8_t m = o->target;
			if (m < PW_MEMBERS_MAX && c->heard_ns[m] > o->sent_ns) {
				/* m is alive (heard since): this command's datagram or its answer
				 * was lost. The next member redirects to the leader. */
				c->st.attempt_timeouts++;
				o->awaiting = false;
				o->target = next_member(c, m);
				o->next_send = now;
			} else {
				member_silent(c, m, now);
			}
		}
	}
}

/** Appends a REQUEST for o to the send batch (sealed if authenticated). */
static void batch_add(struct pw_client *c, struct aop *o, uint64_t field, uint8_t flags)
{
	struct px_msg *m = &c->msg;

	if (c->txn == BATCH_N || TXB_BYTES - c->txoff < TX_BYTES + PX_TRAILER_BYTES)
		return;   /* the caller flushes first: never reached */
	memset(m, 0, offsetof(struct px_msg, entries));
	m->type = PX_MSG_REQUEST;
	m->from = PX_NODE_NONE;
	m->to = o->target;
	m->cluster_id = c->cluster_id;
	m->client_id = o->cid;
	m->seq = field;
	m->flags = flags;
	m->body_len = o->cmd_len;
	m->body = o->cmd_len != 0 ? o->cmd : NULL;
	uint8_t *buf = c->txb + c->txoff;
	size_t len = px_encode(m, buf, TX_BYTES);
	assert(len != 0);
	if (c->auth_on)
		len = auth_client_seal(&c->auth, o->target, buf, len, TX_BYTES + PX_TRAILER_BYTES);
	assert(len != 0);
	c->txd[c->txn] = (struct pw_tp_dgram){ .buf = buf, .len = (uint32_t)len,
						.peer = o->target };
	c->txn++;
	c->txoff += (uint32_t)((len + 63u) & ~(size_t)63u);
	c->st.sends++;
}

/** Sends the batch (UDP: one sendmmsg). What the transport does not take counts as
 *  loss. */
static void batch_flush(struct pw_client *c)
{
	if (c->txn != 0)
		c->st.send_errors += c->txn - c->tp->send(c->tp_arg, c->txd, c->txn);
	c->txn = 0;
	c->txoff = 0;
}

/** Sends what is due: first sends, re-sends after silence, redirects and backoffs. */
static void engine_send(struct pw_client *c)
{
	uint64_t now = now_ns();

	/* Authenticated: a member's life first (a probe, waited for; rare). */
	for (uint32_t i = 0; i <= c->ops_hi && c->auth_on; i++) {
		struct aop *o = i < c->ops_hi ? &c->ops[i] : &c->reg;
		if (o->state == AOP_FLIGHT && !o->awaiting && now >= o->next_send &&
		    !auth_client_bound(&c->auth, o->target)) {
			learn_life(c, o->target);
			now = now_ns();
		}
	}
	uint64_t oldest = oldest_flight(c);
	for (uint32_t i = 0; i <= c->ops_hi; i++) {
		struct aop *o = i < c->ops_hi ? &c->ops[i] : &c->reg;
		if (o->state != AOP_FLIGHT || o->awaiting || now < o->next_send)
			continue;
		if (o->sends > c->retries_max) {
			int rc = o->leader_named ? PW_E_TIMEOUT : PW_E_NO_LEADER;
			if (o == &c->reg)
				reg_failed(c, rc);
			else
				aop_complete(c, o, rc);
			continue;
		}
		if (c->txn == BATCH_N || TXB_BYTES - c->txoff < TX_BYTES + PX_TRAILER_BYTES)
			batch_flush(c);
		if (o == &c->reg)
			batch_add(c, o, 0, PX_MF_REGISTER);
		else
			batch_add(c, o, px_seq_field(o->seq, (uint32_t)(o->seq - oldest)), 0);
		o->awaiting = true;
		o->sent = true;
		o->sent_ns = now;
		o->attempt_end = now + c->attempt_ns;
		o->sends++;
	}
	batch_flush(c);
}

/** The current backoff of o, doubled for next time up to one attempt's timeout. */
static uint64_t aop_backoff(const struct pw_client *c, struct aop *o)
{
	return backoff_next(c, &o->backoff);
}

/**
 * A REPLY in c->msg: if it answers the registration or a command in flight, acts on it.
 * @return true if it was the engine's (counted), false: someone else's.
 */
static bool engine_dispatch(struct pw_client *c)
{
	const struct px_msg *m = &c->msg;
	struct aop *o;

	if (c->reg.state == AOP_FLIGHT && m->client_id == c->reg.cid && m->seq == 0) {
		o = &c->reg;
	} else if (c->session_id != 0 && m->client_id == c->session_id) {
		uint64_t seq = px_seq_of(m->seq);
		uint8_t w = c->win[seq % PW_INFLIGHT_MAX];
		o = w != 0 ? &c->ops[w - 1u] : NULL;
		if (o == NULL || o->state != AOP_FLIGHT || o->seq != seq) {
			c->st.stale++;   /* a late answer to a command completed */
			return true;
		}
	} else {
		return false;
	}
	c->st.replies++;
	uint64_t now = now_ns();
	o->silent = 0;
	switch (m->status) {
	case PX_OK:
	case PX_BAD_COMMAND:
	case PX_SESSION_EXPIRED:
		c->leader = is_known(c, m->from) ? m->from : PX_NODE_NONE;
		o->return_ns = now;
		o->status = m->status;
		if (o == &c->reg) {
			if (m->status != PX_OK || m->body_len != PX_SESSION_ID_BYTES ||
			    wire_ld64(m->body) == 0) {
				reg_failed(c, PW_E_PROTOCOL);
				return true;
			}
			c->session_id = wire_ld64(m->body);
			c->seq = 0;
			if (c->registrations++ > 0)
				c->st.new_sessions++;
			aop_complete(c, o, PW_OK);
			return true;
		}
		if (m->status == PX_SESSION_EXPIRED) {
			if (m->body_len == 0) {
				aop_complete(c, o, PW_E_SESSION_EXPIRED);
				session_gone(c);
			} else {
				aop_complete(c, o, PW_E_SESSION_EXPIRED);   /* the session lives */
			}
			return true;
		}
		assert(m->body_len <= PX_REPLY_BYTES_MAX);   /* px_decode */
		o->reply_len = m->body_len;
		if (m->body_len != 0)
			memcpy(o->reply, m->body, m->body_len);
		aop_complete(c, o, PW_OK);
		return true;
	case PX_NOT_LEADER:
		c->st.redirects++;
		if (!o->awaiting || m->from != o->target)
			return true;   /* about an earlier attempt: the current one stands */
		o->awaiting = false;
		if (m->leader_hint < PX_REPLICAS_MAX && m->leader_hint != m->from &&
		    !is_known(c, m->leader_hint) && !o->learnt) {
			o->learnt = true;
			c->learn_pending = true;
			c->learn_prefer = m->from;
			c->learn_hint = m->leader_hint;
		}
		if (is_known(c, m->leader_hint) && m->leader_hint != m->from) {
			o->leader_named = true;
			o->target = c->leader = m->leader_hint;
			o->next_send = o->redirected ? now + aop_backoff(c, o) : now;
			o->redirected = true;
		} else {
			c->leader = PX_NODE_NONE;
			o->target = next_member(c, m->from);
			o->next_send = now + aop_backoff(c, o);
		}
		return true;
	case PX_BUSY:
		c->st.busy++;
		if (!o->awaiting || m->from != o->target)
			return true;
		o->awaiting = false;
		o->leader_named = true;
		c->leader = m->from;
		o->next_send = now + aop_backoff(c, o);
		return true;
	default:
		assert(0 && "REPLY status out of range");   /* px_decode */
		return true;
	}
}

/** Lays out the receive batch's headers (at open; engine_recv restores what the
 *  kernel changes). */
static void engine_rx_init(struct pw_client *c)
{
	for (uint32_t i = 0; i < BATCH_N; i++) {
		c->rxd[i] = (struct pw_tp_dgram){ .buf = c->rxb[i], .cap = RXB_BYTES };
		c->rxv[i] = (struct iovec){ .iov_base = c->rxb[i], .iov_len = RXB_BYTES };
		c->rxm[i].msg_hdr = (struct msghdr){
			.msg_name = &c->rxa[i], .msg_namelen = sizeof(c->rxa[i]),
			.msg_iov = &c->rxv[i], .msg_iovlen = 1 };
	}
}

/** Reads every datagram queued, BATCH_N per receive (UDP: recvmmsg). 0 or -errno. */
static int engine_recv(struct pw_client *c)
{
	for (;;) {
		int n = c->tp->recv(c->tp_arg, c->rxd, BATCH_N);
		if (n < 0)
			return n;
		for (int i = 0; i < n; i++) {
			if (!decode_dgram(c, &c->rxd[i]))
				continue;
			if (c->msg.type != PX_MSG_REPLY)
				c->st.not_reply++;
			else if (!engine_dispatch(c))
				c->st.foreign++;
		}
		if ((uint32_t)n < BATCH_N)
			return 0;
	}
}

/** The earliest time the engine must run again (a send, an attempt's end, a
 *  deadline); UINT64_MAX: none. */
static uint64_t engine_next(const struct pw_client *c)
{
	uint64_t t = UINT64_MAX, oldest = oldest_flight(c);
	/* A queued command can be given a seq now (or a registration started for it). */
	bool room = c->session_id == 0 ? c->reg.state != AOP_FLIGHT
				       : oldest == 0 || c->seq + 1u - oldest < PW_INFLIGHT_MAX;

	for (uint32_t i = 0; i <= c->ops_hi; i++) {
		const struct aop *o = i < c->ops_hi ? &c->ops[i] : &c->reg;
		if (!aop_live(o))
			continue;
		if (o->state == AOP_QUEUED && room)
			return 0;
		if (o->deadline < t)
			t = o->deadline;
		if (o->state == AOP_FLIGHT) {
			uint64_t w = o->awaiting ? o->attempt_end : o->next_send;
			if (w < t)
				t = w;
		}
	}
	return t;
}

/** The next command to deliver (DONE), NULL if none is ready: in submission order
 *  (the oldest undelivered, if it is done), or any done one (unordered). */
static struct aop *engine_ready(struct pw_client *c)
{
	struct aop *o = NULL;

	for (uint32_t i = SYNC_OP + 1u; i < c->ops_hi; i++) {
		struct aop *x = &c->ops[i];
		if (x->state != AOP_DONE && !(aop_live(x) && !c->unordered))
			continue;
		if (o == NULL || x->id < o->id)
			o = x;
	}
	return o != NULL && o->state == AOP_DONE ? o : NULL;
}

/** One round of the engine's work, then a wait until `until` (ns) for the next event,
 *  unless a completion is ready or nothing is outstanding; with `want` (a synchronous
 *  call's op, or the registration), unless `want` is no longer live: completions of
 *  other commands then wait for pw_poll. 0 or -errno. */
static int engine_round(struct pw_client *c, uint64_t until, const struct aop *want)
{
	if (c->learn_pending) {
		c->learn_pending = false;
		uint8_t hint = c->learn_hint;
		(void)learn_members(c, c->learn_prefer, now_ns() + 2u * c->attempt_ns);
		if (hint < PX_REPLICAS_MAX && is_known(c, hint))
			c->leader = hint;
		c->learn_hint = PX_NODE_NONE;
	}
	int rc = engine_recv(c);
	if (rc < 0)
		return rc;
	engine_timers(c, now_ns());
	engine_assign(c, now_ns());
	engine_send(c);
	if (want != NULL ? !aop_live(want) : engine_ready(c) != NULL || !engine_busy(c))
		return 0;
	uint64_t now = now_ns(), wake = engine_next(c);
	if (wake > until)
		wake = until;
	if (now >= wake)
		return 0;
	return c->tp->wait(c->tp_arg, wake);
}

/** Keeps the timerfd of pw_client_fd armed for the engine's next need. */
static void fd_rearm(struct pw_client *c)
{
	if (c->tfd < 0)
		return;
	uint64_t t = engine_ready(c) != NULL ? 1u : engine_next(c);
	if (t == 0)
		t = 1;   /* now (0 would disarm) */
	if (t == c->armed_ns || (t == UINT64_MAX && c->armed_ns == 0))
		return;
	struct itimerspec its = { 0 };
	if (t != UINT64_MAX) {
		its.it_value.tv_sec = (time_t)(t / 1000000000ull);
		its.it_value.tv_nsec = (long)(t % 1000000000ull);
	}
	if (timerfd_settime(c->tfd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
		c->armed_ns = t == UINT64_MAX ? 0 : t;
}

/* ---- results ---- */

/** A kv command's rc from its answer (status, reply), as pw_put/get/del/cas return. */
static int kv_rc(uint8_t op, bool cas_expect, uint8_t status, const uint8_t *reply,
		 uint32_t len, struct wire_kv_reply *r)
{
	if (status == PX_BAD_COMMAND)
		return PW_E_BAD_COMMAND;
	if (wire_kv_decode_reply(reply, len, r) != 0 || r->result == WIRE_KV_R_BAD)
		return PW_E_PROTOCOL;
	switch (r->result) {
	case WIRE_KV_R_OK:
		return PW_OK;
	case WIRE_KV_R_NOT_FOUND:
		return op == PW_OP_GET || op == PW_OP_DEL || (op == PW_OP_CAS && cas_expect)
			       ? PW_E_NOT_FOUND : PW_E_PROTOCOL;
	case WIRE_KV_R_CAS_MISMATCH:
		return op == PW_OP_CAS ? PW_E_CAS_MISMATCH : PW_E_PROTOCOL;
	case WIRE_KV_R_FULL:
		return op == PW_OP_PUT || (op == PW_OP_CAS && !cas_expect) ? PW_E_FULL
									  : PW_E_PROTOCOL;
	default:
		return PW_E_PROTOCOL;
	}
}

/** Fills done (and tells the observer) for the completed command o. */
static void aop_result(struct pw_client *c, struct aop *o, struct pw_completion *done)
{
	struct pw_op_event ev = { .op = (enum pw_op)o->op };
	struct wire_kv_reply kr;
	struct wire_stream_reply sr;
	int rc = o->rc;

	*done = (struct pw_completion){ .id = o->id, .user = o->user, .op = (enum pw_op)o->op,
					.sent = o->sent, .call_ns = o->call_ns,
					.return_ns = rc == PW_OK ? o->return_ns : 0 };
	if (rc == PW_OK) {
		switch (o->op) {
		case PW_OP_APPEND:
			if (o->status == PX_BAD_COMMAND)
				rc = PW_E_BAD_COMMAND;
			else if (wire_stream_decode_reply(o->reply, o->reply_len, &sr) != 0 ||
				 sr.result != WIRE_STREAM_R_OK || sr.n_records != 0)
				rc = PW_E_PROTOCOL;
			else
				done->offset = sr.offset;
			break;
		case PW_OP_EXECUTE:
			done->value = o->reply;
			done->vlen = o->reply_len;
			rc = o->status == PX_OK ? PW_OK : PW_E_BAD_COMMAND;
			break;
		default:
			rc = kv_rc(o->op, o->cas_expect, o->status, o->reply, o->reply_len, &kr);
			if (rc == PW_OK && o->op == PW_OP_GET) {
				done->value = kr.value != NULL ? kr.value : (const uint8_t *)"";
				done->vlen = kr.value_len;
			}
			break;
		}
	}
	done->rc = rc;
	if (c->observer == NULL)
		return;
	/* The observer sees what the synchronous operation's would. */
	struct wire_kv_cmd kc;
	struct wire_stream_cmd scmd;
	if (o->op == PW_OP_APPEND) {
		if (wire_stream_decode_cmd(o->cmd, o->cmd_len, &scmd) == 0) {
			ev.value = scmd.payload;
			ev.vlen = scmd.arg;
		}
	} else if (o->op != PW_OP_EXECUTE && wire_kv_decode_cmd(o->cmd, o->cmd_len, &kc) == 0) {
		ev.key = kc.key;
		ev.klen = kc.key_len;
		if (o->op == PW_OP_PUT || o->op == PW_OP_CAS) {
			ev.value = kc.value;
			ev.vlen = kc.value_len;
		}
		if (o->op == PW_OP_CAS && o->cas_expect) {
			ev.expect = kc.expect;
			ev.elen = kc.expect_len;
		}
		if (o->op == PW_OP_GET && (rc == PW_OK)) {
			ev.result = done->value;
			ev.rlen = done->vlen;
		}
	}
	ev.rc = rc;
	ev.sent = o->sent;
	ev.call_ns = o->call_ns;
	ev.return_ns = done->return_ns;
	c->observer(c->observer_arg, &ev);
}

/* ---- the API ---- */

int pw_submit(struct pw_client *c, const struct pw_request *rq, uint64_t *id)
{
	struct aop *o = NULL;
	uint32_t len = 0;

	if (c == NULL || rq == NULL)
		return PW_E_INVAL;
	if (c->outstanding >= c->max_inflight)
		return PW_E_AGAIN;
	for (uint32_t i = SYNC_OP + 1u; i < c->n_ops && o == NULL; i++)
		if (c->ops[i].state == AOP_FREE)
			o = &c->ops[i];
	if (o == NULL)
		return PW_E_AGAIN;
	bool kv = rq->op == PW_OP_PUT || rq->op == PW_OP_GET || rq->op == PW_OP_DEL ||
		  rq->op == PW_OP_CAS;
	if (kv && (!kv_args_ok(c, rq->key, rq->klen) || (rq->value == NULL && rq->vlen != 0)))
		return PW_E_INVAL;
	if (kv && (rq->klen > PW_KEY_BYTES_MAX || rq->vlen > PW_KV_BYTES_MAX))
		return PW_E_TOO_LARGE;
	size_t elen = rq->expect != NULL ? rq->elen : 0;
	switch (rq->op) {
	case PW_OP_PUT:
		len = wire_kv_encode_put(o->cmd, PX_CMD_BYTES_MAX, rq->key, (uint8_t)rq->klen,
					 rq->value, (uint32_t)rq->vlen);
		break;
	case PW_OP_GET:
		len = wire_kv_encode_get(o->cmd, PX_CMD_BYTES_MAX, rq->key, (uint8_t)rq->klen);
		break;
	case PW_OP_DEL:
		len = wire_kv_encode_del(o->cmd, PX_CMD_BYTES_MAX, rq->key, (uint8_t)rq->klen);
		break;
	case PW_OP_CAS:
		if (elen > PW_KV_BYTES_MAX)
			return PW_E_TOO_LARGE;
		len = wire_kv_encode_cas(o->cmd, PX_CMD_BYTES_MAX, rq->key, (uint8_t)rq->klen,
					 rq->value, (uint32_t)rq->vlen, rq->expect, (uint32_t)elen);
		break;
	case PW_OP_APPEND:
		if (!service_ok(c, SERVICE_STREAM) || (rq->value == NULL && rq->vlen != 0))
			return PW_E_INVAL;
		if (rq->vlen > PW_RECORD_BYTES_MAX)
			return PW_E_TOO_LARGE;
		len = wire_stream_encode_append(o->cmd, PX_CMD_BYTES_MAX, rq->value,
						(uint32_t)rq->vlen);
		break;
	case PW_OP_EXECUTE:
		if (rq->value == NULL && rq->vlen != 0)
			return PW_E_INVAL;
		if (rq->vlen > PW_CMD_BYTES_MAX)
			return PW_E_TOO_LARGE;
		if (rq->vlen != 0)
			memcpy(o->cmd, rq->value, rq->vlen);
		len = (uint32_t)rq->vlen;
		break;
	default:
		return PW_E_INVAL;
	}
	if (len == 0 && rq->op != PW_OP_EXECUTE)
		return PW_E_TOO_LARGE;
	uint64_t now = now_ns();
	uint8_t *cmd = o->cmd, *reply = o->reply;
	*o = (struct aop){ .id = ++c->next_id, .user = rq->user, .call_ns = now,
			   .deadline = now + (rq->deadline_us != 0 ? rq->deadline_us * NS_PER_US
								   : c->deadline_ns),
			   .cmd_len = len, .state = AOP_QUEUED, .op = (uint8_t)rq->op,
			   .cas_expect = rq->expect != NULL, .cmd = cmd, .reply = reply };
	if ((uint32_t)(o - c->ops) >= c->ops_hi)
		c->ops_hi = (uint32_t)(o - c->ops) + 1u;
	c->outstanding++;
	c->st.ops++;
	if (id != NULL)
		*id = o->id;
	/* Sent at the next pw_poll, with whatever else is due then (one sendmmsg). */
	fd_rearm(c);
	return PW_OK;
}

int pw_put_async(struct pw_client *c, const void *key, size_t klen, const void *val,
		 size_t vlen, void *user, uint64_t *id)
{
	struct pw_request rq = { .op = PW_OP_PUT, .key = key, .klen = klen, .value = val,
				 .vlen = vlen, .user = user };
	return pw_submit(c, &rq, id);
}

int pw_get_async(struct pw_client *c, const void *key, size_t klen, void *user, uint64_t *id)
{
	struct pw_request rq = { .op = PW_OP_GET, .key = key, .klen = klen, .user = user };
	return pw_submit(c, &rq, id);
}

int pw_del_async(struct pw_client *c, const void *key, size_t klen, void *user, uint64_t *id)
{
	struct pw_request rq = { .op = PW_OP_DEL, .key = key, .klen = klen, .user = user };
	return pw_submit(c, &rq, id);
}

int pw_cas_async(struct pw_client *c, const void *key, size_t klen, const void *expect,
		 size_t elen, const void *val, size_t vlen, void *user, uint64_t *id)
{
	struct pw_request rq = { .op = PW_OP_CAS, .key = key, .klen = klen, .value = val,
				 .vlen = vlen, .expect = expect, .elen = elen, .user = user };
	return pw_submit(c, &rq, id);
}

int pw_append_async(struct pw_client *c, const void *payload, size_t len, void *user,
		    uint64_t *id)
{
	struct pw_request rq = { .op = PW_OP_APPEND, .value = payload, .vlen = len,
				 .user = user };
	return pw_submit(c, &rq, id);
}

int pw_execute_async(struct pw_client *c, const void *cmd, size_t len, void *user,
		     uint64_t *id)
{
	struct pw_request rq = { .op = PW_OP_EXECUTE, .value = cmd, .vlen = len, .user = user };
	return pw_submit(c, &rq, id);
}

int pw_cancel(struct pw_client *c, uint64_t id)
{
	if (c == NULL || id == 0)
		return PW_E_INVAL;
	for (uint32_t i = SYNC_OP + 1u; i < c->ops_hi; i++) {
		struct aop *o = &c->ops[i];
		if (o->id == id && aop_live(o)) {
			o->return_ns = 0;
			aop_complete(c, o, PW_E_CANCELLED);
			fd_rearm(c);
			return PW_OK;
		}
	}
	return PW_E_NOT_FOUND;
}

void pw_client_set_completion(struct pw_client *c, pw_complete_fn fn, void *arg)
{
	c->done_fn = fn;
	c->done_arg = arg;
}

int pw_poll(struct pw_client *c, struct pw_completion *out, int max, int64_t timeout_us)
{
	if (c == NULL || max < 0 || (out == NULL && max > 0)) {
		errno = EINVAL;
		return -1;
	}
	/* The last call's completions: their buffers are free now. */
	for (uint32_t i = SYNC_OP + 1u; i < c->ops_hi; i++)
		if (c->ops[i].state == AOP_OUT)
			c->ops[i] = (struct aop){ .cmd = c->ops[i].cmd, .reply = c->ops[i].reply };
	while (c->ops_hi > SYNC_OP + 1u && c->ops[c->ops_hi - 1u].state == AOP_FREE)
		c->ops_hi--;
	if (c->tfd >= 0 && c->armed_ns != 0 && c->armed_ns <= now_ns()) {
		uint64_t ticks;
		if (read(c->tfd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN) {
			/* nothing to do: the timer is re-armed below */
		}
		c->armed_ns = 0;
	}
	uint64_t start = now_ns();
	uint64_t until = timeout_us < 0 ? UINT64_MAX
			 : start + (uint64_t)timeout_us * NS_PER_US;
	int delivered = 0;
	/* Bounded: each round either delivers, waits until `until`, or finds nothing
	 * outstanding. */
	for (;;) {
		int rc = engine_round(c, until, NULL);
		if (rc < 0) {
			fd_rearm(c);
			errno = -rc;
			return -1;
		}
		struct aop *o;
		while ((c->done_fn != NULL || delivered < max) && (o = engine_ready(c)) != NULL) {
			struct pw_completion done;
			aop_result(c, o, &done);
			o->state = AOP_OUT;
			c->outstanding--;
			if (c->done_fn != NULL) {
				c->delivering = true;
				c->done_fn(c->done_arg, &done);
				c->delivering = false;
			}
			else
				out[delivered] = done;
			delivered++;
		}
		if (delivered > 0 || c->outstanding == 0 || now_ns() >= until)
			break;
	}
	fd_rearm(c);
	return delivered;
}

int pw_client_fd(struct pw_client *c)
{
	if (c->efd >= 0)
		return c->efd;
	int fd = c->tp->fd(c->tp_arg);
	if (fd < 0) {
		errno = EOPNOTSUPP;   /* a polled transport: call pw_poll(c, ..., 0) in a loop */
		return -1;
	}
	int efd = epoll_create1(EPOLL_CLOEXEC);
	int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN };
	if (efd < 0 || tfd < 0 ||
	    (ev.data.fd = fd, epoll_ctl(efd, EPOLL_CTL_ADD, fd, &ev)) != 0 ||
	    (ev.data.fd = tfd, epoll_ctl(efd, EPOLL_CTL_ADD, tfd, &ev)) != 0) {
		int e = errno;
		if (efd >= 0)
			close(efd);
		if (tfd >= 0)
			close(tfd);
		errno = e;
		return -1;
	}
	c->efd = efd;
	c->tfd = tfd;
	c->armed_ns = 0;
	fd_rearm(c);
	return efd;
}

int64_t pw_client_timeout_us(const struct pw_client *c)
{
	if (engine_ready((struct pw_client *)c) != NULL)
		return 0;
	uint64_t t = engine_next(c), now = now_ns();
	if (t == UINT64_MAX)
		return -1;
	return t <= now ? 0 : (int64_t)((t - now + NS_PER_US - 1u) / NS_PER_US);
}

uint32_t pw_client_outstanding(const struct pw_client *c)
{
	return c->outstanding;
}

/* ---------------------------------------------------------------------------------- */
/* Members                                                                             */

int pw_probe(struct pw_client *c, struct pw_member_status *st)
{
	const uint64_t t0 = now_ns(), deadline = t0 + c->deadline_ns;
	uint8_t left = (uint8_t)popcount16(c->known);
	/* The members known now: an answer may teach more (members_learn), not here. */
	const uint8_t n = c->n_members;
	const uint16_t known = c->known;

	for (uint8_t i = 0; i < n; i++) {
		st[i] = (struct pw_member_status){ .leader_hint = -1 };
		if ((known >> i) & 1u)
			memcpy(st[i].addr, c->addr_str[i], sizeof(st[i].addr));
	}
	/* seq 0 without REGISTER: no command; the leader answers BAD_COMMAND at once and
	 * logs nothing, followers NOT_LEADER. */
	encode_request(c, c->probe_id, 0, NULL, 0, PX_NODE_NONE);
	for (uint32_t round = 0; round < PW_PROBE_ROUNDS && left > 0; round++) {
		uint64_t now = now_ns(), end;

		if (now >= deadline)
			break;
		for (uint8_t i = 0; i < n; i++) {
			if (((known >> i) & 1u) && !st[i].answered)
				send_to(c, i);
		}
		end = now + c->attempt_ns < deadline ? now + c->attempt_ns : deadline;
		while (left > 0) {
			const struct px_msg *m = &c->msg;
			int rc = await_reply(c, c->probe_id, 0, end);

			if (rc < 0) {
				errno = -rc;
				return PW_E_SYS;
			}
			if (rc == 0)
				break;
			c->st.replies++;
			if (m->from >= n || !((known >> m->from) & 1u) || st[m->from].answered)
				continue;   /* the answer to an earlier round's probe */
			st[m->from].answered = true;
			st[m->from].rtt_ns = now_ns() - t0;
			left--;
			if (m->status == PX_NOT_LEADER) {
				if (m->leader_hint < PX_REPLICAS_MAX)
					st[m->from].leader_hint = m->leader_hint;
			} else {
				st[m->from].leads = true;
				c->leader = m->from;
			}
		}
	}
	return PW_OK;
}

static void nap_ns(uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000ull),
			       .tv_nsec = (long)(ns % 1000000000ull) };
	nanosleep(&ts, NULL);
}

int pw_transfer_leader(struct pw_client *c, uint8_t target)
{
	const uint64_t deadline = now_ns() + c->deadline_ns;
	const uint8_t body[2] = { PX_ADMIN_TRANSFER, target };
	uint64_t backoff = c->backoff_ns;
	bool heard = false, started = false;
	const uint64_t seq = ++c->admin_seq;   /* not 0: a probe's late answer is no refusal */

	/* A member this client has no address for yet (added since its file was written). */
	if (target < PX_REPLICAS_MAX && !is_known(c, target)) {
		struct pw_membership ms;
		char js[PX_REPLY_BYTES_MAX + 1];
		(void)members_ask(c, rotation(c), deadline, &ms, js, sizeof(js));
	}
	if (!is_known(c, target))
		return PW_E_INVAL;
	uint8_t to = is_known(c, c->leader) ? c->leader : nth_member(c, 0);
	/* 1. Ask the leader (following hints; BUSY: it has no leadership to give yet). */
	while (!started) {
		uint64_t now = now_ns(), end;
		const struct px_msg *m = &c->msg;
		int rc;

		if (now >= deadline)
			return heard ? PW_E_TIMEOUT : PW_E_NO_LEADER;
		encode_request_flags(c, c->probe_id, seq, body, sizeof(body), to, PX_MF_ADMIN);
		send_to(c, to);
		end = now + c->attempt_ns < deadline ? now + c->attempt_ns : deadline;
		rc = await_reply(c, c->probe_id, seq, end);
		if (rc < 0) {
			errno = -rc;
			return PW_E_SYS;
		}
		if (rc == 0) {   /* silent: try the next member */
			if (c->auth_on)
				auth_client_forget(&c->auth, to);
			to = next_member(c, to);
			continue;
		}
		heard = true;
		c->st.replies++;
		switch (m->status) {
		case PX_OK:
			started = true;
			c->leader = m->from;
			break;
		case PX_NOT_LEADER:
			to = is_known(c, m->leader_hint) && m->leader_hint != to ? m->leader_hint
										    : next_member(c, to);
			break;
		case PX_BUSY:
			nap_ns(backoff_next(c, &backoff));
			break;
		default:
			return PW_E_BAD_COMMAND;   /* refused: not a member, or not understood */
		}
	}
	/* 2. The transfer runs on its own (the target catches up, then campaigns): wait
	 *    until the target says it leads. */
	struct pw_member_status st[PW_MEMBERS_MAX];
	while (now_ns() < deadline) {
		int rc = pw_probe(c, st);
		if (rc != PW_OK)
			return rc;
		if (st[target].leads)
			return PW_OK;
		nap_ns(backoff_next(c, &backoff));
	}
	return PW_E_TIMEOUT;
}

int pw_member_stats(struct pw_client *c, uint8_t member, char *buf, size_t cap, size_t *len)
{
	return pw_member_stats_page(c, member, 0, buf, cap, len);
}

int pw_member_stats_page(struct pw_client *c, uint8_t member, uint8_t page, char *buf,
			 size_t cap, size_t *len)
{
	const uint64_t deadline = now_ns() + c->deadline_ns;
	const uint8_t body[2] = { PX_ADMIN_STATS, page };
	uint64_t seq;

	if (member >= PW_MEMBERS_MAX || buf == NULL || len == NULL)
		return PW_E_INVAL;
	if (!is_known(c, member)) {
		struct pw_membership ms;
		char js[PX_REPLY_BYTES_MAX + 1];
		(void)members_ask(c, rotation(c), deadline, &ms, js, sizeof(js));
		if (!is_known(c, member))
			return PW_E_INVAL;
	}
	seq = ++c->admin_seq;   /* not 0: a probe's late answer (BAD_COMMAND) is no refusal */
	for (uint32_t round = 0; round < PW_PROBE_ROUNDS; round++) {
		uint64_t now = now_ns(), end;
		const struct px_msg *m = &c->msg;
		int rc;

		if (now >= deadline)
			break;
		/* Page 0 as the one-byte request of every release: older replicas answer it. */
		encode_request_flags(c, c->probe_id, seq, body, page == 0 ? 1u : 2u, member,
				     PX_MF_ADMIN);
		send_to(c, member);
		end = now + c->attempt_ns < deadline ? now + c->attempt_ns : deadline;
		rc = await_reply(c, c->probe_id, seq, end);
		if (rc < 0) {
			errno = -rc;
			return PW_E_SYS;
		}
		if (rc == 0 && c->auth_on)
			auth_client_forget(&c->auth, member);
		if (rc == 0 || m->from != member)
			continue;
		c->st.replies++;
		if (m->status == PX_BUSY)
			continue;   /* a challenge answered: now bound to its life */
		if (m->status != PX_OK)
			return PW_E_BAD_COMMAND;   /* a member that cannot answer it (no such page) */
		*len = m->body_len;
		if (m->body_len + 1u > cap)
			return PW_E_BUFFER;
		memcpy(buf, m->body, m->body_len);
		buf[m->body_len] = '\0';
		return PW_OK;
	}
	return PW_E_TIMEOUT;
}

/* ---------------------------------------------------------------------------------- */
/* Membership changes (docs/operations.md, "Membership changes")                       */

int pw_members(struct pw_client *c, int member, struct pw_membership *ms, char *json,
	       size_t cap, size_t *len)
{
	const uint64_t deadline = now_ns() + c->deadline_ns;
	char js[PX_REPLY_BYTES_MAX + 1];
	int rc;

	if (c == NULL || ms == NULL || (json != NULL && len == NULL) || member < -1 ||
	    member >= PW_MEMBERS_MAX)
		return PW_E_INVAL;
	if (member >= 0 && !is_known(c, (uint8_t)member)) {
		(void)members_ask(c, rotation(c), deadline, ms, js, sizeof(js));
		if (!is_known(c, (uint8_t)member))
			return PW_E_INVAL;
	}
	if (member >= 0) {
		rc = members_ask(c, (uint16_t)(1u << member), deadline, ms, js, sizeof(js));
	} else {
		/* The leader's view has each member's ack and lag: ask the leader if known,
		 * else whoever answers first, then the leader it names. */
		rc = PW_E_TIMEOUT;
		if (is_known(c, c->leader))
			rc = members_ask(c, (uint16_t)(1u << c->leader),
					 now_ns() + c->attempt_ns < deadline ? now_ns() + c->attempt_ns
									 : deadline,
					 ms, js, sizeof(js));
		if (rc == PW_E_TIMEOUT)
			rc = members_ask(c, rotation(c), deadline, ms, js, sizeof(js));
		if (rc == PW_OK && ms->leader >= 0 && ms->leader != ms->from &&
		    is_known(c, (uint8_t)ms->leader)) {
			struct pw_membership lm;
			char ljs[PX_REPLY_BYTES_MAX + 1];
			if (members_ask(c, (uint16_t)(1u << ms->leader), deadline, &lm, ljs,
					sizeof(ljs)) == PW_OK) {
				*ms = lm;
				memcpy(js, ljs, sizeof(js));
			}
		}
		if (rc == PW_OK && ms->leader == ms->from)
			c->leader = (uint8_t)ms->from;
	}
	if (rc != PW_OK)
		return rc;
	if (json != NULL) {
		*len = strlen(js);
		if (*len + 1u > cap)
			return PW_E_BUFFER;
		memcpy(json, js, *len + 1u);
	}
	return PW_OK;
}

/**
 * An admin request that only the leader acts on (PX_ADMIN_ADD, PX_ADMIN_REMOVE): sent to
 * the leader, hints followed (a hint naming a member this client has no address for
 * teaches the membership first), the next member after silence, again at once after a
 * challenge's BUSY (no body). Its answer's body goes to out.
 * @return PW_OK, PW_E_BUSY, PW_E_BAD_COMMAND, PW_E_TIMEOUT, PW_E_NO_LEADER, PW_E_SYS.
 */
static int leader_admin(struct pw_client *c, const uint8_t *body, uint32_t blen,
			struct pw_change *out)
{
	const uint64_t deadline = now_ns() + c->deadline_ns;
	uint64_t backoff = c->backoff_ns;
	uint8_t to = is_known(c, c->leader) ? c->leader : nth_member(c, c->probe_id);
	bool heard = false, learnt = false;
	uint32_t silent = 0, sends = 0;
	const uint64_t seq = ++c->admin_seq;

	/* Bounded by the deadline and retries_max. */
	while (now_ns() < deadline && sends++ <= c->retries_max) {
		const struct px_msg *m = &c->msg;
		uint64_t now = now_ns();
		uint64_t end = now + c->attempt_ns < deadline ? now + c->attempt_ns : deadline;

		encode_request_flags(c, c->probe_id, seq, body, blen, to, PX_MF_ADMIN);
		send_to(c, to);
		int rc = await_reply(c, c->probe_id, seq, end);
		if (rc < 0) {
			errno = -rc;
			return PW_E_SYS;
		}
		if (rc == 0 || m->from != to) {   /* silent: try the next member */
			if (c->auth_on)
				auth_client_forget(&c->auth, to);
			if (++silent >= popcount16(rotation(c)) && !learnt) {
				learnt = true;
				silent = 0;
				(void)learn_members(c, PX_NODE_NONE, deadline);
			}
			c->leader = PX_NODE_NONE;
			to = next_member(c, to);
			continue;
		}
		silent = 0;
		heard = true;
		c->st.replies++;
		uint8_t from = m->from, hint = m->leader_hint, status = m->status;
		uint32_t n = m->body_len < sizeof(out->error) - 1u ? m->body_len
								   : (uint32_t)sizeof(out->error) - 1u;
		char text[sizeof(out->error)];
		if (n > 0)
			memcpy(text, m->body, n);
		text[n] = '\0';
		switch (status) {
		case PX_OK: {
			long long slot = 0, epoch = 0;
			c->leader = from;
			out->leader = from;
			if (!members_json_num(text, "slot", &slot) || !members_json_num(text, "epoch", &epoch) ||
			    slot <= 0 || epoch <= 0 || epoch > UINT32_MAX)
				return PW_E_PROTOCOL;
			out->slot = (uint64_t)slot;
			out->epoch = (uint32_t)epoch;
			return PW_OK;
		}
		case PX_NOT_LEADER:
			if (hint < PX_REPLICAS_MAX && hint != from && !is_known(c, hint) && !learnt) {
				learnt = true;
				(void)learn_members(c, from, deadline);
			}
			if (is_known(c, hint) && hint != to) {
				to = hint;
			} else {
				to = next_member(c, from);
				nap_ns(backoff_next(c, &backoff));
			}
			continue;
		case PX_BUSY:
			if (n == 0)
				continue;   /* a challenge answered: now bound to its life */
			out->leader = from;
			c->leader = from;
			if (!members_json_text(text, "error", out->error, sizeof(out->error)))
				snprintf(out->error, sizeof(out->error), "%s", text);
			return PW_E_BUSY;
		default:
			out->leader = from;
			if (!members_json_text(text, "error", out->error, sizeof(out->error)))
				snprintf(out->error, sizeof(out->error), "%s",
					 n > 0 ? text : "refused (no reason given: a member of an older build?)");
			return PW_E_BAD_COMMAND;
		}
	}
	return heard ? PW_E_TIMEOUT : PW_E_NO_LEADER;
}

int pw_add_member(struct pw_client *c, uint8_t id, const char *addr, struct pw_change *out)
{
	uint8_t body[2 + PX_CONF_ADDR_BYTES];
	size_t n = addr != NULL ? strlen(addr) : 0;

	if (c == NULL || out == NULL)
		return PW_E_INVAL;
	*out = (struct pw_change){ .leader = -1 };
	if (id >= PX_REPLICAS_MAX || n == 0 || n >= PX_CONF_ADDR_BYTES)
		return PW_E_INVAL;
	for (size_t k = 0; k < n; k++)
		if (addr[k] < 0x21 || addr[k] > 0x7e)
			return PW_E_INVAL;
	body[0] = PX_ADMIN_ADD;
	body[1] = id;
	memcpy(body + 2, addr, n);
	return leader_admin(c, body, (uint32_t)(2u + n), out);
}

int pw_remove_member(struct pw_client *c, uint8_t id, struct pw_change *out)
{
	const uint8_t body[2] = { PX_ADMIN_REMOVE, id };

	if (c == NULL || out == NULL)
		return PW_E_INVAL;
	*out = (struct pw_change){ .leader = -1 };
	if (id >= PX_REPLICAS_MAX)
		return PW_E_INVAL;
	return leader_admin(c, body, sizeof(body), out);
}

/* ---------------------------------------------------------------------------------- */
/* Snapshots (backups)                                                                 */

/** Chunk requests in flight at once. A member serves twice its transfer_chunks_per_tick
 *  a tick (default PX_TRANSFER_CHUNKS_DEFAULT) and drops the rest: this leaves half of
 *  that to peers healing by state transfer meanwhile. */
#define PW_SNAP_INFLIGHT PX_TRANSFER_CHUNKS_DEFAULT
/** A chunk request unanswered this long is sent again (one attempt's timeout if that is
 *  shorter): a member that dropped it for its rate limit answers the next one. */
#define PW_SNAP_RESEND_MS 20u
/** Sends of one chunk request before the member counts as gone (another is asked). */
#define PW_SNAP_SENDS_MAX 64u
/** Fetches started over at most (a newer snapshot, another member, a failed hash). */
#define PW_SNAP_RESTARTS_MAX 8u
/** Passes over the members in a row in which every one refused: no snapshot to be had
 *  (a refusal may pass: a member behind min_slot catches up, one saving finishes). */
#define PW_SNAP_REFUSED_PASSES 3u

_Static_assert(PW_SNAP_INFLIGHT >= 1 && PW_SNAP_INFLIGHT <= PX_TRANSFER_CHUNKS_MAX,
	       "a member's rate limit can serve the window");

/** One chunk request in flight. */
struct snap_req {
	uint64_t chunk;
	uint64_t sent_ns;            /**< its last send */
	uint32_t sends;              /**< 0: not sent yet */
	bool busy;
};

/** The snapshot being fetched. Invariant: got <= next <= chunks. */
struct snap_fetch {
	uint64_t slot, id, total, chunks;
	uint64_t next;               /**< the next chunk to ask for */
	uint64_t got;                /**< chunks received */
	uint8_t *buf;                /**< total bytes, from buf_for */
	struct snap_req q[PW_SNAP_INFLIGHT];
};

/* What snap_ask and snap_pull found besides PW_* codes (negative: no pw_err). */
#define SNAP_SERVED 100      /* a member's first chunk is in c->msg */
#define SNAP_SILENT 101
#define SNAP_REFUSED 102
#define SNAP_NEWER 103       /* the member took a newer snapshot: its first chunk in c->msg */
#define SNAP_GONE 104        /* the member went silent, or refused: ask another */

/** Encodes the tool's SNAP_REQ into c->tx (send_to sets `to`): from PX_NODE_NONE, epoch
 *  0 (a tool knows none; members take 0 from one), no crash vector. */
static void encode_snap_req(struct pw_client *c, uint64_t min_slot, uint64_t slot,
			    uint64_t id, uint64_t off)
{
	struct px_msg *m = &c->msg;

	memset(m, 0, offsetof(struct px_msg, entries));
	m->type = PX_MSG_SNAP_REQ;
	m->from = PX_NODE_NONE;
	m->to = PX_NODE_NONE;
	m->cluster_id = c->cluster_id;
	m->slot_lo = min_slot;
	m->slot_hi = slot;
	m->nonce = id;
	m->snap_off = off;
	c->tx_len = (uint32_t)px_encode(m, c->tx, sizeof(c->tx));
	assert(c->tx_len != 0);
}

/** Reads the datagrams already queued until one is a SNAP_CHUNK from member `from`,
 *  left decoded in c->msg; everything else is dropped (REPLYs counted as not_reply).
 *  @return 1 (found), 0 (queue empty), or -errno. */
static int recv_chunk(struct pw_client *c, uint8_t from)
{
	for (;;) {
		int rc = recv_decoded(c);
		if (rc <= 0)
			return rc;
		if (c->msg.type != PX_MSG_SNAP_CHUNK) {
			c->st.not_reply++;
			continue;
		}
		if (c->msg.from == from)
			return 1;
		/* A late answer of a member asked before: ignored. */
	}
}

/** Waits until a SNAP_CHUNK from `from` arrives (1, in c->msg) or until `until` (0).
 *  -errno on a socket error. */
static int await_chunk(struct pw_client *c, uint8_t from, uint64_t until)
{
	for (;;) {
		int rc = recv_chunk(c, from);

		if (rc != 0)
			return rc;
		if (now_ns() >= until)
			return 0;
		rc = c->tp->wait(c->tp_arg, until);
		if (rc < 0)
			return rc;
	}
}

/** Bytes chunk `off` of a snapshot of `total` bytes has. */
static uint64_t chunk_bytes(uint64_t total, uint64_t off)
{
	return total - off < PX_SNAP_CHUNK_BYTES ? total - off : PX_SNAP_CHUNK_BYTES;
}

/** True if c->msg is the first chunk of a whole snapshot that holds min_slot. */
static bool chunk_starts(const struct px_msg *m, uint64_t min_slot)
{
	return !(m->flags & PX_MF_SNAP_NONE) && m->slot_hi != 0 && m->slot_hi >= min_slot &&
	       m->slot_hi <= PX_SLOT_MAX && m->nonce != 0 && m->snap_total != 0 &&
	       m->snap_total <= SIZE_MAX && m->snap_off == 0 &&
	       m->body_len == chunk_bytes(m->snap_total, 0);
}

/**
 * Asks member i for any snapshot that holds min_slot (its first chunk), up to
 * PW_PROBE_ROUNDS times, one attempt's timeout apart, until `deadline`.
 * @return SNAP_SERVED (the chunk in c->msg), SNAP_REFUSED, SNAP_SILENT, or PW_E_SYS.
 */
static int snap_ask(struct pw_client *c, uint8_t i, uint64_t min_slot, uint64_t deadline,
		    struct pw_snapshot_info *info)
{
	for (uint32_t round = 0; round < PW_PROBE_ROUNDS; round++) {
		uint64_t now = now_ns(), end;

		if (now >= deadline)
			break;
		encode_snap_req(c, min_slot, 0, 0, 0);
		send_to(c, i);
		info->requests++;
		if (round > 0)
			info->resends++;
		end = now + c->attempt_ns < deadline ? now + c->attempt_ns : deadline;
		for (;;) {
			int rc = await_chunk(c, i, end);

			if (rc < 0) {
				errno = -rc;
				return PW_E_SYS;
			}
			if (rc == 0)
				break;
			if (c->msg.flags & PX_MF_SNAP_NONE)
				return SNAP_REFUSED;
			if (chunk_starts(&c->msg, min_slot))
				return SNAP_SERVED;
			/* A chunk of an earlier fetch from this member: ignored. */
		}
	}
	return SNAP_SILENT;
}

/** info->answered and info->refused from the members' marks. */
static void snap_count(const struct pw_client *c, const bool *answered, const bool *refused,
		       struct pw_snapshot_info *info)
{
	info->answered = info->refused = 0;
	for (uint8_t i = 0; i < PW_MEMBERS_MAX && c->known != 0; i++) {
		info->answered = (uint8_t)(info->answered + answered[i]);
		info->refused = (uint8_t)(info->refused + refused[i]);
	}
}

/**
 * Finds a member that serves, starting at *member and going round (the leader last
 * when known: the caller starts after it), pass after pass until the deadline. The
 * first pass asks the followers only: one that refused because it has not applied
 * min_slot yet (it trails the leader by moments) serves on the next pass, and the
 * leader's loop, which a snapshot would stop for a while, is the cluster's commit path.
 * @return PW_OK (*member serves; its first chunk is in c->msg), PW_E_NO_SNAPSHOT,
 *         PW_E_TIMEOUT or PW_E_SYS.
 */
static int snap_find(struct pw_client *c, uint64_t min_slot, uint8_t *member,
		     bool *answered, bool *refused, struct pw_snapshot_info *info)
{
	const uint64_t deadline = now_ns() + c->deadline_ns;
	uint32_t all_refused = 0;

	/* Bounded by the deadline: each pass sends at least one datagram and waits. */
	for (uint32_t pass = 0;; pass++) {
		uint16_t r = rotation(c);
		bool skip_leader = pass == 0 && is_known(c, c->leader) && popcount16(r) > 1;
		uint8_t n_refused = 0, asked = 0;

		for (uint8_t k = 0; k < PW_MEMBERS_MAX; k++) {
			uint8_t i = (uint8_t)((*member + k) % PW_MEMBERS_MAX);
			if (!((r >> i) & 1u) || (skip_leader && i == c->leader))
				continue;
			asked++;
			int rc = snap_ask(c, i, min_slot, deadline, info);

			if (rc == PW_E_SYS)
				return rc;
			if (rc == SNAP_SILENT)
				continue;
			answered[i] = true;
			if (rc == SNAP_SERVED) {
				snap_count(c, answered, refused, info);
				*member = i;
				return PW_OK;
			}
			refused[i] = true;
			n_refused++;
		}
		snap_count(c, answered, refused, info);
		all_refused = n_refused == asked ? all_refused + 1u : 0;
		if (all_refused >= PW_SNAP_REFUSED_PASSES)
			return PW_E_NO_SNAPSHOT;
		uint64_t now = now_ns();
		if (now >= deadline)
			return n_refused > 0 ? PW_E_NO_SNAPSHOT : PW_E_TIMEOUT;
		/* A pass of refusals comes back at once: give the members a moment. */
		nap_ns(deadline - now < c->attempt_ns ? deadline - now : c->attempt_ns);
	}
}

/** Starts fetching the snapshot whose first chunk is in c->msg. PW_OK or PW_E_BUFFER. */
static int snap_begin(struct pw_client *c, struct snap_fetch *f, pw_snapshot_buf_fn buf_for,
		      void *arg)
{
	const struct px_msg *m = &c->msg;

	memset(f, 0, sizeof(*f));
	f->slot = m->slot_hi;
	f->id = m->nonce;
	f->total = m->snap_total;
	f->chunks = (f->total + PX_SNAP_CHUNK_BYTES - 1u) / PX_SNAP_CHUNK_BYTES;
	f->buf = buf_for(arg, f->total);
	if (f->buf == NULL)
		return PW_E_BUFFER;
	memcpy(f->buf, m->body, m->body_len);
	f->next = 1;
	f->got = 1;
	return PW_OK;
}

/**
 * Fetches the rest of f from member: PW_SNAP_INFLIGHT requests in flight, each sent
 * again after resend_ns of silence, at most PW_SNAP_SENDS_MAX times.
 * @return PW_OK (every chunk in f->buf, the hash not checked yet), SNAP_NEWER (the
 *         member's first chunk of a newer snapshot is in c->msg), SNAP_GONE (silent for
 *         the deadline, a request sent too often, or a refusal), or PW_E_SYS.
 */
static int snap_pull(struct pw_client *c, struct snap_fetch *f, uint8_t member,
		     uint64_t min_slot, uint64_t resend_ns, struct pw_snapshot_info *info)
{
	uint64_t stall_end = now_ns() + c->deadline_ns;

	/* Bounded: each turn either receives a datagram or waits for a resend or the stall
	 * deadline, and every chunk request is sent at most PW_SNAP_SENDS_MAX times. */
	for (;;) {
		uint64_t now = now_ns(), wake = stall_end;

		for (uint32_t k = 0; k < PW_SNAP_INFLIGHT; k++) {
			struct snap_req *q = &f->q[k];

			if (!q->busy && f->next < f->chunks) {
				*q = (struct snap_req){ .chunk = f->next++, .busy = true };
			}
			if (!q->busy)
				continue;
			if (q->sends == 0 || now - q->sent_ns >= resend_ns) {
				if (q->sends >= PW_SNAP_SENDS_MAX)
					return SNAP_GONE;
				encode_snap_req(c, min_slot, f->slot, f->id,
						q->chunk * PX_SNAP_CHUNK_BYTES);
				send_to(c, member);
				info->requests++;
				if (q->sends > 0)
					info->resends++;
				q->sends++;
				q->sent_ns = now;
			}
			if (q->sent_ns + resend_ns < wake)
				wake = q->sent_ns + resend_ns;
		}
		if (f->got == f->chunks)
			return PW_OK;
		if (now >= stall_end)
			return SNAP_GONE;
		int rc = await_chunk(c, member, wake);
		if (rc < 0) {
			errno = -rc;
			return PW_E_SYS;
		}
		if (rc == 0)
			continue;
		const struct px_msg *m = &c->msg;
		if (m->flags & PX_MF_SNAP_NONE)
			return SNAP_GONE;   /* it cannot serve now (recovering, fetching state) */
		if (m->slot_hi != f->slot || m->nonce != f->id || m->snap_total != f->total) {
			/* The member took a newer snapshot (it answers every request for the old
			 * one with the new one's first chunk); an older one's chunk is late. */
			if (m->slot_hi > f->slot && chunk_starts(m, min_slot))
				return SNAP_NEWER;
			continue;
		}
		uint64_t off = m->snap_off;
		if (off % PX_SNAP_CHUNK_BYTES != 0 || m->body_len != chunk_bytes(f->total, off))
			continue;
		for (uint32_t k = 0; k < PW_SNAP_INFLIGHT; k++) {
			struct snap_req *q = &f->q[k];
			if (!q->busy || q->chunk != off / PX_SNAP_CHUNK_BYTES)
				continue;
			memcpy(f->buf + off, m->body, m->body_len);
			q->busy = false;
			f->got++;
			stall_end = now_ns() + c->deadline_ns;
			break;
		}
		/* Not in flight: a duplicate of a chunk already here. */
	}
}

int pw_snapshot_fetch(struct pw_client *c, uint64_t min_slot, pw_snapshot_buf_fn buf_for,
		      void *arg, struct pw_snapshot_info *info)
{
	bool answered[PW_MEMBERS_MAX] = { false }, refused[PW_MEMBERS_MAX] = { false };
	struct snap_fetch f;
	int rc, last = PW_E_TIMEOUT;

	if (info == NULL)
		return PW_E_INVAL;
	*info = (struct pw_snapshot_info){ .member = -1,
					   .cluster_id = c != NULL ? c->cluster_id : 0 };
	if (c == NULL || buf_for == NULL || min_slot > PX_SLOT_MAX)
		return PW_E_INVAL;
	const uint64_t resend_ns = PW_SNAP_RESEND_MS * NS_PER_MS < c->attempt_ns
					   ? PW_SNAP_RESEND_MS * NS_PER_MS
					   : c->attempt_ns;
	/* Followers first: the leader's loop is the cluster's commit path. */
	uint8_t member = is_known(c, c->leader) ? next_member(c, c->leader) : nth_member(c, 0);
	bool have_first = false;   /* a first chunk is in c->msg already (SNAP_NEWER) */

	/* Bounded by PW_SNAP_RESTARTS_MAX. */
	for (;;) {
		if (!have_first) {
			rc = snap_find(c, min_slot, &member, answered, refused, info);
			if (rc != PW_OK)
				return rc;
		}
		have_first = false;
		info->member = member;
		rc = snap_begin(c, &f, buf_for, arg);
		if (rc != PW_OK)
			return rc;
		info->slot = f.slot;
		info->id = f.id;
		info->len = f.total;
		rc = snap_pull(c, &f, member, min_slot, resend_ns, info);
		if (rc == PW_E_SYS)
			return rc;
		if (rc == PW_OK) {
			if (wire_snap_hash(f.buf, (size_t)f.total) == f.id)
				return PW_OK;
			last = PW_E_PROTOCOL;   /* corrupt on the way, or at the member */
		} else if (rc == SNAP_NEWER) {
			have_first = true;
			last = PW_E_TIMEOUT;
		} else {
			/* Gone: ask the next member. */
			member = next_member(c, member);
			last = PW_E_TIMEOUT;
		}
		if (++info->restarts > PW_SNAP_RESTARTS_MAX)
			return last;
	}
}
