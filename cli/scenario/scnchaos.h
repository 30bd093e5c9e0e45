/* scnchaos: seeded storms of migrations, VM operations and faults at
 * migration phases, written as scenario text (scn.h's format), and their
 * shrinking to a minimal failing scenario.
 *
 * A storm is a list of blocks, each one or a few lines that belong
 * together (arm a crash at a phase, migrate, restart the daemon, wait for
 * the migration to end).  Every command in it is a `try`: a refusal is a
 * legitimate answer in a storm; what must not happen is an invariant
 * violated.  The same seed and sizes always give the same text. */
#ifndef SCNCHAOS_H
#define SCNCHAOS_H

#include <stddef.h>
#include <stdint.h>

struct fx_err;

struct scnchaos_params {
    uint64_t seed;
    unsigned hosts;              /* 2-16 */
    unsigned vms;                /* 1-32 */
    unsigned steps;              /* Blocks of the storm after the setup. */
    const char *arm;             /* "DAEMON:SPEC" armed first, or NULL. */
};

/* A storm's blocks: text lines grouped, owned. */
struct scnchaos_storm {
    char *header;                /* name and lab lines. */
    char **blocks;
    size_t n_blocks;
};

/* Generates the storm of 'p' into 's' (free with scnchaos_storm_free()). */
int scnchaos_generate(const struct scnchaos_params *p,
                      struct scnchaos_storm *s, struct fx_err *err);

/* The scenario text of 's' keeping only the blocks whose 'keep' is set
 * (NULL: all); the caller frees it. */
char *scnchaos_text(const struct scnchaos_storm *s, const unsigned char *keep);

void scnchaos_storm_free(struct scnchaos_storm *s);

/* Whether the text fails in the way being shrunk: 'fn' runs it. */
typedef int (*scnchaos_fails_fn)(void *arg, const char *text);

/* Removes blocks of 's' while 'fails' still holds (chunks of halving
 * size, then single blocks), so that 'keep' ends with a minimal set: no
 * single block can go.  Returns how many runs it took. */
unsigned scnchaos_shrink(const struct scnchaos_storm *s, unsigned char *keep,
                         scnchaos_fails_fn fails, void *arg);

#endif
