/* SPDX-License-Identifier: Apache-2.0
 * pwctl: one paxwire operation from the command line, through libpaxwire-client.
 * Each run registers one fresh client session (random nonce). See usage() for the
 * commands and exit codes, and client/README.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "cfg.h"
#include "paxwire.h"
#include "pw_version.h"
#include "pw_history.h"
#include "pw_metrics.h"
#include "wire_backup.h"
#include "wire_le.h"

/* Exit codes (documented in usage() and client/README.md). */
#define EXIT_DONE 0      /* done; the answer is "yes" */
#define EXIT_NO 1        /* a definite "no": nothing changed, or the member does not lead */
#define EXIT_UNKNOWN 2   /* outcome unknown, or no leader known */
#define EXIT_USAGE 3     /* usage, configuration or system error; not supported yet */

static void usage(FILE *f)
{
	fputs(
"usage: pwctl (--config FILE | --member HOST:PORT... --cluster ID) [options] COMMAND [ARGS]\n"
"       pwctl COMMAND --help      that command's usage\n"
"       pwctl keygen [--client ID | --admin ID] [--from CLUSTER_KEY] FILE\n"
"       pwctl keygen (--rotate | --retire) CLUSTER_KEY FILE\n"
"\n"
"  --config FILE        cluster file: members and cluster id (config/cfg.h)\n"
"  --member HOST:PORT   a member's address, once per replica in id order (no --config)\n"
"  --cluster ID         the cluster id (with --member)\n"
"  --timeout MS         total time for the operation, retries included (default 3000)\n"
"  --attempt MS         wait per attempt before trying the next member (default 100,\n"
"                       at most the timeout)\n"
"  --history FILE       append the operation to FILE in the pw-lincheck format\n"
"  --key FILE           this client's key file (default: $PAXWIRE_KEY_FILE); admin\n"
"                       commands (stats, metrics, transfer-leader, snapshot save, add-member,\n"
"                       remove-member, replace-member) need an admin key or the\n"
"                       cluster key (docs/security.md)\n"
"  --help               this text (COMMAND --help: that command's)\n"
"  --version            the version (from git when built) and exit\n"
"\n"
"Options may come before or after the command (pwctl put k v --config FILE); after\n"
"\"--\", every word is an argument (pwctl put -- k --json).\n"
"\n"
"keys (docs/security.md; files are written mode 0600 and never overwritten):\n"
"  keygen FILE          a new cluster key (generation 1): key_file = FILE in the\n"
"                       cluster file, on every replica\n"
"  keygen --client ID --from CLUSTER_KEY FILE\n"
"                       the key file of client ID (1..16777215), derived from the\n"
"                       cluster key (every generation it holds)\n"
"  keygen --admin ID --from CLUSTER_KEY FILE\n"
"                       the same, for an admin (admin commands allowed)\n"
"  keygen --rotate CLUSTER_KEY FILE\n"
"                       rotation step 1: FILE holds CLUSTER_KEY's key (still sent\n"
"                       with) and a new one of the next generation (accepted)\n"
"  keygen --retire CLUSTER_KEY FILE\n"
"                       rotation step 3: FILE holds only the key CLUSTER_KEY sends with\n"
"\n"
"commands (kv cluster):\n"
"  put KEY VALUE        store KEY = VALUE\n"
"  get KEY              print the value (raw bytes and a newline)\n"
"  del KEY              remove KEY\n"
"  cas KEY EXPECT|- NEW set KEY = NEW if it holds EXPECT ('-': if KEY is absent)\n"
"commands (stream cluster):\n"
"  append DATA          append a record; print its offset\n"
"  read OFFSET [MAX]    print records from OFFSET on, one per line: OFFSET<TAB>DATA\n"
"                       (\\\\ and non-printable bytes escaped as \\xNN), at most about MAX\n"
"                       bytes (default 4096); the next offset to read goes to stderr\n"
"commands (any cluster):\n"
"  status               probe every member: does it answer, does it lead\n"
"  leader               print the id of the member that answers as leader\n"
"  is-leader N          exit 0 if member N answers as leader, 1 if it answers that it\n"
"                       does not, 2 if it does not answer (for health checks)\n"
"  transfer-leader N    ask the leader to hand over to member N; waits until N leads\n"
"  stats [N]            each member's (or member N's) state and counters, one JSON line each\n"
"                       (page 0 of its metrics: docs/metrics.md)\n"
"  metrics              every member's metrics, every page, in the Prometheus text\n"
"                       format (member=\"N\" labels; docs/metrics.md); exit 2 if a\n"
"                       member did not answer\n"
"  members [--json]     the membership the leader (or a member) knows: id, address,\n"
"                       role (voter, learner, leaving, joining), lag behind the commit\n"
"  add-member ID IP:PORT [--voter] [--wait MS]\n"
"                       add replica ID (started with paxwired --join) as a learner; waits\n"
"                       until the change is in force (--voter: until the leader has\n"
"                       promoted it to voter)\n"
"  remove-member ID [--wait MS]\n"
"                       remove replica ID; waits until the change is in force\n"
"  replace-member OLD NEW IP:PORT [--wait MS]\n"
"                       add NEW, wait until it is a voter, then remove OLD\n"
"                       (COMMAND --help: each one's details)\n"
"  snapshot save FILE   a backup: fetch a snapshot of the applied state from a member\n"
"                       (followers first), holding every write acknowledged before it\n"
"                       started; write FILE atomically (FILE.tmp, fsync, rename). One\n"
"                       line: slot, bytes, member, MB/s, requests sent and re-sent.\n"
"                       paxwired --bootstrap --restore FILE seeds a new cluster from it\n"
"                       (docs/operations.md, \"Backup and restore\"). --timeout bounds\n"
"                       the search for a member and each wait for the next chunk, not\n"
"                       the whole transfer\n"
"\n"
"Probes write nothing: status, leader and is-leader send a REQUEST with seq 0 that is\n"
"no command (followers answer NOT_LEADER, the leader BAD_COMMAND at once; no log\n"
"slot), members an admin query any key may send; status adds each member's commit /\n"
"applied, an admin query (stats), only with an admin or cluster key. Each kv or\n"
"stream command first registers a client session through the log. Reads (get, read)\n"
"are linearizable: the leader serves them by read index, without a log slot, or\n"
"through the log when it cannot yet (docs/consistency.md, \"Reads\").\n"
"\n"
"exit status:\n"
"  0  done: stored, found, swapped, removed, appended; a leader answered;\n"
"     is-leader: N leads\n"
"  1  a definite no, nothing changed: not found, cas mismatch, store full, bad command,\n"
"     offset truncated or beyond the end; is-leader: N says it does not lead;\n"
"     transfer-leader: N is no voter, or does not answer (refused at once);\n"
"     snapshot save: every member that answered has no snapshot to give;\n"
"     add/remove/replace-member: the leader refused, or a change is under way\n"
"  2  writes (put, del, cas, append): outcome unknown: timeout, no leader, session\n"
"     expired, unexpected reply (it may or may not have been applied); reads and\n"
"     queries (get, read, stats, members): no answer, nothing changed; status/leader:\n"
"     no leader answered; is-leader: N did not answer; snapshot save: no member answered,\n"
"     or the transfer stalled (FILE untouched); add/remove/replace-member: no\n"
"     answer, or the change was not in force within --wait\n"
"  3  usage, configuration or system error\n",
	      f);
}

/* Per command: its usage line, what it does, and its kind: a write's outcome may be
 * unknown when no answer comes; a read or a query changes nothing, so no answer is
 * only that. The membership commands' longer texts are below (help_members...). */
