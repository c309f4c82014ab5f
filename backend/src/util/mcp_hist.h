/*
 * A fixed-size latency histogram for status percentiles (p50/p99/p999).
 * Log-linear buckets: 16 linear steps per power of two, so any recorded
 * value is reported within ~6% of its true value, in 8 KiB, with O(1)
 * record and no allocation.  Not thread-safe: keep one per thread (or per
 * loop) and merge them for reporting.
 */

#ifndef MCP_HIST_H
#define MCP_HIST_H

#include <stdint.h>

#define MCP_HIST_SUB      16
#define MCP_HIST_BUCKETS  (64 * MCP_HIST_SUB)

typedef struct {
    uint64_t  count;
    uint64_t  sum;
    uint64_t  max;
    uint64_t  buckets[MCP_HIST_BUCKETS];
} mcp_hist_t;

void mcp_hist_reset(mcp_hist_t *h);
void mcp_hist_record(mcp_hist_t *h, uint64_t value);
void mcp_hist_merge(mcp_hist_t *into, const mcp_hist_t *from);
/* q in [0, 1]; 0 when empty.  Returns a value in the same unit recorded. */
uint64_t mcp_hist_quantile(const mcp_hist_t *h, double q);

#endif /* MCP_HIST_H */
