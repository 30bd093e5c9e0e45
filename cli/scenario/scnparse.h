/* scnparse: a scenario file's text into a struct scn (scn.h).
 *
 * Line by line: each line is one header line (name, lab, set), one step
 * (a fexctl command, expect, wait, fault), or nothing; '#' starts a
 * comment.  Variables (`set NAME = VALUE`, then ${NAME}) are expanded as
 * the line is read.  The grammar is docs/SCENARIOS.md's.  An error names
 * FILE:LINE:COLUMN, what was expected there and what was found. */
#ifndef SCNPARSE_H
#define SCNPARSE_H

struct fx_err;
struct scn;

/* Parses 'text', the contents of 'file' (copied, for messages and the
 * default name), into '*scnp', which the caller frees with scn_destroy().
 * -EINVAL with 'err' "FILE:LINE:COL: expected ..., found ..." when the
 * text is not a scenario; -ENOMEM. */
int scnparse_text(const char *file, const char *text, struct scn **scnp,
                  struct fx_err *err);

/* Reads 'path' and parses it as scnparse_text() does; -errno with 'err'
 * naming the file when it cannot be read. */
int scnparse_file(const char *path, struct scn **scnp, struct fx_err *err);

#endif
