/* scnparse: scenario text → struct scn.  A line is cut into tokens
 * (words, "quoted strings", a ':' that ends a word), each with its column,
 * variables expanded; its first token picks the statement's parser from a
 * table.  Every error is reported once, at the token it is about. */
#include "scnparse.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_err.h"
#include "scn.h"

#define TOK_MAX 64
#define VAR_MAX 32
#define LINE_MAX_ 4096

struct tok {
    char text[256];
    unsigned col;                /* 1-based, where the token starts. */
    int quoted;
};

struct var {
    char name[32];
    char value[224];
};

struct scnparse {
    const char *file;
    unsigned line;
    unsigned eol;                /* The column just past the line's end. */
    struct tok toks[TOK_MAX];
    size_t n, pos;
    struct var vars[VAR_MAX];
    size_t n_vars;
    int lab_seen;
    struct scn *scn;
    struct fx_err *err;
};

/* ---- Errors ---- */

/* "FILE:LINE:COL: MSG". */
static int
sp_error_at(struct scnparse *p, unsigned col, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
sp_error_at(struct scnparse *p, unsigned col, const char *fmt, ...)
{
    char msg[160];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return fx_err_set(p->err, -EINVAL, "%s:%u:%u: %s", p->file, p->line,
                      col, msg);
}

/* "expected WHAT, found 'TOKEN'" at the current token (or the line's
 * end). */
static int
sp_expected(struct scnparse *p, const char *what)
{
    if (p->pos >= p->n) {
        return sp_error_at(p, p->eol, "expected %s, found end of line",
                           what);
    }
    return sp_error_at(p, p->toks[p->pos].col, "expected %s, found '%s'",
                       what, p->toks[p->pos].text);
}

/* ---- Tokens ---- */

static struct var *
sp_var_find(struct scnparse *p, const char *name, size_t len)
{
    for (size_t i = 0; i < p->n_vars; i++) {
        if (strlen(p->vars[i].name) == len
            && !strncmp(p->vars[i].name, name, len)) {
            return &p->vars[i];
        }
    }
    return NULL;
}

static const char *
sp_var(struct scnparse *p, const char *name, size_t len)
{
    const struct var *v = sp_var_find(p, name, len);

    return v ? v->value : NULL;
}

/* Appends ${NAME} at 's' (columns from 'col') to 't'; returns the
 * characters read, or -1.  ${LAB} stays for the runner: the lab's dir. */
static int
sp_expand(struct scnparse *p, const char *s, unsigned col, struct tok *t)
{
    const char *end = strchr(s + 2, '}');
    const char *val;
    size_t len;

    if (!end) {
        return sp_error_at(p, col, "expected '}' closing '${'"), -1;
    }
    len = (size_t) (end - s - 2);
    val = sp_var(p, s + 2, len);
    if (!val && len == 3 && !strncmp(s + 2, "LAB", 3)) {
        val = "${LAB}";
    }
    if (!val) {
        return sp_error_at(p, col, "expected a variable set before this "
                           "line, found '${%.*s}'", (int) len, s + 2), -1;
    }
    if (strlen(t->text) + strlen(val) >= sizeof t->text) {
        return sp_error_at(p, col, "token too long"), -1;
    }
    strcat(t->text, val);
    return (int) (end - s + 1);
}

/* Appends one character to 't'. */
static int
sp_put(struct scnparse *p, struct tok *t, char c, unsigned col)
{
    size_t len = strlen(t->text);

    if (len + 1 >= sizeof t->text) {
        return sp_error_at(p, col, "token too long");
    }
    t->text[len] = c;
    t->text[len + 1] = '\0';
    return 0;
}

/* Reads one token at 'line' + '*ip' into 't'. */
static int
sp_token(struct scnparse *p, const char *line, size_t *ip, struct tok *t)
{
    size_t i = *ip;
    int quoted = line[i] == '"';

    memset(t, 0, sizeof *t);
    t->col = (unsigned) i + 1;
    t->quoted = quoted;
    i += quoted;
    while (line[i] && (quoted ? line[i] != '"'
                              : line[i] != ' ' && line[i] != '\t')) {
        int n = 1;

        if (line[i] == '$' && line[i + 1] == '{') {
            n = sp_expand(p, line + i, (unsigned) i + 1, t);
        } else if (!quoted && line[i] == ':'
                   && (!line[i + 1] || line[i + 1] == ' '
                       || line[i + 1] == '\t') && t->text[0]) {
            break;                  /* "status 1:" → "1" ":" */
        } else {
            if (quoted && line[i] == '\\' && line[i + 1]) {
                i++;
            }
            n = sp_put(p, t, line[i], (unsigned) i + 1) ? -1 : 1;
        }
        if (n < 0) {
            return -EINVAL;
        }
        i += (size_t) n;
    }
    if (quoted && line[i] != '"') {
        return sp_error_at(p, (unsigned) i + 1, "expected '\"' closing the "
                           "string opened at column %u, found end of line",
                           t->col);
    }
    *ip = i + quoted;
    return 0;
}

/* Cuts 'line' into p->toks. */
static int
sp_tokenize(struct scnparse *p, const char *line)
{
    size_t i = 0;

    p->n = p->pos = 0;
    p->eol = (unsigned) strlen(line) + 1;
    for (;;) {
        while (line[i] == ' ' || line[i] == '\t') {
            i++;
        }
        if (!line[i] || line[i] == '#') {
            return 0;
        }
        if (p->n == TOK_MAX) {
            return sp_error_at(p, (unsigned) i + 1, "more than %d words on "
                               "a line", TOK_MAX);
        }
        if (line[i] == ':' && (!line[i + 1] || line[i + 1] == ' ')) {
            p->toks[p->n] = (struct tok) { .text = ":",
                                           .col = (unsigned) i + 1 };
            p->n++;
            i++;
            continue;
        }
        if (sp_token(p, line, &i, &p->toks[p->n++])) {
            return -EINVAL;
        }
    }
}

/* The current token if it is 'word' (not quoted): takes it. */
static int
sp_accept(struct scnparse *p, const char *word)
{
    if (p->pos < p->n && !p->toks[p->pos].quoted
        && !strcmp(p->toks[p->pos].text, word)) {
        p->pos++;
        return 1;
    }
    return 0;
}

/* The current token, taken; NULL with the error "expected 'what'". */
static const struct tok *
sp_take(struct scnparse *p, const char *what)
{
    if (p->pos >= p->n) {
        sp_expected(p, what);
        return NULL;
    }
    return &p->toks[p->pos++];
}

static int
sp_end(struct scnparse *p)
{
    return p->pos < p->n ? sp_expected(p, "end of line") : 0;
}

/* ---- Values ---- */

/* "500ms", "5s", "1m" → milliseconds. */
static int
sp_duration(struct scnparse *p, uint64_t *msp)
{
    const struct tok *t = sp_take(p, "a duration (500ms, 5s, 1m)");
    static const struct { const char *unit; uint64_t ms; } units[] = {
        { "ms", 1 }, { "s", 1000 }, { "m", 60000 },
    };
    char *end;
    unsigned long long v;

    if (!t) {
        return -EINVAL;
    }
    errno = 0;
    v = strtoull(t->text, &end, 10);
    for (size_t i = 0; end != t->text && !errno && i < 3; i++) {
        if (!strcmp(end, units[i].unit) && v <= 86400000ull / units[i].ms) {
            *msp = v * units[i].ms;
            return 0;
        }
    }
    p->pos--;
    return sp_expected(p, "a duration (500ms, 5s, 1m)");
}

/* A number in [lo, hi]. */
static int
sp_number(struct scnparse *p, const char *text, unsigned col, uint64_t lo,
          uint64_t hi, uint64_t *vp)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(text, &end, 10);
    if (!*text || *end || errno || v < lo || v > hi || *text == '-') {
        return sp_error_at(p, col, "expected a number from %llu to %llu, "
                           "found '%s'", (unsigned long long) lo,
                           (unsigned long long) hi, text);
    }
    *vp = v;
    return 0;
}

