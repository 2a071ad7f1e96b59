/* SPDX-License-Identifier: Apache-2.0
 * Client address table: where to send the REPLY of an applied command.
 *
 * Open addressing over a power-of-two table of twice the session count, at most
 * DP_CLIENT_PROBES probes per operation. A put that finds neither the client nor an
 * empty entry in its probe window overwrites the least recently used entry there: the
 * table is a cache, and a client whose address was lost gets no REPLY for that command;
 * its retry (same client id and seq) re-records the address and is answered from the
 * session cache. No allocation, no deletion.
 */
#include <assert.h>
#include <string.h>

#include "dp_pvt.h"

uint32_t dp_clients_entries(uint32_t max_sessions)
{
	uint32_t n = DP_CLIENTS_MIN;
	/* Bounded: max_sessions <= PX_SESSIONS_MAX (2^16), so at most 17 doublings. */
	while (n < 2u * max_sessions && n < (1u << 20))
		n <<= 1;
	return n;
}

void dp_clients_init(struct dp_clients *c, struct dp_client *t, uint32_t entries)
{
	assert(entries >= DP_CLIENTS_MIN && (entries & (entries - 1)) == 0);
	memset(c, 0, sizeof(*c));
	c->t = t;
	c->mask = entries - 1;
	c->clock = 1;
}

static uint32_t home(const struct dp_clients *c, uint64_t id)
{
	/* Fibonacci hashing: client ids are often small sequential numbers. */
	return (uint32_t)((id * 0x9e3779b97f4a7c15ull) >> 32) & c->mask;
}

void dp_clients_put(struct dp_clients *c, uint64_t client_id, const struct nic_addr *addr,
		    uint8_t port)
{
	uint32_t h = home(c, client_id);
	struct dp_client *victim = NULL;
	for (uint32_t i = 0; i < DP_CLIENT_PROBES; i++) {
		struct dp_client *e = &c->t[(h + i) & c->mask];
		if (e->stamp != 0 && e->client_id == client_id) {
			victim = e;
			break;
		}
		if (victim == NULL || (victim->stamp != 0 && e->stamp < victim->stamp))
			victim = e;  /* the first empty entry, else the oldest */
	}
	if (victim->stamp != 0 && victim->client_id != client_id)
		c->evictions++;
	victim->client_id = client_id;
	victim->addr = *addr;
	victim->port = port;
	victim->stamp = c->clock++;
}

const struct dp_client *dp_clients_get(const struct dp_clients *c, uint64_t client_id)
{
	uint32_t h = home(c, client_id);
	for (uint32_t i = 0; i < DP_CLIENT_PROBES; i++) {
		const struct dp_client *e = &c->t[(h + i) & c->mask];
		if (e->stamp != 0 && e->client_id == client_id)
			return e;
	}
	return NULL;
}
