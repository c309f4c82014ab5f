/*
 * LRU cache: chained hash table for lookup, doubly-linked list for recency
 * (head = most recent).  The bucket count is a power of two at least twice
 * the capacity, so chains stay short without ever rehashing.
 */

#include "util/mcp_lru.h"

#include <stdlib.h>
#include <string.h>

typedef struct mcp_lru_node_s  mcp_lru_node_t;

struct mcp_lru_node_s {
    mcp_lru_node_t  *chain;     /* next in bucket */
    mcp_lru_node_t  *prev;      /* recency list */
    mcp_lru_node_t  *next;
    uint64_t         hash;
    void            *value;
    size_t           key_len;
    unsigned char    key[];
};

struct mcp_lru_s {
    mcp_lru_node_t   **buckets;
    size_t             mask;
    mcp_lru_node_t    *head;
    mcp_lru_node_t    *tail;
    mcp_lru_free_pt    free_value;
    mcp_lru_stats_t    stats;
};


uint64_t
mcp_lru_hash(const void *data, size_t len)
{
    const unsigned char  *p = data;
    uint64_t              h = 0xcbf29ce484222325ULL;
    size_t                i;

    for (i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}


mcp_lru_t *
mcp_lru_create(size_t capacity, mcp_lru_free_pt free_value)
{
    mcp_lru_t  *lru;
    size_t      nb = 16;

    if (capacity == 0) {
        return NULL;
    }
    while (nb < capacity * 2 && nb < ((size_t) 1 << 30)) {
        nb <<= 1;
    }

    lru = calloc(1, sizeof(*lru));
    if (lru == NULL) {
        return NULL;
    }
    lru->buckets = calloc(nb, sizeof(*lru->buckets));
    if (lru->buckets == NULL) {
        free(lru);
        return NULL;
    }
    lru->mask = nb - 1;
    lru->free_value = free_value;
    lru->stats.capacity = capacity;
    return lru;
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
mcp_lru_push_front(mcp_lru_t *lru, mcp_lru_node_t *n)
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


static mcp_lru_node_t **
mcp_lru_slot(mcp_lru_t *lru, uint64_t hash, const void *key, size_t key_len)
{
    mcp_lru_node_t  **pp = &lru->buckets[hash & lru->mask];

    while (*pp) {
        if ((*pp)->hash == hash && (*pp)->key_len == key_len
            && memcmp((*pp)->key, key, key_len) == 0)
        {
            return pp;
        }
        pp = &(*pp)->chain;
    }
    return pp;
}


/* unlink n from its bucket and the list, free it and its value */
static void
mcp_lru_drop(mcp_lru_t *lru, mcp_lru_node_t *n)
{
    mcp_lru_node_t  **pp = mcp_lru_slot(lru, n->hash, n->key, n->key_len);

    *pp = n->chain;
    mcp_lru_unlink(lru, n);
    if (lru->free_value) {
        lru->free_value(n->value);
    }
    free(n);
    lru->stats.size--;
}


void *
mcp_lru_get(mcp_lru_t *lru, const void *key, size_t key_len)
{
    uint64_t          h = mcp_lru_hash(key, key_len);
    mcp_lru_node_t   *n = *mcp_lru_slot(lru, h, key, key_len);

    if (n == NULL) {
        lru->stats.misses++;
        return NULL;
    }
    lru->stats.hits++;
    if (lru->head != n) {
        mcp_lru_unlink(lru, n);
        mcp_lru_push_front(lru, n);
    }
    return n->value;
}


int
mcp_lru_put(mcp_lru_t *lru, const void *key, size_t key_len, void *value)
{
    uint64_t          h = mcp_lru_hash(key, key_len);
    mcp_lru_node_t  **pp = mcp_lru_slot(lru, h, key, key_len);
    mcp_lru_node_t   *n = *pp;

    if (n != NULL) {
        if (lru->free_value && n->value != value) {
            lru->free_value(n->value);
        }
        n->value = value;
        if (lru->head != n) {
            mcp_lru_unlink(lru, n);
            mcp_lru_push_front(lru, n);
        }
        return 0;
    }

    n = malloc(sizeof(*n) + key_len);
    if (n == NULL) {
        return -1;
    }
    n->hash = h;
    n->value = value;
    n->key_len = key_len;
    memcpy(n->key, key, key_len);

    if (lru->stats.size == lru->stats.capacity) {
        mcp_lru_drop(lru, lru->tail);
        lru->stats.evictions++;
        pp = mcp_lru_slot(lru, h, key, key_len);
    }

    n->chain = NULL;
    *pp = n;
    mcp_lru_push_front(lru, n);
    lru->stats.size++;
    return 0;
}


int
mcp_lru_evict_oldest(mcp_lru_t *lru)
{
    if (lru->tail == NULL) {
        return 0;
    }
    mcp_lru_drop(lru, lru->tail);
    lru->stats.evictions++;
    return 1;
}


int
mcp_lru_remove(mcp_lru_t *lru, const void *key, size_t key_len)
{
    uint64_t         h = mcp_lru_hash(key, key_len);
    mcp_lru_node_t  *n = *mcp_lru_slot(lru, h, key, key_len);

    if (n == NULL) {
        return 0;
    }
    mcp_lru_drop(lru, n);
    return 1;
}


void
mcp_lru_stats(const mcp_lru_t *lru, mcp_lru_stats_t *out)
{
    *out = lru->stats;
}


void
mcp_lru_destroy(mcp_lru_t *lru)
{
    mcp_lru_node_t  *n, *next;

    if (lru == NULL) {
        return;
    }
    for (n = lru->head; n; n = next) {
        next = n->next;
        if (lru->free_value) {
            lru->free_value(n->value);
        }
        free(n);
    }
    free(lru->buckets);
    free(lru);
}
