/*
 * String map (see mcp_strmap.h): chained hash table plus an insertion
 * ordered list for sweeps.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/mcp_strmap.h"

typedef struct mcp_strmap_node_s  mcp_strmap_node_t;

struct mcp_strmap_node_s {
    mcp_strmap_node_t  *hnext;
    mcp_strmap_node_t  *prev;
    mcp_strmap_node_t  *next;
    uint64_t            hash;
    void               *value;
    char                key[];
};

struct mcp_strmap_s {
    mcp_strmap_node_t   **buckets;
    size_t                nbuckets;
    size_t                count;
    mcp_strmap_node_t    *head;     /* oldest */
    mcp_strmap_node_t    *tail;     /* newest */
    mcp_strmap_free_pt    free_fn;
    void                 *ctx;
};


static uint64_t
mcp_strmap_hash(const char *key)
{
    uint64_t  h = 1469598103934665603ULL;       /* FNV-1a */

    while (*key) {
        h ^= (unsigned char) *key++;
        h *= 1099511628211ULL;
    }
    return h;
}


mcp_strmap_t *
mcp_strmap_new(mcp_strmap_free_pt free_fn, void *ctx)
{
    mcp_strmap_t  *m = calloc(1, sizeof(*m));

    if (m == NULL) {
        return NULL;
    }
    m->nbuckets = 64;
    m->buckets = calloc(m->nbuckets, sizeof(*m->buckets));
    if (m->buckets == NULL) {
        free(m);
        return NULL;
    }
    m->free_fn = free_fn;
    m->ctx = ctx;
    return m;
}


static void
mcp_strmap_release(mcp_strmap_t *m, mcp_strmap_node_t *n)
{
    if (m->free_fn && n->value) {
        m->free_fn(n->value, m->ctx);
    }
    free(n);
}


void
mcp_strmap_free(mcp_strmap_t *m)
{
    mcp_strmap_node_t  *n, *next;

    if (m == NULL) {
        return;
    }
    for (n = m->head; n; n = next) {
        next = n->next;
        mcp_strmap_release(m, n);
    }
    free(m->buckets);
    free(m);
}


static mcp_strmap_node_t *
mcp_strmap_find(const mcp_strmap_t *m, const char *key, uint64_t h)
{
    mcp_strmap_node_t  *n;

    for (n = m->buckets[h & (m->nbuckets - 1)]; n; n = n->hnext) {
        if (n->hash == h && strcmp(n->key, key) == 0) {
            return n;
        }
    }
    return NULL;
}


void *
mcp_strmap_get(const mcp_strmap_t *m, const char *key)
{
    mcp_strmap_node_t  *n = mcp_strmap_find(m, key, mcp_strmap_hash(key));

    return n ? n->value : NULL;
}


static void
mcp_strmap_detach(mcp_strmap_t *m, mcp_strmap_node_t *n)
{
    mcp_strmap_node_t  **pp;

    for (pp = &m->buckets[n->hash & (m->nbuckets - 1)]; *pp;
         pp = &(*pp)->hnext)
    {
        if (*pp == n) {
            *pp = n->hnext;
            break;
        }
    }
    if (n->prev) {
        n->prev->next = n->next;
    } else {
        m->head = n->next;
    }
    if (n->next) {
        n->next->prev = n->prev;
    } else {
        m->tail = n->prev;
    }
    m->count--;
}


static void
mcp_strmap_grow(mcp_strmap_t *m)
{
    size_t               nb = m->nbuckets * 2, i;
    mcp_strmap_node_t  **b, *n, *next;

    b = calloc(nb, sizeof(*b));
    if (b == NULL) {
        return;             /* a fuller table is slower, not wrong */
    }
    for (i = 0; i < m->nbuckets; i++) {
        for (n = m->buckets[i]; n; n = next) {
            next = n->hnext;
            n->hnext = b[n->hash & (nb - 1)];
            b[n->hash & (nb - 1)] = n;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = nb;
}


int
mcp_strmap_put(mcp_strmap_t *m, const char *key, void *value)
{
    uint64_t            h = mcp_strmap_hash(key);
    size_t              klen = strlen(key);
    mcp_strmap_node_t  *n;

    mcp_strmap_remove(m, key);
    if (m->count >= m->nbuckets) {
        mcp_strmap_grow(m);
    }
    n = malloc(sizeof(*n) + klen + 1);
    if (n == NULL) {
        if (m->free_fn && value) {
            m->free_fn(value, m->ctx);
        }
        return -1;
    }
    memcpy(n->key, key, klen + 1);
    n->hash = h;
    n->value = value;
    n->hnext = m->buckets[h & (m->nbuckets - 1)];
    m->buckets[h & (m->nbuckets - 1)] = n;
    n->next = NULL;
    n->prev = m->tail;
    if (m->tail) {
        m->tail->next = n;
    } else {
        m->head = n;
    }
    m->tail = n;
    m->count++;
    return 0;
}


int
mcp_strmap_remove(mcp_strmap_t *m, const char *key)
{
    mcp_strmap_node_t  *n = mcp_strmap_find(m, key, mcp_strmap_hash(key));

    if (n == NULL) {
        return 0;
    }
    mcp_strmap_detach(m, n);
    mcp_strmap_release(m, n);
    return 1;
}


void
mcp_strmap_sweep(mcp_strmap_t *m,
    int (*drop)(const char *key, void *value, void *ctx), void *ctx)
{
    mcp_strmap_node_t  *n, *next;

    for (n = m->head; n; n = next) {
        next = n->next;
        if (drop(n->key, n->value, ctx)) {
            mcp_strmap_detach(m, n);
            mcp_strmap_release(m, n);
        }
    }
}


size_t
mcp_strmap_count(const mcp_strmap_t *m)
{
    return m->count;
}
