/* labhv: each host's own libvirtd in a qemu lab (`lab up --hypervisor
 * qemu`), so that its agent drives real QEMU guests and two hosts migrate
 * them between two daemons as between two machines.
 *
 * A privileged libvirtd keeps its state in fixed places (/etc/libvirt,
 * /run/libvirt, /var/lib/libvirt, /var/cache/libvirt, /var/log/libvirt),
 * which two daemons on one machine cannot share.  So each runs in a mount
 * namespace of its own (unshare(1)) where the lab's DIR/HOST-libvirt/etc,
 * run, lib, cache and log are bind-mounted over those: its sockets, its
 * libvirtd.conf (own host_uuid: libvirt refuses to migrate to "the same
 * host") and qemu.conf, its domains' definitions, status and logs are all
 * under the lab dir, seen there from outside too.  Its /etc/passwd and
 * /etc/group are copies with the user libvirt-qemu added when the machine
 * has none: libvirtd refuses to start without that user, even when
 * qemu.conf runs QEMU as root.  The mount points themselves must exist:
 * empty directories, made if missing (the libvirt-daemon-system package
 * makes the same ones).  Nothing is mounted in the machine's namespace.
 *
 * The daemon is named "libvirtd-HOST" in lab.json, runs program
 * "libvirtd" (tini -s runs unshare, and unshare and sh exec libvirtd:
 * the pid in its pid file is libvirtd's; tini ends with it), writes its
 * own pid file (-p), and is ready once its socket accepts.  tini is
 * there as the subreaper of the QEMUs libvirtd daemonizes: it reaps one
 * as soon as it exits.  Where pid 1 reaps no orphan (these machines), a
 * QEMU libvirt stopped stayed a zombie, and libvirt, which waits for a
 * QEMU it stops to be gone in steps of 200 ms, waited for pid 1's
 * occasional reaping: 1.6 s of a migration's Confirm (the guest paused
 * meanwhile), and of each VM stop.  Its QEMU
 * processes outlive it by design (libvirt daemonizes them), so stopping
 * it also stops, by pid, every QEMU whose pid file it left in its run
 * dir. */
#ifndef LABHV_H
#define LABHV_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct fx_err;
struct labspec;
struct labspec_daemon;

#define LABHV_PROG "libvirtd"

/* Checks that this machine can run a qemu lab: root, unshare, libvirtd
 * with its QEMU driver, qemu-system-x86_64.  -ENOENT or -EPERM with
 * 'err' saying what to install or do. */
int labhv_check(struct fx_err *err);

/* Adds host 'host''s libvirtd, the 'index'-th host (from 1), to 'spec'.
 * Returns it (owned by 'spec'), or NULL with 'err'. */
struct labspec_daemon *labhv_add(struct labspec *spec, const char *host,
                                 unsigned index, struct fx_err *err);

/* The URI at which host 'host''s agent reaches its libvirtd, into 'buf':
 * qemu:///system?socket=DIR/HOST-libvirt/run/libvirt-sock. */
void labhv_uri(const struct labspec *spec, const char *host, char *buf,
               size_t size);

/* Whether 'd' is a libvirtd of the lab. */
int labhv_is(const struct labspec_daemon *d);

/* Makes what 'd' needs before it starts: its dirs, config files, passwd
 * and group copies, and the mount points.  Run before every start, so
 * that a lab whose files were removed starts again. */
int labhv_prepare(const struct labspec *spec,
                  const struct labspec_daemon *d, struct fx_err *err);

/* Waits until 'd', started as 'pid', accepts on its socket, for at most
 * 'timeout_ms'.  -ECHILD with the end of its log if it exited;
 * -ETIMEDOUT. */
int labhv_wait_ready(const struct labspec *spec,
                     const struct labspec_daemon *d, pid_t pid,
                     uint32_t timeout_ms, struct fx_err *err);

/* Stops 'd' if it runs, then every QEMU it started that still runs (by
 * the pid files in its run dir).  Returns how many processes it stopped,
 * or a negative errno. */
int labhv_stop(const struct labspec *spec, const struct labspec_daemon *d,
               uint32_t timeout_ms, struct fx_err *err);

#endif
