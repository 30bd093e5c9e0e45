/* scncheck: a check is read from fexctl's JSON: the listing's rows, the
 * last row its selectors match (the newest migration of a VM), the field's
 * value as text; numbers compare as numbers (with a unit, 5s, scaled to
 * the field's _ms or _us), anything else as text. */
#include "scncheck.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "fx_err.h"
#include "scn.h"
#include "scnexec.h"

#define CHECK_TIMEOUT_MS 30000

/* A JSON value as text: strings bare, others as JSON. */
static void
sc_text(struct json_object *v, char *buf, size_t size)
{
    if (!v) {
        snprintf(buf, size, "<none>");
    } else if (json_object_is_type(v, json_type_string)) {
        snprintf(buf, size, "%s", json_object_get_string(v));
    } else {
        snprintf(buf, size, "%s", json_object_to_json_string_ext(
                                      v, JSON_C_TO_STRING_PLAIN));
    }
}

struct json_object *
scncheck_listing(const struct scnexec *x, const char *name,
                 struct json_object **rowsp, char *why, size_t size)
{
    const struct scn_listing *l = scn_listing_find(name);
    struct json_object *doc = NULL;
    struct scnexec_out o;
    struct fx_err err;

    *rowsp = NULL;
    if (scnexec_run(x, (char *const *) l->argv, 1, CHECK_TIMEOUT_MS, &o,
                    &err)) {
        snprintf(why, size, "%s", err.msg);
    } else if (o.status) {
        snprintf(why, size, "%s %s: %s", l->argv[0], l->argv[1], o.err);
    } else if (!(doc = json_tokener_parse(o.out))) {
        snprintf(why, size, "%s %s: not JSON", l->argv[0], l->argv[1]);
    } else {
        *rowsp = l->rows ? json_object_object_get(doc, l->rows) : doc;
        if (!json_object_is_type(*rowsp, json_type_array)) {
            snprintf(why, size, "%s %s: no rows", l->argv[0], l->argv[1]);
            json_object_put(doc);
            doc = NULL;
            *rowsp = NULL;
        }
    }
    scnexec_out_free(&o);
    return doc;
}

/* Whether 'row' matches every selector of 'r' (a bare value matches
 * 'key'). */
static int
sc_match(struct json_object *row, const struct scn_ref *r, const char *key)
{
    char val[256];

    for (size_t i = 0; i < r->n_sel; i++) {
        const char *k = r->sel[i].key[0] ? r->sel[i].key : key;

        sc_text(json_object_object_get(row, k), val, sizeof val);
        if (strcmp(val, r->sel[i].val)) {
            return 0;
        }
    }
    return 1;
}

/* 'text' as a number; with a unit (us, ms, s, m), scaled to the unit the
 * field's name ends with (_us, _ms; seconds otherwise). */
static int
sc_number(const char *text, const char *field, double *vp)
{
    static const struct { const char *unit; double us; } units[] = {
        { "", 0 }, { "us", 1 }, { "ms", 1e3 }, { "s", 1e6 }, { "m", 6e7 },
    };
    size_t flen = strlen(field);
    double scale = flen > 3 && !strcmp(field + flen - 3, "_us") ? 1
                   : flen > 3 && !strcmp(field + flen - 3, "_ms") ? 1e3
                   : 1e6;
    char *end;
    double v;

    errno = 0;
    v = strtod(text, &end);
    if (end == text || errno || !isfinite(v)) {
        return 0;
    }
    for (size_t i = 0; i < sizeof units / sizeof *units; i++) {
        if (!strcmp(end, units[i].unit)) {
            *vp = units[i].us ? v * units[i].us / scale : v;
            return 1;
        }
    }
    return 0;
}

/* 'have' OP 'want'. */
static int
sc_compare(const char *have, enum scn_op op, const char *want,
           const char *field)
{
    double a, b;
    int cmp;

    if (op == SCN_HAS) {
        return strstr(have, want) != NULL;
    }
    if (op == SCN_IN) {
        for (const char *p = want; *p; ) {
            size_t n = strcspn(p, "|");

            if (strlen(have) == n && !strncmp(have, p, n)) {
                return 1;
            }
            p += n + (p[n] == '|');
        }
        return 0;
    }
    if (sc_number(have, "", &a) && sc_number(want, field, &b)) {
        cmp = a < b ? -1 : a > b;
    } else {
        cmp = strcmp(have, want);
    }
    switch (op) {
    case SCN_EQ: return cmp == 0;
    case SCN_NE: return cmp != 0;
    case SCN_LT: return cmp < 0;
    case SCN_LE: return cmp <= 0;
    case SCN_GT: return cmp > 0;
    default: return cmp >= 0;
    }
}

