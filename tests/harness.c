#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <poll.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <sys/time.h>
#include <sys/socket.h>
#include <unistd.h>

#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <json-c/json.h>

#include <event2/event.h>

#include "auth.h"
#include "fx_addr.h"
#include "fx_err.h"
#include "rpc.h"
#include "fx_proc.h"
#include "fx_time.h"

char *
th_mkdtemp(const char *tag)
{
    const char *tmp = getenv("TMPDIR");
    char *path;

    if (asprintf(&path, "%s/fexsim-%s-XXXXXX", tmp ? tmp : "/tmp", tag) < 0
        || !mkdtemp(path)) {
        abort();
    }
    return path;
}

static int
th_rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void) st;
    (void) flag;
    (void) f;
    return remove(path);
}

void
th_rmrf(const char *path)
{
    if (path) {
        nftw(path, th_rm_one, 16, FTW_DEPTH | FTW_PHYS);
    }
}

const char *
th_bin(char *buf, size_t size, const char *prog)
{
    const char *bin = getenv("FEXSIM_BIN");

    snprintf(buf, size, "%s/%s", bin ? bin : "build", prog);
    return buf;
}

/* Appends what is readable on 'fd' to the growing buffer '*bufp'. */
static int
th_drain(int fd, char **bufp, size_t *lenp)
{
    char chunk[4096];
    ssize_t n = read(fd, chunk, sizeof chunk);

    if (n <= 0) {
        return 0;
    }
    *bufp = realloc(*bufp, *lenp + (size_t) n + 1);
    memcpy(*bufp + *lenp, chunk, (size_t) n);
    *lenp += (size_t) n;
    (*bufp)[*lenp] = '\0';
    return 1;
}

static void
th_collect(int out_fd, int err_fd, char **out, char **errs)
{
    struct pollfd p[2] = { { out_fd, POLLIN, 0 }, { err_fd, POLLIN, 0 } };
    size_t lens[2] = { 0, 0 };
    char **bufs[2] = { out, errs };
    int open_fds = 2;

    *out = calloc(1, 1);
    *errs = calloc(1, 1);
    while (open_fds > 0 && poll(p, 2, -1) >= 0) {
        for (int i = 0; i < 2; i++) {
            if (p[i].fd >= 0 && p[i].revents
                && !th_drain(p[i].fd, bufs[i], &lens[i])) {
                close(p[i].fd);
                p[i].fd = -1;
                open_fds--;
            }
        }
    }
}

