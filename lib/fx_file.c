/* fx_file: see fx_file.h. */
#include "fx_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fx_err.h"

/* fsync()s the directory holding 'path', so that a rename into it is
 * durable. */
static int
fx_fsync_dir(const char *path, struct fx_err *err)
{
    const char *slash = strrchr(path, '/');
    char dir[4096] = ".";
    int fd, rc;

    if (slash == path) {
        snprintf(dir, sizeof dir, "/");
    } else if (slash) {
        snprintf(dir, sizeof dir, "%.*s", (int) (slash - path), path);
    }
    fd = open(dir, O_RDONLY | O_DIRECTORY);
    rc = fd < 0 ? -1 : fsync(fd);
    if (rc) {
        int e = errno;

        if (fd >= 0) {
            close(fd);
        }
        return fx_err_set(err, -e, "cannot sync directory '%s': %s", dir,
                          strerror(e));
    }
    close(fd);
    return 0;
}

int
fx_file_write_atomic(const char *path, const char *content,
                     struct fx_err *err)
{
    char tmp[4096];
    FILE *f;

    /* Ours alone: two processes may write the same file at once (a
     * daemon its pid file, and whoever started it), each whole. */
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int) getpid());
    f = fopen(tmp, "w");
    if (!f) {
        return fx_err_set(err, -errno, "cannot write '%s': %s", tmp,
                          strerror(errno));
    }
    if (fputs(content, f) == EOF || fflush(f) || fsync(fileno(f))) {
        int e = errno;

        fclose(f);
        unlink(tmp);
        return fx_err_set(err, -e, "cannot write '%s': %s", tmp,
                          strerror(e));
    }
    if (fclose(f) || rename(tmp, path)) {
        int e = errno;

        unlink(tmp);
        return fx_err_set(err, -e, "cannot write '%s': %s", path,
                          strerror(e));
    }
    return fx_fsync_dir(path, err);
}
