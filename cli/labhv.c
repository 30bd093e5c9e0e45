/* labhv: see labhv.h. */
#include "labhv.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "fx_err.h"
#include "fx_file.h"
#include "fx_proc.h"
#include "fx_time.h"
#include "labproc.h"
#include "labspec.h"

#define LABHV_NAME_PREFIX "libvirtd-"
#define LABHV_QEMU "qemu-system-x86_64"
#define LABHV_DRIVER "/usr/lib/x86_64-linux-gnu/libvirt/connection-driver/" \
                     "libvirt_driver_qemu.so"

/* The machine's directories a privileged libvirtd uses, and the names of
 * the lab's own that are mounted over them, in that order. */
static const char *const labhv_mounts[][2] = {
    { "/etc/libvirt", "etc" },
    { "/run/libvirt", "run" },
    { "/var/lib/libvirt", "lib" },
    { "/var/cache/libvirt", "cache" },
    { "/var/log/libvirt", "log" },
};
#define LABHV_N_MOUNTS (sizeof labhv_mounts / sizeof *labhv_mounts)

/* What runs in the new mount namespace: $1 the daemon's dir, $2 its pid
 * file, $3 libvirtd.  Positional arguments rather than paths pasted into
 * the script, so that no path is ever read as shell. */
static const char labhv_script[] =
    "set -e; "
    "mount --bind \"$1/passwd\" /etc/passwd; "
    "mount --bind \"$1/group\" /etc/group; "
    "mount --bind \"$1/etc\" /etc/libvirt; "
    "mount --bind \"$1/run\" /run/libvirt; "
    "mount --bind \"$1/lib\" /var/lib/libvirt; "
    "mount --bind \"$1/cache\" /var/cache/libvirt; "
    "mount --bind \"$1/log\" /var/log/libvirt; "
    "exec \"$3\" -f /etc/libvirt/libvirtd.conf -p \"$2\"";

/* Finds program 'name' in the usual places. */
static int
labhv_tool(const char *name, char *buf, size_t size)
{
    static const char *const dirs[] = { "/usr/sbin", "/usr/bin", "/sbin",
                                        "/bin" };

    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
        snprintf(buf, size, "%s/%s", dirs[i], name);
        if (!access(buf, X_OK)) {
            return 0;
        }
    }
    return -ENOENT;
}

int
labhv_check(struct fx_err *err)
{
    char path[PATH_MAX];

    if (geteuid() != 0) {
        return fx_err_set(err, -EPERM, "lab up --hypervisor qemu runs a "
                          "privileged libvirtd per host, each in a mount "
                          "namespace of its own: it takes root");
    }
    if (labhv_tool("libvirtd", path, sizeof path)
        || access(LABHV_DRIVER, R_OK)) {
        return fx_err_set(err, -ENOENT, "lab up --hypervisor qemu needs "
                          "libvirtd with its QEMU driver (Debian: apt-get "
                          "install libvirt-daemon libvirt-daemon-driver-qemu;"
                          " scripts/setup-debian installs them)");
    }
    if (labhv_tool(LABHV_QEMU, path, sizeof path)) {
        return fx_err_set(err, -ENOENT, "lab up --hypervisor qemu needs "
                          "%s (Debian: apt-get install qemu-system-x86; "
                          "scripts/setup-debian installs it)", LABHV_QEMU);
    }
    if (labhv_tool("unshare", path, sizeof path)) {
        return fx_err_set(err, -ENOENT, "lab up --hypervisor qemu needs "
                          "unshare (Debian: util-linux)");
    }
    if (labhv_tool("tini", path, sizeof path)) {
        return fx_err_set(err, -ENOENT, "lab up --hypervisor qemu needs "
                          "tini (Debian: apt-get install tini; "
                          "scripts/setup-debian installs it)");
    }
    return 0;
}

/* DIR/HOST-libvirt, the daemon's own dir. */
static void
labhv_base(const char *dir, const char *host, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s-libvirt", dir, host);
}

int
labhv_is(const struct labspec_daemon *d)
{
    return !strcmp(d->prog, LABHV_PROG);
}

/* The host a libvirtd daemon serves, from its name. */
static const char *
labhv_host(const struct labspec_daemon *d)
{
    return d->name + strlen(LABHV_NAME_PREFIX);
}

