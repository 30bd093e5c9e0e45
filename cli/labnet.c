/* labnet: see labnet.h. */
#include "labnet.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "fx_err.h"
#include "fx_netns.h"
#include "fx_proc.h"
#include "lablock.h"
#include "labspec.h"

#define LABNET_ARGS_MAX 24
#define LABNET_ID_LEN 8

/* ---- Plan ---- */

void
labnet_plan(const char *id, const char *name, unsigned index,
            struct labspec_net *n)
{
    memset(n, 0, sizeof *n);
    snprintf(n->netns, sizeof n->netns, "%s%s-%s", LABNET_NS_PREFIX,
             id, index ? name : "fabric");
    if (index == 0) {
        snprintf(n->ifname, sizeof n->ifname, "%s", LABNET_BRIDGE);
        snprintf(n->addr, sizeof n->addr, "198.18.0.1/21");
        return;
    }
    snprintf(n->ifname, sizeof n->ifname, "%s", LABNET_HOST_IF);
    /* The (10+N)th address of 198.18.0.0/21, whose 2,048 hold them all. */
    snprintf(n->addr, sizeof n->addr, "198.18.%u.%u/21", (10 + index) / 256,
             (10 + index) % 256);
    /* "vh1": short enough for IFNAMSIZ with any lab host name. */
    snprintf(n->peer, sizeof n->peer, "v%.14s", name);
}

void
labnet_addr(const struct labspec_net *n, char *buf, size_t size)
{
    snprintf(buf, size, "%.*s", (int) strcspn(n->addr, "/"), n->addr);
}

/* ---- Running ip and tc ---- */

int
labnet_tool(const char *name, char *buf, size_t size, struct fx_err *err)
{
    static const char *const dirs[] = { "/usr/sbin", "/sbin", "/usr/bin",
                                        "/bin" };

    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
        snprintf(buf, size, "%s/%s", dirs[i], name);
        if (!access(buf, X_OK)) {
            return 0;
        }
    }
    return fx_err_set(err, -ENOENT, "no '%s' in /usr/sbin, /sbin, /usr/bin "
                      "or /bin: a netns lab needs iproute2 (apt-get install "
                      "iproute2)", name);
}

/* Runs tool 'tool' with the NULL-terminated arguments 'ap'; its stdout
 * into '*outp' if not NULL (the caller frees it). */
static int
labnet_runv(const char *tool, char **outp, struct fx_err *err, va_list ap)
{
    char path[64];
    char *argv[LABNET_ARGS_MAX + 2];
    size_t n = 0;
    int rc = labnet_tool(tool, path, sizeof path, err);

    if (rc) {
        return rc;              /* 'err' may be NULL: a question asked. */
    }
    argv[n++] = path;
    while (n <= LABNET_ARGS_MAX && (argv[n] = va_arg(ap, char *))) {
        n++;
    }
    argv[n] = NULL;
    return fx_proc_run(argv, outp, err);
}

/* "ip ARGS..." (NULL-terminated): 0 or its error. */
static int
labnet_ip(struct fx_err *err, ...)
{
    va_list ap;
    int rc;

    va_start(ap, err);
    rc = labnet_runv("ip", NULL, err, ap);
    va_end(ap);
    return rc;
}

/* "ip ARGS..." whose stdout goes into '*outp'. */
static int
labnet_ip_out(char **outp, struct fx_err *err, ...)
{
    va_list ap;
    int rc;

    va_start(ap, err);
    rc = labnet_runv("ip", outp, err, ap);
    va_end(ap);
    return rc;
}

static int
labnet_tc(char **outp, struct fx_err *err, ...)
{
    va_list ap;
    int rc;

    va_start(ap, err);
    rc = labnet_runv("tc", outp, err, ap);
    va_end(ap);
    return rc;
}

/* Whether link 'dev' exists in namespace 'ns'. */
static bool
labnet_has_link(const char *ns, const char *dev)
{
    return labnet_ip(NULL, "-n", ns, "link", "show", "dev", dev, NULL) == 0;
}

