/*
 * The row-hash set of duplicate removal; see quality.h.  A collision of
 * two different rows' XXH3-128 hashes has probability about n^2 / 2^129
 * (1e-25 at 10M rows), so equal hashes are taken as equal rows.
 */
#include "quality.h"
#include "core/util.h"

#include <stdlib.h>

void ade_dedup_init(struct ade_dedup *d, size_t expected)
{
	size_t cap = 16;

	/* Load <= 0.6: cap >= expected / 0.6, computed in integers. */
	while (cap * 3 < expected * 5)
		cap <<= 1;
	d->slots = ade_xcalloc(cap, 2 * sizeof(uint64_t));
	d->mask = cap - 1;
	d->count = 0;
}

int ade_dedup_insert(struct ade_dedup *d, uint64_t lo, uint64_t hi)
{
	if (!lo && !hi)
		lo = 1; /* the zero slot means empty */
	for (size_t i = (size_t)lo & d->mask;; i = (i + 1) & d->mask) {
		uint64_t *s = d->slots + 2 * i;
		if (!s[0] && !s[1]) {
			s[0] = lo;
			s[1] = hi;
			d->count++;
			return 1;
		}
		if (s[0] == lo && s[1] == hi)
			return 0;
	}
}

void ade_dedup_release(struct ade_dedup *d)
{
	free(d->slots);
	d->slots = NULL;
	d->mask = 0;
	d->count = 0;
}
