/*
 * Repository internals shared by its files: requests, connections,
 * pools.  Not for use outside backend/src/repo/.
 */

#ifndef MCP_REPO_INT_H
#define MCP_REPO_INT_H

#include <pthread.h>
#include <sqlite3.h>

#include "repo/mcp_repo.h"
#include "util/mcp_cpu.h"
#include "util/mcp_hist.h"
#include "util/mcp_lru.h"
#include "util/mcp_strmap.h"

typedef enum {
    /* writes: the writer side, batched into group commits */
    MCP_OP_CONV_OPEN,
    MCP_OP_APPEND,
    MCP_OP_REQ_END,
    MCP_OP_DELETE,
    MCP_OP_RETENTION,
    MCP_OP_WARMED,          /* a reader's request set: mcp_repo_warm.c */
    MCP_OP_HOLD_WRITE,
    /* reads: the reader pool */
    MCP_OP_HISTORY,
    MCP_OP_LOOKUP,
    MCP_OP_LIST,
    MCP_OP_EXPORT,
    MCP_OP_HOLD_READ,
    MCP_OP_PAGE_HISTORY,    /* mcp_repo_page.c */
    MCP_OP_PAGE_LIST,
    MCP_OP_WARM             /* walk a chain for the writer (internal) */
} mcp_op_e;

#define MCP_OP_IS_WRITE(op)  ((op) <= MCP_OP_HOLD_WRITE)
/* ops that may share a transaction with others */
#define MCP_OP_BATCHES(op)   ((op) <= MCP_OP_REQ_END)
/* the repository's own chain walks (mcp_repo_warm.c): no caller waits */
#define MCP_OP_IS_WALK(op)   ((op) == MCP_OP_WARM || (op) == MCP_OP_WARMED)

typedef struct mcp_repo_req_s  mcp_repo_req_t;
typedef struct mcp_reqset_s    mcp_reqset_t;

/* requests in a FIFO, linked by their next */
typedef struct {
    mcp_repo_req_t     *head, *tail;
} mcp_req_fifo_t;

struct mcp_repo_req_s {
    mcp_repo_req_t     *next;
    mcp_repo_t         *repo;
    mcp_op_e            op;
    uint64_t            enq_ns;
    mcp_repo_cb_pt      cb;
    void               *data;

    /* parameters (owned copies) */
    char               *principal;
    char               *title;
    mcp_repo_msg_t      msg;        /* append; also conv id + request id */
    int                 final;
    int64_t             budget;
    int64_t             limit;
    char               *cursor;     /* retention: next conversation id */

    /* result (owned; freed after the callback) */
    mcp_repo_result_t   res;
    char                errbuf[256];
    char               *res_conv_id;
    mcp_reqset_t       *warm;       /* MCP_OP_WARM: the set a reader read */
    uint64_t            warm_foreign;   /* reqsets.foreign when asked */
};

/* prepared statements of one connection; see mcp_repo_db.c */
enum {
    MCP_ST_BEGIN, MCP_ST_COMMIT, MCP_ST_ROLLBACK, MCP_ST_BEGIN_READ,
    MCP_ST_CONV_INSERT, MCP_ST_CONV_GET, MCP_ST_CONV_HEAD, MCP_ST_CONV_TOUCH,
    MCP_ST_CONV_CHAIN,
    MCP_ST_MSG_INSERT, MCP_ST_MSG_GET, MCP_ST_MSG_LINK, MCP_ST_MSG_DELETE,
    MCP_ST_MSG_RELINK,
    MCP_ST_REQ_FINISH, MCP_ST_REQ_OPEN,
    MCP_ST_CONV_LIST, MCP_ST_CONV_DELETE,
    MCP_ST_HEALTH, MCP_ST_DATA_VERSION,
    MCP_ST_PAGE_LIST,                   /* SQL in mcp_repo_page.c */
    MCP_ST_COUNT
};

/* MCP_ST_MSG_GET: MCP_MSG_COLS, then these */
#define MCP_GET_PREV    13
#define MCP_GET_STATE   14

/* MCP_ST_MSG_LINK: the short columns a walk decides by */
enum {
    MCP_LINK_ID, MCP_LINK_CONV, MCP_LINK_TYPE, MCP_LINK_STATE,
    MCP_LINK_TOKENS, MCP_LINK_REQUEST, MCP_LINK_PART, MCP_LINK_CREATED,
    MCP_LINK_PREV
};