int
th_run(char *const argv[], char **outp, char **errp)
{
    int o[2], e[2], status;
    char *out, *errs;
    pid_t pid;

    if (pipe(o) || pipe(e)) {
        abort();
    }
    pid = fork();
    if (pid == 0) {
        dup2(o[1], 1);
        dup2(e[1], 2);
        close(o[0]);
        close(e[0]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(o[1]);
    close(e[1]);
    th_collect(o[0], e[0], &out, &errs);
    waitpid(pid, &status, 0);
    if (outp) {
        *outp = out;
    } else {
        free(out);
    }
    if (errp) {
        *errp = errs;
    } else {
        free(errs);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status)
                             : 128 + WTERMSIG(status);
}

int
th_fexctl(char **outp, char **errp, ...)
{
    char bin[4096];
    char *argv[64];
    size_t n = 0;
    va_list ap;

    argv[n++] = (char *) th_bin(bin, sizeof bin, "fexctl");
    va_start(ap, errp);
    while (n < 63 && (argv[n] = va_arg(ap, char *))) {
        n++;
    }
    va_end(ap);
    argv[n] = NULL;
    return th_run(argv, outp, errp);
}

int
th_wait(int (*cond)(void *arg), void *arg, uint32_t timeout_ms)
{
    uint64_t deadline = fx_time_now_ms() + timeout_ms;

    for (;;) {
        if (cond(arg)) {
            return 1;
        }
        if (fx_time_now_ms() > deadline) {
            return 0;
        }
        fx_time_sleep_ms(10);
    }
}

pid_t
th_read_pid(const char *dir, const char *file)
{
    char path[4096];
    pid_t pid;

    snprintf(path, sizeof path, "%s/%s", dir, file);
    return fx_proc_pidfile_read(path, &pid, NULL) ? -1 : pid;
}

/* ---- Labs ---- */

static int
th_fexctl_v(char **outp, char **errp, const char *first[], size_t nfirst,
            va_list ap)
{
    char bin[4096];
    char *argv[64];
    size_t n = 0;

    argv[n++] = (char *) th_bin(bin, sizeof bin, "fexctl");
    for (size_t i = 0; i < nfirst; i++) {
        argv[n++] = (char *) first[i];
    }
    while (n < 63 && (argv[n] = va_arg(ap, char *))) {
        n++;
    }
    argv[n] = NULL;
    return th_run(argv, outp, errp);
}

int
th_lab_passthrough(const char *dir, int first, int last)
{
    for (int i = first; i <= last; i++) {
        char h[16];
        int rc;

        snprintf(h, sizeof h, "h%d", i);
        if ((rc = th_fexctl(NULL, NULL, "--lab", dir, "host", "passthrough",
                            h, "--enable", "0000:0b:00.0", NULL))
            || (rc = th_fexctl(NULL, NULL, "--lab", dir, "host", "reboot", h,
                               NULL))) {
            return rc;
        }
    }
    return 0;
}

int
th_lab_up(const char *dir, int hosts, ...)
{
    char nh[16];
    const char *first[] = { "lab", "up", "--hosts", nh, "--dir", dir };
    va_list ap;
    int rc;

    snprintf(nh, sizeof nh, "%d", hosts);
    va_start(ap, hosts);
    rc = th_fexctl_v(NULL, NULL, first, 6, ap);
    va_end(ap);
    return rc;
}

int
th_lab_down(const char *dir)
{
    return th_fexctl(NULL, NULL, "lab", "down", "--dir", dir, NULL);
}

struct json_object *
th_fexctl_json(const char *dir, ...)
{
    const char *first[] = { "--lab", dir, "--json" };
    struct json_object *obj = NULL;
    char *out = NULL;
    va_list ap;
    int rc;

    va_start(ap, dir);
    rc = th_fexctl_v(&out, NULL, first, 3, ap);
    va_end(ap);
    if (rc == 0) {
        obj = json_tokener_parse(out);
    }
    free(out);
    return obj;
}

const char *
th_host_state(const char *dir, const char *name, char *buf, size_t size,
              char *reason, size_t rsize)
{
    struct json_object *doc = th_fexctl_json(dir, "host", "list", NULL);
    struct json_object *hosts, *h, *v;

    buf[0] = '\0';
    if (doc && json_object_object_get_ex(doc, "hosts", &hosts)) {
        for (size_t i = 0; i < json_object_array_length(hosts); i++) {
            h = json_object_array_get_idx(hosts, i);
            json_object_object_get_ex(h, "name", &v);
            if (strcmp(json_object_get_string(v), name)) {
                continue;
            }
            json_object_object_get_ex(h, "state", &v);
            snprintf(buf, size, "%s", json_object_get_string(v));
            json_object_object_get_ex(h, "down_reason", &v);
            if (reason) {
                snprintf(reason, rsize, "%s", json_object_get_string(v));
            }
        }
    }
    json_object_put(doc);
    return buf;
}

static int
th_log_clean(const char *path)
{
    static const char *const marks[] = { "AddressSanitizer",
                                         "LeakSanitizer",
                                         "runtime error:" };
    char line[1024];
    int clean = 1;
    FILE *f = fopen(path, "r");

    while (f && fgets(line, sizeof line, f)) {
        for (size_t i = 0; i < sizeof marks / sizeof *marks; i++) {
            if (strstr(line, marks[i])) {
                fprintf(stderr, "%s: %s", path, line);
                clean = 0;
            }
        }
    }
    if (f) {
        fclose(f);
    }
    return clean;
}

int
th_logs_clean(const char *dir)
{
    char path[4096];
    struct dirent *de;
    int clean = 1;
    DIR *d = opendir(dir);

    while (d && (de = readdir(d))) {
        size_t n = strlen(de->d_name);

        if (n > 4 && !strcmp(de->d_name + n - 4, ".log")) {
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            clean &= th_log_clean(path);
        }
    }
    if (d) {
        closedir(d);
    }
    return clean;
}

/* ---- JSON output of fexctl ---- */

int64_t
th_jint(struct json_object *o, const char *key)
{
    struct json_object *v;

    return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v)
                                                 : -1;
}

const char *
th_jstr(struct json_object *o, const char *key)
{
    struct json_object *v;

    return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v)
                                                 : "";
}

