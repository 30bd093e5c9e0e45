/* The model (fabric/model/model.h) on its own, time injected: the VM
 * lifecycle policy (UCS Manager's: a VIF and its dynamic vNIC offline
 * for the retention time, 15 minutes by default, are removed; new ones
 * come when the VM runs again), that changes go through the model and
 * reach its hooks, and that what it saves comes back. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fx_err.h"
#include "harness.h"
#include "model/model.h"
#include "store/store.h"

#define MIN_MS 60000u
#define T0 1000000u

struct t_ctx {
    struct model *m;
    uint32_t changed[64];          /* vif_changed hook calls, in order. */
    size_t n_changed;
    char expired_vm[40], expired_host[40];
    uint32_t expired_vif;
    size_t n_expired;
};

static void
t_vif_changed(void *arg, uint32_t id)
{
    struct t_ctx *t = arg;

    if (t->n_changed < 64) {
        t->changed[t->n_changed++] = id;
    }
}

static void
t_vif_expired(void *arg, const char *vm, const char *host, uint32_t id)
{
    struct t_ctx *t = arg;

    snprintf(t->expired_vm, sizeof t->expired_vm, "%s", vm);
    snprintf(t->expired_host, sizeof t->expired_host, "%s", host);
    t->expired_vif = id;
    t->n_expired++;
}

/* A model with host h1 (up), profile p and VM v on h1 with one NIC. */
static struct t_ctx *
t_new(uint32_t retention_min, struct store *store)
{
    struct t_ctx *t = calloc(1, sizeof *t);
    const struct model_hooks hooks = { t_vif_changed, t_vif_expired, NULL };
    struct host_info h = { .name = "h1", .rpc_addr = "127.0.0.1:1",
                           .adapter_model = "M81KR", .vnics_total = 8 };
    struct profile p = { .name = "p", .vlans = { 10 }, .n_vlans = 1 };
    struct fx_err err;
    uint32_t vif;

    assert_non_null(t);
    t->m = model_create(3000, retention_min, store);
    model_set_hooks(t->m, &hooks, t);
    assert_int_equal(model_host_register(t->m, &h, (void *) 1, T0, &err),
                     0);
    assert_int_equal(model_profile_create(t->m, &p, &err), 0);
    assert_int_equal(model_vm_add(t->m, "v", "h1", 64, &err), 0);
    assert_int_equal(model_vm_nic_add(t->m, "v", "p", false, &vif, &err), 0);
    model_vm_set_busy(t->m, "v", false);
    return t;
}

static void
t_free(struct t_ctx *t)
{
    model_destroy(t->m);
    free(t);
}

static uint32_t
t_vif(const struct t_ctx *t)
{
    return model_vm(t->m, "v", NULL)->nics[0].vif;
}

static void
offline_vif_goes_after_the_retention_and_not_before(void **state)
{
    struct t_ctx *t = t_new(0, NULL);
    uint32_t id = t_vif(t);
    uint64_t at;
    struct fx_err err;

    (void) state;
    assert_int_equal(model_retention_min(t->m), 15);
    model_vm_set_running(t->m, "v", true, 0, T0);
    assert_false(model_vif_expires(t->m, model_vif(t->m, id), &at));
    assert_int_equal(model_expire_vifs(t->m, T0 + 60 * MIN_MS, &err), 0);
    /* Stopped at T0 + 1 min: removed 15 minutes later, to the ms. */
    model_vm_set_running(t->m, "v", false, 0, T0 + MIN_MS);
    assert_true(model_vif_expires(t->m, model_vif(t->m, id), &at));
    assert_int_equal(at, T0 + 16 * MIN_MS);
    assert_int_equal(model_expire_vifs(t->m, at - 1, &err), 0);
    assert_non_null(model_vif(t->m, id));
    assert_int_equal(t->n_expired, 0);
    assert_int_equal(model_expire_vifs(t->m, at, &err), 1);
    assert_null(model_vif(t->m, id));
    assert_int_equal(t->n_expired, 1);
    assert_int_equal(t->expired_vif, id);
    assert_string_equal(t->expired_vm, "v");
    assert_string_equal(t->expired_host, "h1");
    /* The NIC stays, without a VIF; its profile port is free. */
    assert_int_equal(model_vm(t->m, "v", NULL)->n_nics, 1);
    assert_int_equal(model_vm_nics_without_vif(model_vm(t->m, "v", NULL)),
                     1);
    assert_int_equal(model_profile(t->m, "p")->ports_used, 0);
    assert_int_equal(t->changed[t->n_changed - 1], id);
    t_free(t);
}

static void
a_vm_that_runs_again_before_the_end_keeps_its_vif(void **state)
{
    struct t_ctx *t = t_new(1, NULL);
    uint32_t id = t_vif(t);
    struct fx_err err;

    (void) state;
    model_vm_set_running(t->m, "v", false, 0, T0);
    model_vm_set_running(t->m, "v", true, 0, T0 + MIN_MS - 1);
    model_vm_set_running(t->m, "v", false, 0, T0 + MIN_MS);
    /* The count starts again at the second stop. */
    assert_int_equal(model_expire_vifs(t->m, T0 + 2 * MIN_MS - 1, &err), 0);
    assert_non_null(model_vif(t->m, id));
    assert_int_equal(model_expire_vifs(t->m, T0 + 2 * MIN_MS, &err), 1);
    t_free(t);
}