void
labhv_uri(const struct labspec *spec, const char *host, char *buf,
          size_t size)
{
    char base[PATH_MAX];

    labhv_base(spec->dir, host, base, sizeof base);
    snprintf(buf, size, "qemu:///system?socket=%s/run/libvirt-sock", base);
}

struct labspec_daemon *
labhv_add(struct labspec *spec, const char *host, unsigned index,
          struct fx_err *err)
{
    char tini[PATH_MAX], unshare[PATH_MAX], sh[PATH_MAX];
    char libvirtd[PATH_MAX], base[PATH_MAX], pid[PATH_MAX], name[40];
    char sock[PATH_MAX];
    char *argv[] = { tini, "-s", "--", unshare, "--mount", "--propagation",
                     "private", sh, "-c", (char *) labhv_script, name, base,
                     pid, libvirtd, NULL };
    (void) index;
    if (labhv_tool("tini", tini, sizeof tini)
        || labhv_tool("unshare", unshare, sizeof unshare)
        || labhv_tool("sh", sh, sizeof sh)
        || labhv_tool("libvirtd", libvirtd, sizeof libvirtd)) {
        fx_err_set(err, -ENOENT, "no tini, unshare, sh or libvirtd");
        return NULL;
    }
    snprintf(name, sizeof name, "%s%s", LABHV_NAME_PREFIX, host);
    labhv_base(spec->dir, host, base, sizeof base);
    snprintf(sock, sizeof sock, "%s/run/libvirt-sock", base);
    /* The socket's path must fit a sockaddr_un, with room for libvirt's
     * "-admin" sibling. */
    if (strlen(sock) + 7 >= sizeof ((struct sockaddr_un *) 0)->sun_path) {
        fx_err_set(err, -ENAMETOOLONG, "lab dir '%s' is too long for a "
                   "qemu lab: libvirtd's socket '%s' must fit in %zu "
                   "bytes", spec->dir, sock,
                   sizeof ((struct sockaddr_un *) 0)->sun_path - 8);
        return NULL;
    }
    snprintf(pid, sizeof pid, "%s/%s.pid", spec->dir, name);
    return labspec_add_line(spec, name, LABHV_PROG, name, argv, err);
}

/* ---- Before a start ---- */

static int
labhv_mkdir(const char *path, struct fx_err *err)
{
    if (mkdir(path, 0755) && errno != EEXIST) {
        return fx_err_set(err, -errno, "cannot create '%s': %s", path,
                          strerror(errno));
    }
    return 0;
}

/* libvirtd.conf: sockets for root only (auth "none": the socket's mode is
 * the guard), the host's own UUID, logs to stderr (the daemon's log). */
static int
labhv_libvirtd_conf(const char *base, const struct labspec *spec,
                    const char *host, struct fx_err *err)
{
    char path[PATH_MAX + 32], text[1024];
    uint64_t h = 0xcbf29ce484222325ull;

    /* The host's name, hashed (FNV-1a), makes its UUID's last part: the
     * lab's id its first, so that two labs differ too. */
    for (const char *p = host; *p; p++) {
        h = (h ^ (uint8_t) *p) * 0x100000001b3ull;
    }

    snprintf(path, sizeof path, "%s/etc/libvirtd.conf", base);
    snprintf(text, sizeof text,
             "# Written by fexctl lab up --hypervisor qemu: this host's "
             "libvirtd.\n"
             "unix_sock_dir = \"/run/libvirt\"\n"
             "unix_sock_rw_perms = \"0700\"\n"
             "unix_sock_ro_perms = \"0700\"\n"
             "unix_sock_admin_perms = \"0700\"\n"
             "auth_unix_rw = \"none\"\n"
             "auth_unix_ro = \"none\"\n"
             "host_uuid = \"%.8s-fe00-4000-8000-%012llx\"\n"
             "log_outputs = \"3:stderr\"\n",
             spec->id, (unsigned long long) (h & 0xffffffffffffull));
    return fx_file_write_atomic(path, text, err);
}

/* An incoming migration's QEMU listens on a port its libvirtd picks from
 * migration_port_min..max, checking only that it can bind it now: with
 * every libvirtd on libvirt's default 49152-49215, two libvirtds of this
 * machine (two hosts, or two labs) that take an incoming guest at once
 * may pick the same, and one migration fails ("Address already in
 * use").  So each host gets LABHV_MIG_PORTS ports of its own, above the
 * ephemeral range, at a slot the lab's id and the host's name hash to. */
