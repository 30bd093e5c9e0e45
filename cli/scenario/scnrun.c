/* scnrun: a scenario's steps, each kind run by its handler from a table;
 * faults are signals to a daemon's pid (lab status names it) or `lab
 * restart` / `lab link`, so that the lab's own machinery does the work. */
#include "scnrun.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <json-c/json.h>

#include "fx_err.h"
#include "fx_proc.h"
#include "fx_time.h"
#include "scn.h"
#include "scncheck.h"
#include "scnexec.h"
#include "scninv.h"

#define CMD_TIMEOUT_MS 120000
#define POLL_MS 50
/* Counters the fabric learns from agents (vNICs in use) lag a step by a
 * heartbeat: the invariants must hold within this of each step. */
#define INV_SETTLE_MS 3000
/* At the end, time for what is in flight to end. */
#define END_SETTLE_MS 20000
#define DEATH_MS 10000

struct run {
    const struct scn *scn;
    const struct scnrun_watch *watch;   /* NULL: none. */
    struct scnexec x;
    struct scninv inv;
    char msg[600];               /* The current step's message. */
};

/* Whether the runner was interrupted (Ctrl-C, SIGTERM, SIGHUP): then no
 * step runs any more and the lab goes down as after a failure. */
static int
sr_interrupted(struct run *r)
{
    if (!fx_proc_interrupted()) {
        return 0;
    }
    snprintf(r->msg, sizeof r->msg, "interrupted: the lab is taken down");
    return 1;
}

/* ---- Commands ---- */

/* Runs 'args' (lab commands: 'lab_global' 0) and fails unless it exits
 * 0, with its words. */
static int
sr_fexctl(struct run *r, char *const args[], int lab_global)
{
    struct scnexec_out o;
    struct fx_err err;
    int ok;

    if (scnexec_run(&r->x, args, lab_global, CMD_TIMEOUT_MS, &o, &err)) {
        snprintf(r->msg, sizeof r->msg, "%s", err.msg);
        return 0;
    }
    ok = o.status == 0;
    if (!ok) {
        snprintf(r->msg, sizeof r->msg, "exit %d: %.400s", o.status,
                 o.err[0] ? o.err : o.out[0] ? o.out : "(no message)");
    }
    scnexec_out_free(&o);
    return ok;
}

static int
sr_cmd(struct run *r, const struct scn_step *st)
{
    return sr_fexctl(r, st->argv, 1);
}

static int
sr_expect_fail(struct run *r, const struct scn_step *st)
{
    struct scnexec_out o;
    struct fx_err err;
    int ok;

    if (scnexec_run(&r->x, st->argv, 1, CMD_TIMEOUT_MS, &o, &err)) {
        snprintf(r->msg, sizeof r->msg, "%s", err.msg);
        return 0;
    }
    /* The reason is in the error or, for a command whose answer is
     * itself a refusal (vm check --json), in its output. */
    ok = o.status && (st->fail_status < 0 || o.status == st->fail_status)
         && (strstr(o.err, st->want_text) || strstr(o.out, st->want_text));
    if (!o.status) {
        snprintf(r->msg, sizeof r->msg, "the command succeeded");
    } else {
        snprintf(r->msg, sizeof r->msg, "%s with exit %d: %.400s",
                 ok ? "failed as expected" : "failed otherwise", o.status,
                 o.err[0] ? o.err : o.out);
    }
    scnexec_out_free(&o);
    return ok;
}

/* The command succeeds and its output (JSON) holds the text. */
static int
sr_expect_ok(struct run *r, const struct scn_step *st)
{
    struct scnexec_out o;
    struct fx_err err;
    int ok;

    if (scnexec_run(&r->x, st->argv, 1, CMD_TIMEOUT_MS, &o, &err)) {
        snprintf(r->msg, sizeof r->msg, "%s", err.msg);
        return 0;
    }
    ok = !o.status && strstr(o.out, st->want_text);
    if (o.status) {
        snprintf(r->msg, sizeof r->msg, "exit %d: %s", o.status, o.err);
    } else if (!ok) {
        snprintf(r->msg, sizeof r->msg, "the output lacks it: %.400s",
                 o.out);
    }
    scnexec_out_free(&o);
    return ok;
}

