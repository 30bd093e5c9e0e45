/* labspec: see labspec.h. */
#include "labspec.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <sodium.h>

#include "fx_err.h"
#include "fx_file.h"

void
labspec_init(struct labspec *spec, const char *dir)
{
    uint8_t raw[4];

    memset(spec, 0, sizeof *spec);
    snprintf(spec->dir, sizeof spec->dir, "%s", dir);
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(spec->id, sizeof spec->id, raw, sizeof raw);
}

void
labspec_free(struct labspec *spec)
{
    for (size_t i = 0; i < spec->n_daemons; i++) {
        for (size_t a = 0; spec->daemons[i].argv[a]; a++) {
            free(spec->daemons[i].argv[a]);
        }
    }
    free(spec->daemons);
    spec->daemons = NULL;
    spec->n_daemons = 0;
}

struct labspec_daemon *
labspec_find(const struct labspec *spec, const char *name)
{
    for (size_t i = 0; i < spec->n_daemons; i++) {
        if (!strcmp(spec->daemons[i].name, name)) {
            return &spec->daemons[i];
        }
    }
    return NULL;
}

/* A new daemon at the end of 'spec', zeroed. */
static struct labspec_daemon *
labspec_grow(struct labspec *spec, struct fx_err *err)
{
    struct labspec_daemon *d = realloc(spec->daemons, (spec->n_daemons + 1)
                                                      * sizeof *d);

    if (!d) {
        fx_err_set(err, -ENOMEM, "out of memory");
        return NULL;
    }
    spec->daemons = d;
    d = &spec->daemons[spec->n_daemons++];
    memset(d, 0, sizeof *d);
    return d;
}

/* Appends copies of 'args' to 'd''s argv. */
static int
labspec_argv_add(struct labspec_daemon *d, char *const args[],
                 struct fx_err *err)
{
    size_t n = 0;

    while (d->argv[n]) {
        n++;
    }
    for (size_t i = 0; args[i]; i++) {
        if (n == LABSPEC_ARGV_MAX) {
            return fx_err_set(err, -E2BIG, "%s: more than %d arguments",
                              d->name, LABSPEC_ARGV_MAX);
        }
        d->argv[n] = strdup(args[i]);
        if (!d->argv[n++]) {
            return fx_err_set(err, -ENOMEM, "out of memory");
        }
    }
    return 0;
}

struct labspec_daemon *
labspec_add_line(struct labspec *spec, const char *name, const char *prog,
                 const char *file, char *const argv[], struct fx_err *err)
{
    struct labspec_daemon *d = labspec_grow(spec, err);

    if (!d) {
        return NULL;
    }
    snprintf(d->name, sizeof d->name, "%s", name);
    snprintf(d->prog, sizeof d->prog, "%s", prog);
    snprintf(d->log_file, sizeof d->log_file, "%s/%s.log", spec->dir, file);
    snprintf(d->pid_file, sizeof d->pid_file, "%s/%s.pid", spec->dir, file);
    return labspec_argv_add(d, argv, err) ? NULL : d;
}

struct labspec_daemon *
labspec_add(struct labspec *spec, const char *name, const char *prog,
            const char *file, char *const argv[], struct fx_err *err)
{
    struct labspec_daemon *d = labspec_add_line(spec, name, prog, file,
                                                argv, err);
    char *tail[5] = { "--log-file", NULL, "--pid-file", NULL, NULL };

    if (!d) {
        return NULL;
    }
    tail[1] = d->log_file;
    tail[3] = d->pid_file;
    return labspec_argv_add(d, tail, err) ? NULL : d;
}

size_t
labspec_hosts(const struct labspec *spec)
{
    size_t n = 0;

    for (size_t i = 0; i < spec->n_daemons; i++) {
        n += !strcmp(spec->daemons[i].prog, "agentd");
    }
    return n;
}

/* ---- Writing ---- */

static void
jset_str(struct json_object *o, const char *key, const char *v)
{
    json_object_object_add(o, key, json_object_new_string(v));
}

static void
jset_int(struct json_object *o, const char *key, int64_t v)
{
    json_object_object_add(o, key, json_object_new_int64(v));
}

