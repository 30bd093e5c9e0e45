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

/* ---- Domains ---- */

/* Looks 'name' up; NULL with 'err' filled (-ENOENT) if libvirt has no such
 * domain.  The caller frees the domain with virDomainFree(). */
static virDomainPtr
hvl_domain(virConnectPtr conn, const char *name, struct fx_err *err)
{
    virDomainPtr dom = virDomainLookupByName(conn, name);

    if (!dom) {
        fx_err_set(err, -ENOENT, "libvirt has no domain '%s'", name);
    }
    return dom;
}

static int
hvl_define(void *state, const char *xml, struct fx_err *err)
{
    virDomainPtr dom = virDomainDefineXMLFlags(state, xml,
                                               VIR_DOMAIN_DEFINE_VALIDATE);

    if (!dom) {
        return hvl_error(err, -EINVAL, "libvirt refused the domain");
    }
    virDomainFree(dom);
    return 0;
}

static int
hvl_get_xml(void *state, const char *name, int inactive, char **xmlp,
            struct fx_err *err)
{
    virDomainPtr dom = hvl_domain(state, name, err);

    if (!dom) {
        return -ENOENT;
    }
    *xmlp = virDomainGetXMLDesc(dom, inactive ? VIR_DOMAIN_XML_INACTIVE : 0);
    virDomainFree(dom);
    return *xmlp ? 0 : hvl_error(err, -EIO, "cannot read domain XML");
}

/* Runs 'op' on domain 'name'; 'what' words the error. */
static int
hvl_domain_op(void *state, const char *name, int (*op)(virDomainPtr),
              const char *what, struct fx_err *err)
{
    virDomainPtr dom = hvl_domain(state, name, err);
    char msg[120];
    int rc;

    if (!dom) {
        return -ENOENT;
    }
    rc = op(dom);
    virDomainFree(dom);
    if (rc < 0) {
        snprintf(msg, sizeof msg, "cannot %s domain '%s'", what, name);
        return hvl_error(err, -EIO, msg);
    }
    return 0;
}

static int
hvl_start(void *state, const char *name, struct fx_err *err)
{
    return hvl_domain_op(state, name, virDomainCreate, "start", err);
}

static int
hvl_stop(void *state, const char *name, struct fx_err *err)
{
    return hvl_domain_op(state, name, virDomainDestroy, "stop", err);
}

static int
hvl_undefine_all(virDomainPtr dom)
{
    return virDomainUndefineFlags(dom,
                                  VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA);
}

static int
hvl_undefine(void *state, const char *name, struct fx_err *err)
{
    return hvl_domain_op(state, name, hvl_undefine_all, "undefine", err);
}

static int
hvl_is_active(void *state, const char *name, int *activep,
              struct fx_err *err)
{
    virDomainPtr dom = hvl_domain(state, name, err);

    if (!dom) {
        return -ENOENT;
    }
    *activep = virDomainIsActive(dom) == 1;
    virDomainFree(dom);
    return 0;
}

static int
hvl_snapshot(void *state, const char *name, unsigned *np, struct fx_err *err)
{
    virDomainPtr dom = hvl_domain(state, name, err);
    virDomainSnapshotPtr snap;
    int n;

    if (!dom) {
        return -ENOENT;
    }
    snap = virDomainSnapshotCreateXML(dom, "<domainsnapshot/>", 0);
    n = snap ? virDomainSnapshotNum(dom, 0) : -1;
    if (snap) {
        virDomainSnapshotFree(snap);
    }
    virDomainFree(dom);
    if (n < 0) {
        return hvl_error(err, -EIO, "cannot snapshot domain");
    }
    *np = (unsigned) n;
    return 0;
}

static int
hvl_list(void *state, unsigned flags, char ***namesp, size_t *np,
         struct fx_err *err)
{
    virDomainPtr *doms;
    int n = virConnectListAllDomains(state, &doms, flags);

    if (n < 0) {
        return hvl_error(err, -EIO, "cannot list domains");
    }
    *namesp = calloc((size_t) n + 1, sizeof **namesp);
    if (!*namesp) {
        abort();
    }
    for (int i = 0; i < n; i++) {
        (*namesp)[i] = strdup(virDomainGetName(doms[i]));
        virDomainFree(doms[i]);
    }
    free(doms);
    *np = (size_t) n;
    return 0;
}

static int
hvl_list_active(void *state, char ***namesp, size_t *np, struct fx_err *err)
{
    return hvl_list(state, VIR_CONNECT_LIST_DOMAINS_ACTIVE, namesp, np, err);
}

static int
hvl_list_all(void *state, char ***namesp, size_t *np, struct fx_err *err)
{
    return hvl_list(state, VIR_CONNECT_LIST_DOMAINS_PERSISTENT, namesp, np,
                    err);
}

const struct hv_class hv_libvirt_class = {
    .name = "libvirt",
    .open = hvl_open,
    .close = hvl_close,
    .info = hvl_info,
    .define = hvl_define,
    .get_xml = hvl_get_xml,
    .start = hvl_start,
    .stop = hvl_stop,
    .undefine = hvl_undefine,
    .is_active = hvl_is_active,
    .snapshot = hvl_snapshot,
    .list_active = hvl_list_active,
    .list_all = hvl_list_all,
};
