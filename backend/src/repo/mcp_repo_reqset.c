/*
 * Request sets: idempotency without an index of its own (schema 5).
 *
 * A request id is unique per conversation and (type, part).  An index on
 * that key cost every group commit one scattered leaf per conversation;
 * instead the writer keeps, per recently written conversation, the set of
 * 64-bit hashes of the keys its chain holds, loaded by one walk of the
 * chain the first time and then kept up to date by the writer's own
 * appends.  A hash that is absent proves the key new; a hash that is
 * present is only a hint, confirmed by walking to the stored row
 * (mcp_repo_ops.c), so a stale key (its row deleted) or a collision costs
 * a walk, never a wrong answer.
 *
 * Each set remembers the newest message it has seen (synced); an append
 * that finds the conversation's newest elsewhere (another process wrote
 * to the file) first reads what it missed.  Only the writer holding the
 * turn touches the sets; a reader may fill a set of its own, outside
 * them, for the writer to adopt (mcp_repo_warm.c).  They are bounded by conversations (LRU) and by
 * keys in all: past MCP_REQSET_MAX_KEYS the least recently written sets
 * are dropped until it fits, and reload on their next append.
 */

#include <stdlib.h>
#include <string.h>

#include "repo/mcp_repo_int.h"

/*
 * Conversations: more than a large deployment keeps talking at once (its
 * 20,000 cached contexts, docs/operations.md): past this bound every
 * append of a conversation whose set went reads its whole chain again,
 * on the writer.  A set of a few keys (16 slots) takes about 290 bytes
 * with its LRU node (measured): 9 MiB at this bound; the bound on keys
 * holds the slots to 16-32 MiB (a set is a quarter to half full).
 */
#define MCP_REQSET_CONVS       32768
#define MCP_REQSET_MAX_KEYS    (1u << 20)
#define MCP_REQSET_FIRST_SLOTS 16


uint64_t
mcp_reqset_key(const char *rid, int type, int64_t part)
{
    uint64_t  h = mcp_lru_hash(rid, strlen(rid));

    /* mix in (type, part); 0 marks an empty slot */
    h ^= ((uint64_t) (unsigned) type << 56) ^ ((uint64_t) part + 1)
         * 0x9e3779b97f4a7c15ull;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h ? h : 1;
}


static void
mcp_reqset_free(void *value)
{
    mcp_reqset_t  *set = value;

    __atomic_sub_fetch(&set->sets->keys, set->n, __ATOMIC_RELAXED);
    free(set->slots);
    free(set);
}


static int
mcp_reqsets_ready(mcp_reqsets_t *s)
{
    if (s->lru == NULL) {
        s->lru = mcp_lru_create(MCP_REQSET_CONVS, mcp_reqset_free);
    }
    return s->lru != NULL;
}


mcp_reqset_t *
mcp_reqsets_find(mcp_reqsets_t *s, const char *conv)
{
    if (s->lru == NULL) {
        return NULL;
    }
    return mcp_lru_get(s->lru, conv, strlen(conv));
}


/* A set of no conversation yet (a reader fills it), or NULL. */
mcp_reqset_t *
mcp_reqset_alloc(mcp_reqsets_t *s)
{
    mcp_reqset_t  *set = calloc(1, sizeof(*set));

    if (set) {
        set->sets = s;
    }
    return set;
}


void
mcp_reqset_drop(mcp_reqset_t *set)
{
    if (set) {
        mcp_reqset_free(set);
    }
}


/* set becomes conv's (replacing any); 0, or -1 (then set is freed). */
static int
mcp_reqsets_put(mcp_reqsets_t *s, const char *conv, mcp_reqset_t *set)
{
    mcp_lru_stats_t  before, after;

    if (!mcp_reqsets_ready(s)) {
        mcp_reqset_free(set);
        return -1;
    }
    mcp_lru_stats(s->lru, &before);
    if (mcp_lru_put(s->lru, conv, strlen(conv), set) != 0) {
        mcp_reqset_free(set);
        return -1;
    }
    /* past the bound on conversations the least recent set made room */
    mcp_lru_stats(s->lru, &after);
    __atomic_add_fetch(&s->evicted, after.evictions - before.evictions,
                       __ATOMIC_RELAXED);
    __atomic_add_fetch(&s->loads, 1, __ATOMIC_RELAXED);
    return 0;
}


/* An empty set for conv (replacing any), or NULL without memory. */
mcp_reqset_t *
mcp_reqsets_new(mcp_reqsets_t *s, const char *conv)
{
    mcp_reqset_t  *set = mcp_reqset_alloc(s);

    if (set == NULL || mcp_reqsets_put(s, conv, set) != 0) {
        return NULL;
    }
    return set;
}


/*
 * A set a reader read for conv (mcp_repo_warm.c), unless the writer made
 * one meanwhile: the writer's own is the newer then.  Without memory the
 * set is dropped and read again on the next append.
 */
void
mcp_reqsets_adopt(mcp_reqsets_t *s, const char *conv, mcp_reqset_t *set)
{
    if (mcp_reqsets_find(s, conv) != NULL) {
        mcp_reqset_free(set);
        return;
    }
    (void) mcp_reqsets_put(s, conv, set);
    mcp_reqsets_trim(s);
}


