/*
 * The feature store: content-addressed snapshots under
 * "<home>/features/<pipeline>/<hex>/" and index.json, which maps hashes
 * to versions and dates to hashes.  Writers serialise on flock(2) of
 * ".lock" and replace index.json atomically, so readers (`ade features`)
 * need no lock and a parallel backfill cannot lose an entry.  Also the
 * CSV writer and frame copy used by `ade features get`.
 */
#include "features.h"
#include "core/date.h"
#include "core/error.h"
#include "core/frame.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define INDEX_FORMAT "ade-feature-index"

char *ade_features_store_dir(const char *home, const char *pipeline, struct ade_error *err)
{
	if (!pipeline || !*pipeline || strchr(pipeline, '/') || !strcmp(pipeline, ".") ||
	    !strcmp(pipeline, "..") || strlen(pipeline) > 200) {
		ade_error_set(err, ADE_EINVAL, "'%s' is not a pipeline name", pipeline ? pipeline : "");
		return NULL;
	}
	return ade_xasprintf("%s/features/%s", home, pipeline);
}

/* ---- copying frames ---- */

static int copy_file(const char *a, const char *b, struct ade_error *err)
{
	int in = open(a, O_RDONLY | O_CLOEXEC), out = -1, rc = 0;
	char buf[1 << 16];
	ssize_t n;

	if (in < 0)
		return ade_error_set(err, ADE_EIO, "cannot open '%s': %s", a, strerror(errno));
	out = open(b, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (out < 0) {
		rc = ade_error_set(err, ADE_EIO, "cannot create '%s': %s", b, strerror(errno));
		goto done;
	}
	while ((n = read(in, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = ade_error_set(err, ADE_EIO, "cannot read '%s': %s", a, strerror(errno));
			goto done;
		}
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(out, buf + off, (size_t)(n - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				rc = ade_error_set(err, ADE_EIO, "cannot write '%s': %s", b,
						   strerror(errno));
				goto done;
			}
			off += w;
		}
	}
done:
	close(in);
	if (out >= 0 && close(out) < 0 && !rc)
		rc = ade_error_set(err, ADE_EIO, "cannot write '%s': %s", b, strerror(errno));
	return rc;
}

/* Hard-links (or copies) every regular file of src into the existing dst. */
static int link_files(const char *src, const char *dst, struct ade_error *err)
{
	DIR *d = opendir(src);
	struct dirent *e;
	int rc = 0;

	if (!d)
		return ade_error_set(err, ADE_EIO, "cannot open '%s': %s", src, strerror(errno));
	while (!rc && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char *a = ade_xasprintf("%s/%s", src, e->d_name);
		char *b = ade_xasprintf("%s/%s", dst, e->d_name);
		struct stat st;
		if (stat(a, &st) == 0 && S_ISREG(st.st_mode) && link(a, b) < 0) {
			if (errno == EXDEV || errno == EPERM || errno == EMLINK)
				rc = copy_file(a, b, err);
			else
				rc = ade_error_set(err, ADE_EIO, "cannot link '%s' to '%s': %s", a, b,
						   strerror(errno));
		}
		free(a);
		free(b);
	}
	closedir(d);
	return rc;
}

int ade_features_copy_frame(const char *src, const char *dst, struct ade_error *err)
{
	char *tmp = ade_xasprintf("%s.tmp-%ld", dst, (long)getpid());
	char *parent = ade_fs_dirname(dst);
	int rc;

	if (ade_fs_exists(dst)) {
		rc = ade_error_set(err, ADE_EINVAL, "'%s' already exists", dst);
		goto out;
	}
	ade_fs_remove_tree(tmp, NULL);
	if (mkdir(tmp, 0755) < 0) {
		rc = ade_error_set(err, ADE_EIO, "cannot create '%s': %s", tmp, strerror(errno));
		goto out;
	}
	rc = link_files(src, tmp, err);
	if (!rc && rename(tmp, dst) < 0)
		rc = ade_error_set(err, ADE_EIO, "cannot rename '%s' to '%s': %s", tmp, dst,
				   strerror(errno));
	if (rc)
		ade_fs_remove_tree(tmp, NULL);
	else
		ade_fs_sync_dir(parent, NULL);
out:
	free(tmp);
	free(parent);
	return rc;
}

/*
 * Replaces each file of dir that also exists in snap by a hard link to
 * snap's, so a run's copy of a snapshot shares its blocks with the store.
 * Best effort: a file that cannot be relinked stays a copy.
 */
static void relink_to(const char *dir, const char *snap)
{
	DIR *d = opendir(snap);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char *a = ade_xasprintf("%s/%s", snap, e->d_name);
		char *b = ade_xasprintf("%s/%s", dir, e->d_name);
		char *t = ade_xasprintf("%s/.%s.lnk", dir, e->d_name);
		struct stat sa, sb;
		if (stat(a, &sa) == 0 && stat(b, &sb) == 0 && S_ISREG(sa.st_mode) &&
		    (sa.st_ino != sb.st_ino || sa.st_dev != sb.st_dev)) {
			unlink(t);
			if (link(a, t) == 0 && rename(t, b) < 0)
				unlink(t);
		}
		free(a);
		free(b);
		free(t);
	}
	closedir(d);
}

/* ---- the index ---- */

static int read_index(const char *store, cJSON **out, struct ade_error *err)
{
	char *path = ade_xasprintf("%s/index.json", store);
	int rc = 0;

	*out = NULL;
	if (!ade_fs_exists(path)) {
		rc = ade_error_set(err, ADE_ENOTFOUND, "no feature snapshots in '%s'", store);
	} else {
		rc = ade_json_read_file(path, out, err);
		if (!rc && (!cJSON_IsObject(*out) ||
			    strcmp(ade_json_str(*out, "format", ""), INDEX_FORMAT) ||
			    !cJSON_IsArray(cJSON_GetObjectItem(*out, "snapshots")) ||
			    !cJSON_IsArray(cJSON_GetObjectItem(*out, "dates")))) {
			rc = ade_error_set(err, ADE_EPARSE, "'%s' is not a feature index", path);
			cJSON_Delete(*out);
			*out = NULL;
		}
		if (!rc && ade_json_num(*out, "version", 0) > 1) {
			rc = ade_error_set(err, ADE_EPARSE,
					   "'%s' has index version %g; this ade reads version 1", path,
					   ade_json_num(*out, "version", 0));
			cJSON_Delete(*out);
			*out = NULL;
		}
	}
	free(path);
	return rc;
}

static const cJSON *find_snapshot(const cJSON *idx, const char *hash)
{
	const cJSON *s;

	cJSON_ArrayForEach(s, cJSON_GetObjectItem(idx, "snapshots"))
		if (!strcmp(ade_json_str(s, "hash", ""), hash))
			return s;
	return NULL;
}

static const char *hash_hex(const char *hash)
{
	const char *c = strchr(hash, ':');
	return c ? c + 1 : hash;
}

/* Checks that a stored snapshot is the frame it claims to be. */
static int check_stored(const char *snapdir, const char *hash, struct ade_error *err)
{
	char *p = ade_xasprintf("%s/schema.json", snapdir);
	cJSON *s = NULL;
	int rc = ade_json_read_file(p, &s, err);

	if (!rc && strcmp(ade_json_str(s, "content_hash", ""), hash))
		rc = ade_error_set(err, ADE_EPARSE,
				   "stored snapshot '%s' has content hash '%s', not '%s'", snapdir,
				   ade_json_str(s, "content_hash", ""), hash);
	cJSON_Delete(s);
	free(p);
	return rc;
}

/*
 * Puts entry e (taken) into the sorted array dates, replacing the entry of
 * the same ds.  The array is rebuilt rather than using
 * cJSON_InsertItemInArray, which in Debian 12's cJSON (1.7.15-deb12u4)
 * returns false and drops the item for a position inside the array.
 */
static void set_date(cJSON *dates, cJSON *e)
{
	const char *ds = ade_json_str(e, "ds", "");
	int n = cJSON_GetArraySize(dates), k = 0;
	cJSON **items = ade_xcalloc((size_t)n + 1, sizeof(*items)), *d;

	while ((d = cJSON_DetachItemFromArray(dates, 0))) {
		if (!strcmp(ade_json_str(d, "ds", ""), ds))
			cJSON_Delete(d);
		else
			items[k++] = d;
	}
	int placed = 0;
	for (int i = 0; i < k; i++) {
		if (!placed && strcmp(ade_json_str(items[i], "ds", ""), ds) > 0) {
			cJSON_AddItemToArray(dates, e);
			placed = 1;
		}
		cJSON_AddItemToArray(dates, items[i]);
	}
	if (!placed)
		cJSON_AddItemToArray(dates, e);
	free(items);
}

int ade_features_store_put(const char *home, const char *pipeline, const char *ds,
			   const char *run_id, const char *frame_dir,
			   const struct ade_frame_info *info, struct ade_features_entry *entry,
			   struct ade_error *err)
{
	char *store = ade_features_store_dir(home, pipeline, err);
	char *lockp = NULL, *snapdir = NULL, *tmp = NULL, *idxp = NULL;
	cJSON *idx = NULL;
	int fd = -1, rc;
	int64_t version;
	char now[32];

	if (!store)
		return ADE_EINVAL;
	rc = ade_fs_mkdirs(store, err);
	if (rc)
		goto out;
	lockp = ade_xasprintf("%s/.lock", store);
	fd = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = ade_error_set(err, ADE_EIO, "cannot open '%s': %s", lockp, strerror(errno));
		goto out;
	}
	/* Blocks while another date of a backfill publishes; that is short. */
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			rc = ade_error_set(err, ADE_EIO, "cannot lock '%s': %s", lockp,
					   strerror(errno));
			goto out;
		}
	}
	rc = read_index(store, &idx, err);
	if (rc == ADE_ENOTFOUND) {
		idx = cJSON_CreateObject();
		cJSON_AddStringToObject(idx, "format", INDEX_FORMAT);
		cJSON_AddNumberToObject(idx, "version", 1);
		cJSON_AddStringToObject(idx, "pipeline", pipeline);
		cJSON_AddNumberToObject(idx, "next_version", 1);
		cJSON_AddArrayToObject(idx, "snapshots");
		cJSON_AddArrayToObject(idx, "dates");
		rc = 0;
	}
	if (rc)
		goto out;
	ade_format_utc(ade_now_wall_us(), now);

	snapdir = ade_xasprintf("%s/%s", store, hash_hex(info->hash));
	if (ade_fs_exists(snapdir)) {
		rc = check_stored(snapdir, info->hash, err);
	} else {
		/*
		 * Built under a private name and renamed, so a reader or a
		 * crashed writer never leaves a half snapshot under its hash;
		 * a rename that finds the name taken means the same content is
		 * already there, which is what we wanted.
		 */
		tmp = ade_xasprintf("%s/.incoming-%ld", store, (long)getpid());
		ade_fs_remove_tree(tmp, NULL);
		if (mkdir(tmp, 0755) < 0) {
			rc = ade_error_set(err, ADE_EIO, "cannot create '%s': %s", tmp,
					   strerror(errno));
			goto out;
		}
		rc = link_files(frame_dir, tmp, err);
		if (!rc && rename(tmp, snapdir) < 0) {
			if (errno == EEXIST || errno == ENOTEMPTY)
				rc = check_stored(snapdir, info->hash, err);
			else
				rc = ade_error_set(err, ADE_EIO, "cannot rename '%s' to '%s': %s",
						   tmp, snapdir, strerror(errno));
		}
		ade_fs_remove_tree(tmp, NULL);
		if (!rc)
			rc = ade_fs_sync_dir(store, err);
	}
	if (rc)
		goto out;

	const cJSON *snap = find_snapshot(idx, info->hash);
	int64_t ncols = cJSON_GetArraySize(info->schema);
	if (snap) {
		version = (int64_t)ade_json_num(snap, "version", 0);
	} else {
		version = (int64_t)ade_json_num(idx, "next_version", 1);
		cJSON *s = cJSON_CreateObject();
		cJSON_AddNumberToObject(s, "version", (double)version);
		cJSON_AddStringToObject(s, "hash", info->hash);
		cJSON_AddStringToObject(s, "dir", hash_hex(info->hash));
		cJSON_AddNumberToObject(s, "rows", (double)info->rows);
		cJSON_AddNumberToObject(s, "columns", (double)ncols);
		cJSON_AddNumberToObject(s, "bytes", (double)info->bytes);
		cJSON_AddStringToObject(s, "created_at", now);
		cJSON_AddStringToObject(s, "first_ds", ds);
		cJSON_AddItemToArray(cJSON_GetObjectItem(idx, "snapshots"), s);
		cJSON_ReplaceItemInObject(idx, "next_version", cJSON_CreateNumber((double)version + 1));
	}

	/* One entry per date, kept sorted: a rerun replaces its date's entry. */
	cJSON *e = cJSON_CreateObject();
	cJSON_AddStringToObject(e, "ds", ds);
	cJSON_AddNumberToObject(e, "version", (double)version);
	cJSON_AddStringToObject(e, "hash", info->hash);
	cJSON_AddStringToObject(e, "run_id", run_id ? run_id : "");
	cJSON_AddStringToObject(e, "recorded_at", now);
	set_date(cJSON_GetObjectItem(idx, "dates"), e);

	idxp = ade_xasprintf("%s/index.json", store);
	rc = ade_json_write_file(idxp, idx, 1, err);
	if (rc)
		goto out;

	memset(entry, 0, sizeof(*entry));
	snprintf(entry->ds, sizeof(entry->ds), "%s", ds);
	entry->version = version;
	snprintf(entry->hash, sizeof(entry->hash), "%s", info->hash);
	entry->rows = info->rows;
	entry->columns = ncols;
	snprintf(entry->dir, sizeof(entry->dir), "%s", snapdir);
