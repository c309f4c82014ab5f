/*
 * Fuzz the header parsers the provider layer feeds with untrusted text:
 * Retry-After (seconds or HTTP date), retry-after-ms and Go durations.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "llm/mcp_llm_policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char     *s;
    int64_t   ms;

    s = malloc(size + 1);
    if (s == NULL) {
        return 0;
    }
    memcpy(s, data, size);
    s[size] = '\0';

    if (mcp_llm_parse_duration(s, &ms) == 0 && ms < 0) {
        abort();
    }
    if (mcp_llm_parse_retry_after(s, 1445412480, &ms) == 0 && ms < 0) {
        abort();
    }
    if (mcp_llm_parse_retry_after_ms(s, &ms) == 0 && ms < 0) {
        abort();
    }
    free(s);
    return 0;
}
