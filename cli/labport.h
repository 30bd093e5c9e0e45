/* labport: the loopback ports a lab chooses, once, for its daemons.
 *
 * A loopback lab's daemons listen on ports `lab up` chooses before it
 * starts any of them, and keeps in lab.json for good.  Two things could
 * take such a port before its daemon binds it, and with hundreds of
 * daemons both happen:
 *
 * - the local end of a connection: every agent that starts connects to
 *   fabricd twice (control, uplink), and the kernel gives each
 *   connection a port of its ephemeral range
 *   (net.ipv4.ip_local_port_range).  So a port is chosen outside that
 *   range, which connections never take;
 * - another port of the same lab: each port is chosen once in a lab.
 *
 * A port is chosen at random among those left, and only if it can be
 * bound now.  Another program may still bind it before the daemon does;
 * the daemon then exits saying so, and `lab up` fails with that line. */
#ifndef LABPORT_H
#define LABPORT_H

#include <stddef.h>
#include <stdint.h>

struct fx_err;
struct labport;

/* A new chooser for one lab's ports, from the ports below the ephemeral
 * range (down to 10240), or above it if that leaves too few.  The caller
 * frees it with labport_destroy(). */
struct labport *labport_create(void);
void labport_destroy(struct labport *);

/* Chooses a port free on loopback now and not yet the lab's, and writes
 * "127.0.0.1:PORT" into 'buf' of 'size' bytes.  -EADDRNOTAVAIL with 'err'
 * filled if none is found. */
int labport_pick(struct labport *, char *buf, size_t size,
                 struct fx_err *err);

#endif
