/* SPDX-License-Identifier: Apache-2.0
 * lincheck: a linearizability checker for histories of a key-value store.
 *
 * The model is a map from keys to values where every key starts absent and keys are
 * independent, so a history is linearizable iff each key's sub-history is
 * (P-compositionality: Lowe, "Testing for linearizability", CCPE 2017, section 4;
 * Horn & Kroening 2015). Each key is checked with the just-in-time linearization search
 * of Wing & Gong as refined by Lowe (section 3): a depth-first search that only
 * linearizes minimal calls, memoised on (set of linearized operations, register
 * value), the algorithm of the Porcupine checker (anishathalye/porcupine).
 *
 * Two sound prunings are added (lc_search in lincheck.c): a legal minimal read is
 * taken without branching, and a write that would leave a pending read unable ever
 * to see its value is not tried. Timed-out writes whose value nothing reads are
 * dropped before the search. A differential test checks all of this against brute
 * force on small random histories.
 *
 * This is a test tool, not data plane code: it allocates freely. Searches are bounded
 * by a time limit and a cap on the memo cache; hitting either gives LC_UNKNOWN. A memo
 * entry holds one bit per operation on the key, so a key with 10,000 operations costs
 * about 1.3 KB per entry. Measured: 10,000 operations over 100 keys from 16 clients
 * take milliseconds, and so does one key with 2,000 operations from 16 clients (or
 * 10,000 from 16); one key with 2,000 operations from 64 always-busy clients does not
 * finish (LC_UNKNOWN).
 *
 * Operation semantics (what the checker assumes the store promised):
 *   put(k, v)        always succeeds; afterwards k = v.
 *   del(k)           always succeeds, whether or not k was present; afterwards k is
 *                    absent. Its outcome is not observed.
 *   get(k) -> r      r is the value of k, or absent (NULL; "result":null in JSON).
 *   cas(k, e, v)     compare-and-swap: if k == e then k = v. e may be absent (NULL;
 *                    "expect":null in JSON), meaning "only if k is absent".
 *                    ok == 1: the swap happened, so k was e just before.
 *                    ok == 0: the cas WAS applied and the comparison failed, so k != e
 *                    at its linearization point; it acts as a read. (A cas that was
 *                    rejected without being applied is left out of the history.)
 *                    ok == -1: timed out; it may or may not have been applied.
 * ok == 0 for put/get/del means the operation definitely did not take effect (for
 * example the request was rejected): it is dropped before checking.
 * ok == -1 (timed out, "ok":null in JSON) means the operation may or may not have
 * taken effect; its return time is +infinity, so it may linearize anywhere after its
 * call, or not at all. A timed-out get tells nothing and is dropped.
 *
 * Time: an operation's interval is [call_ns, return_ns]. Operations whose intervals
 * touch (one's return_ns == the other's call_ns) are treated as concurrent, as in
 * Porcupine, so that clock granularity never produces a false alarm.
 */
#ifndef LC_LINCHECK_H
#define LC_LINCHECK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/** Longest key or value accepted, in bytes. Keys and values are interned, so this
 *  bounds a single string, not memory use. */
#define LC_STR_LEN_MAX 256u

/** Longest line lc_history_load_jsonl accepts, in bytes. */
#define LC_LINE_LEN_MAX 65536u

/** Most operations in one history (indices are 32-bit in the checker). */
#define LC_OPS_MAX (1u << 30)

/** Memo cache cap used by lc_check: beyond it the search gives up with LC_UNKNOWN
 *  rather than exhaust memory. */
#define LC_CACHE_BYTES_DEFAULT ((size_t)1 << 30)

enum lc_op {
	LC_GET = 0,
	LC_PUT,
	LC_DEL,
	LC_CAS,
};

enum lc_result {
	LC_LINEARIZABLE = 0,
	LC_NOT_LINEARIZABLE = 1,
	LC_UNKNOWN = 2,     /**< time limit or cache cap hit before a decision */
};

/**
 * One operation as the client saw it. Strings are (pointer, length); a NULL pointer
 * means absent where that is allowed. A length of 0 means "the pointer is a
 * NUL-terminated string" (so `.key = "k1"` works, and "" is the empty string).
 * lc_history_add copies the strings.
 */
struct lc_event {
	uint32_t client;        /**< client id: informational, not used by the model */
	enum lc_op op;
	const char *key;        /**< required, never NULL */
	size_t key_len;
	const char *value;      /**< put, cas: value written; required for them */
	size_t value_len;
	const char *expect;     /**< cas: expected value; NULL = expect absent */
	size_t expect_len;
	const char *result;     /**< get with ok == 1: value read; NULL = absent */
	size_t result_len;
	uint64_t call_ns;
	uint64_t return_ns;     /**< >= call_ns; ignored when ok == -1 (+infinity) */
	int ok;                 /**< 1 ok, 0 failed (see top of file), -1 timed out */
	uint32_t line;          /**< source line for reports, 0 if none */
};

