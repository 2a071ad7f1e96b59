/* SPDX-License-Identifier: Apache-2.0
 * One log for the process (prefix env_log_): every line of paxwired's stderr, whether
 * from the daemon (dataplane/), the embedder (node/, through its ops.log) or DPDK (its
 * log stream, env_log_stream), goes out as one line with a UTC timestamp to the
 * microsecond, the program and replica, the level and the message; as text or as one
 * JSON object (docs/operations.md, "Logs"). Off the per-packet path: a line is formatted
 * on the stack and written with one fputs to an unbuffered stderr.
 *
 *   text: 2026-12-04T17:44:29.123456Z paxwired[0] info: role candidate -> leader ...
 *   json: {"ts":"2026-12-04T17:44:29.123456Z","prog":"paxwired","id":0,"level":"info","msg":"..."}
 */
#ifndef ENV_LOG_H
#define ENV_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

enum env_log_level { ENV_LOG_ERROR = 0, ENV_LOG_WARN = 1, ENV_LOG_INFO = 2, ENV_LOG_DEBUG = 3 };
enum env_log_format { ENV_LOG_TEXT = 0, ENV_LOG_JSON = 1 };

/** Bytes of one message at most (longer ones are cut, ending in "..."). */
#define ENV_LOG_MSG_BYTES 1024u

/** Sets the program's name (static), its replica id (-1: none yet), the format and the
 *  most verbose level written. Before: "paxwired", -1, text, info. */
void env_log_setup(const char *prog, int id, enum env_log_format fmt, enum env_log_level max);
/** The replica id, once known. */
void env_log_set_id(int id);
/** Parses "text" or "json"; -1 if neither. */
int env_log_format_parse(const char *s);

/** Writes one line at lvl (nothing if lvl is above the level set). A trailing newline
 *  in msg is dropped; other control characters are escaped. */
void env_log(enum env_log_level lvl, const char *msg);
__attribute__((format(printf, 2, 3))) void env_logf(enum env_log_level lvl, const char *fmt, ...);
__attribute__((format(printf, 2, 0))) void env_vlogf(enum env_log_level lvl, const char *fmt,
						      va_list ap);

/** Whether env_log_setup ran (a program that logs through here: env_eal_init then
 *  sends DPDK's log lines here too). */
bool env_log_is_setup(void);

/** A stream whose writes become log lines, one per newline, at the level level_of()
 *  says when the line ends (DPDK's log: rte_openlog_stream). NULL if it cannot be made. */
FILE *env_log_stream(enum env_log_level (*level_of)(void));

#endif /* ENV_LOG_H */
