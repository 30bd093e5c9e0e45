/* fuzz_vic: a vNIC's device state as the migration stream brings it
 * (vic_restore() in vic.c, which agentd's load callback calls with the
 * bytes of a DEVICE record).
 *
 * The input is restored into a reserved vNIC.  A refused state must
 * leave the vNIC as it was.  An accepted one must make a vNIC that
 * works: it checkpoints, that checkpoint restores into another vNIC and
 * checkpoints again to the same bytes (vic.h's promise), and the restored
 * vNIC resumes and hands its rings' frames to the guest and the fabric. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fx_err.h"
#include "vic.h"

/* Resumes vNIC 'idx' and empties both rings as the guest and the fabric
 * would, then sends one frame through it. */
static void
fz_run(struct vic *vic, uint32_t idx)
{
    static const uint8_t frame[64] = { 0x02, 0, 0, 0, 0, 1, 0x02 };
    uint8_t *buf = malloc(VIC_FRAME_MAX);
    size_t len;

    if (!buf || vic_vnic_resume(vic, idx, NULL)) {
        abort();
    }
    while (vic_vnic_rx_pop(vic, idx, buf, VIC_FRAME_MAX, &len, NULL) == 0) {
        continue;
    }
    while (vic_vnic_tx_pop(vic, idx, buf, VIC_FRAME_MAX, &len, NULL) == 0) {
        continue;
    }
    if (vic_vnic_tx_push(vic, idx, frame, sizeof frame, NULL)
        || vic_vnic_tx_pop(vic, idx, buf, VIC_FRAME_MAX, &len, NULL)
        || len != sizeof frame) {
        abort();
    }
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vic *vic = vic_create("M81KR", 2, NULL);
    struct vic_vnic_info before, after;
    uint8_t *ck1, *ck2;
    size_t n1, n2;
    struct fx_err err;
    uint32_t a, b;

    if (!vic || vic_vnic_reserve(vic, &a, NULL)
        || vic_vnic_reserve(vic, &b, NULL)
        || vic_vnic_info(vic, a, &before, NULL)) {
        abort();
    }
    if (vic_restore(vic, a, data, size, &err)) {
        if (!err.msg[0] || vic_vnic_info(vic, a, &after, NULL)
            || memcmp(&before, &after, sizeof before)) {
            abort();
        }
        vic_destroy(vic);
        return 0;
    }
    if (vic_checkpoint(vic, a, &ck1, &n1, NULL)
        || vic_restore(vic, b, ck1, n1, NULL)
        || vic_checkpoint(vic, b, &ck2, &n2, NULL)
        || n1 != n2 || memcmp(ck1, ck2, n1)) {
        abort();
    }
    free(ck1);
    free(ck2);
    fz_run(vic, a);
    vic_destroy(vic);
    return 0;
}
