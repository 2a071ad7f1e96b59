/* SPDX-License-Identifier: Apache-2.0
 * libFuzzer harness for the protocol's wire codec (px_decode, px_encode, batches).
 * Built with -Dfuzz=true (tests/fuzz/meson.build) and run by scripts/fuzz; its seed
 * corpus is tests/fuzz/corpus/fuzz_wire/.
 *
 * The first input byte picks the cluster size (1, 3, 5, 7 or 9); the rest is the message,
 * decoded as cluster FUZZ_CLUSTER (libFuzzer's comparison tracing finds the id).
 * Properties checked for every input:
 *   - px_decode never reads out of bounds or trips UBSan, whatever the bytes;
 *   - an accepted message is canonical: px_encode gives back exactly the input bytes,
 *     px_encoded_len agrees, and decoding those bytes again gives the same message;
 *   - every entry value of an accepted message iterates as a batch to its end.
 * A violation aborts, which libFuzzer reports with the input that caused it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "px_batch.h"
#include "px_codec.h"

#define FUZZ_CLUSTER 0xc1a55e01u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
	if (!ok)
		abort();
}

static void check_same(const struct px_msg *a, const struct px_msg *b)
{
	check(a->type == b->type && a->flags == b->flags && a->from == b->from);
	check(a->to == b->to && a->cluster_id == b->cluster_id);
	check(a->config_epoch == b->config_epoch && a->ballot == b->ballot);
	check(px_uuid_eq(a->uuid, b->uuid) && a->read_round == b->read_round);
	check(a->snap_off == b->snap_off && a->snap_total == b->snap_total);
	check(a->n_inc == b->n_inc);
	check(memcmp(a->incarnation, b->incarnation, sizeof(a->incarnation)) == 0);
	check(a->slot_lo == b->slot_lo && a->slot_hi == b->slot_hi);
	check(a->commit == b->commit && a->nonce == b->nonce);
	check(a->n_entries == b->n_entries);
	for (uint32_t i = 0; i < a->n_entries; i++) {
		const struct px_entry *ea = &a->entries[i], *eb = &b->entries[i];

		check(ea->slot == eb->slot && ea->vballot == eb->vballot);
		check(ea->flags == eb->flags && ea->len == eb->len);
		check(memcmp(ea->value, eb->value, ea->len) == 0);
	}
	check(a->client_id == b->client_id && a->seq == b->seq);
	check(a->status == b->status && a->leader_hint == b->leader_hint);
	check(a->body_len == b->body_len);
	check(a->body_len == 0 || memcmp(a->body, b->body, a->body_len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct px_msg m, m2;
	static uint8_t out[PX_MSG_BYTES_MAX * 64];
	uint8_t n_replicas;
	size_t len;

	if (size < 1)
		return 0;
	n_replicas = (uint8_t)(1 + 2 * (data[0] % 5));
	data++;
	size--;

	if (px_decode(data, size, FUZZ_CLUSTER, n_replicas, &m) != PX_WIRE_OK)
		return 0;

	for (uint32_t i = 0; i < m.n_entries; i++) {
		struct px_cmd_ref c;
		uint32_t off = 0, n = 0;

		while (px_batch_next(m.entries[i].value, m.entries[i].len, &off, &c))
			n++;
		check(n == px_batch_count(m.entries[i].value));
		check(off == m.entries[i].len);
	}

	len = px_encode(&m, out, sizeof(out));
	check(len == size);
	check(px_encoded_len(&m) == size);
	check(memcmp(out, data, size) == 0);
	check(px_decode(out, len, FUZZ_CLUSTER, n_replicas, &m2) == PX_WIRE_OK);
	check_same(&m, &m2);
	return 0;
}
