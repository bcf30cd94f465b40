/* UUIDv7 run ids; see uuid.h. */
#include "uuid.h"
#include "util.h"

#include <string.h>
#include <sys/random.h>
#include <time.h>

void ade_uuid7_at(uint64_t ms, char out[37])
{
	unsigned char b[16];

	if (getrandom(b + 6, 10, 0) != 10) {
		/* getrandom cannot fail for 10 bytes once the pool is ready; be safe. */
		uint64_t x = (uint64_t)ade_now_mono_ns() ^ (ms << 13);
		for (int i = 6; i < 16; i++) {
			x ^= x << 13; x ^= x >> 7; x ^= x << 17;
			b[i] = (unsigned char)x;
		}
	}
	for (int i = 0; i < 6; i++)
		b[i] = (unsigned char)(ms >> (40 - 8 * i));
	b[6] = (unsigned char)(0x70 | (b[6] & 0x0f));
	b[8] = (unsigned char)(0x80 | (b[8] & 0x3f));
	/* 8-4-4-4-12 hex digits, by hand: snprintf's 16 conversions cost 5,000 instructions. */
	static const char hex[] = "0123456789abcdef";
	char *o = out;
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*o++ = '-';
		*o++ = hex[b[i] >> 4];
		*o++ = hex[b[i] & 15];
	}
	*o = '\0';
}

void ade_uuid7(char out[37])
{
	ade_uuid7_at((uint64_t)(ade_now_wall_us() / 1000), out);
}
