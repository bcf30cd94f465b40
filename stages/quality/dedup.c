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

/* Doubles the table (rehashing every entry): the load stays <= 0.6. */
static void dedup_grow(struct ade_dedup *d)
{
	struct ade_dedup n;

	ade_dedup_init(&n, d->slots ? 2 * (d->mask + 1) * 3 / 5 : 4096);
	for (size_t i = 0; d->slots && i <= d->mask; i++)
		if (d->slots[2 * i] || d->slots[2 * i + 1])
			ade_dedup_insert(&n, d->slots[2 * i], d->slots[2 * i + 1]);
	free(d->slots);
	*d = n;
}

int ade_dedup_contains(const struct ade_dedup *d, uint64_t lo, uint64_t hi)
{
	if (!d || !d->slots)
		return 0;
	if (!lo && !hi)
		lo = 1;
	for (size_t i = (size_t)lo & d->mask;; i = (i + 1) & d->mask) {
		const uint64_t *s = d->slots + 2 * i;
		if (!s[0] && !s[1])
			return 0;
		if (s[0] == lo && s[1] == hi)
			return 1;
	}
}

int ade_dedup_insert(struct ade_dedup *d, uint64_t lo, uint64_t hi)
{
	/*
	 * A table sized by _init for the rows it will see never grows here
	 * (the stage's pass); a set that outlives its first estimate (the
	 * stream's day set, or a zeroed struct) does.
	 */
	if (!d->slots || (d->count + 1) * 5 > (d->mask + 1) * 3)
		dedup_grow(d);
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