out:
	if (fd >= 0)
		close(fd); /* releases the lock */
	if (!rc && snapdir)
		relink_to(frame_dir, snapdir);
	cJSON_Delete(idx);
	free(store);
	free(lockp);
	free(snapdir);
	free(tmp);
	free(idxp);
	return rc;
}

int ade_features_list(const char *home, const char *pipeline, struct ade_features_entry **out,
		      size_t *n, struct ade_error *err)
{
	char *store = ade_features_store_dir(home, pipeline, err);
	cJSON *idx = NULL;
	const cJSON *d;
	size_t cap, k = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if (!store)
		return ADE_EINVAL;
	rc = read_index(store, &idx, err);
	if (rc == ADE_ENOTFOUND)
		ade_error_set(err, rc, "no feature snapshots for pipeline '%s' in '%s'", pipeline,
			      home);
	if (rc)
		goto out;
	cap = (size_t)cJSON_GetArraySize(cJSON_GetObjectItem(idx, "dates"));
	*out = ade_xcalloc(cap ? cap : 1, sizeof(**out));
	cJSON_ArrayForEach(d, cJSON_GetObjectItem(idx, "dates")) {
		struct ade_features_entry *e = &(*out)[k];
		const char *hash = ade_json_str(d, "hash", "");
		const cJSON *s = find_snapshot(idx, hash);
		if (!s) {
			rc = ade_error_set(err, ADE_EPARSE,
					   "feature index of '%s': date %s names unknown hash '%s'",
					   pipeline, ade_json_str(d, "ds", "?"), hash);
			break;
		}
		snprintf(e->ds, sizeof(e->ds), "%s", ade_json_str(d, "ds", ""));
		e->version = (int64_t)ade_json_num(s, "version", 0);
		snprintf(e->hash, sizeof(e->hash), "%s", hash);
		e->rows = (int64_t)ade_json_num(s, "rows", 0);
		e->columns = (int64_t)ade_json_num(s, "columns", 0);
		snprintf(e->dir, sizeof(e->dir), "%s/%s", store, ade_json_str(s, "dir", ""));
		k++;
	}
	if (rc) {
		free(*out);
		*out = NULL;
	} else {
		*n = k;
	}
out:
	cJSON_Delete(idx);
	free(store);
	return rc;
}

