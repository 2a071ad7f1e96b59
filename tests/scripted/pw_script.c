/* SPDX-License-Identifier: Apache-2.0
 * pw-script: scripted interaction tests in the style of etcd-io/raft's testdata files.
 *
 * A script is a sequence of blocks:
 *
 *     command args...
 *     ----
 *     expected output (may be empty)
 *     <blank line>
 *
 * Commands (nodes are numbers; `all` means every node):
 *   cluster n=3 [seed=1] [durability=memory|durable] [election=10] [heartbeat=2]
 *   tick NODE|all [COUNT]       advance logical time
 *   deliver [COUNT]             deliver queued messages in order; prints each one
 *   deliver-all                 deliver until the queue is empty (bounded)
 *   queue                       print queued messages without delivering
 *   drop FROM TO                drop queued messages FROM -> TO (either may be `all`)
 *   drop-at K                   drop the K-th queued message (0 = oldest)
 *   dup-at K                    duplicate the K-th queued message (appended)
 *   deliver-at K                deliver the K-th queued message out of order
 *   cut FROM TO | heal FROM TO  cut or restore a one-way link
 *   isolate NODE | rejoin NODE  cut or restore every link of a node
 *   register NODE CLIENT        propose a session registration (seq 0) with nonce CLIENT
 *   session CLIENT              the session id the log gave CLIENT's registration
 *   propose NODE CLIENT SEQ put KEY VALUE | get KEY | del KEY
 *                               a command in CLIENT's session (registered and applied
 *                               somewhere first: the script fails otherwise)
 *   transfer NODE TARGET        ask leader NODE to hand leadership to TARGET
 *   crash NODE | restart NODE
 *   status                      role, promise, commit, applied of every node
 *   get NODE KEY                read the node's applied key-value state
 *
 * Each delivered message prints one line: "FROM->TO TYPE fields"; log entries show
 * commands as s<session>#<seq>:op(...) and registrations as reg(<nonce>). Run:
 *   pw-script FILE            compare; exit 1 with a diff on mismatch
 *   pw-script --rewrite FILE  regenerate the expected output (review the diff!)
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svc_kv.h"
#include "px.h"
#include "px_apply.h"
#include "pxh.h"

#define OUT_MAX (1u << 20)

struct ctx {
	struct pxh_cluster *c;
	uint8_t n;
	char out[OUT_MAX];
	size_t out_len;
};

static void emit(struct ctx *x, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(x->out + x->out_len, OUT_MAX - x->out_len, fmt, ap);
	va_end(ap);
	if (k > 0 && x->out_len + (size_t)k < OUT_MAX)
		x->out_len += (size_t)k;
}

static void fmt_ballot(char *buf, size_t len, uint64_t b)
{
	snprintf(buf, len, "%llu.%u", (unsigned long long)px_ballot_round(b),
		 px_ballot_node(b));
}

/** A compact description of a value: no-op, or the commands' bodies decoded as kv. */
static void fmt_value(struct ctx *x, const uint8_t *v, uint32_t len)
{
	uint32_t n = px_batch_count(v);
	if (n == 0) {
		emit(x, "noop");
		return;
	}
	uint32_t off = 0;
	struct px_cmd_ref c;
	bool first = true;
	while (px_batch_next(v, len, &off, &c)) {
		struct wire_kv_cmd k;
		emit(x, first ? "" : ",");
		first = false;
		if (c.seq == 0 && c.len == 0)
			emit(x, "reg(%llu)", (unsigned long long)c.client_id);
		else if (wire_kv_decode_cmd(c.body, c.len, &k) == 0 && k.op == WIRE_KV_PUT)
			emit(x, "s%llu#%llu:put(%.*s=%.*s)", (unsigned long long)c.client_id,
			     (unsigned long long)c.seq, (int)k.key_len, (const char *)k.key,
			     (int)k.value_len, (const char *)k.value);
		else if (wire_kv_decode_cmd(c.body, c.len, &k) == 0)
			emit(x, "s%llu#%llu:op%u(%.*s)", (unsigned long long)c.client_id,
			     (unsigned long long)c.seq, k.op, (int)k.key_len,
			     (const char *)k.key);
		else
			emit(x, "s%llu#%llu:?", (unsigned long long)c.client_id,
			     (unsigned long long)c.seq);
	}
}

