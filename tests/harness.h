/* harness: what the integration tests share: temp dirs, running the
 * programs under test, and waiting on a condition with a deadline (never a
 * bare sleep). */
#ifndef HARNESS_H
#define HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct json_object;

/* Makes a fresh directory under $TMPDIR (or /tmp); the caller frees the
 * returned path and removes the tree with th_rmrf(). */
char *th_mkdtemp(const char *tag);
void th_rmrf(const char *path);

/* Writes "$FEXSIM_BIN/prog" into 'buf' (FEXSIM_BIN defaults to build). */
const char *th_bin(char *buf, size_t size, const char *prog);

/* Runs 'argv' (argv[0] a path) to completion.  Stores its stdout and
 * stderr, NUL-terminated, in '*outp' and '*errp' when not NULL (the caller
 * frees them).  Returns the exit status, or 128+signal. */
int th_run(char *const argv[], char **outp, char **errp);

/* Runs "fexctl ARGS..." (NULL-terminated) the same way. */
int th_fexctl(char **outp, char **errp, ...);
/* Runs 'argv' (argv[0] the path) with its stdout and stderr on a pseudo
 * terminal, as at a terminal, and returns what it wrote there (the
 * caller frees it) with its exit status in '*rcp'. */
char *th_run_on_pty(char *const argv[], int *rcp);

/* Polls 'cond(arg)' every few milliseconds until it returns non-zero or
 * 'timeout_ms' pass.  Returns 1 if it became true, 0 on timeout. */
int th_wait(int (*cond)(void *arg), void *arg, uint32_t timeout_ms);

/* Reads a pid file; returns the pid or -1. */
pid_t th_read_pid(const char *dir, const char *file);



/* ---- Labs ---- */

/* Runs "fexctl lab up --hosts N --dir DIR" plus the NULL-terminated
 * extra arguments; returns fexctl's exit status. */
int th_lab_up(const char *dir, int hosts, ...);
/* Runs "fexctl lab down --dir DIR"; returns its exit status. */
/* Gives the VIC of hosts hFIRST..hLAST of the lab in 'dir' passthrough
 * (device 0000:0b:00.0 enabled, then the host rebooted, as the seed
 * requires).  Returns 0, or the failing fexctl's exit status. */
int th_lab_passthrough(const char *dir, int first, int last);
int th_lab_down(const char *dir);
/* The lab's fabricd address, from DIR/fabric.addr, into 'buf' of 'size'
 * bytes.  Fails the test if there is none. */
void th_fabric_addr(const char *dir, char *buf, size_t size);
/* Whether hosts h1..h'n' of the lab in 'dir' are all up now. */
int th_hosts_up(const char *dir, int n);
/* Waits until hosts h1..h'n' of the lab in 'dir' are up.  Returns 1, or
 * 0 after 'timeout_ms'. */
int th_wait_hosts_up(const char *dir, int n, uint32_t timeout_ms);

/* Runs "fexctl --lab DIR --json ARGS..." (NULL-terminated) and parses
 * its stdout.  Returns the document (free with json_object_put()) or NULL
 * if the command failed or printed no JSON. */
struct json_object *th_fexctl_json(const char *dir, ...);

/* The state ("up", "down") of host 'name' in the lab in 'dir', written into
 * 'buf'; "" if unknown.  Also copies the down reason into 'reason' if not
 * NULL. */
const char *th_host_state(const char *dir, const char *name, char *buf,
                          size_t size, char *reason, size_t rsize);

/* Scans every *.log in 'dir' for sanitizer reports (AddressSanitizer,
 * LeakSanitizer, UBSan "runtime error").  Prints the offending lines and
 * returns 0 if there is one, 1 if the logs are clean: daemons started by
 * a test report there, not to the test's own stderr. */
int th_logs_clean(const char *dir);

/* ---- Talking to a lab's daemons directly ---- */

struct auth_key;
struct rpc_opts;

/* Fills 'opts' to connect to a daemon of the lab in 'dir' as 'role'
 * (enum auth_role), proving the lab's secret DIR/secret, loaded into
 * 'key' (which must outlive the connection).  Fails the test if the
 * secret cannot be read. */
void th_lab_opts(const char *dir, int role, struct auth_key *key,
                 struct rpc_opts *opts);

/* Connects a plain socket to 'addr' and runs the lab secret's handshake
 * on it by hand as 'me' (struct auth_ident) with 'key' (NULL: no secret),
 * so that a test can then write whatever bytes it likes.  Reads time out
 * after 5 s.  Returns the socket, or -1 with 'why' (200 bytes) saying why
 * the handshake failed. */
struct auth_ident;
int th_proven_socket(const char *addr, const struct auth_key *key,
                     const struct auth_ident *me, char *why);
