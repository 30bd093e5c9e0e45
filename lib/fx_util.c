#include "fx_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fx_err.h"

uint64_t
fx_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

uint64_t
fx_now_ms(void)
{
    return fx_now_us() / 1000u;
}

int
fx_addr_parse(const char *s, struct sockaddr_storage *ss, int *lenp,
              struct fx_err *err)
{
    struct sockaddr_in *sin = (struct sockaddr_in *) ss;
    const char *colon = strrchr(s, ':');
    char host[64];
    uint64_t port;

    if (!colon || colon == s || (size_t) (colon - s) >= sizeof host) {
        return fx_err_set(err, -EINVAL,
                          "bad address '%s': expected HOST:PORT", s);
    }
    memcpy(host, s, (size_t) (colon - s));
    host[colon - s] = '\0';
    if (fx_parse_u64(colon + 1, 0, 65535, &port, "port", err)) {
        return fx_err_wrap(err, "bad address '%s'", s);
    }
    memset(ss, 0, sizeof *ss);
    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t) port);
    if (!strcmp(host, "localhost")) {
        strcpy(host, "127.0.0.1");
    }
    if (inet_pton(AF_INET, host, &sin->sin_addr) != 1) {
        return fx_err_set(err, -EINVAL,
                          "bad address '%s': '%s' is not an IPv4 address",
                          s, host);
    }
    *lenp = sizeof *sin;
    return 0;
}

void
fx_addr_format(const struct sockaddr *sa, char *buf, size_t size)
{
    const struct sockaddr_in *sin = (const struct sockaddr_in *) sa;
    char host[INET_ADDRSTRLEN];

    if (sa->sa_family != AF_INET) {
        snprintf(buf, size, "?");
        return;
    }
    inet_ntop(AF_INET, &sin->sin_addr, host, sizeof host);
    snprintf(buf, size, "%s:%u", host, ntohs(sin->sin_port));
}

int
fx_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *vp,
             const char *what, struct fx_err *err)
{
    char *end;
    unsigned long long v;

    if (!*s || *s == '-' || *s == '+') {
        return fx_err_set(err, -EINVAL, "%s '%s' is not a number", what, s);
    }
    errno = 0;
    v = strtoull(s, &end, 10);
    if (*end) {
        return fx_err_set(err, -EINVAL, "%s '%s' is not a number", what, s);
    }
    if (errno == ERANGE || v < min || v > max) {
        return fx_err_set(err, -ERANGE, "%s '%s' is out of range %llu-%llu",
                          what, s, (unsigned long long) min,
                          (unsigned long long) max);
    }
    *vp = v;
    return 0;
}

int
fx_name_valid(const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n > 39) {
        return 0;
    }
    return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                        "0123456789._-") == n;
}

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
fx_write_file_atomic(const char *path, const char *content,
                     struct fx_err *err)
{
    char tmp[4096];
    FILE *f;

    snprintf(tmp, sizeof tmp, "%s.tmp", path);
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

