/* The libvirt provider of hv.h: the only file that includes libvirt. */
#include "hv.h"

#include <errno.h>
#include <pthread.h>
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

/* The provider's state: the connection, opened again when libvirtd went
 * away and came back (killed, restarted), so that the agent outlives its
 * libvirtd.  The lock guards 'conn' and 'reopened': a migration's thread
 * (hvmig.h) uses the connection beside the loop, each through a
 * reference of its own (hvl_hold), so a reopen never frees one in use. */
struct hvl {
    pthread_mutex_t lock;
    virConnectPtr conn;            /* Owned: one reference. */
    int reopened;                  /* Since the last probe. */
    char uri[4200];
};

static int
hvl_open(const char *uri, void **statep, struct fx_err *err)
{
    virConnectPtr conn;
    struct hvl *h;

    virSetErrorFunc(NULL, hvl_quiet);
    conn = virConnectOpen(uri);
    if (!conn) {
        char what[300];

        snprintf(what, sizeof what, "cannot open libvirt '%s'", uri);
        return hvl_error(err, -EIO, what);
    }
    h = calloc(1, sizeof *h);
    if (!h) {
        abort();
    }
    pthread_mutex_init(&h->lock, NULL);
    h->conn = conn;
    snprintf(h->uri, sizeof h->uri, "%s", uri);
    *statep = h;
    return 0;
}

static void
hvl_close(void *state)
{
    struct hvl *h = state;

    if (h) {
        virConnectClose(h->conn);
        pthread_mutex_destroy(&h->lock);
        free(h);
    }
}

/* The connection, referenced for one call: a dead one (libvirt marks it
 * so once a call met the closed socket) is replaced by a new one if
 * libvirtd answers again, else handed out as it is, whose calls then fail
 * with libvirt's own words. */
static void *
hvl_hold(void *state)
{
    struct hvl *h = state;
    virConnectPtr c;

    pthread_mutex_lock(&h->lock);
    if (virConnectIsAlive(h->conn) != 1) {
        c = virConnectOpen(h->uri);
        if (c) {
            virConnectClose(h->conn);
            h->conn = c;
            h->reopened = 1;
        }
    }
    c = h->conn;
    virConnectRef(c);
    pthread_mutex_unlock(&h->lock);
    return c;
}

static void
hvl_put(void *state, void *conn)
{
    (void) state;
    virConnectClose(conn);
}

/* One round trip to libvirtd: a failure marks the connection dead, and
 * the hold after it opens a new one if libvirtd is back. */
static int
hvl_probe(void *state, struct fx_err *err)
{
    struct hvl *h = state;
    virConnectPtr c = hvl_hold(h);
    unsigned long ver;
    int rc = virConnectGetLibVersion(c, &ver) < 0
             ? hvl_error(err, -EIO, "libvirtd does not answer") : 0;

    virConnectClose(c);
    if (rc) {
        virConnectClose(hvl_hold(h));
    }
    pthread_mutex_lock(&h->lock);
    if (h->reopened) {
        h->reopened = 0;
        rc = 1;
    }
    pthread_mutex_unlock(&h->lock);
    return rc;
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

/* Looks 'name' up; NULL with 'err' filled: -ENOENT if libvirt has no
 * such domain, -EIO if it could not say (libvirtd gone): a domain not
 * found there is not a domain gone.  The caller frees the domain with
 * virDomainFree(). */
static virDomainPtr
hvl_domain(virConnectPtr conn, const char *name, struct fx_err *err)
{
    virDomainPtr dom = virDomainLookupByName(conn, name);
    virErrorPtr e;

    if (!dom) {
        e = virGetLastError();
        if (e && e->code != VIR_ERR_NO_DOMAIN) {
            hvl_error(err, -EIO, "cannot look the domain up");
        } else {
            fx_err_set(err, -ENOENT, "libvirt has no domain '%s'", name);
        }
    }
    return dom;
}

/* What a failed hvl_domain() returns ('err' may be NULL). */
static int
hvl_lookup_rc(const struct fx_err *err)
{
    return err ? err->code : -ENOENT;
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
        return hvl_lookup_rc(err);
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
        return hvl_lookup_rc(err);
    }
    rc = op(dom);
    if (rc < 0) {
        /* Before the free: any call of libvirt's resets its last error. */
        snprintf(msg, sizeof msg, "cannot %s domain '%s'", what, name);
        hvl_error(err, -EIO, msg);
    }
    virDomainFree(dom);
    return rc < 0 ? -EIO : 0;
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
        return hvl_lookup_rc(err);
    }
    *activep = virDomainIsActive(dom) == 1;
    virDomainFree(dom);
    return 0;
}

static int
hvl_is_running(void *state, const char *name, int *runningp,
               struct fx_err *err)
{
    virDomainPtr dom = hvl_domain(state, name, err);
    int st = VIR_DOMAIN_NOSTATE, reason = 0, rc;