enum cmd_kind { K_WRITE, K_READ };
struct cmd_info {
	const char *name;
	enum cmd_kind kind;
	const char *help;   /* NULL: command_help() has it */
};
static const struct cmd_info cmds[] = {
	{ "put", K_WRITE, "usage: pwctl [options] put KEY VALUE\n\n"
	  "Stores KEY = VALUE (kv cluster). The cluster's limits: kv_key_bytes and\n"
	  "kv_value_bytes in the cluster file (default 64 and 1024 bytes). Exit 0 stored,\n"
	  "1 refused (store full, beyond a limit: nothing changed), 2 outcome unknown.\n" },
	{ "get", K_READ, "usage: pwctl [options] get KEY\n\n"
	  "Prints KEY's value (raw bytes and a newline); linearizable. Exit 0 found,\n"
	  "1 not found, 2 no answer (nothing changed).\n" },
	{ "del", K_WRITE, "usage: pwctl [options] del KEY\n\n"
	  "Removes KEY. Exit 0 removed, 1 not found, 2 outcome unknown.\n" },
	{ "cas", K_WRITE, "usage: pwctl [options] cas KEY EXPECT|- NEW\n\n"
	  "Sets KEY = NEW if KEY holds EXPECT ('-': if KEY is absent). Exit 0 swapped,\n"
	  "1 mismatch (nothing changed), 2 outcome unknown.\n" },
	{ "append", K_WRITE, "usage: pwctl [options] append DATA\n\n"
	  "Appends a record to the stream (stream cluster); prints its offset. Exit 0\n"
	  "appended, 1 refused, 2 outcome unknown.\n" },
	{ "read", K_READ, "usage: pwctl [options] read OFFSET [MAX]\n\n"
	  "Prints records from OFFSET on, one per line: OFFSET<TAB>DATA (\\\\ and\n"
	  "non-printable bytes as \\xNN), at most about MAX bytes (default 4096); the next\n"
	  "offset to read goes to stderr. Exit 0, 1 truncated or beyond the end, 2 no answer.\n" },
	{ "status", K_READ, "usage: pwctl [options] status\n\n"
	  "Probes every member (a REQUEST that is no command: no log slot): does it answer,\n"
	  "does it lead, in how long; with an admin or cluster key also its role (recovering,\n"
	  "candidate...) and commit / applied (an admin query, stats). With a client key those\n"
	  "columns stay empty: the members refuse admin queries from client keys. Exit 0 a\n"
	  "leader answered, 2 none did.\n" },
	{ "leader", K_READ, "usage: pwctl [options] leader\n\n"
	  "Prints the id of the member that answers the probe as leader (no log slot). Exit\n"
	  "0, or 2 if none did.\n" },
	{ "is-leader", K_READ, "usage: pwctl [options] is-leader N\n\n"
	  "For health checks (no log slot): exit 0 if member N answers as leader, 1 if it\n"
	  "answers that it does not, 2 if it does not answer.\n" },
	{ "transfer-leader", K_WRITE, "usage: pwctl [options] transfer-leader N\n\n"
	  "Asks the leader to hand leadership to voter N, then waits until N leads (within\n"
	  "--timeout). Refused at once, exit 1, when N is no voter of the membership in force\n"
	  "or does not answer a probe: nothing is asked of the leader. Needs an admin key.\n"
	  "Exit 0 N leads, 1 refused, 2 no answer or N did not take over in time.\n" },
	{ "stats", K_READ, "usage: pwctl [options] stats [N]\n\n"
	  "Each member's (or member N's) state and counters, one JSON line each (an admin\n"
	  "query: no log slot). Needs an admin key. Exit 0, 2 a member did not answer.\n" },
	{ "members", K_READ, NULL },
	{ "add-member", K_WRITE, NULL },
	{ "remove-member", K_WRITE, NULL },
	{ "replace-member", K_WRITE, NULL },
	{ "snapshot", K_READ, "usage: pwctl [options] snapshot save FILE\n\n"
	  "A backup: fetches a snapshot of the applied state from a member (followers\n"
	  "first), holding every write acknowledged before it started, and writes FILE\n"
	  "atomically (docs/operations.md, \"Backup and restore\"). Needs an admin key.\n" },
	{ "keygen", K_WRITE, "usage: pwctl keygen FILE | keygen (--client|--admin) ID --from CLUSTER_KEY FILE\n"
	  "       | keygen (--rotate|--retire) CLUSTER_KEY FILE\n\n"
	  "Writes a key file (mode 0600, never overwritten); see pwctl --help and\n"
	  "docs/security.md, \"Keys\".\n" },
};

static const struct cmd_info *cmd_find(const char *name)
{
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(cmds[i].name, name) == 0)
			return &cmds[i];
	return NULL;
}

/** The total time of one operation (--timeout), named in "no answer" errors. */
static uint32_t g_timeout_ms;
/** Whether this run may send admin queries (an admin or cluster key, or none: auth
 *  off at this client). */
static bool g_admin = true;
/** The cluster file (--config), read for its limits when the service refuses. */
static const char *g_config_path;

/** Exit code for an operation's result. */
static int exit_for(int rc)
{
	switch (rc) {
	case PW_OK:
		return EXIT_DONE;
	case PW_E_NOT_FOUND:
	case PW_E_CAS_MISMATCH:
	case PW_E_FULL:
	case PW_E_BAD_COMMAND:
	case PW_E_TRUNCATED:
	case PW_E_BEYOND:
	case PW_E_BUSY:
		return EXIT_NO;
	case PW_E_TOO_LARGE:
	case PW_E_INVAL:
		return EXIT_USAGE;
	default:
		return pw_err_outcome_unknown(rc) ? EXIT_UNKNOWN : EXIT_USAGE;
	}
}

/**
 * What rc means for cmd: a write's lost answer leaves its outcome unknown
 * (pw_strerror says so); a read or a query changes nothing, so it is only "no answer".
 */
static const char *err_text(const char *cmd, int rc, char *buf, size_t cap)
{
	const struct cmd_info *ci = cmd_find(cmd);

	if (ci == NULL || ci->kind == K_WRITE)
		return pw_strerror(rc);
	switch (rc) {
	case PW_E_TIMEOUT:
		snprintf(buf, cap, "no answer within %u ms (--timeout); a read or query changes "
			 "nothing; fix: pwctl status, or a longer --timeout", g_timeout_ms);
		return buf;
	case PW_E_NO_LEADER:
		return "no answer: no member answered, or none knows a leader; a read changes "
		       "nothing; fix: pwctl status";
	case PW_E_SESSION_EXPIRED:
		return "the client's session expired before the answer; a read changes "
		       "nothing: run it again";
	case PW_E_PROTOCOL:
		return "an answer that is no reply of this service (is the cluster's service "
		       "the one this command is for?); nothing changed";
	default:
		return pw_strerror(rc);
	}
}

static int report(const char *cmd, int rc)
{
	char buf[256];

	if (rc != PW_OK)
		fprintf(stderr, "pwctl %s: %s\n", cmd, err_text(cmd, rc, buf, sizeof(buf)));
	return exit_for(rc);
}

/**
 * A kv write the service refused (PW_E_BAD_COMMAND) or the client could not send
 * (PW_E_TOO_LARGE): which limit, and its key in the cluster file. The replies carry
 * no reason, so the limits are those of the cluster file this run was given (the
 * replicas' own, when they run with the same file). @return the exit code.
 */
static int report_kv_write(const char *cmd, int rc, size_t klen, size_t vlen, size_t elen)
{
	size_t v = vlen > elen ? vlen : elen;
	const char *what = vlen >= elen ? "value" : "expected value";

	if (rc == PW_E_TOO_LARGE) {
		if (klen > PW_KEY_BYTES_MAX)
			fprintf(stderr, "pwctl %s: key is %zu bytes; the protocol's limit is %u "
				"(PW_KEY_BYTES_MAX); nothing sent\n", cmd, klen, PW_KEY_BYTES_MAX);
		else
			fprintf(stderr, "pwctl %s: key and %s are %zu bytes; one command carries at "
				"most %u (PW_KV_BYTES_MAX); nothing sent\n", cmd, what,
				klen + vlen + elen, (unsigned)PW_KV_BYTES_MAX);
		return EXIT_USAGE;
	}
	if (rc != PW_E_BAD_COMMAND || g_config_path == NULL)
		return report(cmd, rc);
	struct cfg_cluster cfg;
	char err[512];
	if (cfg_load(g_config_path, &cfg, err, sizeof(err)) == 0 && cfg.service == CFG_SERVICE_KV) {
		if (klen > cfg.kv_key_bytes) {
			fprintf(stderr, "pwctl %s: the service refused it, nothing changed: key is %zu "
				"bytes; the cluster's limit is kv_key_bytes = %u (%s)\n", cmd, klen,
				cfg.kv_key_bytes, g_config_path);
			return EXIT_NO;
		}
		if (v > cfg.kv_value_bytes) {
			fprintf(stderr, "pwctl %s: the service refused it, nothing changed: %s is %zu "
				"bytes; the cluster's limit is kv_value_bytes = %u (%s)\n", cmd, what,
				v, cfg.kv_value_bytes, g_config_path);
			return EXIT_NO;
		}
	}
	return report(cmd, rc);
}

static bool parse_u64(const char *s, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 0);
	return errno == 0 && end != s && *end == '\0' && s[0] != '-';
}

static bool parse_u32(const char *s, uint32_t *v)
{
	uint64_t u;

	if (!parse_u64(s, &u) || u > UINT32_MAX)
		return false;
	*v = (uint32_t)u;
	return true;
}

/** Writes data as one line: backslash and bytes outside printable ASCII as \xNN. */
static void print_escaped(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\\')
			fputs("\\\\", stdout);
		else if (p[i] >= 0x20 && p[i] < 0x7f)
			putchar(p[i]);
		else
			printf("\\x%02x", (unsigned)p[i]);
	}
}

static void print_record(void *arg, uint64_t offset, const void *data, size_t len)
{
	(void)arg;
	printf("%" PRIu64 "\t", offset);
	print_escaped(data, len);
	putchar('\n');
}

/** Parses a member id argument: 0..8 (one the client has no address for is learnt
 *  from the cluster, or refused, by the library). */