/* 'name' is a daemon of the lab: fabricd or h1..hN ('agent': hN only). */
static int
sp_daemon(struct scnparse *p, int agent, char *buf, size_t size)
{
    const char *what = agent ? "a host (h1..hN of the lab line)"
                             : "a daemon (fabricd, or a host h1..hN)";
    const struct tok *t = sp_take(p, what);
    uint64_t n;
    char *end;

    if (!t) {
        return -EINVAL;
    }
    if (!agent && !strcmp(t->text, "fabricd")) {
        snprintf(buf, size, "%s", t->text);
        return 0;
    }
    n = t->text[0] == 'h' ? strtoull(t->text + 1, &end, 10) : 0;
    if (!n || *end || n > p->scn->lab.hosts) {
        p->pos--;
        return sp_expected(p, what);
    }
    snprintf(buf, size, "%s", t->text);
    return 0;
}

/* ---- References: LISTING[SEL,...].FIELD ---- */

/* Parses the selector "KEY=VAL,..." or "VAL" of 's' (the text between
 * brackets, starting at column 'col'). */
static int
sp_selector(struct scnparse *p, const char *s, size_t len, unsigned col,
            struct scn_ref *r)
{
    size_t i = 0;

    while (i < len) {
        size_t n = strcspn(s + i, ",]");
        const char *eq = memchr(s + i, '=', n);
        struct scn_sel *sel = &r->sel[r->n_sel];

        if (r->n_sel == SCN_SEL_MAX || !n) {
            return sp_error_at(p, col + (unsigned) i, "expected %s",
                               n ? "at most 4 selectors" : "a selector");
        }
        if (eq) {
            snprintf(sel->key, sizeof sel->key, "%.*s",
                     (int) (eq - s - i), s + i);
            snprintf(sel->val, sizeof sel->val, "%.*s",
                     (int) (n - (size_t) (eq - s - i) - 1), eq + 1);
        } else {
            snprintf(sel->val, sizeof sel->val, "%.*s", (int) n, s + i);
        }
        r->n_sel++;
        i += n + 1;
    }
    return 0;
}

