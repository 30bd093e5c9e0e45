/* fx_addr: see fx_addr.h. */
#include "fx_addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "fx_err.h"
#include "fx_parse.h"

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

bool
fx_addr_is_loopback(const struct sockaddr_storage *ss)
{
    const struct sockaddr_in *sin = (const struct sockaddr_in *) ss;

    return ss->ss_family == AF_INET
           && (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
}

bool
fx_addr_text_is_loopback(const char *s)
{
    struct sockaddr_storage ss;
    int len;

    return !fx_addr_parse(s, &ss, &len, NULL) && fx_addr_is_loopback(&ss);
}