static struct json_object *
labspec_opts_json(const struct labspec_opts *o)
{
    struct json_object *j = json_object_new_object();

    jset_int(j, "hosts", o->hosts);
    if (o->chassis) {
        jset_int(j, "chassis", o->chassis);
        jset_int(j, "blades", o->blades);
    }
    jset_int(j, "vnics", o->vnics);
    jset_int(j, "heartbeat_timeout_ms", o->hb_timeout_ms);
    jset_int(j, "memory_mib", (int64_t) o->memory_mib);
    jset_str(j, "libvirt", o->libvirt);
    jset_str(j, "flavor", o->flavor);
    jset_str(j, "no_iommu", o->no_iommu);
    if (strcmp(o->hypervisor, "test")) {
        jset_str(j, "hypervisor", o->hypervisor);
        jset_str(j, "guest", o->guest);
        jset_int(j, "guest_dirty_rate", (int64_t) o->guest_dirty_rate);
    }
    if (o->netns) {
        json_object_object_add(j, "netns", json_object_new_boolean(1));
    }
    return j;
}

static struct json_object *
labspec_net_json(const struct labspec_net *n)
{
    struct json_object *j = json_object_new_object();
    struct json_object *link;

    jset_str(j, "name", n->netns);
    jset_str(j, "interface", n->ifname);
    jset_str(j, "address", n->addr);
    if (n->peer[0]) {
        jset_str(j, "peer", n->peer);
        link = json_object_new_object();
        json_object_object_add(link, "up",
                               json_object_new_boolean(!n->link_down));
        jset_int(link, "delay_ms", n->delay_ms);
        json_object_object_add(link, "loss_pct",
                               json_object_new_double(n->loss_pct));
        json_object_object_add(j, "link", link);
    }
    return j;
}

static struct json_object *
labspec_daemon_json(const struct labspec_daemon *d)
{
    struct json_object *j = json_object_new_object();
    struct json_object *argv = json_object_new_array();

    jset_str(j, "name", d->name);
    jset_str(j, "program", d->prog);
    jset_str(j, "listen", d->listen);
    if (d->uplink[0]) {
        jset_str(j, "uplink", d->uplink);
    }
    if (d->http[0]) {
        jset_str(j, "http", d->http);
    }
    jset_str(j, "pid_file", d->pid_file);
    jset_str(j, "log_file", d->log_file);
    for (size_t i = 0; d->argv[i]; i++) {
        json_object_array_add(argv, json_object_new_string(d->argv[i]));
    }
    json_object_object_add(j, "argv", argv);
    if (d->net.netns[0]) {
        json_object_object_add(j, "netns", labspec_net_json(&d->net));
    }
    return j;
}

int
labspec_save(const struct labspec *spec, struct fx_err *err)
{
    struct json_object *j = json_object_new_object();
    struct json_object *ds = json_object_new_array();
    char path[PATH_MAX + 16];
    int rc;

    jset_int(j, "version", spec->opts.netns ? LABSPEC_VERSION_NETNS
                                            : LABSPEC_VERSION);
    jset_str(j, "id", spec->id);
    json_object_object_add(j, "options", labspec_opts_json(&spec->opts));
    for (size_t i = 0; i < spec->n_daemons; i++) {
        json_object_array_add(ds, labspec_daemon_json(&spec->daemons[i]));
    }
    json_object_object_add(j, "daemons", ds);
    snprintf(path, sizeof path, "%s/%s", spec->dir, LABSPEC_FILE);
    rc = fx_file_write_atomic(path, json_object_to_json_string_ext(
                                  j, JSON_C_TO_STRING_PRETTY
                                     | JSON_C_TO_STRING_NOSLASHESCAPE), err);
    json_object_put(j);
    return rc;
}

/* ---- Reading ---- */

/* Member 'key' of 'o' as a string into 'buf': 0, or -1 if absent, not a
 * string or too long. */
static int
jget_str(struct json_object *o, const char *key, char *buf, size_t size)
{
    struct json_object *v;

    if (!json_object_object_get_ex(o, key, &v)
        || !json_object_is_type(v, json_type_string)
        || (size_t) json_object_get_string_len(v) >= size) {
        return -1;
    }
    memcpy(buf, json_object_get_string(v),
           (size_t) json_object_get_string_len(v) + 1);
    return 0;
}