/* Parses token 't' as LISTING[SEL].FIELD ('field': required, refused or,
 * if 'events', LISTING is any event type). */
static int
sp_ref(struct scnparse *p, const struct tok *t, int field, int events,
       struct scn_ref *r)
{
    const char *s = t->text;
    size_t n = strcspn(s, "[.");

    memset(r, 0, sizeof *r);
    snprintf(r->listing, sizeof r->listing, "%.*s", (int) n, s);
    if (!n || (!events && !scn_listing_find(r->listing))) {
        return sp_error_at(p, t->col, "expected a listing (%s), found "
                           "'%s'", scn_listing_names(), r->listing);
    }
    if (s[n] == '[') {
        const char *close = strchr(s + n, ']');

        if (!close) {
            return sp_error_at(p, t->col + (unsigned) strlen(s),
                               "expected ']' closing '[' at column %u",
                               t->col + (unsigned) n);
        }
        if (sp_selector(p, s + n + 1, (size_t) (close - s - n - 1),
                        t->col + (unsigned) n + 1, r)) {
            return -EINVAL;
        }
        n = (size_t) (close - s) + 1;
    }
    if (s[n] == '.' && field && s[n + 1]) {
        snprintf(r->field, sizeof r->field, "%s", s + n + 1);
        return 0;
    }
    if (s[n] || field) {
        return sp_error_at(p, t->col + (unsigned) n, "expected %s, found "
                           "'%s'", field ? "'.FIELD'" : "end of the word",
                           s + n);
    }
    return 0;
}

static int
sp_op(struct scnparse *p, enum scn_op *opp)
{
    for (enum scn_op op = SCN_EQ; op <= SCN_IN; op++) {
        if (sp_accept(p, scn_op_name(op))) {
            *opp = op;
            return 0;
        }
    }
    return sp_expected(p, "a comparison (== != < <= > >= ~ in)");
}

/* ---- Checks (expect, wait) ---- */

/* Is the current token the end of a check: the line's end or, in a
 * wait, "within". */
static int
sp_check_end(struct scnparse *p)
{
    return p->pos >= p->n
           || (!p->toks[p->pos].quoted
               && !strcmp(p->toks[p->pos].text, "within"));
}