/* ---- Making it ---- */

static int
labnet_ensure_ns(const char *ns, struct fx_err *err)
{
    if (fx_netns_exists(ns)) {
        return 0;
    }
    if (labnet_ip(err, "netns", "add", ns, NULL)
        || labnet_ip(err, "-n", ns, "link", "set", "lo", "up", NULL)) {
        return err->code;
    }
    return 0;
}

static int
labnet_ensure_bridge(const struct labspec_net *f, struct fx_err *err)
{
    if (labnet_has_link(f->netns, f->ifname)) {
        return 0;
    }
    if (labnet_ip(err, "-n", f->netns, "link", "add", f->ifname, "type",
                  "bridge", NULL)
        || labnet_ip(err, "-n", f->netns, "addr", "add", f->addr, "dev",
                     f->ifname, NULL)
        || labnet_ip(err, "-n", f->netns, "link", "set", f->ifname, "up",
                     NULL)) {
        return err->code;
    }
    return 0;
}

/* Host 'h''s veth: its end in the host's namespace with the host's
 * address, the other a port of fabricd's bridge.  Returns 1 if it made
 * it, 0 if it was there. */
static int
labnet_ensure_host(const struct labspec_net *f, struct labspec_net *h,
                   struct fx_err *err)
{
    if (labnet_has_link(h->netns, h->ifname)) {
        return 0;
    }
    /* The host's end is missing when its namespace is new: a veth goes
     * as a pair, so the bridge's end of an old one went with it. */
    if (labnet_ip(err, "-n", f->netns, "link", "add", h->peer, "type",
                  "veth", "peer", "name", h->ifname, "netns", h->netns,
                  NULL)
        || labnet_ip(err, "-n", f->netns, "link", "set", h->peer, "master",
                     f->ifname, "up", NULL)
        || labnet_ip(err, "-n", h->netns, "addr", "add", h->addr, "dev",
                     h->ifname, NULL)
        || labnet_ip(err, "-n", h->netns, "link", "set", h->ifname, "up",
                     NULL)) {
        return err->code;
    }
    h->link_down = 0;
    h->delay_ms = 0;
    h->loss_pct = 0;
    return 1;
}

int
labnet_up(struct labspec *spec, struct fx_err *err)
{
    struct labspec_net *f = &spec->daemons[0].net;
    int made = 0, rc;
    struct fx_err own;

    err = err ? err : &own;         /* Its steps need one to report to. */
    for (size_t i = 0; i < spec->n_daemons; i++) {
        if (labnet_ensure_ns(spec->daemons[i].net.netns, err)) {
            return err->code;
        }
    }
    if (labnet_ensure_bridge(f, err)) {
        return err->code;
    }
    for (size_t i = 1; i < spec->n_daemons; i++) {
        rc = labnet_ensure_host(f, &spec->daemons[i].net, err);
        if (rc < 0) {
            return rc;
        }
        made += rc;
    }
    return made;
}

/* ---- Removing it ---- */

/* The pids of the processes in namespace 'ns', space-separated, into
 * 'buf'; returns how many (0 if it does not exist). */
static int
labnet_ns_pids(const char *ns, char *buf, size_t size)
{
    char *out = NULL, *save = NULL;
    size_t len = 0;
    int n = 0;

    buf[0] = '\0';
    if (!fx_netns_exists(ns)
        || labnet_ip_out(&out, NULL, "netns", "pids", ns, NULL)) {
        free(out);
        return 0;
    }
    for (char *p = strtok_r(out, " \n", &save); p;
         p = strtok_r(NULL, " \n", &save)) {
        if (len < size) {
            len += (size_t) snprintf(buf + len, size - len, "%s%s",
                                     n ? " " : "", p);
        }
        n++;
    }
    free(out);
    return n;
}

