/* guestnet: the agent's uplink connects to the fabric's dplane and comes
 * back by itself after the fabric side goes away and returns. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include <event2/event.h>

#include "dplane.h"
#include "fx_err.h"
#include "fx_util.h"
#include "guestnet.h"
#include "vic.h"

struct t_ctx {
    struct event_base *base;
    struct event *tick;
    struct dplane *dp;
    struct vic *vic;
    struct gnet *g;
};

static void
t_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    (void) arg;
}

static int
t_connected(struct t_ctx *t)
{
    return t->dp && dplane_uplink_count(t->dp) == 1;
}

/* Steps the loop until 'cond' holds or 'ms' pass; returns cond. */
static int
t_until(struct t_ctx *t, int (*cond)(struct t_ctx *), uint32_t ms)
{
    uint64_t deadline = fx_now_ms() + ms;

    while (!cond(t) && fx_now_ms() < deadline) {
        event_base_loop(t->base, EVLOOP_ONCE);
    }
    return cond(t);
}

static void
t_dplane(struct t_ctx *t, const char *listen)
{
    const struct dplane_cfg cfg = {
        .listen = listen, .max_ports = 16, .max_hosts = 2, .max_macs = 64,
    };
    struct fx_err err;

    assert_int_equal(dplane_create(t->base, &cfg, &t->dp, &err), 0);
}

static void
uplink_reconnects_after_the_fabric_returns(void **state)
{
    const struct timeval tv = { 0, 5000 };
    struct t_ctx t = { 0 };
    struct fx_err err;
    char addr[32];
    uint16_t port;

    (void) state;
    t.base = event_base_new();
    t.tick = event_new(t.base, -1, EV_PERSIST, t_tick_cb, NULL);
    event_add(t.tick, &tv);
    t_dplane(&t, "127.0.0.1:0");
    port = dplane_listen_port(t.dp);
    snprintf(addr, sizeof addr, "127.0.0.1:%u", port);
    t.vic = vic_create("M81KR", 4, &err);
    t.g = gnet_create(t.base, t.vic, &(struct gnet_cfg) { addr, 10, 40 });

    gnet_set_uplink(t.g, port, 1);
    assert_true(t_until(&t, t_connected, 5000));

    /* The fabric side goes away: the agent notices and, once it is back
     * on the same port, connects again without being told. */
    dplane_destroy(t.dp);
    t.dp = NULL;
    for (int i = 0; i < 20; i++) {
        event_base_loop(t.base, EVLOOP_ONCE);
    }
    t_dplane(&t, addr);
    assert_true(t_until(&t, t_connected, 5000));

    /* Told the same port and index again (a re-registration): kept. */
    gnet_set_uplink(t.g, port, 1);
    assert_true(t_connected(&t));

    gnet_destroy(t.g);
    dplane_destroy(t.dp);
    vic_destroy(t.vic);
    event_free(t.tick);
    event_base_free(t.base);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(uplink_reconnects_after_the_fabric_returns),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