/* Runs the command; its status is only noted. */
static int
sr_try(struct run *r, const struct scn_step *st)
{
    struct scnexec_out o;
    struct fx_err err;

    if (scnexec_run(&r->x, st->argv, 1, CMD_TIMEOUT_MS, &o, &err)) {
        snprintf(r->msg, sizeof r->msg, "%s", err.msg);
        return 0;
    }
    snprintf(r->msg, sizeof r->msg, "exit %d%s%.400s", o.status,
             o.err[0] ? ": " : "", o.err);
    scnexec_out_free(&o);
    return 1;
}

/* ---- Checks ---- */

static int
sr_expect(struct run *r, const struct scn_step *st)
{
    char seen[300];
    int ok = scncheck_eval(&r->x, &st->check, seen, sizeof seen);

    snprintf(r->msg, sizeof r->msg, "%s %s", ok ? "saw" : "got", seen);
    return ok;
}

/* Repeats the check until it holds or 'within' has passed; the last
 * value seen is the message either way. */
static int
sr_wait(struct run *r, const struct scn_step *st)
{
    uint64_t t0 = fx_time_now_ms(), now;
    char seen[300];
    int ok;

    for (;;) {
        ok = scncheck_eval(&r->x, &st->check, seen, sizeof seen);
        now = fx_time_now_ms();
        if (!ok && sr_interrupted(r)) {
            return 0;
        }
        if (ok || now - t0 >= st->within_ms) {
            break;
        }
        fx_time_sleep_ms(POLL_MS);
    }
    if (ok) {
        snprintf(r->msg, sizeof r->msg, "held after %llums: %s",
                 (unsigned long long) (now - t0), seen);
    } else {
        snprintf(r->msg, sizeof r->msg, "timed out after %llums; last "
                 "seen %s", (unsigned long long) st->within_ms, seen);
    }
    return ok || st->lenient;
}

/* ---- Faults ---- */

/* The pid of daemon 'name' as `lab status` has it (0 if it does not
 * run). */
static pid_t
sr_pid(struct run *r, const char *name)
{
    char *args[] = { "lab", "status", "--dir", r->x.lab, NULL };
    struct json_object *doc, *ds;
    struct scnexec_out o;
    struct fx_err err;
    pid_t pid = 0;

    if (scnexec_run(&r->x, args, 0, CMD_TIMEOUT_MS, &o, &err)) {
        return 0;
    }
    doc = json_tokener_parse(o.out);
    ds = doc ? json_object_object_get(doc, "daemons") : NULL;
    for (size_t i = 0; ds && i < json_object_array_length(ds); i++) {
        struct json_object *d = json_object_array_get_idx(ds, i);
        const char *n = json_object_get_string(json_object_object_get(d,
                                                                 "name"));

        if (n && !strcmp(n, name)
            && json_object_get_boolean(json_object_object_get(d, "alive"))) {
            pid = (pid_t) json_object_get_int(json_object_object_get(d,
                                                                "pid"));
        }
    }
    json_object_put(doc);
    scnexec_out_free(&o);
    return pid;
}

/* Sends 'sig' to daemon 'name'; for a signal that ends it, waits until
 * it is gone. */
static int
sr_signal(struct run *r, const char *name, int sig)
{
    pid_t pid = sr_pid(r, name);
    uint64_t deadline = fx_time_now_ms() + DEATH_MS;

    if (pid <= 0 || kill(pid, sig)) {
        snprintf(r->msg, sizeof r->msg, "%s does not run", name);
        return 0;
    }
    if (sig == SIGSTOP || sig == SIGCONT) {
        return 1;
    }
    kill(pid, SIGCONT);     /* A frozen daemon must run to die of TERM. */
    while (fx_proc_alive(pid) && fx_time_now_ms() < deadline) {
        fx_time_sleep_ms(5);
    }
    if (fx_proc_alive(pid)) {
        snprintf(r->msg, sizeof r->msg, "%s (pid %d) still runs after %ums",
                 name, (int) pid, DEATH_MS);
        return 0;
    }
    return 1;
}