static int
sp_check_order(struct scnparse *p, struct scn_check *c)
{
    c->kind = SCN_CHECK_ORDER;
    while (!sp_check_end(p)) {
        if (c->n_order == SCN_ORDER_MAX) {
            return sp_expected(p, "at most 8 events in an order");
        }
        if (sp_ref(p, &p->toks[p->pos], 0, 1, &c->order[c->n_order++])) {
            return -EINVAL;
        }
        p->pos++;
    }
    return c->n_order < 2 ? sp_expected(p, "another event (TYPE[KEY=VAL])")
                          : 0;
}

static int
sp_check(struct scnparse *p, struct scn_check *c)
{
    const struct tok *t;
    int count;

    memset(c, 0, sizeof *c);
    if (sp_accept(p, "alive") || sp_accept(p, "dead")) {
        c->kind = strcmp(p->toks[p->pos - 1].text, "alive")
                  ? SCN_CHECK_DEAD : SCN_CHECK_ALIVE;
        return sp_daemon(p, 0, c->daemon, sizeof c->daemon);
    }
    if (sp_accept(p, "order")) {
        return sp_check_order(p, c);
    }
    count = sp_accept(p, "count");
    c->kind = count ? SCN_CHECK_COUNT : SCN_CHECK_FIELD;
    t = sp_take(p, count ? "a listing" : "a check (LISTING[SEL].FIELD OP "
                "VALUE, count, alive, dead, order)");
    if (!t || sp_ref(p, t, !count, 0, &c->ref) || sp_op(p, &c->op)) {
        return -EINVAL;
    }
    t = sp_take(p, "a value");
    if (!t) {
        return -EINVAL;
    }
    snprintf(c->value, sizeof c->value, "%s", t->text);
    return 0;
}

/* ---- Statements ---- */

/* The line's tokens, variables expanded, as one line again: a quoted
 * token quoted again, its quotes and backslashes escaped. */
static void
sp_join(const struct scnparse *p, char *buf, size_t size)
{
    size_t len = 0;

    for (size_t i = 0; i < p->n; i++) {
        const struct tok *t = &p->toks[i];
        char q[2 * sizeof t->text + 3];
        size_t n = 0;

        q[n++] = t->quoted ? '"' : '\0';
        n -= !t->quoted;
        for (const char *c = t->text; *c; c++) {
            if (t->quoted && (*c == '"' || *c == '\\')) {
                q[n++] = '\\';
            }
            q[n++] = *c;
        }
        if (t->quoted) {
            q[n++] = '"';
        }
        q[n] = '\0';
        len += (size_t) snprintf(buf + len, size - len, "%s%s", i ? " " : "",
                                 q);
        if (len >= size) {
            return;
        }
    }
    buf[len] = '\0';
}

static struct scn_step *
sp_step(struct scnparse *p, enum scn_step_kind kind, const char *line)
{
    struct scn *s = p->scn;
    struct scn_step *steps = realloc(s->steps,
                                     (s->n_steps + 1) * sizeof *steps);

    if (!steps) {
        fx_err_set(p->err, -ENOMEM, "out of memory");
        return NULL;
    }
    s->steps = steps;
    memset(&steps[s->n_steps], 0, sizeof *steps);
    steps[s->n_steps].line = p->line;
    steps[s->n_steps].kind = kind;
    (void) line;
    sp_join(p, steps[s->n_steps].text, sizeof steps->text);
    return &steps[s->n_steps++];
}

/* The rest of the line as a fexctl command: GROUP WORD... */
static int
sp_command(struct scnparse *p, struct scn_step *st)
{
    size_t n = 0;

    sp_accept(p, "fexctl");
    if (p->pos >= p->n || !scn_group_known(p->toks[p->pos].text)) {
        return sp_expected(p, "a fexctl command (host, profile, vm, vif, "
                           "traffic, migrate, events)");
    }
    for (; p->pos < p->n; p->pos++) {
        if (n == SCN_ARGS_MAX) {
            return sp_expected(p, "at most 40 words");
        }
        st->argv[n] = strdup(p->toks[p->pos].text);
        if (!st->argv[n++]) {
            return fx_err_set(p->err, -ENOMEM, "out of memory");
        }
    }
    return 0;
}

