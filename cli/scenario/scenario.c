/* scenario: files parsed, run (in turn, or -j N at once in child
 * processes that hand their report back as DIR/report.json), reported as
 * text or JSON, and as JUnit XML. */
#include "scenario.h"

#include <errno.h>
#include <stdbool.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "fx_err.h"
#include "fx_proc.h"
#include "fx_time.h"
#include "scn.h"
#include "scnchaos.h"
#include "scnparse.h"
#include "scnrun.h"

/* The progress line on a terminal (not with --json, not piped, where the
 * reports are the plain lines): what ran of how much, failures so far. */
struct progress {
    bool on;
    const char *what;            /* "scenario run", "chaos". */
    size_t done, total;          /* Scenarios (runs, for chaos). */
    size_t steps, steps_total;   /* Steps ended, not run ones included. */
    size_t steps_base;           /* Steps of the scenarios that ended. */
    size_t failed;               /* Scenarios failed so far. */
    const char *current;         /* The scenario under way; borrowed. */
};

static void
progress_init(struct progress *p, const char *what, bool json)
{
    memset(p, 0, sizeof *p);
    p->on = !json && isatty(STDOUT_FILENO);
    p->what = what;
}

static void
progress_draw(const struct progress *p)
{
    if (!p->on) {
        return;
    }
    printf("\r\033[K%s: %zu/%zu scenario%s, %zu/%zu steps, %zu failed%s%s",
           p->what, p->done, p->total, p->total == 1 ? "" : "s", p->steps,
           p->steps_total, p->failed, p->current ? ": " : "",
           p->current ? p->current : "");
    fflush(stdout);
}

/* Clears the line, for other output to take its place. */
static void
progress_clear(const struct progress *p)
{
    if (p->on) {
        printf("\r\033[K");
        fflush(stdout);
    }
}

static void
progress_step(void *arg, size_t i, size_t n, bool ok)
{
    struct progress *p = arg;

    (void) n;
    (void) ok;
    p->steps = p->steps_base + i + 1;
    progress_draw(p);
}

/* A scenario of 'n_steps' ended, passed or not. */
static void
progress_ended(struct progress *p, size_t n_steps, bool passed)
{
    p->done++;
    p->steps_base += n_steps;
    p->steps = p->steps_base;
    p->failed += !passed;
    p->current = NULL;
    progress_draw(p);
}

struct batch {
    const struct scenario_opts *o;
    struct progress progress;
    struct scn **scns;           /* Owned. */
    struct json_object **reps;   /* Owned, one per scenario. */
    char (*dirs)[PATH_MAX];      /* Each scenario's dir. */
    size_t n;
    char logs[PATH_MAX];
};

static const char *
sn_str(struct json_object *o, const char *key)
{
    const char *s = json_object_get_string(json_object_object_get(o, key));

    return s ? s : "";
}

static int
sn_int(struct json_object *o, const char *key)
{
    return json_object_get_int(json_object_object_get(o, key));
}

static int
sn_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st;
    (void) flag;
    (void) ftw;
    return remove(path);
}

/* ---- Reports ---- */

static void
sn_print(struct json_object *rep)
{
    struct json_object *steps = json_object_object_get(rep, "steps");
    const char *file = sn_str(rep, "file");
    int passed = !strcmp(sn_str(rep, "result"), "passed");

    printf("scenario %s (%s)\n", sn_str(rep, "name"), file);
    for (size_t i = 0; i < json_object_array_length(steps); i++) {
        struct json_object *s = json_object_array_get_idx(steps, i);
        const char *res = sn_str(s, "result");
        const char *msg = sn_str(s, "message");
        int failed = !strcmp(res, "failed");

        printf("  %-7s %7dms  %s:%d  %s%s%s\n", res, sn_int(s, "ms"), file,
               sn_int(s, "line"), sn_str(s, "text"), failed ? "\n      => "
               : "", failed ? msg : "");
    }
    if (passed) {
        printf("  passed in %.2fs\n", sn_int(rep, "ms") / 1000.0);
    } else {
        printf("  FAILED %s:%d: %s\n  logs kept in %s\n", file,
               sn_int(rep, "line"), sn_str(rep, "message"),
               sn_str(rep, "logs"));
    }
    fflush(stdout);
}

/* 's' with XML's five characters escaped, to 'f'. */
static void
sn_xml(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        default: fputc(*s, f); break;
        }
    }
}