int ade_features_find(const char *home, const char *pipeline, const char *as_of,
		      struct ade_features_entry *entry, struct ade_error *err)
{
	struct ade_features_entry *all;
	size_t n;
	int32_t day;
	int rc = ade_date_parse(as_of, &day, err);

	if (rc)
		return rc;
	rc = ade_features_list(home, pipeline, &all, &n, err);
	if (rc)
		return rc;
	/* Dates are ISO "YYYY-MM-DD", so byte order is date order. */
	size_t i = n;
	while (i > 0 && strcmp(all[i - 1].ds, as_of) > 0)
		i--;
	if (i == 0) {
		if (n)
			rc = ade_error_set(err, ADE_ENOTFOUND,
					   "no feature snapshot of '%s' on or before %s (the first is %s)",
					   pipeline, as_of, all[0].ds);
		else
			rc = ade_error_set(err, ADE_ENOTFOUND, "no feature snapshots of '%s'",
					   pipeline);
	} else {
		*entry = all[i - 1];
	}
	free(all);
	return rc;
}

/* ---- CSV ---- */

int ade_features_format_double(double v, char out[32])
{
	if (!isfinite(v))
		return snprintf(out, 32, "%s", isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
	for (int p = 15; p < 17; p++) {
		int n = snprintf(out, 32, "%.*g", p, v);
		if (strtod(out, NULL) == v)
			return n;
	}
	return snprintf(out, 32, "%.17g", v);
}

static void csv_field(struct ade_strbuf *sb, const char *p, size_t n)
{
	int q = n && (p[0] == ' ' || p[n - 1] == ' ');

	for (size_t i = 0; !q && i < n; i++)
		q = p[i] == ',' || p[i] == '"' || p[i] == '\n' || p[i] == '\r';
	if (!q) {
		ade_strbuf_add(sb, p, n);
		return;
	}
	ade_strbuf_addc(sb, '"');
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '"')
			ade_strbuf_addc(sb, '"');
		ade_strbuf_addc(sb, p[i]);
	}
	ade_strbuf_addc(sb, '"');
}

