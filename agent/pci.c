#include "pci.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_err.h"

struct pci_host {
    int iommu;
    size_t n;
    struct pci_dev devs[PCI_MAX_DEVS];
};

struct pci_host *
pci_host_create(int iommu, const char *adapter_model)
{
    struct pci_host *h = calloc(1, sizeof *h);

    if (!h) {
        abort();
    }
    h->iommu = iommu;
    /* The management NIC the host runs on: enabling it cuts the host
     * off, hence the warning. */
    h->devs[h->n++] = (struct pci_dev) { "0000:01:00.0",
        "Intel I350 Gigabit Ethernet (igb, host management)", 1,
        PCI_DISABLED };
    h->devs[h->n] = (struct pci_dev) { PCI_VIC_ADDR, "", 0, PCI_DISABLED };
    snprintf(h->devs[h->n].description, sizeof h->devs[h->n].description,
             "Cisco VIC %s (enic, dynamic vNICs)", adapter_model);
    h->n++;
    return h;
}

void
pci_host_destroy(struct pci_host *h)
{
    free(h);
}

int
pci_supported(const struct pci_host *h)
{
    return h->iommu;
}

void
pci_summary(const struct pci_host *h, char *buf, size_t size)
{
    size_t active = 0, pending = 0;

    if (!h->iommu) {
        snprintf(buf, size, "%s", PCI_NO_SUPPORT);
        return;
    }
    for (size_t i = 0; i < h->n; i++) {
        active += h->devs[i].state == PCI_ACTIVE;
        pending += h->devs[i].state == PCI_PENDING_REBOOT;
    }
    if (!active && !pending) {
        snprintf(buf, size, "%s", PCI_NONE_ENABLED);
        return;
    }
    snprintf(buf, size, "%zu device%s enabled for passthrough, %zu pending "
             "reboot", active + pending, active + pending == 1 ? "" : "s",
             pending);
}

size_t
pci_count(const struct pci_host *h)
{
    return h->iommu ? h->n : 0;
}

const struct pci_dev *
pci_at(const struct pci_host *h, size_t i)
{
    return i < pci_count(h) ? &h->devs[i] : NULL;
}

static struct pci_dev *
pci_find(const struct pci_host *h, const char *address, struct fx_err *err)
{
    if (!h->iommu) {
        fx_err_refuse(err, -ENOTSUP, "noPassthroughSupport", "%s",
                      PCI_NO_SUPPORT);
        return NULL;
    }
    for (size_t i = 0; i < h->n; i++) {
        if (!strcmp(h->devs[i].address, address)) {
            return (struct pci_dev *) &h->devs[i];
        }
    }
    fx_err_set(err, -ENOENT, "no PCI device '%s' on this host", address);
    return NULL;
}

int
pci_enable(struct pci_host *h, const char *address, int force,
           struct fx_err *err)
{
    struct pci_dev *d = pci_find(h, address, err);

    if (!d) {
        return h->iommu ? -ENOENT : -ENOTSUP;
    }
    if (d->state != PCI_DISABLED) {
        return fx_err_refuse(err, -EALREADY, "deviceAlreadyEnabled",
                             "%s is already enabled for passthrough",
                             address);
    }
    if (d->host_uses && !force) {
        return fx_err_refuse(err, -EBUSY, "deviceInUse",
                             "warning: the host is using %s (%s); "
                          "use --force to enable it anyway", address,
                          d->description);
    }
    d->state = PCI_PENDING_REBOOT;
    return 0;
}

void
pci_reboot(struct pci_host *h)
{
    for (size_t i = 0; i < h->n; i++) {
        if (h->devs[i].state == PCI_PENDING_REBOOT) {
            h->devs[i].state = PCI_ACTIVE;
        }
    }
}

int
pci_set_state(struct pci_host *h, const char *address, enum pci_state state,
              struct fx_err *err)
{
    struct pci_dev *d = pci_find(h, address, err);

    if (!d) {
        return h->iommu ? -ENOENT : -ENOTSUP;
    }
    d->state = state;
    return 0;
}

static const char *const pci_state_names[] = {
    [PCI_DISABLED] = "disabled",
    [PCI_PENDING_REBOOT] = "pending-reboot",
    [PCI_ACTIVE] = "active",
};

const char *
pci_state_name(enum pci_state state)
{
    return (size_t) state < sizeof pci_state_names / sizeof *pci_state_names
           ? pci_state_names[state] : "?";
}

int
pci_state_parse(const char *name, enum pci_state *statep)
{
    for (size_t i = 0; i < sizeof pci_state_names / sizeof *pci_state_names;
         i++) {
        if (!strcmp(pci_state_names[i], name)) {
            *statep = (enum pci_state) i;
            return 0;
        }
    }
    return -EINVAL;
}

int
pci_check_assignable(const struct pci_host *h, const char *address,
                     struct fx_err *err)
{
    const struct pci_dev *d = pci_find(h, address, err);

    if (!d) {
        return h->iommu ? -ENOENT : -ENOTSUP;
    }
    if (d->state == PCI_PENDING_REBOOT) {
        return fx_err_refuse(err, -EPERM, "rebootPending",
                             "%s is pending reboot: reboot the "
                          "host before assigning it", address);
    }
    if (d->state != PCI_ACTIVE) {
        return fx_err_refuse(err, -EPERM, "deviceNotEnabled",
                             "%s is not enabled for passthrough "
                          "on this host", address);
    }
    return 0;
}