static bool parse_member(const struct pw_client *c, const char *s, uint8_t *id)
{
	uint32_t v;

	(void)c;
	if (!parse_u32(s, &v) || v >= PW_MEMBERS_MAX) {
		fprintf(stderr, "pwctl: member \"%s\": expected 0..%u\n", s,
			(unsigned)PW_MEMBERS_MAX - 1);
		return false;
	}
	*id = (uint8_t)v;
	return true;
}

static int cmd_status(struct pw_client *c, const char *what, const char *arg, bool admin)
{
	struct pw_member_status st[PW_MEMBERS_MAX];
	int leader = -1, rc;
	uint8_t n = pw_client_members(c), want = 0;

	if (strcmp(what, "is-leader") == 0 && !parse_member(c, arg, &want))
		return EXIT_USAGE;
	rc = pw_probe(c, st);
	if (rc != PW_OK) {
		fprintf(stderr, "pwctl %s: %s: %s\n", what, pw_strerror(rc), strerror(errno));
		return EXIT_USAGE;
	}
	for (uint8_t i = 0; i < n; i++) {
		if (st[i].leads && leader < 0)
			leader = i;
	}
	if (strcmp(what, "is-leader") == 0) {
		if (want >= n || pw_client_member_addr(c, want) == NULL) {
			fprintf(stderr, "pwctl is-leader: member %u: no address for it (pwctl members)\n",
				(unsigned)want);
			return EXIT_UNKNOWN;
		}
		if (!st[want].answered) {
			fprintf(stderr, "pwctl is-leader: member %u (%s) did not answer\n",
				(unsigned)want, st[want].addr);
			return EXIT_UNKNOWN;
		}
		return st[want].leads ? EXIT_DONE : EXIT_NO;
	}
	if (strcmp(what, "leader") == 0) {
		if (leader < 0) {
			fprintf(stderr, "pwctl leader: no member answered as leader\n");
			return EXIT_UNKNOWN;
		}
		printf("%d\n", leader);
		return EXIT_DONE;
	}
	/* The membership in force, from the leader: an id the cluster file lists but the
	 * log has removed (or never added) is said to be no member, not "no answer". */
	struct pw_membership ms;
	bool have_ms = leader >= 0 && pw_members(c, leader, &ms, NULL, 0, NULL) == PW_OK;

	printf("%-6s %-22s %-48s %s\n", "member", "address", "state", "commit / applied");
	for (uint8_t i = 0; i < n; i++) {
		char state[96], js[PW_REPLY_BYTES_MAX + 1], progress[64] = "", role[16] = "";
		size_t jl = 0;
		uint64_t cm = 0, ap = 0;
		const char *pc, *pa, *pr;
		/* The member's own counters (an admin query, not logged; admin keys only: a
		 * member drops, and logs, an admin query sealed with a client key). */
		bool have_js = admin && st[i].answered &&
			       pw_client_member_addr(c, i) != NULL &&
			       pw_member_stats(c, i, js, sizeof(js), &jl) == PW_OK;
		if (have_js && (pr = strstr(js, "\"role\":\"")) != NULL)
			sscanf(pr, "\"role\":\"%15[a-z]", role);

		if (pw_client_member_addr(c, i) == NULL)
			continue;   /* an id this client knows no address for */
		bool member = !have_ms;

		for (uint8_t k = 0; have_ms && k < ms.n; k++)
			member |= ms.m[k].id == i;
		if (!member)
			snprintf(state, sizeof(state), "no member at epoch %" PRIu32 "%s",
				 ms.epoch, st[i].answered ? " (answers)" : "");
		else if (!st[i].answered)
			snprintf(state, sizeof(state), "no answer");
		else if (st[i].leads)
			snprintf(state, sizeof(state), "leader (%.2f ms)", st[i].rtt_ns / 1e6);
		else if (role[0] != '\0' && strcmp(role, "follower") != 0)
			snprintf(state, sizeof(state), "%s, answers as no leader (%.2f ms)", role,
				 st[i].rtt_ns / 1e6);
		else if (st[i].leader_hint >= 0)
			snprintf(state, sizeof(state), "follower, says the leader is %d (%.2f ms)",
				 st[i].leader_hint, st[i].rtt_ns / 1e6);
		else
			snprintf(state, sizeof(state), "follower, knows no leader (%.2f ms)",
				 st[i].rtt_ns / 1e6);
		if (have_js && (pc = strstr(js, "\"commit\":")) != NULL &&
		    (pa = strstr(js, "\"applied\":")) != NULL &&
		    sscanf(pc, "\"commit\":%" SCNu64, &cm) == 1 &&
		    sscanf(pa, "\"applied\":%" SCNu64, &ap) == 1)
			snprintf(progress, sizeof(progress), "%" PRIu64 " / %" PRIu64, cm, ap);
		printf("%-6u %-22s %-48s %s\n", (unsigned)i, st[i].addr, state, progress);
	}
	if (!admin)
		fprintf(stderr, "pwctl status: commit / applied need an admin or cluster key (an "
			"admin query); this run has a client key\n");
	if (leader < 0)
		fprintf(stderr, "pwctl status: no member answered as leader\n");
	return leader >= 0 ? EXIT_DONE : EXIT_UNKNOWN;
}

/**
 * Before a transfer: refused at once, nothing asked of the leader, when target is no
 * voter of the membership in force (the leader's view) or does not answer a probe: the
 * leader would start a transfer that cannot end. @return an exit code, or -1: go on.
 */
static int transfer_check(struct pw_client *c, uint8_t target)
{
	struct pw_member_status st[PW_MEMBERS_MAX];
	struct pw_membership ms;

	if (pw_members(c, -1, &ms, NULL, 0, NULL) == PW_OK) {
		const char *role = NULL;
		for (uint8_t k = 0; k < ms.n; k++)
			if (ms.m[k].id == target)
				role = ms.m[k].role;
		if (role == NULL || strcmp(role, "voter") != 0) {
			fprintf(stderr, "pwctl transfer-leader: member %u is %s%s at epoch %u; only a "
				"voter can lead; nothing asked of the leader (pwctl members)\n",
				(unsigned)target, role == NULL ? "no member" : "a ",
				role == NULL ? "" : role, ms.epoch);
			return EXIT_NO;
		}
	}
	if (pw_client_member_addr(c, target) == NULL)
		return -1;   /* pw_transfer_leader learns its address, or refuses */
	if (pw_probe(c, st) != PW_OK)
		return -1;
	if (!st[target].answered) {
		fprintf(stderr, "pwctl transfer-leader: member %u (%s) does not answer; it could not "
			"take over; nothing asked of the leader; fix: start it, or pick a member that "
			"answers (pwctl status)\n", (unsigned)target, st[target].addr);
		return EXIT_NO;
	}
	return -1;
}

/* ---- snapshot save ---------------------------------------------------------------- */

/** The buffer pw_snapshot_fetch fills (grown when a newer snapshot is larger). */
struct snap_buf {
	uint8_t *p;
	uint64_t cap;
};

static void *snap_buf_for(void *arg, uint64_t len)
{
	struct snap_buf *b = arg;

	if (len > b->cap) {
		if (len > SIZE_MAX)
			return NULL;
		uint8_t *p = realloc(b->p, (size_t)len);
		if (p == NULL)
			return NULL;
		b->p = p;
		b->cap = len;
	}
	return b->p;
}

/** Writes n bytes at fd's offset. 0 or -errno. */
static int write_all(int fd, const uint8_t *p, uint64_t n)
{
	while (n > 0) {
		size_t want = n > (1u << 30) ? (1u << 30) : (size_t)n;
		ssize_t w = write(fd, p, want);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (w == 0)
			return -EIO;
		p += w;
		n -= (uint64_t)w;
	}
	return 0;
}

/** fsync of the directory holding path (a rename in it is durable once this returns).
 *  0 or -errno. */
