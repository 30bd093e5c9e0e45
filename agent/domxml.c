#include "domxml.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "fx_err.h"

/* ---- Building ---- */

/* A growing string; names and MACs were validated by the fabric, and we
 * only ever write [A-Za-z0-9._:-] into attributes, so no escaping. */
struct domxml_buf {
    char *s;
    size_t len, cap;
};

static void __attribute__((format(printf, 2, 3)))
domxml_put(struct domxml_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (b->len + (size_t) n + 1 > b->cap) {
        b->cap = 2 * (b->len + (size_t) n + 1);
        b->s = realloc(b->s, b->cap);
        if (!b->s) {
            abort();
        }
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t) n;
}

static void
domxml_put_nic(struct domxml_buf *b, const struct domxml_nic *nic)
{
    if (nic->directpath) {
        domxml_put(b, "    <interface type='hostdev' managed='yes'>\n"
                   "      <mac address='%s'/>\n"
                   "      <source><address type='pci' domain='0x0000' "
                   "bus='0x%02x' slot='0x%02x' function='0x%x'/></source>\n",
                   nic->mac, DOMXML_VNIC_BUS + nic->vnic / 256,
                   nic->vnic / 8 % 32, nic->vnic % 8);
    } else {
        domxml_put(b, "    <interface type='direct'>\n"
                   "      <mac address='%s'/>\n"
                   "      <source dev='enic%u' mode='passthrough'/>\n",
                   nic->mac, nic->vnic);
    }
    domxml_put(b, "      <virtualport type='802.1Qbh'>\n"
               "        <parameters profileid='%s'/>\n"
               "      </virtualport>\n"
               "    </interface>\n", nic->profile);
}

int
domxml_build(const struct domxml_vm *vm, char **xmlp, struct fx_err *err)
{
    struct domxml_buf b = { NULL, 0, 0 };

    if (vm->n_nics > DOMXML_MAX_NICS) {
        return fx_err_set(err, -EINVAL, "a VM has at most %d NICs",
                          DOMXML_MAX_NICS);
    }
    domxml_put(&b, "<domain type='test'>\n"
               "  <name>%s</name>\n", vm->name);
    if (vm->uuid[0]) {
        domxml_put(&b, "  <uuid>%s</uuid>\n", vm->uuid);
    }
    domxml_put(&b, "  <memory unit='MiB'>%llu</memory>\n"
               "  <metadata>\n"
               "    <fexsim:vm xmlns:fexsim='%s' reservation_mib='%llu'/>\n"
               "  </metadata>\n"
               "  <os><type>hvm</type></os>\n"
               "  <devices>\n",
               (unsigned long long) vm->memory_mib, DOMXML_NS,
               (unsigned long long) vm->reservation_mib);
    for (size_t i = 0; i < vm->n_nics; i++) {
        domxml_put_nic(&b, &vm->nics[i]);
    }
    domxml_put(&b, "  </devices>\n</domain>\n");
    *xmlp = b.s;
    return 0;
}

void
domxml_name_uuid(const char *name, char *buf, size_t size)
{
    uint64_t h[2] = { 0xcbf29ce484222325ull, 0x84222325cbf29ce4ull };

    /* FNV-1a twice, with two seeds: a name's, not a secret. */
    for (int k = 0; k < 2; k++) {
        for (const char *p = name; *p; p++) {
            h[k] = (h[k] ^ (uint8_t) *p) * 0x100000001b3ull;
        }
    }
    /* Version 8 (custom) and the RFC 4122 variant. */
    h[0] = (h[0] & ~0xf000ull) | 0x8000ull;
    h[1] = (h[1] & ~(3ull << 62)) | (2ull << 62);
    snprintf(buf, size, "%08llx-%04llx-%04llx-%04llx-%012llx",
             (unsigned long long) (h[0] >> 32),
             (unsigned long long) (h[0] >> 16 & 0xffff),
             (unsigned long long) (h[0] & 0xffff),
             (unsigned long long) (h[1] >> 48),
             (unsigned long long) (h[1] & 0xffffffffffffull));
}

/* Whether 'path' may go into an attribute or element unescaped. */
static int
domxml_safe_path(const char *path)
{
    if (path[0] != '/') {
        return 0;
    }
    for (const char *p = path; *p; p++) {
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                    "0123456789/._+-", *p)) {
            return 0;
        }
    }
    return 1;
}

/* One virtio-net or vmxnet3 NIC on a UDP socket pair; 'extra' goes inside
 * (teaming, alias, address). */
