/* hostvms: the agent's HostVms service: VMs as libvirt domains whose NICs
 * are the VIC's dynamic vNICs, host memory admission, and the host's
 * passthrough configuration.  fabricd keeps the policy (which operation is
 * allowed); this module does the host's part and refuses what the host
 * itself cannot do (no free vNIC, device not passthrough-active, memory). */
#ifndef HOSTVMS_H
#define HOSTVMS_H

#include <stddef.h>
#include <stdint.h>

struct fx_err;
struct hv;
struct pci_host;
struct rpc_registry;
struct vic;

struct hostvms;

/* Creates the service over 'hv', 'vic' and 'pci' (all borrowed, must
 * outlive it) on a host of 'memory_mib'.  Its libvirt calls run in
 * worker 'q' (borrowed), never on the loop: a request that makes one is
 * answered later (RPC_DEFERRED), and the requests are served one after
 * the other, in the order they came.  'q' must be destroyed before the
 * service: its cancelled jobs answer the requests under way (-ECANCELED).
 * Free with hostvms_destroy(), which answers so any request left. */
struct hvq;
struct hostvms *hostvms_create(struct hv *hv, struct vic *vic,
                               struct pci_host *pci, struct hvq *q,
                               uint64_t memory_mib);
void hostvms_destroy(struct hostvms *);

/* Makes every VM defined from now on a real QEMU guest: booted from
 * 'boot' (copied), its serial port appended to CONSOLE_DIR/NAME.console
 * ('console_dir' copied), each NIC on a socket of 'gn' (borrowed, must
 * outlive 'h'); with 'failover', each DirectPath NIC a virtio-net
 * failover pair (domxml.h), its standby on a second socket of 'gn'. */
struct domxml_boot;
struct guestnic;
void hostvms_set_guest(struct hostvms *, const struct domxml_boot *boot,
                       int failover,
                       const char *console_dir, struct guestnic *gn);

/* Where VM 'vm''s serial console goes on this host (a real guest's:
 * guestview.h reads its counters there), into 'buf'.  Returns 0, or
 * -ENOENT when VMs here are not QEMU guests. */
int hostvms_console(const struct hostvms *, const char *vm, char *buf,
                    size_t size);

/* Calls 'fn' with 'arg' after every change of a domain, vNIC or
 * passthrough device, before the reply leaves (agentd saves its state dir
 * there).  'fn' returns 0, or a negative errno with 'err' filled: the
 * request then fails with it, so that no caller takes for durable a
 * change that is not (a domain's change itself stays in libvirt; a
 * passthrough change is undone). */
typedef int hostvms_change_fn(void *arg, struct fx_err *err);
void hostvms_on_change(struct hostvms *, hostvms_change_fn *fn, void *arg);
/* Runs the on_change hook, for domains changed outside HostVms (a
 * migration's guest resumed here).  Returns its result: 0 or a negative
 * errno with 'err' filled. */
int hostvms_changed(struct hostvms *, struct fx_err *err);

/* Calls 'fn' with 'arg' when domain 'vm' starts (running 1) or stops
 * (running 0) through HostVms, and from hostvms_replay_running(): the
 * migration agent keeps each running guest's RAM.  'rate' tells the
 * running guest's dirty rate, which replies report. */
struct domxml_vm;
typedef void hostvms_run_fn(void *arg, const struct domxml_vm *vm,
                            int running);
typedef uint64_t hostvms_rate_fn(void *arg, const char *vm);
void hostvms_on_run(struct hostvms *, hostvms_run_fn *fn,
                    hostvms_rate_fn *rate, void *arg);
/* Calls the on_run hook for every domain running now (an agent restarted
 * from its state dir).  Returns 0 or an error from the hypervisor.  At
 * start-up, on the caller's thread (libvirt's calls too). */
int hostvms_replay_running(struct hostvms *, struct fx_err *err);

/* Registers service HostVms on 'reg'. */
int hostvms_register(struct hostvms *, struct rpc_registry *reg,
                     struct fx_err *err);

/* Host memory admission: may a VM reserving 'want_mib' start on a host of
 * 'host_mib' where running VMs reserve 'reserved_mib'?  0, or -ENOMEM
 * with the figures. */
int hostvms_admit_memory(uint64_t host_mib, uint64_t reserved_mib,
                         uint64_t want_mib, const char *vm,
                         struct fx_err *err);

/* May defined domain 'vm' (not running) start here, as a migration's
 * destination must check at Prepare?  0, or -ENOMEM / -ENOENT with the
 * reason.  Reads libvirt and computes only: migagent calls it from the
 * hypervisor worker (hvq.h). */
int hostvms_check_admit(struct hostvms *, const char *vm,
                        struct fx_err *err);

#endif
