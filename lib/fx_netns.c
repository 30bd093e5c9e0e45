/* fx_netns: see fx_netns.h. */
#include "fx_netns.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fx_err.h"

bool
fx_netns_exists(const char *name)
{
    char path[PATH_MAX];
    struct stat st;

    snprintf(path, sizeof path, "%s/%s", FX_NETNS_DIR, name);
    return stat(path, &st) == 0;
}

int
fx_netns_enter(const char *name, int *backp, struct fx_err *err)
{
    char path[PATH_MAX];
    int back, fd, e;

    snprintf(path, sizeof path, "%s/%s", FX_NETNS_DIR, name);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return fx_err_set(err, -errno, "no network namespace '%s' (%s)",
                          name, strerror(errno));
    }
    back = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (back < 0 || setns(fd, CLONE_NEWNET)) {
        e = errno;
        close(fd);
        if (back >= 0) {
            close(back);
        }
        return fx_err_set(err, -e, "cannot enter network namespace '%s': "
                          "%s%s", name, strerror(e), e == EPERM
                          ? " (it takes root: CAP_SYS_ADMIN)" : "");
    }
    close(fd);
    *backp = back;
    return 0;
}

int
fx_netns_leave(int back, struct fx_err *err)
{
    int rc = 0;

    if (setns(back, CLONE_NEWNET)) {
        rc = fx_err_set(err, -errno, "cannot return to our network "
                        "namespace: %s", strerror(errno));
    }
    close(back);
    return rc;
}