static void
domxml_put_udp(struct domxml_buf *b, const char *mac, uint16_t agent_port,
               uint16_t qemu_port, const char *model, const char *extra)
{
    domxml_put(b, "    <interface type='udp'>\n"
               "      <mac address='%s'/>\n"
               "      <source address='127.0.0.1' port='%u'>\n"
               "        <local address='127.0.0.1' port='%u'/>\n"
               "      </source>\n"
               "      <model type='%s'/>\n%s"
               "      <rom enabled='no'/>\n"
               "    </interface>\n", mac, agent_port, qemu_port, model,
               extra);
}

/* NIC 'i', a failover pair (domxml.h): the standby, the primary's own
 * root port (bus DOMXML_FAILOVER_BUS + i), the primary. */
static void
domxml_put_failover(struct domxml_buf *b, const struct domxml_nic *n,
                    size_t i)
{
    char extra[256];

    snprintf(extra, sizeof extra, "      <teaming type='persistent'/>\n"
             "      <alias name='ua-sb%zu'/>\n", i);
    domxml_put_udp(b, n->mac, n->sb_agent_port, n->sb_qemu_port, "virtio",
                   extra);
    domxml_put(b, "    <controller type='pci' index='%zu' "
               "model='pcie-root-port'/>\n", DOMXML_FAILOVER_BUS + i);
    snprintf(extra, sizeof extra, "      <alias name='ua-vnic%zu'/>\n"
             "      <address type='pci' domain='0x0000' bus='0x%02zx' "
             "slot='0x00' function='0x0'/>\n", i, DOMXML_FAILOVER_BUS + i);
    domxml_put_udp(b, n->mac, n->agent_port, n->qemu_port, "vmxnet3",
                   extra);
}

/* What libvirt's schema cannot say of a failover guest (domxml.h). */
static void
domxml_put_failover_qemu(struct domxml_buf *b, const struct domxml_vm *vm)
{
    domxml_put(b, "  <qemu:commandline>\n"
               "    <qemu:arg value='-global'/>\n"
               "    <qemu:arg value='ICH9-LPC.acpi-pci-hotplug-with-bridge-"
               "support=off'/>\n"
               "  </qemu:commandline>\n"
               "  <qemu:override>\n");
    for (size_t i = 0; i < vm->n_nics; i++) {
        if (vm->nics[i].directpath) {
            domxml_put(b, "    <qemu:device alias='ua-vnic%zu'>\n"
                       "      <qemu:frontend>\n"
                       "        <qemu:property name='failover_pair_id' "
                       "type='string' value='ua-sb%zu'/>\n"
                       "      </qemu:frontend>\n"
                       "    </qemu:device>\n", i, i);
        }
    }
    domxml_put(b, "  </qemu:override>\n");
}

int
domxml_build_qemu(const struct domxml_vm *vm, const struct domxml_boot *boot,
                  char **xmlp, struct fx_err *err)
{
    struct domxml_buf b = { NULL, 0, 0 };
    const char *paths[] = { boot->kernel, boot->initrd, boot->emulator,
                            vm->console };

    if (vm->n_nics > DOMXML_MAX_NICS) {
        return fx_err_set(err, -EINVAL, "a VM has at most %d NICs",
                          DOMXML_MAX_NICS);
    }
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        if (!domxml_safe_path(paths[i])) {
            return fx_err_set(err, -EINVAL, "path '%s' is not absolute or "
                              "has characters other than [A-Za-z0-9/._+-]",
                              paths[i]);
        }
    }
    if (strpbrk(boot->cmdline, "<>&'\"")) {
        return fx_err_set(err, -EINVAL, "kernel command line has XML "
                          "characters");
    }
    domxml_put(&b, "<domain type='qemu'%s>\n  <name>%s</name>\n",
               vm->failover ? " xmlns:qemu='" DOMXML_QEMU_NS "'" : "",
               vm->name);
    if (vm->uuid[0]) {
        domxml_put(&b, "  <uuid>%s</uuid>\n", vm->uuid);
    }
    domxml_put(&b, "  <memory unit='MiB'>%llu</memory>\n"
               "  <vcpu>1</vcpu>\n"
               "  <metadata>\n"
               "    <fexsim:vm xmlns:fexsim='%s' reservation_mib='%llu'>\n",
               (unsigned long long) vm->memory_mib, DOMXML_NS,
               (unsigned long long) vm->reservation_mib);
    for (size_t i = 0; i < vm->n_nics; i++) {
        const struct domxml_nic *n = &vm->nics[i];

        domxml_put(&b, "      <fexsim:nic mac='%s' profile='%s' vnic='%u' "
                   "directpath='%d'/>\n", n->mac, n->profile, n->vnic,
                   n->directpath);
    }
    domxml_put(&b, "    </fexsim:vm>\n"
               "  </metadata>\n"
               "  <os>\n"
               "    <type arch='x86_64' machine='q35'>hvm</type>\n"
               "    <kernel>%s</kernel>\n"
               "    <initrd>%s</initrd>\n"
               "    <cmdline>%s%s</cmdline>\n"
               "  </os>\n"
               "  <on_reboot>destroy</on_reboot>\n"
               "  <devices>\n"
               "    <emulator>%s</emulator>\n"
               "    <serial type='file'>\n"
               "      <source path='%s' append='on'/>\n"
               "      <target port='0'/>\n"
               "    </serial>\n", boot->kernel, boot->initrd, boot->cmdline,
               vm->failover ? " fxg.failover=1 pcie_ports=native" : "",
               boot->emulator, vm->console);
    for (size_t i = 0; i < vm->n_nics; i++) {
        const struct domxml_nic *n = &vm->nics[i];

        if (vm->failover && n->directpath) {
            domxml_put_failover(&b, n, i);
            continue;
        }
        domxml_put_udp(&b, n->mac, n->agent_port, n->qemu_port, "virtio",
                       "");
    }
    domxml_put(&b, "    <memballoon model='none'/>\n  </devices>\n");
    if (vm->failover) {
        domxml_put_failover_qemu(&b, vm);
    }
    domxml_put(&b, "</domain>\n");
    *xmlp = b.s;
    return 0;
}

