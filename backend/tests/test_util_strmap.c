/* util/mcp_strmap: get/put/replace/remove, growth, sweeps, ownership
   (ASan checks the frees). */

#include <stdlib.h>

#include "unit.h"
#include "util/mcp_strmap.h"

static int  freed;

static void
count_free(void *v, void *ctx)
{
    freed++;
    free(v);
}

static int
drop_odd(const char *key, void *v, void *ctx)
{
    return atoi((char *) v) % 2 == 1;
}

static void
test_strmap_basic(void)
{
    mcp_strmap_t  *m = mcp_strmap_new(count_free, NULL);

    freed = 0;
    CHECK(mcp_strmap_put(m, "a", strdup("1")) == 0);
    CHECK(mcp_strmap_put(m, "a", strdup("2")) == 0);    /* replaces */
    CHECK_EQ_INT(freed, 1);
    CHECK_EQ_STR(mcp_strmap_get(m, "a"), "2");
    CHECK(mcp_strmap_get(m, "b") == NULL);
    CHECK_EQ_INT(mcp_strmap_remove(m, "a"), 1);
    CHECK_EQ_INT(mcp_strmap_remove(m, "a"), 0);
    CHECK_EQ_INT(mcp_strmap_count(m), 0);
    mcp_strmap_free(m);
    CHECK_EQ_INT(freed, 2);
}

static void
test_strmap_grow_and_sweep(void)
{
    mcp_strmap_t  *m = mcp_strmap_new(count_free, NULL);
    char           key[32], val[32];
    int            i;

    freed = 0;
    for (i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        snprintf(val, sizeof(val), "%d", i);
        CHECK(mcp_strmap_put(m, key, strdup(val)) == 0);
    }
    for (i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        snprintf(val, sizeof(val), "%d", i);
        CHECK_EQ_STR(mcp_strmap_get(m, key), val);
    }
    mcp_strmap_sweep(m, drop_odd, NULL);
    CHECK_EQ_INT(mcp_strmap_count(m), 500);
    CHECK_EQ_INT(freed, 500);
    CHECK(mcp_strmap_get(m, "k3") == NULL);
    CHECK_EQ_STR(mcp_strmap_get(m, "k4"), "4");
    mcp_strmap_free(m);
    CHECK_EQ_INT(freed, 1000);
}

UNIT_MAIN("util_strmap",
    UNIT_TEST(test_strmap_basic),
    UNIT_TEST(test_strmap_grow_and_sweep))