#define LABHV_MIG_PORT_LO 61000u
#define LABHV_MIG_PORTS 8u
#define LABHV_MIG_SLOTS ((65535u - LABHV_MIG_PORT_LO + 1) / LABHV_MIG_PORTS)

/* qemu.conf as found to work here (FACTS.md section 6): QEMU as root,
 * no security driver, no cgroups (no systemd), no chown of the guest's
 * files, its stdio to a file rather than to virtlogd (which no one
 * starts); and the host's own migration ports. */
static int
labhv_qemu_conf(const char *base, const struct labspec *spec,
                const char *host, struct fx_err *err)
{
    char path[PATH_MAX + 32], text[512];
    uint64_t h = 0xcbf29ce484222325ull;
    unsigned lo;

    for (const char *p = spec->id; *p; p++) {
        h = (h ^ (uint8_t) *p) * 0x100000001b3ull;
    }
    for (const char *p = host; *p; p++) {
        h = (h ^ (uint8_t) *p) * 0x100000001b3ull;
    }
    lo = LABHV_MIG_PORT_LO + (unsigned) (h % LABHV_MIG_SLOTS)
         * LABHV_MIG_PORTS;
    snprintf(path, sizeof path, "%s/etc/qemu.conf", base);
    snprintf(text, sizeof text,
        "# Written by fexctl lab up --hypervisor qemu.\n"
        "user = \"root\"\n"
        "group = \"root\"\n"
        "security_driver = \"none\"\n"
        "cgroup_controllers = [ ]\n"
        "dynamic_ownership = 0\n"
        "remember_owner = 0\n"
        "stdio_handler = \"file\"\n"
        "migration_port_min = %u\n"
        "migration_port_max = %u\n", lo, lo + LABHV_MIG_PORTS - 1);
    return fx_file_write_atomic(path, text, err);
}

/* A copy of /etc/'name' (passwd or group) with 'line' appended unless
 * 'key' (an entry's name followed by ':') is in it already. */
static int
labhv_copy_db(const char *base, const char *name, const char *key,
              const char *line, struct fx_err *err)
{
    char src[64], dst[PATH_MAX + 16], buf[512];
    size_t len = 0, cap = 4096;
    char *text = malloc(cap);
    int found = 0, rc;
    FILE *f;

    snprintf(src, sizeof src, "/etc/%s", name);
    snprintf(dst, sizeof dst, "%s/%s", base, name);
    f = fopen(src, "r");
    if (!f || !text) {
        free(text);
        if (f) {
            fclose(f);
        }
        return fx_err_set(err, -errno, "cannot read '%s': %s", src,
                          strerror(errno));
    }
    text[0] = '\0';
    while (fgets(buf, sizeof buf, f)) {
        size_t n = strlen(buf);

        found |= !strncmp(buf, key, strlen(key));
        if (len + n + strlen(line) + 2 >= cap) {
            cap = 2 * (len + n + strlen(line) + 2);
            text = realloc(text, cap);
            if (!text) {
                abort();
            }
        }
        memcpy(text + len, buf, n + 1);
        len += n;
    }
    fclose(f);
    if (!found) {
        snprintf(text + len, cap - len, "%s%s\n",
                 len && text[len - 1] != '\n' ? "\n" : "", line);
    }
    rc = fx_file_write_atomic(dst, text, err);
    free(text);
    return rc;
}

int
labhv_prepare(const struct labspec *spec, const struct labspec_daemon *d,
              struct fx_err *err)
{
    char base[PATH_MAX], path[PATH_MAX + 16];
    const char *host = labhv_host(d);

    labhv_base(spec->dir, host, base, sizeof base);
    if (labhv_mkdir(base, err)) {
        return err->code;
    }
    for (size_t i = 0; i < LABHV_N_MOUNTS; i++) {
        snprintf(path, sizeof path, "%s/%s", base, labhv_mounts[i][1]);
        if (labhv_mkdir(path, err) || labhv_mkdir(labhv_mounts[i][0], err)) {
            return err->code;
        }
    }
    if (labhv_libvirtd_conf(base, spec, host, err)
        || labhv_qemu_conf(base, spec, host, err)
        || labhv_copy_db(base, "passwd", "libvirt-qemu:",
                         "libvirt-qemu:x:64055:64055:Libvirt Qemu "
                         "(fexsim lab):/nonexistent:/usr/sbin/nologin", err)
        || labhv_copy_db(base, "group", "libvirt-qemu:",
                         "libvirt-qemu:x:64055:", err)) {
        return err->code;
    }
    return 0;
}

