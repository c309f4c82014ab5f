/*
 * Log-linear histogram; see mcp_hist.h.
 */

#include <string.h>

#include "mcp_hist.h"

/* values below MCP_HIST_SUB map to themselves; above, 4 mantissa bits */
static unsigned
bucket_of(uint64_t v)
{
    unsigned  msb, shift;

    if (v < MCP_HIST_SUB) {
        return (unsigned) v;
    }

    msb = 63 - (unsigned) __builtin_clzll(v);
    shift = msb - 4;

    return (shift + 1) * MCP_HIST_SUB + (unsigned) ((v >> shift) & 15);
}

/* the upper edge of a bucket, so quantiles never under-report */
static uint64_t
bucket_high(unsigned b)
{
    unsigned  shift;

    if (b < MCP_HIST_SUB) {
        return b;
    }

    shift = b / MCP_HIST_SUB - 1;

    return ((uint64_t) (MCP_HIST_SUB + b % MCP_HIST_SUB) << shift)
           + (((uint64_t) 1 << shift) - 1);
}


void
mcp_hist_reset(mcp_hist_t *h)
{
    memset(h, 0, sizeof(*h));
}


void
mcp_hist_record(mcp_hist_t *h, uint64_t value)
{
    h->count++;
    h->sum += value;

    if (value > h->max) {
        h->max = value;
    }

    h->buckets[bucket_of(value)]++;
}


void
mcp_hist_merge(mcp_hist_t *into, const mcp_hist_t *from)
{
    unsigned  i;

    into->count += from->count;
    into->sum += from->sum;

    if (from->max > into->max) {
        into->max = from->max;
    }

    for (i = 0; i < MCP_HIST_BUCKETS; i++) {
        into->buckets[i] += from->buckets[i];
    }
}


uint64_t
mcp_hist_quantile(const mcp_hist_t *h, double q)
{
    uint64_t  rank, seen = 0, v;
    unsigned  i;

    if (h->count == 0) {
        return 0;
    }

    if (q < 0) {
        q = 0;
    }

    if (q > 1) {
        q = 1;
    }

    rank = (uint64_t) (q * (double) (h->count - 1)) + 1;

    for (i = 0; i < MCP_HIST_BUCKETS; i++) {
        seen += h->buckets[i];

        if (seen >= rank) {
            v = bucket_high(i);
            return v < h->max ? v : h->max;
        }
    }

    return h->max;
}
