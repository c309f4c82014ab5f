/*
 * store_bench: append throughput and read latency of the repository.
 *
 *   store_bench --db PATH --mode pool|baseline|raw|raw-rows|pair
 *               [--callers N] [--readers N] [--seconds S] [--sync normal|full]
 *               [--read-gap-ms MS] [--batch N] [--writers N]
 *               [--checkpoint-pages N] [--writer-affinity none|loop]
 *               [--pairs N] [--slice-ms MS]
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
 * pair      pool (normal) and raw in slices of --slice-ms (250) that take
 *           turns, --pairs (24) of each, on PATH and PATH-raw: see
 *           bench_pair(); STORE_BENCH_TRACE=1 prints each pair
 *
 * Prints one line:
 *   RESULT mode=.. callers=.. sync=.. appends=.. appends_per_s=..
 *          read_p50_ms=.. read_p99_ms=.. reads=.. busy_errors=.. errors=..
 *          rows_per_commit=..
 * pair adds raw_per_s, pool_raw (the ratio of the sums), and the median,
 * least and greatest pair's ratio.
 */

#include <getopt.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repo/mcp_repo.h"
#include "repo/mcp_repo_int.h"     /* raw: the repository's own append */
#include "util/mcp_cpu.h"
#include "util/mcp_hist.h"

#define BENCH_CONVS  64

typedef struct bench_s  bench_t;

typedef struct {
    bench_t    *b;
    int         idx;
    int         reader;
    int         parked;     /* pair: waiting for the next pool slice */
    long        n;
    uint64_t    t0;
    uv_timer_t  gap;        /* readers: pause between reads */
} bench_caller_t;

