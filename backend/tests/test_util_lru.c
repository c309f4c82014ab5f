/* util/mcp_lru: bounds, recency, replacement, ownership (ASan checks the
   frees), counters. */

#include <stdlib.h>

#include "unit.h"
#include "util/mcp_lru.h"

static int  freed;

static void
count_free(void *v, void *ctx)
{
    freed++;
    free(v);
}

static char *
val(const char *s)
{
    return strdup(s);
}

static void
test_lru_basic(void)
{
    mcp_lru_t        *l = mcp_lru_new(3, 0, count_free, NULL);
    mcp_lru_stats_t   st;

    freed = 0;
    CHECK(mcp_lru_put(l, "a", val("A"), 1) == 0);
    CHECK(mcp_lru_put(l, "b", val("B"), 1) == 0);
    CHECK(mcp_lru_put(l, "c", val("C"), 1) == 0);
    CHECK_EQ_STR(mcp_lru_get(l, "a"), "A");         /* a is now newest */
    CHECK(mcp_lru_put(l, "d", val("D"), 1) == 0);    /* evicts b */
    CHECK(mcp_lru_get(l, "b") == NULL);
    CHECK_EQ_STR(mcp_lru_get(l, "c"), "C");
    CHECK_EQ_STR(mcp_lru_get(l, "d"), "D");
    CHECK_EQ_INT(freed, 1);
    mcp_lru_stats(l, &st);
    CHECK_EQ_INT(st.entries, 3);
    CHECK_EQ_INT(st.hits, 3);
    CHECK_EQ_INT(st.misses, 1);
    CHECK_EQ_INT(st.evictions, 1);
    mcp_lru_free(l);
    CHECK_EQ_INT(freed, 4);
}

static void
test_lru_cost(void)
{
    mcp_lru_t        *l = mcp_lru_new(0, 10, count_free, NULL);
    mcp_lru_stats_t   st;

    freed = 0;
    CHECK(mcp_lru_put(l, "a", val("A"), 4) == 0);
    CHECK(mcp_lru_put(l, "b", val("B"), 4) == 0);
    CHECK(mcp_lru_put(l, "big", val("X"), 11) == -1);   /* never kept */
    CHECK_EQ_INT(freed, 1);
    CHECK(mcp_lru_put(l, "c", val("C"), 4) == 0);       /* evicts a */
    CHECK(mcp_lru_peek(l, "a") == NULL);
    mcp_lru_set_cost(l, "c", 7);                        /* evicts b */
    CHECK(mcp_lru_peek(l, "b") == NULL);
    CHECK_EQ_STR(mcp_lru_peek(l, "c"), "C");
    mcp_lru_stats(l, &st);
    CHECK_EQ_INT(st.cost, 7);
    CHECK_EQ_INT(st.entries, 1);
    mcp_lru_set_cost(l, "c", 20);                       /* alone too big */
    CHECK(mcp_lru_peek(l, "c") == NULL);
    mcp_lru_free(l);
    CHECK_EQ_INT(freed, 4);
}

static void
test_lru_replace_remove(void)
{
    mcp_lru_t        *l = mcp_lru_new(0, 0, count_free, NULL);
    mcp_lru_stats_t   st;
    char              key[32];
    int               i;

    freed = 0;
    CHECK(mcp_lru_put(l, "k", val("1"), 1) == 0);
    CHECK(mcp_lru_put(l, "k", val("2"), 1) == 0);
    CHECK_EQ_INT(freed, 1);
    CHECK_EQ_STR(mcp_lru_get(l, "k"), "2");
    CHECK_EQ_INT(mcp_lru_remove(l, "k"), 1);
    CHECK_EQ_INT(mcp_lru_remove(l, "k"), 0);
    CHECK_EQ_INT(freed, 2);

    /* growth keeps every entry reachable */
    for (i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "key%d", i);
        CHECK(mcp_lru_put(l, key, val(key), 1) == 0);
    }
    for (i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "key%d", i);
        CHECK_EQ_STR(mcp_lru_peek(l, key), key);
    }
    mcp_lru_stats(l, &st);
    CHECK_EQ_INT(st.entries, 1000);
    mcp_lru_free(l);
    CHECK_EQ_INT(freed, 1002);
}

UNIT_MAIN("util_lru",
    UNIT_TEST(test_lru_basic),
    UNIT_TEST(test_lru_cost),
    UNIT_TEST(test_lru_replace_remove))
