/*
 * Bounded LRU map (see mcp_lru.h).  The hash table doubles when the load
 * passes 1 so lookups stay O(1); the recency list runs from head (newest)
 * to tail (the next to be evicted).
 */

#include <stdlib.h>
#include <string.h>

#include "util/mcp_lru.h"

typedef struct mcp_lru_node_s  mcp_lru_node_t;

struct mcp_lru_node_s {
    mcp_lru_node_t  *hnext;
    mcp_lru_node_t  *prev;      /* towards head (newer) */
    mcp_lru_node_t  *next;      /* towards tail (older) */
    uint64_t         hash;
    void            *value;
    size_t           cost;
    char             key[];
};

struct mcp_lru_s {
    mcp_lru_node_t  **buckets;
    size_t            nbuckets;
    mcp_lru_node_t   *head;
    mcp_lru_node_t   *tail;
    mcp_lru_free_pt   free_fn;
    void             *ctx;
    mcp_lru_stats_t   st;
};


static uint64_t
mcp_lru_hash(const char *key)
{
    uint64_t  h = 1469598103934665603ULL;       /* FNV-1a */

    while (*key) {
        h ^= (unsigned char) *key++;
        h *= 1099511628211ULL;
    }
    return h;
}


mcp_lru_t *
mcp_lru_new(size_t max_entries, size_t max_cost, mcp_lru_free_pt free_fn,
    void *ctx)
{
    mcp_lru_t  *lru = calloc(1, sizeof(*lru));

    if (lru == NULL) {
        return NULL;
    }
    lru->nbuckets = 64;
    lru->buckets = calloc(lru->nbuckets, sizeof(*lru->buckets));
    if (lru->buckets == NULL) {
        free(lru);
        return NULL;
    }
    lru->free_fn = free_fn;
    lru->ctx = ctx;
    lru->st.max_entries = max_entries;
    lru->st.max_cost = max_cost;
    return lru;
}


static void
mcp_lru_release(mcp_lru_t *lru, mcp_lru_node_t *n)
{
    if (lru->free_fn && n->value) {
        lru->free_fn(n->value, lru->ctx);
    }
    free(n);
}


void
mcp_lru_free(mcp_lru_t *lru)
{
    mcp_lru_node_t  *n, *next;

    if (lru == NULL) {
        return;
    }
    for (n = lru->head; n; n = next) {
        next = n->next;
        mcp_lru_release(lru, n);
    }
    free(lru->buckets);
    free(lru);
}


static mcp_lru_node_t *
mcp_lru_find(const mcp_lru_t *lru, const char *key, uint64_t h)
{
    mcp_lru_node_t  *n;

    for (n = lru->buckets[h & (lru->nbuckets - 1)]; n; n = n->hnext) {
        if (n->hash == h && strcmp(n->key, key) == 0) {
            return n;
        }
    }
    return NULL;
}


static void
mcp_lru_unlink(mcp_lru_t *lru, mcp_lru_node_t *n)
{
    if (n->prev) {
        n->prev->next = n->next;
    } else {
        lru->head = n->next;
    }
    if (n->next) {
        n->next->prev = n->prev;
    } else {
        lru->tail = n->prev;
    }
    n->prev = n->next = NULL;
}


static void
mcp_lru_push_head(mcp_lru_t *lru, mcp_lru_node_t *n)
{
    n->prev = NULL;
    n->next = lru->head;
    if (lru->head) {
        lru->head->prev = n;
    }
    lru->head = n;
    if (lru->tail == NULL) {
        lru->tail = n;
    }
}


/* take n out of the table and the list, and out of the totals */
static void
mcp_lru_detach(mcp_lru_t *lru, mcp_lru_node_t *n)
{
    mcp_lru_node_t  **pp;

    for (pp = &lru->buckets[n->hash & (lru->nbuckets - 1)]; *pp;
         pp = &(*pp)->hnext)
    {
        if (*pp == n) {
            *pp = n->hnext;
            break;
        }
    }
    mcp_lru_unlink(lru, n);
    lru->st.entries--;
    lru->st.cost -= n->cost;
}


static int
mcp_lru_grow(mcp_lru_t *lru)
{
    size_t            nb = lru->nbuckets * 2, i;
    mcp_lru_node_t  **b, *n, *next;

    b = calloc(nb, sizeof(*b));
    if (b == NULL) {
        return -1;
    }
    for (i = 0; i < lru->nbuckets; i++) {
        for (n = lru->buckets[i]; n; n = next) {
            next = n->hnext;
            n->hnext = b[n->hash & (nb - 1)];
            b[n->hash & (nb - 1)] = n;
        }
    }
    free(lru->buckets);
    lru->buckets = b;
    lru->nbuckets = nb;
    return 0;
}


