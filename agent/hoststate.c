#include "hoststate.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "domxml.h"
#include "fx_err.h"
#include "fx_mac.h"
#include "fx_file.h"
#include "hv.h"
#include "log.h"
#include "pci.h"
#include "vic.h"

LOG_MODULE("hoststate");

#define TEST_NS "xmlns:test='http://libvirt.org/schemas/domain/test/1.0'"
/* libvirt's virDomainState values the test driver takes back. */
#define RUNSTATE_RUNNING 1
#define RUNSTATE_SHUTOFF 5

static void
path_in(char *buf, size_t size, const char *dir, const char *file)
{
    snprintf(buf, size, "%s/%s", dir, file);
}

int
hoststate_uri(const char *dir, const char *cfg_uri, char *uri, size_t size,
              int *nodep, struct fx_err *err)
{
    char node[4096], abs[4096];

    *nodep = !strncmp(cfg_uri, "test:///", 8);
    /* Made for any driver: the vnics and passthrough files live here. */
    if (mkdir(dir, 0755) && errno != EEXIST) {
        return fx_err_set(err, -errno, "cannot create state dir '%s': %s",
                          dir, strerror(errno));
    }
    if (!*nodep) {
        snprintf(uri, size, "%s", cfg_uri);
        return 0;
    }
    if (!realpath(dir, abs)) {
        return fx_err_set(err, -errno, "state dir '%s': %s", dir,
                          strerror(errno));
    }
    path_in(node, sizeof node, abs, HOSTSTATE_NODE_FILE);
    /* A fresh host starts as the configured URI has it (test:///default
     * with its sample domain); hoststate_save() then writes the file. */
    if (access(node, F_OK)) {
        snprintf(uri, size, "%s", cfg_uri);
    } else {
        snprintf(uri, size, "test://%s", node);
    }
    return 0;
}

/* ---- The vnics file ---- */

struct vnic_line {
    uint32_t idx;
    struct vic_vnic_cfg cfg;
};

/* Reads DIR/vnics into 'lines' (up to 'max') and their number into
 * '*np'; a missing file is none.  The file is only ever replaced whole,
 * so a line that does not parse is damage: -EBADMSG. */
static int
vnics_read(const char *dir, struct vnic_line *lines, size_t max,
           size_t *np, struct fx_err *err)
{
    char path[4096], line[256], state[16], mac[FX_MAC_STR_SIZE];
    unsigned vlan, mtu, off, line_no = 0;
    FILE *f;

    *np = 0;
    path_in(path, sizeof path, dir, HOSTSTATE_VNICS_FILE);
    f = fopen(path, "r");
    while (f && *np < max && fgets(line, sizeof line, f)) {
        struct vnic_line *l = &lines[*np];

        line_no++;
        if (sscanf(line, "%" SCNu32 " %15s %17s %u %u %u", &l->idx, state,
                   mac, &vlan, &mtu, &off) != 6
            || fx_mac_parse(mac, l->cfg.mac)) {
            fclose(f);
            return fx_err_set(err, -EBADMSG, "'%s' line %u is damaged",
                              path, line_no);
        }
        l->cfg.vlan = (uint16_t) vlan;
        l->cfg.mtu = (uint16_t) mtu;
        l->cfg.offload_flags = off;
        (*np)++;
    }
    if (f) {
        fclose(f);
    }
    return 0;
}

static int
vnics_write(const char *dir, const struct vic *vic, struct fx_err *err)
{
    size_t cap = 64 + (size_t) vic_vnic_count(vic) * 80, len = 0;
    char path[4096], *buf = malloc(cap);
    struct vic_vnic_info info;
    int rc;

    if (!buf) {
        abort();
    }
    buf[0] = '\0';
    for (uint32_t i = 0; i < vic_vnic_count(vic); i++) {
        char mac[FX_MAC_STR_SIZE];

        if (vic_vnic_info(vic, i, &info, NULL)
            || info.state == VIC_VNIC_FREE) {
            continue;
        }
        fx_mac_format(info.cfg.mac, mac);
        len += (size_t) snprintf(buf + len, cap - len, "%u %s %s %u %u %u\n",
                                 i, vic_vnic_state_name(info.state), mac,
                                 info.cfg.vlan, info.cfg.mtu,
                                 info.cfg.offload_flags);
    }
    path_in(path, sizeof path, dir, HOSTSTATE_VNICS_FILE);
    rc = fx_file_write_atomic(path, buf, err);
    free(buf);
    return rc;
}

