/* Domain XML round trip through libvirt's embedded test driver: the NICs
 * of both VM-FEX forms pass VIR_DOMAIN_DEFINE_VALIDATE and read back. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "domxml.h"
#include "fx_err.h"
#include "hv.h"

static struct domxml_vm
sample_vm(void)
{
    struct domxml_vm vm = { .name = "vm1", .memory_mib = 2048,
                            .reservation_mib = 2048, .n_nics = 2 };

    vm.nics[0] = (struct domxml_nic) { .mac = "00:25:b5:00:00:01",
                                       .profile = "pp-web", .vnic = 3 };
    vm.nics[1] = (struct domxml_nic) { .mac = "00:25:b5:00:00:02",
                                       .profile = "pp-hp", .directpath = 1,
                                       .vnic = 4095 };
    return vm;
}

static void
domxml_parses_what_it_builds(void **state)
{
    struct domxml_vm vm = sample_vm(), back;
    char *xml;

    (void) state;
    assert_int_equal(domxml_build(&vm, &xml, NULL), 0);
    assert_non_null(strstr(xml, "<interface type='hostdev' managed='yes'>"));
    assert_non_null(strstr(xml, "mode='passthrough'"));
    assert_int_equal(domxml_parse(xml, &back, NULL), 0);
    assert_memory_equal(&vm, &back, sizeof vm);
    free(xml);
}

/* A QEMU guest's domain: NICs on UDP sockets, their fexsim side in the
 * metadata, the console file: all read back. */
static void
domxml_qemu_parses_what_it_builds(void **state)
{
    struct domxml_vm vm = sample_vm(), back;
    struct domxml_boot boot = { "/g/vmlinuz", "/g/initrd.img",
                                "console=ttyS0 fxg.rate=100",
                                "/usr/bin/qemu-system-x86_64" };
    char *xml, uuid[40], uuid2[40];
    struct fx_err err;

    (void) state;
    vm.nics[0].agent_port = 20001;
    vm.nics[0].qemu_port = 20002;
    vm.nics[1].agent_port = 20003;
    vm.nics[1].qemu_port = 20004;
    snprintf(vm.console, sizeof vm.console, "/lab/h1-state/vm1.console");
    domxml_name_uuid(vm.name, vm.uuid, sizeof vm.uuid);
    assert_int_equal(domxml_build_qemu(&vm, &boot, &xml, NULL), 0);
    assert_non_null(strstr(xml, "<domain type='qemu'>"));
    assert_non_null(strstr(xml, "<interface type='udp'>"));
    assert_non_null(strstr(xml, "<kernel>/g/vmlinuz</kernel>"));
    assert_int_equal(domxml_parse(xml, &back, NULL), 0);
    assert_memory_equal(&vm, &back, sizeof vm);
    free(xml);

    /* The same UUID for the same name, another for another. */
    domxml_name_uuid("vm1", uuid, sizeof uuid);
    assert_string_equal(uuid, vm.uuid);
    assert_int_equal(strlen(uuid), 36);
    domxml_name_uuid("vm2", uuid2, sizeof uuid2);
    assert_string_not_equal(uuid, uuid2);

    /* Paths go into the XML unescaped: only plain ones. */
    snprintf(vm.console, sizeof vm.console, "/lab/x'/y.console");
    assert_int_equal(domxml_build_qemu(&vm, &boot, &xml, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "path"));
}

/* A failover guest: each DirectPath NIC a standby virtio-net teaming with
 * a vmxnet3 primary on a root port of its own, paired by QEMU's
 * failover_pair_id; the standby's sockets read back apart from the
 * primary's. */
