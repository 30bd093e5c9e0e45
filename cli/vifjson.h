/* vifjson: how fexctl shows a VIF, shared by "vif list" and "vm ...". */
#ifndef VIFJSON_H
#define VIFJSON_H

#include <json-c/json.h>

#include "vmfex.pb-c.h"

/* A new JSON object for 'v'; the caller owns it. */
struct json_object *vifjson(const Fexsim__V1__Vif *v);
const char *vifjson_state(Fexsim__V1__VifState);
void vifjson_print_header(void);
void vifjson_print_row(const Fexsim__V1__Vif *v);

#endif
