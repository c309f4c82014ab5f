/*
 * Connections and schema: opening a connection with the PRAGMAs every
 * connection needs, the numbered migrations (PRAGMA user_version), and the
 * prepared statements each connection keeps for its whole life.
 */

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "repo/mcp_repo_int.h"

/*
 * Migrations, in order; migration i brings user_version from i to i + 1.
 * Never edit a released one: add the next.
 */
static const char *const  mcp_migrations[] = {
    /* 1: conversations, messages, requests */
    "CREATE TABLE conversations ("
    "  id          TEXT PRIMARY KEY NOT NULL,"
    "  principal   TEXT NOT NULL,"
    "  title       TEXT,"
    "  created_at  INTEGER NOT NULL,"
    "  updated_at  INTEGER NOT NULL);"
    "CREATE INDEX conversations_by_principal"
    "  ON conversations(principal, updated_at DESC);"
    "CREATE TABLE messages ("
    "  id              INTEGER PRIMARY KEY,"
    "  conversation_id TEXT NOT NULL"
    "                  REFERENCES conversations(id) ON DELETE CASCADE,"
    "  type            INTEGER NOT NULL CHECK (type BETWEEN 1 AND 4),"
    "  content         TEXT NOT NULL,"
    "  tool_calls      TEXT,"
    "  tool_call_id    TEXT,"
    "  name            TEXT,"
    "  model           TEXT,"
    "  usage           TEXT,"
    "  token_count     INTEGER NOT NULL DEFAULT 0 CHECK (token_count >= 0),"
    "  request_id      TEXT,"
    "  part            INTEGER NOT NULL DEFAULT 0,"
    "  created_at      INTEGER NOT NULL);"
    "CREATE INDEX messages_by_conversation ON messages(conversation_id, id);"
    "CREATE UNIQUE INDEX messages_by_request"
    "  ON messages(conversation_id, request_id, type, part)"
    "  WHERE request_id IS NOT NULL;"
    "CREATE TABLE requests ("
    "  conversation_id TEXT NOT NULL"
    "                  REFERENCES conversations(id) ON DELETE CASCADE,"
    "  request_id      TEXT NOT NULL,"
    "  state           INTEGER NOT NULL,"
    "  started_at      INTEGER NOT NULL,"
    "  finished_at     INTEGER,"
    "  PRIMARY KEY (conversation_id, request_id)) WITHOUT ROWID;"
    "CREATE TABLE meta ("
    "  key   TEXT PRIMARY KEY NOT NULL,"
    "  value) WITHOUT ROWID;",

    /* 2: time-based retention scans by age */
    "CREATE INDEX messages_by_time ON messages(created_at);",

    /* 3: keyset pages of a principal's conversations (mcp_repo_page.c) */
    "CREATE INDEX IF NOT EXISTS conversations_by_principal_page"
    "  ON conversations(principal, updated_at, id);",

    /*
     * 4: fewer b-trees per append.  A request's state moves onto its user
     * message, reached through the idempotency index the insert updates
     * anyway, instead of a requests table whose own b-tree cost every
     * group commit one more scattered page per request (a third of the
     * WAL); a partial index holds the few requests in flight.  The page
     * index of version 3 serves the conversation list too.
     */
    "ALTER TABLE messages ADD COLUMN request_state INTEGER;"
    "UPDATE messages SET request_state = (SELECT r.state FROM requests r"
    "  WHERE r.conversation_id = messages.conversation_id"
    "  AND r.request_id = messages.request_id)"
    "  WHERE type = 1 AND request_id IS NOT NULL;"
    "CREATE INDEX messages_open_requests ON messages(request_state)"
    "  WHERE request_state = 1;"
    "DROP TABLE requests;"
    "DROP INDEX conversations_by_principal;",

    /*
     * 5: an append touches only pages at the end of the file.  The two
     * per-conversation indexes (history and idempotency) cost every group
     * commit one scattered leaf each per conversation in the group: two
     * thirds of the WAL.  Each message now names the conversation's
     * previous one (prev_id) and the conversation row, rewritten by every
     * append anyway, its newest (last_id) and its count, so a history is
     * a walk down that chain (mcp_repo_chain.c); idempotency is checked
     * through the writer's request sets (mcp_repo_reqset.c).  The table is
     * rebuilt: its foreign key would scan it whole on every conversation
     * delete without the index, and the short columns the walks read come
     * first, ahead of the content.
     */
    "CREATE TABLE messages_v5 ("
    "  id              INTEGER PRIMARY KEY,"
    "  conversation_id TEXT NOT NULL,"
    "  prev_id         INTEGER,"
    "  type            INTEGER NOT NULL CHECK (type BETWEEN 1 AND 4),"
    "  request_id      TEXT,"
    "  part            INTEGER NOT NULL DEFAULT 0,"
    "  request_state   INTEGER,"
    "  token_count     INTEGER NOT NULL DEFAULT 0 CHECK (token_count >= 0),"
    "  created_at      INTEGER NOT NULL,"
    "  content         TEXT NOT NULL,"
    "  tool_calls      TEXT,"
    "  tool_call_id    TEXT,"
    "  name            TEXT,"
    "  model           TEXT,"
    "  usage           TEXT);"
    "INSERT INTO messages_v5(id, conversation_id, prev_id, type, request_id,"
    "  part, request_state, token_count, created_at, content, tool_calls,"
    "  tool_call_id, name, model, usage)"
    " SELECT id, conversation_id,"
    "  LAG(id) OVER (PARTITION BY conversation_id ORDER BY id), type,"
    "  request_id, part, request_state, token_count, created_at, content,"
    "  tool_calls, tool_call_id, name, model, usage FROM messages;"
    "DROP TABLE messages;"
    "ALTER TABLE messages_v5 RENAME TO messages;"
    "CREATE INDEX messages_by_time ON messages(created_at);"
    "CREATE INDEX messages_open_requests ON messages(request_state)"
    "  WHERE request_state = 1;"
    "ALTER TABLE conversations ADD COLUMN last_id INTEGER;"
    "ALTER TABLE conversations ADD COLUMN message_count INTEGER NOT NULL"
    "  DEFAULT 0;"
    "UPDATE conversations SET last_id = s.last, message_count = s.n"
    "  FROM (SELECT conversation_id, max(id) AS last, count(*) AS n"
    "  FROM messages GROUP BY conversation_id) AS s"
    "  WHERE s.conversation_id = conversations.id;",
};

