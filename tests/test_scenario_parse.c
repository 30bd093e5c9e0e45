/* Unit tests of cli/scenario's parser (scnparse): what each line becomes,
 * and, for malformed text, the exact FILE:LINE:COLUMN and what was
 * expected there. */
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
#include "scenario/scn.h"
#include "scenario/scnparse.h"

static struct scn *
parse_ok(const char *text)
{
    struct fx_err err = { 0 };
    struct scn *scn;

    if (scnparse_text("t.scn", text, &scn, &err)) {
        fail_msg("unexpected parse error: %s", err.msg);
    }
    return scn;
}

static void
header_and_commands(void **state)
{
    struct scn *scn = parse_ok(
        "# a comment\n"
        "name \"two hosts\"\n"
        "lab hosts=3 flavor=vmware vnics=4 heartbeat-timeout=1000 "
        "memory=512 no-iommu=h3\n"
        "set vm = m1\n"
        "\n"
        "vm create ${vm} --host h1 --memory 16   # trailing comment\n"
        "fexctl vm start ${vm}\n");

    (void) state;
    assert_string_equal(scn->name, "two hosts");
    assert_int_equal(scn->lab.hosts, 3);
    assert_string_equal(scn->lab.flavor, "vmware");
    assert_int_equal(scn->lab.vnics, 4);
    assert_int_equal(scn->lab.hb_timeout_ms, 1000);
    assert_int_equal(scn->lab.memory_mib, 512);
    assert_string_equal(scn->lab.no_iommu, "h3");
    assert_int_equal(scn->n_steps, 2);
    assert_int_equal(scn->steps[0].line, 6);
    assert_int_equal(scn->steps[0].kind, SCN_STEP_CMD);
    assert_string_equal(scn->steps[0].argv[2], "m1");
    assert_string_equal(scn->steps[0].argv[6], "16");
    assert_null(scn->steps[0].argv[7]);
    assert_string_equal(scn->steps[1].argv[0], "vm");
    assert_string_equal(scn->steps[1].argv[2], "m1");
    scn_destroy(scn);
}

static void
name_defaults_to_the_file_and_lab_to_two_kvm_hosts(void **state)
{
    struct scn *scn;
    struct fx_err err;

    (void) state;
    assert_int_equal(scnparse_text("dir/x.scn", "vm list\n", &scn, &err), 0);
    assert_string_equal(scn->name, "x");
    assert_int_equal(scn->lab.hosts, 2);
    assert_string_equal(scn->lab.flavor, "kvm");
    scn_destroy(scn);
}

static void
expectations_of_every_kind(void **state)
{
    struct scn *scn = parse_ok(
        "expect vm[m].state == running\n"
        "expect migration[vm=m,to=h2].downtime_ms <= 500ms\n"
        "expect count vif[vm=m] == 2\n"
        "expect flow[1].lost == 0\n"
        "expect migration[vm=m].state in completed|failed\n"
        "expect vm[m].nics ~ \"DirectPath\"\n"
        "expect alive h1\n"
        "expect dead fabricd\n"
        "expect order vm-started[vm=m] migration-finished[vm=m]\n"
        "expect fail status 1 reason \"is running\": vm delete m\n"
        "expect fail: vm start nosuch\n");
    const struct scn_step *s = scn->steps;

    (void) state;
    assert_int_equal(scn->n_steps, 11);
    assert_int_equal(s[0].check.kind, SCN_CHECK_FIELD);
    assert_string_equal(s[0].check.ref.listing, "vm");
    assert_string_equal(s[0].check.ref.sel[0].val, "m");
    assert_string_equal(s[0].check.ref.sel[0].key, "");
    assert_string_equal(s[0].check.ref.field, "state");
    assert_int_equal(s[0].check.op, SCN_EQ);
    assert_string_equal(s[0].check.value, "running");
    assert_int_equal(s[1].check.ref.n_sel, 2);
    assert_string_equal(s[1].check.ref.sel[1].key, "to");
    assert_string_equal(s[1].check.ref.sel[1].val, "h2");
    assert_int_equal(s[1].check.op, SCN_LE);
    assert_string_equal(s[1].check.value, "500ms");
    assert_int_equal(s[2].check.kind, SCN_CHECK_COUNT);
    assert_int_equal(s[4].check.op, SCN_IN);
    assert_int_equal(s[5].check.op, SCN_HAS);
    assert_string_equal(s[5].check.value, "DirectPath");
    assert_int_equal(s[6].check.kind, SCN_CHECK_ALIVE);
    assert_string_equal(s[6].check.daemon, "h1");
    assert_int_equal(s[7].check.kind, SCN_CHECK_DEAD);
    assert_int_equal(s[8].check.kind, SCN_CHECK_ORDER);
    assert_int_equal(s[8].check.n_order, 2);
    assert_string_equal(s[8].check.order[1].listing, "migration-finished");
    assert_int_equal(s[9].kind, SCN_STEP_EXPECT_FAIL);
    assert_int_equal(s[9].fail_status, 1);
    assert_string_equal(s[9].want_text, "is running");
    assert_string_equal(s[9].argv[1], "delete");
    assert_int_equal(s[10].fail_status, -1);
    assert_string_equal(s[10].argv[2], "nosuch");
    scn_destroy(scn);
}

