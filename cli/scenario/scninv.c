/* scninv: the invariants, each a function over the four listings of one
 * moment (VMs, VIFs, hosts, migrations), run from a table. */
#include "scninv.h"

#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "scn.h"
#include "scncheck.h"
#include "scnexec.h"

/* The lab at one moment. */
struct snap {
    struct json_object *docs[4];
    struct json_object *vms, *vifs, *hosts, *migs;   /* Borrowed rows. */
};

static const char *
si_str(struct json_object *o, const char *key)
{
    struct json_object *v = json_object_object_get(o, key);

    return v ? json_object_get_string(v) : "";
}

static int64_t
si_int(struct json_object *o, const char *key)
{
    return json_object_get_int64(json_object_object_get(o, key));
}

/* The row of 'rows' whose 'key' is 'val' (a string), or NULL. */
static struct json_object *
si_find(struct json_object *rows, const char *key, const char *val)
{
    for (size_t i = 0; i < json_object_array_length(rows); i++) {
        struct json_object *r = json_object_array_get_idx(rows, i);

        if (!strcmp(si_str(r, key), val)) {
            return r;
        }
    }
    return NULL;
}

static struct json_object *
si_find_id(struct json_object *rows, int64_t id)
{
    for (size_t i = 0; i < json_object_array_length(rows); i++) {
        struct json_object *r = json_object_array_get_idx(rows, i);

        if (si_int(r, "id") == id) {
            return r;
        }
    }
    return NULL;
}

/* A VM listed once; a running one on a host the fabric lists. */
static int
si_vm_once(const struct snap *s, const struct scn_step *step, char *why,
           size_t size)
{
    (void) step;
    for (size_t i = 0; i < json_object_array_length(s->vms); i++) {
        struct json_object *v = json_object_array_get_idx(s->vms, i);
        const char *name = si_str(v, "name");

        if (si_find(s->vms, "name", name) != v) {
            return snprintf(why, size, "VM '%s' is listed twice", name), 1;
        }
        if (!strcmp(si_str(v, "state"), "running")
            && !si_find(s->hosts, "name", si_str(v, "host"))) {
            return snprintf(why, size, "VM '%s' runs on no known host "
                            "('%s')", name, si_str(v, "host")), 1;
        }
    }
    return 0;
}

/* Each NIC of a VM is its VIF in the table; each VIF's VM exists. */
static int
si_vifs_match(const struct snap *s, const struct scn_step *step, char *why,
              size_t size)
{
    (void) step;
    for (size_t i = 0; i < json_object_array_length(s->vms); i++) {
        struct json_object *v = json_object_array_get_idx(s->vms, i);
        struct json_object *nics = json_object_object_get(v, "nics");
        int running = !strcmp(si_str(v, "state"), "running");

        for (size_t k = 0; nics && k < json_object_array_length(nics); k++) {
            struct json_object *n = json_object_array_get_idx(nics, k);
            struct json_object *f = si_find_id(s->vifs, si_int(n, "id"));

            if (!f || strcmp(si_str(f, "mac"), si_str(n, "mac"))
                || strcmp(si_str(f, "vm"), si_str(v, "name"))) {
                return snprintf(why, size, "VIF %lld of VM '%s' lost from "
                                "the VIF table", (long long) si_int(n, "id"),
                                si_str(v, "name")), 1;
            }
            if (running && strcmp(si_str(f, "host"), si_str(v, "host"))) {
                return snprintf(why, size, "VIF %lld of VM '%s' is on %s, "
                                "the VM runs on %s",
                                (long long) si_int(f, "id"), si_str(v, "name"),
                                si_str(f, "host"), si_str(v, "host")), 1;
            }
        }
    }
    for (size_t i = 0; i < json_object_array_length(s->vifs); i++) {
        struct json_object *f = json_object_array_get_idx(s->vifs, i);

        if (si_str(f, "vm")[0] && !si_find(s->vms, "name", si_str(f, "vm"))) {
            return snprintf(why, size, "VIF %lld names VM '%s', which does "
                            "not exist", (long long) si_int(f, "id"),
                            si_str(f, "vm")), 1;
        }
    }
    return 0;
}

/* Whether 'step' may remove VM 'vm''s VIFs: vm delete VM, vm nic VM. */
static int
si_removes(const struct scn_step *step, const char *vm)
{
    return step && step->kind == SCN_STEP_CMD && step->argv[0]
           && !strcmp(step->argv[0], "vm") && step->argv[1]
           && (!strcmp(step->argv[1], "delete")
               || !strcmp(step->argv[1], "nic"))
           && step->argv[2] && !strcmp(step->argv[2], vm);
}

