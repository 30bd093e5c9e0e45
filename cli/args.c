#include "args.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fx_err.h"
#include "fx_limits.h"
#include "fx_parse.h"

int
args_parse_named(struct cli *cli, const struct cli_cmd *cmd, int argc,
                 char **argv, const char *what, const char **namep,
                 const struct option *spec, cli_opt_fn fn, void *arg)
{
    char full[64];
    int idx, rc;

    snprintf(full, sizeof full, "%s %s", cmd->group, cmd->name);
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        fputs(cmd->usage, stdout);
        return 1;
    }
    if (argc < 2 || argv[1][0] == '-') {
        return cli_usage_error(full, "missing %s", what);
    }
    *namep = argv[1];
    /* argv[1] stands in for the program name getopt skips. */
    rc = cli_parse(cli, cmd, argc - 1, argv + 1, spec, fn, arg, &idx);
    if (rc) {
        return rc;
    }
    if (idx < argc - 1) {
        return cli_usage_error(full, "unexpected argument '%s'",
                               argv[idx + 1]);
    }
    return 0;
}

int
args_done(int rc, const struct fx_err *err)
{
    return rc ? cli_fail(err) : CLI_OK;
}

int
args_parse_vlans(const char *s, uint32_t *vlans, size_t max, size_t *np,
                 struct fx_err *err)
{
    char buf[512], *save, *tok;
    uint64_t v;

    *np = 0;
    snprintf(buf, sizeof buf, "%s", s);
    for (tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        if (fx_parse_u64(tok, FX_LIMITS_VLAN_MIN, FX_LIMITS_VLAN_MAX, &v,
                         "VLAN id", err)) {
            return -EINVAL;
        }
        for (size_t i = 0; i < *np; i++) {
            if (vlans[i] == v) {
                return fx_err_set(err, -EINVAL, "VLAN %s listed twice", tok);
            }
        }
        if (*np == max) {
            return fx_err_set(err, -EINVAL, "at most %zu VLANs", max);
        }
        vlans[(*np)++] = (uint32_t) v;
    }
    if (*np == 0) {
        return fx_err_set(err, -EINVAL, "no VLAN id in '%s'", s);
    }
    return 0;
}
