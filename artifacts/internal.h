/* Helpers shared by the files of the artifacts module; not a public API. */
#ifndef ADE_ARTIFACTS_INTERNAL_H
#define ADE_ARTIFACTS_INTERNAL_H

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <stddef.h>

struct archive;
struct ade_error;

#define ADE_ART_MANIFEST "MANIFEST.json"
#define ADE_ART_MANIFEST_MAX (256u << 20)

/* Lower-case hex of a SHA-256 digest: 64 characters and a NUL. */
void ade_art_hex(const unsigned char *md, unsigned n, char out[65]);

/*
 * Opens an archive for reading (zstd or any filter libarchive knows, tar
 * formats only).  Caller frees with archive_read_free().
 */
int ade_art_open_read(const char *path, struct archive **out, struct ade_error *err);

/*
 * ade_artifacts_pack_dir, taking the stage folders cache collected for
 * run_id (cache and run_id may be NULL) instead of walking them.
 */
struct ade_pipeline;
struct ade_artifacts_cache;
struct ade_artifacts_stats;
int ade_art_pack_dir_cached(const char *run_dir, const char *out, const struct ade_pipeline *p,
			    int include_all, const cJSON *meta, struct ade_artifacts_cache *cache,
			    const char *run_id, struct ade_artifacts_stats *stats,
			    struct ade_error *err);

/* 1 if a relative path is safe: not absolute, no empty, `.` or `..` part. */
int ade_art_path_safe(const char *p);

#endif