static int fsync_dir_of(const char *path)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	size_t n = slash == NULL ? 1u : slash == path ? 1u : (size_t)(slash - path);

	if (n >= sizeof(dir))
		return -ENAMETOOLONG;
	memcpy(dir, slash == NULL ? "." : path, n);
	dir[n] = '\0';
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = fsync(fd) == 0 ? 0 : -errno;
	close(fd);
	return rc;
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/** Says why pw_snapshot_fetch failed; the exit code. */
static int snapshot_failed(const struct pw_client *c, int rc, const struct pw_snapshot_info *in)
{
	switch (rc) {
	case PW_E_NO_SNAPSHOT:
		fprintf(stderr, "pwctl snapshot save: no snapshot: %u of %u members answered, and none has one to give (SNAP_NONE): the cluster's service has no snapshots, nothing was applied yet, or the members are recovering; fix: a service with snapshots (kv and stream have them), or try again once the cluster runs normally\n",
			in->answered, (unsigned)pw_client_members(c));
		return EXIT_NO;
	case PW_E_TIMEOUT:
		if (in->answered == 0)
			fprintf(stderr, "pwctl snapshot save: no member answered; fix: check that the cluster runs and its addresses in the cluster file (pwctl status)\n");
		else
			fprintf(stderr, "pwctl snapshot save: the transfer stalled or kept starting over (%u restarts, %" PRIu64 " requests, last from member %d); fix: try again, with a longer --timeout\n",
				in->restarts, in->requests, in->member);
		return EXIT_UNKNOWN;
	case PW_E_PROTOCOL:
		fprintf(stderr, "pwctl snapshot save: the snapshot of slot %" PRIu64 " from member %d kept failing its hash (%u restarts)\n",
			in->slot, in->member, in->restarts);
		return EXIT_UNKNOWN;
	case PW_E_BUFFER:
		fprintf(stderr, "pwctl snapshot save: cannot allocate %" PRIu64 " bytes for the snapshot\n",
			in->len);
		return EXIT_USAGE;
	case PW_E_SYS:
		fprintf(stderr, "pwctl snapshot save: %s: %s\n", pw_strerror(rc), strerror(errno));
		return EXIT_USAGE;
	default:
		fprintf(stderr, "pwctl snapshot save: %s\n", pw_strerror(rc));
		return EXIT_USAGE;
	}
}

/**
 * pwctl snapshot save FILE: the highest commit point a member reports first (the
 * leader's: every write acknowledged before now is at or below it), then a snapshot
 * that holds it from a member (pw_snapshot_fetch), then FILE in the backup format
 * (wire/wire_backup.h), written as FILE.tmp, fsynced, renamed over FILE, its dir
 * fsynced. FILE.tmp is created before the fetch, so that an unwritable place fails at
 * once; it is removed on any failure.
 */
static int cmd_snapshot_save(struct pw_client *c, const char *path)
{
	struct pw_member_status st[PW_MEMBERS_MAX];
	struct pw_snapshot_info info;
	struct snap_buf b = { NULL, 0 };
	char tmp[4096], js[PW_REPLY_BYTES_MAX + 1];
	uint8_t hdr[WIRE_BACKUP_HDR_BYTES];
	uint64_t min_slot = 0;
	const char *what = "write";
	int code = EXIT_USAGE, rc;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		fprintf(stderr, "pwctl snapshot save: %s: path too long\n", path);
		return EXIT_USAGE;
	}
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "pwctl snapshot save: cannot create %s: %s; fix: a path in a directory this user can write, with room for the snapshot\n",
			tmp, strerror(errno));
		return EXIT_USAGE;
	}
	/* The commit point now: the highest any member reports (the leader's, if it
	 * answers). Every write acknowledged before this command is at or below it. */
	rc = pw_probe(c, st);
	if (rc != PW_OK) {
		fprintf(stderr, "pwctl snapshot save: %s: %s\n", pw_strerror(rc), strerror(errno));
		goto out;
	}
	for (uint8_t i = 0; i < pw_client_members(c); i++) {
		size_t jl = 0;
		const char *pc;
		uint64_t cm = 0;

		if (st[i].answered && pw_member_stats(c, i, js, sizeof(js), &jl) == PW_OK &&
		    (pc = strstr(js, "\"commit\":")) != NULL &&
		    sscanf(pc, "\"commit\":%" SCNu64, &cm) == 1 && cm > min_slot)
			min_slot = cm;
	}
	double t0 = mono_s();
	rc = pw_snapshot_fetch(c, min_slot, snap_buf_for, &b, &info);
	double dt = mono_s() - t0;
	if (rc != PW_OK) {
		code = snapshot_failed(c, rc, &info);
		goto out;
	}
	/* The snapshot names its own slot (consensus/px_apply.h: "PXSNAP05", or "PXSNAP04",
	 * "PXSNAP03", "PXSNAP02" or "PXSNAP01"
	 * from a member of an older build, then the slot as u64): it must be the one the
	 * member announced. */
	if (info.len < 16 ||
	    (memcmp(b.p, "PXSNAP05", 8) != 0 && memcmp(b.p, "PXSNAP04", 8) != 0 &&
	     memcmp(b.p, "PXSNAP03", 8) != 0 &&
	     memcmp(b.p, "PXSNAP02", 8) != 0 &&
	     memcmp(b.p, "PXSNAP01", 8) != 0) ||
	    wire_ld64(b.p + 8) != info.slot) {
		fprintf(stderr, "pwctl snapshot save: member %d served %" PRIu64 " bytes that are no snapshot of slot %" PRIu64 "; nothing written\n",
			info.member, info.len, info.slot);
		code = EXIT_UNKNOWN;
		goto out;
	}
	struct wire_backup_hdr h = {
		.version = WIRE_BACKUP_VERSION,
		.cluster_id = info.cluster_id,
		.slot = info.slot,
		.id = info.id,
		.len = info.len,
		.created_s = (uint64_t)time(NULL),
	};
	wire_backup_encode(&h, hdr);
	rc = write_all(fd, hdr, sizeof(hdr));
	if (rc == 0)
		rc = write_all(fd, b.p, info.len);
	if (rc == 0 && fsync(fd) != 0) {
		rc = -errno;
		what = "fsync";
	}
	if (close(fd) != 0 && rc == 0) {
		rc = -errno;
		what = "close";
	}
	fd = -1;
	if (rc == 0 && rename(tmp, path) != 0) {
		rc = -errno;
		what = "rename to the backup's name of";
	}
	if (rc != 0) {
		fprintf(stderr, "pwctl snapshot save: %s %s: %s; fix: a path with room for %" PRIu64 " bytes, writable by this user\n",
			what, tmp, strerror(-rc), (uint64_t)sizeof(hdr) + info.len);
		goto out;
	}
	rc = fsync_dir_of(path);
	if (rc != 0)
		fprintf(stderr, "pwctl snapshot save: warning: fsync of the directory of %s: %s (the file is whole; the rename may not survive a power loss)\n",
			path, strerror(-rc));
	printf("snapshot of slot %" PRIu64 ": %" PRIu64 " bytes from member %d (%s) in %.3f s, %.1f MB/s (%" PRIu64 " requests, %" PRIu64 " resent, %u restarts) -> %s\n",
	       info.slot, info.len, info.member, st[info.member].addr, dt,
	       dt > 0 ? (double)info.len / dt / 1e6 : 0.0, info.requests, info.resends,
	       info.restarts, path);
	code = EXIT_DONE;
out:
	if (fd >= 0)
		close(fd);
	if (code != EXIT_DONE)
		unlink(tmp);
	free(b.p);
	return code;
}


/* ---- membership (docs/operations.md, "Membership changes") ------------------------ */

static const char help_members[] =
"usage: pwctl [--config FILE ...] members [--json]\n"
"\n"
"The membership as the leader knows it (any member's if none leads): the configuration\n"
"in force (epoch), a pending change (its epoch and the slot it takes effect at), and\n"
"each member: id, address (as the log names it; the cluster file's for initial voters\n"
"the log has not named), role and lag (slots behind the leader's commit point; only\n"
"the leader knows it). Roles: voter; learner (receives the log, does not vote; the\n"
"leader promotes it once it is within 64 slots); leaving (in force, gone once the\n"
"pending change is); joining (in the pending change only). --json: the member's answer\n"
"as it is. Any client key may ask. Exit 0, or 2 if no member answered.\n";

static const char help_add[] =
"usage: pwctl [--config FILE ...] add-member ID IP:PORT [--voter] [--wait MS]\n"
"\n"
"Adds replica ID, reached at IP:PORT, to the running cluster (durable mode). Start it\n"
"first on its host: paxwired --config FILE --id ID --data-dir DIR --join, with a\n"
"[replica.ID] section for it in FILE. ID: 0..8, an id no replica ever ran with. The\n"
"leader proposes the change through the log; it takes effect alpha (pipeline_slots)\n"
"slots after it is chosen (the leader fills them with no-ops if clients do not).\n"
"The new replica joins as a learner, fetches the state (a snapshot), catches up, and\n"
"the leader promotes it to voter by itself once it is within 64 slots of the commit\n"
"point. Waits until the change is in force and nothing is pending; --voter: until ID\n"
"is a voter. --wait MS bounds the wait (default 60000). Needs an admin key.\n"
"Limits: 3..9 voters, at most 4 learners, one change at a time (a change under way:\n"
"exit 1, try again once it is in force), not on a memif mesh (link.J ports).\n"
"Exit 0: in force (a voter with --voter); 1: refused, nothing changed; 2: no answer,\n"
"or not in force within --wait (pwctl members tells where it stands).\n";

static const char help_remove[] =
"usage: pwctl [--config FILE ...] remove-member ID [--wait MS]\n"
"\n"
"Removes replica ID (voter or learner) from the running cluster; at least three voters\n"
"stay. Removing the leader: it hands leadership to a caught-up voter once the change\n"
"is in force. Waits until the change is in force and nothing is pending (--wait MS,\n"
"default 60000). Stop the removed replica's process afterwards; never start a replica\n"
"with its id again while that process may run. Needs an admin key.\n"
"Exit codes as add-member.\n";

