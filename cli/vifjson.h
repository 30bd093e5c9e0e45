/* vifjson: how fexctl shows a VIF, shared by "vif list" and "vm ...". */
#ifndef VIFJSON_H
#define VIFJSON_H

#include <json-c/json.h>

#include "vmfex.pb-c.h"

/* A new JSON object for 'v'; the caller owns it. */
struct json_object *vifjson(const Fexsim__V1__Vif *v);
const char *vifjson_state(Fexsim__V1__VifState);
/* The mode's word ("high-performance", pbenum.h) in 'buf', returned. */
const char *vifjson_mode(Fexsim__V1__VifMode, char buf[24]);
void vifjson_print_header(void);
void vifjson_print_row(const Fexsim__V1__Vif *v);

#endif
