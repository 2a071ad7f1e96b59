/* SPDX-License-Identifier: Apache-2.0
 * lincheck: history storage, JSON Lines loader and the linearizability search.
 * See lincheck.h for the model and the semantics of each operation.
 */
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "env.h"
#include "lincheck.h"

#define LC_NONE UINT32_MAX
#define LC_INF UINT64_MAX       /* return time of an operation that may never return */
#define LC_ABSENT 0u            /* string id 0: "no value" */
#define LC_INTERN_SLOTS_MIN 1024u
#define LC_CACHE_SLOTS_MIN 1024u
#define LC_TIME_CHECK_MASK 0x3ffu   /* read the clock every 1024 search steps */

_Static_assert(LC_OPS_MAX < LC_NONE / 2, "entry indices (2 per op + 2 sentinels) fit u32");
_Static_assert(LC_STR_LEN_MAX < LC_LINE_LEN_MAX, "a string fits in a line");

/* ------------------------------------------------------------------------------ */
/* History                                                                          */

struct lc_str {
	size_t off;             /* into lc_history.bytes */
	uint32_t len;
};

/* One recorded operation. Strings are interned ids; LC_ABSENT where not present. */
struct lc_rec {
	uint64_t call_ns;
	uint64_t return_ns;     /* LC_INF when ok == -1 */
	uint32_t client;
	uint32_t line;
	uint32_t key;
	uint32_t value;
	uint32_t expect;
	uint32_t result;
	uint8_t op;
	int8_t ok;
};

struct lc_history {
	struct lc_rec *recs;
	size_t n_recs;
	size_t cap_recs;
	char *bytes;            /* interned string bytes, back to back */
	size_t n_bytes;
	size_t cap_bytes;
	/* Invariant: strs[0] is unused (id 0 is LC_ABSENT); ids are dense from 1. */
	struct lc_str *strs;
	uint32_t n_strs;        /* ids in use, including 0 */
	uint32_t cap_strs;
	/* Open-addressing set of ids, keyed by the bytes; 0 = empty. Load <= 1/2. */
	uint32_t *slots;
	size_t n_slots;         /* power of two */
};

static uint64_t
lc_mix64(uint64_t x)
{
	/* splitmix64 finaliser: full avalanche, so XOR-combined hashes stay uniform. */
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint64_t
lc_hash_bytes(const char *p, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;     /* FNV-1a, then mixed */

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)p[i];
		h *= 0x100000001b3ull;
	}
	return lc_mix64(h ^ len);
}

struct lc_history *
lc_history_new(void)
{
	struct lc_history *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return NULL;
	h->cap_strs = 64;
	h->strs = calloc(h->cap_strs, sizeof(*h->strs));
	h->n_slots = LC_INTERN_SLOTS_MIN;
	h->slots = calloc(h->n_slots, sizeof(*h->slots));
	h->cap_bytes = 4096;
	h->bytes = malloc(h->cap_bytes);
	if (h->strs == NULL || h->slots == NULL || h->bytes == NULL) {
		lc_history_free(h);
		errno = ENOMEM;
		return NULL;
	}
	h->n_strs = 1;
	return h;
}

void
lc_history_free(struct lc_history *h)
{
	if (h == NULL)
		return;
	free(h->recs);
	free(h->bytes);
	free(h->strs);
	free(h->slots);
	free(h);
}

static int
lc_intern_grow(struct lc_history *h)
{
	size_t n = h->n_slots * 2;
	uint32_t *s = calloc(n, sizeof(*s));

	if (s == NULL)
		return -ENOMEM;
	for (uint32_t id = 1; id < h->n_strs; id++) {
		const struct lc_str *st = &h->strs[id];
		size_t i = lc_hash_bytes(h->bytes + st->off, st->len) & (n - 1);

		while (s[i] != 0)
			i = (i + 1) & (n - 1);
		s[i] = id;
	}
	free(h->slots);
	h->slots = s;
	h->n_slots = n;
	return 0;
}

/* Returns the id of the string (adding it if new), or 0 with *rc = -ENOMEM. */
static uint32_t
lc_intern(struct lc_history *h, const char *p, size_t len, int *rc)
{
	size_t mask = h->n_slots - 1;
	size_t i = lc_hash_bytes(p, len) & mask;

	assert(len <= LC_STR_LEN_MAX);
	while (h->slots[i] != 0) {
		const struct lc_str *st = &h->strs[h->slots[i]];

		if (st->len == len && memcmp(h->bytes + st->off, p, len) == 0)
			return h->slots[i];
		i = (i + 1) & mask;
	}
	if (h->n_strs == UINT32_MAX - 1)
		goto nomem;
	if (h->n_strs == h->cap_strs) {
		struct lc_str *ns = realloc(h->strs, sizeof(*ns) * h->cap_strs * 2);

		if (ns == NULL)
			goto nomem;
		h->strs = ns;
		h->cap_strs *= 2;
	}
	if (h->n_bytes + len > h->cap_bytes) {
		size_t cap = h->cap_bytes;
		char *nb;

		while (cap < h->n_bytes + len)
			cap *= 2;
		nb = realloc(h->bytes, cap);
		if (nb == NULL)
			goto nomem;
		h->bytes = nb;
		h->cap_bytes = cap;
	}
	if (len > 0)
		memcpy(h->bytes + h->n_bytes, p, len);
	h->strs[h->n_strs].off = h->n_bytes;
	h->strs[h->n_strs].len = (uint32_t)len;
	h->n_bytes += len;
	h->slots[i] = h->n_strs++;
	/* Grow after inserting so that the slot index found above stays valid. */
	if ((size_t)h->n_strs * 2 > h->n_slots && lc_intern_grow(h) != 0)
		goto nomem;
	return h->n_strs - 1;
nomem:
	*rc = -ENOMEM;
	return 0;
}

/* Resolves the "length 0 means NUL-terminated" convention. */
static size_t
lc_len(const char *p, size_t len)
{
	return len == 0 ? strlen(p) : len;
}

int
lc_history_add(struct lc_history *h, const struct lc_event *ev)
{
	struct lc_rec r;
	int rc = 0;

	if (h == NULL || ev == NULL || ev->key == NULL)
		return -EINVAL;
	if (ev->op != LC_GET && ev->op != LC_PUT && ev->op != LC_DEL && ev->op != LC_CAS)
		return -EINVAL;
	if (ev->ok != 1 && ev->ok != 0 && ev->ok != -1)
		return -EINVAL;
	if (ev->ok != -1 && ev->return_ns < ev->call_ns)
		return -EINVAL;
	if ((ev->op == LC_PUT || ev->op == LC_CAS) && ev->value == NULL)
		return -EINVAL;
	if (lc_len(ev->key, ev->key_len) > LC_STR_LEN_MAX ||
			(ev->value && lc_len(ev->value, ev->value_len) > LC_STR_LEN_MAX) ||
			(ev->expect && lc_len(ev->expect, ev->expect_len) > LC_STR_LEN_MAX) ||
			(ev->result && lc_len(ev->result, ev->result_len) > LC_STR_LEN_MAX))
		return -EINVAL;
	if (h->n_recs >= LC_OPS_MAX)
		return -EINVAL;

	memset(&r, 0, sizeof(r));
	r.call_ns = ev->call_ns;
	r.return_ns = ev->ok == -1 ? LC_INF : ev->return_ns;
	r.client = ev->client;
	r.line = ev->line;
	r.op = (uint8_t)ev->op;
	r.ok = (int8_t)ev->ok;
	r.key = lc_intern(h, ev->key, lc_len(ev->key, ev->key_len), &rc);
	/* Only the fields the op carries are kept, so stale ones never reach the model. */
	if (ev->op == LC_PUT || ev->op == LC_CAS)
		r.value = lc_intern(h, ev->value, lc_len(ev->value, ev->value_len), &rc);
	if (ev->op == LC_CAS && ev->expect != NULL)
		r.expect = lc_intern(h, ev->expect, lc_len(ev->expect, ev->expect_len), &rc);
	if (ev->op == LC_GET && ev->result != NULL)
		r.result = lc_intern(h, ev->result, lc_len(ev->result, ev->result_len), &rc);
	if (rc != 0)
		return rc;

	if (h->n_recs == h->cap_recs) {
		size_t cap = h->cap_recs ? h->cap_recs * 2 : 256;
		struct lc_rec *nr = realloc(h->recs, cap * sizeof(*nr));

		if (nr == NULL)
			return -ENOMEM;
		h->recs = nr;
		h->cap_recs = cap;
	}
	h->recs[h->n_recs++] = r;
	return 0;
}