struct json_object *
th_jarr(struct json_object *o, const char *key)
{
    struct json_object *v;

    return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

void
th_fexctl_check(const char *dir, int line, int want_rc, const char *want,
                ...)
{
    const char *first[] = { "--lab", dir };
    char *out = NULL, *errs = NULL;
    va_list ap;
    int rc;

    va_start(ap, want);
    rc = th_fexctl_v(&out, &errs, first, 2, ap);
    va_end(ap);
    if (rc != want_rc || (want && !strstr(out, want)
                          && !strstr(errs, want))) {
        fail_msg("line %d: fexctl exited %d (want %d, '%s')\nstdout: %s\n"
                 "stderr: %s", line, rc, want_rc, want ? want : "", out,
                 errs);
    }
    free(out);
    free(errs);
}

/* ---- A lab's daemons ---- */

void
th_daemon_read(const char *dir, const char *pidfile, struct th_daemon *d)
{
    char path[64];
    size_t len;
    FILE *f;

    snprintf(d->pidfile, sizeof d->pidfile, "%s", pidfile);
    snprintf(path, sizeof path, "/proc/%d/cmdline",
             (int) th_read_pid(dir, pidfile));
    f = fopen(path, "r");
    assert_non_null(f);
    len = fread(d->buf, 1, sizeof d->buf - 1, f);
    fclose(f);
    d->buf[len] = '\0';
    d->argc = 0;
    for (size_t i = 0; i < len && d->argc < 36; i += strlen(d->buf + i) + 1) {
        d->argv[d->argc++] = d->buf + i;
    }
    d->argv[d->argc] = NULL;
}

void
th_daemon_kill9(const char *dir, const struct th_daemon *d)
{
    pid_t pid = th_read_pid(dir, d->pidfile);

    assert_true(pid > 0);
    kill(pid, SIGKILL);
    while (fx_proc_alive(pid)) {
        fx_time_sleep_ms(2);   /* Reaped by init; the kernel is quick. */
    }
}

void
th_daemon_respawn(const char *dir, const struct th_daemon *d,
                  const char *spec)
{
    char *argv[44], addr[64], path[4096], log[4096], fault[256];
    const char *base = strrchr(d->argv[0], '/') + 1;
    struct fx_err err;
    size_t n = 0;
    pid_t pid;

    th_fabric_addr(dir, addr, sizeof addr);
    for (size_t i = 0; i < d->argc; i++) {
        argv[n++] = d->argv[i];
        if (!strcmp(base, "fabricd") && !strcmp(d->argv[i], "--listen")) {
            argv[n++] = addr;
            i++;
        }
    }
    if (spec) {
        snprintf(fault, sizeof fault, "%s", spec);
        argv[n++] = "--fault";
        argv[n++] = fault;
    }
    argv[n] = NULL;
    snprintf(log, sizeof log, "%s/%.*s.log", dir,
             (int) (strlen(d->pidfile) - 4), d->pidfile);
    assert_int_equal(fx_proc_spawn(argv, log, &pid, &err), 0);
    snprintf(path, sizeof path, "%s/%s", dir, d->pidfile);
    assert_int_equal(fx_proc_pidfile_write(path, pid, &err), 0);
}

void
th_fabric_addr(const char *dir, char *buf, size_t size)
{
    char path[4096];
    FILE *f;

    snprintf(path, sizeof path, "%s/fabric.addr", dir);
    f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(buf, (int) size, f));
    fclose(f);
    buf[strcspn(buf, "\n")] = '\0';
}

