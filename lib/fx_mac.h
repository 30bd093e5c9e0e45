/* fx_mac: Ethernet MAC addresses as text, "00:25:b5:00:00:01": how the
 * API, the domain XML and the state files write them. */
#ifndef FX_MAC_H
#define FX_MAC_H

#include <stdint.h>

#define FX_MAC_LEN 6           /* Bytes of an address. */
#define FX_MAC_STR_SIZE 18     /* Its text and the NUL. */

/* Parses six ':'-separated hex bytes from 's' into 'mac', nothing after
 * them.  Returns 0, or -EINVAL ('mac' then undefined). */
int fx_mac_parse(const char *s, uint8_t mac[FX_MAC_LEN]);

/* Writes 'mac' as lower-case text into 'buf' (FX_MAC_STR_SIZE bytes). */
void fx_mac_format(const uint8_t mac[FX_MAC_LEN], char buf[FX_MAC_STR_SIZE]);

#endif
