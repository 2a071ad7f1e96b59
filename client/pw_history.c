/* SPDX-License-Identifier: Apache-2.0
 * pw_history: the pw-lincheck history writer (format in pw_history.h). Moved here from
 * libpaxwire-client, which now only reports each operation to its observer: recording
 * histories is a job for test tools, not for the library applications link.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <sys/random.h>

#include "pw_history.h"

/** Writes p[0..n) as a JSON string; bytes outside printable ASCII as \u00XX. */
static void json_str(FILE *f, const uint8_t *p, size_t n)
{
	fputc('"', f);
	for (size_t i = 0; i < n; i++) {
		uint8_t b = p[i];

		if (b == '"' || b == '\\')
			fprintf(f, "\\%c", b);
		else if (b >= 0x20 && b < 0x7f)
			fputc(b, f);
		else
			fprintf(f, "\\u%04x", (unsigned)b);
	}
	fputc('"', f);
}

static void json_str_or_null(FILE *f, const uint8_t *p, size_t n)
{
	if (p == NULL)
		fputs("null", f);
	else
		json_str(f, p, n);
}

/** The line's ok for a put, get or del that ended with rc: 1 done, 0 definitely did
 *  nothing, -1 outcome unknown. */
static int kv_ok(int rc)
{
	if (pw_err_outcome_unknown(rc))
		return -1;
	return rc == PW_OK || rc == PW_E_NOT_FOUND || rc == PW_E_BUFFER;
}

void pw_history_record(void *arg, const struct pw_op_event *ev)
{
	struct pw_history *h = arg;
	const char *op;
	FILE *f = h->f;
	int ok;

	assert(ev != NULL);
	if (!ev->sent)
		return;
	switch (ev->op) {
	case PW_OP_PUT:
		op = "put";
		ok = kv_ok(ev->rc);
		break;
	case PW_OP_GET:
		op = "get";
		ok = kv_ok(ev->rc);
		break;
	case PW_OP_DEL:
		op = "del";
		ok = kv_ok(ev->rc);
		break;
	case PW_OP_CAS:
		/* ok:false for a cas means "applied, comparison failed" (it acts as a read); a
		 * cas that did nothing for another reason is left out of the history. */
		op = "cas";
		if (ev->rc == PW_OK)
			ok = 1;
		else if (ev->rc == PW_E_CAS_MISMATCH || ev->rc == PW_E_NOT_FOUND)
			ok = 0;
		else if (pw_err_outcome_unknown(ev->rc))
			ok = -1;
		else
			return;
		break;
	default:
		return;   /* stream operations and pw_execute: not in the format */
	}

	fprintf(f, "{\"client\":%" PRIu32 ",\"op\":\"%s\",\"key\":", h->client, op);
	json_str(f, ev->key, ev->klen);
	if (ev->op == PW_OP_CAS) {
		fputs(",\"expect\":", f);
		json_str_or_null(f, ev->expect, ev->elen);
	}
	if (ev->op == PW_OP_PUT || ev->op == PW_OP_CAS) {
		fputs(",\"value\":", f);
		json_str(f, ev->value, ev->vlen);
	}
	if (ev->op == PW_OP_GET && ok == 1) {
		fputs(",\"result\":", f);
		json_str_or_null(f, ev->result, ev->rlen);
	}
	fprintf(f, ",\"call_ns\":%" PRIu64 ",", ev->call_ns);
	if (ok < 0)
		fputs("\"return_ns\":null,\"ok\":null}\n", f);
	else
		fprintf(f, "\"return_ns\":%" PRIu64 ",\"ok\":%s}\n", ev->return_ns,
			ok ? "true" : "false");
	fflush(f);
}

void pw_history_attach(struct pw_history *h, struct pw_client *c, FILE *f, uint32_t client)
{
	assert(h != NULL);
	assert(c != NULL);
	assert(f != NULL);
	assert(client != 0);
	h->f = f;
	h->client = client;
	pw_client_set_observer(c, pw_history_record, h);
}

int pw_history_client_random(uint32_t *client)
{
	uint32_t v = 0;

	/* Bounded: a zero draw has odds 2^-32; four in a row mean a broken generator. */
	for (int i = 0; i < 4 && v == 0; i++) {
		if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v))
			return errno != 0 ? -errno : -EIO;
	}
	if (v == 0)
		return -EIO;
	*client = v;
	return 0;
}
