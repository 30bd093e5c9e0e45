#include "fx_fault.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fx_err.h"
#include "log.h"

LOG_MODULE("fault");

static const char *const fault_phases[] = {
    "begin", "prepare", "perform", "switchover", "finish", "confirm",
    "resume", "release",
};

static struct {
    char phase[16];
    bool fail;                     /* fail@PHASE: the step fails. */
    unsigned nth;                  /* 0: nothing armed. */
    unsigned hits;
    char nospace[256];             /* nospace@PATH: PATH, or "". */
    char hvstall[256];             /* hvstall@PATH: PATH, or "". */
    bool full;                     /* PATH seen: counting 'left'. */
    struct stat seen;              /* ...this PATH: a new one counts anew. */
    unsigned long left;            /* Writes that still succeed. */
} fault;

/* nospace@PATH or hvstall@PATH ('kind', 7 characters). */
static int
fx_fault_parse_path(const char *kind, const char *path, struct fx_err *err)
{
    bool nospace = !strncmp(kind, "nospace", 7);
    char *dst = nospace ? fault.nospace : fault.hvstall;

    if (!path[0] || strlen(path) >= sizeof fault.nospace) {
        return fx_err_set(err, -EINVAL, "--fault %.7s@PATH needs a PATH "
                          "of 1-%zu characters", kind,
                          sizeof fault.nospace - 1);
    }
    snprintf(dst, sizeof fault.nospace, "%s", path);
    fault.full = false;
    return 0;
}

/* Whether 'word' ("crash@begin", "nospace") is one of the
 * space-separated words of 'offered'. */
static bool
fx_fault_offered(const char *offered, const char *word, size_t len)
{
    for (const char *p = offered; *p; ) {
        size_t n = strcspn(p, " ");

        if (n == len && !strncmp(p, word, len)) {
            return true;
        }
        p += n + (p[n] == ' ');
    }
    return false;
}

int
fx_fault_parse(const char *spec, const char *offered, struct fx_err *err)
{
    bool fail = !strncmp(spec, "fail@", 5);
    const char *at = fail ? spec + 5
                          : strncmp(spec, "crash@", 6) ? NULL : spec + 6;
    size_t len = at ? strcspn(at, ":") : 0;
    bool path = !strncmp(spec, "nospace@", 8)
                || !strncmp(spec, "hvstall@", 8);
    unsigned long nth = 1;
    char *end;

    if (!fx_fault_offered(offered, spec,
                          path ? 7 : at ? (size_t) (at - spec) + len
                                           : strlen(spec))) {
        return fx_err_set(err, -EINVAL, "--fault here is one of %s (with "
                          "@PATH after nospace or hvstall, :N after a "
                          "phase), not '%s'", offered, spec);
    }
    if (path) {
        return fx_fault_parse_path(spec, spec + 8, err);
    }
    for (size_t i = 0; at && i < sizeof fault_phases / sizeof *fault_phases;
         i++) {
        if (strlen(fault_phases[i]) == len
            && !strncmp(fault_phases[i], at, len)) {
            if (at[len] == ':') {
                errno = 0;
                nth = strtoul(at + len + 1, &end, 10);
                if (errno || *end || end == at + len + 1 || !nth
                    || nth > 1000000) {
                    break;
                }
            }
            snprintf(fault.phase, sizeof fault.phase, "%s", fault_phases[i]);
            fault.fail = fail;
            fault.nth = (unsigned) nth;
            fault.hits = 0;
            return 0;
        }
    }
    return fx_err_set(err, -EINVAL, "--fault '%s': N is a count of 1 to "
                      "1000000", spec);
}

void
fx_fault_point(const char *phase)
{
    if (fault.fail || !fault.nth || strcmp(fault.phase, phase)
        || ++fault.hits < fault.nth) {
        return;
    }
    LOG_WARN("fault injected: crash@%s:%u, SIGKILL", phase, fault.hits);
    raise(SIGKILL);
}

/* The count PATH holds (0 if none or unreadable). */
static unsigned long
fx_fault_count(const char *path)
{
    FILE *f = fopen(path, "r");
    unsigned long n = 0;

    if (f) {
        if (fscanf(f, "%lu", &n) != 1) {
            n = 0;
        }
        fclose(f);
    }
    return n;
}

bool
fx_fault_nospace(void)
{
    struct stat st;

    if (!fault.nospace[0]) {
        return false;
    }
    if (stat(fault.nospace, &st)) {
        fault.full = false;
        return false;
    }
    if (!fault.full || st.st_ino != fault.seen.st_ino
        || st.st_mtim.tv_sec != fault.seen.st_mtim.tv_sec
        || st.st_mtim.tv_nsec != fault.seen.st_mtim.tv_nsec) {
        fault.full = true;
        fault.seen = st;
        fault.left = fx_fault_count(fault.nospace);
    }
    if (fault.left) {
        fault.left--;
        return false;
    }
    LOG_DBG("fault injected: nospace@%s", fault.nospace);
    return true;
}

bool
fx_fault_fail(const char *step)
{
    /* The Nth hit only: a daemon that lives on after it (unlike a
     * crash) must not fail every later one too. */
    if (!fault.fail || !fault.nth || strcmp(fault.phase, step)
        || ++fault.hits != fault.nth) {
        return false;
    }
    LOG_WARN("fault injected: fail@%s:%u", step, fault.hits);
    return true;
}

bool
fx_fault_hvstall(void)
{
    /* Read-only after the parse: the worker thread may ask. */
    return fault.hvstall[0] && !access(fault.hvstall, F_OK);
}
