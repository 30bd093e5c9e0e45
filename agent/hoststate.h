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
 *   DIR/passthrough  one line per PCI device enabled for passthrough:
 *                 "ADDRESS pending-reboot" or "ADDRESS active" (pci.h).
 *
 * All are rewritten whole and renamed into place after every change of a
 * domain, vNIC or passthrough device, so a kill -9 leaves the old or the
 * new file, never half of one.  At start the domains are the truth for
 * which vNIC each NIC holds (the XML names it); the vnics file only adds
 * the bind settings. */
#ifndef HOSTSTATE_H
#define HOSTSTATE_H

#include <stddef.h>

struct fx_err;
struct hv;
struct pci_host;
struct vic;

#define HOSTSTATE_NODE_FILE "node.xml"
#define HOSTSTATE_VNICS_FILE "vnics"
#define HOSTSTATE_PASSTHROUGH_FILE "passthrough"

/* Creates 'dir' if needed and stores in 'uri' (of 'size') the libvirt URI
 * to open: test:///DIR/node.xml if 'cfg_uri' is a test:/// URI and the
 * node file exists; otherwise 'cfg_uri' (a fresh host starts as that
 * driver has it).  Stores in '*node' whether the agent keeps a node
 * file. */
int hoststate_uri(const char *dir, const char *cfg_uri, char *uri,
                  size_t size, int *node, struct fx_err *err);

/* Puts the devices of 'pci' (all disabled) in the states DIR/passthrough
 * gives them, and rebuilds the adapter 'vic' (all free) from the domains
 * of 'hv': each NIC's vNIC is reserved, and bound if its domain runs,
 * with the settings of DIR/vnics.  Rings start empty: frames in flight at
 * the crash are lost, as on an adapter reset.  Returns 0, or a negative
 * errno with 'err' naming the damaged line of DIR/vnics or
 * DIR/passthrough (a device this host does not have is damage too) or
 * the NIC that cannot have its vNIC back (gone, taken twice): the agent
 * must not run with a domain whose vNIC another VM could be given, nor
 * forget a device enabled for passthrough.  All are borrowed. */
int hoststate_restore(const char *dir, struct hv *hv, struct vic *vic,
                      struct pci_host *pci, struct fx_err *err);

/* Rewrites DIR/node.xml (if 'node' is non-zero), DIR/vnics and
 * DIR/passthrough. */
int hoststate_save(const char *dir, int node, struct hv *hv,
                   const struct vic *vic, const struct pci_host *pci,
                   struct fx_err *err);

#endif