/* ---- Ready, stopped ---- */

/* Whether a unix socket at 'path' accepts. */
static int
labhv_accepts(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), ok;

    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    ok = fd >= 0 && !connect(fd, (struct sockaddr *) &sa, sizeof sa);
    if (fd >= 0) {
        close(fd);
    }
    return ok;
}

/* Whether 'd''s pid file names a running libvirtd. */
static int
labhv_started(const struct labspec_daemon *d)
{
    pid_t pid;

    return !fx_proc_pidfile_read(d->pid_file, &pid, NULL)
           && fx_proc_is(pid, "libvirtd") > 0;
}

int
labhv_wait_ready(const struct labspec *spec,
                 const struct labspec_daemon *d, pid_t pid,
                 uint32_t timeout_ms, struct fx_err *err)
{
    uint64_t deadline = fx_time_now_ms() + timeout_ms;
    char base[PATH_MAX], sock[PATH_MAX + 32];

    labhv_base(spec->dir, labhv_host(d), base, sizeof base);
    snprintf(sock, sizeof sock, "%s/run/libvirt-sock", base);
    /* The pid file first: libvirtd writes it before it listens (the file
     * of an earlier one was removed before the start), and an old socket
     * file of a daemon gone would not accept anyway.  'pid' is tini's,
     * whose child libvirtd is: one ends with the other. */
    while (!labhv_started(d)) {
        if (!fx_proc_alive(pid)) {
            return fx_err_set(err, -ECHILD, "%s exited at start-up; see %s",
                              d->name, d->log_file);
        }
        if (fx_time_now_ms() > deadline) {
            return fx_err_set(err, -ETIMEDOUT, "%s wrote no pid file within "
                              "%u ms; see %s", d->name, timeout_ms,
                              d->log_file);
        }
        fx_time_sleep_ms(5);
    }
    while (!labhv_accepts(sock)) {
        if (!fx_proc_alive(pid)) {
            return fx_err_set(err, -ECHILD, "%s exited at start-up; see %s",
                              d->name, d->log_file);
        }
        if (fx_time_now_ms() > deadline) {
            return fx_err_set(err, -ETIMEDOUT, "%s did not accept on '%s' "
                              "within %u ms; see %s", d->name, sock,
                              timeout_ms, d->log_file);
        }
        fx_time_sleep_ms(10);
    }
    return 0;
}

/* Stops every QEMU whose pid file is in 'dir' and which still runs QEMU.
 * Returns how many it stopped, or a negative errno. */
static int
labhv_stop_guests(const char *dir, uint32_t timeout_ms, struct fx_err *err)
{
    char path[PATH_MAX + 300];
    struct dirent *e;
    DIR *dh = opendir(dir);
    int count = 0, rc = 0;

    while (dh && !rc && (e = readdir(dh))) {
        size_t n = strlen(e->d_name);
        pid_t pid;

        if (n < 5 || strcmp(e->d_name + n - 4, ".pid")) {
            continue;
        }
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        /* comm is the program's name cut to 15 characters. */
        if (fx_proc_pidfile_read(path, &pid, NULL) || !fx_proc_alive(pid)
            || !fx_proc_is(pid, "qemu-system-x86")) {
            continue;
        }
        rc = fx_proc_stop(pid, timeout_ms, err);
        count += !rc;
    }
    if (dh) {
        closedir(dh);
    }
    return rc ? rc : count;
}

int
labhv_stop(const struct labspec *spec, const struct labspec_daemon *d,
           uint32_t timeout_ms, struct fx_err *err)
{
    char base[PATH_MAX], run[PATH_MAX + 16];
    int rc = labproc_stop(d, timeout_ms, err), guests;

    if (rc < 0) {
        return rc;
    }
    labhv_base(spec->dir, labhv_host(d), base, sizeof base);
    snprintf(run, sizeof run, "%s/run/qemu", base);
    guests = labhv_stop_guests(run, timeout_ms, err);
    return guests < 0 ? guests : rc + guests;
}
