/* Unit tests of the fabric's pure VM-FEX modules: port profiles, the VIF
 * table and the DirectPath policy, each rule at and one past its bound. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "args.h"
#include "fx_err.h"
#include "fx_mac.h"
#include "model/policy.h"
#include "model/profile.h"
#include "model/vif.h"
#include "model/vm.h"

static struct profile
prof(const char *name, uint32_t max_ports)
{
    struct profile p = { .n_vlans = 1, .vlans = { 100 },
                         .max_ports = max_ports };

    snprintf(p.name, sizeof p.name, "%s", name);
    return p;
}

/* ---- profile ---- */

static void
profile_vlans_accept_4094_and_refuse_4095(void **state)
{
    uint32_t v[PROFILE_MAX_VLANS];
    struct fx_err err;
    size_t n;

    (void) state;
    assert_int_equal(args_parse_vlans("1,100,4094", v, 64, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_int_equal(v[2], 4094);
    assert_int_equal(args_parse_vlans("100,4095", v, 64, &n, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "4095"));
    assert_int_equal(args_parse_vlans("0", v, 64, &n, &err), -EINVAL);
    assert_int_equal(args_parse_vlans("10,10", v, 64, &n, &err), -EINVAL);
    assert_int_equal(args_parse_vlans("abc", v, 64, &n, &err), -EINVAL);
    assert_int_equal(args_parse_vlans("1,2", v, 1, &n, &err), -EINVAL);
}

static void
profile_create_validates_and_defaults(void **state)
{
    struct profile_table *t = profile_table_create();
    struct profile p = prof("pp-web", 0);
    struct fx_err err;

    (void) state;
    assert_int_equal(profile_create(t, &p, &err), 0);
    assert_int_equal(profile_find(t, "pp-web")->max_ports,
                     PROFILE_MAX_PORTS_DEFAULT);
    assert_string_equal(profile_find(t, "pp-web")->qos, "best-effort");
    assert_int_equal(profile_create(t, &p, &err), -EEXIST);
    p = prof("bad name", 1);
    assert_int_equal(profile_create(t, &p, &err), -EINVAL);
    p = prof("pp-q", 1);
    snprintf(p.qos, sizeof p.qos, "diamond");
    assert_int_equal(profile_create(t, &p, &err), -EINVAL);
    p = prof("pp-v", 1);
    p.vlans[0] = 4095;
    assert_int_equal(profile_create(t, &p, &err), -EINVAL);
    p = prof("pp-a", 1);
    assert_int_equal(profile_create(t, &p, &err), 0);
    assert_int_equal(profile_count(t), 2);
    assert_string_equal(profile_at(t, 0)->name, "pp-a");
    profile_table_destroy(t);
}

static void
profile_enforces_max_ports_and_refuses_delete_in_use(void **state)
{
    struct profile_table *t = profile_table_create();
    struct profile p = prof("pp", 3);
    struct fx_err err;

    (void) state;
    assert_int_equal(profile_create(t, &p, NULL), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(profile_port_take(t, "pp", &err), 0);
    }
    assert_int_equal(profile_port_take(t, "pp", &err), -ENOSPC);
    assert_non_null(strstr(err.msg, "3 ports"));
    assert_int_equal(profile_delete(t, "pp", &err), -EBUSY);
    assert_non_null(strstr(err.msg, "in use"));
    for (int i = 0; i < 3; i++) {
        profile_port_put(t, "pp");
    }
    assert_int_equal(profile_delete(t, "pp", &err), 0);
    assert_int_equal(profile_delete(t, "pp", &err), -ENOENT);
    assert_int_equal(profile_port_take(t, "pp", &err), -ENOENT);
    profile_table_destroy(t);
}

/* ---- vif ---- */

static void
vif_assigns_unique_ids_and_ucs_macs(void **state)
{
    struct vif_table *t = vif_table_create();
    struct vif rec = { .host = "h1", .vnic = 0, .profile = "pp" };
    struct vif *a, *b;
    char m[18];

    (void) state;
    assert_int_equal(vif_add(t, &rec, &a, NULL), 0);
    assert_int_equal(vif_add(t, &rec, &b, NULL), 0);
    assert_int_not_equal(a->id, b->id);
    fx_mac_format(a->mac, m);
    assert_string_equal(m, "00:25:b5:00:00:01");
    assert_ptr_equal(vif_find(t, b->id), b);
    assert_ptr_equal(vif_find_mac(t, b->mac), b);
    vif_table_destroy(t);
}

static void
vif_restores_given_ids_and_refuses_duplicates(void **state)
{
    struct vif_table *t = vif_table_create();
    struct vif rec = { .id = 42, .mac = { 0x00, 0x25, 0xb5, 0, 0, 9 } };
    struct fx_err err;

    (void) state;
    assert_int_equal(vif_add(t, &rec, NULL, &err), 0);
    assert_int_equal(vif_add(t, &rec, NULL, &err), -EEXIST);
    rec.id = 43;
    assert_int_equal(vif_add(t, &rec, NULL, &err), -EEXIST);
    assert_non_null(strstr(err.msg, "MAC"));
    rec.mac[0] = 0x02;
    assert_int_equal(vif_add(t, &rec, NULL, &err), -EINVAL);
    assert_int_equal(vif_remove(t, 42, &err), 0);
    assert_int_equal(vif_remove(t, 42, &err), -ENOENT);
    vif_table_destroy(t);
}

/* 4096 VIFs, a third removed: every lookup by id and MAC still finds the
 * right one, and removed ones are gone. */
static void
vif_lookups_hold_through_growth_and_removal(void **state)
{
    struct vif_table *t = vif_table_create();
    struct vif rec = { .host = "h" };
    uint8_t macs[4096][6];
    uint32_t ids[4096];

    (void) state;
    for (int i = 0; i < 4096; i++) {
        struct vif *v;

        rec.vnic = (uint32_t) i;
        assert_int_equal(vif_add(t, &rec, &v, NULL), 0);
        ids[i] = v->id;
        memcpy(macs[i], v->mac, 6);
    }
    for (int i = 0; i < 4096; i += 3) {
        assert_int_equal(vif_remove(t, ids[i], NULL), 0);
    }
    for (int i = 0; i < 4096; i++) {
        struct vif *v = vif_find(t, ids[i]);

        if (i % 3 == 0) {
            assert_null(v);
            assert_null(vif_find_mac(t, macs[i]));
        } else {
            assert_non_null(v);
            assert_int_equal(v->vnic, i);
            assert_ptr_equal(vif_find_mac(t, macs[i]), v);
        }
    }
    assert_int_equal(vif_count(t), 4096 - 1366);
    vif_table_destroy(t);
}

/* ---- policy ---- */

static void
policy_refuses_every_op_for_plain_directpath(void **state)
{
    struct policy_vm vm = { "vm1", 1, 1, 1 };
    struct fx_err err;

    (void) state;
    for (int op = 0; op < POLICY_OP_COUNT; op++) {
        assert_int_equal(policy_check((enum policy_op) op, &vm, &err),
                         -EPERM);
        assert_non_null(strstr(err.msg, "high-performance"));
        assert_non_null(strstr(err.msg, policy_op_name((enum policy_op)
                                                       op)));
    }
}

static void
policy_allows_every_op_on_high_performance(void **state)
{
    struct policy_vm hp = { "vm1", 1, 6, 0 };
    struct policy_vm none = { "vm2", 1, 0, 0 };

    (void) state;
    for (int op = 0; op < POLICY_OP_COUNT; op++) {
        assert_int_equal(policy_check((enum policy_op) op, &hp, NULL), 0);
        assert_int_equal(policy_check((enum policy_op) op, &none, NULL), 0);
    }
}

static void
policy_op_names_parse(void **state)
{
    enum policy_op op;
    struct fx_err err;

    (void) state;
    for (int i = 0; i < POLICY_OP_COUNT; i++) {
        assert_int_equal(policy_op_parse(policy_op_name((enum policy_op) i),
                                         &op, NULL), 0);
        assert_int_equal(op, i);
    }
    assert_int_equal(policy_op_parse("vmotion", &op, &err), -EINVAL);
    assert_null(policy_op_name(POLICY_OP_COUNT));
}

static void
policy_directpath_add_needs_power_off_and_stops_at_six(void **state)
{
    struct policy_vm vm = { "vm1", 0, 5, 0 };
    struct fx_err err;

    (void) state;
    assert_int_equal(policy_check_nic_add(&vm, 1, 1, &err), 0);
    vm.n_directpath = 6;
    assert_int_equal(policy_check_nic_add(&vm, 1, 1, &err), -EPERM);
    assert_non_null(strstr(err.msg, "6 DirectPath"));
    vm.n_directpath = 0;
    vm.running = 1;
    assert_int_equal(policy_check_nic_add(&vm, 1, 1, &err), -EPERM);
    assert_non_null(strstr(err.msg, "powered off"));
    assert_int_equal(policy_check_nic_remove(&vm, 1, &err), -EPERM);
}

static void
policy_hot_plug_of_plain_nic_depends_on_directpath_profile(void **state)
{
    struct policy_vm vm = { "vm1", 1, 1, 0 };
    struct fx_err err;

    (void) state;
    assert_int_equal(policy_check_nic_add(&vm, 0, 0, &err), 0);
    assert_int_equal(policy_check_nic_remove(&vm, 0, &err), 0);
    vm.n_directpath_plain = 1;
    assert_int_equal(policy_check_nic_add(&vm, 0, 0, &err), -EPERM);
    assert_non_null(strstr(err.msg, "hot-add"));
    assert_int_equal(policy_check_nic_remove(&vm, 0, &err), -EPERM);
    vm.running = 0;
    assert_int_equal(policy_check_nic_add(&vm, 0, 0, &err), 0);
}

static void
policy_reservation_is_memory_with_directpath(void **state)
{
    (void) state;
    assert_int_equal(policy_reservation_mib(4096, 0), 0);
    assert_int_equal(policy_reservation_mib(4096, 1), 4096);
}

/* ---- vm ---- */

static void
vm_table_adds_finds_and_removes_records(void **state)
{
    struct vm_table *t = vm_table_create();
    struct vm rec = { .name = "v1", .host = "h1", .memory_mib = 64,
                      .n_nics = 1, .nics = { { 7, "pp", 1 } } };
    struct fx_err err;
    struct vm *vm;

    (void) state;
    assert_int_equal(vm_add(t, &rec, &vm, &err), 0);
    assert_ptr_equal(vm_find(t, "v1", NULL), vm);
    assert_non_null(vm_nic_find(vm, 7));
    assert_null(vm_nic_find(vm, 8));
    assert_int_equal(vm_add(t, &rec, NULL, &err), -EEXIST);
    snprintf(rec.name, sizeof rec.name, "bad/name");
    assert_int_equal(vm_add(t, &rec, NULL, &err), -EINVAL);
    assert_null(vm_find(t, "v2", &err));
    assert_int_equal(err.code, -ENOENT);
    assert_int_equal(vm_remove(t, "v1"), 0);
    assert_int_equal(vm_remove(t, "v1"), -ENOENT);
    assert_int_equal(vm_count(t), 0);
    vm_table_destroy(t);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(profile_vlans_accept_4094_and_refuse_4095),
        cmocka_unit_test(profile_create_validates_and_defaults),
        cmocka_unit_test(profile_enforces_max_ports_and_refuses_delete_in_use),
        cmocka_unit_test(vif_assigns_unique_ids_and_ucs_macs),
        cmocka_unit_test(vif_restores_given_ids_and_refuses_duplicates),
        cmocka_unit_test(vif_lookups_hold_through_growth_and_removal),
        cmocka_unit_test(policy_refuses_every_op_for_plain_directpath),
        cmocka_unit_test(policy_allows_every_op_on_high_performance),
        cmocka_unit_test(policy_op_names_parse),
        cmocka_unit_test(policy_directpath_add_needs_power_off_and_stops_at_six),
        cmocka_unit_test(policy_hot_plug_of_plain_nic_depends_on_directpath_profile),
        cmocka_unit_test(policy_reservation_is_memory_with_directpath),
        cmocka_unit_test(vm_table_adds_finds_and_removes_records),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
