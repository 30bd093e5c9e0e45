/* feed: what the fuzz targets share to hand their input to code that
 * reads a socket, as a peer would send it.
 *
 * The reader lives on a libevent loop; feed_stream() writes the bytes in
 * pieces and steps that loop without blocking between them (no sleeps, no
 * threads), reading back and dropping whatever the reader answers, then
 * says EOF and steps on until the reader has closed its end. */
#ifndef FEED_H
#define FEED_H

#include <stddef.h>
#include <stdint.h>

struct auth;
struct auth_key;
struct event_base;

/* Bytes written at a time, so that a reader meets records cut anywhere,
 * as TCP may deliver them. */
#define FEED_CHUNK 1024u
/* Steps with nothing from the reader after which it is taken to wait for
 * more input. */
#define FEED_QUIET 2u
/* Loop steps of one input after which the reader is hung. */
#define FEED_MAX_STEPS 100000u

/* Does what the daemons' main() does before serving: a write to a peer
 * that is gone must be an error, not a SIGPIPE.  Call it once, from
 * LLVMFuzzerInitialize(). */
void feed_init(void);

/* Returns a TCP socket connected to 127.0.0.1:'port', whose listener
 * runs on 'base', once the listener has accepted it; or aborts: a fuzz
 * run without loopback is broken, not a finding.  The accepted end is
 * made to close with a reset: the stream ends with our FIN, so the side
 * that closes last would otherwise leave a TIME_WAIT behind for each of
 * the millions of inputs, and the ephemeral ports would run out. */
int feed_connect(struct event_base *base, uint16_t port);

/* Returns a non-blocking socket listening on 127.0.0.1, for code that
 * connects out (a migration source), and stores its port in '*portp'. */
int feed_listen(uint16_t *portp);
/* Steps 'base' until code on it has connected to 'lfd' (feed_listen())
 * and returns the accepted socket (the caller closes it with
 * feed_close()); the code's end, too, is made to close with a reset. */
int feed_accept(struct event_base *base, int lfd);

/* Writes 'size' bytes of 'data' (borrowed) into 'fd' (not owned),
 * 'chunk' bytes at a time, and after each steps 'base' until the reader
 * is quiet (it has answered what it had to and waits); then shuts down
 * the writing side and steps 'base' until 'done(arg)' returns non-zero
 * or, if 'done' is NULL, until the reader has closed.  A reader that
 * closes ends the writing early.  Aborts after FEED_MAX_STEPS steps: a
 * reader that is never quiet, or never gives up on a stream at EOF, is a
 * hang worth reporting. */
void feed_stream(struct event_base *base, int fd, const uint8_t *data,
                 size_t size, size_t chunk, int (*done)(void *arg),
                 void *arg);

/* Closes 'fd' with a reset, for the same reason. */
void feed_close(int fd);

/* Runs the lab secret's handshake 'a' (borrowed: the harness's own end,
 * auth_client_new() or auth_server_new()) over 'fd' against the reader on
 * 'base', stepping 'base' between messages, until 'a' has proven the
 * reader; what the reader sends after the handshake is read and dropped
 * with it.  Aborts if the handshake fails or does not end within
 * FEED_MAX_STEPS steps: the harness and the real code agree on it, or the
 * target is broken, not the input.  So that a target gets past the
 * handshake to what follows it, as a peer holding the secret does. */
void feed_handshake(struct event_base *base, int fd, struct auth *a);

/* The lab secret of the fuzz targets and of their seeds (seeds.c): the
 * same every run, so that a seed's handshake carries the fingerprint the
 * target's server end expects.  Fills '*key' or aborts. */
void feed_key(struct auth_key *key);

#endif