struct th_up_arg {
    const char *dir;
    int n;
};

int
th_hosts_up(const char *dir, int n)
{
    char name[16], st[16];

    for (int i = 1; i <= n; i++) {
        snprintf(name, sizeof name, "h%d", i);
        if (strcmp(th_host_state(dir, name, st, sizeof st, NULL, 0), "up")) {
            return 0;
        }
    }
    return 1;
}

static int
th_hosts_up_cond(void *arg_)
{
    const struct th_up_arg *arg = arg_;

    return th_hosts_up(arg->dir, arg->n);
}

int
th_wait_hosts_up(const char *dir, int n, uint32_t timeout_ms)
{
    struct th_up_arg arg = { dir, n };

    return th_wait(th_hosts_up_cond, &arg, timeout_ms);
}

void
th_lab_opts(const char *dir, int role, struct auth_key *key,
            struct rpc_opts *opts)
{
    char path[4096];
    struct fx_err err;

    snprintf(path, sizeof path, "%s/secret", dir);
    if (auth_key_load(path, key, &err)) {
        fail_msg("%s", err.msg);
    }
    *opts = (struct rpc_opts) { .key = key,
                                .me = { .role = (enum auth_role) role } };
}

int
th_proven_socket(const char *addr, const struct auth_key *key,
                 const struct auth_ident *me, char *why)
{
    struct sockaddr_storage ss;
    struct timeval tv = { 5, 0 };
    uint8_t in[AUTH_MSG_MAX], out[AUTH_MSG_MAX];
    size_t have = 0, used, outlen;
    struct auth_key none;
    struct fx_err err;
    struct auth *a;
    int len, rc = 0, fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_int_equal(fx_addr_parse(addr, &ss, &len, NULL), 0);
    assert_int_equal(connect(fd, (struct sockaddr *) &ss, (socklen_t) len),
                     0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    auth_key_none(&none);
    a = auth_client_new(key ? key : &none, me);
    while (rc == 0) {
        ssize_t n;

        rc = auth_step(a, in, have, &used, out, &outlen, &err);
        memmove(in, in + used, have - used);
        have -= used;
        if (outlen && send(fd, out, outlen, MSG_NOSIGNAL) != (ssize_t) outlen) {
            rc = fx_err_set(&err, -EPIPE, "the daemon closed");
        }
        if (rc == 0 && !outlen) {
            n = recv(fd, in + have, sizeof in - have, 0);
            if (n <= 0) {
                rc = fx_err_set(&err, -EPIPE, "the daemon closed");
            }
            have += n > 0 ? (size_t) n : 0;
        }
    }
    auth_destroy(a);
    if (rc < 0) {
        snprintf(why, 200, "%s", err.msg);
        close(fd);
        return -1;
    }
    return fd;
}

char *
th_json_drop(char *json, const char *key)
{
    char pat[128];
    char *p;

    snprintf(pat, sizeof pat, "\"%s\":", key);
    while ((p = strstr(json, pat))) {
        char *end = p + strlen(pat);

        end += strspn(end, "-0123456789");
        if (*end == ',') {
            end++;                      /* Its comma after... */
        } else if (p > json && p[-1] == ',') {
            p--;                        /* ...or, last, the one before. */
        }
        memmove(p, end, strlen(end) + 1);
    }
    return json;
}

int
th_recv_all(int fd, void *buf, size_t len)
{
    size_t got = 0;

    while (got < len) {
        ssize_t n = recv(fd, (char *) buf + got, len - got, 0);

        if (n <= 0) {
            return -1;
        }
        got += (size_t) n;
    }
    return 0;
}

int
th_handshake_on_loop(struct event_base *base, int fd,
                     const struct auth_key *key, const struct auth_ident *me,
                     char *why)
{
    uint8_t in[AUTH_MSG_MAX], out[AUTH_MSG_MAX];
    size_t have = 0, used, outlen;
    uint64_t end = fx_time_now_ms() + 20000;
    struct auth_key none;
    struct fx_err err;
    struct auth *a;
    int rc = 0;

    auth_key_none(&none);
    a = auth_client_new(key ? key : &none, me);
    fx_err_set(&err, -ETIMEDOUT, "no answer to the handshake");
    while (rc == 0 && fx_time_now_ms() < end) {
        ssize_t n;

        rc = auth_step(a, in, have, &used, out, &outlen, &err);
        memmove(in, in + used, have - used);
        have -= used;
        if (outlen && send(fd, out, outlen, MSG_NOSIGNAL)
                      != (ssize_t) outlen) {
            rc = fx_err_set(&err, -EPIPE, "the server closed");
        }
        if (rc || outlen) {
            continue;
        }
        n = recv(fd, in + have, sizeof in - have, MSG_DONTWAIT);
        if (n > 0) {
            have += (size_t) n;
        } else if (n == 0) {
            rc = fx_err_set(&err, -EPIPE, "the server closed");
        } else {
            struct timeval tick = { 0, 50000 };

            event_base_loopexit(base, &tick);
            event_base_loop(base, EVLOOP_ONCE);
        }
    }
    auth_destroy(a);
    if (rc <= 0 && why) {
        snprintf(why, 200, "%s", rc ? err.msg : "no answer to the handshake");
    }
    return rc ? rc : -ETIMEDOUT;
}

int
th_proven_on_loop(struct event_base *base, const char *addr,
                  const struct auth_key *key, const struct auth_ident *me)
{
    struct sockaddr_storage ss;
    char why[200];
    int len, fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_int_equal(fx_addr_parse(addr, &ss, &len, NULL), 0);
    assert_int_equal(connect(fd, (struct sockaddr *) &ss, (socklen_t) len),
                     0);
    if (th_handshake_on_loop(base, fd, key, me, why) != 1) {
        fail_msg("handshake with %s: %s", addr, why);
    }
    return fd;
}

/* ---- Network namespaces ---- */

int
th_tool(char **outp, char **errp, const char *tool, ...)
{
    static const char *const dirs[] = { "/usr/sbin", "/sbin", "/usr/bin",
                                        "/bin" };
    char path[64];
    char *argv[64];
    size_t n = 0;
    va_list ap;

    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
        snprintf(path, sizeof path, "%s/%s", dirs[i], tool);
        if (!access(path, X_OK)) {
            break;
        }
    }
    argv[n++] = path;
    va_start(ap, tool);
    while (n < 63 && (argv[n] = va_arg(ap, char *))) {
        n++;
    }
    va_end(ap);
    argv[n] = NULL;
    return th_run(argv, outp, errp);
}