static void
waits_and_faults(void **state)
{
    struct scn *scn = parse_ok(
        "lab hosts=2 netns\n"
        "wait host[h2].state == down within 5s\n"
        "wait dead h2 within 250ms\n"
        "fault crash h2\n"
        "fault crash h2 at switchover:2\n"
        "fault crash fabricd at begin\n"
        "fault restart h2\n"
        "fault freeze h1\n"
        "fault fail-resume h2\n"
        "fault link h1 down\n"
        "fault link h1 delay 20 loss 1.5\n"
        "fault arm h2 fail@release:2\n");
    const struct scn_step *s = scn->steps;

    (void) state;
    assert_int_equal(s[0].kind, SCN_STEP_WAIT);
    assert_int_equal(s[0].within_ms, 5000);
    assert_int_equal(s[1].within_ms, 250);
    assert_int_equal(s[2].fault.kind, SCN_FAULT_CRASH);
    assert_int_equal(s[3].fault.kind, SCN_FAULT_CRASH_AT);
    assert_string_equal(s[3].fault.phase, "switchover");
    assert_int_equal(s[3].fault.nth, 2);
    assert_int_equal(s[4].fault.nth, 1);
    assert_string_equal(s[4].fault.daemon, "fabricd");
    assert_int_equal(s[5].fault.kind, SCN_FAULT_RESTART);
    assert_int_equal(s[6].fault.kind, SCN_FAULT_FREEZE);
    assert_int_equal(s[7].fault.kind, SCN_FAULT_FAIL_RESUME);
    assert_int_equal(s[8].fault.kind, SCN_FAULT_LINK_DOWN);
    assert_int_equal(s[9].fault.kind, SCN_FAULT_LINK_SHAPE);
    assert_string_equal(s[9].fault.delay, "20");
    assert_string_equal(s[9].fault.loss, "1.5");
    assert_int_equal(s[10].fault.kind, SCN_FAULT_ARM);
    assert_string_equal(s[10].fault.spec, "fail@release:2");
    scn_destroy(scn);
}

static void
expect_ok_and_try_run_commands(void **state)
{
    struct scn *scn = parse_ok(
        "expect ok output \"\\\"ft\\\":true\": vm ft m --enable\n"
        "expect ok: vm list\n"
        "try migrate m --to h2 --no-wait\n"
        "try wait dead h2 within 1s\n");
    const struct scn_step *s = scn->steps;

    (void) state;
    assert_int_equal(s[0].kind, SCN_STEP_EXPECT_OK);
    assert_string_equal(s[0].want_text, "\"ft\":true");
    assert_string_equal(s[0].argv[1], "ft");
    /* The text shown is the line as read, the string quoted again. */
    assert_string_equal(s[0].text, "expect ok output \"\\\"ft\\\":true\" : "
                        "vm ft m --enable");
    assert_int_equal(s[1].kind, SCN_STEP_EXPECT_OK);
    assert_string_equal(s[1].want_text, "");
    assert_int_equal(s[2].kind, SCN_STEP_TRY);
    assert_string_equal(s[2].argv[0], "migrate");
    assert_int_equal(s[3].kind, SCN_STEP_WAIT);
    assert_int_equal(s[3].lenient, 1);
    assert_int_equal(s[3].within_ms, 1000);
    scn_destroy(scn);
}