static void print_msg(struct ctx *x, const struct px_msg *m, uint8_t to)
{
	char b[32];
	fmt_ballot(b, sizeof(b), m->ballot);
	emit(x, "%u->%u %s b=%s", m->from, to, px_msg_type_name(m->type), b);
	switch (m->type) {
	case PX_MSG_PREVOTE:
	case PX_MSG_PREPARE:
		emit(x, " from=%llu", (unsigned long long)m->slot_lo);
		break;
	case PX_MSG_PROMISE:
	case PX_MSG_RECOVER_REPLY:
		emit(x, " lo=%llu hi=%llu", (unsigned long long)m->slot_lo,
		     (unsigned long long)m->slot_hi);
		break;
	case PX_MSG_ACCEPTED:
		emit(x, " ack=%llu", (unsigned long long)m->slot_hi);
		break;
	case PX_MSG_STATE_NEEDED:
	case PX_MSG_RECOVER:
		emit(x, " lo=%llu", (unsigned long long)m->slot_lo);
		break;
	case PX_MSG_PREVOTE_REPLY:
		fmt_ballot(b, sizeof(b), m->slot_lo);
		emit(x, " for=%s", b);
		break;
	default:
		break;
	}
	emit(x, " commit=%llu", (unsigned long long)m->commit);
	if (m->flags & PX_MF_GRANT)
		emit(x, " grant");
	if (m->flags & PX_MF_LAST)
		emit(x, " last");
	if (m->flags & PX_MF_ANNOUNCE)
		emit(x, " announce");
	if (m->flags & PX_MF_FORCE)
		emit(x, " force");
	for (uint32_t i = 0; i < m->n_entries; i++) {
		const struct px_entry *e = &m->entries[i];
		fmt_ballot(b, sizeof(b), e->vballot);
		emit(x, " [%llu@%s%s ", (unsigned long long)e->slot, b,
		     (e->flags & PX_EF_CHOSEN) ? "*" : "");
		fmt_value(x, e->value, e->len);
		emit(x, "]");
	}
	emit(x, "\n");
}

static void trace_cb(void *ctx, const struct px_msg *m, uint8_t to)
{
	print_msg(ctx, m, to);
}

static void print_status(struct ctx *x)
{
	for (uint8_t i = 0; i < x->n; i++) {
		if (!pxh_is_up(x->c, i)) {
			emit(x, "%u: down\n", i);
			continue;
		}
		struct px_replica *r = pxh_replica(x->c, i);
		char b[32];
		fmt_ballot(b, sizeof(b), px_promised(r));
		emit(x, "%u: %s promised=%s commit=%llu applied=%llu last=%llu%s\n", i,
		     px_role_name(px_role(r)), b, (unsigned long long)px_commit(r),
		     (unsigned long long)px_applier_last_slot(pxh_applier(x->c, i)),
		     (unsigned long long)px_last_slot(r),
		     px_needs_state_transfer(r) ? " needs-state-transfer" : "");
	}
}

static int node_arg(struct ctx *x, const char *s)
{
	if (s == NULL)
		return -1;
	if (strcmp(s, "all") == 0)
		return PX_NODE_NONE;
	char *end;
	long v = strtol(s, &end, 10);
	if (*end != '\0' || v < 0 || v >= x->n)
		return -1;
	return (int)v;
}

/* Queued messages decode again for printing (they are bytes in the harness). */
#include "px_codec.h"
#include "pw_version.h"
static void print_queue(struct ctx *x)
{
	static struct px_msg m;
	for (uint32_t k = 0; k < pxh_queued(x->c); k++) {
		const struct pxh_msg *q = pxh_peek(x->c, k);
		if (px_decode(q->bytes, q->len, 1, x->n, &m) != PX_WIRE_OK) {
			emit(x, "%u: undecodable\n", k);
			continue;
		}
		emit(x, "%u: ", k);
		print_msg(x, &m, q->to);
	}
}