static int
sn_junit(const struct batch *b, const struct scenario_totals *t,
         struct fx_err *err)
{
    FILE *f = fopen(b->o->junit, "w");
    double total = 0;

    if (!f) {
        return fx_err_set(err, -errno, "cannot write '%s': %s", b->o->junit,
                          strerror(errno));
    }
    for (size_t i = 0; i < b->n; i++) {
        total += sn_int(b->reps[i], "ms") / 1000.0;
    }
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<testsuites>\n<testsuite name=\"fexsim scenarios\" tests=\"%u\""
            " failures=\"%u\" time=\"%.3f\">\n", t->passed + t->failed,
            t->failed, total);
    for (size_t i = 0; i < b->n; i++) {
        struct json_object *r = b->reps[i];

        fputs("  <testcase classname=\"scenario\" name=\"", f);
        sn_xml(f, sn_str(r, "name"));
        fputs("\" file=\"", f);
        sn_xml(f, sn_str(r, "file"));
        fprintf(f, "\" time=\"%.3f\">\n", sn_int(r, "ms") / 1000.0);
        if (strcmp(sn_str(r, "result"), "passed")) {
            fprintf(f, "    <failure message=\"%s:%d: ", sn_str(r, "file"),
                    sn_int(r, "line"));
            sn_xml(f, sn_str(r, "message"));
            fputs("\">logs kept in ", f);
            sn_xml(f, sn_str(r, "logs"));
            fputs("</failure>\n", f);
        }
        fputs("  </testcase>\n", f);
    }
    fputs("</testsuite>\n</testsuites>\n", f);
    if (fclose(f)) {
        return fx_err_set(err, -EIO, "cannot write '%s'", b->o->junit);
    }
    return 0;
}

/* ---- Running ---- */

/* A scenario run by a child: its report comes back as a file. */
static void
sn_child(const struct batch *b, size_t i)
{
    struct json_object *rep = scnrun_scenario(b->scns[i], b->o->fexctl,
                                              b->dirs[i], NULL);
    char path[PATH_MAX + 16];

    snprintf(path, sizeof path, "%s/report.json", b->dirs[i]);
    json_object_to_file(path, rep);
    _exit(0);     /* The parent owns everything else; no cleanup here. */
}

/* The report of scenario 'i', which did not run to its end: 'why'. */
static struct json_object *
sn_no_report(const struct batch *b, size_t i, const char *why)
{
    struct json_object *rep = json_object_new_object();

    json_object_object_add(rep, "file", json_object_new_string(
                               b->scns[i]->file));
    json_object_object_add(rep, "name", json_object_new_string(
                               b->scns[i]->name));
    json_object_object_add(rep, "result", json_object_new_string("failed"));
    json_object_object_add(rep, "message", json_object_new_string(why));
    json_object_object_add(rep, "logs", json_object_new_string(b->dirs[i]));
    return rep;
}

static struct json_object *
sn_child_report(const struct batch *b, size_t i)
{
    char path[PATH_MAX + 16];
    struct json_object *rep;

    snprintf(path, sizeof path, "%s/report.json", b->dirs[i]);
    rep = json_object_from_file(path);
    unlink(path);
    if (!rep) {
        rep = sn_no_report(b, i, fx_proc_interrupted()
                                 ? "interrupted before it ran"
                                 : "the runner's child gave no report");
    }
    return rep;
}

/* Runs scenarios 'jobs' at a time in children; reports in file order. */
static void
sn_run_parallel(struct batch *b)
{
    pid_t *pids = calloc(b->n, sizeof *pids);
    size_t next = 0, running = 0;
    int forwarded = 0;

    while (pids && (next < b->n || running)) {
        pid_t pid;

        if (!forwarded && fx_proc_interrupted()) {
            /* Each child takes its lab down; none more starts. */
            for (size_t i = 0; i < next; i++) {
                if (pids[i] > 0) {
                    kill(pids[i], SIGTERM);
                }
            }
            forwarded = 1;
            next = b->n;
        }
        if (next < b->n && running < b->o->jobs) {
            fflush(NULL);
            pid = fork();
            if (pid == 0) {
                sn_child(b, next);
            }
            pids[next++] = pid > 0 ? pid : 0;
            running += pid > 0;
            continue;
        }
        pid = waitpid(-1, NULL, WNOHANG);
        if (pid == 0) {
            fx_time_sleep_ms(20);       /* Polled: an interrupt is seen. */
            continue;
        }
        for (size_t i = 0; pid > 0 && i < b->n; i++) {
            if (pids[i] == pid) {
                running--;
                pids[i] = -1;
                b->reps[i] = sn_child_report(b, i);
                progress_ended(&b->progress, b->scns[i]->n_steps,
                               !strcmp(sn_str(b->reps[i], "result"),
                                       "passed"));
            }
        }
        if (pid < 0 && errno == ECHILD) {
            break;
        }
    }
    for (size_t i = 0; i < b->n; i++) {
        if (!b->reps[i]) {
            b->reps[i] = sn_child_report(b, i);
        }
    }
    progress_clear(&b->progress);
    free(pids);
}

