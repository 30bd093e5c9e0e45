#include "vifjson.h"

#include <stdio.h>

#include "pbenum.h"

struct json_object *
vifjson(const Fexsim__V1__Vif *v)
{
    struct json_object *o = json_object_new_object();

    json_object_object_add(o, "id", json_object_new_int64(v->id));
    json_object_object_add(o, "mac", json_object_new_string(v->mac));
    json_object_object_add(o, "host", json_object_new_string(v->host));
    json_object_object_add(o, "adapter", json_object_new_string(v->adapter));
    json_object_object_add(o, "vnic", json_object_new_int64(v->vnic));
    json_object_object_add(o, "profile", json_object_new_string(v->profile));
    json_object_object_add(o, "vm", json_object_new_string(v->vm));
    json_object_object_add(o, "directpath",
                           json_object_new_boolean(v->directpath));
    json_object_object_add(o, "state", json_object_new_string(
                               vifjson_state(v->state)));
    char mode[24];

    json_object_object_add(o, "mode", json_object_new_string(
                               vifjson_mode(v->mode, mode)));
    json_object_object_add(o, "mode_reason",
                           json_object_new_string(v->mode_reason));
    json_object_object_add(o, "expires_in_s",
                           json_object_new_int64(v->expires_in_s));
    return o;
}

const char *
vifjson_mode(Fexsim__V1__VifMode m, char buf[24])
{
    return pbenum_word(&fexsim__v1__vif_mode__descriptor, m, buf, 24);
}

const char *
vifjson_state(Fexsim__V1__VifState s)
{
    return s == FEXSIM__V1__VIF_STATE__VIF_STATE_ONLINE ? "online"
                                                         : "offline";
}

void
vifjson_print_header(void)
{
    printf("%-6s %-18s %-12s %-6s %-16s %-12s %-10s %-8s %-8s %-16s %s\n",
           "VIF", "MAC", "HOST", "VNIC", "PROFILE", "VM", "DIRECTPATH",
           "STATE", "EXPIRES", "MODE", "WHY");
}

/* When an offline VIF goes, as "14m05s" ("-" online). */
static const char *
vifjson_expires(uint32_t s, char buf[16])
{
    if (!s) {
        return "-";
    }
    snprintf(buf, 16, "%um%02us", s / 60, s % 60);
    return buf;
}

void
vifjson_print_row(const Fexsim__V1__Vif *v)
{
    char exp[16], mode[24];

    printf("%-6u %-18s %-12s %-6u %-16s %-12s %-10s %-8s %-8s %-16s %s\n",
           v->id, v->mac, v->host, v->vnic, v->profile, v->vm,
           v->directpath ? "yes" : "no", vifjson_state(v->state),
           vifjson_expires(v->expires_in_s, exp), vifjson_mode(v->mode, mode),
           v->mode_reason);
}