/* Each malformed text and the exact error it gets. */
static const struct {
    const char *text;
    const char *msg;
} bad[] = {
    { "vm list\nfrobnicate now\n",
      "t.scn:2:1: expected a step (a fexctl command, expect, try, wait, "
      "fault) or a header line (name, lab, set), found 'frobnicate'" },
    { "vm create ${nope} --host h1\n",
      "t.scn:1:11: expected a variable set before this line, found "
      "'${nope}'" },
    { "  expect vm[m].state = running\n",
      "t.scn:1:22: expected a comparison (== != < <= > >= ~ in), found "
      "'='" },
    { "expect vms[m].state == x\n",
      "t.scn:1:8: expected a listing (host, vm, vif, profile, migration, "
      "flow), found 'vms'" },
    { "expect vm[m.state == x\n",
      "t.scn:1:18: expected ']' closing '[' at column 10" },
    { "expect vm[m] == x\n",
      "t.scn:1:13: expected '.FIELD', found ''" },
    { "wait vm[m].state == running\n",
      "t.scn:1:28: expected 'within DURATION', found end of line" },
    { "wait vm[m].state == running within 5\n",
      "t.scn:1:36: expected a duration (500ms, 5s, 1m), found '5'" },
    { "lab hosts=2\nfault crash h3\n",
      "t.scn:2:13: expected a daemon (fabricd, or a host h1..hN), found "
      "'h3'" },
    { "fault crash h1 at begin\n",
      "t.scn:1:19: expected an agent's phase (prepare, perform, "
      "switchover, finish, confirm), found 'begin'" },
    { "fault crash h1 at perform:0\n",
      "t.scn:1:27: expected a number from 1 to 1000, found '0'" },
    { "fault link h1 down\n",
      "t.scn:1:7: expected a netns lab for link faults (add 'netns' to the "
      "lab line)" },
    { "vm list\nlab hosts=2\n",
      "t.scn:2:1: expected one lab line, before the first step" },
    { "lab hosts=0\n",
      "t.scn:1:11: expected a number from 1 to 64, found '0'" },
    { "lab flavour=kvm\n",
      "t.scn:1:5: expected a lab option (hosts=N, flavor=kvm|vmware, "
      "vnics=N, memory=MIB, heartbeat-timeout=MS, no-iommu=H,..., netns, "
      "or dir=PATH alone), found 'flavour=kvm'" },
    { "expect fail status 1 vm delete m\n",
      "t.scn:1:22: expected ':' before the command, found 'vm'" },
    { "expect fail: lab down\n",
      "t.scn:1:14: expected a fexctl command (host, profile, vm, vif, "
      "traffic, migrate, events), found 'lab'" },
    { "expect fail reason \"unclosed: vm list\n",
      "t.scn:1:38: expected '\"' closing the string opened at column 20, "
      "found end of line" },
    { "expect order vm-started[vm=m]\n",
      "t.scn:1:30: expected another event (TYPE[KEY=VAL]), found end of "
      "line" },
    { "expect alive h1 now\n",
      "t.scn:1:17: expected end of line, found 'now'" },
    { "# only a comment\n\n",
      "t.scn:1:1: expected at least one step, found none" },
};

static void
errors_name_line_and_column(void **state)
{
    (void) state;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct fx_err err = { 0 };
        struct scn *scn = NULL;

        assert_int_equal(scnparse_text("t.scn", bad[i].text, &scn, &err),
                         -EINVAL);
        assert_null(scn);
        if (strcmp(err.msg, bad[i].msg)) {
            fail_msg("case %zu: got\n  %s\nwant\n  %s", i, err.msg,
                     bad[i].msg);
        }
    }
}

static void
a_missing_file_is_named(void **state)
{
    struct fx_err err;
    struct scn *scn;

    (void) state;
    assert_int_equal(scnparse_file("/nonexistent/x.scn", &scn, &err),
                     -ENOENT);
    assert_non_null(strstr(err.msg, "'/nonexistent/x.scn'"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(header_and_commands),
        cmocka_unit_test(name_defaults_to_the_file_and_lab_to_two_kvm_hosts),
        cmocka_unit_test(expectations_of_every_kind),
        cmocka_unit_test(waits_and_faults),
        cmocka_unit_test(expect_ok_and_try_run_commands),
        cmocka_unit_test(errors_name_line_and_column),
        cmocka_unit_test(a_missing_file_is_named),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