    if (!dom) {
        return hvl_lookup_rc(err);
    }
    rc = virDomainGetState(dom, &st, &reason, 0);
    virDomainFree(dom);
    if (rc < 0) {
        return hvl_error(err, -EIO, "cannot read the domain's state");
    }
    *runningp = st == VIR_DOMAIN_RUNNING;
    return 0;
}

static int
hvl_snapshot(void *state, const char *name, unsigned *np, struct fx_err *err)
{
    virDomainPtr dom = hvl_domain(state, name, err);
    virDomainSnapshotPtr snap;
    int n;

    if (!dom) {
        return hvl_lookup_rc(err);
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

static int
hvl_suspend(void *state, const char *name, struct fx_err *err)
{
    return hvl_domain_op(state, name, virDomainSuspend, "suspend", err);
}

/* Resuming a running domain succeeds: libvirt itself resumes a source
 * whose outgoing migration failed, before we get to. */
static int
hvl_resume_op(virDomainPtr dom)
{
    int state = VIR_DOMAIN_NOSTATE;

    if (virDomainGetState(dom, &state, NULL, 0) == 0
        && state == VIR_DOMAIN_RUNNING) {
        return 0;
    }
    return virDomainResume(dom);
}

static int
hvl_resume(void *state, const char *name, struct fx_err *err)
{
    return hvl_domain_op(state, name, hvl_resume_op, "resume", err);
}

static int
hvl_abort(virDomainPtr dom)
{
    return virDomainAbortJob(dom);
}

static int
hvl_abort_job(void *state, const char *name, struct fx_err *err)
{
    return hvl_domain_op(state, name, hvl_abort, "cancel the job of", err);
}

/* libvirt's completed job statistics of 'dom' into 'st'. */
static void
hvl_job_stats(virDomainPtr dom, struct hv_mig_stats *st)
{
    virTypedParameterPtr p = NULL;
    unsigned long long v;
    unsigned int u;
    int type, n = 0;

    memset(st, 0, sizeof *st);
    if (virDomainGetJobStats(dom, &type, &p, &n,
                             VIR_DOMAIN_JOB_STATS_COMPLETED) < 0) {
        return;
    }
    if (virTypedParamsGetULLong(p, n, VIR_DOMAIN_JOB_TIME_ELAPSED, &v) == 1) {
        st->total_ms = v;
    }
    if (virTypedParamsGetULLong(p, n, VIR_DOMAIN_JOB_DOWNTIME, &v) == 1) {
        st->downtime_ms = v;
    }
    if (virTypedParamsGetULLong(p, n, VIR_DOMAIN_JOB_MEMORY_PROCESSED,
                                &v) == 1) {
        st->data_bytes = v;
    }
    if (virTypedParamsGetULLong(p, n, VIR_DOMAIN_JOB_MEMORY_ITERATION,
                                &v) == 1) {
        st->iterations = (uint32_t) v;
    } else if (virTypedParamsGetUInt(p, n, VIR_DOMAIN_JOB_MEMORY_ITERATION,
                                     &u) == 1) {
        st->iterations = u;
    }
    virTypedParamsFree(p, n);
}

static int
hvl_job_progress(void *state, const char *name, unsigned *iterp,
                 uint64_t *remainingp, uint64_t *totalp, struct fx_err *err)
{
    virDomainPtr dom = hvl_domain(state, name, err);
    virTypedParameterPtr p = NULL;
    unsigned long long v = 0;
    int type = VIR_DOMAIN_JOB_NONE, n = 0, rc;

    *iterp = 0;
    *remainingp = 0;
    *totalp = 0;
    if (!dom) {
        return hvl_lookup_rc(err);
    }
    rc = virDomainGetJobStats(dom, &type, &p, &n, 0);
    virDomainFree(dom);
    if (rc < 0) {
        return hvl_error(err, -EIO, "cannot read the domain's job");
    }
    if (type != VIR_DOMAIN_JOB_NONE
        && virTypedParamsGetULLong(p, n, VIR_DOMAIN_JOB_MEMORY_ITERATION,
                                   &v) == 1) {
        *iterp = (unsigned) v;
    }
    /* Until QEMU has sent something (libvirt's own phases first, then
     * the job's setup report 0 left), all of it is left. */
    *remainingp = UINT64_MAX;
    if (type != VIR_DOMAIN_JOB_NONE
        && virTypedParamsGetULLong(p, n, VIR_DOMAIN_JOB_MEMORY_PROCESSED,
                                   &v) == 1 && v
        && virTypedParamsGetULLong(p, n, VIR_DOMAIN_JOB_MEMORY_REMAINING,
                                   &v) == 1) {
        *remainingp = v;
        if (virTypedParamsGetULLong(p, n, VIR_DOMAIN_JOB_MEMORY_TOTAL,
                                    &v) == 1) {
            *totalp = v;
        }
    }
    virTypedParamsFree(p, n);
    return 0;
}

/* The definition the destination 'dconn' has of 'name', as a migration
 * takes it; NULL with 'err'. */
static char *
hvl_dest_xml(virConnectPtr dconn, const char *name, struct fx_err *err)
{
    virDomainPtr ddom = virDomainLookupByName(dconn, name);
    char *xml;

    if (!ddom) {
        fx_err_set(err, -ENOENT, "the destination's libvirt has no domain "
                   "'%s' defined", name);
        return NULL;
    }
    xml = virDomainGetXMLDesc(ddom, VIR_DOMAIN_XML_INACTIVE
                                    | VIR_DOMAIN_XML_MIGRATABLE);
    virDomainFree(ddom);
    if (!xml) {
        hvl_error(err, -EIO, "cannot read the destination's definition");
    }
    return xml;
}

static int
hvl_migrate_speed(void *state, const char *name, unsigned mib_per_s,
                  struct fx_err *err)
{
    virDomainPtr dom = hvl_domain(state, name, err);
    int rc;

    if (!dom) {
        return hvl_lookup_rc(err);
    }
    rc = virDomainMigrateSetMaxSpeed(dom, mib_per_s, 0);
    virDomainFree(dom);
    return rc < 0 ? hvl_error(err, -EIO, "cannot pace the migration") : 0;
}

static int
hvl_migrate(void *state, const char *name, const char *dst_uri,
            const char *mig_uri, unsigned mib_per_s,
            struct hv_mig_stats *st, struct fx_err *err)
{
    virConnectPtr dconn = virConnectOpen(dst_uri);
    virTypedParameterPtr params = NULL;
    virDomainPtr dom = NULL, moved = NULL;
    int n = 0, max = 0, rc = -EIO;
    char *dxml = NULL;

    memset(st, 0, sizeof *st);
    if (!dconn) {
        char what[300];

        snprintf(what, sizeof what, "cannot open the destination's libvirt "
                 "'%s'", dst_uri);
        return hvl_error(err, -EIO, what);
    }
    dom = hvl_domain(state, name, err);
    dxml = dom ? hvl_dest_xml(dconn, name, err) : NULL;
    if (!dxml) {
        rc = err->code;
        goto out;
    }
    /* With a downtime limit of 0 QEMU never syncs its dirty bitmap again
     * once the first pass began: it switches over when that pass ends,
     * which the pace holds off until the caller stopped the guest. */
    if (virDomainMigrateSetMaxDowntime(dom, 0, 0) < 0) {
        rc = hvl_error(err, -EIO, "cannot set the downtime limit");
        goto out;
    }
    /* The domain's own speed, which libvirt gives QEMU as the migration
     * begins, and which a later migrate_speed() overrides for good (a
     * VIR_MIGRATE_PARAM_BANDWIDTH would be applied after it). */
    if (mib_per_s && virDomainMigrateSetMaxSpeed(dom, mib_per_s, 0) < 0) {
        rc = hvl_error(err, -EIO, "cannot pace the migration");
        goto out;
    }
    if (virTypedParamsAddString(&params, &n, &max, VIR_MIGRATE_PARAM_URI,
                                mig_uri) < 0
        || virTypedParamsAddString(&params, &n, &max,
                                   VIR_MIGRATE_PARAM_DEST_XML, dxml) < 0
        || virTypedParamsAddString(&params, &n, &max,
                                   VIR_MIGRATE_PARAM_PERSIST_XML, dxml) < 0) {
        rc = fx_err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    moved = virDomainMigrate3(dom, dconn, params, (unsigned) n,
                              VIR_MIGRATE_LIVE | VIR_MIGRATE_PAUSED
                              | VIR_MIGRATE_PERSIST_DEST);
    if (!moved) {
        rc = hvl_error(err, -EIO, "libvirt's migration failed");
        if (virConnectIsAlive(dconn) != 1) {
            /* Its own words ("Broken pipe") do not say whose. */
            char msg[sizeof err->msg];

            snprintf(msg, sizeof msg, "%s", err->msg);
            fx_err_set(err, -EIO, "the destination's libvirtd is gone: %s",
                       msg);
        }
        goto out;
    }
    hvl_job_stats(dom, st);
    rc = 0;

out:
    virTypedParamsFree(params, n);
    free(dxml);
    if (moved) {
        virDomainFree(moved);
    }
    if (dom) {
        virDomainFree(dom);
    }
    virConnectClose(dconn);
    return rc;
}

const struct hv_class hv_libvirt_class = {
    .name = "libvirt",
    .open = hvl_open,
    .close = hvl_close,
    .hold = hvl_hold,
    .put = hvl_put,
    .probe = hvl_probe,
    .info = hvl_info,
    .define = hvl_define,
    .get_xml = hvl_get_xml,
    .start = hvl_start,
    .stop = hvl_stop,
    .undefine = hvl_undefine,
    .is_active = hvl_is_active,
    .is_running = hvl_is_running,
    .snapshot = hvl_snapshot,
    .list_active = hvl_list_active,
    .list_all = hvl_list_all,
    .suspend = hvl_suspend,
    .resume = hvl_resume,
    .migrate = hvl_migrate,
    .abort_job = hvl_abort_job,
    .job_progress = hvl_job_progress,
    .migrate_speed = hvl_migrate_speed,
};