static int
sp_stmt_command(struct scnparse *p, const char *line)
{
    struct scn_step *st = sp_step(p, SCN_STEP_CMD, line);

    p->pos = 0;
    return st ? sp_command(p, st) : -ENOMEM;
}

static int sp_stmt_wait(struct scnparse *p, const char *line);

/* try COMMAND: run, whatever its exit status (a race a scenario does not
 * decide, such as a daemon that dies before it answers); try wait ...: a
 * wait whose timeout is not a failure. */
static int
sp_stmt_try(struct scnparse *p, const char *line)
{
    struct scn_step *st;

    if (sp_accept(p, "wait")) {
        int rc = sp_stmt_wait(p, line);

        p->scn->steps[p->scn->n_steps - 1].lenient = 1;
        return rc;
    }
    st = sp_step(p, SCN_STEP_TRY, line);
    return st ? sp_command(p, st) : -ENOMEM;
}

/* expect ok [output TEXT] : COMMAND */
static int
sp_expect_ok(struct scnparse *p, const char *line)
{
    struct scn_step *st = sp_step(p, SCN_STEP_EXPECT_OK, line);
    const struct tok *t;

    if (!st) {
        return -ENOMEM;
    }
    if (sp_accept(p, "output")) {
        if (!(t = sp_take(p, "the text the output holds"))) {
            return -EINVAL;
        }
        snprintf(st->want_text, sizeof st->want_text, "%s", t->text);
    }
    if (!sp_accept(p, ":")) {
        return sp_expected(p, p->pos < p->n ? "':' before the command"
                                            : "': COMMAND'");
    }
    return sp_command(p, st);
}

/* expect fail [status N] [reason TEXT] : COMMAND, expect ok ..., or
 * expect CHECK. */
static int
sp_stmt_expect(struct scnparse *p, const char *line)
{
    struct scn_step *st;
    const struct tok *t;
    uint64_t v;

    if (sp_accept(p, "ok")) {
        return sp_expect_ok(p, line);
    }
    if (!sp_accept(p, "fail")) {
        st = sp_step(p, SCN_STEP_EXPECT, line);
        return !st || sp_check(p, &st->check) ? -EINVAL : sp_end(p);
    }
    st = sp_step(p, SCN_STEP_EXPECT_FAIL, line);
    if (!st) {
        return -ENOMEM;
    }
    st->fail_status = -1;
    if (sp_accept(p, "status")) {
        t = sp_take(p, "an exit status (1 failed, 2 refused as usage)");
        if (!t || sp_number(p, t->text, t->col, 1, 255, &v)) {
            return -EINVAL;
        }
        st->fail_status = (int) v;
    }
    if (sp_accept(p, "reason")) {
        t = sp_take(p, "the text the error holds");
        if (!t) {
            return -EINVAL;
        }
        snprintf(st->want_text, sizeof st->want_text, "%s", t->text);
    }
    if (!sp_accept(p, ":")) {
        return sp_expected(p, p->pos < p->n ? "':' before the command"
                                            : "': COMMAND'");
    }
    return sp_command(p, st);
}

static int
sp_stmt_wait(struct scnparse *p, const char *line)
{
    struct scn_step *st = sp_step(p, SCN_STEP_WAIT, line);

    if (!st || sp_check(p, &st->check)) {
        return -EINVAL;
    }
    if (!sp_accept(p, "within")) {
        return sp_expected(p, "'within DURATION'");
    }
    return sp_duration(p, &st->within_ms) ?: sp_end(p);
}

/* The fault verbs: which daemons each may name. */
static const struct {
    const char *word;
    enum scn_fault_kind kind;
    int agent;                   /* Hosts only. */
} sp_faults[] = {
    { "crash", SCN_FAULT_CRASH, 0 },
    { "kill", SCN_FAULT_KILL, 0 },
    { "restart", SCN_FAULT_RESTART, 0 },
    { "freeze", SCN_FAULT_FREEZE, 0 },
    { "thaw", SCN_FAULT_THAW, 0 },
    { "fail-resume", SCN_FAULT_FAIL_RESUME, 1 },
    { "link", SCN_FAULT_LINK_DOWN, 1 },
    { "arm", SCN_FAULT_ARM, 0 },
};

