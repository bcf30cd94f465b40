/*
 * UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then random bits, so
 * run ids sort by creation time.
 */
#ifndef ADE_UUID_H
#define ADE_UUID_H

#include <stdint.h>

/* Writes a UUIDv7 for the current time into out (36 chars and a NUL). */
void ade_uuid7(char out[37]);
/* Same for a given time in milliseconds since the epoch. */
void ade_uuid7_at(uint64_t unix_ms, char out[37]);

#endif
