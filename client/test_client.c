/* SPDX-License-Identifier: Apache-2.0
 * libpaxwire-client against in-process fake replicas: three UDP sockets on 127.0.0.1,
 * each served by a thread that decodes REQUESTs with the real codec and answers REPLYs.
 * The member that leads runs the real applier (registered sessions) and kv store or
 * stream, so registration and exactly-once are the real thing; a script per member
 * makes it redirect, drop commands (before or after applying), answer BUSY or
 * SESSION_EXPIRED, or send junk first, and drop registrations or their replies. A
 * member that leads answers a REQUEST with seq 0 and no REGISTER flag (the probe)
 * BAD_COMMAND without applying anything, as paxwired does.
 *
 * argv[1], if given, is the pwctl program: its commands and exit codes are checked too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "env.h"
#include "lincheck.h"
#include "paxwire.h"
#include "pw_version.h"
#include "pw_history.h"
#include "svc_kv.h"
#include "svc_stream.h"
#include "px.h"
#include "px_apply.h"
#include "px_batch.h"
#include "px_codec.h"

#define N_FAKES 3
#define CLUSTER_ID 77u
#define SEEN_MAX 256
#define SESSIONS 64

static const char *pwctl_path;

/* The fakes' threads cannot use cmocka's asserts (they jump to the test's context). */
#define FAKE_CHECK(x)                                                                    \
	do {                                                                             \
		if (!(x)) {                                                              \
			fprintf(stderr, "%s:%d: fake replica: %s\n", __FILE__, __LINE__, #x); \
			abort();                                                         \
		}                                                                        \
	} while (0)

/* Changes a fake's script under the lock its thread reads it under. */
#define SCRIPT(cl, stmt)                          \
	do {                                      \
		pthread_mutex_lock(&(cl)->mu);    \
		stmt;                             \
		pthread_mutex_unlock(&(cl)->mu);  \
	} while (0)

/** One request a fake saw. */
struct seen {
	uint64_t client_id;
	uint64_t seq;
	uint8_t to;
	bool reg;               /**< a registration (PX_MF_REGISTER) */
};

/** One fake member. Script and log fields are under cluster.mu. */
struct fake {
	struct cluster *cl;
	uint8_t id;
	int fd;
	char addr[32];
	pthread_t th;
	atomic_bool stop;

	/* Script. The command counters leave registrations alone, which have their own. */
	bool leads;
	uint8_t hint;           /**< NOT_LEADER's hint when !leads (PX_NODE_NONE: none) */
	uint32_t drop_before;   /**< drop this many commands without applying them */
	uint32_t drop_after;    /**< apply, then drop the reply: this many */
	uint32_t busy;          /**< answer BUSY (not applied) this many times */
	uint32_t expire;        /**< answer SESSION_EXPIRED (not applied) this many times */
	uint32_t junk;          /**< before this many replies, send junk first */
	uint32_t bad_body;      /**< apply, then answer PX_OK with an empty (invalid) body */
	uint32_t reg_drop_before; /**< drop this many registrations unapplied */
	uint32_t reg_drop_after;  /**< register, then drop the reply: this many */

	/* Log. */
	uint32_t n_seen;
	struct seen seen[SEEN_MAX];

	struct px_msg in, out;  /**< only the fake's thread touches these */
};

/** The replicated state the leading fake applies to (one log, as a real cluster has). */
struct cluster {
	pthread_mutex_t mu;
	struct fake f[N_FAKES];
	const char *addrs[N_FAKES];
	struct px_applier *ap;
	void *ap_arena, *svc_arena;
	struct svc_kv *kv;
	struct svc_stream *stream;
	uint64_t slot;
	struct px_apply_out out;
};

/* ---- fake replicas ---- */

static void fake_send(struct fake *f, const struct sockaddr_in *to, const struct px_msg *m,
		      uint32_t cluster_id)
{
	uint8_t buf[PX_MSG_BYTES_MAX];
	struct px_msg copy = *m;
	size_t n;

	copy.cluster_id = cluster_id;
	n = px_encode(&copy, buf, sizeof(buf));
	FAKE_CHECK(n > 0);
	sendto(f->fd, buf, n, 0, (const struct sockaddr *)to, sizeof(*to));
}

/** Fills f->out with a REPLY. */
static void fake_build_reply(struct fake *f, uint64_t client_id, uint64_t seq, uint8_t status,
			     const uint8_t *body, uint32_t len)
{
	struct px_msg *m = &f->out;

	memset(m, 0, offsetof(struct px_msg, entries));
	m->type = PX_MSG_REPLY;
	m->from = f->id;
	m->to = PX_NODE_NONE;
	m->client_id = client_id;
	m->seq = seq;
	m->status = status;
	m->leader_hint = f->leads ? f->id : f->hint;
	m->body_len = len;
	m->body = len != 0 ? body : NULL;
}

static void fake_reply(struct fake *f, const struct sockaddr_in *to, uint64_t client_id,
		       uint64_t seq, uint8_t status, const uint8_t *body, uint32_t len)
{
	fake_build_reply(f, client_id, seq, status, body, len);
	fake_send(f, to, &f->out, CLUSTER_ID);
}

/** Junk before a real reply: garbage, another cluster's REPLY, a REPLY for another
 *  client, one for another seq, and a message that is not a REPLY. */
static void fake_junk(struct fake *f, const struct sockaddr_in *to, uint64_t client_id,
		      uint64_t seq)
{
	static const uint8_t garbage[] = "garbage!";
	struct px_msg *m = &f->out;

	sendto(f->fd, garbage, sizeof(garbage), 0, (const struct sockaddr *)to, sizeof(*to));
	fake_build_reply(f, client_id, seq, PX_OK, NULL, 0);
	fake_send(f, to, m, CLUSTER_ID + 1);                 /* another cluster */
	fake_reply(f, to, client_id ^ 0x5a5a, seq, PX_OK, NULL, 0);
	fake_reply(f, to, client_id, seq + 1000, PX_OK, NULL, 0);
	memset(m, 0, offsetof(struct px_msg, entries));
	m->type = PX_MSG_REQUEST;
	m->from = PX_NODE_NONE;
	m->to = PX_NODE_NONE;
	m->client_id = client_id;
	m->seq = seq;
	fake_send(f, to, m, CLUSTER_ID);
}

/** Applies one command through the applier as the next slot; *r is its reply. */
static void cluster_apply(struct cluster *cl, const struct px_msg *m, struct px_reply *r)
{
	struct px_cmd_ref cmd = { .client_id = m->client_id, .seq = m->seq,
				  .len = m->body_len, .body = m->body };
	uint8_t batch[PX_SLOT_BYTES_MAX];
	uint32_t len = px_batch_begin(batch, sizeof(batch));

	len = px_batch_add(batch, len, sizeof(batch), &cmd);
	FAKE_CHECK(len > 0);
	px_apply_slot(cl->ap, ++cl->slot, batch, len, &cl->out);
	FAKE_CHECK(cl->out.n == 1);
	*r = cl->out.replies[0];
}

/** PX_ADMIN_MEMBERS, as node/ answers it: every fake a voter at its address. */
static void fake_members(struct fake *f, const struct sockaddr_in *from, const struct px_msg *m)
{
	struct cluster *cl = f->cl;
	char js[1024];
	int leader = -1, o;

	for (uint8_t i = 0; i < N_FAKES; i++)
		if (cl->f[i].leads)
			leader = i;
	o = snprintf(js, sizeof(js),
		     "{\"id\":%u,\"epoch\":3,\"alpha\":256,\"commit\":%" PRIu64 ",\"leader\":%d,"
		     "\"next_epoch\":0,\"next_from_slot\":0,\"members\":[",
		     f->id, cl->slot, leader);
	for (uint8_t i = 0; i < N_FAKES; i++)
		o += snprintf(js + o, sizeof(js) - (size_t)o,
			      "%s{\"id\":%u,\"role\":\"voter\",\"addr\":\"%s\"%s}",
			      i ? "," : "", i, cl->addrs[i], f->leads ? ",\"ack\":1,\"lag\":0" : "");
	o += snprintf(js + o, sizeof(js) - (size_t)o, "]}");
	fake_reply(f, from, m->client_id, m->seq, PX_OK, (const uint8_t *)js, (uint32_t)o);
}

static void fake_handle(struct fake *f, const uint8_t *buf, size_t n,
			const struct sockaddr_in *from)
{
	struct cluster *cl = f->cl;
	struct px_msg *m = &f->in;
	struct px_reply r;

	if (px_decode(buf, n, CLUSTER_ID, N_FAKES, m) != PX_WIRE_OK ||
	    m->type != PX_MSG_REQUEST)
		return;
	bool reg = (m->flags & PX_MF_REGISTER) != 0;
	pthread_mutex_lock(&cl->mu);
	if (f->n_seen < SEEN_MAX)
		f->seen[f->n_seen++] = (struct seen){ m->client_id, m->seq, m->to, reg };
	if (reg) {
		if (f->reg_drop_before > 0) {
			f->reg_drop_before--;
		} else if (!f->leads) {
			fake_reply(f, from, m->client_id, m->seq, PX_NOT_LEADER, NULL, 0);
		} else {
			cluster_apply(cl, m, &r);   /* seq 0: the applier registers */
			if (f->reg_drop_after > 0)
				f->reg_drop_after--;
			else
				fake_reply(f, from, r.client_id, r.seq, r.status, r.data, r.len);
		}
	} else if ((m->flags & PX_MF_ADMIN) && m->body_len == 1 &&
		   m->body[0] == PX_ADMIN_MEMBERS) {
		fake_members(f, from, m);
	} else if (f->drop_before > 0) {
		f->drop_before--;
	} else if (!f->leads) {
		fake_reply(f, from, m->client_id, m->seq, PX_NOT_LEADER, NULL, 0);
	} else if (f->busy > 0) {
		f->busy--;
		fake_reply(f, from, m->client_id, m->seq, PX_BUSY, NULL, 0);
	} else if (f->expire > 0) {
		f->expire--;
		fake_reply(f, from, m->client_id, m->seq, PX_SESSION_EXPIRED, NULL, 0);
	} else if (m->seq == 0) {
		/* No command (the probe): answered at once, never applied. */
		fake_reply(f, from, m->client_id, m->seq, PX_BAD_COMMAND, NULL, 0);
	} else {
		cluster_apply(cl, m, &r);
		if (f->drop_after > 0) {
			f->drop_after--;
		} else if (f->bad_body > 0) {
			f->bad_body--;
			fake_reply(f, from, r.client_id, r.seq, PX_OK, NULL, 0);
		} else {
			if (f->junk > 0) {
				f->junk--;
				fake_junk(f, from, m->client_id, m->seq);
			}
			fake_reply(f, from, r.client_id, r.seq, r.status, r.data, r.len);
		}
	}
	pthread_mutex_unlock(&cl->mu);
}

static void *fake_main(void *arg)
{
	struct fake *f = arg;
	static _Thread_local uint8_t buf[PX_MSG_BYTES_MAX];

	while (!atomic_load_explicit(&f->stop, memory_order_acquire)) {
		struct pollfd p = { .fd = f->fd, .events = POLLIN };
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t n;

		if (poll(&p, 1, 5) <= 0)
			continue;
		n = recvfrom(f->fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
		if (n > 0)
			fake_handle(f, buf, (size_t)n, &from);
	}
	return NULL;
}

/** Three fakes; member `leader` leads, the others hint at it. service: 1 kv, 2 stream. */
static struct cluster *cluster_start(uint8_t leader, int service)
{
	struct cluster *cl = calloc(1, sizeof(*cl));
	struct px_service svc;
	size_t len;

	assert_non_null(cl);
	pthread_mutex_init(&cl->mu, NULL);
	if (service == 1) {
		len = svc_kv_arena_bytes(1024, WIRE_KV_KEY_BYTES_MAX, WIRE_KV_VALUE_BYTES_MAX);
		cl->svc_arena = malloc(len);
		cl->kv = svc_kv_init(1024, WIRE_KV_KEY_BYTES_MAX, WIRE_KV_VALUE_BYTES_MAX,
				    cl->svc_arena, len);
		assert_non_null(cl->kv);
		svc_kv_service(cl->kv, &svc);
	} else {
		len = svc_stream_arena_bytes(1024, 1u << 16);
		cl->svc_arena = malloc(len);
		cl->stream = svc_stream_init(1024, 1u << 16, cl->svc_arena, len);
		assert_non_null(cl->stream);
		svc_stream_service(cl->stream, &svc);
	}
	len = px_applier_arena_bytes(SESSIONS);
	cl->ap_arena = malloc(len);
	cl->ap = px_applier_init(SESSIONS, &svc, cl->ap_arena, len);
	assert_non_null(cl->ap);

	for (uint8_t i = 0; i < N_FAKES; i++) {
		struct fake *f = &cl->f[i];
		struct sockaddr_in sa = { .sin_family = AF_INET,
					  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		socklen_t sl = sizeof(sa);

		f->cl = cl;
		f->id = i;
		f->leads = i == leader;
		f->hint = leader;
		f->fd = socket(AF_INET, SOCK_DGRAM, 0);
		assert_true(f->fd >= 0);
		assert_int_equal(bind(f->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
		assert_int_equal(getsockname(f->fd, (struct sockaddr *)&sa, &sl), 0);
		snprintf(f->addr, sizeof(f->addr), "127.0.0.1:%u", (unsigned)ntohs(sa.sin_port));
		cl->addrs[i] = f->addr;
		atomic_init(&f->stop, false);
		assert_int_equal(pthread_create(&f->th, NULL, fake_main, f), 0);
	}
	return cl;
}

static void cluster_stop(struct cluster *cl)
{
	for (uint8_t i = 0; i < N_FAKES; i++) {
		atomic_store_explicit(&cl->f[i].stop, true, memory_order_release);
		pthread_join(cl->f[i].th, NULL);
		close(cl->f[i].fd);
	}
	pthread_mutex_destroy(&cl->mu);
	free(cl->ap_arena);
	free(cl->svc_arena);
	free(cl);
}

/** Copies fake i's log of requests, registrations or not (under the lock). */
static uint32_t fake_seen_all(struct cluster *cl, uint8_t i, struct seen *out)
{
	uint32_t n;

	pthread_mutex_lock(&cl->mu);
	n = cl->f[i].n_seen;
	memcpy(out, cl->f[i].seen, n * sizeof(*out));
	pthread_mutex_unlock(&cl->mu);
	return n;
}

/** Copies fake i's log of requests of one kind: registrations (reg) or the others. */
static uint32_t fake_seen_kind(struct cluster *cl, uint8_t i, bool reg, struct seen *out)
{
	static struct seen all[SEEN_MAX];
	uint32_t n = fake_seen_all(cl, i, all), k = 0;

	for (uint32_t j = 0; j < n; j++)
		if (all[j].reg == reg)
			out[k++] = all[j];
	return k;
}

/** Fake i's log of commands (registrations left out). */
static uint32_t fake_seen(struct cluster *cl, uint8_t i, struct seen *out)
{
	return fake_seen_kind(cl, i, false, out);
}

static struct px_apply_counters applier_counters(struct cluster *cl)
{
	struct px_apply_counters c;

	pthread_mutex_lock(&cl->mu);
	c = *px_applier_counters(cl->ap);
	pthread_mutex_unlock(&cl->mu);
	return c;
}

/** kv value of key in the fakes' store, as a NUL-terminated string ("" if absent). */
static bool kv_value(struct cluster *cl, const char *key, char *buf, size_t cap)
{
	const uint8_t *v;
	uint32_t vl;
	bool found;

	pthread_mutex_lock(&cl->mu);
	found = svc_kv_get_direct(cl->kv, key, (uint8_t)strlen(key), &v, &vl);
	if (found) {
		assert_true(vl < cap);
		memcpy(buf, v, vl);
		buf[vl] = '\0';
	}
	pthread_mutex_unlock(&cl->mu);
	return found;
}

/* ---- helpers ---- */

/** Options for a client of the fake cluster cl (the caller sets the timing). */
static void fake_opts(struct pw_client_opts *o, struct cluster *cl, uint64_t client_id,
		      uint32_t deadline_ms)
{
	pw_client_opts_default(o);
	o->members = cl->addrs;
	o->n_members = N_FAKES;
	o->cluster_id = CLUSTER_ID;
	o->client_id = client_id;
	o->deadline_ms = deadline_ms;
}

static struct pw_client *open_or_fail(const struct pw_client_opts *o)
{
	char err[256] = "";
	struct pw_client *c = pw_client_open(o, err, sizeof(err));

	if (c == NULL)
		fail_msg("pw_client_open: %s", err);
	return c;
}

static struct pw_client *open_client_retries(struct cluster *cl, uint64_t client_id,
					     uint32_t attempt_ms, uint32_t deadline_ms,
					     uint32_t retries_max)
{
	struct pw_client_opts o;

	fake_opts(&o, cl, client_id, deadline_ms);
	o.attempt_timeout_ms = attempt_ms;
	o.retries_max = retries_max;
	return open_or_fail(&o);
}

static struct pw_client *open_client(struct cluster *cl, uint64_t client_id,
				     uint32_t attempt_ms, uint32_t deadline_ms)
{
	return open_client_retries(cl, client_id, attempt_ms, deadline_ms, 32);
}

static uint64_t mono_ns(void)
{
	return env_mono_ns();
}

/* Client ids chosen so that the first command goes to a known member (id % 3). */
#define ID_TO_0 300u
#define ID_TO_1 301u

/* ---- tests ---- */

/** The client registers before its first command. The registration's first target (0,
 *  by the nonce) is a follower: its hint leads the client to member 2, which registers
 *  it and which it then caches, so the commands go to 2 directly. */
static void test_leader_found_via_hint(void **state)
{
	struct cluster *cl = cluster_start(2, 1);
	struct pw_client *c = open_client(cl, ID_TO_0, 200, 3000);
	struct pw_client_stats st;
	struct seen s[SEEN_MAX];
	uint64_t id;
	char v[64];

	(void)state;
	assert_int_equal(pw_client_leader(c), -1);
	assert_int_equal(pw_client_id(c), 0);
	assert_int_equal(pw_put(c, "k1", 2, "v1", 2), PW_OK);
	assert_int_equal(pw_client_leader(c), 2);
	id = pw_client_id(c);
	assert_int_equal(id, px_session_id(1, 0));   /* the fakes' log: slot 1, first */
	assert_int_equal(fake_seen_all(cl, 0, s), 1);
	assert_true(s[0].reg);
	assert_int_equal(s[0].client_id, ID_TO_0);
	assert_int_equal(s[0].seq, 0);
	assert_int_equal(s[0].to, 0);
	assert_int_equal(fake_seen_all(cl, 1, s), 0);
	assert_int_equal(fake_seen_kind(cl, 2, true, s), 1);
	assert_int_equal(s[0].client_id, ID_TO_0);
	assert_int_equal(fake_seen(cl, 2, s), 1);
	assert_int_equal(s[0].client_id, id);
	assert_int_equal(s[0].seq, 1);
	assert_int_equal(s[0].to, 2);

	assert_int_equal(pw_put(c, "k1", 2, "v2", 2), PW_OK);
	assert_int_equal(fake_seen_all(cl, 0, s), 1);   /* straight to the cached leader */
	assert_int_equal(fake_seen(cl, 2, s), 2);
	assert_int_equal(s[1].client_id, id);
	assert_int_equal(s[1].seq, 2);
	assert_true(kv_value(cl, "k1", v, sizeof(v)));
	assert_string_equal(v, "v2");

	pw_client_stats(c, &st);
	assert_int_equal(st.ops, 2);
	assert_int_equal(st.sends, 4);   /* the registration twice, each command once */
	assert_int_equal(st.redirects, 1);
	assert_int_equal(st.attempt_timeouts, 0);
	assert_int_equal(st.new_sessions, 0);
	pw_client_close(c);
	cluster_stop(cl);
}

/** Membership changes: a client whose member list is stale (it knows fakes 0 and 1 only)
 *  is redirected to member 2, for which it has no address; it asks the member that
 *  redirected it for the membership (PX_ADMIN_MEMBERS), learns 2's address, and its
 *  command goes there. pw_members then reports the leader's view. */
static void test_learns_members(void **state)
{
	struct cluster *cl = cluster_start(2, 1);
	struct pw_client_opts o;
	struct pw_membership ms;
	char err[256] = "", js[2048];
	size_t jl = 0;

	(void)state;
	pw_client_opts_default(&o);
	o.members = cl->addrs;
	o.n_members = 2;
	o.cluster_id = CLUSTER_ID;
	o.client_id = ID_TO_0;
	o.attempt_timeout_ms = 200;
	struct pw_client *c = pw_client_open(&o, err, sizeof(err));
	if (c == NULL)
		fail_msg("pw_client_open: %s", err);
	assert_int_equal(pw_client_members(c), 2);
	assert_null(pw_client_member_addr(c, 2));
	assert_int_equal(pw_put(c, "k", 1, "v", 1), PW_OK);
	assert_int_equal(pw_client_leader(c), 2);
	assert_int_equal(pw_client_members(c), 3);
	assert_non_null(pw_client_member_addr(c, 2));
	assert_string_equal(pw_client_member_addr(c, 2), cl->f[2].addr);
	assert_int_equal(pw_members(c, -1, &ms, js, sizeof(js), &jl), PW_OK);
	assert_int_equal(ms.from, 2);
	assert_int_equal(ms.leader, 2);
	assert_int_equal(ms.epoch, 3);
	assert_int_equal(ms.n, 3);
	assert_string_equal(ms.m[1].role, "voter");
	assert_true(ms.m[0].has_lag);
	assert_int_equal(jl, strlen(js));
	assert_int_equal(pw_members(c, 1, &ms, NULL, 0, NULL), PW_OK);
	assert_int_equal(ms.from, 1);
	assert_false(ms.m[0].has_lag);
	assert_int_equal(pw_members(c, 9, &ms, NULL, 0, NULL), PW_E_INVAL);
	pw_client_close(c);
	cluster_stop(cl);
}

/** The leader loses the first two sends of a command unseen: each attempt times out,
 *  the client moves on (and is redirected back); every send carries the same
 *  (session id, seq). */
static void test_lost_request_retried_same_seq(void **state)
{
	struct cluster *cl = cluster_start(0, 1);
	struct pw_client *c = open_client(cl, ID_TO_0, 100, 3000);
	struct pw_client_stats st;
	struct seen s[SEEN_MAX];
	uint32_t n0, n1;
	uint64_t id;

	(void)state;
	SCRIPT(cl, cl->f[0].drop_before = 2);
	assert_int_equal(pw_put(c, "k", 1, "v", 1), PW_OK);
	id = pw_client_id(c);
	assert_int_not_equal(id, 0);
	n0 = fake_seen(cl, 0, s);
	assert_int_equal(n0, 3);
	for (uint32_t i = 0; i < n0; i++) {
		assert_int_equal(s[i].client_id, id);
		assert_int_equal(s[i].seq, 1);
		assert_int_equal(s[i].to, 0);
	}
	n1 = fake_seen(cl, 1, s);
	assert_int_equal(n1, 2);   /* after each timeout: member 1, which redirects to 0 */
	for (uint32_t i = 0; i < n1; i++) {
		assert_int_equal(s[i].client_id, id);
		assert_int_equal(s[i].seq, 1);
	}
	assert_int_equal(applier_counters(cl).commands, 1);
	pw_client_stats(c, &st);
	assert_int_equal(st.attempt_timeouts, 2);
	assert_int_equal(st.sends, 6);   /* the registration, then five for the command */
	pw_client_close(c);
	cluster_stop(cl);
}

/** The leader applies a cas and its reply is lost: the retry (same seq) is answered
 *  from the session's cache, so the client sees the swap it made (PW_OK), not a
 *  mismatch with its own write, and the store applied it once. */
static void test_lost_reply_exactly_once(void **state)
{
	struct cluster *cl = cluster_start(1, 1);
	struct pw_client *c = open_client(cl, ID_TO_1, 100, 3000);
	struct px_apply_counters ac;
	char v[64];

	(void)state;
	SCRIPT(cl, cl->f[1].drop_after = 1);
	assert_int_equal(pw_cas(c, "k", 1, NULL, 0, "mine", 4), PW_OK);
	ac = applier_counters(cl);
	assert_int_equal(ac.commands, 1);
	assert_int_equal(ac.duplicates, 1);
	assert_true(kv_value(cl, "k", v, sizeof(v)));
	assert_string_equal(v, "mine");
	/* A fresh cas expecting absence now mismatches: the first one did happen. */
	assert_int_equal(pw_cas(c, "k", 1, NULL, 0, "again", 5), PW_E_CAS_MISMATCH);
	pw_client_close(c);
	cluster_stop(cl);
}

/** BUSY once: a short backoff, the same command again, then success. */
static void test_busy_then_ok(void **state)
{
	struct cluster *cl = cluster_start(0, 1);
	struct pw_client *c = open_client(cl, ID_TO_0, 200, 3000);
	struct pw_client_stats st;
	struct seen s[SEEN_MAX];

	(void)state;
	SCRIPT(cl, cl->f[0].busy = 1);
	assert_int_equal(pw_put(c, "k", 1, "v", 1), PW_OK);
	assert_int_equal(fake_seen(cl, 0, s), 2);
	assert_int_equal(s[0].seq, s[1].seq);
	assert_int_equal(s[0].client_id, s[1].client_id);
	pw_client_stats(c, &st);
	assert_int_equal(st.busy, 1);
	assert_int_equal(st.attempt_timeouts, 0);
	assert_int_equal(applier_counters(cl).commands, 1);
	pw_client_close(c);
	cluster_stop(cl);
}

/** Junk before the real reply is counted by kind and ignored; the answer is right. */
static void test_junk_counted_and_ignored(void **state)
{
	struct cluster *cl = cluster_start(0, 1);
	struct pw_client *c = open_client(cl, ID_TO_0, 200, 3000);
	struct pw_client_stats st;
	char buf[16];
	size_t len = 0;

	(void)state;
	assert_int_equal(pw_put(c, "k", 1, "v1", 2), PW_OK);
	SCRIPT(cl, cl->f[0].junk = 1);
	assert_int_equal(pw_get(c, "k", 1, buf, sizeof(buf), &len), PW_OK);
	assert_int_equal(len, 2);
	assert_memory_equal(buf, "v1", 2);
	pw_client_stats(c, &st);
	assert_int_equal(st.undecodable, 2);   /* garbage, another cluster's REPLY */
	assert_int_equal(st.foreign, 1);
	assert_int_equal(st.stale, 1);
	assert_int_equal(st.not_reply, 1);
	assert_int_equal(st.replies, 3);       /* the registration, the put, the get */
	assert_int_equal(st.sends, 3);

	/* A REPLY for this very command whose body the kv store would never send: the
	 * command was applied by something, so the outcome is unknown. */
	SCRIPT(cl, cl->f[0].bad_body = 1);
	assert_int_equal(pw_get(c, "k", 1, buf, sizeof(buf), &len), PW_E_PROTOCOL);
	assert_true(pw_err_outcome_unknown(PW_E_PROTOCOL));
	pw_client_close(c);
	cluster_stop(cl);
}

/** Nobody answers: PW_E_NO_LEADER within the deadline. A leader that stays BUSY:
 *  PW_E_TIMEOUT. Both are "outcome unknown". Retries are bounded. */
static void test_timeouts(void **state)
{
	struct cluster *cl = cluster_start(0, 1);
	struct pw_client *c = open_client(cl, ID_TO_0, 20, 150);
	struct pw_client_stats st;
	uint64_t t0, dt;

	(void)state;
	for (uint8_t i = 0; i < N_FAKES; i++)
		SCRIPT(cl, cl->f[i].drop_before = 1000);
	t0 = mono_ns();
	assert_int_equal(pw_put(c, "k", 1, "v", 1), PW_E_NO_LEADER);
	dt = mono_ns() - t0;
	assert_true(dt >= 150000000ull);
	assert_true(dt < 1000000000ull);
	assert_true(pw_err_outcome_unknown(PW_E_NO_LEADER));
	pw_client_stats(c, &st);
	assert_int_equal(st.timeouts, 1);
	assert_true(st.attempt_timeouts >= 2);   /* 7 when the machine is idle */
	for (uint8_t i = 0; i < N_FAKES; i++)
		SCRIPT(cl, cl->f[i].drop_before = 0);

	SCRIPT(cl, cl->f[0].busy = 1000);
	assert_int_equal(pw_put(c, "k", 1, "v", 1), PW_E_TIMEOUT);
	assert_true(pw_err_outcome_unknown(PW_E_TIMEOUT));
	pw_client_close(c);

	/* retries_max bounds the sends of an operation, its registration included: 1 + 3
	 * here (one registration, three sends of the command), long before the deadline. */
	{
		struct pw_client_opts o;

		pw_client_opts_default(&o);
		o.members = cl->addrs;
		o.n_members = N_FAKES;
		o.cluster_id = CLUSTER_ID;
		o.client_id = ID_TO_0;
		o.retries_max = 3;
		o.backoff_ms = 1;
		c = pw_client_open(&o, NULL, 0);
		assert_non_null(c);
		assert_int_equal(pw_put(c, "k", 1, "v", 1), PW_E_TIMEOUT);
		pw_client_stats(c, &st);
		assert_int_equal(st.sends, 4);
		assert_int_equal(st.busy, 3);
		pw_client_close(c);
	}
	cluster_stop(cl);
}

/** SESSION_EXPIRED: reported as an unknown outcome, and the client registers a new
 *  session at once; the next command goes out in it, from seq 1. */
static void test_session_expired_renews(void **state)
{
	struct cluster *cl = cluster_start(0, 1);
	struct pw_client *c = open_client(cl, ID_TO_0, 200, 3000);
	struct pw_client_stats st;
	struct seen s[SEEN_MAX];
	uint64_t id1, id2;
	uint32_t n;
	char v[8];

	(void)state;
	assert_int_equal(pw_put(c, "a", 1, "1", 1), PW_OK);
	id1 = pw_client_id(c);
	SCRIPT(cl, cl->f[0].expire = 1);
	assert_int_equal(pw_put(c, "a", 1, "2", 1), PW_E_SESSION_EXPIRED);
	assert_true(pw_err_outcome_unknown(PW_E_SESSION_EXPIRED));
	assert_non_null(strstr(pw_strerror(PW_E_SESSION_EXPIRED), "outcome unknown"));
	assert_non_null(strstr(pw_strerror(PW_E_SESSION_EXPIRED), "new session"));
	id2 = pw_client_id(c);
	assert_int_not_equal(id2, 0);
	assert_int_not_equal(id2, id1);
	n = fake_seen_kind(cl, 0, true, s);
	assert_int_equal(n, 2);
	assert_int_not_equal(s[1].client_id, s[0].client_id);   /* a new nonce */
	assert_int_equal(pw_put(c, "a", 1, "3", 1), PW_OK);
	assert_int_equal(pw_client_id(c), id2);
	n = fake_seen(cl, 0, s);
	assert_int_equal(n, 3);
	assert_int_equal(s[1].client_id, id1);
	assert_int_equal(s[1].seq, 2);
	assert_int_equal(s[2].client_id, id2);
	assert_int_equal(s[2].seq, 1);
	assert_true(kv_value(cl, "a", v, sizeof(v)));
	assert_string_equal(v, "3");
	pw_client_stats(c, &st);
	assert_int_equal(st.new_sessions, 1);
	pthread_mutex_lock(&cl->mu);
	assert_int_equal(px_applier_sessions(cl->ap), 2);
	pthread_mutex_unlock(&cl->mu);
	pw_client_close(c);
	cluster_stop(cl);
}

/** A registration is retried like a command: after lost sends (one registration
 *  applied), and after a lost reply (the retry registers a second session, which the
 *  client uses; the first is an orphan). */
static void test_registration_retried(void **state)
{
	struct cluster *cl = cluster_start(0, 1);
	struct pw_client *c = open_client(cl, ID_TO_0, 50, 3000);
	struct seen s[SEEN_MAX];
	uint32_t n;

	(void)state;
	SCRIPT(cl, cl->f[0].reg_drop_before = 2);
	assert_int_equal(pw_put(c, "a", 1, "1", 1), PW_OK);
	n = fake_seen_kind(cl, 0, true, s);
	assert_int_equal(n, 3);
	for (uint32_t i = 0; i < n; i++) {
		assert_int_equal(s[i].client_id, ID_TO_0);
		assert_int_equal(s[i].seq, 0);
	}
	assert_int_equal(applier_counters(cl).registrations, 1);
	assert_int_equal(pw_client_id(c), px_session_id(1, 0));
	pw_client_close(c);

	/* nonce 303: its first send goes to member 0 too. */
	c = open_client(cl, 303, 50, 3000);
	SCRIPT(cl, cl->f[0].reg_drop_after = 1);
	assert_int_equal(pw_put(c, "a", 1, "2", 1), PW_OK);
	assert_int_equal(applier_counters(cl).registrations, 3);
	/* Slots: 1 the first client's registration, 2 its put, 3 and 4 these two. */
	assert_int_equal(pw_client_id(c), px_session_id(4, 0));
	n = fake_seen(cl, 0, s);
	assert_int_equal(s[n - 1].client_id, px_session_id(4, 0));
	assert_int_equal(s[n - 1].seq, 1);
	pthread_mutex_lock(&cl->mu);
	assert_int_equal(px_applier_sessions(cl->ap), 3);
	pthread_mutex_unlock(&cl->mu);
	pw_client_close(c);
	cluster_stop(cl);
}

/** A registration that never completes ends the operation as a timeout before its
 *  command is sent; the next operation registers again. A command that times out keeps
 *  the session: the next command is the next seq of it, and applies. */
static void test_timeouts_and_sessions(void **state)
{
	struct cluster *cl = cluster_start(0, 1);
	/* 3 sends of 50 ms for an op that fails; a long deadline for the ones that must
	 * succeed, so that a loaded machine does not fail the test. */
	struct pw_client *c = open_client_retries(cl, ID_TO_0, 50, 3000, 2);
	struct seen s[SEEN_MAX];
	uint64_t id;
	uint32_t n;

	(void)state;
	SCRIPT(cl, cl->f[0].reg_drop_before = 1000);
	assert_int_equal(pw_put(c, "a", 1, "1", 1), PW_E_TIMEOUT);
	assert_int_equal(pw_client_id(c), 0);
	for (uint8_t i = 0; i < N_FAKES; i++)
		assert_int_equal(fake_seen(cl, i, s), 0);   /* no command went out */
	SCRIPT(cl, cl->f[0].reg_drop_before = 0);
	assert_int_equal(pw_put(c, "a", 1, "2", 1), PW_OK);
	id = pw_client_id(c);
	assert_int_not_equal(id, 0);

	SCRIPT(cl, cl->f[0].drop_before = 1000);
	assert_int_equal(pw_put(c, "a", 1, "3", 1), PW_E_TIMEOUT);
	SCRIPT(cl, cl->f[0].drop_before = 0);
	assert_int_equal(pw_put(c, "a", 1, "4", 1), PW_OK);
	assert_int_equal(pw_client_id(c), id);
	n = fake_seen(cl, 0, s);
	assert_int_equal(s[n - 1].client_id, id);
	assert_int_equal(s[n - 1].seq, 3);
	assert_int_equal(applier_counters(cl).expired, 0);
	assert_int_equal(applier_counters(cl).commands, 2);
	pw_client_close(c);
	cluster_stop(cl);
}

/** Each kv operation's outcome, and the errors caught before sending. */
static void test_kv_operations(void **state)
{
	struct cluster *cl = cluster_start(0, 1);
	struct pw_client *c = open_client(cl, ID_TO_0, 200, 3000);
	struct pw_client_stats st;
	static uint8_t big[PW_CMD_BYTES_MAX + 1];
	char buf[8];
	size_t len = 0;
	uint64_t off;

	(void)state;
	assert_int_equal(pw_get(c, "x", 1, buf, sizeof(buf), &len), PW_E_NOT_FOUND);
	assert_int_equal(pw_del(c, "x", 1), PW_E_NOT_FOUND);
	assert_int_equal(pw_put(c, "x", 1, "0123456789", 10), PW_OK);
	assert_int_equal(pw_get(c, "x", 1, buf, sizeof(buf), &len), PW_E_BUFFER);
	assert_int_equal(len, 10);
	assert_int_equal(pw_get(c, "x", 1, NULL, 0, &len), PW_E_BUFFER);
	assert_int_equal(pw_cas(c, "x", 1, "nope", 4, "y", 1), PW_E_CAS_MISMATCH);
	assert_int_equal(pw_cas(c, "x", 1, "0123456789", 10, "y", 1), PW_OK);
	assert_int_equal(pw_get(c, "x", 1, buf, sizeof(buf), &len), PW_OK);
	assert_int_equal(len, 1);
	assert_int_equal(buf[0], 'y');
	assert_int_equal(pw_cas(c, "z", 1, "y", 1, "w", 1), PW_E_NOT_FOUND);
	assert_int_equal(pw_del(c, "x", 1), PW_OK);
	assert_int_equal(pw_put(c, "", 0, "", 0), PW_OK);   /* empty key and value */
	assert_int_equal(pw_get(c, "", 0, buf, sizeof(buf), &len), PW_OK);
	assert_int_equal(len, 0);

	pw_client_stats(c, &st);
	assert_int_equal(pw_put(c, big, PW_KEY_BYTES_MAX + 1, "v", 1), PW_E_TOO_LARGE);
	assert_int_equal(pw_put(c, "k", 1, big, PW_KV_BYTES_MAX), PW_E_TOO_LARGE);
	assert_int_equal(pw_put(c, NULL, 3, "v", 1), PW_E_INVAL);
	assert_int_equal(pw_get(c, "k", 1, buf, sizeof(buf), NULL), PW_E_INVAL);
	assert_int_equal(pw_append(c, big, PW_RECORD_BYTES_MAX + 1, &off), PW_E_TOO_LARGE);
	{
		struct pw_client_stats st2;

		pw_client_stats(c, &st2);
		assert_int_equal(st2.sends, st.sends);   /* none of those was sent */
	}
	/* A value the store's configuration refuses: the service says BAD_COMMAND. */
	{
		static uint8_t v[PW_KV_BYTES_MAX - 1];

		assert_int_equal(pw_put(c, "k", 1, v, sizeof(v)), PW_E_BAD_COMMAND);
	}
	pw_client_close(c);
	cluster_stop(cl);
}

struct records {
	uint32_t n;
	uint64_t offsets[16];
	char data[16][16];
};

static void collect(void *arg, uint64_t offset, const void *data, size_t len)
{
	struct records *r = arg;

	assert_true(r->n < 16 && len < 16);
	r->offsets[r->n] = offset;
	memcpy(r->data[r->n], data, len);
	r->data[r->n][len] = '\0';
	r->n++;
}

static void test_stream(void **state)
{
	struct cluster *cl = cluster_start(0, 2);
	struct pw_client *c = open_client(cl, ID_TO_0, 200, 3000);
	struct records r = { 0 };
	uint64_t off = 99, next = 0;

	(void)state;
	assert_int_equal(pw_append(c, "a", 1, &off), PW_OK);
	assert_int_equal(off, 0);
	assert_int_equal(pw_append(c, "bb", 2, &off), PW_OK);
	assert_int_equal(pw_append(c, "", 0, &off), PW_OK);
	assert_int_equal(off, 2);
	assert_int_equal(pw_read(c, 1, 4096, collect, &r, &next), PW_OK);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.offsets[0], 1);
	assert_string_equal(r.data[0], "bb");
	assert_int_equal(r.offsets[1], 2);
	assert_string_equal(r.data[1], "");
	assert_int_equal(next, 3);
	assert_int_equal(pw_read(c, 3, 4096, NULL, NULL, &next), PW_OK);   /* caught up */
	assert_int_equal(next, 3);
	assert_int_equal(pw_read(c, 7, 4096, NULL, NULL, &next), PW_E_BEYOND);
	assert_int_equal(next, 3);
	pw_client_close(c);
	cluster_stop(cl);
}

/** pw_execute passes bytes through, and the service's rejection comes back as such. */
static void test_execute(void **state)
{
	struct cluster *cl = cluster_start(0, 1);
	struct pw_client *c = open_client(cl, ID_TO_0, 200, 3000);
	uint8_t cmd[64], reply[64];
	struct wire_kv_reply r;
	size_t rl = 0;
	uint32_t n;

	(void)state;
	n = wire_kv_encode_put(cmd, sizeof(cmd), "e", 1, "f", 1);
	assert_int_equal(pw_execute(c, cmd, n, reply, sizeof(reply), &rl), PW_OK);
	assert_int_equal(wire_kv_decode_reply(reply, (uint32_t)rl, &r), 0);
	assert_int_equal(r.result, WIRE_KV_R_OK);
	assert_int_equal(pw_execute(c, "\x09", 1, reply, sizeof(reply), &rl), PW_E_BAD_COMMAND);
	assert_int_equal(wire_kv_decode_reply(reply, (uint32_t)rl, &r), 0);
	assert_int_equal(r.result, WIRE_KV_R_BAD);
	assert_int_equal(pw_execute(c, cmd, n, reply, 1, &rl), PW_E_BUFFER);
	pw_client_close(c);
	cluster_stop(cl);
}

/** What an observer saw: the events of one client, copied out of the callback. */
struct observed {
	uint32_t n;
	struct pw_op_event ev[8];
	char key[8][8], value[8][8], result[8][8];
};

static void observe_into(void *arg, const struct pw_op_event *ev)
{
	struct observed *s = arg;
	uint32_t i = s->n++;

	assert_true(i < 8);
	s->ev[i] = *ev;
	/* The pointers die with the callback: keep the bytes (short ones, in these tests). */
	assert_true(ev->klen < 8 && ev->vlen < 8 && ev->rlen < 8);
	if (ev->key != NULL)
		memcpy(s->key[i], ev->key, ev->klen);
	if (ev->value != NULL)
		memcpy(s->value[i], ev->value, ev->vlen);
	if (ev->result != NULL)
		memcpy(s->result[i], ev->result, ev->rlen);
}

/** The observer hears of every operation that ran its command, with its outcome and
 *  times, and of nothing refused before sending; stopping it stops the calls. */
static void test_observer(void **state)
{
	struct cluster *cl = cluster_start(0, 1);
	struct pw_client *c = open_client(cl, ID_TO_0, 100, 3000);
	uint8_t cmd[64], reply[64];
	struct observed s = { 0 }, s2 = { 0 };
	struct pw_client *c2;
	char buf[8];
	size_t len = 0;
	uint32_t n;

	(void)state;
	pw_client_set_observer(c, observe_into, &s);
	assert_int_equal(pw_put(c, "k", 1, "v1", 2), PW_OK);
	assert_int_equal(pw_get(c, "k", 1, buf, 1, &len), PW_E_BUFFER);
	assert_int_equal(pw_cas(c, "k", 1, "no", 2, "v2", 2), PW_E_CAS_MISMATCH);
	assert_int_equal(pw_del(c, "x", 1), PW_E_NOT_FOUND);
	/* A kv cluster: the store rejects the stream's command. */
	assert_int_equal(pw_append(c, "r", 1, NULL), PW_E_BAD_COMMAND);
	n = wire_kv_encode_get(cmd, sizeof(cmd), "k", 1);
	assert_int_equal(pw_execute(c, cmd, n, reply, sizeof(reply), &len), PW_OK);
	/* Refused before sending: no event. */
	assert_int_equal(pw_put(c, NULL, 3, "v", 1), PW_E_INVAL);
	assert_int_equal(pw_put(c, "k", 1, buf, PW_KV_BYTES_MAX + 1), PW_E_TOO_LARGE);

	assert_int_equal(s.n, 6);
	for (uint32_t i = 0; i < s.n; i++) {
		assert_true(s.ev[i].sent);
		assert_true(s.ev[i].call_ns != 0);
		assert_true(s.ev[i].call_ns <= s.ev[i].return_ns);
	}
	assert_int_equal(s.ev[0].op, PW_OP_PUT);
	assert_int_equal(s.ev[0].rc, PW_OK);
	assert_int_equal(s.ev[0].klen, 1);
	assert_memory_equal(s.key[0], "k", 1);
	assert_int_equal(s.ev[0].vlen, 2);
	assert_memory_equal(s.value[0], "v1", 2);
	assert_null(s.ev[0].result);
	assert_int_equal(s.ev[1].op, PW_OP_GET);
	assert_int_equal(s.ev[1].rc, PW_E_BUFFER);
	assert_non_null(s.ev[1].result);   /* the whole value, though it did not fit */
	assert_int_equal(s.ev[1].rlen, 2);
	assert_memory_equal(s.result[1], "v1", 2);
	assert_int_equal(s.ev[2].op, PW_OP_CAS);
	assert_int_equal(s.ev[2].rc, PW_E_CAS_MISMATCH);
	assert_non_null(s.ev[2].expect);
	assert_int_equal(s.ev[2].elen, 2);
	assert_memory_equal(s.value[2], "v2", 2);
	assert_int_equal(s.ev[3].op, PW_OP_DEL);
	assert_int_equal(s.ev[3].rc, PW_E_NOT_FOUND);
	assert_null(s.ev[3].result);
	assert_int_equal(s.ev[4].op, PW_OP_APPEND);
	assert_int_equal(s.ev[4].rc, PW_E_BAD_COMMAND);
	assert_int_equal(s.ev[4].vlen, 1);
	assert_int_equal(s.ev[5].op, PW_OP_EXECUTE);
	assert_int_equal(s.ev[5].rc, PW_OK);
	assert_null(s.ev[5].key);

	pw_client_set_observer(c, NULL, NULL);
	assert_int_equal(pw_put(c, "k", 1, "v3", 2), PW_OK);
	assert_int_equal(s.n, 6);
	pw_client_close(c);

	/* A command that never got out (no member registers the new client): reported,
	 * sent false, no answer time. */
	c2 = open_client(cl, ID_TO_0, 20, 150);
	pw_client_set_observer(c2, observe_into, &s2);
	SCRIPT(cl, for (int i = 0; i < N_FAKES; i++) cl->f[i].reg_drop_before = 1000);
	int rc = pw_del(c2, "k", 1);
	assert_true(pw_err_outcome_unknown(rc));
	assert_int_equal(s2.n, 1);
	assert_int_equal(s2.ev[0].op, PW_OP_DEL);
	assert_false(s2.ev[0].sent);
	assert_int_equal(s2.ev[0].return_ns, 0);
	assert_int_equal(s2.ev[0].rc, rc);
	pw_client_close(c2);
	cluster_stop(cl);
}

/** The probe: who answers, who leads, what followers say; it changes no state. */
static void test_probe(void **state)
{
	struct cluster *cl = cluster_start(2, 1);
	struct pw_client *c = open_client(cl, ID_TO_0, 100, 3000);
	struct pw_member_status st[PW_MEMBERS_MAX];
	struct px_apply_counters ac;

	(void)state;
	SCRIPT(cl, cl->f[1].drop_before = 1000);
	assert_int_equal(pw_probe(c, st), PW_OK);
	assert_true(st[0].answered);
	assert_false(st[0].leads);
	assert_int_equal(st[0].leader_hint, 2);
	assert_false(st[1].answered);
	assert_true(st[2].answered);
	assert_true(st[2].leads);
	assert_string_equal(st[2].addr, cl->addrs[2]);
	assert_int_equal(pw_client_leader(c), 2);
	ac = applier_counters(cl);
	assert_int_equal(ac.slots, 0);        /* the leader logged nothing */
	assert_int_equal(ac.commands, 0);
	pthread_mutex_lock(&cl->mu);
	assert_int_equal(px_applier_sessions(cl->ap), 0);
	assert_int_equal(cl->f[1].n_seen, 3);   /* three rounds to the silent member */
	pthread_mutex_unlock(&cl->mu);
	pw_client_close(c);
	cluster_stop(cl);
}

/** Histories: every line parses with pw-lincheck's loader, the fields are what the
 *  operations saw, and the history is linearizable. */
static void test_history_lincheck(void **state)
{
	struct cluster *cl = cluster_start(0, 1);
	struct pw_client_opts o;
	struct pw_client *c;
	struct pw_history rec;
	struct lc_history *h;
	struct lc_event ev;
	char buf[64], err[256] = "", line[512];
	size_t len;
	FILE *f = tmpfile();
	int nlines = 0;

	(void)state;
	assert_non_null(f);
	pw_client_opts_default(&o);
	o.members = cl->addrs;
	o.n_members = N_FAKES;
	o.cluster_id = CLUSTER_ID;
	o.client_id = ID_TO_0;
	o.attempt_timeout_ms = 100;   /* the lost op: 3 sends of 100 ms */
	o.deadline_ms = 3000;
	o.retries_max = 2;
	c = pw_client_open(&o, NULL, 0);
	assert_non_null(c);
	pw_history_attach(&rec, c, f, 7);

	assert_int_equal(pw_put(c, "k1", 2, "v1", 2), PW_OK);                 /* 1 */
	assert_int_equal(pw_get(c, "k1", 2, buf, sizeof(buf), &len), PW_OK);  /* 2 */
	assert_int_equal(pw_get(c, "k2", 2, buf, sizeof(buf), &len),
			 PW_E_NOT_FOUND);                                      /* 3 */
	assert_int_equal(pw_cas(c, "k1", 2, "v1", 2, "v2", 2), PW_OK);        /* 4 */
	assert_int_equal(pw_cas(c, "k1", 2, "v1", 2, "v3", 2),
			 PW_E_CAS_MISMATCH);                                   /* 5 */
	assert_int_equal(pw_cas(c, "k2", 2, NULL, 0, "v4", 2), PW_OK);        /* 6 */
	assert_int_equal(pw_del(c, "k2", 2), PW_OK);                          /* 7 */
	assert_int_equal(pw_put(c, "q\"\\\x01\xff", 5, "\n", 1), PW_OK);      /* 8 */
	pthread_mutex_lock(&cl->mu);
	cl->f[0].drop_before = 1000;
	cl->f[1].drop_before = 1000;
	cl->f[2].drop_before = 1000;
	pthread_mutex_unlock(&cl->mu);
	assert_int_equal(pw_put(c, "k1", 2, "lost", 4), PW_E_NO_LEADER);      /* 9 */
	pthread_mutex_lock(&cl->mu);
	for (int i = 0; i < N_FAKES; i++)
		cl->f[i].drop_before = 0;
	pthread_mutex_unlock(&cl->mu);
	assert_int_equal(pw_get(c, "k1", 2, buf, sizeof(buf), &len), PW_OK); /* 10 */
	assert_int_equal(pw_put(c, "k9", 2, NULL, PW_KV_BYTES_MAX + 1),
			 PW_E_INVAL);                                          /* no line */

	rewind(f);
	while (fgets(line, sizeof(line), f) != NULL)
		nlines++;
	assert_int_equal(nlines, 10);
	rewind(f);
	h = lc_history_new();
	assert_non_null(h);
	if (lc_history_load_jsonl(h, f, err, sizeof(err)) != 0)
		fail_msg("history does not parse: %s", err);
	assert_int_equal(lc_history_size(h), 10);

	assert_int_equal(lc_history_event(h, 1, &ev), 0);   /* get k1 -> v1 */
	assert_int_equal(ev.op, LC_GET);
	assert_int_equal(ev.client, 7);
	assert_int_equal(ev.ok, 1);
	assert_int_equal(ev.result_len, 2);
	assert_memory_equal(ev.result, "v1", 2);
	assert_true(ev.call_ns <= ev.return_ns);
	assert_int_equal(lc_history_event(h, 2, &ev), 0);   /* get k2 -> absent */
	assert_null(ev.result);
	assert_int_equal(ev.ok, 1);
	assert_int_equal(lc_history_event(h, 4, &ev), 0);   /* cas mismatch: ok false */
	assert_int_equal(ev.op, LC_CAS);
	assert_int_equal(ev.ok, 0);
	assert_int_equal(lc_history_event(h, 5, &ev), 0);   /* cas from absent */
	assert_null(ev.expect);
	assert_int_equal(ev.ok, 1);
	assert_int_equal(lc_history_event(h, 7, &ev), 0);   /* escaped key and value */
	assert_int_equal(ev.key_len, 6);   /* \u00ff reads back as the 2-byte UTF-8 form */
	assert_memory_equal(ev.key, "q\"\\\x01\xc3\xbf", 6);
	assert_int_equal(ev.value_len, 1);
	assert_int_equal(ev.value[0], '\n');
	assert_int_equal(lc_history_event(h, 8, &ev), 0);   /* timed out */
	assert_int_equal(ev.ok, -1);
	assert_int_equal(lc_history_event(h, 9, &ev), 0);
	assert_memory_equal(ev.result, "v2", 2);
	assert_int_equal(lc_check(h, 10.0, NULL), LC_LINEARIZABLE);
	lc_history_free(h);
	fclose(f);
	pw_client_close(c);
	cluster_stop(cl);
}

/** A cluster file instead of addresses; its service (kv) rules out stream commands. */
static void test_config_file(void **state)
{
	struct cluster *cl = cluster_start(1, 1);
	char path[] = "/tmp/pw-client-test-XXXXXX";
	struct pw_client_opts o;
	struct pw_client *c;
	char err[512] = "";
	uint64_t off;
	FILE *f;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	/* The fake replicas speak the bare protocol: authentication is the cluster
	 * tests' (tests/cluster, docs/security.md). */
	fprintf(f, "[cluster]\nid = %u\nreplicas = 3\nservice = kv\nauth = off\n", CLUSTER_ID);
	for (int i = 0; i < N_FAKES; i++)
		fprintf(f, "[replica.%d]\nip = 127.0.0.1\nport = %s\n", i,
			strchr(cl->addrs[i], ':') + 1);
	fclose(f);

	pw_client_opts_default(&o);
	o.config_path = path;
	c = pw_client_open(&o, err, sizeof(err));
	if (c == NULL && errno == ENOTSUP) {
		unlink(path);
		cluster_stop(cl);
		skip();
	}
	if (c == NULL)
		fail_msg("pw_client_open: %s", err);
	assert_int_equal(pw_client_members(c), 3);
	assert_int_equal(pw_put(c, "k", 1, "v", 1), PW_OK);
	assert_int_equal(pw_client_leader(c), 1);
	assert_int_equal(pw_append(c, "r", 1, &off), PW_E_INVAL);
	pw_client_close(c);
	unlink(path);

	/* A missing file: NULL, and the message names the file. */
	o.config_path = "/nonexistent/pw.ini";
	assert_null(pw_client_open(&o, err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent/pw.ini"));
	cluster_stop(cl);
}

static void test_open_errors(void **state)
{
	const char *bad[] = { "127.0.0.1" };
	const char *badport[] = { "127.0.0.1:0" };
	struct pw_client_opts o;
	char err[256] = "";

	(void)state;
	pw_client_opts_default(&o);
	assert_null(pw_client_open(&o, err, sizeof(err)));   /* no members */
	assert_int_equal(errno, EINVAL);
	o.members = bad;
	o.n_members = 1;
	assert_null(pw_client_open(&o, err, sizeof(err)));
	assert_int_equal(errno, EINVAL);
	assert_non_null(strstr(err, "HOST:PORT"));
	o.members = badport;
	assert_null(pw_client_open(&o, err, sizeof(err)));
	assert_int_equal(errno, EINVAL);
	o.members = bad;
	o.n_members = PW_MEMBERS_MAX + 1;
	assert_null(pw_client_open(&o, err, sizeof(err)));
	/* Transports: an unknown name; "dpdk" without EAL arguments (DPDK builds: nothing
	 * started) or in a build without DPDK. Each error says what to do. */
	const char *good[] = { "127.0.0.1:7100" };
	o.members = good;
	o.n_members = 1;
	o.transport = "rdma";
	assert_null(pw_client_open(&o, err, sizeof(err)));
	assert_int_equal(errno, EINVAL);
	assert_non_null(strstr(err, "transport \"rdma\": unknown; fix:"));
	o.transport = "dpdk";
	o.eal_args = NULL;
	assert_null(pw_client_open(&o, err, sizeof(err)));
	assert_non_null(strstr(err, "transport dpdk: "));
	assert_true(strstr(err, "no EAL arguments; fix: opts.eal_args") != NULL ||
		    strstr(err, "has no DPDK (meson found no libdpdk); fix:") != NULL);
	o.transport = "udp";
	struct pw_client *c = pw_client_open(&o, err, sizeof(err));
	assert_non_null(c);
	assert_true(pw_client_fd(c) >= 0);
	pw_client_close(c);
	o.transport = NULL;
	for (int e = 0; e < PW_E_MAX; e++)
		assert_string_not_equal(pw_strerror(e), "unknown error");
	assert_string_equal(pw_strerror(PW_E_MAX), "unknown error");
	assert_string_equal(pw_strerror(-1), "unknown error");
}

/** Runs the shell command cmd; what it writes to stdout in out; returns its exit code. */
static int run_cmd(const char *cmd, char *out, size_t cap)
{
	FILE *p = popen(cmd, "r");
	size_t n;
	int st;

	assert_non_null(p);
	n = fread(out, 1, cap - 1, p);
	out[n] = '\0';
	st = pclose(p);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

/** Runs pwctl with the fakes' addresses; returns its exit code, stdout in out. */
static int pwctl(struct cluster *cl, char *out, size_t cap, const char *args)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd), "%s --member %s --member %s --member %s --cluster %u "
		 "--attempt 100 --timeout 1000 %s 2>/dev/null",
		 pwctl_path, cl->addrs[0], cl->addrs[1], cl->addrs[2], CLUSTER_ID, args);
	return run_cmd(cmd, out, cap);
}

/** pwctl's commands and exit codes (0 done, 1 definite no, 2 unknown, 3 usage). */
static void test_pwctl(void **state)
{
	struct cluster *cl;
	char out[256];

	(void)state;
	if (pwctl_path == NULL)
		skip();
	cl = cluster_start(2, 1);
	assert_int_equal(pwctl(cl, out, sizeof(out), "put k1 v1"), 0);
	assert_int_equal(pwctl(cl, out, sizeof(out), "get k1"), 0);
	assert_string_equal(out, "v1\n");
	assert_int_equal(pwctl(cl, out, sizeof(out), "get nope"), 1);
	assert_int_equal(pwctl(cl, out, sizeof(out), "cas k1 - v2"), 1);
	assert_int_equal(pwctl(cl, out, sizeof(out), "cas k1 v1 v2"), 0);
	assert_int_equal(pwctl(cl, out, sizeof(out), "del k1"), 0);
	assert_int_equal(pwctl(cl, out, sizeof(out), "del k1"), 1);
	assert_int_equal(pwctl(cl, out, sizeof(out), "leader"), 0);
	assert_string_equal(out, "2\n");
	assert_int_equal(pwctl(cl, out, sizeof(out), "is-leader 2"), 0);
	assert_int_equal(pwctl(cl, out, sizeof(out), "is-leader 0"), 1);
	assert_int_equal(pwctl(cl, out, sizeof(out), "is-leader 9"), 3);
	assert_int_equal(pwctl(cl, out, sizeof(out), "status"), 0);
	assert_non_null(strstr(out, "leader"));
	assert_int_equal(pwctl(cl, out, sizeof(out), "transfer-leader 9"), 3);
	assert_int_equal(pwctl(cl, out, sizeof(out), "transfer-leader x"), 3);
	assert_int_equal(pwctl(cl, out, sizeof(out), "put onlykey"), 3);
	assert_int_equal(pwctl(cl, out, sizeof(out), "frobnicate"), 3);
	/* Membership: the fakes answer PX_ADMIN_MEMBERS (every fake a voter). */
	assert_int_equal(pwctl(cl, out, sizeof(out), "members"), 0);
	assert_non_null(strstr(out, "leader 2"));
	assert_non_null(strstr(out, "voter"));
	assert_int_equal(pwctl(cl, out, sizeof(out), "members --json"), 0);
	assert_non_null(strstr(out, "\"members\":["));
	assert_int_equal(pwctl(cl, out, sizeof(out), "add-member --help"), 0);
	assert_non_null(strstr(out, "usage: pwctl"));
	assert_int_equal(pwctl(cl, out, sizeof(out), "add-member 3"), 3);
	assert_int_equal(pwctl(cl, out, sizeof(out), "add-member 9 127.0.0.1:1"), 3);
	assert_int_equal(pwctl(cl, out, sizeof(out), "remove-member x"), 3);
	assert_int_equal(pwctl(cl, out, sizeof(out), "replace-member 1 1 127.0.0.1:1"), 3);
	pthread_mutex_lock(&cl->mu);
	for (int i = 0; i < N_FAKES; i++)
		cl->f[i].drop_before = 1000;
	pthread_mutex_unlock(&cl->mu);
	assert_int_equal(pwctl(cl, out, sizeof(out), "put k v"), 2);
	assert_int_equal(pwctl(cl, out, sizeof(out), "is-leader 2"), 2);
	assert_int_equal(pwctl(cl, out, sizeof(out), "leader"), 2);
	cluster_stop(cl);
}

/** Runs `pwctl ARGS` (no member options added); stdout and stderr in out. */
static int pwctl_raw(char *out, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int pwctl_raw(char *out, size_t cap, const char *fmt, ...)
{
	static char args[8192], cmd[8400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "%s %s 2>&1", pwctl_path, args);
	return run_cmd(cmd, out, cap);
}

/** pwctl's command line (issue 15): --version; COMMAND --help for every command, exit 0
 *  without a cluster; options after the command; "no answer" for reads and queries,
 *  "outcome unknown" for writes only; transfer-leader to a silent member refused. */
static void test_pwctl_cli(void **state)
{
	static const char *const cmds[] = { "put", "get", "del", "cas", "append", "read",
					    "status", "leader", "is-leader", "transfer-leader",
					    "stats", "members", "add-member", "remove-member",
					    "replace-member", "snapshot" };
	char out[4096], m[256];
	struct cluster *cl;

	(void)state;
	if (pwctl_path == NULL)
		skip();
	assert_int_equal(pwctl_raw(out, sizeof(out), "--version"), 0);
	assert_non_null(strstr(out, "pwctl (paxwire) " PW_VERSION "\n"));
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		char want[64];
		if (pwctl_raw(out, sizeof(out), "%s --help", cmds[i]) != 0)
			fail_msg("pwctl %s --help: %s", cmds[i], out);
		snprintf(want, sizeof(want), "] %s", cmds[i]);
		if (strncmp(out, "usage: pwctl ", 13) != 0 || strstr(out, want) == NULL)
			fail_msg("pwctl %s --help: %s", cmds[i], out);
	}
	assert_int_equal(pwctl_raw(out, sizeof(out), "put k v -h"), 0);
	assert_non_null(strstr(out, "put KEY VALUE"));
	assert_int_equal(pwctl_raw(out, sizeof(out), "frobnicate --help"), 3);
	/* Too few arguments: that command's help named. */
	cl = cluster_start(2, 1);
	snprintf(m, sizeof(m), "--member %s --member %s --member %s --cluster %u --attempt 100 "
		 "--timeout 1000", cl->addrs[0], cl->addrs[1], cl->addrs[2], CLUSTER_ID);
	assert_int_equal(pwctl_raw(out, sizeof(out), "put onlykey %s", m), 3);
	assert_non_null(strstr(out, "pwctl put --help"));
	/* Options after the command, and around it. */
	assert_int_equal(pwctl_raw(out, sizeof(out), "put k1 v1 %s", m), 0);
	assert_int_equal(pwctl_raw(out, sizeof(out), "--timeout 1000 get %s k1", m), 0);
	assert_string_equal(out, "v1\n");
	assert_int_equal(pwctl_raw(out, sizeof(out), "%s put -- k2 --timeout", m), 0);
	assert_int_equal(pwctl_raw(out, sizeof(out), "get k2 %s", m), 0);
	assert_string_equal(out, "--timeout\n");
	assert_int_equal(pwctl_raw(out, sizeof(out), "get k2 --bogus %s", m), 3);
	assert_non_null(strstr(out, "unknown option --bogus"));
	assert_int_equal(pwctl_raw(out, sizeof(out), "members --json %s", m), 0);
	/* Limits the client knows: named, nothing sent (exit 3). */
	{
		static char big[5001];
		memset(big, 'x', 5000);
		big[300] = '\0';
		assert_int_equal(pwctl_raw(out, sizeof(out), "put %s v %s", big, m), 3);
		assert_non_null(strstr(out, "key is 300 bytes; the protocol's limit is 255"));
		big[300] = 'x';
		assert_int_equal(pwctl_raw(out, sizeof(out), "append %s %s", big, m), 3);
		assert_non_null(strstr(out, "the record is 5000 bytes; one record carries at most"));
	}
	/* transfer-leader to a member that does not answer: refused at once, exit 1. */
	pthread_mutex_lock(&cl->mu);
	cl->f[0].drop_before = 1000;
	pthread_mutex_unlock(&cl->mu);
	assert_int_equal(pwctl_raw(out, sizeof(out), "transfer-leader 0 %s", m), 1);
	assert_non_null(strstr(out, "member 0 ("));
	assert_non_null(strstr(out, "does not answer"));
	/* No member answers: reads and queries fail with "no answer", writes with
	 * "outcome unknown". */
	pthread_mutex_lock(&cl->mu);
	for (int i = 0; i < N_FAKES; i++)
		cl->f[i].drop_before = 1000;
	pthread_mutex_unlock(&cl->mu);
	assert_int_equal(pwctl_raw(out, sizeof(out), "get k1 %s", m), 2);
	assert_non_null(strstr(out, "no answer"));
	assert_null(strstr(out, "outcome unknown"));
	assert_int_equal(pwctl_raw(out, sizeof(out), "stats 1 %s", m), 2);
	assert_non_null(strstr(out, "no answer"));
	assert_null(strstr(out, "outcome unknown"));
	assert_int_equal(pwctl_raw(out, sizeof(out), "put k1 v2 %s", m), 2);
	assert_non_null(strstr(out, "outcome unknown"));
	cluster_stop(cl);
}

/** pwctl --history: each run appends its operation, as a client of its own. */
static void test_pwctl_history(void **state)
{
	char path[] = "/tmp/pw-client-hist-XXXXXX", args[128], out[64], err[256] = "";
	struct lc_history *h;
	struct lc_event e0, e1;
	struct cluster *cl;
	FILE *f;
	int fd;

	(void)state;
	if (pwctl_path == NULL)
		skip();
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	cl = cluster_start(2, 1);
	snprintf(args, sizeof(args), "--history %s put k1 v1", path);
	assert_int_equal(pwctl(cl, out, sizeof(out), args), 0);
	snprintf(args, sizeof(args), "--history %s get k1", path);
	assert_int_equal(pwctl(cl, out, sizeof(out), args), 0);
	snprintf(args, sizeof(args), "--history %s leader", path);   /* not a kv op */
	assert_int_equal(pwctl(cl, out, sizeof(out), args), 0);
	cluster_stop(cl);

	f = fopen(path, "r");
	assert_non_null(f);
	h = lc_history_new();
	assert_non_null(h);
	if (lc_history_load_jsonl(h, f, err, sizeof(err)) != 0)
		fail_msg("history does not parse: %s", err);
	assert_int_equal(lc_history_size(h), 2);
	assert_int_equal(lc_history_event(h, 0, &e0), 0);
	assert_int_equal(lc_history_event(h, 1, &e1), 0);
	assert_int_equal(e0.op, LC_PUT);
	assert_int_equal(e0.ok, 1);
	assert_int_equal(e1.op, LC_GET);
	assert_int_equal(e1.result_len, 2);
	assert_memory_equal(e1.result, "v1", 2);
	assert_true(e0.client != 0 && e1.client != 0);
	assert_true(e0.client != e1.client);   /* two runs, two clients */
	assert_int_equal(lc_check(h, 10.0, NULL), LC_LINEARIZABLE);
	lc_history_free(h);
	fclose(f);
	unlink(path);
}

/* ---- asynchronous operations ---- */

static struct pw_client *open_async(struct cluster *cl, uint64_t client_id, uint32_t attempt_us,
				    uint32_t deadline_ms, bool unordered)
{
	struct pw_client_opts o;

	fake_opts(&o, cl, client_id, deadline_ms);
	o.attempt_timeout_us = attempt_us;
	o.unordered = unordered;
	return open_or_fail(&o);
}

/** Polls until n completions came (or 10 s passed), appending them to done. */
static int poll_n(struct pw_client *c, struct pw_completion *done, int n)
{
	int got = 0;
	uint64_t end = mono_ns() + 10000000000ull;

	while (got < n && mono_ns() < end) {
		int k = pw_poll(c, done + got, n - got, 100000);
		assert_true(k >= 0);
		got += k;
	}
	return got;
}

/* 60 puts in flight at once; the leader drops some before applying them and the
 * replies of others after: every one is applied once (the resends are answered from
 * the session's window), and the completions come in submission order. */
static void test_async_ordered_exactly_once(void **state)
{
	enum { N = 60 };
	struct cluster *cl = cluster_start(1, 1);
	struct pw_client *c = open_async(cl, ID_TO_1, 20000, 5000, false);
	static struct pw_completion done[N];
	uint64_t ids[N];
	char key[16], v[64];

	(void)state;
	SCRIPT(cl, { cl->f[1].drop_before = 5; cl->f[1].drop_after = 10; });
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		assert_int_equal(pw_put_async(c, key, strlen(key), "v", 1, (void *)(intptr_t)i,
					      &ids[i]), PW_OK);
	}
	assert_int_equal(pw_client_outstanding(c), N);
	/* A synchronous call runs among them; their completions wait for pw_poll. */
	assert_int_equal(pw_put(c, "x", 1, "y", 1), PW_OK);
	assert_int_equal(pw_client_outstanding(c), N);
	assert_int_equal(poll_n(c, done, N), N);
	for (int i = 0; i < N; i++) {
		assert_int_equal(done[i].rc, PW_OK);
		assert_int_equal(done[i].id, ids[i]);
		assert_int_equal((intptr_t)done[i].user, i);
		assert_int_equal(done[i].op, PW_OP_PUT);
		assert_true(done[i].sent);
		assert_true(done[i].return_ns >= done[i].call_ns);
		snprintf(key, sizeof(key), "k%d", i);
		assert_true(kv_value(cl, key, v, sizeof(v)));
	}
	struct px_apply_counters ac = applier_counters(cl);
	assert_int_equal(ac.commands, N + 1);
	assert_true(ac.duplicates >= 10);
	assert_int_equal(pw_client_outstanding(c), 0);
	/* A get reads what the puts wrote; then the synchronous calls work again. */
	assert_int_equal(pw_get_async(c, "k7", 2, NULL, NULL), PW_OK);
	assert_int_equal(poll_n(c, done, 1), 1);
	assert_int_equal(done[0].rc, PW_OK);
	assert_int_equal(done[0].vlen, 1);
	assert_memory_equal(done[0].value, "v", 1);
	assert_int_equal(pw_put(c, "x", 1, "y", 1), PW_OK);
	pw_client_close(c);
	cluster_stop(cl);
}

/* Synchronous calls while a full window of asynchronous commands is outstanding (64 in
 * flight; the leader drops some requests and some replies): each synchronous call waits
 * for room in the window, returns its own outcome, and leaves the others' completions
 * to pw_poll, which delivers every one in submission order; everything applied once. */
static void test_sync_amid_async(void **state)
{
	enum { N = PW_INFLIGHT_MAX };
	struct cluster *cl = cluster_start(1, 1);
	struct pw_client *c = open_async(cl, ID_TO_1, 20000, 5000, false);
	static struct pw_completion done[N];
	uint64_t ids[N];
	char key[16], v[64];
	size_t len = 0;

	(void)state;
	SCRIPT(cl, { cl->f[1].drop_before = 5; cl->f[1].drop_after = 10; });
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "m%d", i);
		assert_int_equal(pw_put_async(c, key, strlen(key), "a", 1, (void *)(intptr_t)i,
					      &ids[i]), PW_OK);
	}
	assert_int_equal(pw_put_async(c, "z", 1, "z", 1, NULL, NULL), PW_E_AGAIN);
	assert_int_equal(pw_put(c, "s", 1, "sync", 4), PW_OK);
	assert_int_equal(pw_client_outstanding(c), N);
	assert_int_equal(pw_get(c, "s", 1, v, sizeof(v), &len), PW_OK);
	assert_int_equal(len, 4);
	assert_memory_equal(v, "sync", 4);
	assert_int_equal(pw_del(c, "nope", 4), PW_E_NOT_FOUND);
	assert_int_equal(pw_client_outstanding(c), N);
	assert_int_equal(poll_n(c, done, N), N);
	for (int i = 0; i < N; i++) {
		assert_int_equal(done[i].rc, PW_OK);
		assert_int_equal(done[i].id, ids[i]);
		assert_int_equal((intptr_t)done[i].user, i);
		snprintf(key, sizeof(key), "m%d", i);
		assert_true(kv_value(cl, key, v, sizeof(v)));
		assert_string_equal(v, "a");
	}
	assert_int_equal(pw_client_outstanding(c), 0);
	assert_true(kv_value(cl, "s", v, sizeof(v)));
	assert_string_equal(v, "sync");
	struct px_apply_counters ac = applier_counters(cl);
	assert_int_equal(ac.commands, N + 3);
	assert_true(ac.duplicates >= 10);
	/* One session throughout: the synchronous calls took seqs in it. */
	assert_int_equal(ac.registrations, 1);
	struct pw_client_stats st;
	pw_client_stats(c, &st);
	assert_int_equal(st.ops, N + 3);
	assert_int_equal(st.new_sessions, 0);
	pw_client_close(c);
	cluster_stop(cl);
}

/* A callback is never run inside a synchronous call (completions wait for pw_poll), and
 * a synchronous call made from a callback is refused unsent (PW_E_AGAIN). Failover with
 * both kinds in flight: the leader goes silent, and the asynchronous commands and the
 * synchronous put move to the new leader together, each applied once. */
struct mix_log {
	struct pw_client *c;
	int n, ok, again;
};

static void on_done_mix(void *arg, const struct pw_completion *d)
{
	struct mix_log *l = arg;
	l->n++;
	if (d->rc == PW_OK)
		l->ok++;
	if (pw_put(l->c, "cb", 2, "x", 1) == PW_E_AGAIN)
		l->again++;
}

static void test_sync_amid_async_failover(void **state)
{
	enum { N = 20 };
	struct cluster *cl = cluster_start(0, 1);
	struct pw_client *c = open_async(cl, 300, 30000, 5000, true);
	struct mix_log log = { .c = c };
	char key[16], v[16];

	(void)state;
	pw_client_set_completion(c, on_done_mix, &log);
	assert_int_equal(pw_put(c, "a", 1, "1", 1), PW_OK);   /* finds the leader */
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "g%d", i);
		assert_int_equal(pw_put_async(c, key, strlen(key), "v", 1, NULL, NULL), PW_OK);
	}
	assert_int_equal(pw_put(c, "b", 1, "2", 1), PW_OK);
	assert_int_equal(log.n, 0);
	/* Member 0 dies (drops everything) and member 2 leads; 1 hints at 2. */
	SCRIPT(cl, {
		cl->f[0].drop_before = 1000000;
		cl->f[0].leads = false;
		cl->f[2].leads = true;
		cl->f[1].hint = 2;
		cl->f[2].hint = 2;
	});
	for (int i = N; i < 2 * N; i++) {
		snprintf(key, sizeof(key), "g%d", i);
		assert_int_equal(pw_put_async(c, key, strlen(key), "v", 1, NULL, NULL), PW_OK);
	}
	assert_int_equal(pw_put(c, "c", 1, "3", 1), PW_OK);
	assert_int_equal(pw_client_leader(c), 2);
	uint64_t end = mono_ns() + 10000000000ull;
	while (log.n < 2 * N && mono_ns() < end)
		assert_true(pw_poll(c, NULL, 0, 100000) >= 0);
	assert_int_equal(log.n, 2 * N);
	assert_int_equal(log.ok, 2 * N);
	assert_int_equal(log.again, 2 * N);
	for (int i = 0; i < 2 * N; i++) {
		snprintf(key, sizeof(key), "g%d", i);
		assert_true(kv_value(cl, key, v, sizeof(v)));
	}
	assert_true(kv_value(cl, "c", v, sizeof(v)));
	assert_string_equal(v, "3");
	assert_false(kv_value(cl, "cb", v, sizeof(v)));
	struct px_apply_counters ac = applier_counters(cl);
	assert_int_equal(ac.commands, 2 * N + 3);
	pw_client_close(c);
	cluster_stop(cl);
}