struct bench_s {
    mcp_repo_t      *repo;
    uv_loop_t        loop;
    bench_caller_t  *cs;
    int              ncallers;      /* writers and readers */
    int              stop;
    int              paused;        /* pair: between pool slices */
    int              parked;
    uint64_t         paused_at;
    int              running;
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
static int  bench_ckpt_pages, bench_affinity;


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
    if (b->paused) {
        c->parked = 1;
        b->parked++;
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


/* pair: the end of a pool slice; callers park as their answers come */
static void
bench_pause(uv_timer_t *t)
{
    bench_t  *b = t->data;

    b->paused = 1;
    b->paused_at = uv_hrtime();
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


/* The repository, its 64 conversations, and its callers (not started). */
static void
bench_repo_open(bench_t *b, const char *db, int pooled, int sync_full,
    int callers, int readers)
{
    mcp_repo_conf_t      rc;
    mcp_persist_conf_t   pc;
    mcp_err_t            err;
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
    rc.pool.writer_affinity = bench_affinity;
    pc.retention_policy = MCP_RETAIN_UNLIMITED;

    memset(b, 0, sizeof(*b));
    mcp_hist_reset(&b->read_us);
    uv_loop_init(&b->loop);
    b->repo = mcp_repo_open(&b->loop, &rc, &pc, &err);
    if (b->repo == NULL) {
        fprintf(stderr, "store_bench: %s\n", err.msg);
        exit(1);
    }
    bench_convs_left = BENCH_CONVS;
    for (i = 0; i < BENCH_CONVS; i++) {
        snprintf(conv, sizeof(conv), "c%d", i);
        mcp_repo_conversation_open(b->repo, "bench", conv, NULL, bench_conv_cb,
                                   NULL);
    }
    while (bench_convs_left > 0) {
        uv_run(&b->loop, UV_RUN_ONCE);
    }

    b->ncallers = callers + readers;
    b->cs = calloc((size_t) b->ncallers, sizeof(*b->cs));
    b->running = b->ncallers;
    uv_timer_init(&b->loop, &b->timer);
    b->timer.data = b;
    for (i = 0; i < b->ncallers; i++) {
        b->cs[i].b = b;
        b->cs[i].idx = i;
        b->cs[i].reader = i >= callers;
        b->cs[i].parked = 1;
        uv_timer_init(&b->loop, &b->cs[i].gap);
        b->cs[i].gap.data = &b->cs[i];
    }
}


/* Every parked caller (all of them, at first) goes on. */
static void
bench_repo_resume(bench_t *b)
{
    int  i;

    b->paused = 0;
    b->parked = 0;
    for (i = 0; i < b->ncallers; i++) {
        if (b->cs[i].parked) {
            b->cs[i].parked = 0;
            bench_next(&b->cs[i]);
        }
    }
}


/* read on the loop, while the callers run */
static void
bench_repo_stats(bench_t *b, char *extra, size_t extralen)
{
    json_t  *st, *ck, *wr;
    double   writes;

    st = mcp_repo_stats(b->repo);
    ck = json_object_get(st, "checkpoint");
    wr = json_object_get(st, "writers");
    writes = (double) json_integer_value(json_object_get(wr, "writes"));
    snprintf(extra, extralen, "read_p50_ms=%.3f read_p99_ms=%.3f reads=%ld "
             "busy_errors=%lld errors=%ld rows_per_commit=%.1f"
             " wal_frames_per_row=%.2f wal_restarts=%lld",
             mcp_hist_quantile(&b->read_us, 0.5) / 1000.0,
             mcp_hist_quantile(&b->read_us, 0.99) / 1000.0, b->reads,
             (long long) json_integer_value(json_object_get(st,
                 "busy_errors")) + b->busy, b->errors,
             json_real_value(json_object_get(wr, "rows_per_commit")),
             /* counted by the background checkpointer's WAL hook only */
             writes > 0 && json_is_true(json_object_get(ck, "background"))
                 ? (double) json_integer_value(json_object_get(ck,
                       "frames_written")) / writes : -1.0,
             (long long) json_integer_value(json_object_get(ck,
                 "wal_restarts")));
    json_decref(st);
}


/* Stop the callers; the last one closes the repository. */
static void
bench_repo_close(bench_t *b)
{
    int  i;

    b->stop = 1;
    uv_close((uv_handle_t *) &b->timer, NULL);
    /* readers paused in their gap, and parked callers, still count as
       running: wake them */
    for (i = 0; i < b->ncallers; i++) {
        if (uv_is_active((uv_handle_t *) &b->cs[i].gap)) {
            uv_timer_stop(&b->cs[i].gap);
            bench_next(&b->cs[i]);
        } else if (b->cs[i].parked) {
            b->cs[i].parked = 0;
            bench_next(&b->cs[i]);
        }
    }
    for (i = 0; i < b->ncallers; i++) {
        uv_close((uv_handle_t *) &b->cs[i].gap, NULL);
    }
    uv_run(&b->loop, UV_RUN_DEFAULT);
    uv_loop_close(&b->loop);
    free(b->cs);
}


static double
bench_repo(const char *db, int pooled, int sync_full, int callers,
    int readers, double seconds, char *extra, size_t extralen)
{
    bench_t  b;

    bench_repo_open(&b, db, pooled, sync_full, callers, readers);
    uv_timer_start(&b.timer, bench_stop, (uint64_t) (seconds * 1000), 0);
    bench_repo_resume(&b);
    /* the stats are read just before the stop, on the loop */
    while (!b.stop) {
        uv_run(&b.loop, UV_RUN_ONCE);
    }
    bench_repo_stats(&b, extra, extralen);
    bench_repo_close(&b);
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
typedef struct {
    mcp_conn_t   c;
    mcp_repo_t   fake;
    int          rows_only;
    long         rows_per_commit;
    long         n;             /* rows so far: the next one's id */
    long         commits;
    long         frames[2];
} bench_raw_t;


static void
bench_raw_open(bench_raw_t *w, const char *db, int sync_full, int rows_only,
    long rows_per_commit)
{
    mcp_repo_conf_t      rc;
    mcp_persist_conf_t   pc;
    mcp_err_t            err;
    uv_loop_t            loop;
    mcp_repo_t          *repo;
    char                 conv[32], msg[256];
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

    memset(w, 0, sizeof(*w));
    if (mcp_conn_open(&w->c, &rc, 0, msg, sizeof(msg)) != SQLITE_OK) {
        fprintf(stderr, "store_bench: %s\n", msg);
        exit(1);
    }
    w->fake.conf = rc;                 /* error messages name the file */
    w->rows_only = rows_only;
    w->rows_per_commit = rows_per_commit;
    sqlite3_wal_hook(w->c.db, bench_raw_wal_hook, w->frames);
}


static void
bench_raw_step(bench_raw_t *w, int st)
{
    sqlite3_step(w->c.st[st]);
    sqlite3_reset(w->c.st[st]);
}


/* One transaction (or one per rows_per_commit) for about ns; rows done. */
static long
bench_raw_run(bench_raw_t *w, uint64_t ns, uint64_t *took)
{
    mcp_repo_req_t  r;
    char            rid[48], text[400], conv[32];
    uint64_t        t0 = uv_hrtime(), end = t0 + ns;
    long            n0 = w->n;

    bench_raw_step(w, MCP_ST_BEGIN);
    while (w->n % BENCH_CONVS || uv_hrtime() < end) {
        snprintf(conv, sizeof(conv), "c%ld", w->n % BENCH_CONVS);
        snprintf(rid, sizeof(rid), "b-%ld-%ld", w->n % BENCH_CONVS,
                 w->n / BENCH_CONVS);
        memset(&r, 0, sizeof(r));
        r.repo = &w->fake;
        r.op = MCP_OP_APPEND;
        r.msg.conversation_id = conv;
        r.msg.type = w->rows_only ? MCP_MSG_TOOL_RESULT : MCP_MSG_USER;
        r.msg.content = text;
        r.msg.content_len = bench_content(text, sizeof(text), rid);
        r.msg.request_id = w->rows_only ? NULL : rid;
        r.msg.token_count = 75;
        if (mcp_op_write(&w->c, &r) != SQLITE_OK
            || r.res.status != MCP_REPO_OK)
        {
            fprintf(stderr, "store_bench: raw: %s\n", r.errbuf);
            exit(1);
        }
        w->n++;
        if (w->rows_per_commit > 0 && w->n % w->rows_per_commit == 0) {
            bench_raw_step(w, MCP_ST_COMMIT);
            bench_raw_step(w, MCP_ST_BEGIN);
            w->commits++;
        }
    }
    bench_raw_step(w, MCP_ST_COMMIT);
    w->commits++;
    *took = uv_hrtime() - t0;
    return w->n - n0;
}


static void
bench_raw_close(bench_raw_t *w)
{
    mcp_conn_close(&w->c);
    mcp_reqsets_free(&w->fake.reqsets);     /* the appends' request sets */
}


static double
bench_raw(const char *db, int sync_full, int rows_only, long rows_per_commit,
    double seconds, char *extra, size_t extralen)
{
    bench_raw_t  w;
    uint64_t     took;
    long         n;

    bench_raw_open(&w, db, sync_full, rows_only, rows_per_commit);
    n = bench_raw_run(&w, (uint64_t) (seconds * 1e9), &took);
    bench_raw_close(&w);
    snprintf(extra, extralen, "read_p50_ms=0 read_p99_ms=0 reads=0 "
             "busy_errors=0 errors=0 rows_per_commit=%.1f"
             " wal_frames_per_row=%.2f", (double) n / (double) w.commits,
             (double) w.frames[0] / (double) n);
    return (double) n / ((double) took / 1e9);
}


/*
 * pair: the pool at N callers and raw, in short slices that take turns in
 * one process (on two files; the order swaps every pair).  This host
 * changes speed every 0.1-1 s (docs/benchmarks.md, session 14), so whole
 * runs of a few seconds, one after the other, compare different mixtures
 * of its phases; slices this short see the same ones.  A pool slice counts
 * the appends acknowledged until its timer; the callers then park as
 * their answers come in, and the background checkpointer gets a moment to
 * finish, outside both measures.  Returns the pool's rate; raw's and the
 * ratios go to extra.
 */
static int
bench_cmp_double(const void *a, const void *b)
{
    double  x = *(const double *) a, y = *(const double *) b;

    return (x > y) - (x < y);
}


/* raw on the CPUs the loop had before writer_affinity pinned it */
static long
bench_raw_slice(bench_raw_t *w, uint64_t ns, uint64_t *took)
{
    long  n;

    mcp_cpu_release_loop();
    n = bench_raw_run(w, ns, took);
    mcp_cpu_repin_loop();
    uv_sleep(10);
    return n;
}


static double
bench_pair(const char *db, int callers, int readers, int pairs,
    double slice_ms, char *extra, size_t extralen)
{
    bench_t      b;
    bench_raw_t  w;
    char         rawdb[4096], stats[512];
    uint64_t     took, t0, pool_ns = 0, raw_ns = 0, slice_ns;
    long         pool_rows = 0, raw_rows = 0, rn = 0, pn, a0;
    double      *ratios, pool, raw;
    int          k;

    slice_ns = (uint64_t) (slice_ms * 1e6);
    snprintf(rawdb, sizeof(rawdb), "%s-raw", db);
    bench_raw_open(&w, rawdb, 0, 0, 0);
    bench_repo_open(&b, db, 1, 0, callers, readers);
    ratios = calloc((size_t) pairs, sizeof(*ratios));

    for (k = 0; k < pairs; k++) {
        if (k % 2) {
            rn = bench_raw_slice(&w, slice_ns, &took);
        }
        a0 = b.acked;
        t0 = uv_hrtime();
        uv_update_time(&b.loop);        /* the loop slept through raw */
        uv_timer_start(&b.timer, bench_pause, (uint64_t) slice_ms, 0);
        bench_repo_resume(&b);
        while (!b.paused) {
            uv_run(&b.loop, UV_RUN_ONCE);
        }
        pn = b.acked_at_stop - a0;
        pool_rows += pn;
        pool_ns += b.paused_at - t0;
        while (b.parked < b.ncallers) {
            uv_run(&b.loop, UV_RUN_ONCE);
        }
        uv_sleep(10);
        if (k % 2 == 0) {
            rn = bench_raw_slice(&w, slice_ns, &took);
        }
        raw_rows += rn;
        raw_ns += took;
        ratios[k] = (double) pn / (double) (b.paused_at - t0)
                    / ((double) rn / (double) took);
        if (getenv("STORE_BENCH_TRACE")) {
            fprintf(stderr, "pair %d: pool %ld in %.1f ms, raw %ld in %.1f ms:"
                    " %.3f\n", k, pn, (double) (b.paused_at - t0) / 1e6, rn,
                    (double) took / 1e6, ratios[k]);
        }
    }

    bench_repo_stats(&b, stats, sizeof(stats));
    bench_repo_close(&b);
    bench_raw_close(&w);
    pool = (double) pool_rows / ((double) pool_ns / 1e9);
    raw = (double) raw_rows / ((double) raw_ns / 1e9);
    qsort(ratios, (size_t) pairs, sizeof(*ratios), bench_cmp_double);
    snprintf(extra, extralen, "raw_per_s=%.0f pool_raw=%.3f "
             "pair_median=%.3f pair_min=%.3f pair_max=%.3f pairs=%d "
             "slice_ms=%.0f %s", raw, pool / raw, ratios[pairs / 2],
             ratios[0], ratios[pairs - 1], pairs, slice_ms, stats);
    free(ratios);
    return pool;
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
        { "pairs", required_argument, NULL, 'p' },
        { "slice-ms", required_argument, NULL, 'l' },
        { "writer-affinity", required_argument, NULL, 'a' },
        { NULL, 0, NULL, 0 }
    };
    const char  *db = "bench.db", *mode = "pool", *sync = "normal";
    int          opt, callers = 1, readers = 0, full, pairs = 24;
    double       seconds = 3, rate, slice_ms = 250;
    char         extra[1024];

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
        case 'p': pairs = atoi(optarg); break;
        case 'l': slice_ms = atof(optarg); break;
        case 'a': bench_affinity = strcmp(optarg, "loop") == 0; break;
        default:
            fprintf(stderr, "usage: see bench/store_bench.c\n");
            return 2;
        }
    }
    full = strcmp(sync, "full") == 0;

    if (pairs < 1 || slice_ms < 1) {
        fprintf(stderr, "store_bench: --pairs and --slice-ms must be >= 1\n");
        return 2;
    }
    if (strcmp(mode, "pair") == 0) {
        rate = bench_pair(db, callers, readers, pairs, slice_ms, extra,
                          sizeof(extra));
    } else if (strncmp(mode, "raw", 3) == 0) {
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
