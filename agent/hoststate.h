/* hoststate: what agentd keeps under '--state DIR' so that a restarted
 * agent finds its host as it left it.
 *
 *   DIR/node.xml  libvirt's test driver node file: every defined domain's
 *                 persistent XML plus its run state (<test:runstate>),
 *                 opened as test:///DIR/node.xml at start.  Only for the
 *                 test driver: a real libvirtd keeps its own definitions.
 *   DIR/vnics     one line per vNIC not free: "INDEX STATE MAC VLAN MTU
 *                 OFFLOADS", for what the domain XML does not say (the
 *                 VLAN the fabric gave at bind, MTU, offloads).
 *
 * Both are rewritten whole and renamed into place after every change of a
 * domain or vNIC, so a kill -9 leaves the old or the new file, never half
 * of one.  At start the domains are the truth for which vNIC each NIC
 * holds (the XML names it); the vnics file only adds the bind settings. */
#ifndef HOSTSTATE_H
#define HOSTSTATE_H

#include <stddef.h>

struct fx_err;
struct hv;
struct vic;

#define HOSTSTATE_NODE_FILE "node.xml"
#define HOSTSTATE_VNICS_FILE "vnics"

/* Creates 'dir' if needed and stores in 'uri' (of 'size') the libvirt URI
 * to open: test:///DIR/node.xml if 'cfg_uri' is a test:/// URI and the
 * node file exists; otherwise 'cfg_uri' (a fresh host starts as that
 * driver has it).  Stores in '*node' whether the agent keeps a node
 * file. */
int hoststate_uri(const char *dir, const char *cfg_uri, char *uri,
                  size_t size, int *node, struct fx_err *err);

/* Rebuilds the adapter 'vic' (all free) from the domains of 'hv': each
 * NIC's vNIC is reserved, and bound if its domain runs, with the settings
 * of DIR/vnics.  Rings start empty: frames in flight at the crash are
 * lost, as on an adapter reset.  Returns 0, or a negative errno with
 * 'err' naming the damaged line of DIR/vnics or the NIC that cannot have
 * its vNIC back (gone, taken twice): the agent must not run with a
 * domain whose vNIC another VM could be given. */
int hoststate_restore(const char *dir, struct hv *hv, struct vic *vic,
                      struct fx_err *err);

/* Rewrites DIR/node.xml (if 'node' is non-zero) and DIR/vnics. */
int hoststate_save(const char *dir, int node, struct hv *hv,
                   const struct vic *vic, struct fx_err *err);

#endif