/* Failover with commands in flight: the leader goes silent, another member takes over
 * (the same log); the client's commands move to it after one attempt's silence, all at
 * once, and each is applied once. Unordered completions, by callback. */
struct cb_log {
	int n;
	int rc_ok;
	uint64_t last_id;
};

static void on_done(void *arg, const struct pw_completion *d)
{
	struct cb_log *l = arg;
	l->n++;
	if (d->rc == PW_OK)
		l->rc_ok++;
	l->last_id = d->id;
}

static void test_async_failover(void **state)
{
	enum { N = 40 };
	struct cluster *cl = cluster_start(0, 1);
	struct pw_client *c = open_async(cl, 300, 30000, 5000, true);
	struct cb_log log = { 0 };
	char key[16];

	(void)state;
	pw_client_set_completion(c, on_done, &log);
	/* A first command finds the leader. */
	assert_int_equal(pw_put_async(c, "a", 1, "1", 1, NULL, NULL), PW_OK);
	while (log.n < 1)
		assert_true(pw_poll(c, NULL, 0, 100000) >= 0);
	/* Member 0 dies (drops everything) and member 2 leads; 1 hints at 2. */
	SCRIPT(cl, {
		cl->f[0].drop_before = 1000000;
		cl->f[0].leads = false;
		cl->f[2].leads = true;
		cl->f[1].hint = 2;
		cl->f[2].hint = 2;
	});
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "f%d", i);
		assert_int_equal(pw_put_async(c, key, strlen(key), "v", 1, NULL, NULL), PW_OK);
	}
	uint64_t end = mono_ns() + 10000000000ull;
	while (log.n < N + 1 && mono_ns() < end)
		assert_true(pw_poll(c, NULL, 0, 100000) >= 0);
	assert_int_equal(log.n, N + 1);
	assert_int_equal(log.rc_ok, N + 1);
	assert_int_equal(pw_client_leader(c), 2);
	struct px_apply_counters ac = applier_counters(cl);
	assert_int_equal(ac.commands, N + 1);
	pw_client_close(c);
	cluster_stop(cl);
}

