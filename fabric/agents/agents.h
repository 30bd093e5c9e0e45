/* agents: the one way fabricd calls an agent.
 *
 * A call names the host, not a connection: the client finds the host in
 * the model, refuses at once when it is unknown or down, sends over the
 * agent's own control connection (the one it registered on) with a
 * timeout, and hands the outcome back as an errno and a message, the
 * agent's own words when it answered with an error.  It also writes the
 * one message every caller sends an agent about a VM: the domain's
 * definition (AgentVm) from the model's record. */
#ifndef AGENTS_H
#define AGENTS_H

#include <stdbool.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "model/model.h"
#include "vmfex.pb-c.h"

struct agents;
struct fx_err;

/* How long an agent has to answer, unless the call says otherwise. */
#define AGENTS_TIMEOUT_MS 10000u
/* For a call whose end the agent decides (a migration's Perform: the
 * engine has its own timeout, and a lost agent closes its connection,
 * which answers the call). */
#define AGENTS_NO_TIMEOUT 0u

/* The outcome of a call: 'rc' 0 and the reply 'rep' (borrowed, freed
 * after the callback), or a negative errno with 'err' saying why
 * (-EHOSTDOWN, -ENOTCONN: the agent is gone; -ETIMEDOUT; -ECANCELED:
 * fabricd is shutting down; or the agent's own error) and 'rep' NULL. */
typedef void agents_reply_fn(void *arg, int rc, const struct fx_err *err,
                             const ProtobufCMessage *rep);

/* Creates the client over 'model' (borrowed, must outlive it). */
struct agents *agents_create(const struct model *model);
/* Frees the client.  Calls still out are answered when their connections
 * close (fabricd's teardown).  NULL is a no-op. */
void agents_destroy(struct agents *);

/* Sends 'method' with 'req' (borrowed, packed before return) to the agent
 * of host 'host'; the reply decodes as 'rep_desc'.  Returns 0: 'fn' will
 * be called once with 'arg', later, from the loop.  Or a negative errno
 * with 'err' (-ENOENT: unknown host, -EHOSTDOWN: host down): nothing was
 * sent and 'fn' is never called. */
int agents_call(struct agents *, const char *host, const char *method,
                const ProtobufCMessage *req,
                const ProtobufCMessageDescriptor *rep_desc,
                uint32_t timeout_ms, agents_reply_fn *fn, void *arg,
                struct fx_err *err);

/* Whether the agent of 'host' is registered and connected. */
bool agents_up(const struct agents *, const char *host);

/* True when 'rc' (an agents_reply_fn's) says the agent's connection is
 * gone, so that what it did is unknown until it registers again. */
bool agents_lost(int rc);

/* A VM's definition for its agent, with the storage it points into.
 * Strings are borrowed from the model: send it before changing the VM. */
struct agents_vm {
    Fexsim__V1__AgentVm vm;
    Fexsim__V1__AgentNic nics[VM_MAX_NICS];
    Fexsim__V1__AgentNic *ptrs[VM_MAX_NICS];
    char macs[VM_MAX_NICS][18];
};

/* Fills 'a' with 'vm' as the model has it, without NIC 'skip_vif' (0:
 * none) and without the NICs that have no VIF; each NIC carries the vNIC
 * its VIF holds if 'with_vnics' (a restart on the same host).  The
 * reservation is what the VM will have with those NICs. */
void agents_vm_init(struct agents_vm *a, const struct model *model,
                    const struct vm *vm, uint32_t skip_vif, bool with_vnics);

#endif
