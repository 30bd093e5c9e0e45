#include "hv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fx_err.h"

struct hv {
    const struct hv_class *cls;
    void *state;
    char *uri;                     /* Owned: for hv_open_again(). */
};

/* The provider's state for one call (struct hv_class's hold). */
static void *
hv_hold(struct hv *hv)
{
    return hv->cls->hold ? hv->cls->hold(hv->state) : hv->state;
}

static void
hv_put(struct hv *hv, void *held)
{
    if (hv->cls->put) {
        hv->cls->put(hv->state, held);
    }
}

int
hv_open(const struct hv_class *cls, const char *uri, struct hv **hvp,
        struct fx_err *err)
{
    struct hv *hv = calloc(1, sizeof *hv);
    int rc;

    if (!hv) {
        abort();
    }
    hv->cls = cls;
    rc = cls->open(uri, &hv->state, err);
    if (rc) {
        free(hv);
        return rc;
    }
    hv->uri = strdup(uri);
    if (!hv->uri) {
        abort();
    }
    *hvp = hv;
    return 0;
}

int
hv_open_again(const struct hv *hv, struct hv **hvp, struct fx_err *err)
{
    return hv_open(hv->cls, hv->uri, hvp, err);
}

void
hv_close(struct hv *hv)
{
    if (hv) {
        hv->cls->close(hv->state);
        free(hv->uri);
        free(hv);
    }
}

int
hv_probe(struct hv *hv, struct fx_err *err)
{
    return hv->cls->probe ? hv->cls->probe(hv->state, err) : 0;
}

int
hv_get_info(struct hv *hv, struct hv_info *info, struct fx_err *err)
{
    void *s = hv_hold(hv);
    int rc = hv->cls->info(s, info, err);

    hv_put(hv, s);
    return rc;
}

int
hv_define(struct hv *hv, const char *xml, struct fx_err *err)
{
    void *s = hv_hold(hv);
    int rc = hv->cls->define(s, xml, err);

    hv_put(hv, s);
    return rc;
}

int
hv_get_xml(struct hv *hv, const char *name, int inactive, char **xmlp,
           struct fx_err *err)
{
    void *s = hv_hold(hv);
    int rc = hv->cls->get_xml(s, name, inactive, xmlp, err);

    hv_put(hv, s);
    return rc;
}

int
hv_start(struct hv *hv, const char *name, struct fx_err *err)
{
    void *s = hv_hold(hv);
    int rc = hv->cls->start(s, name, err);

    hv_put(hv, s);
    return rc;
}

int
hv_stop(struct hv *hv, const char *name, struct fx_err *err)
{
    void *s = hv_hold(hv);
    int rc = hv->cls->stop(s, name, err);

    hv_put(hv, s);
    return rc;
}

int
hv_undefine(struct hv *hv, const char *name, struct fx_err *err)
{
    void *s = hv_hold(hv);
    int rc = hv->cls->undefine(s, name, err);

    hv_put(hv, s);
    return rc;
}

int
hv_is_active(struct hv *hv, const char *name, int *activep,
             struct fx_err *err)
{
    void *s = hv_hold(hv);
    int rc = hv->cls->is_active(s, name, activep, err);

    hv_put(hv, s);
    return rc;
}

int
hv_is_running(struct hv *hv, const char *name, int *runningp,
              struct fx_err *err)
{
    void *s;
    int rc;

    if (!hv->cls->is_running) {
        return fx_err_set(err, -ENOTSUP, "the hypervisor cannot tell a "
                          "paused domain");
    }
    s = hv_hold(hv);
    rc = hv->cls->is_running(s, name, runningp, err);
    hv_put(hv, s);
    return rc;
}

int
hv_snapshot(struct hv *hv, const char *name, unsigned *np,
            struct fx_err *err)
{
    void *s = hv_hold(hv);
    int rc = hv->cls->snapshot(s, name, np, err);

    hv_put(hv, s);
    return rc;
}

int
hv_list_active(struct hv *hv, char ***namesp, size_t *np,
               struct fx_err *err)
{
    void *s = hv_hold(hv);
    int rc = hv->cls->list_active(s, namesp, np, err);

    hv_put(hv, s);
    return rc;
}

int
hv_list_all(struct hv *hv, char ***namesp, size_t *np, struct fx_err *err)
{
    void *s = hv_hold(hv);
    int rc = hv->cls->list_all(s, namesp, np, err);

    hv_put(hv, s);
    return rc;
}

void
hv_free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(names[i]);
    }
    free(names);
}

int
hv_suspend(struct hv *hv, const char *name, struct fx_err *err)
{
    void *s = hv_hold(hv);
    int rc = hv->cls->suspend(s, name, err);

    hv_put(hv, s);
    return rc;
}

int
hv_resume(struct hv *hv, const char *name, struct fx_err *err)
{
    void *s = hv_hold(hv);
    int rc = hv->cls->resume(s, name, err);

    hv_put(hv, s);
    return rc;
}

int
hv_migrate(struct hv *hv, const char *name, const char *dst_uri,
           const char *mig_uri, unsigned mib_per_s, struct hv_mig_stats *st,
           struct fx_err *err)
{
    void *s;
    int rc;

    if (!hv->cls->migrate) {
        return fx_err_set(err, -ENOTSUP, "hypervisor '%s' cannot migrate",
                          hv->cls->name);
    }
    s = hv_hold(hv);
    rc = hv->cls->migrate(s, name, dst_uri, mig_uri, mib_per_s, st, err);

    hv_put(hv, s);
    return rc;
}

int
hv_migrate_speed(struct hv *hv, const char *name, unsigned mib_per_s,
                 struct fx_err *err)
{
    void *s = hv_hold(hv);
    int rc = hv->cls->migrate_speed(s, name, mib_per_s, err);

    hv_put(hv, s);
    return rc;
}

int
hv_abort_job(struct hv *hv, const char *name, struct fx_err *err)
{
    void *s = hv_hold(hv);
    int rc = hv->cls->abort_job(s, name, err);

    hv_put(hv, s);
    return rc;
}

int
hv_job_progress(struct hv *hv, const char *name, unsigned *iterp,
                uint64_t *remainingp, uint64_t *totalp, struct fx_err *err)
{
    void *s = hv_hold(hv);
    int rc = hv->cls->job_progress(s, name, iterp, remainingp, totalp,
                                   err);

    hv_put(hv, s);
    return rc;
}
