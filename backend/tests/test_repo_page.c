/*
 * Keyset pages (mcp_repo_page.c): a long history and many conversations
 * walked page by page give every row exactly once and in order, rows
 * appended during the walk do not disturb it, ties on updated_at are
 * told apart by id, another principal sees nothing, and both queries are
 * index range scans.
 */

#include <sqlite3.h>

#include "unit.h"
#include "test_repo_util.h"
#include "repo/mcp_repo_int.h"

#define T_MSGS   300
#define T_CONVS  150

static t_env_t  env;
static t_res_t  res;

/* what a list page callback saw: ids and updated_at, in order */
typedef struct {
    int       done;
    int       status;
    size_t    n;
    char      ids[64][128];
    int64_t   updated[64];
} t_page_t;


static void
t_page_cb(const mcp_repo_result_t *r, void *data)
{
    t_page_t  *p = data;
    size_t     i;

    p->done = 1;
    p->status = r->status;
    for (i = 0; i < r->n_convs && i < 64; i++) {
        snprintf(p->ids[i], sizeof(p->ids[i]), "%s", r->convs[i].id);
        p->updated[i] = r->convs[i].updated_at;
    }
    p->n = i;
}


static int
t_list_page(t_page_t *p, const char *principal, int64_t updated,
    const char *id, int64_t limit)
{
    memset(p, 0, sizeof(*p));
    if (mcp_repo_list_page(env.repo, principal, updated, id, limit,
                           t_page_cb, p) != 0)
    {
        return -1;
    }
    return t_wait(&env.loop, &p->done);
}


static int
t_history_page(const char *principal, const char *conv, int64_t before,
    int64_t limit)
{
    t_res_clear(&res);
    if (mcp_repo_history_page(env.repo, principal, conv, before, limit,
                              t_cb, &res) != 0)
    {
        return -1;
    }
    return t_wait(&env.loop, &res.done);
}


