/* labrun: the daemons of a lab (labspec.h): their command lines built
 * from the options `lab up` was given, started in order and waited for,
 * stopped by pid.
 *
 * A lab is fabricd, an agentd per host and, in a qemu lab, a libvirtd per
 * host (labhv.h).  Starting goes in the order in which each needs the
 * others: a netns lab's namespaces and links (labnet.h), the libvirtds,
 * fabricd (serving before any agent starts, so that the agents find it at
 * once), then the agents; it ends once every host is up at fabricd.
 * Stopping goes the other way.  The processes are labproc.h's, the
 * loopback ports labport.h's; a netns lab's lock (lablock.h) is held
 * around whatever makes or changes the lab.
 *
 * The `fexctl lab` verbs (cli_lab.c: options, output) call this module,
 * never the reverse.  It reaches the lab's fabricd through the 'struct
 * cli' it is given (borrowed), which it points at the lab. */
#ifndef LABRUN_H
#define LABRUN_H

#include <stdbool.h>

struct cli;
struct fx_err;
struct labspec;
struct labspec_daemon;
struct labspec_opts;

/* How long a daemon has to stop after SIGTERM before SIGKILL. */
#define LABRUN_STOP_TIMEOUT_MS 5000

/* ---- Building a lab's command lines ---- */

/* Whether 'o''s --no-iommu lists host 'name'; with 'name' NULL, checks
 * instead that every name it lists is one of the lab's hosts (0, or
 * -EINVAL). */
int labrun_no_iommu(const struct labspec_opts *o, const char *name,
                    struct fx_err *err);

/* A new lab's spec for 'dir' from 'opts' (copied), into 'spec': every
 * daemon's command line, with the programs of 'cli->bindir', every port
 * chosen now, once.  The caller frees 'spec' with labspec_free(), also on
 * failure. */
int labrun_build(struct cli *cli, const char *dir,
                 const struct labspec_opts *opts, struct labspec *spec,
                 struct fx_err *err);

/* Adds "--fault 'spec'" (copied) to the command line 'd' is started with
 * this once: lab.json is not written, so that a later start runs
 * unarmed.  The daemon itself refuses a fault it does not offer, and `lab
 * restart` fails with its words. */
int labrun_arm_fault(struct labspec_daemon *d, const char *spec,
                     struct fx_err *err);

/* Whether 'spec' is a qemu lab: a libvirtd per host (labhv.h). */
bool labrun_qemu(const struct labspec *spec);

/* ---- Starting and stopping ---- */

/* Points 'cli' at the lab's fabricd with the lab's secret (copied into
 * 'cli'). */
void labrun_target(struct cli *cli, const struct labspec *spec);

/* A netns lab's lock (lablock.h), held while a command makes or changes
 * the lab, so that `lab clean` leaves it be; then, if 'reload', the lab
 * as it is now that we hold it ('spec' read again: a `lab link` may have
 * changed it meanwhile).  '*lockp' is -1 for a loopback lab, which has no
 * lock: it has nothing to clean.  The caller releases '*lockp' with
 * lablock_release(). */
int labrun_lock(struct labspec *spec, int reload, int *lockp,
                struct fx_err *err);

/* The lab's hosts that the fabric lists as up, into 'up' (the caller's,
 * indexed like spec->daemons; NULL: only counted), asked through 'cli'
 * (labrun_target()).  Returns the count or an errno. */
int labrun_hosts_up(struct cli *cli, const struct labspec *spec, int *up,
                    struct fx_err *err);

/* Starts the daemons of 'spec' that do not run ('only': just that one),
 * a qemu lab's libvirtds first, then fabricd, and waits until each
 * serves and every host is up, for at most a budget that grows with the
 * daemons started; on a terminal, shows "WHAT: hosts up N/M" meanwhile
 * (elsewhere a plain line now and then, with cli->json nothing).  Stores
 * how many it started in '*startedp'.  A netns lab's lock must be
 * held. */
int labrun_start(struct cli *cli, struct labspec *spec, const char *only,
                 const char *what, int *startedp, struct fx_err *err);

/* Stops every daemon of the lab: agents first, then fabricd, then a
 * qemu lab's libvirtds with their QEMUs (no agent drives them any more);
 * then a netns lab's namespaces go, with their links and addresses.
 * Returns how many processes were stopped, or a negative errno ('err'
 * may be NULL).  A netns lab's lock must be held. */
int labrun_stop(const struct labspec *spec, struct fx_err *err);

/* The lab's secret, DIR/secret (mode 0600), made at its first start and
 * kept: every daemon of the lab and fexctl --lab prove it. */
int labrun_secret(const char *dir, struct fx_err *err);

#endif