static int run_cmd(struct ctx *x, char *line, char *err, size_t errlen)
{
	char *argv[16];
	int argc = 0;
	char *save = NULL;
	for (char *t = strtok_r(line, " \t", &save); t && argc < 16; t = strtok_r(NULL, " \t", &save))
		argv[argc++] = t;
	if (argc == 0)
		return 0;
	const char *cmd = argv[0];
#define NEED(c) do { if (!(c)) { snprintf(err, errlen, "bad arguments to %s", cmd); return -1; } } while (0)
	if (strcmp(cmd, "cluster") == 0) {
		struct pxh_opts o;
		pxh_opts_default(&o, 3);
		for (int i = 1; i < argc; i++) {
			char *eq = strchr(argv[i], '=');
			NEED(eq != NULL);
			*eq = '\0';
			const char *v = eq + 1;
			if (strcmp(argv[i], "n") == 0)
				o.n = (uint8_t)atoi(v);
			else if (strcmp(argv[i], "seed") == 0)
				o.seed = strtoull(v, NULL, 10);
			else if (strcmp(argv[i], "durability") == 0)
				o.durability = strcmp(v, "durable") == 0 ? PX_DURABLE : PX_MEMORY;
			else if (strcmp(argv[i], "election") == 0)
				o.election_ticks = (uint32_t)atoi(v);
			else if (strcmp(argv[i], "heartbeat") == 0)
				o.heartbeat_ticks = (uint32_t)atoi(v);
			else if (strcmp(argv[i], "window") == 0)
				o.window_slots = (uint32_t)atoi(v);
			else
				NEED(0);
		}
		pxh_free(x->c);
		o.trace = trace_cb;
		o.trace_ctx = x;
		o.check_invariants = true;
		x->n = o.n;
		x->c = pxh_new(&o);
		return 0;
	}
	NEED(x->c != NULL);
	if (strcmp(cmd, "tick") == 0) {
		int nd = node_arg(x, argc > 1 ? argv[1] : NULL);
		NEED(nd >= 0);
		int count = argc > 2 ? atoi(argv[2]) : 1;
		for (int i = 0; i < count; i++)
			pxh_tick(x->c, (uint8_t)nd);
	} else if (strcmp(cmd, "deliver") == 0) {
		int count = argc > 1 ? atoi(argv[1]) : (int)pxh_queued(x->c);
		for (int i = 0; i < count && pxh_deliver_one(x->c); i++)
			;
	} else if (strcmp(cmd, "deliver-all") == 0) {
		pxh_deliver_all(x->c, 10000);
	} else if (strcmp(cmd, "queue") == 0) {
		print_queue(x);
	} else if (strcmp(cmd, "drop") == 0) {
		int f = node_arg(x, argc > 1 ? argv[1] : NULL);
		int t = node_arg(x, argc > 2 ? argv[2] : NULL);
		NEED(f >= 0 && t >= 0);
		emit(x, "dropped %u\n", pxh_drop(x->c, (uint8_t)f, (uint8_t)t));
	} else if (strcmp(cmd, "drop-at") == 0 || strcmp(cmd, "dup-at") == 0 ||
		   strcmp(cmd, "deliver-at") == 0) {
		NEED(argc == 2);
		uint32_t k = (uint32_t)atoi(argv[1]);
		NEED(k < pxh_queued(x->c));
		if (cmd[1] == 'r')
			pxh_remove(x->c, k);
		else if (cmd[1] == 'u')
			pxh_duplicate(x->c, k);
		else
			pxh_deliver_at(x->c, k);
	} else if (strcmp(cmd, "cut") == 0 || strcmp(cmd, "heal") == 0) {
		int f = node_arg(x, argc > 1 ? argv[1] : NULL);
		int t = node_arg(x, argc > 2 ? argv[2] : NULL);
		NEED(f >= 0 && t >= 0 && f != PX_NODE_NONE && t != PX_NODE_NONE);
		pxh_cut(x->c, (uint8_t)f, (uint8_t)t, cmd[0] == 'c');
	} else if (strcmp(cmd, "isolate") == 0 || strcmp(cmd, "rejoin") == 0) {
		int nd = node_arg(x, argc > 1 ? argv[1] : NULL);
		NEED(nd >= 0 && nd != PX_NODE_NONE);
		pxh_isolate(x->c, (uint8_t)nd, cmd[0] == 'i');
	} else if (strcmp(cmd, "register") == 0) {
		NEED(argc == 3);
		int nd = node_arg(x, argv[1]);
		NEED(nd >= 0 && nd != PX_NODE_NONE);
		struct px_cmd_ref c = { .client_id = strtoull(argv[2], NULL, 10) };
		NEED(c.client_id != 0);
		emit(x, "taken %u\n", pxh_propose(x->c, (uint8_t)nd, &c, 1));
	} else if (strcmp(cmd, "session") == 0) {
		NEED(argc == 2);
		uint64_t id = pxh_session(x->c, strtoull(argv[1], NULL, 10));
		if (id == 0)
			emit(x, "client %s: no session\n", argv[1]);
		else
			emit(x, "client %s: session %llu\n", argv[1], (unsigned long long)id);
	} else if (strcmp(cmd, "propose") == 0) {
		NEED(argc >= 6);
		int nd = node_arg(x, argv[1]);
		NEED(nd >= 0 && nd != PX_NODE_NONE);
		uint64_t session = pxh_session(x->c, strtoull(argv[2], NULL, 10));
		if (session == 0) {
			snprintf(err, errlen, "client %s has no session: register it first", argv[2]);
			return -1;
		}
		uint8_t body[512];
		uint32_t len = 0;
		const char *k = argv[5];
		if (strcmp(argv[4], "put") == 0 && argc == 7)
			len = wire_kv_encode_put(body, sizeof(body), k, (uint8_t)strlen(k), argv[6],
					       (uint32_t)strlen(argv[6]));
		else if (strcmp(argv[4], "get") == 0)
			len = wire_kv_encode_get(body, sizeof(body), k, (uint8_t)strlen(k));
		else if (strcmp(argv[4], "del") == 0)
			len = wire_kv_encode_del(body, sizeof(body), k, (uint8_t)strlen(k));
		NEED(len > 0);
		struct px_cmd_ref c = {
			.client_id = session,
			.seq = strtoull(argv[3], NULL, 10),
			.len = len,
			.body = body,
		};
		emit(x, "taken %u\n", pxh_propose(x->c, (uint8_t)nd, &c, 1));
	} else if (strcmp(cmd, "transfer") == 0) {
		int nd = node_arg(x, argc > 1 ? argv[1] : NULL);
		int t = node_arg(x, argc > 2 ? argv[2] : NULL);
		NEED(nd >= 0 && t >= 0 && nd != PX_NODE_NONE && t != PX_NODE_NONE);
		static struct px_out out;
		px_out_reset(&out);
		int rc = px_transfer_leadership(pxh_replica(x->c, (uint8_t)nd), (uint8_t)t, &out);
		emit(x, "transfer: %s\n", rc == 0 ? "started" : strerror(-rc));
		/* The TIMEOUT_NOW (if the target is caught up) goes out on a later ACCEPTED. */
	} else if (strcmp(cmd, "crash") == 0 || strcmp(cmd, "restart") == 0) {
		int nd = node_arg(x, argc > 1 ? argv[1] : NULL);
		NEED(nd >= 0 && nd != PX_NODE_NONE);
		if (cmd[0] == 'c')
			pxh_crash(x->c, (uint8_t)nd);
		else
			pxh_restart(x->c, (uint8_t)nd);
	} else if (strcmp(cmd, "status") == 0) {
		print_status(x);
	} else if (strcmp(cmd, "get") == 0) {
		int nd = node_arg(x, argc > 1 ? argv[1] : NULL);
		NEED(nd >= 0 && nd != PX_NODE_NONE && argc == 3);
		const uint8_t *v;
		uint32_t len;
		if (svc_kv_get_direct(pxh_kv(x->c, (uint8_t)nd), argv[2], (uint8_t)strlen(argv[2]),
				     &v, &len))
			emit(x, "%s=%.*s\n", argv[2], (int)len, (const char *)v);
		else
			emit(x, "%s absent\n", argv[2]);
	} else {
		snprintf(err, errlen, "unknown command %s", cmd);
		return -1;
	}
	return 0;
#undef NEED
}

