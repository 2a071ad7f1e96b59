/* SPDX-License-Identifier: Apache-2.0
 * The backup file (prefix wire_backup_): one snapshot of a cluster's applied state, as
 * `pwctl snapshot save FILE` writes it and `paxwired --bootstrap --restore FILE` reads
 * it (docs/storage.md, "Backup files"; docs/operations.md, "Backup and restore").
 *
 *   offset  bytes  field
 *        0      8  magic "PXBACKUP"
 *        8      4  version (WIRE_BACKUP_VERSION)
 *       12      4  cluster_id: the cluster the snapshot came from (informational: a
 *                  restore seeds a new cluster, whose id may differ)
 *       16      8  slot: the applied slot the snapshot holds the state after
 *       24      8  id: the snapshot's content hash (wire_snap_hash of its bytes)
 *       32      8  len: bytes of the snapshot, which follow the header
 *       40      8  created_s: when pwctl wrote it, seconds since the epoch (informational)
 *       48      8  reserved, 0
 *       56      8  header hash: wire_snap_hash of bytes [0, 56)
 *       64    len  the snapshot (px_apply.h's format: "PXSNAP05", ...)
 *
 * All little-endian. A file is exactly 64 + len bytes. Pure (no I/O, no allocation): the
 * callers read and write the file.
 */
#ifndef WIRE_BACKUP_H
#define WIRE_BACKUP_H

#include <stddef.h>
#include <stdint.h>

/** Bytes of the header; the snapshot follows it. */
#define WIRE_BACKUP_HDR_BYTES 64u
/** The format version this code writes and reads. */
#define WIRE_BACKUP_VERSION 1u
/** The magic, 8 bytes, no terminating NUL on disk. */
#define WIRE_BACKUP_MAGIC "PXBACKUP"
/** The largest snapshot a backup may hold (1 TiB, as a snapshot on disk). */
#define WIRE_BACKUP_BYTES_MAX (1ull << 40)

_Static_assert(sizeof(WIRE_BACKUP_MAGIC) - 1u == 8u, "an 8-byte magic");

/** The header's fields (version is WIRE_BACKUP_VERSION when encoding). */
struct wire_backup_hdr {
	uint32_t version;
	uint32_t cluster_id;
	uint64_t slot;       /**< >= 1 */
	uint64_t id;         /**< != 0 */
	uint64_t len;        /**< 1 .. WIRE_BACKUP_BYTES_MAX */
	uint64_t created_s;
};

/**
 * Writes the header for h (its version ignored: WIRE_BACKUP_VERSION is written) into
 * out[0 .. WIRE_BACKUP_HDR_BYTES), the header hash included. h's fields must be in
 * their bounds (asserted: the caller's contract).
 */
void wire_backup_encode(const struct wire_backup_hdr *h, uint8_t *out);

/**
 * Reads and checks a header: the magic, the version, the reserved bytes, the header
 * hash, then the fields' bounds (slot >= 1, id != 0, 1 <= len <= WIRE_BACKUP_BYTES_MAX).
 * @param in len bytes (a header needs WIRE_BACKUP_HDR_BYTES).
 * @param h filled on success.
 * @param why set to a static string naming the first failed check, on failure.
 * @return 0; -EBADMSG (not a backup, or a corrupt header: *why says which); -ENOTSUP
 *         (a backup of another format version).
 */
int wire_backup_decode(const uint8_t *in, size_t len, struct wire_backup_hdr *h,
		       const char **why);

/**
 * Checks a snapshot's bytes against the header that names them: their length and their
 * content hash (wire_snap_hash == h->id).
 * @return 0, or -EBADMSG (*why: "length" or "content hash" mismatch).
 */
int wire_backup_check(const struct wire_backup_hdr *h, const uint8_t *snap, uint64_t len,
		      const char **why);

#endif /* WIRE_BACKUP_H */
