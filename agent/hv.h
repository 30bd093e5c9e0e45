/* hv: the hypervisor behind one small interface.
 *
 * agentd talks to "a hypervisor"; a provider (struct hv_class, the
 * dpif_class idea of Open vSwitch) does the work.  hv_libvirt.c is the
 * one real provider, over libvirt: the embedded test:/// driver by default,
 * real QEMU through qemu:///system later.  Tests may plug in their own. */
#ifndef HV_H
#define HV_H

#include <stddef.h>

struct fx_err;

struct hv_info {
    char type[32];      /* Driver type as libvirt names it: "TEST", "QEMU". */
    char version[32];   /* Hypervisor version, "major.minor.release". */
    char uri[256];      /* The canonical URI of the open connection. */
};

/* A provider.  Every function returns 0 or a negative errno with 'err'
 * filled; 'state' is the provider's own, made by open(). */
struct hv_class {
    const char *name;
    int (*open)(const char *uri, void **statep, struct fx_err *err);
    void (*close)(void *state);
    int (*info)(void *state, struct hv_info *info, struct fx_err *err);
};

/* The libvirt provider (hv_libvirt.c). */
extern const struct hv_class hv_libvirt_class;

struct hv;

/* Opens 'uri' with provider 'cls'.  Stores the handle in '*hvp'; the
 * caller frees it with hv_close(). */
int hv_open(const struct hv_class *cls, const char *uri, struct hv **hvp,
            struct fx_err *err);
void hv_close(struct hv *);
int hv_get_info(struct hv *, struct hv_info *info, struct fx_err *err);

#endif
