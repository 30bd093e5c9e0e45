/* lablock: see lablock.h. */
#include "lablock.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fx_err.h"

static void
lablock_path(const char *id, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s.lock", LABLOCK_DIR, id);
}

/* Whether 'fd' is still the file at 'path' (not removed, nor replaced by
 * another taker's, while we waited for it). */
static bool
lablock_current(int fd, const char *path)
{
    struct stat a, b;

    return !fstat(fd, &a) && !stat(path, &b) && a.st_ino == b.st_ino
           && a.st_dev == b.st_dev;
}

int
lablock_take(const char *id, bool wait, struct fx_err *err)
{
    char path[PATH_MAX];
    int fd;

    lablock_path(id, path, sizeof path);
    if (mkdir(LABLOCK_DIR, 0755) && errno != EEXIST) {
        return fx_err_set(err, -errno, "cannot make '%s': %s", LABLOCK_DIR,
                          strerror(errno));
    }
    for (;;) {
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0) {
            return fx_err_set(err, -errno, "cannot open lock '%s': %s", path,
                              strerror(errno));
        }
        if (flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB))) {
            int e = errno;

            close(fd);
            if (e == EWOULDBLOCK) {
                return -EWOULDBLOCK;
            }
            if (e != EINTR) {
                return fx_err_set(err, -e, "cannot lock '%s': %s", path,
                                  strerror(e));
            }
            continue;
        }
        if (lablock_current(fd, path)) {
            return fd;
        }
        close(fd);              /* Removed under us: take the new one. */
    }
}

void
lablock_release(const char *id, int fd, bool remove)
{
    char path[PATH_MAX];

    if (fd < 0) {
        return;
    }
    if (remove) {
        lablock_path(id, path, sizeof path);
        unlink(path);
    }
    close(fd);
}