static void csv_value(struct ade_strbuf *sb, const struct ade_frame_column *c, int64_t i)
{
	char b[48];
	size_t len;
	const char *s;

	if (ade_frame_is_null(c, i))
		return;
	switch (c->type) {
	case ADE_TYPE_INT64:
		ade_strbuf_addf(sb, "%" PRId64, ((const int64_t *)c->data)[i]);
		break;
	case ADE_TYPE_FLOAT64:
		ade_strbuf_add(sb, b, (size_t)ade_features_format_double(((const double *)c->data)[i], b));
		break;
	case ADE_TYPE_BOOL:
		ade_strbuf_adds(sb, ((const uint8_t *)c->data)[i] ? "true" : "false");
		break;
	case ADE_TYPE_DATE:
		ade_date_format((int32_t)((const int64_t *)c->data)[i], b);
		ade_strbuf_adds(sb, b);
		break;
	case ADE_TYPE_TIMESTAMP: {
		int64_t us = ((const int64_t *)c->data)[i];
		int64_t day = us >= 0 ? us / 86400000000LL : -((-us + 86399999999LL) / 86400000000LL);
		int64_t r = us - day * 86400000000LL;
		ade_date_format((int32_t)day, b);
		ade_strbuf_addf(sb, "%sT%02d:%02d:%02d.%06dZ", b, (int)(r / 3600000000LL),
				(int)(r / 60000000LL % 60), (int)(r / 1000000 % 60), (int)(r % 1000000));
		break;
	}
	case ADE_TYPE_CATEGORICAL:
	case ADE_TYPE_STRING:
		s = ade_frame_str(c, i, &len);
		csv_field(sb, s, len);
		break;
	}
}

