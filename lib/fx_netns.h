/* fx_netns: stepping into a named network namespace (iproute2's
 * /run/netns/NAME) for as long as it takes to open a socket there.
 *
 * A socket belongs to the namespace it was created in, whatever its
 * process does later: fexctl enters a lab's fabric namespace, connects to
 * fabricd, and comes back at once, so that everything else it does (the
 * files, the tools it runs) happens where it was started.  setns(2)
 * needs CAP_SYS_ADMIN: as root, in practice. */
#ifndef FX_NETNS_H
#define FX_NETNS_H

#include <stdbool.h>

struct fx_err;

/* Where iproute2 keeps the names of network namespaces. */
#define FX_NETNS_DIR "/run/netns"

/* Whether a namespace named 'name' exists (FX_NETNS_DIR/'name'). */
bool fx_netns_exists(const char *name);

/* Moves the calling thread into namespace 'name' and stores in '*backp' a
 * descriptor of the one it was in, which fx_netns_leave() takes back.
 * Returns 0, or a negative errno with 'err' filled (-EPERM: not root). */
int fx_netns_enter(const char *name, int *backp, struct fx_err *err);

/* Returns to the namespace 'back' (from fx_netns_enter()) and closes it.
 * Returns 0 or a negative errno with 'err' filled. */
int fx_netns_leave(int back, struct fx_err *err);

#endif
