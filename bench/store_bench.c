/*
 * store_bench: append throughput and read latency of the repository.
 *
 *   store_bench --db PATH --mode pool|baseline|raw|raw-rows
 *               [--callers N] [--readers N] [--seconds S] [--sync normal|full]
 *               [--read-gap-ms MS] [--batch N] [--writers N]
 *               [--checkpoint-pages N]
 *
 * Readers read the newest 50 messages (2000 tokens) of a conversation,
 * then pause read-gap-ms (default 2) before the next read.
 *
 * pool      the repository as configured by default (reader pool, writers
 *           with group commit), N callers each appending one message after
 *           the other, R callers reading history meanwhile
 * baseline  enable_pooling: false (one connection, a transaction per append)
 * raw       one connection, no threads: the repository's own append
 *           (message, request row, conversation touch) for the same rows
 *           (the same 64 conversations), all in one big transaction: the
 *           ceiling; with --batch N, a commit every N rows instead
 * raw-rows  the same with only the message INSERT (no request id)
 *
 * Prints one line:
 *   RESULT mode=.. callers=.. sync=.. appends=.. appends_per_s=..
 *          read_p50_ms=.. read_p99_ms=.. reads=.. busy_errors=.. errors=..
 *          rows_per_commit=..
 */

#include <getopt.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repo/mcp_repo.h"
#include "repo/mcp_repo_int.h"     /* raw: the repository's own append */
#include "util/mcp_hist.h"

#define BENCH_CONVS  64

typedef struct bench_s  bench_t;

typedef struct {
    bench_t    *b;
    int         idx;
    int         reader;
    long        n;
    uint64_t    t0;
    uv_timer_t  gap;        /* readers: pause between reads */
} bench_caller_t;

struct bench_s {
    mcp_repo_t    *repo;
    int            stop;
    int            running;
    long           acked;
    long           acked_at_stop;
    long           errors;
    long           busy;
    long           reads;
    mcp_hist_t     read_us;
    uv_timer_t     timer;
};

static void bench_next(bench_caller_t *c);
static int  bench_max_batch, bench_writers, bench_read_gap_ms = 2;
static int  bench_ckpt_pages;


static void
bench_gap_cb(uv_timer_t *t)
{
    bench_next(t->data);
}


static size_t
bench_content(char *buf, size_t len, const char *rid)
{
    size_t  n = (size_t) snprintf(buf, len, "[%s] ", rid);

    while (n < 300 && n + 1 < len) {
        buf[n] = (char) ('a' + n % 26);
        n++;
    }
    return n;
}


static void
bench_cb(const mcp_repo_result_t *res, void *data)
{
    bench_caller_t  *c = data;
    bench_t         *b = c->b;

    if (res->status == MCP_REPO_EBUSY) {
        b->busy++;
    } else if (res->status != MCP_REPO_OK) {
        b->errors++;
        if (b->errors < 5) {
            fprintf(stderr, "store_bench: %s\n", res->error);
        }
    }
    if (c->reader) {
        b->reads++;
        mcp_hist_record(&b->read_us, (uv_hrtime() - c->t0) / 1000);
        if (bench_read_gap_ms > 0 && !b->stop) {
            uv_timer_start(&c->gap, bench_gap_cb,
                           (uint64_t) bench_read_gap_ms, 0);
            return;
        }
    } else if (res->status == MCP_REPO_OK) {
        b->acked++;
    }
    bench_next(c);
}


static void
bench_next(bench_caller_t *c)
{
    bench_t            *b = c->b;
    mcp_repo_append_t   a;
    char                conv[32], rid[48], text[400];

    if (b->stop) {
        if (--b->running == 0) {
            mcp_repo_close(b->repo);
        }
        return;
    }
    snprintf(conv, sizeof(conv), "c%d", c->idx % BENCH_CONVS);
    c->t0 = uv_hrtime();
    if (c->reader) {
        mcp_repo_history(b->repo, conv, 2000, 50, bench_cb, c);
        return;
    }
    snprintf(rid, sizeof(rid), "b-%d-%ld", c->idx, c->n++);
    memset(&a, 0, sizeof(a));
    a.msg.conversation_id = conv;
    a.msg.type = MCP_MSG_USER;
    a.msg.content = text;
    a.msg.content_len = bench_content(text, sizeof(text), rid);
    a.msg.request_id = rid;
    a.msg.token_count = 75;
    mcp_repo_append(b->repo, &a, bench_cb, c);
}