static void
sn_run_all(struct batch *b)
{
    if (b->o->jobs > 1 && b->n > 1) {
        sn_run_parallel(b);
        for (size_t i = 0; !b->o->json && i < b->n; i++) {
            sn_print(b->reps[i]);
        }
        return;
    }
    const struct scnrun_watch watch = { progress_step, &b->progress };

    for (size_t i = 0; i < b->n; i++) {
        b->progress.current = b->scns[i]->name;
        progress_draw(&b->progress);
        b->reps[i] = fx_proc_interrupted()
                     ? sn_no_report(b, i, "interrupted before it ran")
                     : scnrun_scenario(b->scns[i], b->o->fexctl, b->dirs[i],
                                       &watch);
        progress_clear(&b->progress);
        if (!b->o->json) {
            sn_print(b->reps[i]);
        }
        progress_ended(&b->progress, b->scns[i]->n_steps,
                       !strcmp(sn_str(b->reps[i], "result"), "passed"));
    }
    progress_clear(&b->progress);
}

/* The logs dir and each scenario's dir in it, "NN-NAME". */
static int
sn_dirs(struct batch *b, struct fx_err *err)
{
    const char *tmp = getenv("TMPDIR");

    if (b->o->logs) {
        snprintf(b->logs, sizeof b->logs, "%s", b->o->logs);
        if (mkdir(b->logs, 0700) && errno != EEXIST) {
            return fx_err_set(err, -errno, "cannot make '%s': %s", b->logs,
                              strerror(errno));
        }
    } else {
        snprintf(b->logs, sizeof b->logs, "%s/fexsim-scenarios-XXXXXX",
                 tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(b->logs)) {
            return fx_err_set(err, -errno, "cannot make '%s': %s", b->logs,
                              strerror(errno));
        }
    }
    for (size_t i = 0; i < b->n; i++) {
        snprintf(b->dirs[i], sizeof b->dirs[i], "%s/%02zu-%s", b->logs, i + 1,
                 b->scns[i]->name);
        for (char *p = strrchr(b->dirs[i], '/') + 1; *p; p++) {
            *p = *p == '/' || *p == ' ' ? '_' : *p;
        }
    }
    return 0;
}

/* Counts, prints the summary, and removes what passed unless kept. */
static void
sn_finish(struct batch *b, struct scenario_totals *t)
{
    struct json_object *doc, *arr;

    for (size_t i = 0; i < b->n; i++) {
        int passed = !strcmp(sn_str(b->reps[i], "result"), "passed");

        t->passed += passed;
        t->failed += !passed;
        if (passed && !b->o->keep) {
            nftw(b->dirs[i], sn_rm, 16, FTW_DEPTH | FTW_PHYS);
        }
    }
    if (!t->failed && !b->o->keep && !b->o->logs) {
        rmdir(b->logs);
    }
    if (!b->o->json) {
        for (size_t i = 0; i < b->n; i++) {
            if (strcmp(sn_str(b->reps[i], "result"), "passed")) {
                printf("FAILED %s:%d: %s\n", sn_str(b->reps[i], "file"),
                       sn_int(b->reps[i], "line"),
                       sn_str(b->reps[i], "message"));
            }
        }
        printf("%u passed, %u failed\n", t->passed, t->failed);
        return;
    }
    doc = json_object_new_object();
    arr = json_object_new_array();
    for (size_t i = 0; i < b->n; i++) {
        json_object_array_add(arr, json_object_get(b->reps[i]));
    }
    json_object_object_add(doc, "passed", json_object_new_int((int) t->passed));
    json_object_object_add(doc, "failed", json_object_new_int((int) t->failed));
    json_object_object_add(doc, "logs", json_object_new_string(b->logs));
    json_object_object_add(doc, "scenarios", arr);
    puts(json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY
                                        | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(doc);
}

static void
sn_free(struct batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        scn_destroy(b->scns ? b->scns[i] : NULL);
        json_object_put(b->reps ? b->reps[i] : NULL);
    }
    free(b->scns);
    free(b->reps);
    free(b->dirs);
}