static int
jget_u64(struct json_object *o, const char *key, uint64_t max,
         uint64_t *vp)
{
    struct json_object *v;
    int64_t n;

    if (!json_object_object_get_ex(o, key, &v)
        || !json_object_is_type(v, json_type_int)) {
        return -1;
    }
    n = json_object_get_int64(v);
    if (n < 0 || (uint64_t) n > max) {
        return -1;
    }
    *vp = (uint64_t) n;
    return 0;
}

static int
labspec_opts_parse(struct json_object *j, struct labspec_opts *o)
{
    uint64_t hosts, vnics, hb;
    struct json_object *v;

    if (jget_u64(j, "hosts", 100000, &hosts)
        || jget_u64(j, "vnics", 100000, &vnics)
        || jget_u64(j, "heartbeat_timeout_ms", UINT32_MAX, &hb)
        || jget_u64(j, "memory_mib", UINT64_MAX >> 1, &o->memory_mib)
        || jget_str(j, "libvirt", o->libvirt, sizeof o->libvirt)
        || jget_str(j, "flavor", o->flavor, sizeof o->flavor)
        || jget_str(j, "no_iommu", o->no_iommu, sizeof o->no_iommu)) {
        return -1;
    }
    o->hosts = (uint32_t) hosts;
    o->vnics = (uint32_t) vnics;
    if (json_object_object_get_ex(j, "chassis", NULL)) {
        uint64_t chassis, blades;

        if (jget_u64(j, "chassis", hosts, &chassis)
            || jget_u64(j, "blades", hosts, &blades)
            || chassis * blades != hosts) {
            return -1;
        }
        o->chassis = (uint32_t) chassis;
        o->blades = (uint32_t) blades;
    }
    o->hb_timeout_ms = (uint32_t) hb;
    /* A lab made before --hypervisor has none: the test driver. */
    snprintf(o->hypervisor, sizeof o->hypervisor, "test");
    if (json_object_object_get_ex(j, "hypervisor", NULL)
        && (jget_str(j, "hypervisor", o->hypervisor, sizeof o->hypervisor)
            || (strcmp(o->hypervisor, "test")
                && strcmp(o->hypervisor, "qemu")))) {
        return -1;
    }
    if (json_object_object_get_ex(j, "guest", NULL)
        && jget_str(j, "guest", o->guest, sizeof o->guest)) {
        return -1;
    }
    if (json_object_object_get_ex(j, "guest_dirty_rate", &v)) {
        o->guest_dirty_rate = (uint64_t) json_object_get_int64(v);
    }
    if (json_object_object_get_ex(j, "netns", &v)) {
        if (!json_object_is_type(v, json_type_boolean)) {
            return -1;
        }
        o->netns = json_object_get_boolean(v);
    }
    return 0;
}

/* A number member 'key' of 'o' (an integer or not) in [0, max]. */
static int
jget_num(struct json_object *o, const char *key, double max, double *vp)
{
    struct json_object *v;

    if (!json_object_object_get_ex(o, key, &v)
        || (!json_object_is_type(v, json_type_double)
            && !json_object_is_type(v, json_type_int))) {
        return -1;
    }
    *vp = json_object_get_double(v);
    return *vp >= 0 && *vp <= max ? 0 : -1;
}

/* A daemon's "netns" member, if any. */
static int
labspec_net_parse(struct json_object *j, struct labspec_net *n)
{
    struct json_object *o, *link, *up;
    double delay;

    if (!json_object_object_get_ex(j, "netns", &o)) {
        return 0;
    }
    if (jget_str(o, "name", n->netns, sizeof n->netns)
        || jget_str(o, "interface", n->ifname, sizeof n->ifname)
        || jget_str(o, "address", n->addr, sizeof n->addr)
        || !n->netns[0]) {
        return -1;
    }
    if (!json_object_object_get_ex(o, "peer", NULL)) {
        return 0;
    }
    if (jget_str(o, "peer", n->peer, sizeof n->peer)
        || !json_object_object_get_ex(o, "link", &link)
        || !json_object_object_get_ex(link, "up", &up)
        || !json_object_is_type(up, json_type_boolean)
        || jget_num(link, "delay_ms", 3600000, &delay)
        || jget_num(link, "loss_pct", 100, &n->loss_pct)) {
        return -1;
    }
    n->link_down = !json_object_get_boolean(up);
    n->delay_ms = (uint32_t) delay;
    return 0;
}

