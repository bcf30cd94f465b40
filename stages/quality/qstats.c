/*
 * Exact order statistics for medians and quartiles; see quality.h.
 * Exact selection over a copy of a column costs ~0.15 s at 10M rows
 * (reference/performance.md §6), so no sketch is needed in batch mode.
 */
#include "quality.h"

#include <math.h>

static inline void swap_d(double *a, size_t i, size_t j)
{
	double t = a[i];
	a[i] = a[j];
	a[j] = t;
}

static void insertion_sort(double *a, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		double v = a[i];
		size_t j = i;
		while (j > 0 && a[j - 1] > v) {
			a[j] = a[j - 1];
			j--;
		}
		a[j] = v;
	}
}

static void sift_down(double *a, size_t root, size_t n)
{
	for (;;) {
		size_t c = 2 * root + 1;
		if (c >= n)
			return;
		if (c + 1 < n && a[c + 1] > a[c])
			c++;
		if (a[root] >= a[c])
			return;
		swap_d(a, root, c);
		root = c;
	}
}

/* The depth guard's fallback: O(n log n) whatever the input. */
static void heap_sort(double *a, size_t n)
{
	for (size_t i = n / 2; i-- > 0;)
		sift_down(a, i, n);
	for (size_t end = n; end-- > 1;) {
		swap_d(a, 0, end);
		sift_down(a, 0, end);
	}
}

void ade_quality_select(double *a, size_t n, size_t k)
{
	size_t lo = 0, hi = n; /* a[lo..hi) holds rank k */
	int depth = 2;

	for (size_t m = n; m > 1; m >>= 1)
		depth += 2;
	if (k >= n)
		return;
	while (hi - lo > 16) {
		if (depth-- == 0) {
			heap_sort(a + lo, hi - lo);
			return;
		}
		/*
		 * Median of three, kept at the lower middle: Hoare's scheme
		 * with the upper middle can return hi-1 on two elements and
		 * never shrink the range.
		 */
		size_t mid = lo + (hi - lo - 1) / 2;
		if (a[mid] < a[lo])
			swap_d(a, mid, lo);
		if (a[hi - 1] < a[lo])
			swap_d(a, hi - 1, lo);
		if (a[hi - 1] < a[mid])
			swap_d(a, hi - 1, mid);
		double pivot = a[mid];
		/*
		 * Hoare partition: both scans stop on values equal to the
		 * pivot, so runs of equal values split evenly instead of
		 * going quadratic as Lomuto does.
		 */
		size_t i = lo - 1, j = hi;
		for (;;) {
			do
				i++;
			while (a[i] < pivot);
			do
				j--;
			while (a[j] > pivot);
			if (i >= j)
				break;
			swap_d(a, i, j);
		}
		/* a[lo..j] <= pivot <= a[j+1..hi) */
		if (k <= j)
			hi = j + 1;
		else
			lo = j + 1;
	}
	insertion_sort(a + lo, hi - lo);
}

void ade_quality_quantiles(double *a, size_t n, const double *ps, int np, double *out)
{
	/*
	 * Ranks are selected in ascending order, each in the part right of
	 * the previous one (everything there is >= it), so the k+1-th order
	 * statistic after selecting rank k is the minimum of the right part.
	 */
	size_t done = 0; /* a[0..done) is settled: ranks below done are final */

	for (int q = 0; q < np; q++) {
		double h = (double)(n - 1) * ps[q];
		size_t k = (size_t)floor(h);
		double frac = h - (double)k;
		if (k >= n - 1) {
			k = n - 1;
			frac = 0;
		}
		if (k >= done) {
			ade_quality_select(a + done, n - done, k - done);
			done = k + 1;
		}
		double lo = a[k], hi = lo;
		if (frac > 0) {
			if (k + 1 >= done) {
				ade_quality_select(a + done, n - done, k + 1 - done);
				done = k + 2;
			}
			hi = a[k + 1];
		}
		out[q] = lo + frac * (hi - lo);
	}
}