static void
domxml_failover_pairs_read_back(void **state)
{
    struct domxml_vm vm = sample_vm(), back;
    struct domxml_boot boot = { "/g/vmlinuz", "/g/initrd.img",
                                "console=ttyS0 fxg.rate=100",
                                "/usr/bin/qemu-system-x86_64" };
    char *xml;
    size_t dp = 0;

    (void) state;
    vm.failover = 1;
    for (size_t i = 0; i < vm.n_nics; i++) {
        vm.nics[i].agent_port = (uint16_t) (20001 + 4 * i);
        vm.nics[i].qemu_port = (uint16_t) (20002 + 4 * i);
        if (vm.nics[i].directpath) {
            vm.nics[i].sb_agent_port = (uint16_t) (20003 + 4 * i);
            vm.nics[i].sb_qemu_port = (uint16_t) (20004 + 4 * i);
            dp = i;
        }
    }
    snprintf(vm.console, sizeof vm.console, "/lab/h1-state/vm1.console");
    domxml_name_uuid(vm.name, vm.uuid, sizeof vm.uuid);
    assert_int_equal(domxml_build_qemu(&vm, &boot, &xml, NULL), 0);
    assert_non_null(strstr(xml, "<teaming type='persistent'/>"));
    assert_non_null(strstr(xml, "<model type='vmxnet3'/>"));
    assert_non_null(strstr(xml, "name='failover_pair_id'"));
    assert_non_null(strstr(xml, "fxg.failover=1 pcie_ports=native"));
    assert_int_equal(domxml_parse(xml, &back, NULL), 0);
    assert_int_equal(back.failover, 1);
    assert_int_equal(back.nics[dp].sb_agent_port, vm.nics[dp].sb_agent_port);
    assert_int_equal(back.nics[dp].qemu_port, vm.nics[dp].qemu_port);
    assert_memory_equal(&vm, &back, sizeof vm);
    free(xml);
}

static void
domxml_rejects_garbage(void **state)
{
    struct domxml_vm vm;
    struct fx_err err;

    (void) state;
    assert_int_equal(domxml_parse("<domain><name>x", &vm, &err), -EBADMSG);
    assert_int_equal(domxml_parse("<network/>", &vm, &err), -EBADMSG);
}

static void
domxml_survives_libvirt_validation_and_reads_back(void **state)
{
    struct domxml_vm vm = sample_vm(), back;
    struct hv *hv;
    struct fx_err err;
    unsigned n;
    char *xml;
    int active;

    (void) state;
    assert_int_equal(hv_open(&hv_libvirt_class, "test:///default", &hv,
                             &err), 0);
    assert_int_equal(domxml_build(&vm, &xml, NULL), 0);
    if (hv_define(hv, xml, &err)) {
        fail_msg("%s", err.msg);
    }
    free(xml);
    assert_int_equal(hv_get_xml(hv, "vm1", 1, &xml, &err), 0);
    assert_int_equal(domxml_parse(xml, &back, &err), 0);
    free(xml);
    /* libvirt gave it a UUID; the rest reads back as defined. */
    assert_int_equal(strlen(back.uuid), 36);
    memcpy(vm.uuid, back.uuid, sizeof vm.uuid);
    assert_memory_equal(&vm, &back, sizeof vm);
    /* A redefinition with the UUID replaces the domain. */
    vm.n_nics = 1;
    assert_int_equal(domxml_build(&vm, &xml, NULL), 0);
    assert_int_equal(hv_define(hv, xml, &err), 0);
    free(xml);
    assert_int_equal(hv_start(hv, "vm1", &err), 0);
    assert_int_equal(hv_is_active(hv, "vm1", &active, &err), 0);
    assert_int_equal(active, 1);
    assert_int_equal(hv_snapshot(hv, "vm1", &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(hv_stop(hv, "vm1", &err), 0);
    assert_int_equal(hv_undefine(hv, "vm1", &err), 0);
    assert_int_equal(hv_is_active(hv, "vm1", &active, &err), -ENOENT);
    hv_close(hv);
}

static void
libvirt_validation_refuses_a_bad_domain(void **state)
{
    struct hv *hv;
    struct fx_err err;

    (void) state;
    assert_int_equal(hv_open(&hv_libvirt_class, "test:///default", &hv,
                             &err), 0);
    assert_int_equal(hv_define(hv, "<domain type='test'><name>x</name>"
                               "<memory>1</memory><os><type>hvm</type></os>"
                               "<devices><interface type='direct'>"
                               "<source mode='bogus'/></interface>"
                               "</devices></domain>", &err), -EINVAL);
    assert_non_null(strstr(err.msg, "libvirt refused"));
    hv_close(hv);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(domxml_parses_what_it_builds),
        cmocka_unit_test(domxml_qemu_parses_what_it_builds),
        cmocka_unit_test(domxml_failover_pairs_read_back),
        cmocka_unit_test(domxml_rejects_garbage),
        cmocka_unit_test(domxml_survives_libvirt_validation_and_reads_back),
        cmocka_unit_test(libvirt_validation_refuses_a_bad_domain),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
