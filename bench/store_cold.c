/*
 * store_cold: what a long conversation's first append after a start costs
 * the other conversations (docs/storage.md, "Warming on a reader").
 *
 *   store_cold --db PATH [--messages N] [--convs N] [--callers N]
 *              [--drop-caches]
 *
 * Fills --convs conversations (default 16) with --messages answered
 * requests each (default 20,000: 320,000 rows, the chains interleaved as
 * real traffic leaves them), closes and reopens the repository (no
 * request set survives a start), then sends one append with a new
 * request id to the first conversation while --callers (default 4) append
 * to a conversation of their own, one after the other, until it is
 * stored.  The peer, in the same run: the walk of that chain by one
 * connection, as the writer did it before warming existed, in front of
 * every other write.  --drop-caches (root) empties the kernel's page
 * cache before each, as after a reboot; without it the file is cached, as
 * after a restart of mcpd alone.
 *
 * Prints one line:
 *   RESULT chain=.. cold_append_ms=.. inline_walk_ms=.. others_appends=..
 *          others_p50_ms=.. others_p99_ms=.. others_max_ms=.. warmed=..
 */

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "repo/mcp_repo.h"
#include "repo/mcp_repo_int.h"     /* the peer: the writer's own walk */
#include "util/mcp_hist.h"

typedef struct {
    mcp_repo_t  *repo;
    int          left;          /* fill: appends not yet stored */
    int          cold_done;
    uint64_t     cold_us;
    long         appends;
    uint64_t     max_us;
    mcp_hist_t   us;
} cold_t;

typedef struct {
    cold_t      *c;
    int          idx;
    long         n;
    uint64_t     t0;
} cold_caller_t;

static const char  cold_text[] =
    "A message of about the size the store benchmark uses, so that a page"
    " holds a dozen rows and a chain of one conversation among several"
    " touches a new page at almost every step of its walk; the content"
    " itself does not matter to the walk, which reads only the short"
    " columns in front of it.";


static void
cold_fail(const mcp_repo_result_t *res)
{
    fprintf(stderr, "store_cold: %s\n", res->error ? res->error : "failed");
    exit(1);
}


static void
cold_fill_cb(const mcp_repo_result_t *res, void *data)
{
    cold_t  *c = data;

    if (res->status != MCP_REPO_OK) {
        cold_fail(res);
    }
    c->left--;
}


static int
cold_append(mcp_repo_t *repo, const char *conv, const char *rid,
    mcp_repo_cb_pt cb, void *data)
{
    mcp_repo_append_t  a;

    memset(&a, 0, sizeof(a));
    a.msg.conversation_id = (char *) conv;
    a.msg.type = MCP_MSG_USER;
    a.msg.content = (char *) cold_text;
    a.msg.content_len = sizeof(cold_text) - 1;
    a.msg.request_id = (char *) rid;
    a.msg.token_count = 70;
    a.final = 1;
    return mcp_repo_append(repo, &a, cb, data);
}


static void
cold_run_loop(uv_loop_t *loop, int *left)
{
    while (*left > 0) {
        uv_run(loop, UV_RUN_ONCE);
    }
}


/* convs conversations of messages requests each, round robin */
static void
cold_fill(cold_t *c, uv_loop_t *loop, int convs, int messages)
{
    char  conv[32], rid[32];
    int   i, k;

    for (k = 0; k < convs; k++) {
        snprintf(conv, sizeof(conv), "c%d", k);
        c->left++;
        mcp_repo_conversation_open(c->repo, "bench", conv, NULL, cold_fill_cb,
                                   c);
    }
    cold_run_loop(loop, &c->left);
    for (i = 0; i < messages; i++) {
        for (k = 0; k < convs; k++) {
            snprintf(conv, sizeof(conv), "c%d", k);
            snprintf(rid, sizeof(rid), "r%d", i);
            c->left++;
            cold_append(c->repo, conv, rid, cold_fill_cb, c);
        }
        if (c->left >= 1024) {
            cold_run_loop(loop, &c->left);
        }
    }
    c->left++;
    mcp_repo_conversation_open(c->repo, "bench", "other", NULL, cold_fill_cb,
                               c);
    cold_run_loop(loop, &c->left);
}


static void cold_other_next(cold_caller_t *cc);


static void
cold_other_cb(const mcp_repo_result_t *res, void *data)
{
    cold_caller_t  *cc = data;
    cold_t         *c = cc->c;
    uint64_t        us = (uv_hrtime() - cc->t0) / 1000;

    if (c->cold_done) {
        return;                 /* counted until the cold one is stored */
    }
    if (res->status != MCP_REPO_OK) {
        cold_fail(res);
    }
    c->appends++;
    mcp_hist_record(&c->us, us);
    if (us > c->max_us) {
        c->max_us = us;
    }
    cold_other_next(cc);
}


static void
cold_other_next(cold_caller_t *cc)
{
    char  rid[48];

    snprintf(rid, sizeof(rid), "o%d-%ld", cc->idx, cc->n++);
    cc->t0 = uv_hrtime();
    cold_append(cc->c->repo, "other", rid, cold_other_cb, cc);
}


static void
cold_first_cb(const mcp_repo_result_t *res, void *data)
{
    cold_t  *c = data;

    if (res->status != MCP_REPO_OK || res->duplicate) {
        cold_fail(res);
    }
    c->cold_us = uv_hrtime() / 1000 - c->cold_us;
    c->cold_done = 1;
}


