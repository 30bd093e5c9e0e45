/* Unit tests of the host passthrough configuration (the seed's steps). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fx_err.h"
#include "hostvms.h"
#include "pci.h"

static void
pci_without_iommu_supports_nothing(void **state)
{
    struct pci_host *h = pci_host_create(0, "M81KR");
    struct fx_err err;
    char s[100];

    (void) state;
    pci_summary(h, s, sizeof s);
    assert_string_equal(s, "Host does not support passthrough "
                        "configuration");
    assert_int_equal(pci_count(h), 0);
    assert_int_equal(pci_enable(h, PCI_VIC_ADDR, 0, &err), -ENOTSUP);
    assert_string_equal(err.msg, PCI_NO_SUPPORT);
    assert_int_equal(pci_check_assignable(h, PCI_VIC_ADDR, &err), -ENOTSUP);
    pci_host_destroy(h);
}

static void
pci_enable_is_pending_until_reboot(void **state)
{
    struct pci_host *h = pci_host_create(1, "M81KR");
    struct fx_err err;
    char s[100];

    (void) state;
    pci_summary(h, s, sizeof s);
    assert_string_equal(s, "No devices currently enabled for passthrough");
    assert_int_equal(pci_check_assignable(h, PCI_VIC_ADDR, &err), -EPERM);
    assert_int_equal(pci_enable(h, PCI_VIC_ADDR, 0, &err), 0);
    assert_int_equal(pci_enable(h, PCI_VIC_ADDR, 0, &err), -EALREADY);
    assert_int_equal(pci_check_assignable(h, PCI_VIC_ADDR, &err), -EPERM);
    assert_non_null(strstr(err.msg, "pending reboot"));
    pci_summary(h, s, sizeof s);
    assert_non_null(strstr(s, "1 pending reboot"));
    pci_reboot(h);
    assert_int_equal(pci_check_assignable(h, PCI_VIC_ADDR, &err), 0);
    assert_int_equal(pci_enable(h, "0000:99:00.0", 0, &err), -ENOENT);
    pci_host_destroy(h);
}

static void
pci_device_in_use_needs_force(void **state)
{
    struct pci_host *h = pci_host_create(1, "M81KR");
    struct fx_err err;

    (void) state;
    assert_true(pci_at(h, 0)->host_uses);
    assert_int_equal(pci_enable(h, pci_at(h, 0)->address, 0, &err), -EBUSY);
    assert_non_null(strstr(err.msg, "--force"));
    assert_int_equal(pci_at(h, 0)->state, PCI_DISABLED);
    assert_int_equal(pci_enable(h, pci_at(h, 0)->address, 1, &err), 0);
    assert_int_equal(pci_at(h, 0)->state, PCI_PENDING_REBOOT);
    pci_host_destroy(h);
}

/* What a restarted agent reads back from its state dir, and what a
 * change that could not be saved is undone with. */
static void
pci_state_comes_back_by_name(void **state)
{
    struct pci_host *h = pci_host_create(1, "M81KR"), *none;
    enum pci_state st;
    struct fx_err err;
    char s[100];

    (void) state;
    for (int i = PCI_DISABLED; i <= PCI_ACTIVE; i++) {
        assert_int_equal(pci_state_parse(pci_state_name(i), &st), 0);
        assert_int_equal(st, i);
    }
    assert_int_equal(pci_state_parse("pending", &st), -EINVAL);
    assert_int_equal(pci_set_state(h, PCI_VIC_ADDR, PCI_PENDING_REBOOT,
                                   &err), 0);
    pci_summary(h, s, sizeof s);
    assert_string_equal(s, "1 device enabled for passthrough, 1 pending "
                        "reboot");
    assert_int_equal(pci_check_assignable(h, PCI_VIC_ADDR, &err), -EPERM);
    assert_int_equal(pci_set_state(h, PCI_VIC_ADDR, PCI_ACTIVE, &err), 0);
    assert_int_equal(pci_check_assignable(h, PCI_VIC_ADDR, &err), 0);
    assert_int_equal(pci_set_state(h, PCI_VIC_ADDR, PCI_DISABLED, &err), 0);
    assert_int_equal(pci_enable(h, PCI_VIC_ADDR, 0, &err), 0);
    assert_int_equal(pci_set_state(h, "0000:99:00.0", PCI_ACTIVE, &err),
                     -ENOENT);
    none = pci_host_create(0, "M81KR");
    assert_int_equal(pci_set_state(none, PCI_VIC_ADDR, PCI_ACTIVE, &err),
                     -ENOTSUP);
    pci_host_destroy(none);
    pci_host_destroy(h);
}

static void
host_memory_admits_reservation_at_the_bound_only(void **state)
{
    struct fx_err err;

    (void) state;
    assert_int_equal(hostvms_admit_memory(65536, 61440, 4096, "v", &err), 0);
    assert_int_equal(hostvms_admit_memory(65536, 61440, 4097, "v", &err),
                     -ENOMEM);
    assert_non_null(strstr(err.msg, "4096 of 65536"));
    assert_int_equal(hostvms_admit_memory(100, 200, 0, "v", &err), 0);
    assert_int_equal(hostvms_admit_memory(100, 200, 1, "v", &err), -ENOMEM);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pci_without_iommu_supports_nothing),
        cmocka_unit_test(pci_enable_is_pending_until_reboot),
        cmocka_unit_test(pci_device_in_use_needs_force),
        cmocka_unit_test(pci_state_comes_back_by_name),
        cmocka_unit_test(host_memory_admits_reservation_at_the_bound_only),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