/* On each host up, the vNICs in use are its VIFs. */
static int
si_vnics(const struct snap *s, const struct scn_step *step, char *why,
         size_t size)
{
    (void) step;
    for (size_t i = 0; i < json_object_array_length(s->hosts); i++) {
        struct json_object *h = json_object_array_get_idx(s->hosts, i);
        int64_t used = si_int(h, "vnics_total") - si_int(h, "vnics_free");
        int64_t vifs = 0;

        if (strcmp(si_str(h, "state"), "up")) {
            continue;
        }
        for (size_t k = 0; k < json_object_array_length(s->vifs); k++) {
            struct json_object *f = json_object_array_get_idx(s->vifs, k);

            vifs += !strcmp(si_str(f, "host"), si_str(h, "name"));
        }
        if (used != vifs) {
            return snprintf(why, size, "host %s has %lld vNICs in use for "
                            "%lld VIFs: %s", si_str(h, "name"),
                            (long long) used, (long long) vifs,
                            used > vifs ? "vNICs leaked" : "VIFs without "
                            "a vNIC"), 1;
        }
    }
    return 0;
}

static int (*const si_rules[])(const struct snap *, const struct scn_step *,
                               char *, size_t) = {
    si_vm_once, si_vifs_match, si_vnics,
};

/* A VIF seen at the last settled moment is still there, unless its VM
 * went or the step removed it. */
static int
si_vifs_kept(const struct scninv *inv, const struct snap *s,
             const struct scn_step *step, char *why, size_t size)
{
    struct json_object *rows = inv->vifs
                               ? json_object_object_get(inv->vifs, "vifs")
                               : NULL;

    for (size_t i = 0; rows && i < json_object_array_length(rows); i++) {
        struct json_object *f = json_object_array_get_idx(rows, i);
        const char *vm = si_str(f, "vm");

        if (vm[0] && si_find(s->vms, "name", vm) && !si_removes(step, vm)
            && !si_find_id(s->vifs, si_int(f, "id"))) {
            return snprintf(why, size, "VIF %lld of VM '%s' was lost",
                            (long long) si_int(f, "id"), vm), 1;
        }
    }
    return 0;
}

static int
si_final(const char *state)
{
    return !strcmp(state, "completed") || !strcmp(state, "failed")
           || !strcmp(state, "cancelled") || !strcmp(state, "resolved");
}

/* Reads the four listings; 0, or SCNINV_UNSETTLED with 'why'. */
static int
si_snap(const struct scnexec *x, struct snap *s, char *why, size_t size)
{
    static const char *const names[] = { "vm", "vif", "host", "migration" };
    struct json_object **rows[] = { &s->vms, &s->vifs, &s->hosts, &s->migs };

    memset(s, 0, sizeof *s);
    for (size_t i = 0; i < 4; i++) {
        s->docs[i] = scncheck_listing(x, names[i], rows[i], why, size);
        if (!s->docs[i]) {
            return SCNINV_UNSETTLED;
        }
    }
    for (size_t i = 0; i < json_object_array_length(s->migs); i++) {
        struct json_object *m = json_object_array_get_idx(s->migs, i);

        if (!si_final(si_str(m, "state"))) {
            return snprintf(why, size, "migration %lld of '%s' is %s",
                            (long long) si_int(m, "id"), si_str(m, "vm"),
                            si_str(m, "state")), SCNINV_UNSETTLED;
        }
    }
    return 0;
}

int
scninv_check(struct scninv *inv, const struct scnexec *x,
             const struct scn_step *step, char *why, size_t size)
{
    struct snap s;
    int rc = si_snap(x, &s, why, size);

    for (size_t i = 0; !rc && i < sizeof si_rules / sizeof *si_rules; i++) {
        rc = si_rules[i](&s, step, why, size) ? SCNINV_VIOLATED : 0;
    }
    if (!rc) {
        rc = si_vifs_kept(inv, &s, step, why, size) ? SCNINV_VIOLATED : 0;
    }
    if (!rc) {
        json_object_put(inv->vifs);
        inv->vifs = json_object_get(s.docs[1]);
    }
    for (size_t i = 0; i < 4; i++) {
        json_object_put(s.docs[i]);
    }
    return rc;
}

void
scninv_uninit(struct scninv *inv)
{
    json_object_put(inv->vifs);
    inv->vifs = NULL;
}