/* evict from the tail until within bounds, sparing keep */
static void
mcp_lru_enforce(mcp_lru_t *lru, mcp_lru_node_t *keep)
{
    mcp_lru_node_t  *n;

    for ( ;; ) {
        int  over = (lru->st.max_entries && lru->st.entries > lru->st.max_entries)
                    || (lru->st.max_cost && lru->st.cost > lru->st.max_cost);

        if (!over) {
            return;
        }
        n = lru->tail;
        if (n == keep) {
            n = n->prev;
        }
        if (n == NULL) {
            return;
        }
        mcp_lru_detach(lru, n);
        lru->st.evictions++;
        mcp_lru_release(lru, n);
    }
}


void *
mcp_lru_get(mcp_lru_t *lru, const char *key)
{
    mcp_lru_node_t  *n = mcp_lru_find(lru, key, mcp_lru_hash(key));

    if (n == NULL) {
        lru->st.misses++;
        return NULL;
    }
    lru->st.hits++;
    if (n != lru->head) {
        mcp_lru_unlink(lru, n);
        mcp_lru_push_head(lru, n);
    }
    return n->value;
}


void *
mcp_lru_peek(const mcp_lru_t *lru, const char *key)
{
    mcp_lru_node_t  *n = mcp_lru_find(lru, key, mcp_lru_hash(key));

    return n ? n->value : NULL;
}


int
mcp_lru_put(mcp_lru_t *lru, const char *key, void *value, size_t cost)
{
    uint64_t         h = mcp_lru_hash(key);
    size_t           klen = strlen(key);
    mcp_lru_node_t  *n;

    mcp_lru_remove(lru, key);

    if (lru->st.max_cost && cost > lru->st.max_cost) {
        if (lru->free_fn && value) {
            lru->free_fn(value, lru->ctx);
        }
        return -1;
    }

    if (lru->st.entries >= lru->nbuckets) {
        (void) mcp_lru_grow(lru);       /* a full table is slower, not wrong */
    }

    n = malloc(sizeof(*n) + klen + 1);
    if (n == NULL) {
        if (lru->free_fn && value) {
            lru->free_fn(value, lru->ctx);
        }
        return -1;
    }
    memcpy(n->key, key, klen + 1);
    n->hash = h;
    n->value = value;
    n->cost = cost;
    n->hnext = lru->buckets[h & (lru->nbuckets - 1)];
    lru->buckets[h & (lru->nbuckets - 1)] = n;
    mcp_lru_push_head(lru, n);
    lru->st.entries++;
    lru->st.cost += cost;

    mcp_lru_enforce(lru, n);
    return 0;
}


void
mcp_lru_set_cost(mcp_lru_t *lru, const char *key, size_t cost)
{
    mcp_lru_node_t  *n = mcp_lru_find(lru, key, mcp_lru_hash(key));

    if (n == NULL) {
        return;
    }
    lru->st.cost = lru->st.cost - n->cost + cost;
    n->cost = cost;
    if (lru->st.max_cost && cost > lru->st.max_cost) {
        mcp_lru_detach(lru, n);
        lru->st.evictions++;
        mcp_lru_release(lru, n);
        return;
    }
    mcp_lru_enforce(lru, n);
}


int
mcp_lru_remove(mcp_lru_t *lru, const char *key)
{
    mcp_lru_node_t  *n = mcp_lru_find(lru, key, mcp_lru_hash(key));

    if (n == NULL) {
        return 0;
    }
    mcp_lru_detach(lru, n);
    mcp_lru_release(lru, n);
    return 1;
}


void
mcp_lru_sweep(mcp_lru_t *lru,
    int (*drop)(const char *key, void *value, void *ctx), void *ctx)
{
    mcp_lru_node_t  *n, *prev;

    for (n = lru->tail; n; n = prev) {
        prev = n->prev;
        if (drop(n->key, n->value, ctx)) {
            mcp_lru_detach(lru, n);
            mcp_lru_release(lru, n);
        }
    }
}


void
mcp_lru_stats(const mcp_lru_t *lru, mcp_lru_stats_t *st)
{
    *st = lru->st;
}
