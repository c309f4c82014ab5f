/* mcp/mcp_names: sanitizing, prefix on collision, hash when too long,
 * determinism, both directions */

#include "unit.h"
#include "mcp/mcp_names.h"

static void
test_unique_names_kept(void)
{
    mcp_names_t  m;

    mcp_names_init(&m);
    mcp_names_add(&m, "everything", "echo");
    mcp_names_add(&m, "fs", "read_file");
    mcp_names_add(&m, "fs", "get-info");
    CHECK(mcp_names_build(&m) == 0);
    CHECK_EQ_STR(mcp_names_exposed(&m, "everything", "echo"), "echo");
    CHECK_EQ_STR(mcp_names_exposed(&m, "fs", "get-info"), "get-info");
    CHECK_EQ_STR(mcp_names_by_exposed(&m, "read_file")->server, "fs");
    CHECK(mcp_names_by_exposed(&m, "nope") == NULL);
    mcp_names_free(&m);
}

static void
test_collision_gets_prefix_both_ways(void)
{
    mcp_names_t        m;
    const mcp_name_t  *e;

    mcp_names_init(&m);
    mcp_names_add(&m, "a", "search");
    mcp_names_add(&m, "b", "search");
    mcp_names_add(&m, "b", "other");
    CHECK(mcp_names_build(&m) == 0);
    CHECK_EQ_STR(mcp_names_exposed(&m, "a", "search"), "a__search");
    CHECK_EQ_STR(mcp_names_exposed(&m, "b", "search"), "b__search");
    CHECK_EQ_STR(mcp_names_exposed(&m, "b", "other"), "other");
    e = mcp_names_by_exposed(&m, "b__search");
    CHECK(e != NULL);
    CHECK_EQ_STR(e->server, "b");
    CHECK_EQ_STR(e->tool, "search");   /* the original, for tools/call */
    mcp_names_free(&m);
}

static void
test_sanitize_and_sanitized_collisions(void)
{
    mcp_names_t  m;
    size_t       i;

    mcp_names_init(&m);
    mcp_names_add(&m, "my.server", "files.read");
    mcp_names_add(&m, "x", "files_read");
    mcp_names_add(&m, "x", "caf\xc3\xa9");
    CHECK(mcp_names_build(&m) == 0);
    CHECK_EQ_STR(mcp_names_exposed(&m, "my.server", "files.read"),
                 "my_server__files_read");
    CHECK_EQ_STR(mcp_names_exposed(&m, "x", "files_read"), "x__files_read");
    CHECK_EQ_STR(mcp_names_exposed(&m, "x", "caf\xc3\xa9"), "caf__");
    for (i = 0; i < m.n; i++) {
        CHECK(mcp_names_valid(m.items[i].exposed));
    }
    mcp_names_free(&m);
}

static void
test_long_names_hashed_stable(void)
{
    mcp_names_t  m, m2;
    char         longname[200];
    const char  *e1, *e2;

    memset(longname, 'a', 150);
    longname[150] = '\0';
    mcp_names_init(&m);
    mcp_names_add(&m, "s", longname);
    longname[149] = 'b';
    mcp_names_add(&m, "s", longname);
    CHECK(mcp_names_build(&m) == 0);
    e1 = m.items[0].exposed;
    e2 = m.items[1].exposed;
    CHECK_EQ_INT(strlen(e1), 64);
    CHECK(mcp_names_valid(e1) && mcp_names_valid(e2));
    CHECK(strcmp(e1, e2) != 0);
    CHECK(e1[55] == '_');

    /* the same input gives the same names, run after run */
    mcp_names_init(&m2);
    mcp_names_add(&m2, "s", m.items[0].tool);
    mcp_names_add(&m2, "s", m.items[1].tool);
    CHECK(mcp_names_build(&m2) == 0);
    CHECK_EQ_STR(m2.items[0].exposed, e1);
    CHECK_EQ_STR(m2.items[1].exposed, e2);
    CHECK_EQ_STR(mcp_names_by_exposed(&m, e2)->tool, longname);
    mcp_names_free(&m);
    mcp_names_free(&m2);
}

static void
test_long_prefixed_collision(void)
{
    mcp_names_t  m;
    char         srv[80];

    memset(srv, 's', 70);
    srv[70] = '\0';
    mcp_names_init(&m);
    mcp_names_add(&m, srv, "t");
    mcp_names_add(&m, "other", "t");
    CHECK(mcp_names_build(&m) == 0);
    CHECK(mcp_names_valid(m.items[0].exposed));
    CHECK_EQ_STR(m.items[1].exposed, "other__t");
    mcp_names_free(&m);
}

static void
test_duplicate_pairs_still_distinct(void)
{
    mcp_names_t  m;
    size_t       i, j;

    /* a broken server lists the same tool twice; names must stay unique */
    mcp_names_init(&m);
    mcp_names_add(&m, "s", "t");
    mcp_names_add(&m, "s", "t");
    mcp_names_add(&m, "s", "t");
    mcp_names_add(&m, "", "");
    CHECK(mcp_names_build(&m) == 0);
    for (i = 0; i < m.n; i++) {
        CHECK(mcp_names_valid(m.items[i].exposed));
        for (j = 0; j < i; j++) {
            CHECK(strcmp(m.items[i].exposed, m.items[j].exposed) != 0);
        }
    }
    mcp_names_free(&m);
}

static void
test_valid(void)
{
    CHECK(mcp_names_valid("a-b_C9"));
    CHECK(!mcp_names_valid(""));
    CHECK(!mcp_names_valid("a.b"));
    CHECK(!mcp_names_valid("a b"));
}

UNIT_MAIN("mcp_names",
    UNIT_TEST(test_unique_names_kept),
    UNIT_TEST(test_collision_gets_prefix_both_ways),
    UNIT_TEST(test_sanitize_and_sanitized_collisions),
    UNIT_TEST(test_long_names_hashed_stable),
    UNIT_TEST(test_long_prefixed_collision),
    UNIT_TEST(test_duplicate_pairs_still_distinct),
    UNIT_TEST(test_valid))