static const char help_replace[] =
"usage: pwctl [--config FILE ...] replace-member OLD NEW IP:PORT [--wait MS]\n"
"\n"
"Replaces replica OLD (a dead box, say) by NEW at IP:PORT: add-member NEW IP:PORT\n"
"--voter (NEW started first with paxwired --join), then remove-member OLD. Each step\n"
"waits up to --wait MS (default 60000). A replace that stopped half-way can be run\n"
"again: a step already done is not repeated. Needs an admin key.\n"
"Exit codes as add-member.\n";

/** A member of ms by id, or NULL. */
static const struct pw_member_info *member_in(const struct pw_membership *ms, uint8_t id)
{
	for (uint8_t k = 0; k < ms->n; k++)
		if (ms->m[k].id == id)
			return &ms->m[k];
	return NULL;
}

static int cmd_members(struct pw_client *c, bool json)
{
	struct pw_membership ms;
	char js[PW_REPLY_BYTES_MAX + 1];
	size_t jl = 0;
	int rc = pw_members(c, -1, &ms, js, sizeof(js), &jl);

	if (rc != PW_OK) {
		char eb[256];
		fprintf(stderr, "pwctl members: %s\n", err_text("members", rc, eb, sizeof(eb)));
		return rc == PW_E_SYS ? EXIT_USAGE : EXIT_UNKNOWN;
	}
	if (json) {
		printf("%s\n", js);
		return EXIT_DONE;
	}
	char leader[16] = "unknown";
	if (ms.leader >= 0)
		snprintf(leader, sizeof(leader), "%d", ms.leader);
	printf("epoch %u in force (alpha %u slots), leader %s, commit %" PRIu64 " (member %d's view)",
	       ms.epoch, ms.alpha, leader, ms.commit, ms.from);
	if (ms.next_epoch != 0)
		printf("; pending: epoch %u from slot %" PRIu64, ms.next_epoch, ms.next_from_slot);
	printf("\n%-4s %-22s %-8s %s\n", "id", "address", "role", "lag");
	for (uint8_t k = 0; k < ms.n; k++) {
		const struct pw_member_info *m = &ms.m[k];
		const char *a = m->addr[0] != '\0' ? m->addr : pw_client_member_addr(c, m->id);
		char lag[24] = "-";
		if (m->has_lag)
			snprintf(lag, sizeof(lag), "%" PRIu64, m->lag);
		printf("%-4u %-22s %-8s %s\n", (unsigned)m->id, a != NULL ? a : "?", m->role, lag);
	}
	return EXIT_DONE;
}

static double now_ms(void)
{
	return mono_s() * 1e3;
}

static void nap_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000u, .tv_nsec = (long)(ms % 1000u) * 1000000L };
	nanosleep(&ts, NULL);
}

enum wait_for { W_IN_FORCE, W_VOTER, W_GONE };

/**
 * Polls the membership (pw_members: the leader's view) every 100 ms until epoch >= want
 * with nothing pending and, for W_VOTER, id a voter; for W_GONE, id no member. At most
 * wait_ms. @return EXIT_DONE, or EXIT_UNKNOWN (said why).
 */
static int wait_members(struct pw_client *c, const char *cmd, enum wait_for w, uint8_t id,
			uint32_t want, uint32_t wait_ms, struct pw_membership *ms)
{
	double end = now_ms() + wait_ms;
	bool have = false;

	for (;;) {
		if (pw_members(c, -1, ms, NULL, 0, NULL) == PW_OK) {
			have = true;
			const struct pw_member_info *m = member_in(ms, id);
			bool done = ms->epoch >= want && ms->next_epoch == 0;
			if (w == W_VOTER)
				done = done && m != NULL && strcmp(m->role, "voter") == 0;
			if (w == W_GONE)
				done = done && m == NULL;
			if (done)
				return EXIT_DONE;
		}
		if (now_ms() >= end)
			break;
		nap_ms(100);
	}
	if (!have) {
		fprintf(stderr, "pwctl %s: no member answered for %u ms; the change may or may not be in force (pwctl members)\n",
			cmd, wait_ms);
		return EXIT_UNKNOWN;
	}
	const struct pw_member_info *m = member_in(ms, id);
	char pending[48] = "nothing pending";
	if (ms->next_epoch != 0)
		snprintf(pending, sizeof(pending), "epoch %u pending", ms->next_epoch);
	fprintf(stderr, "pwctl %s: not done within %u ms: epoch %u in force (the change's is %u), %s, member %u is %s%s; see pwctl members%s\n",
		cmd, wait_ms, ms->epoch, want, pending, (unsigned)id,
		m != NULL ? "a " : "no member", m != NULL ? m->role : "",
		w == W_VOTER && m != NULL && strcmp(m->role, "learner") == 0
			? " (a learner is promoted once within 64 slots of the commit point: is its paxwired running and fetching the state? its log says)"
			: "");
	return EXIT_UNKNOWN;
}

/** An add or remove the leader answered BUSY (a change under way) or refused: said,
 *  nothing changed. */
static int change_refused(const char *cmd, int rc, const struct pw_change *ch, const char *more)
{
	if (rc == PW_E_BUSY)
		fprintf(stderr, "pwctl %s: a change is under way (%s); nothing changed: wait until it is in force (pwctl members), then try again\n",
			cmd, ch->error);
	else
		fprintf(stderr, "pwctl %s: refused by the leader (member %d): %s%s\n", cmd,
			ch->leader, ch->error, more);
	return EXIT_NO;
}

/** add-member: 0 (in force), or an exit code. *epoch: the change's. */
static int do_add(struct pw_client *c, const char *cmd, uint8_t id, const char *addr,
		  bool voter, uint32_t wait_ms)
{
	struct pw_change ch;
	struct pw_membership ms;
	double t0 = now_ms();
	int rc = pw_add_member(c, id, addr, &ch);
	uint32_t want = ch.epoch;

	if (rc == PW_E_BUSY || rc == PW_E_BAD_COMMAND) {
		/* A resend's answer, or a replace run again: is ID there already, at ADDR? */
		const struct pw_member_info *m = NULL;
		if (pw_members(c, -1, &ms, NULL, 0, NULL) == PW_OK)
			m = member_in(&ms, id);
		if (m != NULL && (m->addr[0] == '\0' || strcmp(m->addr, addr) == 0)) {
			printf("member %u is already %s (%s)\n", (unsigned)id,
			       strcmp(m->role, "joining") == 0 ? "being added" : "a member", m->role);
			want = ms.next_epoch != 0 ? ms.next_epoch : ms.epoch;
			rc = PW_OK;
		} else {
			return change_refused(cmd, rc, &ch, "");
		}
	} else if (rc != PW_OK) {
		fprintf(stderr, "pwctl %s: %s%s\n", cmd, pw_strerror(rc),
			rc == PW_E_INVAL ? " (ID 0..8, IP:PORT 1..31 printable characters)" : "");
		return rc == PW_E_INVAL ? EXIT_USAGE : exit_for(rc);
	} else {
		printf("add member %u at %s: proposed at slot %" PRIu64 " by leader %d (epoch %u)\n",
		       (unsigned)id, addr, ch.slot, ch.leader, ch.epoch);
	}
	fflush(stdout);
	int code = wait_members(c, cmd, voter ? W_VOTER : W_IN_FORCE, id, want, wait_ms, &ms);
	if (code != EXIT_DONE)
		return code;
	const struct pw_member_info *m = member_in(&ms, id);
	printf("member %u is a %s at epoch %u (%.1f s)%s\n", (unsigned)id,
	       m != NULL ? m->role : "?", ms.epoch, (now_ms() - t0) / 1e3,
	       m != NULL && strcmp(m->role, "learner") == 0
		       ? "; the leader promotes it to voter once it has caught up (pwctl members)"
		       : "");
	return EXIT_DONE;
}

static int do_remove(struct pw_client *c, const char *cmd, uint8_t id, uint32_t wait_ms)
{
	struct pw_change ch;
	struct pw_membership ms;
	double t0 = now_ms();
	int rc = pw_remove_member(c, id, &ch);
	uint32_t want = ch.epoch;

	if (rc == PW_E_BUSY || rc == PW_E_BAD_COMMAND) {
		const struct pw_member_info *m = (const struct pw_member_info *)1;
		bool got = pw_members(c, -1, &ms, NULL, 0, NULL) == PW_OK;
		if (got)
			m = member_in(&ms, id);
		if (got && (m == NULL || strcmp(m->role, "leaving") == 0) && rc == PW_E_BUSY) {
			printf("member %u is already leaving\n", (unsigned)id);
			want = ms.next_epoch != 0 ? ms.next_epoch : ms.epoch;
			rc = PW_OK;
		} else {
			return change_refused(cmd, rc, &ch,
					      got && m == NULL ? " (it is no member now: removed already?)"
							       : "");
		}
	} else if (rc != PW_OK) {
		fprintf(stderr, "pwctl %s: %s\n", cmd, pw_strerror(rc));
		return rc == PW_E_INVAL ? EXIT_USAGE : exit_for(rc);
	} else {
		printf("remove member %u: proposed at slot %" PRIu64 " by leader %d (epoch %u)\n",
		       (unsigned)id, ch.slot, ch.leader, ch.epoch);
	}
	fflush(stdout);
	int code = wait_members(c, cmd, W_GONE, id, want, wait_ms, &ms);
	if (code != EXIT_DONE)
		return code;
	printf("member %u removed: epoch %u in force, leader %d (%.1f s); stop its paxwired now\n",
	       (unsigned)id, ms.epoch, ms.leader, (now_ms() - t0) / 1e3);
	return EXIT_DONE;
}

