/* log: leveled logging to stderr, one line per event.
 *
 * Each .c file names itself once with LOG_MODULE("name").  Library code logs
 * at DBG only; errors travel up as struct fx_err and are logged at the edge.
 * The level is the one piece of global state, set once by main(). */
#ifndef LOG_H
#define LOG_H

enum log_level { LOG_LVL_ERR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DBG };

/* Sets the threshold; messages above it are dropped.  Called by main(). */
void log_set_level(enum log_level level);
/* Parses "err", "warn", "info" or "dbg"; returns -EINVAL otherwise. */
int log_parse_level(const char *s, enum log_level *levelp);
/* Sets the program name printed on each line ('name' is borrowed and must
 * outlive logging, e.g. a string literal or argv[0]). */
void log_set_program(const char *name);

void log_write(enum log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define LOG_MODULE(NAME) static const char log_this_module[] = NAME
#define LOG_ERR(...)  log_write(LOG_LVL_ERR, log_this_module, __VA_ARGS__)
#define LOG_WARN(...) log_write(LOG_LVL_WARN, log_this_module, __VA_ARGS__)
#define LOG_INFO(...) log_write(LOG_LVL_INFO, log_this_module, __VA_ARGS__)
#define LOG_DBG(...)  log_write(LOG_LVL_DBG, log_this_module, __VA_ARGS__)

#endif
