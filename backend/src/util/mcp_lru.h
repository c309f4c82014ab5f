/*
 * A generic least-recently-used cache: byte-string keys, opaque values.
 *
 * Lookup and insertion are O(1) (chained hash table plus an intrusive
 * doubly-linked recency list).  The cache owns the values it holds and
 * releases them through free_value when they are evicted, replaced, removed
 * or the cache is destroyed.  Not thread-safe: one per loop.
 */

#ifndef MCP_LRU_H
#define MCP_LRU_H

#include <stddef.h>
#include <stdint.h>

typedef void (*mcp_lru_free_pt)(void *value);

typedef struct mcp_lru_s  mcp_lru_t;

typedef struct {
    size_t    size;
    size_t    capacity;
    uint64_t  hits;
    uint64_t  misses;
    uint64_t  evictions;
} mcp_lru_stats_t;

/* capacity >= 1; free_value may be NULL.  NULL on allocation failure. */
mcp_lru_t *mcp_lru_create(size_t capacity, mcp_lru_free_pt free_value);
void mcp_lru_destroy(mcp_lru_t *lru);

/* The value for key (and mark it most recently used), or NULL. */
void *mcp_lru_get(mcp_lru_t *lru, const void *key, size_t key_len);

/*
 * Insert or replace.  The least recently used entry is evicted when full.
 * Returns 0, or -1 on allocation failure (the value is then NOT taken).
 */
int mcp_lru_put(mcp_lru_t *lru, const void *key, size_t key_len,
    void *value);

/* 1 when the least recently used entry was evicted, 0 when empty. */
int mcp_lru_evict_oldest(mcp_lru_t *lru);

/* 1 when an entry was removed (and its value freed), 0 when absent. */
int mcp_lru_remove(mcp_lru_t *lru, const void *key, size_t key_len);

void mcp_lru_stats(const mcp_lru_t *lru, mcp_lru_stats_t *out);

/* FNV-1a 64: the stable hash used for keys (also handy for callers). */
uint64_t mcp_lru_hash(const void *data, size_t len);

#endif /* MCP_LRU_H */