static void
bench_stop(uv_timer_t *t)
{
    bench_t  *b = t->data;

    b->stop = 1;
    b->acked_at_stop = b->acked;
}


static int  bench_convs_left;

static void
bench_conv_cb(const mcp_repo_result_t *res, void *data)
{
    if (res->status != MCP_REPO_OK) {
        fprintf(stderr, "store_bench: %s\n", res->error);
        exit(1);
    }
    bench_convs_left--;
}


static double
bench_repo(const char *db, int pooled, int sync_full, int callers,
    int readers, double seconds, char *extra, size_t extralen)
{
    mcp_repo_conf_t      rc;
    mcp_persist_conf_t   pc;
    mcp_err_t            err;
    bench_t              b;
    bench_caller_t      *cs;
    uv_loop_t            loop;
    json_t              *st, *ck, *wr;
    double               writes;
    int                  i;
    char                 conv[32];

    mcp_repo_conf_defaults(&rc, &pc);
    rc.path = (char *) db;
    rc.synchronous = sync_full ? MCP_REPO_SYNC_FULL : MCP_REPO_SYNC_NORMAL;
    rc.pool.enable_pooling = pooled;
    if (bench_writers > 0) {
        rc.pool.max_writers = bench_writers;
    }
    if (bench_max_batch > 0) {
        rc.pool.max_batch = bench_max_batch;
    }
    if (bench_ckpt_pages > 0) {
        rc.wal_checkpoint_pages = bench_ckpt_pages;
    }
    pc.retention_policy = MCP_RETAIN_UNLIMITED;

    memset(&b, 0, sizeof(b));
    mcp_hist_reset(&b.read_us);
    uv_loop_init(&loop);
    b.repo = mcp_repo_open(&loop, &rc, &pc, &err);
    if (b.repo == NULL) {
        fprintf(stderr, "store_bench: %s\n", err.msg);
        exit(1);
    }
    bench_convs_left = BENCH_CONVS;
    for (i = 0; i < BENCH_CONVS; i++) {
        snprintf(conv, sizeof(conv), "c%d", i);
        mcp_repo_conversation_open(b.repo, "bench", conv, NULL, bench_conv_cb,
                                   NULL);
    }
    while (bench_convs_left > 0) {
        uv_run(&loop, UV_RUN_ONCE);
    }

    cs = calloc((size_t) (callers + readers), sizeof(*cs));
    b.running = callers + readers;
    uv_timer_init(&loop, &b.timer);
    b.timer.data = &b;
    uv_timer_start(&b.timer, bench_stop, (uint64_t) (seconds * 1000), 0);
    for (i = 0; i < callers + readers; i++) {
        cs[i].b = &b;
        cs[i].idx = i;
        cs[i].reader = i >= callers;
        uv_timer_init(&loop, &cs[i].gap);
        cs[i].gap.data = &cs[i];
    }
    for (i = 0; i < callers + readers; i++) {
        bench_next(&cs[i]);
    }
    /* the stats are read just before the stop, on the loop */
    while (!b.stop) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    st = mcp_repo_stats(b.repo);
    ck = json_object_get(st, "checkpoint");
    wr = json_object_get(st, "writers");
    writes = (double) json_integer_value(json_object_get(wr, "writes"));
    snprintf(extra, extralen, "read_p50_ms=%.3f read_p99_ms=%.3f reads=%ld "
             "busy_errors=%lld errors=%ld rows_per_commit=%.1f"
             " wal_frames_per_row=%.2f wal_restarts=%lld",
             mcp_hist_quantile(&b.read_us, 0.5) / 1000.0,
             mcp_hist_quantile(&b.read_us, 0.99) / 1000.0, b.reads,
             (long long) json_integer_value(json_object_get(st,
                 "busy_errors")) + b.busy, b.errors,
             json_real_value(json_object_get(wr, "rows_per_commit")),
             /* counted by the background checkpointer's WAL hook only */
             writes > 0 && json_is_true(json_object_get(ck, "background"))
                 ? (double) json_integer_value(json_object_get(ck,
                       "frames_written")) / writes : -1.0,
             (long long) json_integer_value(json_object_get(ck,
                 "wal_restarts")));
    json_decref(st);
    uv_close((uv_handle_t *) &b.timer, NULL);
    /* readers paused in their gap still count as running: wake them */
    for (i = callers; i < callers + readers; i++) {
        if (uv_is_active((uv_handle_t *) &cs[i].gap)) {
            uv_timer_stop(&cs[i].gap);
            bench_next(&cs[i]);
        }
    }
    for (i = 0; i < callers + readers; i++) {
        uv_close((uv_handle_t *) &cs[i].gap, NULL);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    free(cs);
    return (double) b.acked_at_stop / seconds;
}


/* ------------------------------------------------------------ raw */

static int
bench_raw_wal_hook(void *arg, sqlite3 *db, const char *name, int n)
{
    long  *frames = arg;

    frames[0] += n >= frames[1] ? n - frames[1] : n;
    frames[1] = n;
    return SQLITE_OK;
}


/*
 * The ceiling: no threads, no queue, no callbacks.  One connection opened
 * the way the repository opens its writers (same PRAGMAs, same prepared
 * statements) runs the repository's own append (mcp_op_write(): message,
 * request row, conversation touch) for the same rows as the callers (the
 * same 64 conversations in turn), in one transaction, or every
 * rows_per_commit rows.  rows_only: only the message INSERT, for reference.
 */
static double
bench_raw(const char *db, int sync_full, int rows_only, long rows_per_commit,
    double seconds, char *extra, size_t extralen)
{
    mcp_repo_conf_t      rc;
    mcp_persist_conf_t   pc;
    mcp_err_t            err;
    uv_loop_t            loop;
    mcp_repo_t           fake, *repo;
    mcp_conn_t           c;
    mcp_repo_req_t       r;
    char                 rid[48], text[400], conv[32], msg[256];
    uint64_t             t0, end;
    long                 n = 0, commits = 0, frames[2] = { 0, 0 };
    int                  i;

    /* the schema and the conversations, as the repository creates them */
    mcp_repo_conf_defaults(&rc, &pc);
    rc.path = (char *) db;
    rc.synchronous = sync_full ? MCP_REPO_SYNC_FULL : MCP_REPO_SYNC_NORMAL;
    uv_loop_init(&loop);
    repo = mcp_repo_open(&loop, &rc, &pc, &err);
    if (repo == NULL) {
        fprintf(stderr, "store_bench: %s\n", err.msg);
        exit(1);
    }
    bench_convs_left = BENCH_CONVS;
    for (i = 0; i < BENCH_CONVS; i++) {
        snprintf(conv, sizeof(conv), "c%d", i);
        mcp_repo_conversation_open(repo, "bench", conv, NULL, bench_conv_cb,
                                   NULL);
    }
    while (bench_convs_left > 0) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    mcp_repo_close(repo);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);

    if (mcp_conn_open(&c, &rc, 0, msg, sizeof(msg)) != SQLITE_OK) {
        fprintf(stderr, "store_bench: %s\n", msg);
        exit(1);
    }
    memset(&fake, 0, sizeof(fake));
    fake.conf = rc;                 /* error messages name the file */
    sqlite3_wal_hook(c.db, bench_raw_wal_hook, frames);

    t0 = uv_hrtime();
    end = t0 + (uint64_t) (seconds * 1e9);
    sqlite3_step(c.st[MCP_ST_BEGIN]);
    sqlite3_reset(c.st[MCP_ST_BEGIN]);
    while (n % BENCH_CONVS || uv_hrtime() < end) {
        snprintf(conv, sizeof(conv), "c%ld", n % BENCH_CONVS);
        snprintf(rid, sizeof(rid), "b-%ld-%ld", n % BENCH_CONVS,
                 n / BENCH_CONVS);
        memset(&r, 0, sizeof(r));
        r.repo = &fake;
        r.op = MCP_OP_APPEND;
        r.msg.conversation_id = conv;
        r.msg.type = rows_only ? MCP_MSG_TOOL_RESULT : MCP_MSG_USER;
        r.msg.content = text;
        r.msg.content_len = bench_content(text, sizeof(text), rid);
        r.msg.request_id = rows_only ? NULL : rid;
        r.msg.token_count = 75;
        if (mcp_op_write(&c, &r) != SQLITE_OK || r.res.status != MCP_REPO_OK) {
            fprintf(stderr, "store_bench: raw: %s\n", r.errbuf);
            exit(1);
        }
        n++;
        if (rows_per_commit > 0 && n % rows_per_commit == 0) {
            sqlite3_step(c.st[MCP_ST_COMMIT]);
            sqlite3_reset(c.st[MCP_ST_COMMIT]);
            sqlite3_step(c.st[MCP_ST_BEGIN]);
            sqlite3_reset(c.st[MCP_ST_BEGIN]);
            commits++;
        }
    }
    sqlite3_step(c.st[MCP_ST_COMMIT]);
    sqlite3_reset(c.st[MCP_ST_COMMIT]);
    commits++;
    seconds = (double) (uv_hrtime() - t0) / 1e9;
    mcp_conn_close(&c);
    mcp_reqsets_free(&fake.reqsets);        /* the appends' request sets */
    snprintf(extra, extralen, "read_p50_ms=0 read_p99_ms=0 reads=0 "
             "busy_errors=0 errors=0 rows_per_commit=%.1f"
             " wal_frames_per_row=%.2f", (double) n / (double) commits,
             (double) frames[0] / (double) n);
    return (double) n / seconds;
}


