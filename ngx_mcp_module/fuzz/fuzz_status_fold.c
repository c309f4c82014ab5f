/* Fuzz the /health fold of mcpd's reply: spans stay inside the input, and
   a fold that succeeded has balanced reasons (its text starts an object). */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "mcp_status_fold.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
inside(const uint8_t *data, size_t size, const uint8_t *p, size_t n)
{
    if (n && (p < data || p + n > data + size)) {
        abort();
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mcp_status_fold_t  f;

    if (mcp_status_fold(data, size, &f) == 0) {
        inside(data, size, f.reasons, f.reasons_len);
        inside(data, size, f.before, f.before_len);
        inside(data, size, f.after, f.after_len);
        if (f.before_len && f.after_len && f.before + f.before_len > f.after) {
            abort();
        }
    }
    (void) mcp_status_prom_degraded(data, size);
    return 0;
}