char *
th_ns_sockets(const char *ns)
{
    char *out = NULL, *errs = NULL;
    int rc = th_tool(&out, &errs, "ip", "netns", "exec", ns, "ss", "-tnaH",
                     NULL);

    if (rc) {
        fprintf(stderr, "ss in %s: exit %d: %s\n", ns, rc, errs);
    }
    assert_int_equal(rc, 0);
    free(errs);
    return out;
}

/* Whether address 'a' ("HOST:PORT") of an ss line is within 'prefix';
 * "*" and "0.0.0.0:*" stand for a listener's peer. */
static int
th_addr_within(const char *a, const char *prefix, int peer)
{
    if (peer && (!strcmp(a, "*") || !strcmp(a, "*:*")
                 || !strcmp(a, "0.0.0.0:*"))) {
        return 1;
    }
    return !strncmp(a, prefix, strlen(prefix));
}

int
th_ns_sockets_within(const char *ns, const char *prefix)
{
    char *out = th_ns_sockets(ns), *save = NULL, *line;
    int ok = 1;

    for (line = strtok_r(out, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        char state[32], local[64], peer[64];
        unsigned long rq, sq;

        if (sscanf(line, "%31s %lu %lu %63s %63s", state, &rq, &sq, local,
                   peer) != 5
            || !th_addr_within(local, prefix, 0)
            || !th_addr_within(peer, prefix, 1)) {
            fprintf(stderr, "in %s, not on %s*: %s\n", ns, prefix, line);
            ok = 0;
        }
    }
    free(out);
    return ok;
}

uint64_t
th_ns_inode(const char *ns)
{
    char path[256];
    struct stat st;

    snprintf(path, sizeof path, "/run/netns/%s", ns);
    return stat(path, &st) ? 0 : (uint64_t) st.st_ino;
}

int
th_ns_inode_procs(uint64_t ino)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d))) {
        char path[300];
        struct stat st;

        if (e->d_name[0] < '0' || e->d_name[0] > '9') {
            continue;
        }
        snprintf(path, sizeof path, "/proc/%s/ns/net", e->d_name);
        n += !stat(path, &st) && (uint64_t) st.st_ino == ino;
    }
    closedir(d);
    return n;
}