/* lab restart, the daemon armed with 'fault' if not NULL. */
static int
sr_restart(struct run *r, const char *name, const char *fault)
{
    char *args[] = { "lab", "restart", "--dir", r->x.lab, (char *) name,
                     NULL, NULL, NULL };

    if (fault) {
        args[4] = "--fault";
        args[5] = (char *) fault;
        args[6] = (char *) name;
    }
    return sr_fexctl(r, args, 0);
}

static int
sr_link(struct run *r, const struct scn_fault *f)
{
    char *args[] = { "lab", "link", (char *) f->daemon, "--dir", r->x.lab,
                     NULL, NULL, NULL, NULL, NULL };

    if (f->kind == SCN_FAULT_LINK_SHAPE) {
        args[5] = "--delay";
        args[6] = (char *) f->delay;
        args[7] = "--loss";
        args[8] = (char *) f->loss;
    } else {
        /* "lab link HOST down --dir DIR": the state before options. */
        args[3] = f->kind == SCN_FAULT_LINK_DOWN ? "down" : "up";
        args[4] = "--dir";
        args[5] = r->x.lab;
    }
    return sr_fexctl(r, args, 0);
}

static int
sr_fault(struct run *r, const struct scn_step *st)
{
    const struct scn_fault *f = &st->fault;
    char spec[40];

    switch (f->kind) {
    case SCN_FAULT_CRASH: return sr_signal(r, f->daemon, SIGKILL);
    case SCN_FAULT_KILL: return sr_signal(r, f->daemon, SIGTERM);
    case SCN_FAULT_FREEZE: return sr_signal(r, f->daemon, SIGSTOP);
    case SCN_FAULT_THAW: return sr_signal(r, f->daemon, SIGCONT);
    case SCN_FAULT_RESTART: return sr_restart(r, f->daemon, NULL);
    case SCN_FAULT_CRASH_AT:
        snprintf(spec, sizeof spec, "crash@%s:%u", f->phase, f->nth);
        return sr_restart(r, f->daemon, spec);
    case SCN_FAULT_FAIL_RESUME:
        return sr_restart(r, f->daemon, "fail@resume");
    case SCN_FAULT_ARM:
        return sr_restart(r, f->daemon, f->spec);
    default:
        return sr_link(r, f);
    }
}

/* The handler of each kind of step. */
static int (*const sr_steps[])(struct run *, const struct scn_step *) = {
    [SCN_STEP_CMD] = sr_cmd,
    [SCN_STEP_EXPECT] = sr_expect,
    [SCN_STEP_EXPECT_FAIL] = sr_expect_fail,
    [SCN_STEP_EXPECT_OK] = sr_expect_ok,
    [SCN_STEP_TRY] = sr_try,
    [SCN_STEP_WAIT] = sr_wait,
    [SCN_STEP_FAULT] = sr_fault,
};

/* ---- The lab ---- */

static int
sr_lab_up(struct run *r)
{
    const struct scn_lab *l = &r->scn->lab;
    char hosts[16], vnics[16], mem[24], hb[24], *args[24];
    size_t n = 0;

    args[n++] = "lab";
    args[n++] = "up";
    args[n++] = "--dir";
    args[n++] = r->x.lab;
    snprintf(hosts, sizeof hosts, "%u", l->hosts);
    args[n++] = "--hosts";
    args[n++] = hosts;
    args[n++] = "--flavor";
    args[n++] = (char *) l->flavor;
    if (l->vnics) {
        snprintf(vnics, sizeof vnics, "%u", l->vnics);
        args[n++] = "--vnics";
        args[n++] = vnics;
    }
    if (l->memory_mib) {
        snprintf(mem, sizeof mem, "%llu", (unsigned long long) l->memory_mib);
        args[n++] = "--memory";
        args[n++] = mem;
    }
    if (l->hb_timeout_ms) {
        snprintf(hb, sizeof hb, "%llu",
                 (unsigned long long) l->hb_timeout_ms);
        args[n++] = "--heartbeat-timeout";
        args[n++] = hb;
    }
    if (l->no_iommu[0]) {
        args[n++] = "--no-iommu";
        args[n++] = (char *) l->no_iommu;
    }
    if (l->netns) {
        args[n++] = "--netns";
    }
    args[n] = NULL;
    return sr_fexctl(r, args, 0);
}

