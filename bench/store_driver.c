/*
 * store_driver: drives the repository exactly as mcpd does (same config
 * binding, same mcp_repo_open, the loop, the asynchronous appends) and
 * prints one line per append it has been told is durable, so a test can
 * kill -9 it mid-write and check every acknowledged row afterwards.
 *
 *   store_driver [-c mcpd.yaml] [--db PATH] [--sync normal|full]
 *                [--no-pooling] [--callers N] [--count N]
 *                [--max-errors N] [--conversation ID]
 *
 * Output (stdout, flushed per line):
 *   READY <path>
 *   ACK <request_id> <row id>        durable: committed
 *   ERR <status> <message>           that append failed, nothing stored
 *   DONE acked=N errors=N
 * An open failure prints "FATAL <message>" and exits 1.
 *
 * Content of request r-<caller>-<n>: see store_driver_content(); the test
 * rebuilds it and compares byte for byte.
 */

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mcp_conf.h"
#include "repo/mcp_repo.h"

typedef struct store_driver_s  store_driver_t;

typedef struct {
    store_driver_t  *drv;
    int              idx;
    long             n;
    int              busy;
} store_caller_t;

struct store_driver_s {
    mcp_repo_t      *repo;
    const char      *conv;
    long             count;        /* appends per caller; 0: forever */
    long             acked;
    long             errors;
    long             max_errors;
    int              running;
};

static void store_caller_next(store_caller_t *c);


/* ~300 bytes: starts with '[', has UTF-8, ends with the request id */
static size_t
store_driver_content(char *buf, size_t len, const char *rid)
{
    size_t  n;

    n = (size_t) snprintf(buf, len, "[%s] héllo wörld — ", rid);
    while (n < 290 && n + 1 < len) {
        buf[n] = (char) ('a' + n % 26);
        n++;
    }
    n += (size_t) snprintf(buf + n, len - n, " %s", rid);
    return n;
}


static void
store_append_cb(const mcp_repo_result_t *res, void *data)
{
    store_caller_t  *c = data;
    store_driver_t  *d = c->drv;

    c->busy = 0;
    if (res->status == MCP_REPO_OK) {
        d->acked++;
        printf("ACK r-%d-%ld %lld\n", c->idx, c->n, (long long) res->id);
        c->n++;
    } else {
        d->errors++;
        printf("ERR %d %s\n", res->status, res->error);
    }
    fflush(stdout);
    if (d->max_errors && d->errors >= d->max_errors) {
        d->count = -1;          /* stop every caller */
    }
    store_caller_next(c);
}


static void
store_caller_next(store_caller_t *c)
{
    store_driver_t     *d = c->drv;
    mcp_repo_append_t   a;
    char                rid[64], text[512];

    if (d->count < 0 || (d->count > 0 && c->n >= d->count)) {
        if (--d->running == 0) {
            printf("DONE acked=%ld errors=%ld\n", d->acked, d->errors);
            fflush(stdout);
            mcp_repo_close(d->repo);
        }
        return;
    }
    snprintf(rid, sizeof(rid), "r-%d-%ld", c->idx, c->n);
    memset(&a, 0, sizeof(a));
    a.msg.conversation_id = (char *) d->conv;
    a.msg.type = MCP_MSG_USER;
    a.msg.content = text;
    a.msg.content_len = store_driver_content(text, sizeof(text), rid);
    a.msg.request_id = rid;
    a.msg.token_count = 75;
    a.final = 1;
    c->busy = 1;
    if (mcp_repo_append(d->repo, &a, store_append_cb, c) != 0) {
        printf("ERR -1 cannot queue\n");
        d->count = -1;
    }
}


static void
store_conv_cb(const mcp_repo_result_t *res, void *data)
{
    store_caller_t  *callers = data;
    store_driver_t  *d = callers[0].drv;
    int              i, n = d->running;

    if (res->status != MCP_REPO_OK) {
        printf("FATAL %s\n", res->error);
        fflush(stdout);
        exit(1);
    }
    for (i = 0; i < n; i++) {
        store_caller_next(&callers[i]);
    }
}


int
main(int argc, char **argv)
{
    static const struct option  opts[] = {
        { "config", required_argument, NULL, 'c' },
        { "db", required_argument, NULL, 'd' },
        { "sync", required_argument, NULL, 's' },
        { "no-pooling", no_argument, NULL, 'P' },
        { "callers", required_argument, NULL, 'n' },
        { "count", required_argument, NULL, 'k' },
        { "max-errors", required_argument, NULL, 'e' },
        { "conversation", required_argument, NULL, 'C' },
        { NULL, 0, NULL, 0 }
    };
    mcp_conf_t           conf;
    mcp_cfg_node_t      *root = NULL;
    mcp_repo_conf_t      rc;
    mcp_persist_conf_t   pc;
    mcp_err_t            err;
    store_driver_t       d;
    store_caller_t      *callers;
    uv_loop_t           *loop = uv_default_loop();
    const char          *cfile = NULL, *db = NULL, *sync = NULL;
    int                  opt, ncallers = 16, nopool = 0, i, loaded = 0;

    memset(&d, 0, sizeof(d));
    d.conv = "driver";
    while ((opt = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
        switch (opt) {
        case 'c': cfile = optarg; break;
        case 'd': db = optarg; break;
        case 's': sync = optarg; break;
        case 'P': nopool = 1; break;
        case 'n': ncallers = atoi(optarg); break;
        case 'k': d.count = atol(optarg); break;
        case 'e': d.max_errors = atol(optarg); break;
        case 'C': d.conv = optarg; break;
        default:
            fprintf(stderr, "usage: see bench/store_driver.c\n");
            return 2;
        }
    }

    if (cfile) {
        if (mcp_conf_load(cfile, &conf, &root, &err) != 0) {
            printf("FATAL %s\n", err.msg);
            return 1;
        }
        loaded = 1;
        rc = conf.chat.service.repository;
        pc = conf.persistence;
    } else {
        mcp_repo_conf_defaults(&rc, &pc);
        rc.path = "run/events.db";
    }
    if (db) {
        rc.path = (char *) db;
    }
    if (sync) {
        rc.synchronous = strcmp(sync, "full") == 0 ? MCP_REPO_SYNC_FULL
                                                   : MCP_REPO_SYNC_NORMAL;
    }
    if (nopool) {
        rc.pool.enable_pooling = 0;
    }

    d.repo = mcp_repo_open(loop, &rc, &pc, &err);
    if (d.repo == NULL) {
        printf("FATAL %s\n", err.msg);
        fflush(stdout);
        return 1;
    }
    printf("READY %s\n", rc.path);
    fflush(stdout);

    callers = calloc((size_t) ncallers, sizeof(*callers));
    for (i = 0; i < ncallers; i++) {
        callers[i].drv = &d;
        callers[i].idx = i;
    }
    d.running = ncallers;
    mcp_repo_conversation_open(d.repo, "driver", d.conv, NULL, store_conv_cb,
                               callers);
    uv_run(loop, UV_RUN_DEFAULT);

    free(callers);
    if (loaded) {
        mcp_conf_free(&conf, root);
    }
    uv_loop_close(loop);
    return d.errors ? 3 : 0;
}
