/* labnet: the network of a netns lab (`fexctl lab up --netns`), made and
 * changed with iproute2 (ip, tc), each call a process whose exit status
 * is checked and whose stderr goes into the error.
 *
 * Every daemon lives in a network namespace of its own, named after the
 * lab's id: fabricd in "fexsim-ID-fabric", host hN's agent in
 * "fexsim-ID-hN".  In fabricd's namespace a bridge, LABNET_BRIDGE, holds
 * the fabric's address; each host's namespace has one veth,
 * LABNET_HOST_IF, whose other end ("vhN") is a port of that bridge.  So
 * each address exists only inside the lab's namespaces, nothing of a lab
 * is in the machine's own namespace, and deleting the namespaces deletes
 * every link and address with them.  Two labs use the same addresses and
 * ports without meeting: each has its own namespaces.
 *
 * The addresses come from 198.18.0.0/15, the block RFC 2544 (and RFC 5735)
 * sets aside for benchmarking network devices: it is not routed on the
 * Internet and no site uses it for its own hosts, so a lab's addresses
 * cannot shadow the machine's networks even while one debugs from inside
 * a namespace.  A lab takes 198.18.0.0/21 of it: fabricd 198.18.0.1, its
 * Nth host the (10+N)th address, 198.18.0.(10+N) up to the 245th host,
 * then 198.18.1.0 and on (a lab recorded with /24 keeps it). */
#ifndef LABNET_H
#define LABNET_H

#include <stddef.h>
#include <stdint.h>

struct fx_err;
struct labspec;
struct labspec_daemon;
struct labspec_net;

#define LABNET_NS_PREFIX "fexsim-"
#define LABNET_BRIDGE "br0"
/* Hosts a netns lab takes: one Linux bridge holds them all, and a bridge
 * has 1,023 ports (the kernel's BR_MAX_PORTS, port 0 unused). */
#define LABNET_MAX_HOSTS 1023
#define LABNET_HOST_IF "eth0"

/* The ports of a netns lab, the same in every lab (each daemon has its
 * namespace's stack to itself): a firewall between machines would open
 * the same ones (docs/LABS.md). */
#define LABNET_FABRIC_PORT 7800      /* fabricd's RPC. */
#define LABNET_UPLINK_PORT 7801      /* fabricd's data plane uplinks. */
#define LABNET_HTTP_PORT 7802        /* fabricd's GET /metrics. */
#define LABNET_AGENT_PORT 7810       /* Each agent's RPC. */
#define LABNET_MIG_PORTS "7820-7859" /* Each agent's page streams. */

/* Plans daemon 'name' of lab 'id' into 'n': its namespace, interface and
 * address; 'index' is 0 for fabricd, N for the lab's Nth host
 * (1..LABNET_MAX_HOSTS). */
void labnet_plan(const char *id, const char *name, unsigned index,
                 struct labspec_net *n);

/* The address of 'n' without its prefix length, into 'buf'. */
void labnet_addr(const struct labspec_net *n, char *buf, size_t size);

/* The path of iproute2's program 'name' ("ip", "tc") into 'buf'.
 * -ENOENT with 'err' saying to install iproute2 if there is none. */
int labnet_tool(const char *name, char *buf, size_t size,
                struct fx_err *err);

/* Makes whatever of the lab's namespaces, bridge, links and addresses is
 * missing, and leaves what exists.  A host link it makes anew has no
 * fault: its recorded state in 'spec' is reset.  Returns how many host
 * links it made (the caller then saves 'spec'), or a negative errno. */
int labnet_up(struct labspec *spec, struct fx_err *err);

/* Deletes the lab's namespaces (their links and addresses go with
 * them); the lab's processes must have stopped.  A namespace in which a
 * process still runs is left as it is: -EBUSY with 'err' naming it and its
 * pids.  A namespace that does not exist is no error. */
int labnet_down(const struct labspec *spec, struct fx_err *err);

/* Sets the link of agent 'd' down or up, both ends; records it in 'd'. */
int labnet_link_set(const struct labspec *spec, struct labspec_daemon *d,
                    int up, struct fx_err *err);

/* Makes the link of agent 'd' add 'delay_ms' and drop 'loss_pct' percent
 * of the frames, each way (both 0: a clean link again); records it in
 * 'd'.  With tc's netem qdisc; on a kernel without netem, loss alone is
 * done by a random-drop filter (classic BPF on a clsact qdisc) and a
 * delay is refused (-EOPNOTSUPP with 'err' saying so). */
int labnet_link_shape(const struct labspec *spec, struct labspec_daemon *d,
                      uint32_t delay_ms, double loss_pct,
                      struct fx_err *err);

/* What `lab clean` did with one lab id: the namespaces it removed, or
 * why it left them ('kept' borrowed, NULL if removed). */
typedef void labnet_clean_fn(void *arg, const char *id, size_t n_ns,
                             const char *kept);

/* Removes what crashed labs left: every namespace named "fexsim-ID-NAME"
 * (ID 8 hex digits; 'only_id' not NULL: that lab alone) whose lab holds
 * no lock (lablock.h: none of its fexctl commands runs) and in none of
 * whose namespaces a process runs.  A lab with a process or a lock is
 * left whole.  Calls 'fn' once per lab id found.  Returns 0, or a
 * negative errno with 'err' filled if a removal failed. */
int labnet_clean(const char *only_id, labnet_clean_fn *fn, void *arg,
                 struct fx_err *err);

#endif