#define MCP_SCHEMA_VERSION \
    ((int) (sizeof(mcp_migrations) / sizeof(mcp_migrations[0])))

static const char *const  mcp_stmt_sql[MCP_ST_COUNT] = {
    [MCP_ST_BEGIN] = "BEGIN IMMEDIATE",
    [MCP_ST_COMMIT] = "COMMIT",
    [MCP_ST_ROLLBACK] = "ROLLBACK",
    [MCP_ST_BEGIN_READ] = "BEGIN DEFERRED",
    [MCP_ST_CONV_INSERT] =
        "INSERT INTO conversations(id, principal, title, created_at,"
        " updated_at) VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT(id) DO NOTHING",
    [MCP_ST_CONV_GET] =
        "SELECT principal, title, created_at, updated_at"
        " FROM conversations WHERE id = ?1",
    [MCP_ST_CONV_HEAD] =
        "SELECT last_id, rowid, message_count FROM conversations"
        " WHERE id = ?1",
    [MCP_ST_CONV_TOUCH] =
        "UPDATE conversations SET updated_at = ?2, last_id = ?3,"
        " message_count = message_count + 1 WHERE rowid = ?1",
    [MCP_ST_CONV_CHAIN] =
        "UPDATE conversations SET last_id = ?2,"
        " message_count = max(message_count - ?3, 0) WHERE id = ?1",
    [MCP_ST_MSG_INSERT] =
        "INSERT INTO messages(conversation_id, type, content, tool_calls,"
        " tool_call_id, name, model, usage, token_count, request_id, part,"
        " created_at, request_state, prev_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6,"
        " ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    [MCP_ST_MSG_GET] =
        "SELECT " MCP_MSG_COLS ", prev_id, request_state"
        " FROM messages WHERE id = ?1",
    [MCP_ST_MSG_LINK] =
        "SELECT id, conversation_id, type, request_state, token_count,"
        " request_id, part, created_at, prev_id FROM messages WHERE id = ?1",
    [MCP_ST_MSG_DELETE] = "DELETE FROM messages WHERE id = ?1",
    [MCP_ST_MSG_RELINK] = "UPDATE messages SET prev_id = ?2 WHERE id = ?1",
    [MCP_ST_REQ_FINISH] =
        "UPDATE messages SET request_state = 2"
        " WHERE id = ?1 AND request_state <> 2",
    [MCP_ST_REQ_OPEN] =
        "SELECT request_id FROM messages"
        " WHERE request_state = 1 AND conversation_id = ?1",
    [MCP_ST_CONV_LIST] =
        "SELECT id, principal, title, created_at, updated_at, message_count"
        " FROM conversations WHERE principal = ?1"
        " ORDER BY updated_at DESC, id LIMIT ?2",
    [MCP_ST_CONV_DELETE] =
        "DELETE FROM conversations WHERE id = ?1 AND principal = ?2",
    [MCP_ST_HEALTH] = "SELECT count(*) FROM sqlite_schema",
    [MCP_ST_DATA_VERSION] = "PRAGMA data_version",
    [MCP_ST_PAGE_LIST] = mcp_sql_list_page,
};


