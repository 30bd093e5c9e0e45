/* Domain XML round trip through libvirt's embedded test driver: the NICs
 * of both VM-FEX forms pass VIR_DOMAIN_DEFINE_VALIDATE and read back. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
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

    vm.nics[0] = (struct domxml_nic) { "00:25:b5:00:00:01", "pp-web", 0, 3 };
    vm.nics[1] = (struct domxml_nic) { "00:25:b5:00:00:02", "pp-hp", 1,
                                       4095 };
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
        cmocka_unit_test(domxml_rejects_garbage),
        cmocka_unit_test(domxml_survives_libvirt_validation_and_reads_back),
        cmocka_unit_test(libvirt_validation_refuses_a_bad_domain),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
