/* args: commands of the form "fexctl GROUP CMD NAME [OPTIONS]".  The
 * option parser stops at the first word that is not an option, so the
 * name is taken first and the options after it parsed as usual. */
#ifndef ARGS_H
#define ARGS_H

#include <stddef.h>
#include <stdint.h>

#include "cli.h"

/* Takes NAME (argv[1], required, not an option) into '*namep' (borrowed
 * from argv), then parses the options after it like cli_parse(), and
 * refuses extra words.  'what' names NAME in the usage error.  Returns 0,
 * 1 if --help was printed, or CLI_USAGE. */
int args_parse_named(struct cli *, const struct cli_cmd *, int argc,
                     char **argv, const char *what, const char **namep,
                     const struct option *spec, cli_opt_fn fn, void *arg);

/* Prints the reply's error or returns CLI_OK: the tail of every command
 * that only reports success. */
int args_done(int rc, const struct fx_err *err);

/* Parses "ID[,ID...]" (each 1-4094, no repeats, at most 'max') into
 * 'vlans' and '*np'.  -EINVAL with a message naming the bad id. */
int args_parse_vlans(const char *s, uint32_t *vlans, size_t max,
                     size_t *np, struct fx_err *err);

#endif
