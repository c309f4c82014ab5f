/* Fuzz the request_id scanner: never reads outside, token inside input. */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "mcp_reqid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t  *tok = NULL;
    size_t          n;

    n = mcp_json_request_id(data, size, &tok);

    if (n && (tok < data || tok + n > data + size)) {
        abort();
    }

    if (n && tok[0] == '"' && (n < 2 || tok[n - 1] != '"')) {
        abort();
    }

    return 0;
}