static void
t_sql(const char *sql)
{
    sqlite3  *db;

    CHECK(sqlite3_open(env.path, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
}


/* the query plan of sql names index (an index range, not a scan + sort) */
static int
t_plan_uses(const char *sql, const char *index)
{
    sqlite3       *db;
    sqlite3_stmt  *st;
    char           q[1024];
    int            found = 0, sorted = 0;

    snprintf(q, sizeof(q), "EXPLAIN QUERY PLAN %s", sql);
    if (sqlite3_open(env.path, &db) != SQLITE_OK) {
        return 0;
    }
    if (sqlite3_prepare_v2(db, q, -1, &st, NULL) == SQLITE_OK) {
        while (sqlite3_step(st) == SQLITE_ROW) {
            const char  *d = (const char *) sqlite3_column_text(st, 3);

            found |= strstr(d, index) != NULL;
            sorted |= strstr(d, "TEMP B-TREE") != NULL;
        }
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return found && !sorted;
}


static void
test_history_pages(void)
{
    static int64_t  seen[T_MSGS + 16];
    size_t          nseen = 0, i;
    int64_t         before = 0, last = INT64_MAX;
    char            text[32];
    int             pages = 0, j;

    t_env_init(&env);
    CHECK(t_env_open(&env) != NULL);
    CHECK(t_open_conv(&env, &res, "alice", "long") == 0);
    CHECK(t_open_conv(&env, &res, "alice", "other") == 0);
    for (j = 0; j < T_MSGS; j++) {
        snprintf(text, sizeof(text), "m%d", j);
        CHECK(t_append(&env, &res, j % 7 ? "long" : "other", MCP_MSG_USER,
                       text, strlen(text), NULL, 1, 0) == 0);
    }

    /* walk back 9 at a time (10 asked: the tenth says "more") */
    for (;;) {
        CHECK(t_history_page("alice", "long", before, 10) == 0);
        CHECK_EQ_INT(res.status, MCP_REPO_OK);
        CHECK(res.n_msgs <= 10);
        /* oldest first within a page, all below the cursor */
        for (i = res.n_msgs > 9 ? 1 : 0; i < res.n_msgs; i++) {
            CHECK(i == 0 || res.msgs[i].id > res.msgs[i - 1].id);
            CHECK(res.msgs[i].id < last);
            CHECK(strcmp(res.msgs[i].content, "m0") != 0);  /* "other" */
            seen[nseen++] = res.msgs[i].id;
        }
        if (res.n_msgs < 10 || ++pages > 100) {
            break;
        }
        before = last = res.msgs[1].id;
        /* appended mid-walk: newer than every cursor, never seen */
        CHECK(t_append(&env, &res, "long", MCP_MSG_ASSISTANT, "new", 3,
                       NULL, 1, 0) == 0);
    }
    CHECK_EQ_INT(nseen, T_MSGS - (T_MSGS + 6) / 7);
    CHECK(t_history(&env, &res, "other", 1000, 0) == 0);
    CHECK_EQ_INT(res.n_msgs, (T_MSGS + 6) / 7);
    for (i = 1; i < nseen; i++) {
        /* pages come newest first: each starts below the previous one */
        CHECK(i % 9 == 0 ? seen[i] < seen[i - 9] : seen[i] > seen[i - 1]);
    }

    /* someone else's, or nobody's: not found */
    CHECK(t_history_page("bob", "long", 0, 10) == 0);
    CHECK_EQ_INT(res.status, MCP_REPO_ENOTFOUND);
    CHECK(t_history_page("alice", "missing", 0, 10) == 0);
    CHECK_EQ_INT(res.status, MCP_REPO_ENOTFOUND);
    /* a cursor below every row: an empty page, not an error */
    CHECK(t_history_page("alice", "long", 1, 10) == 0);
    CHECK_EQ_INT(res.status, MCP_REPO_OK);
    CHECK_EQ_INT(res.n_msgs, 0);
    CHECK(t_history_page("alice", "long", 0, 0) == 0);
    CHECK_EQ_INT(res.status, MCP_REPO_EINVAL);

    /* since schema 5 a page walks the chain from its cursor's link; that
       it reads only its own rows is checked in test_repo_chain */
    t_res_clear(&res);
    t_env_done(&env);
}


static void
test_list_pages(void)
{
    static char  seen[T_CONVS + 16][128];
    t_page_t     p;
    size_t       nseen = 0, i, k;
    int64_t      updated = -1;
    char         id[64], cursor[128] = "", prev[128] = "";
    int64_t      prev_updated = INT64_MAX;
    int          j, pages = 0, dup = 0;

    t_env_init(&env);
    CHECK(t_env_open(&env) != NULL);
    for (j = 0; j < T_CONVS; j++) {
        snprintf(id, sizeof(id), "c%03d", j);
        CHECK(t_open_conv(&env, &res, "alice", id) == 0);
        snprintf(id, sizeof(id), "b%03d", j);
        CHECK(t_open_conv(&env, &res, "bob", id) == 0);
    }
    /* five timestamps for 150 conversations: long runs of ties */
    t_sql("UPDATE conversations SET updated_at = 1000 + (rowid % 5)");

    for (;;) {
        CHECK(t_list_page(&p, "alice", updated, updated < 0 ? NULL : cursor,
                          11) == 0);
        CHECK_EQ_INT(p.status, MCP_REPO_OK);
        for (i = 0; i < p.n && i < 10; i++) {
            CHECK(p.ids[i][0] == 'c');
            /* (updated_at, id) strictly descending across pages */
            CHECK(p.updated[i] < prev_updated
                  || (p.updated[i] == prev_updated
                      && strcmp(p.ids[i], prev) < 0));
            prev_updated = p.updated[i];
            snprintf(prev, sizeof(prev), "%s", p.ids[i]);
            snprintf(seen[nseen++], sizeof(seen[0]), "%s", p.ids[i]);
        }
        if (p.n < 11 || ++pages > 100) {
            break;
        }
        updated = p.updated[9];
        snprintf(cursor, sizeof(cursor), "%s", p.ids[9]);
        /* a new conversation mid-walk sorts above the cursor */
        snprintf(id, sizeof(id), "n%03d", pages);
        CHECK(t_open_conv(&env, &res, "alice", id) == 0);
    }
    CHECK_EQ_INT(nseen, T_CONVS);
    for (i = 0; i < nseen; i++) {
        for (k = i + 1; k < nseen; k++) {
            dup |= strcmp(seen[i], seen[k]) == 0;
        }
    }
    CHECK(!dup);

    /* an updated_at alone: strictly older than it */
    CHECK(t_list_page(&p, "alice", 1001, NULL, 64) == 0);
    CHECK_EQ_INT(p.n, T_CONVS / 5);
    for (i = 0; i < p.n; i++) {
        CHECK_EQ_INT(p.updated[i], 1000);
    }
    CHECK(t_list_page(&p, "nobody", -1, NULL, 10) == 0);
    CHECK_EQ_INT(p.status, MCP_REPO_OK);
    CHECK_EQ_INT(p.n, 0);
    CHECK(t_list_page(&p, "alice", -1, NULL, 0) == 0);
    CHECK_EQ_INT(p.status, MCP_REPO_EINVAL);

    CHECK(t_plan_uses(mcp_sql_list_page, "conversations_by_principal_page"));
    t_res_clear(&res);
    t_env_done(&env);
}


UNIT_MAIN("repo_page",
    UNIT_TEST(test_history_pages),
    UNIT_TEST(test_list_pages))