/* ---- Parsing ---- */

static xmlNode *
domxml_child(const xmlNode *n, const char *name)
{
    for (xmlNode *c = n ? n->children : NULL; c; c = c->next) {
        if (c->type == XML_ELEMENT_NODE
            && !xmlStrcmp(c->name, (const xmlChar *) name)) {
            return c;
        }
    }
    return NULL;
}

/* Copies attribute 'name' of 'n' into 'buf'; "" if absent. */
static void
domxml_attr(const xmlNode *n, const char *name, char *buf, size_t size)
{
    xmlChar *v = n ? xmlGetProp(n, (const xmlChar *) name) : NULL;

    snprintf(buf, size, "%s", v ? (const char *) v : "");
    xmlFree(v);
}

static uint64_t
domxml_attr_u64(const xmlNode *n, const char *name)
{
    char buf[32];

    domxml_attr(n, name, buf, sizeof buf);
    return strtoull(buf, NULL, 0);
}

/* Reads one <interface>; returns 0 if it is one of ours, else 1. */
static int
domxml_parse_nic(const xmlNode *ifc, struct domxml_nic *nic)
{
    xmlNode *vp = domxml_child(ifc, "virtualport");
    xmlNode *src = domxml_child(ifc, "source");
    char type[16], dev[32];

    domxml_attr(vp, "type", type, sizeof type);
    if (strcmp(type, "802.1Qbh")) {
        return 1;
    }
    memset(nic, 0, sizeof *nic);
    domxml_attr(domxml_child(vp, "parameters"), "profileid", nic->profile,
                sizeof nic->profile);
    domxml_attr(domxml_child(ifc, "mac"), "address", nic->mac,
                sizeof nic->mac);
    domxml_attr(ifc, "type", type, sizeof type);
    nic->directpath = !strcmp(type, "hostdev");
    if (nic->directpath) {
        xmlNode *a = domxml_child(src, "address");

        nic->vnic = (uint32_t) ((domxml_attr_u64(a, "bus") - DOMXML_VNIC_BUS)
                                * 256 + domxml_attr_u64(a, "slot") * 8
                                + domxml_attr_u64(a, "function"));
    } else {
        domxml_attr(src, "dev", dev, sizeof dev);
        nic->vnic = (uint32_t) strtoul(dev + (strncmp(dev, "enic", 4) ? 0
                                              : 4), NULL, 10);
    }
    return 0;
}

static uint64_t
domxml_memory_mib(const xmlNode *mem)
{
    xmlChar *v = xmlNodeGetContent(mem);
    char unit[8];
    uint64_t n = v ? strtoull((const char *) v, NULL, 10) : 0;

    xmlFree(v);
    domxml_attr(mem, "unit", unit, sizeof unit);
    /* libvirt reads memory back in KiB whatever unit it was given. */
    if (!unit[0] || !strcmp(unit, "KiB") || !strcmp(unit, "k")) {
        return n / 1024;
    }
    return !strcmp(unit, "GiB") ? n * 1024 : n;
}

/* A QEMU guest's NICs, from <fexsim:nic> in the metadata 'md', their
 * ports from the UDP interfaces of 'devices'. */