/* "at PHASE[:N]" after crash DAEMON. */
static int
sp_fault_at(struct scnparse *p, struct scn_fault *f)
{
    const struct tok *t = sp_take(p, "a migration phase");
    uint64_t nth = 1;
    size_t n;

    if (!t) {
        return -EINVAL;
    }
    n = strcspn(t->text, ":");
    snprintf(f->phase, sizeof f->phase, "%.*s", (int) n, t->text);
    if (!scn_phase_known(f->phase)
        || (strcmp(f->daemon, "fabricd") && !strcmp(f->phase, "begin"))) {
        p->pos--;
        return sp_expected(p, strcmp(f->daemon, "fabricd")
                              ? "an agent's phase (prepare, perform, "
                                "switchover, finish, confirm)"
                              : "a phase (begin, prepare, perform, "
                                "switchover, finish, confirm)");
    }
    if (t->text[n] && sp_number(p, t->text + n + 1, t->col + (unsigned) n
                                + 1, 1, 1000, &nth)) {
        return -EINVAL;
    }
    f->kind = SCN_FAULT_CRASH_AT;
    f->nth = (unsigned) nth;
    return sp_end(p);
}

/* link HOST down|up|delay MS [loss PCT]|loss PCT (netns labs). */
static int
sp_fault_link(struct scnparse *p, struct scn_fault *f, unsigned col)
{
    const struct tok *t;

    if (!p->scn->lab.netns) {
        return sp_error_at(p, col, "expected a netns lab for link faults "
                           "(add 'netns' to the lab line)");
    }
    if (sp_accept(p, "down") || sp_accept(p, "up")) {
        f->kind = strcmp(p->toks[p->pos - 1].text, "up")
                  ? SCN_FAULT_LINK_DOWN : SCN_FAULT_LINK_UP;
        return sp_end(p);
    }
    f->kind = SCN_FAULT_LINK_SHAPE;
    snprintf(f->delay, sizeof f->delay, "0");
    snprintf(f->loss, sizeof f->loss, "0");
    if (sp_accept(p, "delay")) {
        if (!(t = sp_take(p, "milliseconds"))) {
            return -EINVAL;
        }
        snprintf(f->delay, sizeof f->delay, "%s", t->text);
    }
    if (sp_accept(p, "loss")) {
        if (!(t = sp_take(p, "a percentage"))) {
            return -EINVAL;
        }
        snprintf(f->loss, sizeof f->loss, "%s", t->text);
    } else if (p->pos < p->n || !strcmp(f->delay, "0")) {
        return sp_expected(p, "down, up, delay MS or loss PCT");
    }
    return sp_end(p);
}

static int
sp_stmt_fault(struct scnparse *p, const char *line)
{
    struct scn_step *st = sp_step(p, SCN_STEP_FAULT, line);
    struct scn_fault *f;
    size_t i = 0;

    if (!st) {
        return -ENOMEM;
    }
    f = &st->fault;
    while (i < sizeof sp_faults / sizeof *sp_faults
           && !sp_accept(p, sp_faults[i].word)) {
        i++;
    }
    if (i == sizeof sp_faults / sizeof *sp_faults) {
        return sp_expected(p, "a fault (crash, kill, restart, freeze, "
                           "thaw, fail-resume, link, arm)");
    }
    f->kind = sp_faults[i].kind;
    if (sp_daemon(p, sp_faults[i].agent, f->daemon, sizeof f->daemon)) {
        return -EINVAL;
    }
    if (f->kind == SCN_FAULT_LINK_DOWN) {
        return sp_fault_link(p, f, p->toks[1].col);
    }
    if (f->kind == SCN_FAULT_CRASH && sp_accept(p, "at")) {
        return sp_fault_at(p, f);
    }
    if (f->kind == SCN_FAULT_ARM) {
        const struct tok *t = sp_take(p, "the daemon's --fault SPEC");

        if (!t) {
            return -EINVAL;
        }
        snprintf(f->spec, sizeof f->spec, "%s", t->text);
    }
    return sp_end(p);
}