size_t
lc_history_size(const struct lc_history *h)
{
	return h->n_recs;
}

size_t
lc_history_key_count(const struct lc_history *h)
{
	uint8_t *seen = calloc(h->n_strs, 1);
	size_t n = 0;

	if (seen == NULL)
		return 0;
	for (size_t i = 0; i < h->n_recs; i++) {
		if (!seen[h->recs[i].key]) {
			seen[h->recs[i].key] = 1;
			n++;
		}
	}
	free(seen);
	return n;
}

static void
lc_str_get(const struct lc_history *h, uint32_t id, const char **p, size_t *len)
{
	if (id == LC_ABSENT) {
		*p = NULL;
		*len = 0;
		return;
	}
	/* The empty string is returned as "" so that the "length 0 means NUL-terminated"
	 * convention of lc_event still reads it right if the event is added again. */
	*len = h->strs[id].len;
	*p = *len == 0 ? "" : h->bytes + h->strs[id].off;
}

int
lc_history_event(const struct lc_history *h, size_t idx, struct lc_event *ev)
{
	const struct lc_rec *r;

	if (idx >= h->n_recs)
		return -ERANGE;
	r = &h->recs[idx];
	memset(ev, 0, sizeof(*ev));
	ev->client = r->client;
	ev->op = (enum lc_op)r->op;
	lc_str_get(h, r->key, &ev->key, &ev->key_len);
	lc_str_get(h, r->value, &ev->value, &ev->value_len);
	lc_str_get(h, r->expect, &ev->expect, &ev->expect_len);
	lc_str_get(h, r->result, &ev->result, &ev->result_len);
	ev->call_ns = r->call_ns;
	ev->return_ns = r->return_ns;
	ev->ok = r->ok;
	ev->line = r->line;
	return 0;
}

/* Appends a quoted, escaped string (or "absent") to buf at *pos, as snprintf would. */
static void
lc_fmt_str(char *buf, size_t len, size_t *pos, const struct lc_history *h, uint32_t id)
{
	char tmp[LC_STR_LEN_MAX * 4 + 8];
	size_t t = 0;
	const char *p;
	size_t n;

	if (id == LC_ABSENT) {
		*pos += (size_t)snprintf(*pos < len ? buf + *pos : NULL,
				*pos < len ? len - *pos : 0, "absent");
		return;
	}
	lc_str_get(h, id, &p, &n);
	tmp[t++] = '"';
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];

		if (ch == '"' || ch == '\\') {
			tmp[t++] = '\\';
			tmp[t++] = (char)ch;
		} else if (ch < 0x20 || ch == 0x7f) {
			t += (size_t)snprintf(tmp + t, sizeof(tmp) - t, "\\x%02x", ch);
		} else {
			tmp[t++] = (char)ch;
		}
	}
	tmp[t++] = '"';
	tmp[t] = '\0';
	*pos += (size_t)snprintf(*pos < len ? buf + *pos : NULL, *pos < len ? len - *pos : 0,
			"%s", tmp);
}

int
lc_history_format_op(const struct lc_history *h, size_t idx, char *buf, size_t len)
{
	static const char *const names[] = { "get", "put", "del", "cas" };
	const struct lc_rec *r;
	size_t pos = 0;

#define LC_APPEND(...) (pos += (size_t)snprintf(pos < len ? buf + pos : NULL, \
		pos < len ? len - pos : 0, __VA_ARGS__))
	if (idx >= h->n_recs)
		return -ERANGE;
	r = &h->recs[idx];
	if (r->line != 0)
		LC_APPEND("line %u: ", r->line);
	else
		LC_APPEND("op #%zu: ", idx);
	LC_APPEND("client %u %s ", r->client, names[r->op]);
	lc_fmt_str(buf, len, &pos, h, r->key);
	switch ((enum lc_op)r->op) {
	case LC_GET:
		LC_APPEND(" -> ");
		if (r->ok == 1)
			lc_fmt_str(buf, len, &pos, h, r->result);
		else
			LC_APPEND("?");
		break;
	case LC_PUT:
		LC_APPEND(" ");
		lc_fmt_str(buf, len, &pos, h, r->value);
		break;
	case LC_DEL:
		break;
	case LC_CAS:
		LC_APPEND(" expect ");
		lc_fmt_str(buf, len, &pos, h, r->expect);
		LC_APPEND(" new ");
		lc_fmt_str(buf, len, &pos, h, r->value);
		LC_APPEND(r->ok == 1 ? " swapped" : r->ok == 0 ? " compare-failed" : "");
		break;
	}
	if (r->ok == -1)
		LC_APPEND(" [%llu, timed out]", (unsigned long long)r->call_ns);
	else
		LC_APPEND(" [%llu, %llu]%s", (unsigned long long)r->call_ns,
				(unsigned long long)r->return_ns,
				r->ok == 0 && r->op != LC_CAS ? " failed" : "");
#undef LC_APPEND
	return pos > INT32_MAX ? INT32_MAX : (int)pos;
}

const char *
lc_result_str(enum lc_result r)
{
	switch (r) {
	case LC_LINEARIZABLE:
		return "linearizable";
	case LC_NOT_LINEARIZABLE:
		return "not linearizable";
	case LC_UNKNOWN:
		return "unknown";
	}
	return "?";
}

/* ------------------------------------------------------------------------------ */
/* JSON Lines loader: one flat object per line, values string/number/true/false/null */

enum lc_jtype { LC_J_NONE = 0, LC_J_STR, LC_J_NUM, LC_J_NULL, LC_J_TRUE, LC_J_FALSE };

enum lc_field {
	LC_F_CLIENT, LC_F_OP, LC_F_KEY, LC_F_VALUE, LC_F_EXPECT, LC_F_RESULT,
	LC_F_CALL, LC_F_RETURN, LC_F_OK, LC_F_MAX,
};

static const char *const lc_field_names[LC_F_MAX] = {
	"client", "op", "key", "value", "expect", "result", "call_ns", "return_ns", "ok",
};

struct lc_jval {
	enum lc_jtype t;
	size_t len;
	char s[LC_STR_LEN_MAX + 1];     /* decoded string, or a number's text */
};

struct lc_jparse {
	const char *p;
	const char *start;
	const char *end;
	const char *why;        /* first error; NULL while fine */
	const char *why_at;
};

static void
lc_jfail(struct lc_jparse *j, const char *why)
{
	if (j->why == NULL) {
		j->why = why;
		j->why_at = j->p;
	}
}

static void
lc_jws(struct lc_jparse *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\r' ||
			*j->p == '\n'))
		j->p++;
}

