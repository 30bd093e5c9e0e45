/* scninv: the invariants a scenario's lab must keep after every step,
 * whatever the step did:
 *   - a VM runs exactly once: listed once, and a running VM on one host
 *     that the fabric lists;
 *   - no VIF lost: each NIC of a VM is a VIF of the table with the same
 *     id, MAC and VM, on the VM's host while it runs; every VIF of a VM
 *     names one that exists; a VIF seen before stays while its VM does,
 *     unless the step removed NICs or the VM;
 *   - no vNIC leaked: on each host that is up, the vNICs in use are
 *     exactly its VIFs (a domain left defined anywhere holds more).
 * They are judged only in a settled lab: fabricd answers and no migration
 * is in flight (a migration holds vNICs on both ends by design). */
#ifndef SCNINV_H
#define SCNINV_H

#include <stddef.h>

struct json_object;
struct scn_step;
struct scnexec;

/* What the invariants remember between steps: the VIFs seen. */
struct scninv {
    struct json_object *vifs;    /* Owned: the last settled VIF table. */
};

enum { SCNINV_OK, SCNINV_VIOLATED, SCNINV_UNSETTLED };

/* Checks the invariants after 'step' (NULL: at the end).  Returns
 * SCNINV_OK, SCNINV_VIOLATED with 'why', or SCNINV_UNSETTLED with 'why'
 * (not judged now). */
int scninv_check(struct scninv *inv, const struct scnexec *x,
                 const struct scn_step *step, char *why, size_t size);

/* Frees what 'inv' remembers. */
void scninv_uninit(struct scninv *inv);

#endif
