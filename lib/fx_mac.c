/* fx_mac: MAC addresses as text. */
#include "fx_mac.h"

#include <errno.h>
#include <stdio.h>

int
fx_mac_parse(const char *s, uint8_t mac[FX_MAC_LEN])
{
    unsigned b[FX_MAC_LEN];
    char end;

    /* A seventh conversion that succeeds means trailing characters. */
    if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3],
               &b[4], &b[5], &end) != FX_MAC_LEN) {
        return -EINVAL;
    }
    for (int i = 0; i < FX_MAC_LEN; i++) {
        mac[i] = (uint8_t) b[i];
    }
    return 0;
}

void
fx_mac_format(const uint8_t mac[FX_MAC_LEN], char buf[FX_MAC_STR_SIZE])
{
    snprintf(buf, FX_MAC_STR_SIZE, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0],
             mac[1], mac[2], mac[3], mac[4], mac[5]);
}
