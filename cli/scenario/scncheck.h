/* scncheck: evaluates a check of a scenario (scn.h) against its lab: a
 * field of a listing, a count of rows, a daemon alive or dead, the order
 * of events.  Each evaluation reads the lab afresh through fexctl, so
 * that a wait can repeat it until it holds. */
#ifndef SCNCHECK_H
#define SCNCHECK_H

#include <stddef.h>

struct json_object;
struct scn_check;
struct scn_ref;
struct scnexec;

/* Evaluates 'c' now.  Returns 1 if it holds, 0 if not; either way 'seen'
 * says what was seen ("'perform'", "no row matches", the error of a
 * listing that could not be read). */
int scncheck_eval(const struct scnexec *x, const struct scn_check *c,
                  char *seen, size_t size);

/* The JSON document of listing 'name' (scn.h), or NULL with 'why'
 * (caller puts the document).  '*rowsp' is its array of rows (borrowed
 * from the document). */
struct json_object *scncheck_listing(const struct scnexec *x,
                                     const char *name,
                                     struct json_object **rowsp, char *why,
                                     size_t size);

#endif
