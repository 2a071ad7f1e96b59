/* SPDX-License-Identifier: Apache-2.0
 * pw_history: records a client's key-value operations as a pw-lincheck history (JSON
 * Lines, tests/lincheck/lincheck.h), for the tools and tests that check a cluster for
 * linearizability: pwctl --history, pw-bench --history, test_client. It observes the
 * client through the public observer (pw_client_set_observer) and is NOT part of
 * libpaxwire-client: it is compiled into those programs (static library pwhistory).
 *
 * One line per put, get, del and cas, flushed per line:
 *   {"client":3,"op":"put","key":"k1","value":"v7","call_ns":1200,"return_ns":5400,"ok":true}
 * call_ns is taken before the first send, return_ns when the reply arrived, both from
 * CLOCK_MONOTONIC (shared by every process of one machine). get lines carry "result"
 * (null: absent); cas lines "expect" (null: expect absent) and "value"; an operation
 * whose outcome is unknown has "ok":null and "return_ns":null; "ok":false marks a
 * command that definitely did nothing (FULL, BAD_COMMAND) and a cas that was applied but
 * whose comparison failed. A cas refused without effect (FULL, BAD_COMMAND) is left out,
 * as the format requires, and so is every operation of which no datagram went out
 * (rejected arguments, or a registration that failed first). Keys and values are JSON
 * strings; bytes outside printable ASCII are written as \u00XX. Stream operations and
 * pw_execute are not recorded (the format has no words for them).
 */
#ifndef PW_HISTORY_H
#define PW_HISTORY_H

#include <stdint.h>
#include <stdio.h>

#include "paxwire.h"

/** One client's recorder. Fill it with pw_history_attach. */
struct pw_history {
	FILE *f;           /**< where the lines go; not owned */
	uint32_t client;   /**< the "client" number of every line; nonzero */
};

/**
 * Records c's key-value operations in f from now on, as client number `client`
 * (replaces c's observer, if it had one).
 * @param h the recorder: must stay valid while c may call it (until
 *          pw_client_set_observer(c, NULL, NULL) or pw_client_close(c)).
 * @param c client.
 * @param f the history file; it must outlive h's use, and is not closed.
 * @param client the "client" number of h's lines: nonzero, distinct per client object
 *               among the writers of one history (pw_history_client_random draws one).
 */
void pw_history_attach(struct pw_history *h, struct pw_client *c, FILE *f, uint32_t client);

/**
 * The observer pw_history_attach installs (arg: the struct pw_history), for a caller
 * that observes the client itself and passes the events on.
 */
void pw_history_record(void *h, const struct pw_op_event *ev);

/**
 * A random nonzero client number, for a writer that shares a history file with others
 * it does not know (pwctl --history, run once per operation).
 * @return 0, or -errno if getrandom(2) failed.
 */
int pw_history_client_random(uint32_t *client);

#endif /* PW_HISTORY_H */