/* ---- The passthrough file ---- */

/* Puts each device DIR/passthrough names in its state; counts them in
 * '*np'.  A missing file is none enabled (a fresh host); a line that does
 * not parse, or names a device this host does not have, is damage. */
static int
passthrough_read(const char *dir, struct pci_host *pci, size_t *np,
                 struct fx_err *err)
{
    char path[4096], line[128], addr[32], name[32], extra;
    enum pci_state state;
    unsigned line_no = 0;
    int rc = 0;
    FILE *f;

    *np = 0;
    path_in(path, sizeof path, dir, HOSTSTATE_PASSTHROUGH_FILE);
    f = fopen(path, "r");
    if (!f) {
        return errno == ENOENT ? 0
               : fx_err_set(err, -errno, "cannot read '%s': %s", path,
                            strerror(errno));
    }
    while (!rc && fgets(line, sizeof line, f)) {
        line_no++;
        if (sscanf(line, "%31s %31s %c", addr, name, &extra) != 2
            || pci_state_parse(name, &state) || state == PCI_DISABLED) {
            rc = fx_err_set(err, -EBADMSG, "'%s' line %u is damaged", path,
                            line_no);
        } else if (pci_set_state(pci, addr, state, err)) {
            rc = fx_err_wrap(err, "'%s' line %u", path, line_no);
        } else {
            (*np)++;
        }
    }
    fclose(f);
    return rc;
}

static int
passthrough_write(const char *dir, const struct pci_host *pci,
                  struct fx_err *err)
{
    char path[4096], buf[512];
    size_t len = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < pci_count(pci) && len < sizeof buf; i++) {
        const struct pci_dev *d = pci_at(pci, i);

        if (d->state != PCI_DISABLED) {
            len += (size_t) snprintf(buf + len, sizeof buf - len, "%s %s\n",
                                     d->address, pci_state_name(d->state));
        }
    }
    path_in(path, sizeof path, dir, HOSTSTATE_PASSTHROUGH_FILE);
    return fx_file_write_atomic(path, buf, err);
}

/* ---- The node file ---- */

/* Appends domain XML 'xml' to 'out' with the test driver's namespace and
 * run state, so that test:///node.xml brings it back as it was. */
static int
node_append(char **out, size_t *len, const char *xml, int active,
            struct fx_err *err)
{
    const char *open_end = strchr(xml, '>');
    const char *close = strstr(xml, "</domain>");
    size_t need;
    char *p;

    if (!open_end || !close || strncmp(xml, "<domain", 7)) {
        return fx_err_set(err, -EBADMSG, "libvirt gave domain XML we cannot "
                          "store");
    }
    need = *len + strlen(xml) + sizeof TEST_NS + 64;
    p = realloc(*out, need + 1);
    if (!p) {
        abort();
    }
    *out = p;
    *len += (size_t) sprintf(p + *len, "%.*s %s>%.*s  <test:runstate>%d"
                             "</test:runstate>\n</domain>\n",
                             (int) (open_end - xml), xml, TEST_NS,
                             (int) (close - open_end - 1), open_end + 1,
                             active ? RUNSTATE_RUNNING : RUNSTATE_SHUTOFF);
    return 0;
}

static int
node_write(const char *dir, struct hv *hv, struct fx_err *err)
{
    char path[4096], **names, *out = strdup("<node>\n"), *xml;
    size_t n, len = strlen("<node>\n");
    int rc = 0, active;

    if (!out) {
        abort();
    }
    if (hv_list_all(hv, &names, &n, err)) {
        free(out);
        return err->code;
    }
    for (size_t i = 0; i < n && !rc; i++) {
        rc = hv_is_active(hv, names[i], &active, err)
             || hv_get_xml(hv, names[i], 1, &xml, err);
        if (!rc) {
            rc = node_append(&out, &len, xml, active, err);
            free(xml);
        }
    }
    hv_free_names(names, n);
    if (!rc) {
        out = realloc(out, len + sizeof "</node>\n");
        if (!out) {
            abort();
        }
        strcpy(out + len, "</node>\n");
        path_in(path, sizeof path, dir, HOSTSTATE_NODE_FILE);
        rc = fx_file_write_atomic(path, out, err);
    }
    free(out);
    return rc ? err->code : 0;
}

