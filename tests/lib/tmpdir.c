#include "tmpdir.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int test_tmpdir_create(const char *tag, char *path, size_t size)
{
    const char *base = getenv("TMPDIR");
    int n;
    if (base == NULL || base[0] == '\0') {
        base = "/tmp";
    }
    n = snprintf(path, size, "%s/cairn-%s-XXXXXX", base, tag);
    if (n < 0 || (size_t)n >= size) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return mkdtemp(path) != NULL ? 0 : -1;
}

static int remove_one(const char *path, const struct stat *st, int type,
                      struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path);
}

int test_tmpdir_remove(const char *path)
{
    return nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}