static int
labspec_daemon_parse(struct labspec *spec, struct json_object *j,
                     struct fx_err *err)
{
    struct labspec_daemon *d = labspec_grow(spec, err);
    struct json_object *argv;
    size_t n;

    if (!d) {
        return err->code;
    }
    if (jget_str(j, "name", d->name, sizeof d->name)
        || jget_str(j, "program", d->prog, sizeof d->prog)
        || jget_str(j, "listen", d->listen, sizeof d->listen)
        || jget_str(j, "pid_file", d->pid_file, sizeof d->pid_file)
        || jget_str(j, "log_file", d->log_file, sizeof d->log_file)
        || !json_object_object_get_ex(j, "argv", &argv)
        || !json_object_is_type(argv, json_type_array)
        || (n = json_object_array_length(argv)) == 0
        || n > LABSPEC_ARGV_MAX
        || (strcmp(d->prog, "fabricd") && strcmp(d->prog, "agentd")
            && strcmp(d->prog, "libvirtd"))) {
        return -EINVAL;
    }
    if ((json_object_object_get_ex(j, "uplink", NULL)
         && jget_str(j, "uplink", d->uplink, sizeof d->uplink))
        || (json_object_object_get_ex(j, "http", NULL)
            && jget_str(j, "http", d->http, sizeof d->http))
        || labspec_net_parse(j, &d->net)) {
        return -EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        struct json_object *a = json_object_array_get_idx(argv, i);

        if (!json_object_is_type(a, json_type_string)) {
            return -EINVAL;
        }
        d->argv[i] = strdup(json_object_get_string(a));
        if (!d->argv[i]) {
            return fx_err_set(err, -ENOMEM, "out of memory");
        }
    }
    return 0;
}

int
labspec_load(const char *dir, struct labspec *spec, struct fx_err *err)
{
    char path[PATH_MAX + 16];
    struct json_object *j, *opts, *ds;
    uint64_t version;
    int rc = 0;

    memset(spec, 0, sizeof *spec);
    snprintf(spec->dir, sizeof spec->dir, "%s", dir);
    snprintf(path, sizeof path, "%s/%s", dir, LABSPEC_FILE);
    j = json_object_from_file(path);
    if (!j) {
        if (errno == ENOENT) {
            return fx_err_set(err, -ENOENT, "no lab in '%s' (no %s)", dir,
                              LABSPEC_FILE);
        }
        return fx_err_set(err, -EINVAL, "'%s' is not a lab file: %s", path,
                          json_util_get_last_err());
    }
    if (jget_u64(j, "version", 1000, &version)
        || (version != LABSPEC_VERSION && version != LABSPEC_VERSION_NETNS)
        || jget_str(j, "id", spec->id, sizeof spec->id)
        || !json_object_object_get_ex(j, "options", &opts)
        || labspec_opts_parse(opts, &spec->opts)
        || !json_object_object_get_ex(j, "daemons", &ds)
        || !json_object_is_type(ds, json_type_array)) {
        rc = -EINVAL;
    }
    for (size_t i = 0; !rc && i < json_object_array_length(ds); i++) {
        rc = labspec_daemon_parse(spec, json_object_array_get_idx(ds, i),
                                  err);
    }
    if (!rc && (!spec->n_daemons
                || strcmp(spec->daemons[0].prog, "fabricd"))) {
        rc = -EINVAL;
    }
    /* A netns lab says so in its version, its options and each daemon. */
    for (size_t i = 0; !rc && i < spec->n_daemons; i++) {
        if (!spec->daemons[i].net.netns[0] != !spec->opts.netns
            || (version == LABSPEC_VERSION_NETNS) != spec->opts.netns) {
            rc = -EINVAL;
        }
    }
    json_object_put(j);
    if (rc == -EINVAL) {
        return fx_err_set(err, -EINVAL, "'%s' is not a lab file of this "
                          "fexctl (versions %d and %d)", path,
                          LABSPEC_VERSION, LABSPEC_VERSION_NETNS);
    }
    return rc;
}
