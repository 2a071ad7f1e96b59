/* SPDX-License-Identifier: Apache-2.0
 * Membership through the log (px.h, "Membership"; docs/consistency.md, "Membership
 * changes"): the configuration entry's encoding and the one rule, shared by the replica
 * (quorums, recipients) and the applier (snapshots, clients), that says which
 * configuration is in force at a slot. Pure: no state of its own.
 */
#include <string.h>

#include "px.h"
#include "px_batch.h"
#include "wire_le.h"

bool px_members_valid(const struct px_members *m)
{
	uint32_t nv = px_popcount16(m->voters);
	uint32_t nl = px_popcount16(m->learners);
	uint16_t ids = (uint16_t)((1u << PX_REPLICAS_MAX) - 1u);

	if ((m->voters & m->learners) != 0 || ((m->voters | m->learners) & ~ids) != 0)
		return false;
	if (nl > PX_LEARNERS_MAX)
		return false;
	if (nv == 1)
		return m->voters == 1 && nl == 0;
	return nv >= PX_REPLICAS_MIN && nv <= PX_REPLICAS_MAX;
}

bool px_conf_parse(const uint8_t *value, uint32_t len, uint32_t *base, struct px_members *m,
		   const uint8_t **body)
{
	const uint32_t want = PX_BATCH_HDR_BYTES + PX_CMD_HDR_BYTES + PX_CONF_BYTES;

	if (len != want || wire_ld32(value) != 1)
		return false;
	const uint8_t *c = value + PX_BATCH_HDR_BYTES;
	/* The command: u64 client 0, u64 seq 0, u32 len, then the body. */
	if (wire_ld64(c) != 0 || wire_ld64(c + 8) != 0 || wire_ld32(c + 16) != PX_CONF_BYTES)
		return false;
	const uint8_t *b = c + PX_CMD_HDR_BYTES;
	if (wire_ld32(b) != PX_CONF_MAGIC)
		return false;
	*base = wire_ld32(b + 4);
	m->epoch = wire_ld32(b + 8);
	m->voters = wire_ld16(b + 12);
	m->learners = wire_ld16(b + 14);
	if (body != NULL)
		*body = b;
	return true;
}

void px_conf_body(uint8_t body[PX_CONF_BYTES], uint32_t base, const struct px_members *m,
		  const char *const addrs[PX_REPLICAS_MAX])
{
	memset(body, 0, PX_CONF_BYTES);
	wire_st32(body, PX_CONF_MAGIC);
	wire_st32(body + 4, base);
	wire_st32(body + 8, m->epoch);
	wire_st16(body + 12, m->voters);
	wire_st16(body + 14, m->learners);
	for (uint32_t i = 0; addrs != NULL && i < PX_REPLICAS_MAX; i++) {
		if (addrs[i] == NULL || !px_is_member(m, (uint8_t)i))
			continue;
		size_t n = strnlen(addrs[i], PX_CONF_ADDR_BYTES - 1);
		memcpy(body + PX_CONF_HDR_BYTES + i * PX_CONF_ADDR_BYTES, addrs[i], n);
	}
}

void px_membership_init(struct px_membership *ms, uint8_t n_replicas, uint32_t epoch,
			uint32_t alpha)
{
	memset(ms, 0, sizeof(*ms));
	ms->cur.epoch = epoch;
	ms->cur.voters = (uint16_t)((1u << n_replicas) - 1u);
	ms->alpha = alpha;
}

bool px_membership_advance(struct px_membership *ms, uint64_t slot)
{
	if (ms->next_eff == 0 || slot < ms->next_eff)
		return false;
	ms->cur = ms->next;
	memset(&ms->next, 0, sizeof(ms->next));
	ms->next_eff = 0;
	return true;
}

int px_membership_chosen(struct px_membership *ms, uint64_t slot, const uint8_t *value,
			 uint32_t len)
{
	uint32_t base;
	struct px_members m;
	int took = 0;

	px_membership_advance(ms, slot);
	if (px_conf_parse(value, len, &base, &m, NULL)) {
		/* One change at a time, each naming the epoch it replaces: a second entry
		 * proposed against the same epoch (two leaders, neither saw the other's)
		 * is void, on every replica alike, as is one that is not a configuration. */
		if (ms->next_eff == 0 && base == ms->cur.epoch && m.epoch == base + 1 &&
		    px_members_valid(&m) && ms->alpha >= 1) {
			ms->next = m;
			ms->next_eff = slot + ms->alpha;
			took = 1;
		} else {
			took = -1;
		}
	}
	px_membership_advance(ms, slot + 1);
	return took;
}
