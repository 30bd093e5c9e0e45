/* lablock: the lock of a netns lab, so that `lab clean` never takes a
 * lab's namespaces while a fexctl of that lab is making or changing them.
 *
 * `lab up`, `lab restart`, `lab link` and `lab down` of a netns lab hold
 * LABLOCK_DIR/ID.lock (flock, exclusive) while they work; `lab clean`
 * takes it without waiting and leaves alone a lab whose lock is held.
 * The file is removed by whoever ends the lab (`lab down`, `lab clean`)
 * while holding it; a taker that finds its file removed under it takes the
 * new one, so removing never lets two holders in. */
#ifndef LABLOCK_H
#define LABLOCK_H

#include <stdbool.h>

struct fx_err;

#define LABLOCK_DIR "/run/fexsim"

/* Takes the lock of lab 'id', waiting for it if 'wait', else failing at
 * once with -EWOULDBLOCK (no message) while another holds it.  Returns
 * the descriptor that holds it (>= 0), or a negative errno with 'err'
 * filled. */
int lablock_take(const char *id, bool wait, struct fx_err *err);

/* Releases the lock 'fd' of lab 'id'; with 'remove', removes its file
 * first (the lab is gone).  'fd' < 0 is a no-op. */
void lablock_release(const char *id, int fd, bool remove);

#endif