/* Cancellation: a command cancelled before it was sent is never sent (sent false); one
 * cancelled in flight completes PW_E_CANCELLED with sent true; others time out. */
static void test_async_cancel(void **state)
{
	struct cluster *cl = cluster_start(1, 1);
	struct pw_client *c = open_async(cl, ID_TO_1, 20000, 3000, false);
	struct pw_completion done[4];
	struct pw_request rq = { .op = PW_OP_PUT, .key = "c", .klen = 1, .value = "v",
				 .vlen = 1, .deadline_us = 300000 };
	uint64_t a, b, d;

	(void)state;
	/* A session first, so that the next ones go out at once. */
	assert_int_equal(pw_put(c, "s", 1, "v", 1), PW_OK);
	SCRIPT(cl, cl->f[1].drop_before = 1000000);
	assert_int_equal(pw_submit(c, &rq, &a), PW_OK);
	assert_int_equal(pw_submit(c, &rq, &b), PW_OK);
	assert_int_equal(pw_cancel(c, a), PW_OK);         /* before any pw_poll: unsent */
	assert_int_equal(pw_cancel(c, a), PW_E_NOT_FOUND);
	assert_int_equal(pw_poll(c, done, 4, 0), 1);      /* sends b; a is delivered */
	assert_int_equal(done[0].id, a);
	assert_int_equal(done[0].rc, PW_E_CANCELLED);
	assert_false(done[0].sent);
	assert_int_equal(pw_cancel(c, b), PW_OK);
	assert_int_equal(pw_submit(c, &rq, &d), PW_OK);
	assert_int_equal(poll_n(c, done, 2), 2);
	assert_int_equal(done[0].id, b);
	assert_int_equal(done[0].rc, PW_E_CANCELLED);
	assert_true(done[0].sent);
	assert_true(pw_err_outcome_unknown(done[0].rc));
	assert_int_equal(done[1].id, d);
	assert_true(done[1].rc == PW_E_TIMEOUT || done[1].rc == PW_E_NO_LEADER);
	assert_int_equal(pw_cancel(c, 12345), PW_E_NOT_FOUND);
	/* Nothing of the cancelled ones was applied (the leader dropped them all). */
	assert_int_equal(applier_counters(cl).commands, 1);
	pw_client_close(c);
	cluster_stop(cl);
}

