/* util/mcp_lru: recency order, eviction, replacement, ownership, stats */

#include "unit.h"
#include "util/mcp_lru.h"

#include <stdlib.h>

static int  freed;

static void
count_free(void *v)
{
    freed++;
    free(v);
}

static int *
ival(int x)
{
    int  *p = malloc(sizeof(int));
    *p = x;
    return p;
}

#define PUT(l, k, v)  CHECK(mcp_lru_put(l, k, strlen(k), ival(v)) == 0)
#define GET(l, k)     ((int *) mcp_lru_get(l, k, strlen(k)))

static void
test_basic_get_put(void)
{
    mcp_lru_t  *l = mcp_lru_create(3, count_free);

    freed = 0;
    PUT(l, "a", 1);
    PUT(l, "b", 2);
    CHECK(GET(l, "a") && *GET(l, "a") == 1);
    CHECK(GET(l, "b") && *GET(l, "b") == 2);
    CHECK(GET(l, "zz") == NULL);
    mcp_lru_destroy(l);
    CHECK_EQ_INT(freed, 2);
}

static void
test_evicts_least_recent(void)
{
    mcp_lru_t        *l = mcp_lru_create(2, count_free);
    mcp_lru_stats_t   st;

    freed = 0;
    PUT(l, "a", 1);
    PUT(l, "b", 2);
    CHECK(GET(l, "a") != NULL);      /* a is now most recent */
    PUT(l, "c", 3);                  /* evicts b */
    CHECK(GET(l, "b") == NULL);
    CHECK(GET(l, "a") != NULL);
    CHECK(GET(l, "c") != NULL);
    CHECK_EQ_INT(freed, 1);
    mcp_lru_stats(l, &st);
    CHECK_EQ_INT(st.size, 2);
    CHECK_EQ_INT(st.evictions, 1);
    CHECK_EQ_INT(st.misses, 1);
    mcp_lru_destroy(l);
    CHECK_EQ_INT(freed, 3);
}

static void
test_replace_frees_old(void)
{
    mcp_lru_t  *l = mcp_lru_create(2, count_free);

    freed = 0;
    PUT(l, "a", 1);
    PUT(l, "a", 5);
    CHECK_EQ_INT(freed, 1);
    CHECK(*GET(l, "a") == 5);
    CHECK_EQ_INT(mcp_lru_remove(l, "a", 1), 1);
    CHECK_EQ_INT(mcp_lru_remove(l, "a", 1), 0);
    CHECK_EQ_INT(freed, 2);
    mcp_lru_destroy(l);
}

static void
test_binary_keys_and_many(void)
{
    mcp_lru_t        *l = mcp_lru_create(100, count_free);
    mcp_lru_stats_t   st;
    char              key[16];
    int               i, present = 0;

    freed = 0;
    for (i = 0; i < 1000; i++) {
        memset(key, 0, sizeof(key));
        memcpy(key, &i, sizeof(i));    /* embedded NULs */
        CHECK(mcp_lru_put(l, key, sizeof(key), ival(i)) == 0);
    }
    for (i = 0; i < 1000; i++) {
        int  *v;
        memset(key, 0, sizeof(key));
        memcpy(key, &i, sizeof(i));
        v = mcp_lru_get(l, key, sizeof(key));
        if (v) {
            CHECK_EQ_INT(*v, i);
            CHECK(i >= 900);
            present++;
        }
    }
    CHECK_EQ_INT(present, 100);
    mcp_lru_stats(l, &st);
    CHECK_EQ_INT(st.evictions, 900);
    mcp_lru_destroy(l);
    CHECK_EQ_INT(freed, 1000);
}

static void
test_capacity_one_and_zero(void)
{
    mcp_lru_t  *l = mcp_lru_create(1, NULL);
    int         a = 1, b = 2;

    CHECK(mcp_lru_create(0, NULL) == NULL);
    CHECK(mcp_lru_put(l, "a", 1, &a) == 0);
    CHECK(mcp_lru_put(l, "b", 1, &b) == 0);
    CHECK(mcp_lru_get(l, "a", 1) == NULL);
    CHECK(mcp_lru_get(l, "b", 1) == &b);
    mcp_lru_destroy(l);
}

static void
test_hash_stable(void)
{
    /* FNV-1a 64 test vectors: keys hashed today must hash the same later */
    CHECK(mcp_lru_hash("", 0) == 0xcbf29ce484222325ULL);
    CHECK(mcp_lru_hash("a", 1) == 0xaf63dc4c8601ec8cULL);
    CHECK(mcp_lru_hash("foobar", 6) == 0x85944171f73967e8ULL);
}

/* evicting on demand takes the least recently used, frees it, counts */
static void
test_evict_oldest(void)
{
    mcp_lru_t        *l = mcp_lru_create(8, count_free);
    mcp_lru_stats_t   st;

    freed = 0;
    PUT(l, "a", 1);
    PUT(l, "b", 2);
    PUT(l, "c", 3);
    CHECK(GET(l, "a") != NULL);             /* a is now the most recent */
    CHECK_EQ_INT(mcp_lru_evict_oldest(l), 1);
    CHECK(GET(l, "b") == NULL);
    CHECK(GET(l, "a") != NULL && GET(l, "c") != NULL);  /* c newest */
    CHECK_EQ_INT(freed, 1);
    CHECK_EQ_INT(mcp_lru_evict_oldest(l), 1);     /* a, then c */
    CHECK(GET(l, "a") == NULL);
    CHECK(GET(l, "c") != NULL);
    CHECK_EQ_INT(mcp_lru_evict_oldest(l), 1);
    CHECK_EQ_INT(mcp_lru_evict_oldest(l), 0);     /* empty */
    mcp_lru_stats(l, &st);
    CHECK_EQ_INT(st.size, 0);
    CHECK_EQ_INT(st.evictions, 3);
    PUT(l, "d", 4);                         /* still usable */
    CHECK(GET(l, "d") && *GET(l, "d") == 4);
    mcp_lru_destroy(l);
    CHECK_EQ_INT(freed, 4);
}

UNIT_MAIN("util_lru",
    UNIT_TEST(test_evict_oldest),
    UNIT_TEST(test_basic_get_put),
    UNIT_TEST(test_evicts_least_recent),
    UNIT_TEST(test_replace_frees_old),
    UNIT_TEST(test_binary_keys_and_many),
    UNIT_TEST(test_capacity_one_and_zero),
    UNIT_TEST(test_hash_stable))