char *
th_run_on_pty(char *const argv[], int *rcp)
{
    int master = posix_openpt(O_RDWR | O_NOCTTY), status;
    size_t len = 0, cap = 4096;
    char *out = malloc(cap);
    pid_t pid;
    ssize_t n;

    assert_true(master >= 0 && out);
    assert_int_equal(grantpt(master), 0);
    assert_int_equal(unlockpt(master), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int slave = open(ptsname(master), O_RDWR);

        if (slave < 0 || dup2(slave, STDOUT_FILENO) < 0
            || dup2(slave, STDERR_FILENO) < 0) {
            _exit(127);
        }
        close(master);
        execv(argv[0], argv);
        _exit(127);
    }
    /* Read until the child's end closes: EIO on Linux once it exited. */
    for (;;) {
        if (len + 1 >= cap) {
            out = realloc(out, cap *= 2);
            assert_non_null(out);
        }
        n = read(master, out + len, cap - len - 1);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        len += (size_t) n;
    }
    out[len] = '\0';
    close(master);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    *rcp = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
    return out;
}

void
th_guest_read(const char *dir, const char *host, const char *vm,
              struct th_guest *g)
{
    char path[PATH_MAX], line[512];
    FILE *f;

    memset(g, 0, sizeof *g);
    snprintf(path, sizeof path, "%s/%s-state/%s.console", dir, host, vm);
    f = fopen(path, "r");
    while (f && fgets(line, sizeof line, f)) {
        struct th_guest c = { .valid = 1 };

        if (sscanf(line, "FXG sent=%llu recv=%llu lost=%llu dup=%llu "
                   "reord=%llu gap_ms=%llu", &c.sent, &c.recv, &c.lost,
                   &c.dup, &c.reord, &c.gap_ms) == 6) {
            *g = c;
        }
    }
    if (f) {
        fclose(f);
    }
}

struct th_guest_wait {
    const char *dir, *host, *vm;
    unsigned long long over;
};

static int
th_guest_received(void *arg)
{
    struct th_guest_wait *w = arg;
    struct th_guest g;

    th_guest_read(w->dir, w->host, w->vm, &g);
    return g.valid && g.recv > w->over;
}

int
th_guest_wait_recv(const char *dir, const char *host, const char *vm,
                   unsigned long long over, uint32_t timeout_ms)
{
    struct th_guest_wait w = { dir, host, vm, over };

    return th_wait(th_guest_received, &w, timeout_ms);
}
