/* SPDX-License-Identifier: Apache-2.0
 * The process's log lines (env_log.h).
 */
#include "env_log.h"

#include <stdbool.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

static const char *g_prog = "paxwired";
static int g_id = -1;
static enum env_log_format g_fmt = ENV_LOG_TEXT;
static enum env_log_level g_max = ENV_LOG_INFO;
static bool g_setup;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void env_log_setup(const char *prog, int id, enum env_log_format fmt, enum env_log_level max)
{
	g_prog = prog;
	g_setup = true;
	g_id = id;
	g_fmt = fmt;
	g_max = max;
}

bool env_log_is_setup(void)
{
	return g_setup;
}

void env_log_set_id(int id)
{
	g_id = id;
}

int env_log_format_parse(const char *s)
{
	if (strcmp(s, "text") == 0)
		return ENV_LOG_TEXT;
	if (strcmp(s, "json") == 0)
		return ENV_LOG_JSON;
	return -1;
}

/** Appends msg to out (at most cap - 1 bytes, NUL-terminated), escaped for the format:
 *  JSON escapes quotes, backslashes and control characters; text escapes control
 *  characters only (one record a line). */
static void escape(char *out, size_t cap, const char *msg, bool json)
{
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)msg; *p != '\0'; p++) {
		char e[8];
		size_t n;
		if (*p == '\n' && p[1] == '\0')
			break;   /* a trailing newline: the line's own */
		if (json && (*p == '"' || *p == '\\'))
			n = (size_t)snprintf(e, sizeof(e), "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			n = (size_t)snprintf(e, sizeof(e), json ? "\\u%04x" : "\\x%02x", *p);
		else {
			e[0] = (char)*p;
			n = 1;
		}
		if (o + n + 4u >= cap) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		memcpy(out + o, e, n);
		o += n;
	}
	out[o] = '\0';
}

void env_log(enum env_log_level lvl, const char *msg)
{
	if (lvl > g_max)
		return;
	struct timespec ts;
	struct tm tm;
	char when[32], esc[2u * ENV_LOG_MSG_BYTES], line[3u * ENV_LOG_MSG_BYTES];
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	bool json = g_fmt == ENV_LOG_JSON;
	escape(esc, sizeof(esc), msg, json);
	const char *lv = (unsigned)lvl < 4u ? level_names[lvl] : "?";
	if (json) {
		char id[16] = "null";
		if (g_id >= 0)
			snprintf(id, sizeof(id), "%d", g_id);
		snprintf(line, sizeof(line),
			 "{\"ts\":\"%s.%06ldZ\",\"prog\":\"%s\",\"id\":%s,\"level\":\"%s\",\"msg\":\"%s\"}\n",
			 when, ts.tv_nsec / 1000, g_prog, id, lv, esc);
	} else if (g_id >= 0) {
		snprintf(line, sizeof(line), "%s.%06ldZ %s[%d] %s: %s\n", when, ts.tv_nsec / 1000,
			 g_prog, g_id, lv, esc);
	} else {
		snprintf(line, sizeof(line), "%s.%06ldZ %s %s: %s\n", when, ts.tv_nsec / 1000, g_prog,
			 lv, esc);
	}
	fputs(line, stderr);   /* stderr is unbuffered: one write a line */
}

void env_vlogf(enum env_log_level lvl, const char *fmt, va_list ap)
{
	char msg[ENV_LOG_MSG_BYTES];
	if (lvl > g_max)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	env_log(lvl, msg);
}

void env_logf(enum env_log_level lvl, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	env_vlogf(lvl, fmt, ap);
	va_end(ap);
}

/* The stream: bytes collect until a newline, then go out as one line. */
struct stream {
	enum env_log_level (*level_of)(void);
	size_t n;
	char buf[ENV_LOG_MSG_BYTES];
};

static ssize_t stream_write(void *cookie, const char *b, size_t len)
{
	struct stream *s = cookie;
	for (size_t i = 0; i < len; i++) {
		if (b[i] == '\n' || s->n + 1u >= sizeof(s->buf)) {
			s->buf[s->n] = '\0';
			if (s->n > 0)
				env_log(s->level_of(), s->buf);
			s->n = 0;
			if (b[i] == '\n')
				continue;
		}
		s->buf[s->n++] = b[i];
	}
	return (ssize_t)len;
}

FILE *env_log_stream(enum env_log_level (*level_of)(void))
{
	/* Lives as long as the process: DPDK may log until it exits. */
	static struct stream s;
	s.level_of = level_of;
	s.n = 0;
	cookie_io_functions_t io = { .read = NULL, .write = stream_write, .seek = NULL, .close = NULL };
	FILE *f = fopencookie(&s, "w", io);
	if (f != NULL)
		setvbuf(f, NULL, _IOLBF, 0);
	return f;
}