/* The fd: poll() says readable once a completion is ready (or work is due), and the
 * completions then come from pw_poll(..., 0); idle, it is not readable. */
static void test_async_fd(void **state)
{
	struct cluster *cl = cluster_start(0, 1);
	struct pw_client *c = open_async(cl, 300, 50000, 3000, false);
	struct pw_completion done[8];
	int fd = pw_client_fd(c), got = 0;

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(pw_client_fd(c), fd);
	struct pollfd p = { .fd = fd, .events = POLLIN };
	assert_int_equal(poll(&p, 1, 20), 0);             /* nothing to do */
	assert_int_equal(pw_client_timeout_us(c), -1);
	for (int i = 0; i < 8; i++)
		assert_int_equal(pw_put_async(c, "fd", 2, "x", 1, NULL, NULL), PW_OK);
	assert_int_equal(pw_client_timeout_us(c), 0);
	uint64_t end = mono_ns() + 5000000000ull;
	int wakeups = 0;
	while (got < 8 && mono_ns() < end) {
		p.revents = 0;
		int r = poll(&p, 1, 1000);
		assert_true(r >= 0);
		if (r == 0)
			continue;
		assert_true(p.revents & POLLIN);
		wakeups++;
		int k = pw_poll(c, done + got, 8 - got, 0);
		assert_true(k >= 0);
		got += k;
	}
	assert_int_equal(got, 8);
	assert_true(wakeups >= 1);
	for (int i = 0; i < 8; i++)
		assert_int_equal(done[i].rc, PW_OK);
	/* Idle again: not readable. */
	assert_int_equal(pw_poll(c, done, 8, 0), 0);
	p.revents = 0;
	assert_int_equal(poll(&p, 1, 20), 0);
	pw_client_close(c);
	cluster_stop(cl);
}

