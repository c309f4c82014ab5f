/* Random UUIDs: see mcp_uuid.h. */

#include <stdint.h>
#include <stdio.h>
#include <sys/random.h>
#include <time.h>

#include "util/mcp_uuid.h"

void
mcp_uuid4(char out[MCP_UUID_LEN + 1])
{
    unsigned char    b[16];
    struct timespec  ts;
    uint64_t         t;
    size_t           i;
    char            *p = out;

    if (getrandom(b, sizeof(b), 0) != (ssize_t) sizeof(b)) {
        /* no entropy yet: the clock and an address still keep ids apart */
        clock_gettime(CLOCK_REALTIME, &ts);
        t = (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
        t ^= (uint64_t) (uintptr_t) out;
        for (i = 0; i < sizeof(b); i++) {
            b[i] = (unsigned char) (t >> ((i % 8) * 8)) ^ (unsigned char) i;
        }
    }
    b[6] = (b[6] & 0x0f) | 0x40;        /* version 4 */
    b[8] = (b[8] & 0x3f) | 0x80;        /* variant 1 */
    for (i = 0; i < sizeof(b); i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            *p++ = '-';
        }
        p += sprintf(p, "%02x", b[i]);
    }
}