int
scenario_run(char *const files[], size_t n, const struct scenario_opts *o,
             struct scenario_totals *t, struct fx_err *err)
{
    struct batch b = { .o = o, .n = n };
    int rc = 0;

    memset(t, 0, sizeof *t);
    b.scns = calloc(n, sizeof *b.scns);
    b.reps = calloc(n, sizeof *b.reps);
    b.dirs = calloc(n, sizeof *b.dirs);
    if (!b.scns || !b.reps || !b.dirs) {
        rc = fx_err_set(err, -ENOMEM, "out of memory");
    }
    for (size_t i = 0; !rc && i < n; i++) {
        rc = scnparse_file(files[i], &b.scns[i], err);
    }
    if (!rc) {
        rc = sn_dirs(&b, err);
    }
    if (!rc) {
        progress_init(&b.progress, "scenario run", o->json);
        b.progress.total = n;
        for (size_t i = 0; i < n; i++) {
            b.progress.steps_total += b.scns[i]->n_steps;
        }
        /* Ctrl-C stops the steps, not the runner: each lab goes down. */
        fx_proc_hold_interrupts();
        sn_run_all(&b);
        sn_finish(&b, t);
        t->interrupted = fx_proc_interrupted();
        rc = o->junit ? sn_junit(&b, t, err) : 0;
    }
    sn_free(&b);
    return rc;
}

/* ---- Chaos ---- */

struct chaos {
    const struct scenario_chaos_opts *o;
    char logs[PATH_MAX];
    char file[PATH_MAX + 32];     /* LOGS/chaos-SEED.scn */
    unsigned runs;
    unsigned steps_run;           /* Steps run, over every run. */
    uint64_t ms;                  /* Time in runs. */
    struct json_object *last;     /* The last run's report. */
    struct progress progress;     /* Runs: the storm, then shrinking. */
};

/* Runs 'text' in LOGS/NAME ('keep': its dir stays); stores the report. */
static void
ch_run(struct chaos *c, const char *text, const char *name, int keep)
{
    char dir[PATH_MAX + 64];
    struct fx_err err;
    struct scn *scn;
    struct json_object *steps;
    uint64_t t0 = fx_time_now_ms();

    json_object_put(c->last);
    c->last = NULL;
    snprintf(dir, sizeof dir, "%s/%s", c->logs, name);
    if (scnparse_text(c->file, text, &scn, &err)) {
        c->last = json_object_new_object();
        json_object_object_add(c->last, "result",
                               json_object_new_string("failed"));
        json_object_object_add(c->last, "message",
                               json_object_new_string(err.msg));
        return;
    }
    c->progress.total++;
    c->progress.steps_total += scn->n_steps;
    c->progress.current = name;
    c->last = scnrun_scenario(scn, c->o->fexctl, dir, &(struct scnrun_watch) {
                                  progress_step, &c->progress });
    progress_ended(&c->progress, scn->n_steps,
                   !strcmp(sn_str(c->last, "result"), "passed"));
    progress_clear(&c->progress);
    scn_destroy(scn);
    c->runs++;
    c->ms += fx_time_now_ms() - t0;
    steps = json_object_object_get(c->last, "steps");
    for (size_t i = 0; i < json_object_array_length(steps); i++) {
        c->steps_run += strcmp(sn_str(json_object_array_get_idx(steps, i),
                                      "result"), "not run") != 0;
    }
    if (!keep) {
        nftw(dir, sn_rm, 16, FTW_DEPTH | FTW_PHYS);
    }
}

/* The last run failed by a violated invariant (not a wait or a fault
 * that did not work). */
static int
ch_violated(const struct chaos *c)
{
    return c->last && !strcmp(sn_str(c->last, "result"), "failed")
           && !strncmp(sn_str(c->last, "message"), "invariant violated", 18);
}

static int
ch_fails(void *arg, const char *text)
{
    struct chaos *c = arg;
    char name[32];

    snprintf(name, sizeof name, "shrink-%u", c->runs);
    ch_run(c, text, name, 0);
    return ch_violated(c);
}

static int
ch_write(const char *path, const char *text, struct fx_err *err)
{
    FILE *f = fopen(path, "w");

    if (!f || fputs(text, f) < 0 || fclose(f)) {
        if (f) {
            fclose(f);
        }
        return fx_err_set(err, -EIO, "cannot write '%s'", path);
    }
    return 0;
}