/* Stops the lab, frozen daemons thawed first so that they can stop. */
static void
sr_lab_down(struct run *r)
{
    char *args[] = { "lab", "down", "--dir", r->x.lab, NULL };
    char name[16];

    r->x.teardown = true;
    for (unsigned i = 0; i <= r->scn->lab.hosts; i++) {
        pid_t pid;

        snprintf(name, sizeof name, i ? "h%u" : "fabricd", i);
        pid = sr_pid(r, name);
        if (pid > 0) {
            kill(pid, SIGCONT);
        }
    }
    if (!sr_fexctl(r, args, 0)) {
        scnexec_note(&r->x, r->msg);
    }
    r->x.teardown = false;
}

/* The first line of 'path' that is a sanitizer's report, into 'line';
 * 0 if none. */
static int
sr_sanitized(const char *path, char *line, size_t size)
{
    static const char *const marks[] = {
        "AddressSanitizer", "LeakSanitizer", "runtime error:",
    };
    FILE *f = fopen(path, "r");
    int found = 0;

    while (f && !found && fgets(line, (int) size, f)) {
        for (size_t i = 0; i < sizeof marks / sizeof *marks; i++) {
            found |= strstr(line, marks[i]) != NULL;
        }
    }
    if (f) {
        fclose(f);
    }
    line[found ? strcspn(line, "\n") : 0] = '\0';
    return found;
}

/* After the lab is down: no daemon, nor fexctl, reported a sanitizer
 * error (a build with SAN=1 runs scenarios too).  0, or the message. */
static int
sr_logs_clean(struct run *r)
{
    char path[PATH_MAX + 32], name[24], line[300];

    for (unsigned i = 0; i <= r->scn->lab.hosts + 1; i++) {
        snprintf(name, sizeof name, i == 0 ? "fabricd" : "agentd-h%u", i);
        if (i <= r->scn->lab.hosts) {
            snprintf(path, sizeof path, "%s/%s.log", r->x.lab, name);
        } else {
            snprintf(path, sizeof path, "%s/steps.log", r->x.dir);
        }
        if (sr_sanitized(path, line, sizeof line)) {
            snprintf(r->msg, sizeof r->msg, "%s: %s", path, line);
            return 0;
        }
    }
    return 1;
}

/* ---- Steps and invariants ---- */

/* The invariants after 'st' (NULL: the end), given 'settle_ms' to hold:
 * 1 held or not judged ('*note' says), 0 violated (r->msg says). */
static int
sr_invariants(struct run *r, const struct scn_step *st, unsigned settle_ms,
              char *note, size_t size)
{
    uint64_t deadline = fx_time_now_ms() + settle_ms;
    char why[300];
    int rc;

    for (;;) {
        rc = scninv_check(&r->inv, &r->x, st, why, sizeof why);
        if (rc == SCNINV_OK || fx_time_now_ms() >= deadline
            || (st && rc == SCNINV_UNSETTLED) || fx_proc_interrupted()) {
            break;
        }
        fx_time_sleep_ms(POLL_MS);
    }
    snprintf(note, size, "%s%s", rc == SCNINV_OK ? "ok"
             : rc == SCNINV_UNSETTLED ? "not judged: " : "violated: ",
             rc == SCNINV_OK ? "" : why);
    if (rc == SCNINV_VIOLATED || (!st && rc == SCNINV_UNSETTLED)) {
        snprintf(r->msg, sizeof r->msg, "invariant %s: %s",
                 rc == SCNINV_VIOLATED ? "violated" : "not judged at the "
                 "end (the lab never settled)", why);
        return 0;
    }
    return 1;
}

/* 'msg' on one line: a command's pretty JSON or several lines of error
 * read as one line in a report. */
static void
sr_oneline(char *msg)
{
    char *w = msg;

    for (const char *c = msg; *c; c++) {
        int blank = *c == '\n' || *c == ' ' || *c == '\t';

        if (!blank || (w > msg && w[-1] != ' ')) {
            *w++ = blank ? ' ' : *c;
        }
    }
    *w = '\0';
}