int
mcp_repo_schema_version(void)
{
    return MCP_SCHEMA_VERSION;
}


int
mcp_repo_status_of(int code)
{
    switch (code & 0xff) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW:
        return MCP_REPO_OK;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return MCP_REPO_EBUSY;
    case SQLITE_FULL:
        return MCP_REPO_EFULL;
    case SQLITE_READONLY:
        return MCP_REPO_EREADONLY;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return MCP_REPO_ECORRUPT;
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_TOOBIG:
    case SQLITE_RANGE:
        return MCP_REPO_EINVAL;
    default:
        return MCP_REPO_EIO;
    }
}


/*
 * Before SQLite initializes (the first open): no memory statistics.  They
 * take one process-wide mutex on every allocation of every connection,
 * and the writer and the readers allocate on every row; nothing here
 * reads them.  Too late (SQLite already in use by the process) is
 * harmless: the call is refused and the default stays.
 */
static pthread_once_t  mcp_db_once = PTHREAD_ONCE_INIT;

static void
mcp_db_configure_once(void)
{
    (void) sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}


void
mcp_db_configure(void)
{
    pthread_once(&mcp_db_once, mcp_db_configure_once);
}


static int
mcp_db_exec(sqlite3 *db, const char *sql, const char *what, char *err,
    size_t errlen)
{
    char  *msg = NULL;
    int    rc;

    rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s (%s)", what,
                 msg ? msg : sqlite3_errmsg(db), sqlite3_errstr(rc));
        sqlite3_free(msg);
        return rc;
    }
    return SQLITE_OK;
}


static int
mcp_db_pragmas(sqlite3 *db, const mcp_repo_conf_t *rc, int reader,
    char *err, size_t errlen)
{
    char  sql[512];

    /*
     * foreign_keys: kept on for what the schema may declare; messages
     * name their conversation without one since version 5 (the append
     * reads the conversation row itself, a delete walks its chain).
     * cache_size is per
     * connection (KiB when negative).  journal_mode=WAL is persistent and
     * set once by mcp_repo_open().
     */
    snprintf(sql, sizeof(sql),
             "PRAGMA busy_timeout = %lld;"
             "PRAGMA foreign_keys = ON;"
             "PRAGMA synchronous = %s;"
             "PRAGMA temp_store = MEMORY;"
             "PRAGMA cache_size = -8192;"
             "%s",
             (long long) rc->busy_timeout,
             rc->synchronous == MCP_REPO_SYNC_FULL ? "FULL" : "NORMAL",
             reader ? "PRAGMA query_only = 1;" : "");

    return mcp_db_exec(db, sql, "setting connection PRAGMAs", err, errlen);
}


