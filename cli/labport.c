/* labport: see labport.h. */
#include "labport.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <sodium.h>

#include "fx_err.h"

/* Below this, ports belong to services that run as root (below 1024)
 * or that a machine often runs (databases, web servers on 3306, 5432,
 * 8080...): a lab keeps its ports for good, and such a service started
 * later would take one from it. */
#define LABPORT_FIRST 10240u
/* Tries before giving up: far more than a crowded machine needs. */
#define LABPORT_TRIES 4096u
/* The kernel's default ephemeral range, if /proc cannot be read. */
#define LABPORT_EPHEMERAL_LO 32768u
#define LABPORT_EPHEMERAL_HI 60999u

struct labport {
    uint16_t lo, hi;                 /* Choose in [lo, hi]. */
    uint8_t used[65536 / 8];         /* Chosen already, one bit a port. */
};

/* The kernel's ephemeral range into '*lop' and '*hip'. */
static void
labport_ephemeral(unsigned *lop, unsigned *hip)
{
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");

    *lop = LABPORT_EPHEMERAL_LO;
    *hip = LABPORT_EPHEMERAL_HI;
    if (f) {
        if (fscanf(f, "%u %u", lop, hip) != 2 || *lop > *hip
            || *hip > 65535) {
            *lop = LABPORT_EPHEMERAL_LO;
            *hip = LABPORT_EPHEMERAL_HI;
        }
        fclose(f);
    }
}

struct labport *
labport_create(void)
{
    struct labport *lp = calloc(1, sizeof *lp);
    unsigned lo, hi;

    if (!lp) {
        abort();
    }
    labport_ephemeral(&lo, &hi);
    /* The wider of the two ranges around the ephemeral one. */
    if (lo > LABPORT_FIRST && lo - LABPORT_FIRST >= 65535 - hi) {
        lp->lo = LABPORT_FIRST;
        lp->hi = (uint16_t) (lo - 1);
    } else {
        lp->lo = (uint16_t) (hi < 65535 ? hi + 1 : LABPORT_FIRST);
        lp->hi = 65535;
    }
    return lp;
}

void
labport_destroy(struct labport *lp)
{
    free(lp);
}

/* Whether 'port' can be bound on loopback now. */
static int
labport_free(uint16_t port)
{
    struct sockaddr_in sa = { .sin_family = AF_INET,
                              .sin_port = htons(port) };
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), ok;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok = fd >= 0 && !bind(fd, (struct sockaddr *) &sa, sizeof sa);
    if (fd >= 0) {
        close(fd);
    }
    return ok;
}

int
labport_pick(struct labport *lp, char *buf, size_t size,
             struct fx_err *err)
{
    uint32_t span = (uint32_t) lp->hi - lp->lo + 1;

    for (unsigned i = 0; i < LABPORT_TRIES; i++) {
        uint16_t port = (uint16_t) (lp->lo + randombytes_uniform(span));
        uint8_t bit = (uint8_t) (1u << (port % 8));

        if (lp->used[port / 8] & bit || !labport_free(port)) {
            continue;
        }
        lp->used[port / 8] |= bit;
        snprintf(buf, size, "127.0.0.1:%u", (unsigned) port);
        return 0;
    }
    return fx_err_set(err, -EADDRNOTAVAIL, "no free port on loopback in "
                      "%u-%u after %u tries", lp->lo, lp->hi,
                      LABPORT_TRIES);
}