int ade_features_write_csv(const char *frame_dir, FILE *f, struct ade_error *err)
{
	struct ade_frame *fr = NULL;
	struct ade_strbuf sb = ADE_STRBUF_INIT;
	int rc = ade_frame_open(frame_dir, &fr, err);

	if (rc)
		return rc;
	for (int c = 0; c < fr->ncols; c++) {
		if (c)
			ade_strbuf_addc(&sb, ',');
		csv_field(&sb, fr->cols[c].name, strlen(fr->cols[c].name));
	}
	ade_strbuf_addc(&sb, '\n');
	for (int64_t i = 0; i < fr->rows; i++) {
		for (int c = 0; c < fr->ncols; c++) {
			if (c)
				ade_strbuf_addc(&sb, ',');
			csv_value(&sb, &fr->cols[c], i);
		}
		ade_strbuf_addc(&sb, '\n');
		if (sb.len >= (1 << 16)) {
			if (fwrite(sb.buf, 1, sb.len, f) != sb.len)
				break;
			ade_strbuf_reset(&sb);
		}
	}
	if (sb.len)
		fwrite(sb.buf, 1, sb.len, f);
	if (fflush(f) != 0 || ferror(f))
		rc = ade_error_set(err, ADE_EIO, "cannot write CSV: %s", strerror(errno));
	ade_strbuf_release(&sb);
	ade_frame_close(fr);
	return rc;
}