/* Shrinks the storm 's' that violated an invariant, writes and prints
 * the minimal scenario, confirmed by one more run with its logs kept. */
static int
ch_shrink(struct chaos *c, const struct scnchaos_storm *s, struct fx_err *err)
{
    unsigned char *keep = malloc(s->n_blocks ? s->n_blocks : 1);
    char path[PATH_MAX + 48];
    unsigned runs;
    char *text;
    int rc;

    if (!keep) {
        return fx_err_set(err, -ENOMEM, "out of memory");
    }
    memset(keep, 1, s->n_blocks);
    runs = scnchaos_shrink(s, keep, ch_fails, c);
    text = scnchaos_text(s, keep);
    free(keep);
    if (!text) {
        return fx_err_set(err, -ENOMEM, "out of memory");
    }
    snprintf(path, sizeof path, "%s/chaos-%llu-min.scn", c->logs, c->o->seed);
    rc = ch_write(path, text, err);
    if (!rc) {
        ch_run(c, text, "minimal", 1);
        printf("shrunk in %u runs to %s (%s: %s:%d: %s; logs in %s/minimal)"
               "\n%s", runs, path, ch_violated(c) ? "it fails again"
               : "it did not fail again", path,
               json_object_get_int(json_object_object_get(c->last, "line")),
               sn_str(c->last, "message"), c->logs, text);
    }
    free(text);
    return rc;
}

static int
ch_logs(struct chaos *c, struct fx_err *err)
{
    const char *tmp = getenv("TMPDIR");

    if (c->o->logs) {
        snprintf(c->logs, sizeof c->logs, "%s", c->o->logs);
        if (mkdir(c->logs, 0700) && errno != EEXIST) {
            return fx_err_set(err, -errno, "cannot make '%s': %s", c->logs,
                              strerror(errno));
        }
        return 0;
    }
    snprintf(c->logs, sizeof c->logs, "%s/fexsim-chaos-XXXXXX",
             tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(c->logs)) {
        return fx_err_set(err, -errno, "cannot make '%s': %s", c->logs,
                          strerror(errno));
    }
    return 0;
}

int
scenario_chaos(const struct scenario_chaos_opts *o, struct fx_err *err)
{
    struct scnchaos_params p = { o->seed, o->hosts, o->vms, o->steps,
                                 o->arm };
    struct chaos c = { .o = o };
    struct scnchaos_storm s;
    char *text = NULL;
    int rc;

    rc = ch_logs(&c, err) ?: scnchaos_generate(&p, &s, err);
    if (rc) {
        return rc;
    }
    snprintf(c.file, sizeof c.file, "%s/chaos-%llu.scn", c.logs, o->seed);
    text = scnchaos_text(&s, NULL);
    rc = text ? ch_write(c.file, text, err)
              : fx_err_set(err, -ENOMEM, "out of memory");
    if (!rc) {
        printf("chaos seed %llu: %u hosts, %u VMs, %u steps: %s\n", o->seed,
               o->hosts, o->vms, o->steps, c.file);
        fflush(stdout);
        fx_proc_hold_interrupts();      /* Ctrl-C: each lab goes down. */
        progress_init(&c.progress, "chaos", false);
        ch_run(&c, text, "storm", 1);
        printf("%u steps in %.1f s (%.1f steps/s): ", c.steps_run,
               c.ms / 1000.0, c.ms ? c.steps_run * 1000.0 / c.ms : 0.0);
        if (!strcmp(sn_str(c.last, "result"), "passed")) {
            printf("no violation\n");
        } else {
            printf("%s at %s:%d: %s\n", ch_violated(&c) ? "VIOLATION"
                   : "failed without a violation", c.file,
                   json_object_get_int(json_object_object_get(c.last,
                                                              "line")),
                   sn_str(c.last, "message"));
        }
        fflush(stdout);
        rc = strcmp(sn_str(c.last, "result"), "passed") != 0;
        if (ch_violated(&c) && !o->no_shrink) {
            rc = ch_shrink(&c, &s, err) ?: 1;
        } else if (!rc) {
            char storm[PATH_MAX + 16];

            snprintf(storm, sizeof storm, "%s/storm", c.logs);
            nftw(storm, sn_rm, 16, FTW_DEPTH | FTW_PHYS);
        }
    }
    free(text);
    json_object_put(c.last);
    scnchaos_storm_free(&s);
    return rc;
}