/** Parses an id 0..8. */
static bool parse_id(const char *cmd, const char *s, uint8_t *id)
{
	uint32_t v;

	if (!parse_u32(s, &v) || v >= PW_MEMBERS_MAX) {
		fprintf(stderr, "pwctl %s: \"%s\" is not a replica id (0..%d)\n", cmd, s,
			PW_MEMBERS_MAX - 1);
		return false;
	}
	*id = (uint8_t)v;
	return true;
}

/**
 * members, add-member, remove-member, replace-member: their flags (--json, --voter,
 * --wait MS, --help) anywhere among their arguments, the rest positional.
 */
static int cmd_membership(struct pw_client *c, int argc, char **argv)
{
	const char *cmd = argv[0];
	const char *pos[4];
	int npos = 0;
	bool json = false, voter = false;
	uint32_t wait_ms = 60000;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0 && strcmp(cmd, "members") == 0) {
			json = true;
		} else if (strcmp(argv[i], "--voter") == 0 && strcmp(cmd, "add-member") == 0) {
			voter = true;
		} else if (strcmp(argv[i], "--wait") == 0 && i + 1 < argc &&
			   strcmp(cmd, "members") != 0) {
			if (!parse_u32(argv[++i], &wait_ms) || wait_ms == 0) {
				fprintf(stderr, "pwctl %s: --wait: milliseconds > 0\n", cmd);
				return EXIT_USAGE;
			}
		} else if (argv[i][0] == '-' && argv[i][1] == '-') {
			fprintf(stderr, "pwctl %s: unknown option %s (pwctl %s --help)\n", cmd, argv[i],
				cmd);
			return EXIT_USAGE;
		} else if (npos < 4) {
			pos[npos++] = argv[i];
		} else {
			npos++;
		}
	}
	uint8_t id, id2;
	if (strcmp(cmd, "members") == 0) {
		if (npos != 0) {
			fprintf(stderr, "pwctl members: no arguments (pwctl members --help)\n");
			return EXIT_USAGE;
		}
		return cmd_members(c, json);
	}
	if (strcmp(cmd, "add-member") == 0) {
		if (npos != 2) {
			fprintf(stderr, "pwctl add-member: expected ID IP:PORT (pwctl add-member --help)\n");
			return EXIT_USAGE;
		}
		if (!parse_id(cmd, pos[0], &id))
			return EXIT_USAGE;
		return do_add(c, cmd, id, pos[1], voter, wait_ms);
	}
	if (strcmp(cmd, "remove-member") == 0) {
		if (npos != 1) {
			fprintf(stderr, "pwctl remove-member: expected ID (pwctl remove-member --help)\n");
			return EXIT_USAGE;
		}
		if (!parse_id(cmd, pos[0], &id))
			return EXIT_USAGE;
		return do_remove(c, cmd, id, wait_ms);
	}
	/* replace-member OLD NEW IP:PORT */
	if (npos != 3) {
		fprintf(stderr, "pwctl replace-member: expected OLD NEW IP:PORT (pwctl replace-member --help)\n");
		return EXIT_USAGE;
	}
	if (!parse_id(cmd, pos[0], &id) || !parse_id(cmd, pos[1], &id2))
		return EXIT_USAGE;
	if (id == id2) {
		fprintf(stderr, "pwctl replace-member: OLD and NEW are both %u: a replacement takes a new id (never reuse one while the old process may run)\n",
			(unsigned)id);
		return EXIT_USAGE;
	}
	struct pw_membership ms;
	int rc = pw_members(c, -1, &ms, NULL, 0, NULL);
	if (rc != PW_OK) {
		char eb[256];
		fprintf(stderr, "pwctl replace-member: the membership: %s; nothing changed\n",
			err_text("members", rc, eb, sizeof(eb)));
		return exit_for(rc);
	}
	const struct pw_member_info *old = member_in(&ms, id), *nw = member_in(&ms, id2);
	if (old == NULL && nw != NULL && strcmp(nw->role, "voter") == 0) {
		printf("member %u is a voter and %u is no member: the replacement is done\n",
		       (unsigned)id2, (unsigned)id);
		return EXIT_DONE;
	}
	if (old == NULL) {
		fprintf(stderr, "pwctl replace-member: %u is no member (pwctl members)\n", (unsigned)id);
		return EXIT_NO;
	}
	printf("replace member %u by %u at %s: step 1, add %u and wait until it is a voter\n",
	       (unsigned)id, (unsigned)id2, pos[2], (unsigned)id2);
	fflush(stdout);
	int code = do_add(c, cmd, id2, pos[2], true, wait_ms);
	if (code != EXIT_DONE)
		return code;
	printf("replace member %u by %u: step 2, remove %u\n", (unsigned)id, (unsigned)id2,
	       (unsigned)id);
	fflush(stdout);
	code = do_remove(c, cmd, id, wait_ms);
	if (code == EXIT_DONE)
		printf("member %u replaced by %u\n", (unsigned)id, (unsigned)id2);
	return code;
}

/** COMMAND --help for the membership commands: the text, or NULL for other commands. */
static const char *command_help(const char *cmd)
{
	if (strcmp(cmd, "members") == 0)
		return help_members;
	if (strcmp(cmd, "add-member") == 0)
		return help_add;
	if (strcmp(cmd, "remove-member") == 0)
		return help_remove;
	if (strcmp(cmd, "replace-member") == 0)
		return help_replace;
	return NULL;
}

/** pwctl metrics: every member's metrics, every page, in the Prometheus text format
 *  (client/pw_metrics.c; docs/metrics.md). Exit 2 if a member did not answer (its
 *  paxwire_member_up is 0 then). */
static int cmd_metrics(struct pw_client *c)
{
	struct pwm_set *m = pwm_new();
	if (m == NULL) {
		fprintf(stderr, "pwctl metrics: out of memory\n");
		return EXIT_USAGE;
	}
	unsigned asked = 0;
	for (uint8_t i = 0; i < pw_client_members(c); i++)
		asked += pw_client_member_addr(c, i) != NULL;
	fflush(stdout);
	unsigned ok = pwm_collect(m, c, stderr);
	pwm_write(m, stdout);
	pwm_free(m);
	return ok == asked ? EXIT_DONE : EXIT_UNKNOWN;
}