/* LISTING[SEL].FIELD OP VALUE, or count LISTING[SEL] OP VALUE. */
static int
sc_field(const struct scnexec *x, const struct scn_check *c, char *seen,
         size_t size)
{
    const struct scn_listing *l = scn_listing_find(c->ref.listing);
    struct json_object *rows, *doc, *last = NULL;
    char have[256];
    size_t count = 0;
    int ok;

    doc = scncheck_listing(x, c->ref.listing, &rows, seen, size);
    if (!doc) {
        return 0;
    }
    for (size_t i = 0; i < json_object_array_length(rows); i++) {
        struct json_object *row = json_object_array_get_idx(rows, i);

        if (sc_match(row, &c->ref, l->key)) {
            last = row;
            count++;
        }
    }
    if (c->kind == SCN_CHECK_COUNT) {
        snprintf(have, sizeof have, "%zu", count);
    } else {
        sc_text(last ? json_object_object_get(last, c->ref.field) : NULL,
                have, sizeof have);
    }
    ok = (last || c->kind == SCN_CHECK_COUNT)
         && sc_compare(have, c->op, c->value, c->ref.field);
    snprintf(seen, size, last || c->kind == SCN_CHECK_COUNT
                         ? "'%s'" : "no row matches%.0s", have);
    json_object_put(doc);
    return ok;
}

/* alive/dead DAEMON: as `lab status` sees it (a zombie is dead). */
static int
sc_alive(const struct scnexec *x, const struct scn_check *c, char *seen,
         size_t size)
{
    char *args[] = { "lab", "status", "--dir", (char *) x->lab, NULL };
    struct json_object *doc, *ds;
    struct scnexec_out o;
    struct fx_err err;
    int alive = -1;

    if (scnexec_run(x, args, 0, CHECK_TIMEOUT_MS, &o, &err)) {
        snprintf(seen, size, "%s", err.msg);
        return 0;
    }
    doc = json_tokener_parse(o.out);
    ds = doc ? json_object_object_get(doc, "daemons") : NULL;
    for (size_t i = 0; ds && i < json_object_array_length(ds); i++) {
        struct json_object *d = json_object_array_get_idx(ds, i);
        char name[64];

        sc_text(json_object_object_get(d, "name"), name, sizeof name);
        if (!strcmp(name, c->daemon)) {
            alive = json_object_get_boolean(json_object_object_get(d,
                                                                   "alive"));
        }
    }
    snprintf(seen, size, alive < 0 ? "lab status: %s" : "%.0s%s", o.err,
             alive > 0 ? "alive" : "dead");
    json_object_put(doc);
    scnexec_out_free(&o);
    return alive >= 0 && alive == (c->kind == SCN_CHECK_ALIVE);
}

/* order EV EV...: each pattern matched by an event after the one that
 * matched the one before it. */
static int
sc_order(const struct scnexec *x, const struct scn_check *c, char *seen,
         size_t size)
{
    char *args[] = { "events", "--since", "0", "--until-now", NULL };
    struct scnexec_out o;
    struct fx_err err;
    size_t k = 0;
    char *line, *save = NULL;

    if (scnexec_run(x, args, 1, CHECK_TIMEOUT_MS, &o, &err) || o.status) {
        snprintf(seen, size, "events: %s", o.err ? o.err : err.msg);
        scnexec_out_free(&o);
        return 0;
    }
    for (line = strtok_r(o.out, "\n", &save); line && k < c->n_order;
         line = strtok_r(NULL, "\n", &save)) {
        struct json_object *e = json_tokener_parse(line);
        char type[64];

        sc_text(e ? json_object_object_get(e, "type") : NULL, type,
                sizeof type);
        k += e && !strcmp(type, c->order[k].listing)
             && sc_match(e, &c->order[k], "vm");
        json_object_put(e);
    }
    if (k < c->n_order) {
        snprintf(seen, size, "%s%s%s not seen after it",
                 k ? c->order[k - 1].listing : "", k ? " seen, " : "",
                 c->order[k].listing);
    } else {
        snprintf(seen, size, "in that order");
    }
    scnexec_out_free(&o);
    return k == c->n_order;
}

int
scncheck_eval(const struct scnexec *x, const struct scn_check *c,
              char *seen, size_t size)
{
    switch (c->kind) {
    case SCN_CHECK_FIELD:
    case SCN_CHECK_COUNT:
        return sc_field(x, c, seen, size);
    case SCN_CHECK_ALIVE:
    case SCN_CHECK_DEAD:
        return sc_alive(x, c, seen, size);
    default:
        return sc_order(x, c, seen, size);
    }
}
