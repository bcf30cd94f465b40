/*
 * Preloaded by missing_libarchive.sh: a dlopen that cannot find
 * libarchive, as on a machine where libarchive13 was removed after ade was
 * installed.  Everything else is opened as usual.  (_GNU_SOURCE, for
 * RTLD_NEXT, comes from the build.)
 */
#include <dlfcn.h>
#include <string.h>

void *dlopen(const char *file, int mode)
{
	static void *(*real)(const char *, int);

	if (file && strstr(file, "libarchive"))
		return NULL;
	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "dlopen");
	return real(file, mode);
}
