#include "hv.h"

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