int
hoststate_save(const char *dir, int node, struct hv *hv,
               const struct vic *vic, const struct pci_host *pci,
               struct fx_err *err)
{
    if ((node && node_write(dir, hv, err)) || vnics_write(dir, vic, err)
        || passthrough_write(dir, pci, err)) {
        return err->code;
    }
    return 0;
}

/* ---- Restoring the adapter ---- */

/* Reserves the vNIC of NIC 'nic' of domain 'vm', and binds it with its
 * settings from 'lines' if the domain runs. */
static int
restore_nic(struct vic *vic, const struct domxml_nic *nic, int active,
            const struct vnic_line *lines, size_t n_lines, const char *vm,
            struct fx_err *err)
{
    struct vic_vnic_cfg cfg = { .vlan = 1 };
    char mac[FX_MAC_STR_SIZE];

    if (vic_vnic_reserve_at(vic, nic->vnic, err)) {
        return fx_err_wrap(err, "VM '%s' NIC %s", vm, nic->mac);
    }
    if (!active) {
        return 0;
    }
    for (size_t i = 0; i < n_lines; i++) {
        fx_mac_format(lines[i].cfg.mac, mac);
        if (lines[i].idx == nic->vnic && !strcmp(mac, nic->mac)) {
            cfg = lines[i].cfg;
        }
    }
    if (fx_mac_parse(nic->mac, cfg.mac)) {
        return fx_err_set(err, -EBADMSG, "VM '%s' NIC %s: not a MAC address",
                          vm, nic->mac);
    }
    if (vic_vnic_bind(vic, nic->vnic, &cfg, err)) {
        return fx_err_wrap(err, "VM '%s' NIC %s: vNIC %u", vm, nic->mac,
                           nic->vnic);
    }
    return 0;
}

/* Restores the vNICs of domain 'name' (one that does not parse is not
 * ours: skipped); adds how many to '*n_nics'. */
static int
restore_domain(struct hv *hv, struct vic *vic, const char *name,
               const struct vnic_line *lines, size_t n_lines,
               size_t *n_nics, struct fx_err *err)
{
    struct domxml_vm vm;
    int active = 0, rc;
    char *xml;

    if (hv_is_active(hv, name, &active, err)
        || hv_get_xml(hv, name, 1, &xml, err)) {
        return err->code;
    }
    rc = domxml_parse(xml, &vm, NULL);
    free(xml);
    for (size_t k = 0; !rc && k < vm.n_nics; k++) {
        if (restore_nic(vic, &vm.nics[k], active, lines, n_lines, vm.name,
                        err)) {
            return err->code;
        }
        (*n_nics)++;
    }
    return 0;
}

int
hoststate_restore(const char *dir, struct hv *hv, struct vic *vic,
                  struct pci_host *pci, struct fx_err *err)
{
    struct vnic_line *lines = calloc(vic_vnic_count(vic), sizeof *lines);
    size_t n_lines, n = 0, n_nics = 0, n_pci = 0;
    char **names = NULL;
    int rc;

    if (!lines) {
        abort();
    }
    rc = passthrough_read(dir, pci, &n_pci, err)
         || vnics_read(dir, lines, vic_vnic_count(vic), &n_lines, err)
         || hv_list_all(hv, &names, &n, err);
    for (size_t i = 0; !rc && i < n; i++) {
        rc = restore_domain(hv, vic, names[i], lines, n_lines, &n_nics, err);
    }
    if (!rc) {
        LOG_INFO("restored from %s: %zu domains, %zu vNICs in use, %u free, "
                 "%zu devices enabled for passthrough", dir, n, n_nics,
                 vic_free_count(vic), n_pci);
    }
    hv_free_names(names, n);
    free(lines);
    return rc ? err->code : 0;
}
