/*
 * A bounded least-recently-used map from string keys to owned values.
 *
 * Bounded by a total cost (the caller says what an entry costs: bytes,
 * messages, 1) and by a number of entries; inserting past either bound
 * evicts from the cold end.  Values are owned by the map once inserted and
 * released through the free function given at creation, on eviction,
 * replacement, removal and destruction.  Single-threaded; O(1) expected for
 * every operation (chained hash + doubly linked recency list).
 */

#ifndef MCP_LRU_H
#define MCP_LRU_H

#include <stddef.h>
#include <stdint.h>

typedef struct mcp_lru_s  mcp_lru_t;

typedef void (*mcp_lru_free_pt)(void *value, void *ctx);

typedef struct {
    size_t     entries;
    size_t     cost;
    size_t     max_entries;
    size_t     max_cost;
    uint64_t   hits;
    uint64_t   misses;
    uint64_t   evictions;
} mcp_lru_stats_t;

/* max_entries 0: unbounded count; max_cost 0: unbounded cost.  NULL: OOM */
mcp_lru_t *mcp_lru_new(size_t max_entries, size_t max_cost,
    mcp_lru_free_pt free_fn, void *ctx);
void mcp_lru_free(mcp_lru_t *lru);

/* The value (marked most recent; counted as hit or miss), or NULL. */
void *mcp_lru_get(mcp_lru_t *lru, const char *key);
/* The same without touching recency or the hit counters. */
void *mcp_lru_peek(const mcp_lru_t *lru, const char *key);

/*
 * Insert or replace.  The map owns value from now on, even on failure (it
 * is freed then).  An entry costing more than max_cost is not kept.
 * 0 or -1 (out of memory, or too costly).
 */
int mcp_lru_put(mcp_lru_t *lru, const char *key, void *value, size_t cost);

/* Change the cost of a present entry (it grew); may evict others, never
   the entry itself unless it alone exceeds max_cost. */
void mcp_lru_set_cost(mcp_lru_t *lru, const char *key, size_t cost);

/* Remove (and free) an entry; 1 if it was there. */
int mcp_lru_remove(mcp_lru_t *lru, const char *key);

/* Visit every entry, oldest first; those for which drop() returns 1 are
   removed and freed.  drop must not change the map itself. */
void mcp_lru_sweep(mcp_lru_t *lru,
    int (*drop)(const char *key, void *value, void *ctx), void *ctx);

void mcp_lru_stats(const mcp_lru_t *lru, mcp_lru_stats_t *st);

#endif /* MCP_LRU_H */