/* The same handshake on connected socket 'fd' with the server end running
 * on 'base' in this thread: steps the loop while waiting for its answers.
 * Returns 1 once proven, or a negative errno (refused, closed, or no
 * answer in 20 s) with 'why' (200 bytes) saying why. */
struct event_base;
int th_handshake_on_loop(struct event_base *base, int fd,
                         const struct auth_key *key,
                         const struct auth_ident *me, char *why);
/* A socket connected to 'addr' and proven so (as above). */
int th_proven_on_loop(struct event_base *base, const char *addr,
                      const struct auth_key *key,
                      const struct auth_ident *me);

/* Reads exactly 'len' bytes from 'fd' into 'buf'.  0, or -1 if the peer
 * closed (or the read timed out) first. */
int th_recv_all(int fd, void *buf, size_t len);

/* ---- A lab's daemons, stopped and started again ---- */

/* A daemon of a lab: its pid file in the lab dir and the command line it
 * runs with, read from /proc while it runs. */
struct th_daemon {
    char pidfile[64];
    char buf[4096];
    char *argv[40];
    size_t argc;
};

/* Fills 'd' with the command line of the daemon whose pid is in
 * DIR/'pidfile' (it must run).  Fails the test otherwise. */
void th_daemon_read(const char *dir, const char *pidfile,
                    struct th_daemon *d);
/* SIGKILLs it and waits until it is gone (a zombie counts as gone). */
void th_daemon_kill9(const char *dir, const struct th_daemon *d);
/* Starts it again with the same command line, plus "--fault SPEC" if
 * 'spec' is not NULL, logging to DIR/NAME.log and writing its pid file.
 * fabricd listens on the address in DIR/fabric.addr (lab up gave it port
 * 0, which would pick another). */
void th_daemon_respawn(const char *dir, const struct th_daemon *d,
                       const char *spec);

/* ---- JSON output of fexctl ---- */

/* Removes every member "'key'":NUMBER from the compact JSON text 'json',
 * in place: for comparing listings across time without the fields that
 * count time down (a VIF's expires_in_s).  Returns 'json'. */
char *th_json_drop(char *json, const char *key);

/* Member 'key' of 'o' as an integer (-1 if absent), a string ("" if
 * absent) or an object/array (NULL if absent); borrowed from 'o'. */
int64_t th_jint(struct json_object *o, const char *key);
const char *th_jstr(struct json_object *o, const char *key);
struct json_object *th_jarr(struct json_object *o, const char *key);

/* Runs "fexctl --lab DIR ARGS..." (NULL-terminated) and fails the test,
 * naming source line 'line', unless it exits 'want_rc' and its stdout or
 * stderr holds 'want' (NULL: anything).  Tests wrap it in a macro:
 * #define FX(rc, want, ...) th_fexctl_check(dir, __LINE__, rc, want, ...) */
void th_fexctl_check(const char *dir, int line, int want_rc,
                     const char *want, ...);

/* ---- Network namespaces (netns labs, hosts standing in for machines) ---- */

/* Runs iproute2's 'tool' ("ip", "tc", "ss"; from /usr/sbin, /sbin,
 * /usr/bin or /bin) with the NULL-terminated arguments.  Stores its stdout
 * in '*outp' and stderr in '*errp' when not NULL (the caller frees them).
 * Returns its exit status. */
int th_tool(char **outp, char **errp, const char *tool, ...);

/* Every TCP socket in namespace 'ns', listeners too, as `ss -tnaH` prints
 * them, one a line (the caller frees it).  Fails the test if ss fails. */
char *th_ns_sockets(const char *ns);

/* Whether every TCP socket in namespace 'ns' is on an address starting
 * with 'prefix' ("198.18."), at both ends (a listener's peer "*" aside):
 * none on loopback nor any address.  Prints the ones that are not. */
int th_ns_sockets_within(const char *ns, const char *prefix);

/* The inode of network namespace 'ns' (/run/netns/'ns'), 0 if none. */
uint64_t th_ns_inode(const char *ns);
/* How many processes live in the network namespace whose inode is
 * 'ino' (what remains of a namespace once its name is gone). */
int th_ns_inode_procs(uint64_t ino);

/* A QEMU guest's own counters (guest/fexguest.c), from the last
 * "FXG sent=..." line on its console DIR/HOST-state/VM.console (appended
 * by each host the guest ran on); 'valid' 0 if none yet. */
struct th_guest {
    unsigned long long sent, recv, lost, dup, reord, gap_ms;
    int valid;
};
void th_guest_read(const char *dir, const char *host, const char *vm,
                   struct th_guest *g);
/* Waits up to 'timeout_ms' until that guest has received more than
 * 'over' frames; returns 1, or 0 when it has not. */
int th_guest_wait_recv(const char *dir, const char *host, const char *vm,
                       unsigned long long over, uint32_t timeout_ms);

#endif