/* ---- Header lines ---- */

static int
sp_stmt_name(struct scnparse *p, const char *line)
{
    const struct tok *t = sp_take(p, "the scenario's name");

    (void) line;
    if (!t) {
        return -EINVAL;
    }
    snprintf(p->scn->name, sizeof p->scn->name, "%s", t->text);
    return sp_end(p);
}

static int
sp_stmt_set(struct scnparse *p, const char *line)
{
    const struct tok *name = sp_take(p, "a variable name"), *val;
    struct var *v;

    (void) line;
    if (!name || !sp_accept(p, "=")) {
        return name ? sp_expected(p, "'='") : -EINVAL;
    }
    if (!(val = sp_take(p, "a value")) || sp_end(p)) {
        return -EINVAL;
    }
    v = sp_var_find(p, name->text, strlen(name->text));
    if (!v && p->n_vars == VAR_MAX) {
        return sp_error_at(p, name->col, "more than %d variables", VAR_MAX);
    }
    if (!v) {
        v = &p->vars[p->n_vars++];
    }
    snprintf(v->name, sizeof v->name, "%s", name->text);
    snprintf(v->value, sizeof v->value, "%s", val->text);
    return 0;
}

/* One "KEY=VALUE" (or "netns") of the lab line. */
static int
sp_lab_opt(struct scnparse *p, const struct tok *t)
{
    struct scn_lab *lab = &p->scn->lab;
    const char *eq = strchr(t->text, '=');
    const char *v = eq ? eq + 1 : "";
    unsigned col = t->col + (eq ? (unsigned) (eq - t->text) + 1 : 0);
    uint64_t n;
    int rc = 0;

    if (!strcmp(t->text, "netns")) {
        lab->netns = 1;
    } else if (!strncmp(t->text, "hosts=", 6)) {
        rc = sp_number(p, v, col, 1, 64, &n);
        lab->hosts = (unsigned) n;
    } else if (!strncmp(t->text, "vnics=", 6)) {
        rc = sp_number(p, v, col, 1, 4096, &n);
        lab->vnics = (unsigned) n;
    } else if (!strncmp(t->text, "memory=", 7)) {
        rc = sp_number(p, v, col, 1, 1ull << 32, &lab->memory_mib);
    } else if (!strncmp(t->text, "heartbeat-timeout=", 18)) {
        rc = sp_number(p, v, col, 30, 600000, &lab->hb_timeout_ms);
    } else if (!strncmp(t->text, "flavor=", 7)
               && (!strcmp(v, "kvm") || !strcmp(v, "vmware"))) {
        snprintf(lab->flavor, sizeof lab->flavor, "%s", v);
    } else if (!strncmp(t->text, "no-iommu=", 9) && *v
               && strlen(v) < sizeof lab->no_iommu) {
        snprintf(lab->no_iommu, sizeof lab->no_iommu, "%s", v);
    } else {
        return sp_error_at(p, t->col, "expected a lab option (hosts=N, "
                           "flavor=kvm|vmware, vnics=N, memory=MIB, "
                           "heartbeat-timeout=MS, no-iommu=H,..., netns), "
                           "found '%s'", t->text);
    }
    return rc;
}

static int
sp_stmt_lab(struct scnparse *p, const char *line)
{
    unsigned col = p->toks[0].col;

    (void) line;
    if (p->lab_seen || p->scn->n_steps) {
        return sp_error_at(p, col, "expected one lab line, before the "
                           "first step");
    }
    p->lab_seen = 1;
    while (p->pos < p->n) {
        if (sp_lab_opt(p, &p->toks[p->pos++])) {
            return -EINVAL;
        }
    }
    return 0;
}

/* The statements, by their first word; any other first word must be a
 * fexctl command group. */
static const struct {
    const char *word;
    int (*fn)(struct scnparse *, const char *line);
} sp_stmts[] = {
    { "name", sp_stmt_name },
    { "lab", sp_stmt_lab },
    { "set", sp_stmt_set },
    { "expect", sp_stmt_expect },
    { "try", sp_stmt_try },
    { "wait", sp_stmt_wait },
    { "fault", sp_stmt_fault },
};