int
main(int argc, char **argv)
{
    static const struct option  opts[] = {
        { "db", required_argument, NULL, 'd' },
        { "mode", required_argument, NULL, 'm' },
        { "callers", required_argument, NULL, 'n' },
        { "readers", required_argument, NULL, 'r' },
        { "seconds", required_argument, NULL, 't' },
        { "sync", required_argument, NULL, 's' },
        { "batch", required_argument, NULL, 'b' },
        { "writers", required_argument, NULL, 'w' },
        { "read-gap-ms", required_argument, NULL, 'g' },
        { "checkpoint-pages", required_argument, NULL, 'k' },
        { NULL, 0, NULL, 0 }
    };
    const char  *db = "bench.db", *mode = "pool", *sync = "normal";
    int          opt, callers = 1, readers = 0, full;
    double       seconds = 3, rate;
    char         extra[512];

    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case 'd': db = optarg; break;
        case 'm': mode = optarg; break;
        case 'n': callers = atoi(optarg); break;
        case 'r': readers = atoi(optarg); break;
        case 't': seconds = atof(optarg); break;
        case 's': sync = optarg; break;
        case 'b': bench_max_batch = atoi(optarg); break;
        case 'w': bench_writers = atoi(optarg); break;
        case 'g': bench_read_gap_ms = atoi(optarg); break;
        case 'k': bench_ckpt_pages = atoi(optarg); break;
        default:
            fprintf(stderr, "usage: see bench/store_bench.c\n");
            return 2;
        }
    }
    full = strcmp(sync, "full") == 0;

    if (strncmp(mode, "raw", 3) == 0) {
        rate = bench_raw(db, full, strcmp(mode, "raw-rows") == 0,
                         bench_max_batch, seconds, extra, sizeof(extra));
        callers = 1;
    } else {
        rate = bench_repo(db, strcmp(mode, "baseline") != 0, full, callers,
                          readers, seconds, extra, sizeof(extra));
    }
    printf("RESULT mode=%s callers=%d readers=%d sync=%s appends_per_s=%.0f "
           "%s\n", mode, callers, readers, sync, rate, extra);
    return 0;
}