/* Deletes namespace 'ns' unless a process runs in it (-EBUSY). */
static int
labnet_del_ns(const char *ns, struct fx_err *err)
{
    char pids[64];
    int n = labnet_ns_pids(ns, pids, sizeof pids);

    if (n) {
        return fx_err_set(err, -EBUSY, "network namespace '%s' is in use "
                          "by %d process%s (%s): left as it is", ns, n,
                          n == 1 ? "" : "es", pids);
    }
    if (!fx_netns_exists(ns)) {
        return 0;
    }
    return labnet_ip(err, "netns", "delete", ns, NULL);
}

int
labnet_down(const struct labspec *spec, struct fx_err *err)
{
    struct fx_err first = { 0 }, e;

    /* Hosts first: fabricd's namespace holds their bridge ports. */
    for (size_t i = spec->n_daemons; i-- > 0; ) {
        if (labnet_del_ns(spec->daemons[i].net.netns, &e) && !first.code) {
            first = e;
        }
    }
    if (first.code && err) {
        *err = first;
    }
    return first.code;
}

/* ---- Link faults ---- */

int
labnet_link_set(const struct labspec *spec, struct labspec_daemon *d,
                int up, struct fx_err *err)
{
    const struct labspec_net *f = &spec->daemons[0].net;
    const char *state = up ? "up" : "down";
    struct fx_err own;

    err = err ? err : &own;
    if (labnet_ip(err, "-n", d->net.netns, "link", "set", d->net.ifname,
                  state, NULL)
        || labnet_ip(err, "-n", f->netns, "link", "set", d->net.peer, state,
                     NULL)) {
        return err->code;
    }
    d->net.link_down = !up;
    return 0;
}

/* Removes what labnet_shape_dev() installs on 'dev' in 'ns' (a netem
 * root qdisc, a clsact qdisc), as tc shows it there now. */
static int
labnet_clear_dev(const char *ns, const char *dev, struct fx_err *err)
{
    char *out = NULL;
    struct json_object *qs;
    bool netem = false, clsact = false;
    int rc = labnet_tc(&out, err, "-n", ns, "-j", "qdisc", "show", "dev",
                       dev, NULL);

    qs = rc ? NULL : json_tokener_parse(out);
    free(out);
    for (size_t i = 0; qs && i < json_object_array_length(qs); i++) {
        struct json_object *kind;

        if (json_object_object_get_ex(json_object_array_get_idx(qs, i),
                                      "kind", &kind)) {
            netem |= !strcmp(json_object_get_string(kind), "netem");
            clsact |= !strcmp(json_object_get_string(kind), "clsact");
        }
    }
    json_object_put(qs);
    if (!rc && netem) {
        rc = labnet_tc(NULL, err, "-n", ns, "qdisc", "del", "dev", dev,
                       "root", NULL);
    }
    if (!rc && clsact) {
        rc = labnet_tc(NULL, err, "-n", ns, "qdisc", "del", "dev", dev,
                       "clsact", NULL);
    }
    return rc;
}

/* Drops 'loss_pct' percent of what leaves 'dev' at random, without
 * netem: a classic BPF program in direct-action mode on a clsact qdisc,
 * "A = random; if A >= threshold pass, else drop".  tc counts the drops
 * on the clsact qdisc. */
static int
labnet_drop_filter(const char *ns, const char *dev, double loss_pct,
                   struct fx_err *err)
{
    double t = loss_pct / 100.0 * 4294967296.0;
    unsigned long thr = t >= 4294967295.0 ? 4294967295ul : (unsigned long) t;
    char code[128];
    int rc;

    /* 32: ld [SKF_AD_OFF + SKF_AD_RANDOM]; 53: jge #thr; 6: ret #k, with
     * 2 TC_ACT_SHOT and 0 TC_ACT_OK. */
    snprintf(code, sizeof code, "4,32 0 0 4294963256,53 1 0 %lu,6 0 0 2,"
             "6 0 0 0", thr);
    rc = labnet_tc(NULL, err, "-n", ns, "qdisc", "add", "dev", dev, "clsact",
                   NULL);
    return rc ? rc : labnet_tc(NULL, err, "-n", ns, "filter", "add", "dev",
                               dev, "egress", "bpf", "da", "bytecode", code,
                               NULL);
}