typedef struct {
    sqlite3        *db;
    sqlite3_stmt   *st[MCP_ST_COUNT];
} mcp_conn_t;

typedef struct mcp_pool_s  mcp_pool_t;

typedef struct {
    mcp_pool_t     *pool;
    int             idx;
    pthread_t       tid;
    int             started;
    mcp_conn_t      conn;
    int             broken;         /* close and reopen before next use */
    uint64_t        last_check_ms;
    uint64_t        last_break;     /* debug_break generation seen */
} mcp_worker_t;

struct mcp_pool_s {
    const char         *name;       /* "readers" / "writers" */
    mcp_repo_t         *repo;
    int                 writer;
    int                 max_batch;

    pthread_mutex_t     mu;         /* queue and stats */
    pthread_cond_t      cv;
    mcp_repo_req_t     *head, *tail;
    size_t              queued;
    int                 stop;
    int                 delivering; /* a group's completions are on their
                                       way to the loop */

    /* only one writer runs a transaction at a time: see docs/storage.md */
    pthread_mutex_t     turn;

    int                 nworkers;
    mcp_worker_t       *workers;

    /* stats, under mu */
    int                 open;       /* connections open */
    int                 in_use;
    uint64_t            acquisitions;
    uint64_t            waits;      /* requests that found no idle worker */
    int                 idle;       /* workers waiting for work */
    uint64_t            timeouts;
    uint64_t            busy_retries;  /* SQLITE_BUSY seen and retried */
    uint64_t            busy_errors;   /* SQLITE_BUSY reaching a caller */
    uint64_t            queries;
    uint64_t            writes;
    uint64_t            commits;
    uint64_t            rows_committed;
    uint64_t            errors;
    uint64_t            health_checks;
    uint64_t            health_failures;
    uint64_t            reconnects;
    uint64_t            last_health_ms;
    uint64_t            max_rows_per_commit;
    mcp_hist_t          wait_us;
    mcp_hist_t          rows_per_commit;
};

/* the background checkpointer: mcp_repo_ckpt.c */
typedef struct {
    pthread_mutex_t     mu;
    pthread_cond_t      cv;
    pthread_cond_t      idle;       /* a checkpoint finished */
    pthread_t           tid;
    int                 started;
    int                 stop;
    int                 wanted;
    int                 running;    /* a checkpoint is running */
    int                 waiters;    /* threads waiting to run one */
    int                 pages;      /* wal_checkpoint_pages */
    int                 sync_flags; /* SQLITE_SYNC_* for the database file */
    uint64_t            wal_frames; /* atomic: frames after the last commit */
    uint64_t            mark;       /* atomic: frames at the last wakeup */
    uint64_t            copied;     /* atomic: frames of this WAL already
                                       in the database file */
    int                 keeping_up; /* the last run left uncopied less
                                       than half what it copied */
    mcp_conn_t          conn;
    uint64_t            runs;
    uint64_t            writer_runs;    /* the writer's own checkpoints */
    uint64_t            writer_forced;  /* of those, at twice the mark */
    mcp_hist_t          writer_us;
    uint64_t            restarts;   /* atomic: times the WAL started over */
    uint64_t            frames_written;     /* atomic: by the writers */
    uint64_t            errors;
    uint64_t            wal_pages;
    uint64_t            last_us;
    mcp_hist_t          time_us;
} mcp_ckpt_t;

int  mcp_ckpt_start(mcp_ckpt_t *k, const mcp_repo_conf_t *rc,
    int background, char *err, size_t errlen);
void mcp_ckpt_attach(mcp_ckpt_t *k, sqlite3 *db);
void mcp_ckpt_restart(mcp_ckpt_t *k, sqlite3 *db);
void mcp_ckpt_stop(mcp_ckpt_t *k);
json_t *mcp_ckpt_stats(mcp_ckpt_t *k);

/* the writer's request sets: mcp_repo_reqset.c */
typedef struct mcp_reqsets_s  mcp_reqsets_t;

struct mcp_reqset_s {
    mcp_reqsets_t  *sets;
    int64_t         synced;     /* the newest message of the chain read */
    size_t          n, cap;     /* keys, slots (a power of two) */
    uint64_t       *slots;      /* key hashes; 0: empty */
};