/** Runs one command; argv[0] is its name. Returns the exit code. */
static int run(struct pw_client *c, int argc, char **argv)
{
	const char *cmd = argv[0];
	uint8_t buf[PW_REPLY_BYTES_MAX];
	uint64_t off, next;
	uint32_t max = PW_REPLY_BYTES_MAX;
	size_t len;
	int rc;

#define NEED(n)                                                                           \
	do {                                                                              \
		if (argc != (n) + 1) {                                                    \
			fprintf(stderr, "pwctl %s: expected %d argument%s (pwctl %s --help)\n", \
				cmd, (n), (n) == 1 ? "" : "s", cmd);                      \
			return EXIT_USAGE;                                                \
		}                                                                         \
	} while (0)

	if (strcmp(cmd, "put") == 0) {
		NEED(2);
		return report_kv_write(cmd, pw_put(c, argv[1], strlen(argv[1]), argv[2],
						   strlen(argv[2])),
				       strlen(argv[1]), strlen(argv[2]), 0);
	}
	if (strcmp(cmd, "get") == 0) {
		NEED(1);
		rc = pw_get(c, argv[1], strlen(argv[1]), buf, sizeof(buf), &len);
		if (rc == PW_OK) {
			fwrite(buf, 1, len, stdout);
			putchar('\n');
		}
		return report(cmd, rc);
	}
	if (strcmp(cmd, "del") == 0) {
		NEED(1);
		return report(cmd, pw_del(c, argv[1], strlen(argv[1])));
	}
	if (strcmp(cmd, "cas") == 0) {
		bool absent;

		NEED(3);
		absent = strcmp(argv[2], "-") == 0;
		rc = pw_cas(c, argv[1], strlen(argv[1]), absent ? NULL : argv[2],
			    absent ? 0 : strlen(argv[2]), argv[3], strlen(argv[3]));
		return report_kv_write(cmd, rc, strlen(argv[1]), strlen(argv[3]),
				       absent ? 0 : strlen(argv[2]));
	}
	if (strcmp(cmd, "append") == 0) {
		NEED(1);
		rc = pw_append(c, argv[1], strlen(argv[1]), &off);
		if (rc == PW_OK)
			printf("%" PRIu64 "\n", off);
		if (rc == PW_E_TOO_LARGE) {
			fprintf(stderr, "pwctl append: the record is %zu bytes; one record carries at "
				"most %u (PW_RECORD_BYTES_MAX: it must fit one read reply); nothing "
				"sent\n", strlen(argv[1]), (unsigned)PW_RECORD_BYTES_MAX);
			return EXIT_USAGE;
		}
		return report(cmd, rc);
	}
	if (strcmp(cmd, "read") == 0) {
		if (argc != 2 && argc != 3) {
			fprintf(stderr, "pwctl read: expected OFFSET [MAX] (pwctl --help)\n");
			return EXIT_USAGE;
		}
		if (!parse_u64(argv[1], &off) || (argc == 3 && !parse_u32(argv[2], &max))) {
			fprintf(stderr, "pwctl read: OFFSET and MAX are unsigned numbers\n");
			return EXIT_USAGE;
		}
		rc = pw_read(c, off, max, print_record, NULL, &next);
		if (rc == PW_OK || rc == PW_E_TRUNCATED || rc == PW_E_BEYOND)
			fprintf(stderr, "%s offset: %" PRIu64 "\n",
				rc == PW_OK ? "next" : rc == PW_E_TRUNCATED ? "oldest held" :
				"end of stream", next);
		return report(cmd, rc);
	}
	if (strcmp(cmd, "status") == 0 || strcmp(cmd, "leader") == 0) {
		NEED(0);
		return cmd_status(c, cmd, NULL, g_admin);
	}
	if (strcmp(cmd, "is-leader") == 0) {
		NEED(1);
		return cmd_status(c, cmd, argv[1], g_admin);
	}
	if (strcmp(cmd, "stats") == 0) {
		if (argc > 2) {
			fprintf(stderr, "pwctl stats: at most one member id\n");
			return EXIT_USAGE;
		}
		uint8_t lo = 0, hi = pw_client_members(c), one;
		bool all = argc == 1;
		if (argc == 2) {
			if (!parse_member(c, argv[1], &one))
				return EXIT_USAGE;
			lo = one;
			hi = (uint8_t)(one + 1u);
		}
		int worst = EXIT_DONE;
		for (uint8_t i = lo; i < hi; i++) {
			char js[PW_REPLY_BYTES_MAX + 1];
			size_t jl = 0;
			if (all && pw_client_member_addr(c, i) == NULL)
				continue;
			rc = pw_member_stats(c, i, js, sizeof(js), &jl);
			if (rc == PW_OK) {
				printf("%s\n", js);
				continue;
			}
			char eb[256];
			fprintf(stderr, "pwctl stats: member %u: %s\n", (unsigned)i,
				err_text(cmd, rc, eb, sizeof(eb)));
			worst = exit_for(rc) > worst ? exit_for(rc) : worst;
		}
		return worst;
	}
	if (strcmp(cmd, "metrics") == 0) {
		NEED(0);
		return cmd_metrics(c);
	}
	if (strcmp(cmd, "transfer-leader") == 0) {
		NEED(1);
		char *end = NULL;
		unsigned long n = strtoul(argv[1], &end, 10);
		if (argv[1][0] < '0' || argv[1][0] > '9' || *end != '\0' ||
		    n >= PW_MEMBERS_MAX) {
			fprintf(stderr, "pwctl transfer-leader: %s is not a member id (0..%u)\n",
				argv[1], PW_MEMBERS_MAX - 1u);
			return EXIT_USAGE;
		}
		int code = transfer_check(c, (uint8_t)n);
		if (code >= 0)
			return code;
		rc = pw_transfer_leader(c, (uint8_t)n);
		if (rc == PW_OK)
			printf("leader is now %lu\n", n);
		return report(cmd, rc);
	}
	if (command_help(cmd) != NULL)
		return cmd_membership(c, argc, argv);
	if (strcmp(cmd, "snapshot") == 0) {
		if (argc != 3 || strcmp(argv[1], "save") != 0) {
			fprintf(stderr, "pwctl snapshot: expected \"snapshot save FILE\" (pwctl --help)\n");
			return EXIT_USAGE;
		}
		return cmd_snapshot_save(c, argv[2]);
	}
	fprintf(stderr, "pwctl: unknown command \"%s\" (pwctl --help)\n", cmd);
	return EXIT_USAGE;
#undef NEED
}

/** Admin commands (stats, transfer-leader, snapshot, membership changes) need an admin key: a client key
 *  is refused here, with the fix, rather than ignored by the members (no reply). */
static bool admin_key_ok(const struct pw_client_opts *o, const char *cmd)
{
	const char *path = o->key_file != NULL ? o->key_file : getenv("PAXWIRE_KEY_FILE");
	struct auth_keys k;
	char err[512];

	if (path == NULL || path[0] == 0)
		return true;
	if (auth_init() != 0 || auth_keys_load(path, &k, err, sizeof(err)) != 0)
		return true;   /* pw_client_open says what is wrong with it */
	g_admin = k.kind != AUTH_KIND_CLIENT;   /* status asks stats only then */
	bool ok = g_admin ||
		  (strcmp(cmd, "stats") != 0 && strcmp(cmd, "metrics") != 0 &&
		   strcmp(cmd, "transfer-leader") != 0 && strcmp(cmd, "snapshot") != 0 && strcmp(cmd, "add-member") != 0 &&
		   strcmp(cmd, "remove-member") != 0 && strcmp(cmd, "replace-member") != 0);
	if (!ok)
		fprintf(stderr, "pwctl %s: an admin command, and %s is a client key (id %u); fix: "
			"--key ADMIN_KEY (pwctl keygen --admin ID --from CLUSTER_KEY FILE) or the "
			"cluster key\n", cmd, path, k.id);
	sodium_memzero(&k, sizeof(k));
	return ok;
}

/** pwctl keygen ...: writes a key file (docs/security.md, "Keys"). */
static int keygen(int argc, char **argv)
{
	enum { NEW, CLIENT, ADMIN, ROTATE, RETIRE } what = NEW;
	const char *from = NULL, *out = NULL;
	uint32_t id = 0;
	char err[512];
	struct auth_keys k, src;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		bool has_next = i + 1 < argc;
		if ((strcmp(a, "--client") == 0 || strcmp(a, "--admin") == 0) && has_next) {
			what = a[2] == 'c' ? CLIENT : ADMIN;
			if (!parse_u32(argv[++i], &id) || id == 0 || id > AUTH_CLIENT_ID_MAX) {
				fprintf(stderr, "pwctl keygen: %s %s: an id in 1..%u\n", a, argv[i],
					AUTH_CLIENT_ID_MAX);
				return EXIT_USAGE;
			}
		} else if (strcmp(a, "--from") == 0 && has_next) {
			from = argv[++i];
		} else if ((strcmp(a, "--rotate") == 0 || strcmp(a, "--retire") == 0) && has_next) {
			what = strcmp(a, "--rotate") == 0 ? ROTATE : RETIRE;
			from = argv[++i];
		} else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			return EXIT_DONE;
		} else if (a[0] != '-' && out == NULL) {
			out = a;
		} else {
			fprintf(stderr, "pwctl keygen: unexpected '%s'; fix: see pwctl --help\n", a);
			return EXIT_USAGE;
		}
	}
	if (out == NULL || (what != NEW && from == NULL) || (what == NEW && from != NULL)) {
		fprintf(stderr, "pwctl keygen: usage: keygen FILE | keygen --client ID --from "
			"CLUSTER_KEY FILE | keygen --admin ID --from CLUSTER_KEY FILE | keygen "
			"--rotate CLUSTER_KEY FILE | keygen --retire CLUSTER_KEY FILE\n");
		return EXIT_USAGE;
	}
	if (auth_init() != 0) {
		fprintf(stderr, "pwctl keygen: libsodium failed to initialise\n");
		return EXIT_USAGE;
	}
	if (from != NULL) {
		if (auth_keys_load(from, &src, err, sizeof(err)) != 0) {
			fprintf(stderr, "pwctl keygen: %s\n", err);
			return EXIT_USAGE;
		}
		if (src.kind != AUTH_KIND_CLUSTER) {
			fprintf(stderr, "pwctl keygen: %s is a client key file; fix: the cluster key "
				"(the replicas' key_file)\n", from);
			return EXIT_USAGE;
		}
	}
	switch (what) {
	case NEW:
		auth_keys_generate(&k, 1);
		break;
	case CLIENT:
	case ADMIN:
		(void)auth_keys_derive_client(&src, what == ADMIN ? AUTH_ROLE_ADMIN
								 : AUTH_ROLE_CLIENT, id, &k);
		break;
	case ROTATE: {
		if (src.n != 1) {
			fprintf(stderr, "pwctl keygen --rotate: %s holds %u keys: a rotation is under "
				"way; fix: finish it first (pwctl keygen --retire)\n", from, src.n);
			return EXIT_USAGE;
		}
		struct auth_keys fresh;
		uint8_t gen = src.gen[0] == 255 ? 1 : (uint8_t)(src.gen[0] + 1u);
		auth_keys_generate(&fresh, gen);
		k = src;
		k.n = 2;
		k.send = 0;
		k.gen[1] = gen;
		memcpy(k.key[1], fresh.key[0], AUTH_KEY_BYTES);
		sodium_memzero(&fresh, sizeof(fresh));
		break;
	}
	case RETIRE:
		memset(&k, 0, sizeof(k));
		k.kind = AUTH_KIND_CLUSTER;
		k.n = 1;
		k.gen[0] = src.gen[src.send];
		memcpy(k.key[0], src.key[src.send], AUTH_KEY_BYTES);
		break;
	}
	int rc = auth_keys_write(out, &k, err, sizeof(err));
	sodium_memzero(&k, sizeof(k));
	sodium_memzero(&src, sizeof(src));
	if (rc != 0) {
		fprintf(stderr, "pwctl keygen: %s\n", err);
		return EXIT_USAGE;
	}
	return EXIT_DONE;
}