static int  cold_drop;


/* --drop-caches: the file read from the disk again, as after a reboot */
static void
cold_drop_caches(void)
{
    FILE  *f;

    if (!cold_drop) {
        return;
    }
    sync();
    f = fopen("/proc/sys/vm/drop_caches", "w");
    if (f == NULL || fputs("1\n", f) < 0 || fclose(f) != 0) {
        fprintf(stderr, "store_cold: --drop-caches needs root\n");
        exit(1);
    }
}


/* The peer: the chain's keys read by one connection, as the writer did. */
static double
cold_inline_walk(const mcp_repo_conf_t *rc)
{
    mcp_repo_t     fake;
    mcp_conn_t     conn;
    mcp_reqset_t  *set;
    char           msg[256];
    int64_t        head, next;
    size_t         walked;
    uint64_t       t0;
    int            rc_;

    memset(&fake, 0, sizeof(fake));
    cold_drop_caches();
    if (mcp_conn_open(&conn, rc, 1, msg, sizeof(msg)) != SQLITE_OK) {
        fprintf(stderr, "store_cold: %s\n", msg);
        exit(1);
    }
    set = mcp_reqset_alloc(&fake.reqsets);
    t0 = uv_hrtime();
    rc_ = mcp_chain_head(&conn, "c0", &head, NULL);
    if (rc_ != SQLITE_ROW || set == NULL
        || mcp_reqset_walk(set, &conn, "c0", head, 0, SIZE_MAX, &next,
                           &walked)
           != SQLITE_OK)
    {
        fprintf(stderr, "store_cold: the walk failed\n");
        exit(1);
    }
    t0 = uv_hrtime() - t0;
    mcp_reqset_drop(set);
    mcp_conn_close(&conn);
    return (double) t0 / 1e6;
}


static int64_t
cold_stat(mcp_repo_t *repo, const char *key)
{
    json_t   *st = mcp_repo_stats(repo);
    int64_t   v;

    v = json_integer_value(json_object_get(json_object_get(st,
                                           "request_sets"), key));
    json_decref(st);
    return v;
}


int
main(int argc, char **argv)
{
    static const struct option  opts[] = {
        { "db", required_argument, NULL, 'd' },
        { "messages", required_argument, NULL, 'm' },
        { "convs", required_argument, NULL, 'c' },
        { "callers", required_argument, NULL, 'n' },
        { "drop-caches", no_argument, NULL, 'D' },
        { NULL, 0, NULL, 0 }
    };
    mcp_repo_conf_t      rc;
    mcp_persist_conf_t   pc;
    mcp_err_t            err;
    uv_loop_t            loop;
    cold_t               c;
    cold_caller_t       *cs;
    const char          *db = NULL;
    int                  messages = 20000, convs = 16, callers = 4, o, i;
    int64_t              warmed;

    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'd': db = optarg; break;
        case 'm': messages = atoi(optarg); break;
        case 'c': convs = atoi(optarg); break;
        case 'n': callers = atoi(optarg); break;
        case 'D': cold_drop = 1; break;
        default: return 2;
        }
    }
    if (db == NULL || messages < 1 || convs < 1 || callers < 1) {
        fprintf(stderr, "usage: store_cold --db PATH [--messages N] "
                "[--convs N] [--callers N]\n");
        return 2;
    }
    mcp_repo_conf_defaults(&rc, &pc);
    rc.path = (char *) db;
    pc.retention_policy = MCP_RETAIN_UNLIMITED;
    memset(&c, 0, sizeof(c));
    mcp_hist_reset(&c.us);
    uv_loop_init(&loop);

    c.repo = mcp_repo_open(&loop, &rc, &pc, &err);
    if (c.repo == NULL) {
        fprintf(stderr, "store_cold: %s\n", err.msg);
        return 1;
    }
    cold_fill(&c, &loop, convs, messages);
    mcp_repo_close(c.repo);
    uv_run(&loop, UV_RUN_DEFAULT);

    /* a start: no set is held; the first append to c0 needs its chain */
    cold_drop_caches();
    c.repo = mcp_repo_open(&loop, &rc, &pc, &err);
    if (c.repo == NULL) {
        fprintf(stderr, "store_cold: %s\n", err.msg);
        return 1;
    }
    cs = calloc((size_t) callers, sizeof(*cs));
    c.cold_us = uv_hrtime() / 1000;
    cold_append(c.repo, "c0", "a-new-request", cold_first_cb, &c);
    for (i = 0; i < callers; i++) {
        cs[i].c = &c;
        cs[i].idx = i;
        cold_other_next(&cs[i]);
    }
    while (!c.cold_done) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    warmed = cold_stat(c.repo, "warmed");
    mcp_repo_close(c.repo);         /* the callers' last appends end */
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);

    printf("RESULT chain=%d cold_append_ms=%.1f inline_walk_ms=%.1f "
           "others_appends=%ld others_p50_ms=%.2f others_p99_ms=%.2f "
           "others_max_ms=%.2f warmed=%lld caches=%s\n", messages + 1,
           (double) c.cold_us / 1000.0, cold_inline_walk(&rc), c.appends,
           (double) mcp_hist_quantile(&c.us, 0.5) / 1000.0,
           (double) mcp_hist_quantile(&c.us, 0.99) / 1000.0,
           (double) c.max_us / 1000.0, (long long) warmed,
           cold_drop ? "dropped" : "kept");
    free(cs);
    return 0;
}
