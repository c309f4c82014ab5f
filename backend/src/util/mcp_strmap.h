/*
 * A map from NUL-terminated string keys to owned values, for the tables a
 * subsystem keeps while something is in flight (per-conversation lanes,
 * per-principal limits, running requests): O(1) expected get, put and
 * remove (chained hash, doubled at load 1), a visit in insertion order
 * that may drop entries, and a free function for values.  Unbounded: the
 * caller removes what it no longer needs (for a bounded cache use
 * util/mcp_lru.h).  Single-threaded.
 */

#ifndef MCP_STRMAP_H
#define MCP_STRMAP_H

#include <stddef.h>

typedef struct mcp_strmap_s  mcp_strmap_t;

typedef void (*mcp_strmap_free_pt)(void *value, void *ctx);

/* free_fn may be NULL (values not owned).  NULL: out of memory. */
mcp_strmap_t *mcp_strmap_new(mcp_strmap_free_pt free_fn, void *ctx);
void mcp_strmap_free(mcp_strmap_t *m);

void *mcp_strmap_get(const mcp_strmap_t *m, const char *key);

/* Insert or replace (the old value is freed).  The map owns value from
   now on, even on failure (then it is freed).  0 or -1. */
int mcp_strmap_put(mcp_strmap_t *m, const char *key, void *value);

/* Remove (and free) an entry; 1 if it was there. */
int mcp_strmap_remove(mcp_strmap_t *m, const char *key);

/* Visit every entry, oldest first; those for which drop() returns 1 are
   removed and freed.  drop must not change the map itself. */
void mcp_strmap_sweep(mcp_strmap_t *m,
    int (*drop)(const char *key, void *value, void *ctx), void *ctx);

size_t mcp_strmap_count(const mcp_strmap_t *m);

#endif /* MCP_STRMAP_H */