/* the counters are atomic: repository_stats reads them on the loop */
struct mcp_reqsets_s {
    mcp_lru_t      *lru;        /* conversation id -> mcp_reqset_t */
    size_t          keys;       /* in all sets */
    uint64_t        loads;      /* sets read from a chain */
    uint64_t        confirms;   /* hashes found, walked to the row */
    uint64_t        stale;      /* of those, no such row any more */
    uint64_t        evicted;    /* sets dropped past the key bound */
    uint64_t        foreign;    /* all dropped: another connection wrote */
    uint64_t        warmed;     /* sets read on a reader (mcp_repo_warm.c) */
    size_t          parked;     /* writes waiting for such a set */
    mcp_strmap_t   *warming;    /* conversation id -> its parked writes */
    int             walkers;    /* how many may walk at once (0: none) */
    int             walking;    /* walks handed to the readers */
    mcp_req_fifo_t  asks;       /* walks waiting for one of those to end */
    size_t          asks_waiting;   /* how many (atomic: for the stats) */
    sqlite3        *dv_db;      /* the writer connection watched, and */
    int64_t         dv;         /* its PRAGMA data_version then */
};

uint64_t mcp_reqset_key(const char *rid, int type, int64_t part);
mcp_reqset_t *mcp_reqsets_find(mcp_reqsets_t *s, const char *conv);
mcp_reqset_t *mcp_reqsets_new(mcp_reqsets_t *s, const char *conv);
mcp_reqset_t *mcp_reqset_alloc(mcp_reqsets_t *s);
void mcp_reqset_drop(mcp_reqset_t *set);
void mcp_reqsets_adopt(mcp_reqsets_t *s, const char *conv, mcp_reqset_t *set);
int  mcp_reqset_walk(mcp_reqset_t *set, mcp_conn_t *c, const char *conv,
    int64_t from, int64_t down_to, size_t limit, int64_t *next,
    size_t *walked);

/* mcp_repo_warm.c: request sets read on a reader for the writer */
size_t mcp_warm_divert(mcp_worker_t *w, mcp_repo_req_t **batch, size_t n);
void mcp_op_warm(mcp_conn_t *c, mcp_repo_req_t *r);
void mcp_warm_back(mcp_repo_t *repo, mcp_repo_req_t *r);
void mcp_warm_returned(mcp_repo_t *repo, mcp_repo_req_t *r);
void mcp_warm_done(mcp_worker_t *w, mcp_repo_req_t *r);
void mcp_warm_fail_all(mcp_repo_t *repo);
void mcp_reqsets_forget(mcp_reqsets_t *s, const char *conv);
void mcp_reqsets_trim(mcp_reqsets_t *s);
int  mcp_reqsets_watch(mcp_reqsets_t *s, mcp_conn_t *c);
void mcp_reqsets_free(mcp_reqsets_t *s);
json_t *mcp_reqsets_stats(mcp_reqsets_t *s);
int  mcp_reqset_has(const mcp_reqset_t *set, uint64_t key);
int  mcp_reqset_add(mcp_reqset_t *set, uint64_t key);

struct mcp_repo_s {
    uv_loop_t          *loop;
    const mcp_log_t    *log;        /* NULL: quiet (tests, tools) */
    mcp_repo_conf_t     conf;       /* path strdup'ed */
    mcp_persist_conf_t  persist;

    mcp_pool_t          readers;    /* unused (0 workers) without pooling */
    mcp_pool_t          writers;
    mcp_ckpt_t          ckpt;       /* started only with pooling */
    mcp_reqsets_t       reqsets;    /* the writer's, under the turn */

    pthread_mutex_t     done_mu;
    mcp_repo_req_t     *done_head, *done_tail;

    uv_async_t          async;
    uv_timer_t          sweep;      /* fails requests past connection_timeout */
    uv_timer_t          retention;
    int                 handles_open;
    size_t              pending;    /* loop thread: submitted, not completed */
    int                 closing;
    int                 retention_queued;

    /*
     * Requests submitted from completion callbacks are staged and queued
     * together when the callbacks are done: the writer then finds the
     * whole next group at once instead of waking for the first of them.
     */
    int                 delivering;
    struct {
        mcp_repo_req_t  *head, *tail;
        size_t           n;
    }                   stage[2];       /* 0: readers, 1: writers */
    uint64_t            debug_break;    /* atomic: a generation */
    uint64_t            retention_runs;
    uint64_t            retention_deleted;
    uint64_t            last_retention_ms;
    uint64_t            opened_ms;