int main(int argc, char **argv)
{
	if (pw_version_arg(argc, argv, "pw-script"))
		return 0;
	bool rewrite = false;
	const char *path = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--rewrite") == 0) {
			rewrite = true;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			printf("usage: pw-script [--rewrite] FILE\n"
			       "Runs a scripted interaction test (tests/scripted/*.txt): exit 0 if the\n"
			       "output matches; --rewrite writes the actual output back into FILE.\n");
			return 0;
		} else
			path = argv[i];
	}
	if (path == NULL) {
		fprintf(stderr, "usage: pw-script [--rewrite] FILE\n");
		return 2;
	}
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		fprintf(stderr, "pw-script: %s: %s\n", path, strerror(errno));
		return 2;
	}
	static struct ctx x;
	/* Output file (rewrite) is built as we go: commands, ----, actual output. */
	static char rebuilt[OUT_MAX * 2];
	size_t rb = 0;
	char line[4096];
	int lineno = 0, failures = 0, blocks = 0;
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		if (line[0] == '\n' || line[0] == '#') {
			rb += (size_t)snprintf(rebuilt + rb, sizeof(rebuilt) - rb, "%s", line);
			continue;
		}
		char cmdline[4096];
		snprintf(cmdline, sizeof(cmdline), "%s", line);
		cmdline[strcspn(cmdline, "\n")] = '\0';
		int cmd_line = lineno;
		/* Expect "----" then the expected output up to a blank line or EOF. */
		char expected[OUT_MAX];
		size_t el = 0;
		if (!fgets(line, sizeof(line), f) || strcmp(line, "----\n") != 0) {
			fprintf(stderr, "%s:%d: expected ---- after the command\n", path, lineno + 1);
			return 2;
		}
		lineno++;
		while (fgets(line, sizeof(line), f)) {
			lineno++;
			if (line[0] == '\n')
				break;
			size_t l = strlen(line);
			if (el + l < sizeof(expected)) {
				memcpy(expected + el, line, l);
				el += l;
			}
		}
		expected[el] = '\0';
		x.out_len = 0;
		x.out[0] = '\0';
		char err[256] = "";
		char work[4096];
		snprintf(work, sizeof(work), "%s", cmdline);
		if (run_cmd(&x, work, err, sizeof(err)) != 0) {
			fprintf(stderr, "%s:%d: %s\n", path, cmd_line, err);
			return 2;
		}
		blocks++;
		rb += (size_t)snprintf(rebuilt + rb, sizeof(rebuilt) - rb, "%s\n----\n%s\n",
				       cmdline, x.out);
		if (strcmp(expected, x.out) != 0) {
			failures++;
			if (!rewrite)
				fprintf(stderr,
					"%s:%d: %s\n--- expected\n%s--- got\n%s---\n", path,
					cmd_line, cmdline, expected, x.out);
		}
	}
	fclose(f);
	pxh_free(x.c);
	if (rewrite) {
		/* Collapse the trailing blank line doubling. */
		while (rb >= 2 && rebuilt[rb - 1] == '\n' && rebuilt[rb - 2] == '\n')
			rb--;
		FILE *w = fopen(path, "w");
		if (w == NULL || fwrite(rebuilt, 1, rb, w) != rb || fclose(w) != 0) {
			fprintf(stderr, "pw-script: cannot rewrite %s\n", path);
			return 2;
		}
		printf("%s: rewrote %d blocks (%d changed)\n", path, blocks, failures);
		return 0;
	}
	printf("%s: %d blocks, %d failed\n", path, blocks, failures);
	return failures ? 1 : 0;
}
