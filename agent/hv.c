#include "hv.h"

#include <errno.h>
#include <stdlib.h>

#include "fx_err.h"

struct hv {
    const struct hv_class *cls;
    void *state;
};

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
    *hvp = hv;
    return 0;
}

void
hv_close(struct hv *hv)
{
    if (hv) {
        hv->cls->close(hv->state);
        free(hv);
    }
}

int
hv_get_info(struct hv *hv, struct hv_info *info, struct fx_err *err)
{
    return hv->cls->info(hv->state, info, err);
}

int
hv_define(struct hv *hv, const char *xml, struct fx_err *err)
{
    return hv->cls->define(hv->state, xml, err);
}

int
hv_get_xml(struct hv *hv, const char *name, int inactive, char **xmlp,
           struct fx_err *err)
{
    return hv->cls->get_xml(hv->state, name, inactive, xmlp, err);
}

int
hv_start(struct hv *hv, const char *name, struct fx_err *err)
{
    return hv->cls->start(hv->state, name, err);
}

int
hv_stop(struct hv *hv, const char *name, struct fx_err *err)
{
    return hv->cls->stop(hv->state, name, err);
}

int
hv_undefine(struct hv *hv, const char *name, struct fx_err *err)
{
    return hv->cls->undefine(hv->state, name, err);
}

int
hv_is_active(struct hv *hv, const char *name, int *activep,
             struct fx_err *err)
{
    return hv->cls->is_active(hv->state, name, activep, err);
}

int
hv_snapshot(struct hv *hv, const char *name, unsigned *np,
            struct fx_err *err)
{
    return hv->cls->snapshot(hv->state, name, np, err);
}

int
hv_list_active(struct hv *hv, char ***namesp, size_t *np,
               struct fx_err *err)
{
    return hv->cls->list_active(hv->state, namesp, np, err);
}

int
hv_list_all(struct hv *hv, char ***namesp, size_t *np, struct fx_err *err)
{
    return hv->cls->list_all(hv->state, namesp, np, err);
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
    return hv->cls->suspend(hv->state, name, err);
}

int
hv_resume(struct hv *hv, const char *name, struct fx_err *err)
{
    return hv->cls->resume(hv->state, name, err);
}

int
hv_migrate(struct hv *hv, const char *name, const char *dst_uri,
           const char *mig_uri, unsigned mib_per_s, struct hv_mig_stats *st,
           struct fx_err *err)
{
    if (!hv->cls->migrate) {
        return fx_err_set(err, -ENOTSUP, "hypervisor '%s' cannot migrate",
                          hv->cls->name);
    }
    return hv->cls->migrate(hv->state, name, dst_uri, mig_uri, mib_per_s,
                            st, err);
}

int
hv_migrate_speed(struct hv *hv, const char *name, unsigned mib_per_s,
                 struct fx_err *err)
{
    return hv->cls->migrate_speed(hv->state, name, mib_per_s, err);
}

int
hv_abort_job(struct hv *hv, const char *name, struct fx_err *err)
{
    return hv->cls->abort_job(hv->state, name, err);
}

int
hv_job_progress(struct hv *hv, const char *name, unsigned *iterp,
                uint64_t *remainingp, uint64_t *totalp, struct fx_err *err)
{
    return hv->cls->job_progress(hv->state, name, iterp, remainingp, totalp,
                                 err);
}