    /* loop thread: the last write's storage fault (full, read-only, I/O,
       corrupt) until a write succeeds again; for /health */
    int                 write_fault;        /* MCP_REPO_*, 0: none */
    char                write_fault_text[256];

    /* writer_affinity: loop: the CPU the loop and the writers share, or
       -1 with the reason it could not be done (mcp_cpu.h) */
    int                 loop_cpu;
    char                affinity_note[128];
};

/* time */
uint64_t mcp_repo_now_ns(void);
uint64_t mcp_repo_now_ms(void);

/* the columns mcp_msg_push_row() reads, in its order */
#define MCP_MSG_COLS  "id, conversation_id, type, content, tool_calls," \
    " tool_call_id, name, model, usage, token_count, request_id, part," \
    " created_at"

/* mcp_repo.c: building and queueing a request */
void mcp_repo_err(mcp_err_t *err, const void *unused, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
mcp_repo_req_t *mcp_req_new(mcp_op_e op, mcp_repo_cb_pt cb, void *data);
int  mcp_repo_submit(mcp_repo_t *repo, mcp_repo_req_t *r);
int  mcp_repo_reject(mcp_repo_t *repo, mcp_repo_req_t *r, const char *why);

/* mcp_repo_file.c: the file at start */
int  mcp_repo_prepare_file(mcp_repo_t *repo, mcp_err_t *err);

/* mcp_repo_db.c: connections, schema */
void mcp_db_configure(void);        /* once, before SQLite initializes */
int  mcp_conn_open(mcp_conn_t *c, const mcp_repo_conf_t *rc, int reader,
    char *err, size_t errlen);
void mcp_conn_close(mcp_conn_t *c);
int  mcp_conn_health(mcp_conn_t *c);
int  mcp_repo_migrate(sqlite3 *db, char *err, size_t errlen);
int  mcp_repo_schema_version(void);
int  mcp_repo_status_of(int sqlite_code);

/* mcp_repo_ops.c: one operation on a worker's connection */
int  mcp_op_write(mcp_conn_t *c, mcp_repo_req_t *r);
void mcp_op_read(mcp_conn_t *c, mcp_repo_req_t *r);
void mcp_req_fail(mcp_repo_req_t *r, int status, int code, const char *fmt,
    ...) __attribute__((format(printf, 4, 5)));
void mcp_req_fail_db(mcp_repo_req_t *r, sqlite3 *db, int rc,
    const char *what);
void mcp_req_free(mcp_repo_req_t *r);
int  mcp_msg_push_row(sqlite3_stmt *st, mcp_repo_result_t *res);
void mcp_bind_str(sqlite3_stmt *st, int i, const char *s);
void mcp_bind_id(sqlite3_stmt *st, int i, int64_t id);
int  mcp_step_done(sqlite3_stmt *st);
void mcp_msgs_reverse(mcp_repo_result_t *res);
/* conversation rows (id, principal, title, created_at, updated_at, count) */
int  mcp_collect_convs(sqlite3_stmt *st, mcp_repo_result_t *res);

/* mcp_repo_chain.c: a conversation's messages, newest first */
typedef struct {
    sqlite3_stmt   *st;         /* MCP_ST_MSG_GET (full) or MCP_ST_MSG_LINK */
    const char     *conv;
    int64_t         next;       /* the next message to read; 0: none */
    int64_t         id;         /* the message st is on */
    int             full;
} mcp_chain_t;

typedef int (*mcp_chain_row_pt)(mcp_chain_t *ch, void *ctx);
/* MCP_ST_MSG_LINK row: 1 to delete it */
typedef int (*mcp_chain_rule_pt)(sqlite3_stmt *link, void *ctx);

int  mcp_chain_head(mcp_conn_t *c, const char *conv, int64_t *last,
    int64_t *conv_rowid);
int  mcp_chain_count(mcp_conn_t *c, const char *conv, int64_t *count);
void mcp_chain_at(mcp_chain_t *ch, mcp_conn_t *c, const char *conv,
    int64_t id, int full);
int  mcp_chain_open(mcp_chain_t *ch, mcp_conn_t *c, const char *conv,
    int full);
int  mcp_chain_next(mcp_chain_t *ch);
void mcp_chain_close(mcp_chain_t *ch);
int  mcp_chain_request(mcp_conn_t *c, const char *conv, const char *rid,
    int full, const int *armed, mcp_chain_row_pt fn, void *ctx);
int  mcp_chain_prune(mcp_conn_t *c, const char *conv, mcp_chain_rule_pt rule,
    void *ctx, int64_t max, int64_t *deleted, int *more);

int  mcp_chain_collect(mcp_chain_t *ch, mcp_repo_result_t *res,
    int64_t limit, int64_t budget, int64_t *tokens);

/* mcp_repo_append.c: on the writer */
int  mcp_op_append(mcp_conn_t *c, mcp_repo_req_t *r);
int  mcp_op_req_end(mcp_conn_t *c, mcp_repo_req_t *r);
int  mcp_request_rows(mcp_conn_t *c, mcp_repo_result_t *res,
    const char *conv, const char *rid, mcp_msg_type_e type, int64_t part,
    int64_t *found);

/* mcp_repo_page.c: the keyset page reads */
extern const char  mcp_sql_history_page[];
extern const char  mcp_sql_list_page[];
void mcp_op_page(mcp_conn_t *c, mcp_repo_req_t *r);

/* mcp_repo_export.c */
void mcp_op_export(mcp_conn_t *c, mcp_repo_req_t *r);

/* mcp_repo_retention.c: delete by policy; *done when finished */
int  mcp_retention_step(mcp_conn_t *c, mcp_reqsets_t *sets,
    const mcp_persist_conf_t *pc, char **cursor, int64_t *deleted, int *done,
    char *err, size_t errlen);
int  mcp_retention_startup(sqlite3 *db, const mcp_repo_conf_t *conf,
    const mcp_persist_conf_t *pc, int64_t *deleted, char *err, size_t errlen);

/* mcp_repo_walbuf.c: the VFS that gathers the writes to a WAL file */
typedef struct {
    uint64_t    taken;      /* writes gathered in the buffer */
    uint64_t    passed;     /* writes that went to the file as they came */
    uint64_t    flushes;    /* xWrite calls writing out the buffer */
} mcp_walbuf_stats_t;

const char *mcp_walbuf_vfs(void);      /* NULL: not registered */
int  mcp_walbuf_stats(sqlite3 *db, mcp_walbuf_stats_t *st);

/* mcp_repo_pool.c */
#define MCP_REPO_NICE  2
/* each repository thread, first: its priority, and its CPUs */
void mcp_repo_yield_to_loop(mcp_cpu_place_e where);
int  mcp_pool_start(mcp_pool_t *p, mcp_repo_t *repo, const char *name,
    int writer, int nworkers, int max_batch, char *err, size_t errlen);
void mcp_pool_push(mcp_pool_t *p, mcp_repo_req_t *r);
void mcp_pool_push_chain(mcp_pool_t *p, mcp_repo_req_t *head,
    mcp_repo_req_t *tail, size_t n);
void mcp_pool_stop(mcp_pool_t *p);
void mcp_pool_free(mcp_pool_t *p);
void mcp_pool_sweep(mcp_pool_t *p, uint64_t timeout_ms);
json_t *mcp_pool_stats(mcp_pool_t *p);
void mcp_pool_delivered(mcp_pool_t *p);
void mcp_pool_write_group(mcp_worker_t *w, mcp_repo_req_t **batch, size_t n);
void mcp_pool_send(mcp_pool_t *p, mcp_repo_req_t **batch, size_t n);

/* mcp_repo_worker.c: a worker's connection health */
void mcp_worker_health(mcp_worker_t *w);
int  mcp_worker_ready(mcp_worker_t *w, mcp_repo_req_t *r);
void mcp_worker_check_code(mcp_worker_t *w, int code);

void mcp_repo_complete(mcp_repo_t *repo, mcp_repo_req_t *r);
/* A chain (linked by next) that will not be run: each caller hears
   "shutting down" (MCP_REPO_ECLOSED). */
void mcp_repo_refuse(mcp_repo_t *repo, mcp_repo_req_t *chain);
void mcp_repo_complete_many(mcp_repo_t *repo, mcp_repo_req_t **rs,
    size_t n);

#endif /* MCP_REPO_INT_H */