/* Many sessions in one thread: 8 clients, 16 commands each in flight, driven by one
 * poll() over their fds. Each client has its own session; every command applied once. */
static void test_async_many_sessions(void **state)
{
	enum { C = 8, K = 16 };
	struct cluster *cl = cluster_start(2, 1);
	struct pw_client *c[C];
	struct pollfd p[C];
	int got[C] = { 0 }, total = 0;
	char key[16];

	(void)state;
	for (int i = 0; i < C; i++) {
		c[i] = open_async(cl, 1000 + (uint64_t)i, 50000, 5000, i % 2 == 1);
		p[i] = (struct pollfd){ .fd = pw_client_fd(c[i]), .events = POLLIN };
		assert_true(p[i].fd >= 0);
		for (int k = 0; k < K; k++) {
			snprintf(key, sizeof(key), "m%d.%d", i, k);
			assert_int_equal(pw_put_async(c[i], key, strlen(key), "v", 1, NULL, NULL),
					 PW_OK);
		}
	}
	uint64_t end = mono_ns() + 10000000000ull;
	while (total < C * K && mono_ns() < end) {
		assert_true(poll(p, C, 1000) >= 0);
		for (int i = 0; i < C; i++) {
			struct pw_completion d[K];
			int k = pw_poll(c[i], d, K, 0);
			assert_true(k >= 0);
			for (int j = 0; j < k; j++)
				assert_int_equal(d[j].rc, PW_OK);
			got[i] += k;
			total += k;
		}
	}
	assert_int_equal(total, C * K);
	for (int i = 0; i < C; i++) {
		assert_int_equal(got[i], K);
		assert_true(pw_client_id(c[i]) != 0);
		for (int j = 0; j < i; j++)
			assert_true(pw_client_id(c[i]) != pw_client_id(c[j]));
	}
	for (int i = 0; i < C; i++)
		pw_client_close(c[i]);
	assert_int_equal(applier_counters(cl).commands, C * K);
	cluster_stop(cl);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_leader_found_via_hint),
		cmocka_unit_test(test_learns_members),
		cmocka_unit_test(test_lost_request_retried_same_seq),
		cmocka_unit_test(test_lost_reply_exactly_once),
		cmocka_unit_test(test_busy_then_ok),
		cmocka_unit_test(test_junk_counted_and_ignored),
		cmocka_unit_test(test_timeouts),
		cmocka_unit_test(test_session_expired_renews),
		cmocka_unit_test(test_registration_retried),
		cmocka_unit_test(test_timeouts_and_sessions),
		cmocka_unit_test(test_kv_operations),
		cmocka_unit_test(test_stream),
		cmocka_unit_test(test_execute),
		cmocka_unit_test(test_probe),
		cmocka_unit_test(test_observer),
		cmocka_unit_test(test_history_lincheck),
		cmocka_unit_test(test_config_file),
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test(test_pwctl),
		cmocka_unit_test(test_pwctl_history),
		cmocka_unit_test(test_async_ordered_exactly_once),
		cmocka_unit_test(test_async_failover),
		cmocka_unit_test(test_async_cancel),
		cmocka_unit_test(test_async_fd),
		cmocka_unit_test(test_async_many_sessions),
		cmocka_unit_test(test_pwctl_cli),
		cmocka_unit_test(test_sync_amid_async),
		cmocka_unit_test(test_sync_amid_async_failover),
	};

	if (argc > 1)
		pwctl_path = argv[1];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
