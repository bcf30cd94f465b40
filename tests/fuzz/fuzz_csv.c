/* libFuzzer target: the CSV reader on arbitrary bytes, with every
 * delimiter and a small record limit so the too-large path runs too. */
#include "core/csv.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char delims[] = ",;\t|";
	char delim = size ? delims[data[0] & 3] : ',';
	struct ade_csv_reader *r = ade_csv_new_mem((const char *)data, size, delim, 0);
	struct ade_csv_record rec;
	size_t total = 0;

	while (ade_csv_next(r, &rec, NULL) > 0) {
		/* Touch every byte the reader hands out. */
		for (size_t i = 0; i < rec.nfields; i++)
			for (size_t k = 0; k < rec.fields[i].len; k++)
				total += (unsigned char)rec.fields[i].p[k];
		for (size_t k = 0; k < rec.raw_len; k++)
			total += (unsigned char)rec.raw[k];
	}
	ade_csv_free(r);
	return total == (size_t)-1;
}
