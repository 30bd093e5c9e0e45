/* labspec: a lab as DIR/lab.json records it: each daemon's full command
 * line, its addresses, pid file and log, and the options the lab was
 * brought up with.
 *
 * `fexctl lab up` chooses every port once and writes the file before it
 * starts anything; from then on the lab is that file.  Any daemon can be
 * started again by exactly its recorded command line (by `lab restart`,
 * `lab up` on the same DIR, or by hand: the command line names its log
 * and pid file too), and everything reconnects to the same addresses. */
#ifndef LABSPEC_H
#define LABSPEC_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

struct fx_err;

#define LABSPEC_FILE "lab.json"
/* Version 1: a lab on loopback.  Version 2: a lab whose daemons each
 * live in a network namespace (`lab up --netns`), with the "netns"
 * members below; a fexctl that knows only version 1 refuses it rather
 * than drive it as a loopback lab.  A loopback lab is still written as
 * version 1. */
#define LABSPEC_VERSION 1
#define LABSPEC_VERSION_NETNS 2
#define LABSPEC_ARGV_MAX 48

/* Where a daemon of a netns lab lives, and its link's faults as `lab
 * link` last set them (labnet.h makes and changes all of it). */
struct labspec_net {
    char netns[64];              /* Its namespace, "fexsim-ID-NAME"; ""
                                  * in a loopback lab. */
    char ifname[16];             /* Its interface there: "br0", "eth0". */
    char addr[24];               /* The interface's address, "A.B.C.D/N". */
    char peer[16];               /* An agent's: its veth's other end, in
                                  * fabricd's namespace; "" for fabricd. */
    int link_down;               /* An agent's link is set down. */
    uint32_t delay_ms;           /* Added each way. */
    double loss_pct;             /* Frames dropped each way, 0-100. */
};
/* One daemon of the lab. */
struct labspec_daemon {
    char name[40];               /* "fabricd", or its host's name "h1". */
    char prog[16];               /* "fabricd" or "agentd": its comm. */
    char listen[64];             /* Its RPC address, HOST:PORT. */
    char uplink[64];             /* fabricd: the data plane's; "" else. */
    char http[64];               /* fabricd: GET /metrics; "" else (or a
                                  * lab made before it). */
    char pid_file[PATH_MAX];
    char log_file[PATH_MAX];
    char *argv[LABSPEC_ARGV_MAX + 1];   /* Owned, NULL-terminated: in a
                                         * netns lab, "ip netns exec NS"
                                         * and the program's line. */
    struct labspec_net net;
};

/* The options `lab up` was given, as the lab keeps them; a later `lab
 * up` on the same DIR may repeat them, not change them. */
struct labspec_opts {
    uint32_t hosts;
    uint32_t chassis;            /* A UCS domain's layout: 'chassis' */
    uint32_t blades;             /* chassis of 'blades' blades each, hosts
                                  * named chC-bB; 0, 0: hosts h1..hN. */
    uint32_t vnics;
    uint32_t hb_timeout_ms;
    uint64_t memory_mib;         /* 0: agentd's default. */
    char libvirt[256];
    char flavor[12];
    char no_iommu[256];          /* "h2,h3", or "". */
    int netns;                   /* Each daemon in its own namespace. */
    char hypervisor[8];          /* "test" (libvirt's embedded driver,
                                  * opts.libvirt) or "qemu" (a libvirtd
                                  * per host, labhv.h). */
    char guest[256];             /* A qemu lab's guest dir (make guest),
                                  * absolute; "" otherwise. */
    uint64_t guest_dirty_rate;   /* A qemu lab's guests write this many
                                  * pages/s from inside. */
};

struct labspec {
    char dir[PATH_MAX];
    char id[16];                 /* Random hex, fixed at the first `lab
                                  * up`: names what the lab makes. */
    struct labspec_opts opts;
    struct labspec_daemon *daemons;     /* Owned; fabricd first. */
    size_t n_daemons;
};

/* Reads DIR/lab.json into 'spec' (which the caller frees with
 * labspec_free(), also on failure).  -ENOENT when there is none; -EINVAL
 * with 'err' naming the file when it is not one fexctl wrote. */
int labspec_load(const char *dir, struct labspec *spec, struct fx_err *err);

/* Writes 'spec' to its DIR/lab.json, atomically and durably. */
int labspec_save(const struct labspec *spec, struct fx_err *err);

/* A new empty spec for 'dir' with a fresh id. */
void labspec_init(struct labspec *spec, const char *dir);

/* Appends a daemon named 'name' running program 'prog' with a copy of
 * 'argv' (NULL-terminated) followed by "--log-file DIR/'file'.log
 * --pid-file DIR/'file'.pid", so that the command line says everything.
 * Returns it (owned by 'spec'), or NULL with 'err'. */
struct labspec_daemon *labspec_add(struct labspec *spec, const char *name,
                                   const char *prog, const char *file,
                                   char *const argv[], struct fx_err *err);

/* Appends a daemon as labspec_add() does, but 'argv' is its whole
 * command line: a program that takes no --log-file or --pid-file (such as
 * libvirtd, which is given its pid file its own way, and whose stderr
 * goes to DIR/'file'.log). */
struct labspec_daemon *labspec_add_line(struct labspec *spec,
                                        const char *name, const char *prog,
                                        const char *file, char *const argv[],
                                        struct fx_err *err);

/* The number of the lab's hosts: its agentd daemons. */
size_t labspec_hosts(const struct labspec *spec);

/* The daemon named 'name', or NULL. */
struct labspec_daemon *labspec_find(const struct labspec *spec,
                                    const char *name);

/* Frees what 'spec' owns; it may then be loaded or initialised again. */
void labspec_free(struct labspec *spec);

#endif
