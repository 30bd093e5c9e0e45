/* domxml: a VM's libvirt domain XML, built and read back.
 *
 * The NICs use libvirt's own schema for VM-FEX: a dynamic vNIC in macvtap
 * passthrough mode is
 *   <interface type='direct'><source dev='enicN' mode='passthrough'/>
 * and a DirectPath one is the vNIC's PCI function handed to the guest,
 *   <interface type='hostdev' managed='yes'><source><address type='pci'
 *   .../></source>
 * each with its <mac> and <virtualport type='802.1Qbh'><parameters
 * profileid='PP'/></virtualport>.  The memory reservation rides in our
 * own <metadata> element, so that it too lives in libvirt.  Parsing uses
 * libxml2 (libvirt's own dependency).  Pure: no libvirt here. */
#ifndef DOMXML_H
#define DOMXML_H

#include <stddef.h>
#include <stdint.h>

#include "fx_limits.h"

struct fx_err;

#define DOMXML_MAX_NICS FX_LIMITS_VM_MAX_NICS
#define DOMXML_NS "https://fexsim.dev/xmlns/vm/1"
#define DOMXML_QEMU_NS "http://libvirt.org/schemas/domain/qemu/1.0"
/* A failover pair's primary N sits on PCIe root port (bus) 1 + N. */
#define DOMXML_FAILOVER_BUS 1u
/* Dynamic vNIC N is PCI function 0000:(0c+N/256):(N/8%32).(N%8) of the
 * VIC: 32 slots of 8 functions per bus. */
#define DOMXML_VNIC_BUS 0x0c

struct domxml_nic {
    char mac[18];             /* "00:25:b5:..." */
    char profile[40];
    int directpath;
    uint32_t vnic;            /* The VIC dynamic vNIC behind it. */
    /* A QEMU guest's NIC (domxml_build_qemu): virtio-net whose backend
     * is a UDP socket, QEMU's on 'qemu_port', the agent's on
     * 'agent_port', both on 127.0.0.1.  0 for a test driver domain. */
    uint16_t agent_port;
    uint16_t qemu_port;
    /* A DirectPath NIC of a failover guest (domxml_vm.failover): its
     * standby virtio-net's socket pair, as above; the ports above are
     * then the primary's. */
    uint16_t sb_agent_port;
    uint16_t sb_qemu_port;
};

struct domxml_vm {
    char name[40];
    char uuid[40];            /* libvirt's, "" for a new domain; a
                               * redefinition must repeat it. */
    uint64_t memory_mib;
    uint64_t reservation_mib;
    size_t n_nics;
    struct domxml_nic nics[DOMXML_MAX_NICS];
    char console[256];        /* A QEMU guest's serial port file; "". */
    /* A QEMU guest whose DirectPath NICs are virtio-net failover pairs
     * (agentd --flavor failover, domxml_build_qemu). */
    int failover;
};

/* How a QEMU guest boots (domxml_build_qemu); paths absolute, of
 * [A-Za-z0-9/._+-] only (they go into the XML unescaped). */
struct domxml_boot {
    char kernel[256];
    char initrd[256];
    char cmdline[512];        /* fexguest's fxg.* words and the console. */
    char emulator[128];       /* "/usr/bin/qemu-system-x86_64". */
};

/* Writes the domain XML of 'vm' for libvirt's test driver into a malloc'd
 * string '*xmlp' (the caller frees it). */
int domxml_build(const struct domxml_vm *vm, char **xmlp, struct fx_err *err);
/* Writes the domain XML of 'vm' for libvirt's QEMU driver into a
 * malloc'd '*xmlp': a TCG guest (q35, one vCPU, vm->memory_mib) booting
 * 'boot''s kernel and initramfs, its serial port appended to the file
 * vm->console, each NIC a virtio-net on a UDP socket to the agent (its
 * ports in the nic), no ROM (a NIC's option ROM would be one more RAM
 * block to match on both ends of a migration).  The NICs' fexsim side
 * (vNIC, profile) rides in our <metadata>, since a UDP interface takes no
 * <virtualport>.
 *
 * With vm->failover each DirectPath NIC is a virtio-net failover pair
 * (QEMU's docs/system/virtio-net-failover.rst): a standby virtio-net
 * with failover=on (<teaming type='persistent'/>, alias ua-sbN) on its
 * sb_* sockets, the host's software path, and the primary standing for
 * the passthrough vNIC: a vmxnet3 (a PCI device, as a VF is: the guest's
 * net_failover takes no virtio-net as a primary), same MAC, on a
 * hot-pluggable PCIe root port of its own, failover_pair_id naming the
 * standby.  libvirt allows <teaming type='transient'> on hostdevs only,
 * so the pair id goes in by <qemu:override>; root ports use native PCIe
 * hotplug (QEMU's ACPI hotplug of bridges off, the guest's
 * pcie_ports=native), as the ACPI one removed the guest's whole
 * multifunction slot when the primary came.  The guest's command line
 * gets fxg.failover=1: its fexguest then uses the failover master. */
int domxml_build_qemu(const struct domxml_vm *vm,
                      const struct domxml_boot *boot, char **xmlp,
                      struct fx_err *err);
/* A UUID made from 'name' alone (the same on every host), into 'buf'. */
void domxml_name_uuid(const char *name, char *buf, size_t size);

/* Parses domain XML 'xml' (as virDomainGetXMLDesc returns it) into 'vm'.
 * Interfaces without an 802.1Qbh port profile are not ours and skipped;
 * a QEMU guest's NICs are read from the metadata, with their ports from
 * the UDP interface of the same MAC.
 * -EBADMSG if it does not parse. */
int domxml_parse(const char *xml, struct domxml_vm *vm, struct fx_err *err);

/* Readies the XML parser once, before threads parse (the agent's
 * hypervisor worker, hvq.h, does): libxml2 initialises itself on first
 * use without a lock.  Then domxml_parse() is safe from any thread. */
void domxml_init(void);

#endif