static int
lc_hex4(const char *p, uint32_t *out)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++) {
		char ch = p[i];

		v <<= 4;
		if (ch >= '0' && ch <= '9')
			v |= (uint32_t)(ch - '0');
		else if (ch >= 'a' && ch <= 'f')
			v |= (uint32_t)(ch - 'a' + 10);
		else if (ch >= 'A' && ch <= 'F')
			v |= (uint32_t)(ch - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

/* Appends byte c to out (if out is not NULL), failing once past cap. */
static void
lc_jput(struct lc_jparse *j, char *out, size_t cap, size_t *len, char c)
{
	if (out != NULL) {
		if (*len >= cap) {
			lc_jfail(j, "string too long");
			return;
		}
		out[*len] = c;
	}
	(*len)++;
}

/* Parses a string at j->p (on the opening quote). out == NULL: validate only. */
static void
lc_jstring(struct lc_jparse *j, char *out, size_t cap, size_t *len)
{
	*len = 0;
	j->p++;
	while (j->why == NULL) {
		char c;

		if (j->p >= j->end) {
			lc_jfail(j, "unterminated string");
			return;
		}
		c = *j->p++;
		if (c == '"')
			return;
		if (c != '\\') {
			lc_jput(j, out, cap, len, c);
			continue;
		}
		if (j->p >= j->end) {
			lc_jfail(j, "unterminated escape");
			return;
		}
		c = *j->p++;
		switch (c) {
		case '"': case '\\': case '/':
			lc_jput(j, out, cap, len, c);
			break;
		case 'b': lc_jput(j, out, cap, len, '\b'); break;
		case 'f': lc_jput(j, out, cap, len, '\f'); break;
		case 'n': lc_jput(j, out, cap, len, '\n'); break;
		case 'r': lc_jput(j, out, cap, len, '\r'); break;
		case 't': lc_jput(j, out, cap, len, '\t'); break;
		case 'u': {
			uint32_t cp, lo;

			if (j->end - j->p < 4 || lc_hex4(j->p, &cp) != 0) {
				lc_jfail(j, "bad \\u escape");
				return;
			}
			j->p += 4;
			/* A surrogate pair becomes one code point; a lone surrogate is passed
			 * through as its 3-byte form rather than rejected (tolerant). */
			if (cp >= 0xd800 && cp <= 0xdbff && j->end - j->p >= 6 && j->p[0] == '\\' &&
					j->p[1] == 'u' && lc_hex4(j->p + 2, &lo) == 0 &&
					lo >= 0xdc00 && lo <= 0xdfff) {
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				j->p += 6;
			}
			if (cp < 0x80) {
				lc_jput(j, out, cap, len, (char)cp);
			} else if (cp < 0x800) {
				lc_jput(j, out, cap, len, (char)(0xc0 | (cp >> 6)));
				lc_jput(j, out, cap, len, (char)(0x80 | (cp & 0x3f)));
			} else if (cp < 0x10000) {
				lc_jput(j, out, cap, len, (char)(0xe0 | (cp >> 12)));
				lc_jput(j, out, cap, len, (char)(0x80 | ((cp >> 6) & 0x3f)));
				lc_jput(j, out, cap, len, (char)(0x80 | (cp & 0x3f)));
			} else {
				lc_jput(j, out, cap, len, (char)(0xf0 | (cp >> 18)));
				lc_jput(j, out, cap, len, (char)(0x80 | ((cp >> 12) & 0x3f)));
				lc_jput(j, out, cap, len, (char)(0x80 | ((cp >> 6) & 0x3f)));
				lc_jput(j, out, cap, len, (char)(0x80 | (cp & 0x3f)));
			}
			break;
		}
		default:
			j->p--;
			lc_jfail(j, "bad escape");
			return;
		}
	}
}

static bool
lc_jlit(struct lc_jparse *j, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(j->end - j->p) >= n && memcmp(j->p, lit, n) == 0) {
		j->p += n;
		return true;
	}
	return false;
}

/* Parses one value into v (v == NULL: validate and discard). */
static void
lc_jvalue(struct lc_jparse *j, struct lc_jval *v)
{
	struct lc_jval scratch;

	if (v == NULL)
		v = &scratch;
	memset(v, 0, offsetof(struct lc_jval, s));
	if (j->p >= j->end) {
		lc_jfail(j, "missing value");
		return;
	}
	if (*j->p == '"') {
		v->t = LC_J_STR;
		lc_jstring(j, v == &scratch ? NULL : v->s, LC_STR_LEN_MAX, &v->len);
		return;
	}
	if (*j->p == '-' || (*j->p >= '0' && *j->p <= '9')) {
		const char *b = j->p;

		if (*j->p == '-')
			j->p++;
		while (j->p < j->end && ((*j->p >= '0' && *j->p <= '9') || *j->p == '.' ||
				*j->p == 'e' || *j->p == 'E' || *j->p == '+' || *j->p == '-'))
			j->p++;
		v->t = LC_J_NUM;
		v->len = (size_t)(j->p - b);
		if (v->len > LC_STR_LEN_MAX) {
			lc_jfail(j, "number too long");
			return;
		}
		memcpy(v->s, b, v->len);
		v->s[v->len] = '\0';
		return;
	}
	if (lc_jlit(j, "null"))
		v->t = LC_J_NULL;
	else if (lc_jlit(j, "true"))
		v->t = LC_J_TRUE;
	else if (lc_jlit(j, "false"))
		v->t = LC_J_FALSE;
	else if (*j->p == '{' || *j->p == '[')
		lc_jfail(j, "nested objects and arrays are not supported");
	else
		lc_jfail(j, "bad value");
}

/* Parses a whole line into fields[]; unknown fields are skipped. */
static void
lc_jobject(struct lc_jparse *j, struct lc_jval *fields)
{
	lc_jws(j);
	if (j->p >= j->end || *j->p != '{') {
		lc_jfail(j, "expected '{'");
		return;
	}
	j->p++;
	lc_jws(j);
	if (j->p < j->end && *j->p == '}') {
		j->p++;
		goto tail;
	}
	for (;;) {
		char name[LC_STR_LEN_MAX + 1];
		size_t nlen;
		int f;

		lc_jws(j);
		if (j->p >= j->end || *j->p != '"') {
			lc_jfail(j, "expected a field name");
			return;
		}
		lc_jstring(j, name, LC_STR_LEN_MAX, &nlen);
		if (j->why != NULL)
			return;
		for (f = 0; f < LC_F_MAX; f++)
			if (strlen(lc_field_names[f]) == nlen &&
					memcmp(lc_field_names[f], name, nlen) == 0)
				break;
		lc_jws(j);
		if (j->p >= j->end || *j->p != ':') {
			lc_jfail(j, "expected ':'");
			return;
		}
		j->p++;
		lc_jws(j);
		if (f < LC_F_MAX && fields[f].t != LC_J_NONE) {
			lc_jfail(j, "duplicate field");
			return;
		}
		lc_jvalue(j, f < LC_F_MAX ? &fields[f] : NULL);
		if (j->why != NULL)
			return;
		lc_jws(j);
		if (j->p < j->end && *j->p == ',') {
			j->p++;
			continue;
		}
		if (j->p < j->end && *j->p == '}') {
			j->p++;
			break;
		}
		lc_jfail(j, "expected ',' or '}'");
		return;
	}
tail:
	lc_jws(j);
	if (j->p != j->end)
		lc_jfail(j, "trailing characters after the object");
}

/* A non-negative integer field. Fractions and exponents are accepted and truncated. */
static int
lc_jnum_u64(const struct lc_jval *v, uint64_t max, uint64_t *out)
{
	uint64_t x = 0;
	size_t i;

	if (v->t != LC_J_NUM || v->s[0] == '-')
		return -1;
	for (i = 0; i < v->len && v->s[i] >= '0' && v->s[i] <= '9'; i++) {
		uint64_t d = (uint64_t)(v->s[i] - '0');

		if (x > (max - d) / 10)
			return -1;
		x = x * 10 + d;
	}
	if (i < v->len) {
		char *endp;
		double d = strtod(v->s, &endp);

		if (*endp != '\0' || !(d >= 0) || d >= 18446744073709551616.0 || d > (double)max)
			return -1;
		x = (uint64_t)d;
	}
	*out = x;
	return 0;
}

/* Fills ev (pointing into fields) from a parsed line; returns an error or NULL. */
static const char *
lc_jevent(struct lc_jval *fields, struct lc_event *ev)
{
	struct lc_jval *f;
	uint64_t u;

	memset(ev, 0, sizeof(*ev));
	f = &fields[LC_F_OP];
	if (f->t != LC_J_STR)
		return "missing or non-string \"op\"";
	if (f->len == 3 && memcmp(f->s, "get", 3) == 0)
		ev->op = LC_GET;
	else if (f->len == 3 && memcmp(f->s, "put", 3) == 0)
		ev->op = LC_PUT;
	else if ((f->len == 3 && memcmp(f->s, "del", 3) == 0) ||
			(f->len == 6 && memcmp(f->s, "delete", 6) == 0))
		ev->op = LC_DEL;
	else if (f->len == 3 && memcmp(f->s, "cas", 3) == 0)
		ev->op = LC_CAS;
	else
		return "\"op\" is not get, put, del or cas";

	f = &fields[LC_F_CLIENT];
	if (f->t != LC_J_NONE) {
		if (lc_jnum_u64(f, UINT32_MAX, &u) != 0)
			return "\"client\" is not a 32-bit unsigned integer";
		ev->client = (uint32_t)u;
	}
	if (fields[LC_F_CALL].t == LC_J_NONE ||
			lc_jnum_u64(&fields[LC_F_CALL], UINT64_MAX, &ev->call_ns) != 0)
		return "missing or bad \"call_ns\"";

	switch (fields[LC_F_OK].t) {
	case LC_J_TRUE:
		ev->ok = 1;
		break;
	case LC_J_FALSE:
		ev->ok = 0;
		break;
	case LC_J_NULL:
		ev->ok = -1;
		break;
	case LC_J_NONE:
		ev->ok = fields[LC_F_RETURN].t == LC_J_NUM ? 1 : -1;
		break;
	default:
		return "\"ok\" is not true, false or null";
	}
	f = &fields[LC_F_RETURN];
	if (ev->ok != -1) {
		if (f->t != LC_J_NUM || lc_jnum_u64(f, UINT64_MAX, &ev->return_ns) != 0)
			return "completed operation needs a numeric \"return_ns\"";
		if (ev->return_ns < ev->call_ns)
			return "\"return_ns\" is before \"call_ns\"";
	} else if (f->t != LC_J_NONE && f->t != LC_J_NULL && f->t != LC_J_NUM) {
		return "bad \"return_ns\"";
	}

	f = &fields[LC_F_KEY];
	if (f->t != LC_J_STR && f->t != LC_J_NUM)
		return "missing or non-string \"key\"";
	/* A non-NULL pointer with length 0 would read as NUL-terminated: it is. */
	f->s[f->len] = '\0';
	ev->key = f->s;
	ev->key_len = f->len;

	f = &fields[LC_F_VALUE];
	if (ev->op == LC_PUT || ev->op == LC_CAS) {
		if (f->t != LC_J_STR && f->t != LC_J_NUM)
			return "put and cas need a string \"value\"";
		f->s[f->len] = '\0';
		ev->value = f->s;
		ev->value_len = f->len;
	}
	f = &fields[LC_F_EXPECT];
	if (ev->op == LC_CAS) {
		if (f->t == LC_J_NULL) {
			ev->expect = NULL;
		} else if (f->t == LC_J_STR || f->t == LC_J_NUM) {
			f->s[f->len] = '\0';
			ev->expect = f->s;
			ev->expect_len = f->len;
		} else {
			return "cas needs \"expect\" (a string, or null for absent)";
		}
	}
	f = &fields[LC_F_RESULT];
	if (ev->op == LC_GET && ev->ok == 1) {
		if (f->t == LC_J_NULL) {
			ev->result = NULL;
		} else if (f->t == LC_J_STR || f->t == LC_J_NUM) {
			f->s[f->len] = '\0';
			ev->result = f->s;
			ev->result_len = f->len;
		} else {
			/* Required, so that a misspelt field never reads as "absent". */
			return "completed get needs \"result\" (a string, or null for absent)";
		}
	}
	return NULL;
}

int
lc_history_load_jsonl(struct lc_history *h, FILE *f, char *err, size_t errlen)
{
	struct lc_jval *fields = malloc(sizeof(*fields) * LC_F_MAX);
	char *line = NULL;
	size_t cap = 0, lineno = 0;
	ssize_t n;
	int rc = 0;

	if (fields == NULL)
		return -ENOMEM;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	while ((n = getline(&line, &cap, f)) >= 0) {
		struct lc_jparse j;
		struct lc_event ev;
		const char *why;
		size_t k = 0;

		lineno++;
		while (k < (size_t)n && (line[k] == ' ' || line[k] == '\t' || line[k] == '\r' ||
				line[k] == '\n'))
			k++;
		if (k == (size_t)n || line[k] == '#')
			continue;
		if ((size_t)n > LC_LINE_LEN_MAX) {
			if (err != NULL)
				snprintf(err, errlen, "line %zu: longer than %u bytes", lineno,
						LC_LINE_LEN_MAX);
			rc = -EINVAL;
			break;
		}
		for (int i = 0; i < LC_F_MAX; i++)
			fields[i].t = LC_J_NONE;
		j.p = j.start = line;
		j.end = line + n;
		j.why = NULL;
		j.why_at = NULL;
		lc_jobject(&j, fields);
		if (j.why != NULL) {
			if (err != NULL)
				snprintf(err, errlen, "line %zu, column %zu: %s", lineno,
						(size_t)(j.why_at - j.start) + 1, j.why);
			rc = -EINVAL;
			break;
		}
		why = lc_jevent(fields, &ev);
		if (why != NULL) {
			if (err != NULL)
				snprintf(err, errlen, "line %zu: %s", lineno, why);
			rc = -EINVAL;
			break;
		}
		ev.line = lineno > UINT32_MAX ? UINT32_MAX : (uint32_t)lineno;
		rc = lc_history_add(h, &ev);
		if (rc != 0) {
			if (err != NULL)
				snprintf(err, errlen, "line %zu: %s", lineno, rc == -ENOMEM ?
						"out of memory" : "invalid operation");
			break;
		}
	}
	if (rc == 0 && ferror(f)) {
		if (err != NULL)
			snprintf(err, errlen, "read error after line %zu", lineno);
		rc = -EIO;
	}
	free(line);
	free(fields);
	return rc;
}

/* ------------------------------------------------------------------------------ */
/* The search                                                                       */

/* Model operations on one key's register. a and b are string ids. */
enum lc_kind {
	LC_K_GET,       /* read; legal iff state == a */
	LC_K_PUT,       /* state = a */
	LC_K_DEL,       /* state = absent */
	LC_K_CAS_OK,    /* legal iff state == a; state = b */
	LC_K_CAS_FAIL,  /* read; legal iff state != a */
	LC_K_CAS_ANY,   /* timed-out cas: always legal; if state == a then state = b */
};

/* One operation as the search sees it. Invariant: return_ns == LC_INF iff the
 * operation is optional (it may be left out of the linearization), which is how
 * timed-out operations and operations still running at a witness cut are modelled. */
struct lc_kop {
	uint64_t call_ns;
	uint64_t return_ns;
	uint32_t a;
	uint32_t b;
	uint32_t idx;           /* history index */
	uint8_t kind;
};

static bool
lc_kop_is_read(const struct lc_kop *o)
{
	return o->kind == LC_K_GET || o->kind == LC_K_CAS_FAIL;
}

/* The value a writing operation leaves (for LC_K_CAS_ANY, when it swaps). */
static uint32_t
lc_kop_written(const struct lc_kop *o)
{
	switch ((enum lc_kind)o->kind) {
	case LC_K_PUT:
		return o->a;
	case LC_K_CAS_OK:
	case LC_K_CAS_ANY:
		return o->b;
	case LC_K_DEL:
	case LC_K_GET:
	case LC_K_CAS_FAIL:
		break;
	}
	return LC_ABSENT;
}

static bool
lc_step(const struct lc_kop *o, uint32_t s, uint32_t *ns)
{
	switch ((enum lc_kind)o->kind) {
	case LC_K_GET:
		*ns = s;
		return s == o->a;
	case LC_K_PUT:
		*ns = o->a;
		return true;
	case LC_K_DEL:
		*ns = LC_ABSENT;
		return true;
	case LC_K_CAS_OK:
		*ns = o->b;
		return s == o->a;
	case LC_K_CAS_FAIL:
		*ns = s;
		return s != o->a;
	case LC_K_CAS_ANY:
		*ns = s == o->a ? o->b : s;
		return true;
	}
	assert(0);
	return false;
}

/* Call or return event of an operation; the search walks a linked list of these. */
struct lc_ent {
	uint64_t t;
	uint32_t op;
	uint32_t is_ret;
};

struct lc_frame {
	uint32_t ent;           /* call entry that was linearized */
	uint32_t state;         /* register value before it */
	bool forced;            /* a read taken without alternatives (see lc_search) */
};

/*
 * Memo of configurations already explored: (set of linearized ops, register value).
 * Entries live in an arena of stride words: [hash][state][bitset words...].
 * Invariant: n_slots is a power of two and slots is at most half full; a slot holds
 * 0 (empty) or entry index + 1. Memory is accounted as LC_CACHE_ENTRY_BYTES(stride)
 * per entry, which covers the arena and the slots at any load above 1/4.
 */
#define LC_CACHE_ENTRY_BYTES(stride) ((stride) * sizeof(uint64_t) + 4 * sizeof(uint32_t))

struct lc_cache {
	uint64_t *arena;
	size_t arena_words;     /* capacity, kept across keys */
	size_t n;               /* entries */
	size_t cap;             /* entries the arena holds at the current stride */
	size_t stride;          /* words per entry */
	size_t nwords;          /* bitset words */
	uint32_t *slots;
	size_t n_slots;
	size_t bytes_max;
};

struct lc_ctx {
	uint64_t deadline_ns;   /* 0: none */
	uint64_t steps;
	bool timed_out;
	bool cache_full;
	struct lc_cache cache;
	/* String-id marks for pruning; a mark is current iff it equals epoch. */
	uint32_t *mark;
	uint32_t n_mark;
	uint32_t epoch;
	/* Per value id: pending non-optional readers and pending writers (lc_strands). */
	uint32_t *rd;
	uint32_t *wr;
	/* Per-search buffers, sized for cap operations. */
	size_t cap;
	struct lc_kop *ops;
	struct lc_ent *ents;
	uint32_t *next;
	uint32_t *prev;
	uint32_t *ret_ent;
	uint64_t *zob;
	uint64_t *bits;
	struct lc_frame *stack;
};

static uint64_t
lc_now_ns(void)
{
	return env_mono_ns();
}

static uint64_t
lc_deadline(double limit_s)
{
	if (!(limit_s > 0))
		return 0;
	if (limit_s > 1e9)
		limit_s = 1e9;
	return lc_now_ns() + (uint64_t)(limit_s * 1e9);
}

static int
lc_cache_reset(struct lc_cache *c, size_t nwords)
{
	c->n = 0;
	c->nwords = nwords;
	c->stride = nwords + 2;
	c->cap = c->arena_words / c->stride;
	/* A big table left by a hot key is dropped so that many small keys that follow do
	 * not each pay to clear it. */
	if (c->slots == NULL || c->n_slots > LC_CACHE_SLOTS_MIN) {
		free(c->slots);
		c->n_slots = LC_CACHE_SLOTS_MIN;
		c->slots = calloc(c->n_slots, sizeof(*c->slots));
		if (c->slots == NULL)
			return -ENOMEM;
	} else {
		memset(c->slots, 0, c->n_slots * sizeof(*c->slots));
	}
	return 0;
}

static int
lc_cache_grow_slots(struct lc_cache *c)
{
	size_t ns = c->n_slots * 2;
	uint32_t *s = calloc(ns, sizeof(*s));

	if (s == NULL)
		return -ENOMEM;
	for (size_t k = 0; k < c->n; k++) {
		size_t j = c->arena[k * c->stride] & (ns - 1);

		while (s[j] != 0)
			j = (j + 1) & (ns - 1);
		s[j] = (uint32_t)(k + 1);
	}
	free(c->slots);
	c->slots = s;
	c->n_slots = ns;
	return 0;
}

/* Returns 1 if added, 0 if already present, -1 if the cap (or memory) ran out. */
static int
lc_cache_insert(struct lc_cache *c, const uint64_t *bits, uint64_t hash, uint32_t state)
{
	size_t mask = c->n_slots - 1;
	size_t i = hash & mask;
	uint64_t *e;

	while (c->slots[i] != 0) {
		e = c->arena + (size_t)(c->slots[i] - 1) * c->stride;
		if (e[0] == hash && e[1] == state &&
				memcmp(e + 2, bits, c->nwords * sizeof(*bits)) == 0)
			return 0;
		i = (i + 1) & mask;
	}
	if (c->n + 1 >= UINT32_MAX)
		return -1;
	if (c->n == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 1024;
		size_t room = c->bytes_max / LC_CACHE_ENTRY_BYTES(c->stride);
		uint64_t *na;

		/* Use what is left under the cap before giving up. */
		if (ncap > room)
			ncap = room;
		if (ncap <= c->cap)
			return -1;
		na = realloc(c->arena, ncap * c->stride * sizeof(uint64_t));
		if (na == NULL)
			return -1;
		c->arena = na;
		c->arena_words = ncap * c->stride;
		c->cap = ncap;
	}
	e = c->arena + c->n * c->stride;
	e[0] = hash;
	e[1] = state;
	memcpy(e + 2, bits, c->nwords * sizeof(*bits));
	c->slots[i] = (uint32_t)++c->n;
	if (c->n * 2 > c->n_slots && lc_cache_grow_slots(c) != 0)
		return -1;
	return 1;
}

static void
lc_ctx_free(struct lc_ctx *c)
{
	free(c->cache.arena);
	free(c->cache.slots);
	free(c->mark);
	free(c->rd);
	free(c->wr);
	free(c->ops);
	free(c->ents);
	free(c->next);
	free(c->prev);
	free(c->ret_ent);
	free(c->zob);
	free(c->bits);
	free(c->stack);
}

static int
lc_ctx_init(struct lc_ctx *c, size_t cap, uint32_t n_strs, size_t cache_bytes_max)
{
	memset(c, 0, sizeof(*c));
	if (cap == 0)
		cap = 1;
	c->cap = cap;
	c->cache.bytes_max = cache_bytes_max;
	c->n_mark = n_strs;
	c->mark = calloc(n_strs, sizeof(*c->mark));
	c->rd = calloc(n_strs, sizeof(*c->rd));
	c->wr = calloc(n_strs, sizeof(*c->wr));
	c->ops = malloc(cap * sizeof(*c->ops));
	c->ents = malloc(2 * cap * sizeof(*c->ents));
	c->next = malloc((2 * cap + 2) * sizeof(*c->next));
	c->prev = malloc((2 * cap + 2) * sizeof(*c->prev));
	c->ret_ent = malloc(cap * sizeof(*c->ret_ent));
	c->zob = malloc(cap * sizeof(*c->zob));
	c->bits = malloc(((cap + 63) / 64) * sizeof(*c->bits));
	c->stack = malloc(cap * sizeof(*c->stack));
	if (c->mark == NULL || c->rd == NULL || c->wr == NULL || c->ops == NULL ||
			c->ents == NULL || c->next == NULL || c->prev == NULL ||
			c->ret_ent == NULL || c->zob == NULL || c->bits == NULL ||
			c->stack == NULL) {
		lc_ctx_free(c);
		return -ENOMEM;
	}
	for (size_t i = 0; i < cap; i++)
		c->zob[i] = lc_mix64(0x6c696e636865636bull ^ (i * 0x9e3779b97f4a7c15ull));
	return 0;
}

static uint32_t
lc_next_epoch(struct lc_ctx *c)
{
	if (++c->epoch == 0) {
		memset(c->mark, 0, c->n_mark * sizeof(*c->mark));
		c->epoch = 1;
	}
	return c->epoch;
}

/*
 * Copies in[] to c->ops minus operations that cannot change the answer:
 *  - an optional read: leaving it out of a linearization never breaks it;
 *  - an optional write whose value nothing observes, when no compare-failed cas is
 *    present: deleting such a write from a linearization leaves every other operation
 *    legal (reads of other values cannot sit between it and the next write), so it
 *    can always be left out.
 * The second rule is what keeps timed-out puts of unique, never-read values from
 * doubling the search space each.
 */
static uint32_t
lc_prune(struct lc_ctx *c, const struct lc_kop *in, uint32_t n)
{
	struct lc_kop *out = c->ops;
	uint32_t m = 0;
	bool dropped = true;

	for (uint32_t i = 0; i < n; i++)
		if (!(in[i].return_ns == LC_INF && lc_kop_is_read(&in[i])))
			out[m++] = in[i];
	while (dropped) {
		uint32_t ep = lc_next_epoch(c);
		bool any_fail = false;
		uint32_t k = 0;

		for (uint32_t i = 0; i < m; i++) {
			if (out[i].kind == LC_K_CAS_FAIL)
				any_fail = true;
			else if (out[i].kind == LC_K_GET || out[i].kind == LC_K_CAS_OK ||
					out[i].kind == LC_K_CAS_ANY)
				c->mark[out[i].a] = ep;
		}
		if (any_fail)
			break;
		dropped = false;
		for (uint32_t i = 0; i < m; i++) {
			if (out[i].return_ns == LC_INF && c->mark[lc_kop_written(&out[i])] != ep) {
				dropped = true;
				continue;
			}
			out[k++] = out[i];
		}
		m = k;
	}
	return m;
}

static int
lc_ent_cmp(const void *pa, const void *pb)
{
	const struct lc_ent *a = pa, *b = pb;

	if (a->t != b->t)
		return a->t < b->t ? -1 : 1;
	/* Calls before returns at equal times: touching intervals count as concurrent. */
	if (a->is_ret != b->is_ret)
		return a->is_ret < b->is_ret ? -1 : 1;
	return a->op < b->op ? -1 : a->op > b->op;
}

static void
lc_unlink(struct lc_ctx *c, uint32_t x)
{
	c->next[c->prev[x]] = c->next[x];
	c->prev[c->next[x]] = c->prev[x];
}

/* Undoes lc_unlink; relinks must happen in the reverse order of the unlinks. */
static void
lc_relink(struct lc_ctx *c, uint32_t x)
{
	c->next[c->prev[x]] = x;
	c->prev[c->next[x]] = x;
}

/* Mandatory readers of value x wait on it: GET x, and CAS_OK expecting x. */
static bool
lc_kop_reads_value(const struct lc_kop *o, uint32_t *x)
{
	if (o->return_ns == LC_INF || (o->kind != LC_K_GET && o->kind != LC_K_CAS_OK))
		return false;
	*x = o->a;
	return true;
}

static bool
lc_kop_writes(const struct lc_kop *o)
{
	return !lc_kop_is_read(o);
}

/* Linearizes (dir = -1) or un-linearizes (dir = +1) o in the pending counts. */
static void
lc_count(struct lc_ctx *c, const struct lc_kop *o, int dir)
{
	uint32_t x;

	if (lc_kop_reads_value(o, &x))
		c->rd[x] += (uint32_t)dir;
	if (lc_kop_writes(o))
		c->wr[lc_kop_written(o)] += (uint32_t)dir;
}

/*
 * Whether linearizing o now, moving the register from s to ns, strands a reader: if
 * some non-optional operation still waits to read s (rd) and no operation left can
 * write s again (wr), no order from here on can succeed. Checked before o's own
 * counts are taken out, so o's read of s is discounted here.
 */
static bool
lc_strands(const struct lc_ctx *c, const struct lc_kop *o, uint32_t s, uint32_t ns)
{
	uint32_t waiting = c->rd[s], x;

	if (ns == s)
		return false;
	if (lc_kop_reads_value(o, &x) && x == s)
		waiting--;
	return waiting > 0 && c->wr[s] == 0;
}

static void
lc_linearize(struct lc_ctx *c, uint32_t op, uint32_t ns, uint32_t e, bool forced,
		uint32_t *sp, uint32_t *state, uint32_t *done)
{
	c->stack[*sp].ent = e;
	c->stack[*sp].state = *state;
	c->stack[*sp].forced = forced;
	(*sp)++;
	*state = ns;
	lc_count(c, &c->ops[op], -1);
	lc_unlink(c, e);
	if (c->ret_ent[op] != LC_NONE) {
		lc_unlink(c, c->ret_ent[op]);
		(*done)++;
	}
}

/*
 * Lowe's just-in-time linearization search over c->ops[0..n) (Lowe 2017, section 3.2;
 * Porcupine's checkSingle). Walk the event list from the head: at a call, try to
 * linearize that operation now (legal in the model and a configuration not seen
 * before), removing its call and return from the list and restarting from the head;
 * at a return, the operation that returns there must already have been linearized,
 * so backtrack to the last choice. Optional operations have no return event. The
 * history is linearizable once every non-optional operation is linearized.
 *
 * Two prunings keep hot keys (many overlapping writes) tractable; both are sound:
 *  - A minimal read that is legal now is linearized at once, without trying
 *    alternatives: given any linearization from here, moving that read to the front
 *    keeps it legal (a read changes nothing, and nothing pending returned before the
 *    read was called). So if the read's subtree fails, so does this configuration.
 *  - A write that would strand a reader (lc_strands) is not tried. Without this a
 *    write linearized too early is only found out at the stranded reader's return,
 *    after exploring every order of the operations in between.
 */
static enum lc_result
lc_search(struct lc_ctx *c, uint32_t n)
{
	const struct lc_kop *ops = c->ops;
	uint32_t ne = 0, n_mand = 0, done = 0, sp = 0, head, tail, e, x;
	uint32_t state = LC_ABSENT;
	size_t nwords = (n + 63) / 64;
	uint64_t zh = 0;
	bool fresh = true;

	assert(n <= c->cap);
	/* Zero the counts of every value these operations touch (a search that stops
	 * early leaves them dirty); ids not touched are never read. */
	for (uint32_t i = 0; i < n; i++) {
		c->rd[ops[i].a] = c->wr[ops[i].a] = 0;
		c->rd[ops[i].b] = c->wr[ops[i].b] = 0;
	}
	c->rd[LC_ABSENT] = c->wr[LC_ABSENT] = 0;
	for (uint32_t i = 0; i < n; i++) {
		c->ents[ne++] = (struct lc_ent){ .t = ops[i].call_ns, .op = i, .is_ret = 0 };
		c->ret_ent[i] = LC_NONE;
		if (ops[i].return_ns != LC_INF) {
			c->ents[ne++] = (struct lc_ent){
				.t = ops[i].return_ns, .op = i, .is_ret = 1 };
			n_mand++;
		}
		lc_count(c, &ops[i], +1);
	}
	if (n_mand == 0)
		return LC_LINEARIZABLE;
	/* A value read but never written (and not the initial absent) fails at once. */
	for (uint32_t i = 0; i < n; i++)
		if (lc_kop_reads_value(&ops[i], &x) && x != LC_ABSENT && c->wr[x] == 0)
			return LC_NOT_LINEARIZABLE;
	qsort(c->ents, ne, sizeof(*c->ents), lc_ent_cmp);
	head = ne;
	tail = ne + 1;
	for (uint32_t i = 0; i < ne; i++) {
		c->next[i] = i + 1 < ne ? i + 1 : tail;
		c->prev[i] = i > 0 ? i - 1 : head;
		if (c->ents[i].is_ret)
			c->ret_ent[c->ents[i].op] = i;
	}
	c->next[head] = 0;
	c->prev[tail] = ne - 1;
	memset(c->bits, 0, nwords * sizeof(*c->bits));
	if (lc_cache_reset(&c->cache, nwords) != 0) {
		c->cache_full = true;
		return LC_UNKNOWN;
	}

	e = c->next[head];
	for (;;) {
		uint32_t op, ns;
		int r;

		if (done == n_mand)
			return LC_LINEARIZABLE;
		if ((++c->steps & LC_TIME_CHECK_MASK) == 0 && c->deadline_ns != 0 &&
				lc_now_ns() > c->deadline_ns) {
			c->timed_out = true;
			return LC_UNKNOWN;
		}
		if (fresh) {
			/* New configuration: take a legal minimal read if there is one. A
			 * non-optional operation is left, so a return event is ahead. */
			fresh = false;
			for (x = c->next[head]; !c->ents[x].is_ret; x = c->next[x]) {
				assert(x != tail);
				op = c->ents[x].op;
				if (lc_kop_is_read(&ops[op]) && lc_step(&ops[op], state, &ns))
					break;
			}
			e = c->next[head];
			if (!c->ents[x].is_ret) {
				op = c->ents[x].op;
				c->bits[op >> 6] |= 1ull << (op & 63);
				zh ^= c->zob[op];
				r = lc_cache_insert(&c->cache, c->bits, zh ^ lc_mix64(state),
						state);
				if (r > 0) {
					lc_linearize(c, op, state, x, true, &sp, &state, &done);
					fresh = true;
					continue;
				}
				c->bits[op >> 6] &= ~(1ull << (op & 63));
				zh ^= c->zob[op];
				if (r < 0) {
					c->cache_full = true;
					return LC_UNKNOWN;
				}
				goto backtrack;     /* explored before, and it failed */
			}
		}
		assert(e != tail);
		op = c->ents[e].op;
		if (!c->ents[e].is_ret) {
			/* Reads here are illegal: a legal one would have been forced. */
			if (!lc_kop_is_read(&ops[op]) && lc_step(&ops[op], state, &ns) &&
					!lc_strands(c, &ops[op], state, ns)) {
				c->bits[op >> 6] |= 1ull << (op & 63);
				zh ^= c->zob[op];
				r = lc_cache_insert(&c->cache, c->bits, zh ^ lc_mix64(ns), ns);
				if (r > 0) {
					lc_linearize(c, op, ns, e, false, &sp, &state, &done);
					fresh = true;
					continue;
				}
				c->bits[op >> 6] &= ~(1ull << (op & 63));
				zh ^= c->zob[op];
				if (r < 0) {
					c->cache_full = true;
					return LC_UNKNOWN;
				}
			}
			e = c->next[e];
			continue;
		}
backtrack:
		/* Undo the last choice; a forced read was no choice, so undo past it too. */
		for (;;) {
			const struct lc_frame *f;

			if (sp == 0)
				return LC_NOT_LINEARIZABLE;
			f = &c->stack[--sp];
			op = c->ents[f->ent].op;
			state = f->state;
			c->bits[op >> 6] &= ~(1ull << (op & 63));
			zh ^= c->zob[op];
			lc_count(c, &ops[op], +1);
			if (c->ret_ent[op] != LC_NONE) {
				lc_relink(c, c->ret_ent[op]);
				done--;
			}
			lc_relink(c, f->ent);
			e = c->next[f->ent];
			if (!f->forced)
				break;
		}
	}
}

static enum lc_result
lc_check_set(struct lc_ctx *c, const struct lc_kop *ops, uint32_t n)
{
	return lc_search(c, lc_prune(c, ops, n));
}

/* Builds a key's search operations from history records, dropping what tells nothing. */
static uint32_t
lc_key_ops(const struct lc_history *h, const size_t *idx, size_t n, struct lc_kop *out)
{
	uint32_t m = 0;

	for (size_t i = 0; i < n; i++) {
		const struct lc_rec *r = &h->recs[idx[i]];
		struct lc_kop o = {
			.call_ns = r->call_ns,
			.return_ns = r->ok == -1 ? LC_INF : r->return_ns,
			.idx = (uint32_t)idx[i],
		};

		switch ((enum lc_op)r->op) {
		case LC_GET:
			if (r->ok != 1)
				continue;       /* rejected, or timed out: result unknown */
			o.kind = LC_K_GET;
			o.a = r->result;
			break;
		case LC_PUT:
			if (r->ok == 0)
				continue;       /* definitely did not take effect */
			o.kind = LC_K_PUT;
			o.a = r->value;
			break;
		case LC_DEL:
			if (r->ok == 0)
				continue;
			o.kind = LC_K_DEL;
			break;
		case LC_CAS:
			o.kind = r->ok == 1 ? LC_K_CAS_OK :
					r->ok == 0 ? LC_K_CAS_FAIL : LC_K_CAS_ANY;
			o.a = r->expect;
			o.b = r->value;
			break;
		}
		/* An op that completes at time UINT64_MAX would read as optional: clamp. */
		if (r->ok != -1 && o.return_ns == LC_INF)
			o.return_ns = LC_INF - 1;
		out[m++] = o;
	}
	return m;
}

static int
lc_u64_cmp(const void *pa, const void *pb)
{
	uint64_t a = *(const uint64_t *)pa, b = *(const uint64_t *)pb;

	return a < b ? -1 : a > b;
}

static int
lc_kop_call_cmp(const void *pa, const void *pb)
{
	const struct lc_kop *a = pa, *b = pb;

	if (a->call_ns != b->call_ns)
		return a->call_ns < b->call_ns ? -1 : 1;
	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

/* The history up to time t: later calls left out, operations running at t optional.
 * If this cannot be linearized, neither can the whole history. */
static uint32_t
lc_cut(const struct lc_kop *ops, uint32_t n, uint64_t t, struct lc_kop *out)
{
	uint32_t m = 0;

	for (uint32_t i = 0; i < n; i++) {
		if (ops[i].call_ns > t)
			continue;
		out[m] = ops[i];
		if (out[m].return_ns > t)
			out[m].return_ns = LC_INF;
		m++;
	}
	return m;
}

/*
 * Witness reduction state: which values the operations still in the set observe.
 * Deleting an operation keeps "the set cannot be linearized, so neither can the
 * history" (each step is a weakening: a linearization of the bigger set, less that
 * operation, is one of the smaller set) when it is a read, or a write whose value no
 * remaining operation observes and no compare-failed cas remains (a failed cas
 * observes every value but its expect). See lc_prune for why such a write can go.
 */
struct lc_obs {
	uint32_t *by_value;     /* GET a, CAS_OK a and CAS_ANY a observe a */
	uint32_t n_fail;        /* compare-failed cas in the set */
};

static void
lc_obs_count(struct lc_obs *ob, const struct lc_kop *o, int dir)
{
	if (o->kind == LC_K_CAS_FAIL)
		ob->n_fail += (uint32_t)dir;
	else if (o->kind == LC_K_GET || o->kind == LC_K_CAS_OK || o->kind == LC_K_CAS_ANY)
		ob->by_value[o->a] += (uint32_t)dir;
}

static bool
lc_obs_deletable(const struct lc_obs *ob, const struct lc_kop *o)
{
	uint32_t w, self;

	if (lc_kop_is_read(o))
		return true;
	w = lc_kop_written(o);
	self = (o->kind == LC_K_CAS_OK || o->kind == LC_K_CAS_ANY) && o->a == w;
	return ob->n_fail == 0 && ob->by_value[w] == self;
}

/*
 * Tries to delete what it may of s[start, start + len) from s[0..*ns): the reads, then
 * the writes as they become deletable (writes observed from outside the chunk stay;
 * a later pass may take them). Keeps the deletion if what is left still cannot be
 * linearized. Returns 1 if something was deleted, 0 if not, -1 if out of time.
 */
static int
lc_try_delete(struct lc_ctx *c, struct lc_obs *ob, struct lc_kop *s, uint32_t *ns,
		uint32_t start, uint32_t len, struct lc_kop *t, uint8_t *gone)
{
	uint32_t n_gone = 0, m = 0;
	bool progress = true;
	enum lc_result r;

	memset(gone, 0, len);
	for (uint32_t i = 0; i < len; i++) {
		if (lc_kop_is_read(&s[start + i])) {
			lc_obs_count(ob, &s[start + i], -1);
			gone[i] = 1;
			n_gone++;
		}
	}
	while (progress && n_gone < len) {
		progress = false;
		for (uint32_t i = 0; i < len; i++) {
			if (!gone[i] && lc_obs_deletable(ob, &s[start + i])) {
				lc_obs_count(ob, &s[start + i], -1);
				gone[i] = 1;
				n_gone++;
				progress = true;
			}
		}
	}
	if (n_gone == 0)
		return 0;
	for (uint32_t i = 0; i < *ns; i++)
		if (i < start || i >= start + len || !gone[i - start])
			t[m++] = s[i];
	r = lc_check_set(c, t, m);
	if (r == LC_NOT_LINEARIZABLE) {
		memcpy(s, t, m * sizeof(*s));
		*ns = m;
		return 1;
	}
	for (uint32_t i = 0; i < len; i++)
		if (gone[i])
			lc_obs_count(ob, &s[start + i], +1);
	return r == LC_UNKNOWN && c->timed_out ? -1 : 0;
}

/*
 * Witness for a key whose operations kops[0..n) cannot be linearized: the shortest
 * cut by return time that already fails (binary search: a later cut only adds
 * constraints), then deletion while it keeps failing, in halving chunks (as ddmin)
 * down to single operations, repeated until nothing more goes.
 */
static int
lc_witness_build(struct lc_ctx *c, const struct lc_history *h, uint32_t key,
		const struct lc_kop *kops, uint32_t n, double limit_s, struct lc_witness *w)
{
	struct lc_kop *s = malloc(n * sizeof(*s));
	struct lc_kop *t = malloc(n * sizeof(*t));
	uint64_t *rets = malloc(n * sizeof(*rets));
	uint8_t *gone = malloc(n);
	struct lc_obs ob = { .by_value = calloc(h->n_strs, sizeof(uint32_t)) };
	uint32_t m = 0, lo, hi, ns, chunk;
	bool changed, out_of_time = false;
	int rc = -ENOMEM;

	if (s == NULL || t == NULL || rets == NULL || gone == NULL || ob.by_value == NULL)
		goto out;
	c->deadline_ns = lc_deadline(limit_s);
	c->timed_out = false;
	for (uint32_t i = 0; i < n; i++)
		if (kops[i].return_ns != LC_INF)
			rets[m++] = kops[i].return_ns;
	assert(m > 0);
	qsort(rets, m, sizeof(*rets), lc_u64_cmp);
	/* Invariant: the cut at rets[hi - 1] fails (the last one does: it is the whole
	 * history less optional calls made after every return, which change nothing). */
	lo = 1;
	hi = m;
	while (lo < hi && !out_of_time) {
		uint32_t mid = lo + (hi - lo) / 2;
		enum lc_result r = lc_check_set(c, s, lc_cut(kops, n, rets[mid - 1], s));

		if (r == LC_NOT_LINEARIZABLE)
			hi = mid;
		else if (r == LC_LINEARIZABLE)
			lo = mid + 1;
		else
			out_of_time = true;
	}
	w->key_ops = n;
	if (out_of_time) {
		memcpy(s, kops, n * sizeof(*s));
		ns = n;
		w->cut_ns = UINT64_MAX;
	} else {
		ns = lc_cut(kops, n, rets[hi - 1], s);
		w->cut_ns = rets[hi - 1];
	}
	w->prefix_ops = ns;

	for (uint32_t i = 0; i < ns; i++)
		lc_obs_count(&ob, &s[i], +1);
	chunk = ns / 2 > 0 ? ns / 2 : 1;
	do {
		changed = false;
		for (uint32_t start = 0; start < ns && !out_of_time; ) {
			uint32_t len = ns - start < chunk ? ns - start : chunk;
			int d = lc_try_delete(c, &ob, s, &ns, start, len, t, gone);

			if (d < 0)
				out_of_time = true;
			else if (d > 0)
				changed = true;
			else
				start += len;
		}
		if (chunk > 1) {
			chunk /= 2;
			changed = true;
		}
	} while (changed && !out_of_time);

	qsort(s, ns, sizeof(*s), lc_kop_call_cmp);
	w->ops = malloc((ns ? ns : 1) * sizeof(*w->ops));
	if (w->ops == NULL)
		goto out;
	for (uint32_t i = 0; i < ns; i++)
		w->ops[i] = s[i].idx;
	w->n_ops = ns;
	w->reduced = !out_of_time;
	lc_str_get(h, key, &w->key, &w->key_len);
	if (w->key == NULL)
		w->key = "";
	rc = 0;
out:
	free(s);
	free(t);
	free(rets);
	free(gone);
	free(ob.by_value);
	return rc;
}

enum lc_result
lc_check_limits(const struct lc_history *h, const struct lc_limits *lim,
		struct lc_witness *out)
{
	double limit_s = lim != NULL ? lim->time_limit_s : 0;
	size_t bytes_max = lim != NULL && lim->cache_bytes_max != 0 ?
			lim->cache_bytes_max : LC_CACHE_BYTES_DEFAULT;
	size_t *start = NULL, *order = NULL, max_key = 0;
	uint32_t *keys = NULL, n_keys = 0;
	struct lc_kop *kops = NULL;
	enum lc_result res = LC_LINEARIZABLE;
	struct lc_ctx c;
	bool ctx_ok = false;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (h->n_recs == 0)
		return LC_LINEARIZABLE;

	/* Partition by key (counting sort, keeping history order within a key). */
	start = calloc((size_t)h->n_strs + 1, sizeof(*start));
	order = malloc(h->n_recs * sizeof(*order));
	keys = malloc(h->n_recs * sizeof(*keys));
	if (start == NULL || order == NULL || keys == NULL)
		goto nomem;
	for (size_t i = 0; i < h->n_recs; i++) {
		if (start[h->recs[i].key + 1]++ == 0)
			keys[n_keys++] = h->recs[i].key;   /* first-appearance order */
	}
	for (uint32_t k = 0; k < n_keys; k++)
		if (start[keys[k] + 1] > max_key)
			max_key = start[keys[k] + 1];
	for (size_t id = 1; id <= h->n_strs; id++)
		start[id] += start[id - 1];
	for (size_t i = 0; i < h->n_recs; i++)
		order[start[h->recs[i].key]++] = i;
	/* start[id] now holds the end of id's run, i.e. the start of id + 1's. */
	kops = malloc(max_key * sizeof(*kops));
	if (kops == NULL || lc_ctx_init(&c, max_key, h->n_strs, bytes_max) != 0)
		goto nomem;
	ctx_ok = true;
	c.deadline_ns = lc_deadline(limit_s);

	for (uint32_t k = 0; k < n_keys; k++) {
		uint32_t key = keys[k];
		size_t b = key == 0 ? 0 : start[key - 1];
		uint32_t n = lc_key_ops(h, order + b, start[key] - b, kops);
		enum lc_result r = lc_check_set(&c, kops, n);

		if (r == LC_NOT_LINEARIZABLE) {
			res = r;
			if (out != NULL && lc_witness_build(&c, h, key, kops, n, limit_s, out) != 0)
				goto nomem;
			break;
		}
		if (r == LC_UNKNOWN) {
			res = r;
			if (c.timed_out)
				break;  /* the deadline is global; a cache-full key is not */
		}
	}
	lc_ctx_free(&c);
	free(kops);
	free(start);
	free(order);
	free(keys);
	return res;
nomem:
	if (ctx_ok)
		lc_ctx_free(&c);
	free(kops);
	free(start);
	free(order);
	free(keys);
	lc_witness_free(out);
	return LC_UNKNOWN;
}

enum lc_result
lc_check(const struct lc_history *h, double time_limit_s, struct lc_witness *out)
{
	struct lc_limits lim = { .time_limit_s = time_limit_s, .cache_bytes_max = 0 };

	return lc_check_limits(h, &lim, out);
}

void
lc_witness_free(struct lc_witness *w)
{
	if (w == NULL)
		return;
	free(w->ops);
	memset(w, 0, sizeof(*w));
}