void
mcp_reqsets_forget(mcp_reqsets_t *s, const char *conv)
{
    if (s->lru) {
        mcp_lru_remove(s->lru, conv, strlen(conv));
    }
}


void
mcp_reqsets_free(mcp_reqsets_t *s)
{
    if (s->lru) {
        mcp_lru_destroy(s->lru);
        s->lru = NULL;
    }
}


int
mcp_reqset_has(const mcp_reqset_t *set, uint64_t key)
{
    size_t  i, mask;

    if (set->cap == 0) {
        return 0;
    }
    mask = set->cap - 1;
    for (i = key & mask; set->slots[i] != 0; i = (i + 1) & mask) {
        if (set->slots[i] == key) {
            return 1;
        }
    }
    return 0;
}


static void
mcp_reqset_place(uint64_t *slots, size_t cap, uint64_t key)
{
    size_t  i, mask = cap - 1;

    for (i = key & mask; slots[i] != 0; i = (i + 1) & mask) {
        if (slots[i] == key) {
            return;
        }
    }
    slots[i] = key;
}


static int
mcp_reqset_grow(mcp_reqset_t *set)
{
    size_t     cap = set->cap ? set->cap * 2 : MCP_REQSET_FIRST_SLOTS, i;
    uint64_t  *slots = calloc(cap, sizeof(*slots));

    if (slots == NULL) {
        return -1;
    }
    for (i = 0; i < set->cap; i++) {
        if (set->slots[i]) {
            mcp_reqset_place(slots, cap, set->slots[i]);
        }
    }
    free(set->slots);
    set->slots = slots;
    set->cap = cap;
    return 0;
}


/* 0, or -1 without memory (the caller then drops the set). */
int
mcp_reqset_add(mcp_reqset_t *set, uint64_t key)
{
    if (mcp_reqset_has(set, key)) {
        return 0;
    }
    if ((set->n + 1) * 2 > set->cap && mcp_reqset_grow(set) != 0) {
        return -1;
    }
    mcp_reqset_place(set->slots, set->cap, key);
    set->n++;
    __atomic_add_fetch(&set->sets->keys, 1, __ATOMIC_RELAXED);
    return 0;
}


/*
 * After an append (the caller holds no set): past the bound the least
 * recently written conversations' sets go, one by one, until it fits;
 * they are read again on their next append.  The one just written is
 * the most recent, so it goes last.
 */
void
mcp_reqsets_trim(mcp_reqsets_t *s)
{
    while (__atomic_load_n(&s->keys, __ATOMIC_RELAXED) > MCP_REQSET_MAX_KEYS
           && s->lru && mcp_lru_evict_oldest(s->lru))
    {
        __atomic_add_fetch(&s->evicted, 1, __ATOMIC_RELAXED);
    }
}


/*
 * At the start of each group, inside its write transaction: did any
 * other connection commit since the last group (another process on the
 * file; our readers and checkpointer never change content)?  Then no set
 * can be trusted (rows deleted there can come back here under the same
 * row ids), and all are dropped to be read again.  PRAGMA data_version
 * counts only other connections' commits, and only per connection, so a
 * new writer connection starts over too.
 */
int
mcp_reqsets_watch(mcp_reqsets_t *s, mcp_conn_t *c)
{
    sqlite3_stmt  *st = c->st[MCP_ST_DATA_VERSION];
    int64_t        v;
    int            rc;

    rc = sqlite3_step(st);
    v = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW) {
        return rc;
    }
    if (s->dv_db != c->db || s->dv != v) {
        if (s->lru) {
            mcp_reqsets_free(s);
            __atomic_add_fetch(&s->foreign, 1, __ATOMIC_RELAXED);
        }
        s->dv_db = c->db;
        s->dv = v;
    }
    return SQLITE_OK;
}


/* For repository_stats, on the loop thread: the counters are atomic. */
json_t *
mcp_reqsets_stats(mcp_reqsets_t *s)
{
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
        "keys", (json_int_t) __atomic_load_n(&s->keys, __ATOMIC_RELAXED),
        "loads", (json_int_t) __atomic_load_n(&s->loads, __ATOMIC_RELAXED),
        "confirms",
        (json_int_t) __atomic_load_n(&s->confirms, __ATOMIC_RELAXED),
        "stale", (json_int_t) __atomic_load_n(&s->stale, __ATOMIC_RELAXED),
        "evicted",
        (json_int_t) __atomic_load_n(&s->evicted, __ATOMIC_RELAXED),
        "foreign",
        (json_int_t) __atomic_load_n(&s->foreign, __ATOMIC_RELAXED),
        "warmed", (json_int_t) __atomic_load_n(&s->warmed, __ATOMIC_RELAXED),
        "parked",
        (json_int_t) __atomic_load_n(&s->parked, __ATOMIC_RELAXED),
        "walks_waiting",
        (json_int_t) __atomic_load_n(&s->asks_waiting, __ATOMIC_RELAXED));
}