static struct json_object *
sr_step_json(const struct scn_step *st, const char *result, uint64_t ms,
             const char *msg, const char *inv)
{
    struct json_object *o = json_object_new_object();

    json_object_object_add(o, "line", json_object_new_int((int) st->line));
    json_object_object_add(o, "text", json_object_new_string(st->text));
    json_object_object_add(o, "result", json_object_new_string(result));
    json_object_object_add(o, "ms", json_object_new_int64((int64_t) ms));
    json_object_object_add(o, "message", json_object_new_string(msg));
    json_object_object_add(o, "invariants", json_object_new_string(inv));
    return o;
}


/* Runs the steps; returns the failed step's index, or n_steps. */
static size_t
sr_steps_run(struct run *r, struct json_object *steps)
{
    const struct scn *scn = r->scn;
    char inv[320];
    size_t i;

    for (i = 0; i < scn->n_steps; i++) {
        const struct scn_step *st = &scn->steps[i];
        uint64_t t0 = fx_time_now_ms();
        int ok;

        r->msg[0] = '\0';
        inv[0] = '\0';
        scnexec_note(&r->x, st->text);
        ok = !sr_interrupted(r)
             && sr_steps[st->kind](r, st)
             && !sr_interrupted(r)
             && sr_invariants(r, st, INV_SETTLE_MS, inv, sizeof inv);
        sr_oneline(r->msg);
        json_object_array_add(steps, sr_step_json(st, ok ? "passed"
                                                         : "failed",
                                                  fx_time_now_ms() - t0,
                                                  r->msg, inv));
        if (r->watch) {
            r->watch->step(r->watch->arg, i, scn->n_steps, ok);
        }
        if (!ok) {
            break;
        }
    }
    for (size_t k = i + 1; k < scn->n_steps; k++) {
        json_object_array_add(steps, sr_step_json(&scn->steps[k], "not run",
                                                  0, "", ""));
    }
    return i;
}

static void
sr_report(struct json_object *rep, int passed, unsigned line,
          const char *msg, uint64_t ms)
{
    json_object_object_add(rep, "result", json_object_new_string(
                               passed ? "passed" : "failed"));
    json_object_object_add(rep, "line", json_object_new_int((int) line));
    json_object_object_add(rep, "message", json_object_new_string(msg));
    json_object_object_add(rep, "ms", json_object_new_int64((int64_t) ms));
}

struct json_object *
scnrun_scenario(const struct scn *scn, const char *fexctl, const char *dir,
                const struct scnrun_watch *watch)
{
    struct json_object *rep = json_object_new_object();
    struct json_object *steps = json_object_new_array();
    struct run r = { .scn = scn, .watch = watch };
    uint64_t t0 = fx_time_now_ms();
    unsigned line = 0;
    char inv[320];
    int passed = 0;

    snprintf(r.x.fexctl, sizeof r.x.fexctl, "%s", fexctl);
    snprintf(r.x.dir, sizeof r.x.dir, "%s", dir);
    snprintf(r.x.lab, sizeof r.x.lab, "%s/lab", dir);
    json_object_object_add(rep, "file", json_object_new_string(scn->file));
    json_object_object_add(rep, "name", json_object_new_string(scn->name));
    json_object_object_add(rep, "logs", json_object_new_string(dir));
    json_object_object_add(rep, "steps", steps);
    if (mkdir(dir, 0700) && errno != EEXIST) {
        snprintf(r.msg, sizeof r.msg, "cannot make '%s': %s", dir,
                 strerror(errno));
    } else if (!sr_lab_up(&r)) {
        snprintf(inv, sizeof inv, "%s", r.msg);
        snprintf(r.msg, sizeof r.msg, "lab up: %s", inv);
        sr_lab_down(&r);
    } else {
        size_t failed = sr_steps_run(&r, steps);

        line = failed < scn->n_steps ? scn->steps[failed].line : 0;
        passed = failed == scn->n_steps
                 && sr_invariants(&r, NULL, END_SETTLE_MS, inv, sizeof inv);
        if (failed == scn->n_steps && !passed) {
            line = scn->steps[scn->n_steps - 1].line;
        }
        sr_lab_down(&r);
        if (passed && !sr_logs_clean(&r)) {
            passed = 0;
            line = scn->steps[scn->n_steps - 1].line;
        }
    }
    scninv_uninit(&r.inv);
    sr_report(rep, passed, line, passed ? "" : r.msg, fx_time_now_ms() - t0);
    return rep;
}