/* What leaves 'dev' in 'ns' is delayed 'delay_ms' and 'loss_pct' percent
 * of it dropped (both 0: untouched). */
static int
labnet_shape_dev(const char *ns, const char *dev, uint32_t delay_ms,
                 double loss_pct, struct fx_err *err)
{
    char delay[24], loss[24];
    struct fx_err e;
    int rc = labnet_clear_dev(ns, dev, err);

    if (rc || (!delay_ms && loss_pct <= 0)) {
        return rc;
    }
    snprintf(delay, sizeof delay, "%ums", delay_ms);
    snprintf(loss, sizeof loss, "%g%%", loss_pct);
    if (!labnet_tc(NULL, &e, "-n", ns, "qdisc", "replace", "dev", dev,
                   "root", "netem", "delay", delay, "loss", loss, NULL)) {
        return 0;
    }
    if (!strstr(e.msg, "qdisc kind is unknown")) {
        if (err) {
            *err = e;
        }
        return e.code;
    }
    if (delay_ms) {
        return fx_err_set(err, -EOPNOTSUPP, "this kernel has no netem qdisc "
                          "(CONFIG_NET_SCH_NETEM): --delay cannot be "
                          "emulated here (--loss alone can)");
    }
    return labnet_drop_filter(ns, dev, loss_pct, err);
}

int
labnet_link_shape(const struct labspec *spec, struct labspec_daemon *d,
                  uint32_t delay_ms, double loss_pct, struct fx_err *err)
{
    const struct labspec_net *f = &spec->daemons[0].net;
    struct fx_err own;

    err = err ? err : &own;
    if (labnet_shape_dev(d->net.netns, d->net.ifname, delay_ms, loss_pct,
                         err)
        || labnet_shape_dev(f->netns, d->net.peer, delay_ms, loss_pct,
                            err)) {
        /* Half a fault is no fault to leave behind. */
        labnet_shape_dev(d->net.netns, d->net.ifname, 0, 0, NULL);
        labnet_shape_dev(f->netns, d->net.peer, 0, 0, NULL);
        d->net.delay_ms = 0;
        d->net.loss_pct = 0;
        return err->code;
    }
    d->net.delay_ms = delay_ms;
    d->net.loss_pct = loss_pct;
    return 0;
}

/* ---- Cleaning up after crashed labs ---- */

/* The lab id of namespace name 'ns' into 'id' (9 bytes) if it is one of
 * ours, "fexsim-" 8 hex digits "-" and a name. */
static bool
labnet_ns_id(const char *ns, char *id)
{
    size_t plen = strlen(LABNET_NS_PREFIX);
    const char *p = ns + plen;

    if (strncmp(ns, LABNET_NS_PREFIX, plen)
        || strspn(p, "0123456789abcdef") != LABNET_ID_LEN
        || p[LABNET_ID_LEN] != '-' || !p[LABNET_ID_LEN + 1]) {
        return false;
    }
    memcpy(id, p, LABNET_ID_LEN);
    id[LABNET_ID_LEN] = '\0';
    return true;
}

/* The namespaces of lab 'id' as they are now: calls 'fn(ns, arg)' on
 * each; returns how many, or stops at the first 'fn' that returns non-zero
 * and returns that. */
static int
labnet_each_ns(const char *id, int (*fn)(const char *ns, void *arg),
               void *arg)
{
    DIR *d = opendir(FX_NETNS_DIR);
    struct dirent *e;
    char eid[LABNET_ID_LEN + 1];
    int n = 0, rc = 0;

    while (d && !rc && (e = readdir(d))) {
        if (labnet_ns_id(e->d_name, eid) && !strcmp(eid, id)) {
            rc = fn(e->d_name, arg);
            n++;
        }
    }
    if (d) {
        closedir(d);
    }
    return rc ? rc : n;
}

/* For labnet_each_ns(): the first namespace with a process in it stops
 * the walk, with its description in 'arg' (200 bytes). */
