/* The libvirt provider of hv.h: the only file that includes libvirt. */
#include "hv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "fx_err.h"

/* libvirt prints every error to stderr by default; we report errors
 * ourselves, once, at the edge. */
static void
hvl_quiet(void *arg, virErrorPtr e)
{
    (void) arg;
    (void) e;
}

/* Turns libvirt's last error into 'err', prefixed by 'what'. */
static int
hvl_error(struct fx_err *err, int code, const char *what)
{
    virErrorPtr e = virGetLastError();

    return fx_err_set(err, code, "%s: %s", what,
                      e && e->message ? e->message : "unknown libvirt error");
}

static int
hvl_open(const char *uri, void **statep, struct fx_err *err)
{
    virConnectPtr conn;

    virSetErrorFunc(NULL, hvl_quiet);
    conn = virConnectOpen(uri);
    if (!conn) {
        char what[300];

        snprintf(what, sizeof what, "cannot open libvirt '%s'", uri);
        return hvl_error(err, -EIO, what);
    }
    *statep = conn;
    return 0;
}

static void
hvl_close(void *state)
{
    if (state) {
        virConnectClose(state);
    }
}

static int
hvl_info(void *state, struct hv_info *info, struct fx_err *err)
{
    virConnectPtr conn = state;
    unsigned long ver = 0;
    const char *type = virConnectGetType(conn);
    char *uri;

    if (!type || virConnectGetVersion(conn, &ver) < 0) {
        return hvl_error(err, -EIO, "cannot read hypervisor version");
    }
    snprintf(info->type, sizeof info->type, "%s", type);
    snprintf(info->version, sizeof info->version, "%lu.%lu.%lu",
             ver / 1000000, ver / 1000 % 1000, ver % 1000);
    uri = virConnectGetURI(conn);
    snprintf(info->uri, sizeof info->uri, "%s", uri ? uri : "");
    free(uri);
    return 0;
}

const struct hv_class hv_libvirt_class = {
    .name = "libvirt",
    .open = hvl_open,
    .close = hvl_close,
    .info = hvl_info,
};
