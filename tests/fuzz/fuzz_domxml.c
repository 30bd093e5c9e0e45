/* fuzz_domxml: a domain's XML as agentd reads it back from the
 * hypervisor (domxml_parse() in domxml.c, with libxml2).  With the test
 * driver the XML is our own, but with qemu:/// it is whatever the domain
 * definition holds, which anyone with access to libvirt can edit.
 *
 * Whatever parses must make a VM that builds again: when its names are
 * of the characters domxml_build() writes unescaped (what the fabric
 * allows), the XML built from it parses back to the same VM. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "domxml.h"
#include "fx_err.h"

/* Whether 's' is made of [A-Za-z0-9._:-] only. */
static int
fz_plain(const char *s)
{
    return s[strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                       "0123456789._:-")] == '\0';
}

static int
fz_vm_plain(const struct domxml_vm *vm)
{
    int plain = fz_plain(vm->name) && fz_plain(vm->uuid);

    for (size_t i = 0; i < vm->n_nics; i++) {
        plain = plain && fz_plain(vm->nics[i].mac)
                && fz_plain(vm->nics[i].profile);
    }
    return plain;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *xml = malloc(size + 1);
    struct domxml_vm *vm = malloc(sizeof *vm), *again = malloc(sizeof *vm);
    struct fx_err err;
    char *built;

    if (!xml || !vm || !again) {
        abort();
    }
    memcpy(xml, data, size);
    xml[size] = '\0';
    if (domxml_parse(xml, vm, &err)) {
        if (!err.msg[0]) {
            abort();
        }
    } else if (vm->n_nics > DOMXML_MAX_NICS) {
        abort();
    } else if (fz_vm_plain(vm)) {
        /* What only a QEMU guest's XML has (domxml_build_qemu): not in
         * what domxml_build() writes. */
        vm->console[0] = '\0';
        for (size_t i = 0; i < vm->n_nics; i++) {
            vm->nics[i].agent_port = vm->nics[i].qemu_port = 0;
        }
        if (domxml_build(vm, &built, NULL) || domxml_parse(built, again, NULL)
            || memcmp(vm, again, sizeof *vm)) {
            abort();
        }
        free(built);
    }
    free(xml);
    free(vm);
    free(again);
    return 0;
}