static int
labnet_ns_busy(const char *ns, void *arg)
{
    char pids[64];
    int n = labnet_ns_pids(ns, pids, sizeof pids);

    if (n) {
        snprintf(arg, 200, "process%s %s in namespace %s: it lives",
                 n == 1 ? "" : "es", pids, ns);
    }
    return n ? 1 : 0;
}

static int
labnet_ns_count(const char *ns, void *arg)
{
    (void) ns;
    (void) arg;
    return 0;
}

static int
labnet_ns_delete(const char *ns, void *arg)
{
    return labnet_ip(arg, "netns", "delete", ns, NULL);
}

/* Cleans lab 'id' (see labnet_clean()). */
static int
labnet_clean_one(const char *id, labnet_clean_fn *fn, void *arg,
                 struct fx_err *err)
{
    char why[200];
    int lock = lablock_take(id, false, err), n;

    if (lock == -EWOULDBLOCK) {
        snprintf(why, sizeof why, "a fexctl command of this lab runs (it "
                 "holds %s/%s.lock)", LABLOCK_DIR, id);
        fn(arg, id, 0, why);
        return 0;
    }
    if (lock < 0) {
        return lock;
    }
    /* Counted under the lock: another clean may have removed them. */
    n = labnet_each_ns(id, labnet_ns_count, NULL);
    if (labnet_each_ns(id, labnet_ns_busy, why) == 1) {
        lablock_release(id, lock, false);
        fn(arg, id, 0, why);
        return 0;
    }
    if (labnet_each_ns(id, labnet_ns_delete, err) < 0) {
        lablock_release(id, lock, false);
        return err->code;
    }
    lablock_release(id, lock, true);
    if (n > 0) {
        fn(arg, id, (size_t) n, NULL);
    }
    return 0;
}

/* The lab ids with a namespace (or, if 'locks', a lock file) now, each
 * once, into 'ids' (9 bytes each, at most 'max'); returns how many. */
static size_t
labnet_ids(char (*ids)[LABNET_ID_LEN + 1], size_t max, bool locks)
{
    DIR *d = opendir(locks ? LABLOCK_DIR : FX_NETNS_DIR);
    struct dirent *e;
    char id[LABNET_ID_LEN + 1];
    size_t n = 0;

    while (d && n < max && (e = readdir(d))) {
        bool dup = false;

        if (locks ? strspn(e->d_name, "0123456789abcdef") != LABNET_ID_LEN
                    || strcmp(e->d_name + LABNET_ID_LEN, ".lock")
                  : !labnet_ns_id(e->d_name, id)) {
            continue;
        }
        if (locks) {
            snprintf(id, sizeof id, "%.8s", e->d_name);
        }
        for (size_t i = 0; i < n; i++) {
            dup |= !strcmp(ids[i], id);
        }
        if (!dup) {
            memcpy(ids[n++], id, sizeof id);
        }
    }
    if (d) {
        closedir(d);
    }
    return n;
}

int
labnet_clean(const char *only_id, labnet_clean_fn *fn, void *arg,
             struct fx_err *err)
{
    enum { MAX_IDS = 1024 };
    char (*ids)[LABNET_ID_LEN + 1] = calloc(MAX_IDS, sizeof *ids);
    size_t n;
    int rc = 0;
    struct fx_err own;

    err = err ? err : &own;
    if (!ids) {
        abort();                /* Out of memory. */
    }
    /* Labs with namespaces, then lock files with none (a lab up that
     * died before making any): the same walk removes both. */
    for (int locks = 0; !rc && locks < 2; locks++) {
        n = labnet_ids(ids, MAX_IDS, locks);
        for (size_t i = 0; !rc && i < n; i++) {
            /* A lock file of a lab with namespaces was seen with them. */
            if ((!only_id || !strcmp(only_id, ids[i]))
                && (!locks || !labnet_each_ns(ids[i], labnet_ns_count,
                                              NULL))) {
                rc = labnet_clean_one(ids[i], fn, arg, err);
            }
        }
    }
    free(ids);
    return rc;
}