static void
domxml_parse_meta_nics(const xmlNode *md, const xmlNode *devices,
                       struct domxml_vm *vm)
{
    for (xmlNode *c = md ? md->children : NULL; c; c = c->next) {
        struct domxml_nic *nic = &vm->nics[vm->n_nics];

        if (c->type != XML_ELEMENT_NODE
            || xmlStrcmp(c->name, (const xmlChar *) "nic")
            || vm->n_nics >= DOMXML_MAX_NICS) {
            continue;
        }
        memset(nic, 0, sizeof *nic);
        domxml_attr(c, "mac", nic->mac, sizeof nic->mac);
        domxml_attr(c, "profile", nic->profile, sizeof nic->profile);
        nic->vnic = (uint32_t) domxml_attr_u64(c, "vnic");
        nic->directpath = domxml_attr_u64(c, "directpath") != 0;
        for (xmlNode *d = devices->children; d; d = d->next) {
            xmlNode *src = domxml_child(d, "source");
            char mac[18];

            domxml_attr(domxml_child(d, "mac"), "address", mac, sizeof mac);
            uint16_t agent_port, qemu_port;

            if (d->type != XML_ELEMENT_NODE
                || xmlStrcmp(d->name, (const xmlChar *) "interface")
                || strcasecmp(mac, nic->mac)) {
                continue;
            }
            agent_port = (uint16_t) domxml_attr_u64(src, "port");
            qemu_port = (uint16_t) domxml_attr_u64(
                domxml_child(src, "local"), "port");
            /* A failover pair's standby is the one that teams. */
            if (domxml_child(d, "teaming")) {
                nic->sb_agent_port = agent_port;
                nic->sb_qemu_port = qemu_port;
                vm->failover = 1;
            } else {
                nic->agent_port = agent_port;
                nic->qemu_port = qemu_port;
            }
        }
        vm->n_nics++;
    }
}

/* A QEMU guest's serial port file, into vm->console. */
static void
domxml_parse_console(const xmlNode *devices, struct domxml_vm *vm)
{
    for (xmlNode *d = devices->children; d; d = d->next) {
        if (d->type == XML_ELEMENT_NODE
            && !xmlStrcmp(d->name, (const xmlChar *) "serial")) {
            domxml_attr(domxml_child(d, "source"), "path", vm->console,
                        sizeof vm->console);
            return;
        }
    }
}

static void
domxml_parse_root(const xmlNode *root, struct domxml_vm *vm)
{
    xmlNode *name = domxml_child(root, "name");
    xmlNode *md = domxml_child(domxml_child(root, "metadata"), "vm");
    xmlChar *v = name ? xmlNodeGetContent(name) : NULL;

    snprintf(vm->name, sizeof vm->name, "%s", v ? (const char *) v : "");
    xmlFree(v);
    v = domxml_child(root, "uuid") ? xmlNodeGetContent(domxml_child(root,
                                                        "uuid")) : NULL;
    snprintf(vm->uuid, sizeof vm->uuid, "%s", v ? (const char *) v : "");
    xmlFree(v);
    vm->memory_mib = domxml_memory_mib(domxml_child(root, "memory"));
    vm->reservation_mib = domxml_attr_u64(md, "reservation_mib");
    for (xmlNode *c = domxml_child(root, "devices")->children; c;
         c = c->next) {
        if (c->type == XML_ELEMENT_NODE
            && !xmlStrcmp(c->name, (const xmlChar *) "interface")
            && vm->n_nics < DOMXML_MAX_NICS
            && !domxml_parse_nic(c, &vm->nics[vm->n_nics])) {
            vm->n_nics++;
        }
    }
    if (!vm->n_nics) {
        domxml_parse_meta_nics(md, domxml_child(root, "devices"), vm);
    }
    domxml_parse_console(domxml_child(root, "devices"), vm);
}

int
domxml_parse(const char *xml, struct domxml_vm *vm, struct fx_err *err)
{
    xmlDoc *doc = xmlReadMemory(xml, (int) strlen(xml), "domain.xml", NULL,
                                XML_PARSE_NONET | XML_PARSE_NOERROR
                                | XML_PARSE_NOWARNING);
    xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;

    memset(vm, 0, sizeof *vm);
    if (!root || xmlStrcmp(root->name, (const xmlChar *) "domain")
        || !domxml_child(root, "devices")) {
        xmlFreeDoc(doc);
        return fx_err_set(err, -EBADMSG, "domain XML does not parse");
    }
    domxml_parse_root(root, vm);
    xmlFreeDoc(doc);
    return 0;
}

void
domxml_init(void)
{
    xmlInitParser();
}
