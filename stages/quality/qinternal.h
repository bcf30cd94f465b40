/* Helpers shared by the files of ade-quality; not part of its API. */
#ifndef ADE_QUALITY_INTERNAL_H
#define ADE_QUALITY_INTERNAL_H

#include "core/frame.h"

#include <stdint.h>

/*
 * Drops rows [from, to) of a mapped column from the process's resident
 * set (madvise MADV_DONTNEED on whole pages inside the range).  The
 * mappings are read-only file mappings, so a later access simply faults
 * the page back in from the page cache: this bounds RSS, never data.
 */
void ade_quality_release_col(const struct ade_frame_column *c, int64_t from, int64_t to);

#endif
