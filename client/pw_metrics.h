/* SPDX-License-Identifier: Apache-2.0
 * The members' metrics in the Prometheus text exposition format (pwctl metrics,
 * paxwire-exporter). Off any replica: a tool asks every member for every page of its
 * metrics (pw_member_stats_page: one JSON object per page, docs/metrics.md) and renders
 * them with one `member="N"` label per replica.
 */
#ifndef PW_METRICS_H
#define PW_METRICS_H

#include <stdio.h>

#include "paxwire.h"

struct pwm_set;

/** An empty set of samples; NULL (errno ENOMEM) if out of memory. */
struct pwm_set *pwm_new(void);
void pwm_free(struct pwm_set *m);

/**
 * Takes one page of member `member`'s metrics (a JSON object as a replica answers
 * PX_ADMIN_STATS) into m. @return 0, or -1 with a message naming the fault in err.
 */
int pwm_add_json(struct pwm_set *m, unsigned member, const char *json, char *err,
		 size_t errlen);

/**
 * Asks every member of c for every page of its metrics and takes them into m. A member
 * that does not answer is left out (its pwctl-style error goes to errf, if not NULL),
 * and counted in paxwire_scrape_errors.
 * @return the number of members that answered every page.
 */
unsigned pwm_collect(struct pwm_set *m, struct pw_client *c, FILE *errf);

/** Writes m in the Prometheus text exposition format (version 0.0.4): each family once,
 *  HELP and TYPE first, then one sample per member (and label). */
void pwm_write(const struct pwm_set *m, FILE *f);

#endif /* PW_METRICS_H */