struct lc_history;

/** The part of a history that cannot be linearized, filled by lc_check. */
struct lc_witness {
	/** The key whose sub-history is not linearizable. Points into the history: valid
	 *  until it is freed or added to. Not NUL-terminated. */
	const char *key;
	size_t key_len;
	size_t key_ops;         /**< operations on that key that were checked */
	/** The earliest time by which the key's history already cannot be linearized:
	 *  a return time, found by binary search. Operations called by then and still
	 *  running count as timed out. UINT64_MAX if the search ran out of time. */
	uint64_t cut_ns;
	size_t prefix_ops;      /**< the key's operations called by cut_ns */
	/** History indices (lc_history_event) of a subset of that prefix that by itself
	 *  cannot be linearized, sorted by call time. Every reduction step kept the
	 *  property "if the subset cannot be linearized, neither can the history":
	 *  reads are dropped freely, and a write only if nothing left observes its value
	 *  (and no compare-failed cas is left). Malloc'd; release with lc_witness_free. */
	size_t *ops;
	size_t n_ops;
	int reduced;            /**< 1 if reduction ran to a fixpoint, 0 if out of time */
};

/** Limits for lc_check_limits. */
struct lc_limits {
	double time_limit_s;    /**< <= 0: none. The witness gets the same budget again. */
	size_t cache_bytes_max; /**< 0: LC_CACHE_BYTES_DEFAULT */
};

/**
 * New empty history.
 * @return the history, or NULL with errno set.
 */
struct lc_history *lc_history_new(void);

/** Frees h and everything it owns. NULL is allowed. */
void lc_history_free(struct lc_history *h);

/**
 * Appends one operation (copying its strings).
 * @return 0, -EINVAL if ev is malformed (NULL key, missing value, string longer than
 *   LC_STR_LEN_MAX, return_ns < call_ns on a completed operation, bad op or ok), or
 *   -ENOMEM.
 */
int lc_history_add(struct lc_history *h, const struct lc_event *ev);

/**
 * Appends the operations of a JSON Lines file, one object per line:
 *   {"client":3,"op":"put","key":"k1","value":"v7","call_ns":1200,"return_ns":5400,
 *    "ok":true}
 * op is "get", "put", "del" (or "delete") or "cas"; get needs "result" when ok is true
 * and cas needs "expect" (null = absent); put and cas need "value". ok is true, false
 * or null (timed out); if missing it is null when return_ns is null or missing, and
 * true otherwise. Strings may also be written as JSON numbers (their text is used).
 * Unknown fields are ignored. Blank lines and lines starting with '#' are skipped.
 * The events' line field is set to the 1-based line number.
 * @param err filled with "line N: reason" on a parse error (may be NULL).
 * @return 0, -EINVAL on a parse error, -EIO on a read error, or -ENOMEM.
 */
int lc_history_load_jsonl(struct lc_history *h, FILE *f, char *err, size_t errlen);

/** Number of operations added, dropped ones included. */
size_t lc_history_size(const struct lc_history *h);

/** Number of distinct keys. */
size_t lc_history_key_count(const struct lc_history *h);

/**
 * Reads back operation idx. String pointers point into h: valid until h is added to
 * or freed, and not NUL-terminated; the lengths are set, and an empty string is
 * returned as "" (length 0), so the event can be passed to lc_history_add as is.
 * @return 0, or -ERANGE if idx >= lc_history_size(h).
 */
int lc_history_event(const struct lc_history *h, size_t idx, struct lc_event *ev);

/**
 * One-line description of operation idx, e.g.
 *   line 3: client 1 get "k1" -> "v7" [1300, 5600]
 * @return as snprintf, or -ERANGE.
 */
int lc_history_format_op(const struct lc_history *h, size_t idx, char *buf, size_t len);

/**
 * Checks h with a time limit (<= 0: none) and the default cache cap. Keys are checked
 * in order of first appearance and the check stops at the first key that fails.
 * @param out if not NULL and the result is LC_NOT_LINEARIZABLE, filled with a witness
 *   (release with lc_witness_free); otherwise zeroed. Finding and reducing the
 *   witness gets a budget of time_limit_s of its own.
 * @return the verdict; LC_UNKNOWN also when memory ran out.
 */
enum lc_result lc_check(const struct lc_history *h, double time_limit_s,
		struct lc_witness *out);

/** lc_check with explicit limits (lim may be NULL for no time limit, default cap). */
enum lc_result lc_check_limits(const struct lc_history *h, const struct lc_limits *lim,
		struct lc_witness *out);

/** Frees what lc_check put in w and zeroes it. NULL is allowed. */
void lc_witness_free(struct lc_witness *w);

/** Static name: "linearizable", "not linearizable", "unknown". */
const char *lc_result_str(enum lc_result r);

#endif /* LC_LINCHECK_H */
