/* pci: the host's PCI devices and their passthrough configuration, as the
 * seed walks through it (vSphere's "Configure Passthrough").
 *
 * A host without an IOMMU (VT-d/AMD-Vi off) "does not support passthrough
 * configuration".  A capable host starts with "No devices currently
 * enabled for passthrough".  Enabling a device the host itself uses needs
 * 'force'; an enabled device is pending reboot until the host reboots, and
 * cannot be assigned to a VM before.  Pure module. */
#ifndef PCI_H
#define PCI_H

#include <stddef.h>

struct fx_err;

enum pci_state {
    PCI_DISABLED = 0,         /* Values match fexsim.v1.PciState. */
    PCI_PENDING_REBOOT = 1,
    PCI_ACTIVE = 2,
};

struct pci_dev {
    char address[16];         /* "0000:0b:00.0" */
    char description[64];
    int host_uses;            /* The host needs it (management NIC). */
    enum pci_state state;
};

#define PCI_NO_SUPPORT "Host does not support passthrough configuration"
#define PCI_NONE_ENABLED "No devices currently enabled for passthrough"

/* The VIC's PCI function that carries the dynamic vNICs. */
#define PCI_VIC_ADDR "0000:0b:00.0"

/* Devices a host has at most. */
#define PCI_MAX_DEVS 4

struct pci_host;

/* A host with an IOMMU if 'iommu', with a management NIC the host uses and
 * the VIC of 'adapter_model' (copied).  Free with pci_host_destroy(). */
struct pci_host *pci_host_create(int iommu, const char *adapter_model);
void pci_host_destroy(struct pci_host *);

int pci_supported(const struct pci_host *);
/* The summary line for listings: one of the two texts above, or "N
 * device(s) enabled for passthrough, M pending reboot". */
void pci_summary(const struct pci_host *, char *buf, size_t size);
size_t pci_count(const struct pci_host *);
const struct pci_dev *pci_at(const struct pci_host *, size_t i);

/* Enables 'address' for passthrough: it becomes pending reboot.  -ENOTSUP
 * without an IOMMU, -ENOENT for an unknown address, -EBUSY (a warning)
 * for a device the host uses unless 'force', -EALREADY if enabled. */
int pci_enable(struct pci_host *, const char *address, int force,
               struct fx_err *err);
/* The host reboots: every pending device becomes active. */
void pci_reboot(struct pci_host *);
/* Puts 'address' in 'state' as it was before: a restarted agent brings
 * back its saved configuration, and a change that could not be saved is
 * undone.  -ENOTSUP without an IOMMU, -ENOENT for an unknown address. */
int pci_set_state(struct pci_host *, const char *address,
                  enum pci_state state, struct fx_err *err);

/* The name of 'state' in state files ("disabled", "pending-reboot",
 * "active"), and back: -EINVAL for a name that is none of them. */
const char *pci_state_name(enum pci_state state);
int pci_state_parse(const char *name, enum pci_state *statep);
/* 0 if 'address' may be assigned to a VM now, else -EPERM (pending
 * reboot or not enabled) or -ENOTSUP, with the reason. */
int pci_check_assignable(const struct pci_host *, const char *address,
                         struct fx_err *err);

#endif
