#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

/* The documented exception to "no global mutable state": set once by main()
 * before any event loop runs. */
static enum log_level log_level = LOG_LVL_INFO;
static const char *log_program = "fexsim";

static const char *const log_level_names[] = {
    [LOG_LVL_ERR] = "err",
    [LOG_LVL_WARN] = "warn",
    [LOG_LVL_INFO] = "info",
    [LOG_LVL_DBG] = "dbg",
};

void
log_set_level(enum log_level level)
{
    log_level = level;
}

void
log_set_program(const char *name)
{
    log_program = name;
}

int
log_parse_level(const char *s, enum log_level *levelp)
{
    for (size_t i = 0; i < sizeof log_level_names / sizeof *log_level_names;
         i++) {
        if (!strcmp(s, log_level_names[i])) {
            *levelp = (enum log_level) i;
            return 0;
        }
    }
    return -EINVAL;
}

void
log_write(enum log_level level, const char *module, const char *fmt, ...)
{
    char line[1024];
    char stamp[32];
    struct timeval tv;
    struct tm tm;
    va_list ap;

    if (level > log_level) {
        return;
    }
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    /* One fprintf per line so that lines from one process never interleave. */
    fprintf(stderr, "%s.%03ldZ %s %s %s: %s\n", stamp,
            (long) (tv.tv_usec / 1000), log_program, log_level_names[level],
            module, line);
}
