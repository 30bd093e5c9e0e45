/* fx_file: files written whole. */
#ifndef FX_FILE_H
#define FX_FILE_H

struct fx_err;

/* Writes 'content' to 'path' atomically (a temp file renamed over it), so
 * that a reader polling for the file never sees it half-written, and
 * durably: the file and its directory are fsync()ed before it returns, so
 * that what an agent saved survives a host crash, as fabricd's SQLite
 * store does with synchronous=FULL. */
int fx_file_write_atomic(const char *path, const char *content,
                         struct fx_err *err);

#endif
