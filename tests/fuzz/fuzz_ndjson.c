/* libFuzzer target: the NDJSON reader on arbitrary bytes. */
#include "core/ndjson.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ade_nd_reader *r = ade_nd_new_mem((const char *)data, size, 0);
	struct ade_nd_record rec;
	size_t total = 0;

	while (ade_nd_next(r, &rec, NULL) > 0) {
		for (size_t i = 0; i < rec.nfields; i++) {
			for (size_t k = 0; k < rec.fields[i].key_len; k++)
				total += (unsigned char)rec.fields[i].key[k];
			for (size_t k = 0; k < rec.fields[i].len; k++)
				total += (unsigned char)rec.fields[i].p[k];
		}
		for (size_t k = 0; k < rec.raw_len; k++)
			total += (unsigned char)rec.raw[k];
	}
	ade_nd_free(r);
	return total == (size_t)-1;
}