/** The options of every command (main's getopt), and whether each takes a value. */
static int global_opt(const char *a)
{
	static const char *const with_arg[] = { "--config", "--member", "--cluster", "--timeout",
						 "--attempt", "--history", "--key" };
	for (size_t i = 0; i < sizeof(with_arg) / sizeof(with_arg[0]); i++) {
		size_t n = strlen(with_arg[i]);
		if (strncmp(a, with_arg[i], n) == 0 && a[n] == '\0')
			return 2;   /* --config FILE */
		if (strncmp(a, with_arg[i], n) == 0 && a[n] == '=')
			return 1;   /* --config=FILE */
	}
	return 0;
}

/**
 * Options anywhere: out gets argv[0], every option of main's (and its value) wherever
 * it stood up to a "--", then "--", then the command and its arguments in their order
 * (a command's own flags, --json, --wait MS..., among them). Words after a "--" are
 * arguments, whatever they look like. *help: --help or -h after the command (its
 * help); *version: --version anywhere before a "--"; *bad: a word after the command
 * that looks like an option and is none (NULL if none). @return out's count.
 */
static int hoist_options(int argc, char **argv, char **out, bool *help, bool *version,
			 const char **bad)
{
	int n = 1, np = 0;
	bool literal = false;
	char **pos = out + argc + 1;   /* scratch: the second half of out */

	out[0] = argv[0];
	*help = *version = false;
	*bad = NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int g;
		if (literal) {
			pos[np++] = argv[i];
		} else if (strcmp(a, "--") == 0) {
			literal = true;
		} else if ((g = global_opt(a)) != 0) {
			out[n++] = argv[i];
			if (g == 2 && i + 1 < argc)
				out[n++] = argv[++i];
		} else if (strcmp(a, "--version") == 0) {
			*version = true;
		} else if (np > 0 && (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)) {
			*help = true;
		} else if (np == 0 && a[0] == '-' && a[1] != '\0') {
			out[n++] = argv[i];   /* before the command: getopt takes or refuses it */
		} else if (np > 0 && a[0] == '-' && a[1] == '-' && command_help(pos[0]) == NULL &&
			   *bad == NULL) {
			*bad = a;   /* the membership commands have flags of their own */
			pos[np++] = argv[i];
		} else {
			pos[np++] = argv[i];
		}
	}
	out[n++] = (char *)"--";
	for (int k = 0; k < np; k++)
		out[n++] = pos[k];
	out[n] = NULL;
	return n;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "member", required_argument, NULL, 'm' },
		{ "cluster", required_argument, NULL, 'i' },
		{ "timeout", required_argument, NULL, 't' },
		{ "attempt", required_argument, NULL, 'a' },
		{ "history", required_argument, NULL, 'H' },
		{ "key", required_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *members[PW_MEMBERS_MAX];
	const char *history_path = NULL;
	struct pw_client_opts o;
	struct pw_client *c;
	bool attempt_set = false;
	FILE *history = NULL;
	struct pw_history hist;
	uint32_t hist_client;
	char err[512] = "";
	int opt, rc;

	if (argc >= 2 && strcmp(argv[1], "keygen") == 0)
		return keygen(argc - 1, argv + 1);
	bool cmd_help, version;
	const char *bad;
	static char **av;   /* static: reachable until exit (no leak report) */
	av = calloc((size_t)argc * 2u + 2u, sizeof(*av));
	if (av == NULL) {
		fprintf(stderr, "pwctl: out of memory\n");
		return EXIT_USAGE;
	}
	argc = hoist_options(argc, argv, av, &cmd_help, &version, &bad);
	argv = av;
	if (version) {
		printf("pwctl (paxwire) %s\n", PW_VERSION);
		return EXIT_DONE;
	}
	pw_client_opts_default(&o);
	o.members = members;
	/* '+': stop at the command, so that its arguments may start with '-' (cas K - V). */
	while ((opt = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			o.config_path = optarg;
			break;
		case 'm':
			if (o.n_members == PW_MEMBERS_MAX) {
				fprintf(stderr, "pwctl: at most %d --member\n", PW_MEMBERS_MAX);
				return EXIT_USAGE;
			}
			members[o.n_members++] = optarg;
			break;
		case 'i':
			if (!parse_u32(optarg, &o.cluster_id)) {
				fprintf(stderr, "pwctl: --cluster: expected a u32\n");
				return EXIT_USAGE;
			}
			break;
		case 't':
			if (!parse_u32(optarg, &o.deadline_ms) || o.deadline_ms == 0) {
				fprintf(stderr, "pwctl: --timeout: expected milliseconds > 0\n");
				return EXIT_USAGE;
			}
			break;
		case 'a':
			if (!parse_u32(optarg, &o.attempt_timeout_ms) || o.attempt_timeout_ms == 0) {
				fprintf(stderr, "pwctl: --attempt: expected milliseconds > 0\n");
				return EXIT_USAGE;
			}
			attempt_set = true;
			break;
		case 'H':
			history_path = optarg;
			break;
		case 'k':
			o.key_file = optarg;
			break;
		case 'h':
			usage(stdout);
			return EXIT_DONE;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	/* COMMAND --help: its text, without a cluster file. */
	if (cmd_help) {
		const struct cmd_info *ci = cmd_find(argv[optind]);
		if (ci == NULL) {
			fprintf(stderr, "pwctl: unknown command \"%s\" (pwctl --help)\n", argv[optind]);
			return EXIT_USAGE;
		}
		fputs(ci->help != NULL ? ci->help : command_help(ci->name), stdout);
		return EXIT_DONE;
	}
	if (bad != NULL) {
		fprintf(stderr, "pwctl %s: unknown option %s (pwctl %s --help); an argument that "
			"starts with -- goes after \"--\": pwctl %s -- ARGS\n", argv[optind], bad,
			argv[optind], argv[optind]);
		return EXIT_USAGE;
	}

	if ((o.config_path == NULL) == (o.n_members == 0)) {
		fprintf(stderr, "pwctl: give either --config FILE or --member HOST:PORT "
			"(pwctl --help)\n");
		return EXIT_USAGE;
	}
	if (!attempt_set && o.attempt_timeout_ms > o.deadline_ms)
		o.attempt_timeout_ms = o.deadline_ms;

	if (!admin_key_ok(&o, argv[optind]))
		return EXIT_USAGE;
	g_timeout_ms = o.deadline_ms;
	g_config_path = o.config_path;
	c = pw_client_open(&o, err, sizeof(err));
	if (c == NULL) {
		fprintf(stderr, "pwctl: %s\n", err[0] != '\0' ? err : strerror(errno));
		return EXIT_USAGE;
	}
	if (history_path != NULL) {
		history = fopen(history_path, "a");
		if (history == NULL) {
			fprintf(stderr, "pwctl: --history %s: %s\n", history_path, strerror(errno));
			pw_client_close(c);
			return EXIT_USAGE;
		}
		/* A random client number, as every pwctl run is a client of its own. */
		rc = pw_history_client_random(&hist_client);
		if (rc != 0) {
			fprintf(stderr, "pwctl: --history: getrandom: %s\n", strerror(-rc));
			fclose(history);
			pw_client_close(c);
			return EXIT_USAGE;
		}
		pw_history_attach(&hist, c, history, hist_client);
	}
	rc = run(c, argc - optind, argv + optind);
	pw_client_close(c);
	if (history != NULL)
		fclose(history);
	if (fflush(stdout) != 0)
		return EXIT_USAGE;
	return rc;
}