static int
sp_line(struct scnparse *p, const char *line)
{
    int rc = sp_tokenize(p, line);

    if (rc || !p->n) {
        return rc;
    }
    for (size_t i = 0; i < sizeof sp_stmts / sizeof *sp_stmts; i++) {
        if (!p->toks[0].quoted && !strcmp(p->toks[0].text,
                                          sp_stmts[i].word)) {
            p->pos = 1;
            return sp_stmts[i].fn(p, line);
        }
    }
    if (!strcmp(p->toks[0].text, "fexctl")
        || scn_group_known(p->toks[0].text)) {
        return sp_stmt_command(p, line);
    }
    return sp_expected(p, "a step (a fexctl command, expect, try, wait, "
                       "fault) "
                       "or a header line (name, lab, set)");
}

/* The text of the line at 's' without its end, into 'buf'. */
static const char *
sp_next_line(struct scnparse *p, const char *s, char *buf, size_t size)
{
    size_t n = strcspn(s, "\n");

    if (n >= size) {
        sp_error_at(p, (unsigned) size, "line longer than %zu characters",
                    size - 1);
        return NULL;
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (n && buf[n - 1] == '\r') {
        buf[n - 1] = '\0';
    }
    return s + n + (s[n] == '\n');
}

/* The name a scenario has without a name line: its file's, no ".scn". */
static void
sp_default_name(struct scn *scn, const char *file)
{
    const char *base = strrchr(file, '/');
    size_t n;

    base = base ? base + 1 : file;
    n = strlen(base);
    if (n > 4 && !strcmp(base + n - 4, ".scn")) {
        n -= 4;
    }
    snprintf(scn->name, sizeof scn->name, "%.*s", (int) n, base);
}

int
scnparse_text(const char *file, const char *text, struct scn **scnp,
              struct fx_err *err)
{
    struct scnparse *p = calloc(1, sizeof *p);
    char *line = malloc(LINE_MAX_);
    const char *s = text;
    int rc = 0;

    *scnp = NULL;
    if (!p || !line || !(p->scn = calloc(1, sizeof *p->scn))) {
        rc = fx_err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    p->file = file;
    p->err = err;
    snprintf(p->scn->file, sizeof p->scn->file, "%s", file);
    sp_default_name(p->scn, file);
    p->scn->lab.hosts = 2;
    snprintf(p->scn->lab.flavor, sizeof p->scn->lab.flavor, "kvm");
    while (!rc && *s) {
        p->line++;
        s = sp_next_line(p, s, line, LINE_MAX_);
        rc = s ? sp_line(p, line) : -EINVAL;
    }
    if (!rc && !p->scn->n_steps) {
        p->line = 1;            /* The whole file is at fault. */
        rc = sp_error_at(p, 1, "expected at least one step, found none");
    }
    if (!rc) {
        *scnp = p->scn;
        p->scn = NULL;
    }
out:
    if (p) {
        scn_destroy(p->scn);
    }
    free(p);
    free(line);
    return rc;
}

int
scnparse_file(const char *path, struct scn **scnp, struct fx_err *err)
{
    FILE *f = fopen(path, "r");
    char *text;
    long size;
    int rc;

    *scnp = NULL;
    if (!f) {
        return fx_err_set(err, -errno, "cannot read '%s': %s", path,
                          strerror(errno));
    }
    if (fseek(f, 0, SEEK_END) || (size = ftell(f)) < 0
        || fseek(f, 0, SEEK_SET) || size > (1 << 20)) {
        fclose(f);
        return fx_err_set(err, -EFBIG, "'%s': not a file of at most 1 MiB",
                          path);
    }
    text = calloc(1, (size_t) size + 1);
    if (!text || fread(text, 1, (size_t) size, f) != (size_t) size) {
        fclose(f);
        free(text);
        return fx_err_set(err, -EIO, "cannot read '%s'", path);
    }
    fclose(f);
    rc = scnparse_text(path, text, scnp, err);
    free(text);
    return rc;
}
