/* fx_name: the names of objects (hosts, profiles, VMs). */
#ifndef FX_NAME_H
#define FX_NAME_H

/* Returns true if 'name' is a valid object name: 1-39 characters (the
 * 40-byte IFLA_PORT_PROFILE buffer, less its NUL) of [A-Za-z0-9._-]. */
int fx_name_valid(const char *name);

#endif
