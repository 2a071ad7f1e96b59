/* SPDX-License-Identifier: Apache-2.0
 * The backup file's header (wire_backup.h). */
#include <assert.h>
#include <errno.h>
#include <string.h>

#include "wire_backup.h"
#include "wire_hash.h"
#include "wire_le.h"

/* Header offsets (wire_backup.h draws them). */
#define B_MAGIC 0u
#define B_VERSION 8u
#define B_CLUSTER 12u
#define B_SLOT 16u
#define B_ID 24u
#define B_LEN 32u
#define B_CREATED 40u
#define B_RESERVED 48u
#define B_HASH 56u

_Static_assert(B_HASH + 8u == WIRE_BACKUP_HDR_BYTES, "the hash ends the header");

void wire_backup_encode(const struct wire_backup_hdr *h, uint8_t *out)
{
	assert(h->slot >= 1);
	assert(h->id != 0);
	assert(h->len >= 1 && h->len <= WIRE_BACKUP_BYTES_MAX);
	memset(out, 0, WIRE_BACKUP_HDR_BYTES);
	memcpy(out + B_MAGIC, WIRE_BACKUP_MAGIC, 8);
	wire_st32(out + B_VERSION, WIRE_BACKUP_VERSION);
	wire_st32(out + B_CLUSTER, h->cluster_id);
	wire_st64(out + B_SLOT, h->slot);
	wire_st64(out + B_ID, h->id);
	wire_st64(out + B_LEN, h->len);
	wire_st64(out + B_CREATED, h->created_s);
	wire_st64(out + B_HASH, wire_snap_hash(out, B_HASH));
}

int wire_backup_decode(const uint8_t *in, size_t len, struct wire_backup_hdr *h,
		       const char **why)
{
	const char *w = NULL;
	int rc = -EBADMSG;

	if (in == NULL || len < WIRE_BACKUP_HDR_BYTES)
		w = "shorter than a backup header (64 bytes)";
	else if (memcmp(in + B_MAGIC, WIRE_BACKUP_MAGIC, 8) != 0)
		w = "no PXBACKUP magic: not a backup file";
	else if (wire_ld64(in + B_HASH) != wire_snap_hash(in, B_HASH))
		w = "the header's hash does not match: the header is corrupt";
	else if (wire_ld32(in + B_VERSION) != WIRE_BACKUP_VERSION) {
		w = "a backup of another format version";
		rc = -ENOTSUP;
	} else if (wire_ld64(in + B_RESERVED) != 0)
		w = "reserved header bytes are not zero";
	else if (wire_ld64(in + B_SLOT) == 0)
		w = "slot 0: a backup holds the state after some slot >= 1";
	else if (wire_ld64(in + B_ID) == 0)
		w = "id 0: no snapshot is named so";
	else if (wire_ld64(in + B_LEN) == 0 || wire_ld64(in + B_LEN) > WIRE_BACKUP_BYTES_MAX)
		w = "the snapshot's length is 0 or above 1 TiB";
	if (w != NULL) {
		if (why != NULL)
			*why = w;
		return rc;
	}
	h->version = wire_ld32(in + B_VERSION);
	h->cluster_id = wire_ld32(in + B_CLUSTER);
	h->slot = wire_ld64(in + B_SLOT);
	h->id = wire_ld64(in + B_ID);
	h->len = wire_ld64(in + B_LEN);
	h->created_s = wire_ld64(in + B_CREATED);
	return 0;
}

int wire_backup_check(const struct wire_backup_hdr *h, const uint8_t *snap, uint64_t len,
		      const char **why)
{
	const char *w = NULL;

	if (len != h->len || (snap == NULL && len != 0))
		w = "the snapshot's length is not the header's";
	else if (wire_snap_hash(snap, (size_t)len) != h->id)
		w = "the snapshot's content hash is not the header's id: the snapshot is corrupt";
	if (w != NULL) {
		if (why != NULL)
			*why = w;
		return -EBADMSG;
	}
	return 0;
}