int
mcp_conn_open(mcp_conn_t *c, const mcp_repo_conf_t *rc, int reader,
    char *err, size_t errlen)
{
    int  i, r;

    memset(c, 0, sizeof(*c));

    /*
     * NOMUTEX: a connection is only ever used by the one thread owning it.
     * The VFS gathers each commit's WAL writes into one (mcp_repo_walbuf.c).
     */
    r = sqlite3_open_v2(rc->path, &c->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                        mcp_walbuf_vfs());
    if (r != SQLITE_OK) {
        snprintf(err, errlen, "opening database \"%s\": %s", rc->path,
                 c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(r));
        goto failed;
    }
    sqlite3_extended_result_codes(c->db, 1);
    if (rc->wal_checkpoint_pages > 0) {
        /* unpooled; with pooling mcp_ckpt_attach() turns it off */
        sqlite3_wal_autocheckpoint(c->db, (int) rc->wal_checkpoint_pages);
    }

    r = mcp_db_pragmas(c->db, rc, reader, err, errlen);
    if (r != SQLITE_OK) {
        goto failed;
    }

    for (i = 0; i < MCP_ST_COUNT; i++) {
        r = sqlite3_prepare_v3(c->db, mcp_stmt_sql[i], -1,
                               SQLITE_PREPARE_PERSISTENT, &c->st[i], NULL);
        if (r != SQLITE_OK) {
            snprintf(err, errlen, "preparing statement %d on \"%s\": %s", i,
                     rc->path, sqlite3_errmsg(c->db));
            goto failed;
        }
    }
    return SQLITE_OK;

failed:
    mcp_conn_close(c);
    return r ? r : SQLITE_ERROR;
}


void
mcp_conn_close(mcp_conn_t *c)
{
    int  i;

    for (i = 0; i < MCP_ST_COUNT; i++) {
        sqlite3_finalize(c->st[i]);
        c->st[i] = NULL;
    }
    if (c->db) {
        sqlite3_close_v2(c->db);
        c->db = NULL;
    }
}


/* Reads the schema page: a vanished, truncated or replaced file shows. */
int
mcp_conn_health(mcp_conn_t *c)
{
    sqlite3_stmt  *st = c->st[MCP_ST_HEALTH];
    int            rc;

    if (c->db == NULL || st == NULL) {
        return SQLITE_MISUSE;
    }
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? SQLITE_OK : rc;
}


static int
mcp_db_user_version(sqlite3 *db, int *version)
{
    sqlite3_stmt  *st;
    int            rc;

    rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
    if (rc != SQLITE_OK) {
        return rc;
    }
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *version = sqlite3_column_int(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}


/* Bring the schema to MCP_SCHEMA_VERSION, one transaction per step. */
int
mcp_repo_migrate(sqlite3 *db, char *err, size_t errlen)
{
    char  what[64], sql[64];
    int   version = 0, rc;

    rc = mcp_db_user_version(db, &version);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "reading the schema version: %s",
                 sqlite3_errmsg(db));
        return rc;
    }
    if (version > MCP_SCHEMA_VERSION) {
        snprintf(err, errlen, "the database has schema version %d, newer "
                 "than this mcpd knows (%d); refusing to use it", version,
                 MCP_SCHEMA_VERSION);
        return SQLITE_ERROR;
    }

    for ( /* void */ ; version < MCP_SCHEMA_VERSION; version++) {
        snprintf(what, sizeof(what), "migrating the schema to version %d",
                 version + 1);
        rc = mcp_db_exec(db, "BEGIN IMMEDIATE", what, err, errlen);
        if (rc != SQLITE_OK) {
            return rc;
        }
        rc = mcp_db_exec(db, mcp_migrations[version], what, err, errlen);
        if (rc == SQLITE_OK) {
            snprintf(sql, sizeof(sql), "PRAGMA user_version = %d",
                     version + 1);
            rc = mcp_db_exec(db, sql, what, err, errlen);
        }
        if (rc == SQLITE_OK) {
            rc = mcp_db_exec(db, "COMMIT", what, err, errlen);
        }
        if (rc != SQLITE_OK) {
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            return rc;
        }
    }
    return SQLITE_OK;
}


uint64_t
mcp_repo_now_ns(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}


uint64_t
mcp_repo_now_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}