static void
a_host_gone_starts_the_retention_of_its_running_vms(void **state)
{
    struct t_ctx *t = t_new(1, NULL);
    uint32_t id = t_vif(t);
    struct fx_err err;
    uint64_t at;

    (void) state;
    model_vm_set_running(t->m, "v", true, 0, T0);
    assert_non_null(model_host_lost(t->m, (void *) 1, "connection lost",
                                    T0 + 10));
    assert_true(model_vif_expires(t->m, model_vif(t->m, id), &at));
    assert_int_equal(at, T0 + 10 + MIN_MS);
    /* A VM with an operation in flight keeps its VIFs until it is idle. */
    model_vm_set_busy(t->m, "v", true);
    assert_int_equal(model_expire_vifs(t->m, at, &err), 0);
    model_vm_set_busy(t->m, "v", false);
    assert_int_equal(model_expire_vifs(t->m, at, &err), 1);
    t_free(t);
}

static void
renewed_vifs_are_new_and_all_or_nothing(void **state)
{
    struct t_ctx *t = t_new(1, NULL);
    uint32_t id = t_vif(t), vifs[VM_MAX_NICS];
    const struct vif *v;
    uint8_t old_mac[6];
    struct fx_err err;
    size_t n;

    (void) state;
    memcpy(old_mac, model_vif(t->m, id)->mac, 6);
    model_vm_set_running(t->m, "v", false, 0, T0);
    assert_int_equal(model_expire_vifs(t->m, T0 + MIN_MS, &err), 1);
    assert_int_equal(model_vm_nic_renew(t->m, "v", vifs, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(t_vif(t), vifs[0]);
    v = model_vif(t->m, vifs[0]);
    assert_non_null(v);
    assert_int_not_equal(v->id, id);
    assert_memory_not_equal(v->mac, old_mac, 6);
    assert_int_equal(model_profile(t->m, "p")->ports_used, 1);
    /* Undone: the NIC is without a VIF again, the port free. */
    model_vm_nic_release(t->m, "v", vifs, n);
    assert_int_equal(model_vm_nics_without_vif(model_vm(t->m, "v", NULL)),
                     1);
    assert_int_equal(model_profile(t->m, "p")->ports_used, 0);
    t_free(t);
}

static void
a_profile_a_vifless_nic_names_cannot_be_deleted(void **state)
{
    struct t_ctx *t = t_new(1, NULL);
    struct fx_err err;

    (void) state;
    model_vm_set_running(t->m, "v", false, 0, T0);
    assert_int_equal(model_expire_vifs(t->m, T0 + MIN_MS, &err), 1);
    assert_int_equal(model_profile_delete(t->m, "p", &err), -EBUSY);
    assert_non_null(strstr(err.msg, "VM 'v'"));
    t_free(t);
}

static void
expired_nics_and_their_vm_come_back_from_the_store(void **state)
{
    char *dir = th_mkdtemp("model");
    struct store *st;
    struct t_ctx *t;
    struct model *m;
    struct fx_err err;
    uint32_t vif;

    (void) state;
    assert_int_equal(store_open(dir, &st, &err), 0);
    t = t_new(1, st);
    assert_int_equal(model_vm_nic_add(t->m, "v", "p", false, &vif, &err), 0);
    /* Each on its own vNIC, as the agent binds them. */
    model_vif_bind(t->m, t_vif(t), 1, false, T0);
    model_vif_bind(t->m, vif, 2, false, T0);
    assert_int_equal(model_save_vm(t->m, "v", 0, &err), 0);
    model_vm_set_running(t->m, "v", false, 0, T0);
    assert_int_equal(model_expire_vifs(t->m, T0 + MIN_MS, &err), 2);
    t_free(t);
    m = model_create(3000, 1, st);
    assert_int_equal(model_load(m, &err), 0);
    assert_non_null(model_vm(m, "v", NULL));
    assert_int_equal(model_vm(m, "v", NULL)->n_nics, 2);
    assert_int_equal(model_vm_nics_without_vif(model_vm(m, "v", NULL)), 2);
    assert_int_equal(model_vif_count(m), 0);
    assert_string_equal(model_vm(m, "v", NULL)->nics[1].profile, "p");
    model_destroy(m);
    store_close(st);
    th_rmrf(dir);
    free(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(offline_vif_goes_after_the_retention_and_not_before),
        cmocka_unit_test(a_vm_that_runs_again_before_the_end_keeps_its_vif),
        cmocka_unit_test(a_host_gone_starts_the_retention_of_its_running_vms),
        cmocka_unit_test(renewed_vifs_are_new_and_all_or_nothing),
        cmocka_unit_test(a_profile_a_vifless_nic_names_cannot_be_deleted),
        cmocka_unit_test(expired_nics_and_their_vm_come_back_from_the_store),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
