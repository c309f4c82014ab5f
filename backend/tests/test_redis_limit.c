/*
 * The fleet-wide TPM window against a real redis-server (started here on a
 * unix socket in a temp dir), with a 1 s window so the test can watch
 * entries leave it: a settle must correct the window for exactly as long
 * as the reservation it corrects is in it, and tokens it frees must be
 * usable at once by a request that was told to wait.  Skipped (passes
 * nothing, fails nothing) when redis-server is not installed.
 */

#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unit.h"
#include "redis/mcp_redis_limit.h"

#define TPM        1000
#define WINDOW_MS  1000

typedef struct {
    char                dir[64];
    char                sock[128];
    char                address[160];
    pid_t               server;
    uv_loop_t           loop;
    mcp_log_t           log;
    mcp_redis_conf_t    conf;
    mcp_redis_t         redis;
    mcp_redis_limit_t   lim;
    mcp_llm_gate_t      gate;
    int                 closed;
} fx_t;


static int
fx_server_start(fx_t *f)
{
    struct stat  st;
    int          i;

    snprintf(f->dir, sizeof(f->dir), "/tmp/mcp-rl-XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        return -1;
    }
    snprintf(f->sock, sizeof(f->sock), "%s/redis.sock", f->dir);
    f->server = fork();
    if (f->server == 0) {
        int  null = open("/dev/null", O_WRONLY);

        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
        execlp("redis-server", "redis-server", "--port", "0",
               "--unixsocket", f->sock, "--save", "", "--appendonly", "no",
               "--dir", f->dir, "--loglevel", "warning", (char *) NULL);
        _exit(127);
    }
    for (i = 0; i < 500; i++) {               /* at most 5 s */
        if (stat(f->sock, &st) == 0) {
            return 0;
        }
        usleep(10000);
    }
    return -1;
}

static void
fx_server_stop(fx_t *f)
{
    char  path[200];

    if (f->server > 0) {
        kill(f->server, SIGKILL);
        waitpid(f->server, NULL, 0);
    }
    unlink(f->sock);
    snprintf(path, sizeof(path), "%s/dump.rdb", f->dir);
    unlink(path);
    rmdir(f->dir);
}

/* Run the loop until *flag (or its negation) holds, at most ~5 s. */
static void
fx_run_until(fx_t *f, int (*done)(fx_t *f))
{
    uint64_t  end = uv_hrtime() + 5000000000ULL;

    while (!done(f) && uv_hrtime() < end) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
}

static int
fx_up(fx_t *f)
{
    return mcp_redis_up(&f->redis);
}

static int
fx_idle(fx_t *f)
{
    return f->redis.inflight == 0;
}

static void
fx_sleep(fx_t *f, uint64_t ms)
{
    uint64_t  end = uv_hrtime() + ms * 1000000ULL;

    while (uv_hrtime() < end) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
}

static int
fx_start(fx_t *f)
{
    memset(f, 0, sizeof(*f));
    if (access("/usr/bin/redis-server", X_OK) != 0) {
        fprintf(stderr, "  no redis-server: skipped\n");
        return -1;
    }
    CHECK(fx_server_start(f) == 0);
    snprintf(f->address, sizeof(f->address), "unix:%s", f->sock);
    f->conf.address = f->address;
    f->conf.key_prefix = "t:";
    f->conf.instance_id = "unit";
    f->conf.connect_timeout_ms = 2000;
    f->conf.command_timeout_ms = 2000;
    f->conf.reconnect_min_ms = 50;
    f->conf.reconnect_max_ms = 500;
    f->conf.heartbeat_interval_ms = 1000;
    f->conf.heartbeat_ttl_ms = 3000;
    uv_loop_init(&f->loop);
    mcp_log_init(&f->log, MCP_LOG_ERROR, 0);
    CHECK(mcp_redis_init(&f->redis, &f->loop, &f->conf, &f->log) == 0);
    CHECK(mcp_redis_limit_init(&f->lim, &f->redis, NULL) == 0);
    f->lim.window_ms = WINDOW_MS;
    mcp_redis_limit_gate(&f->lim, &f->gate);
    mcp_redis_start(&f->redis);
    fx_run_until(f, fx_up);
    CHECK(mcp_redis_up(&f->redis));
    return mcp_redis_up(&f->redis) ? 0 : -1;
}

static void
fx_part_closed(fx_t *f)
{
    f->closed++;
}

static void
fx_lim_closed(uv_handle_t *h)
{
    fx_part_closed((fx_t *) ((char *) h->data - offsetof(fx_t, lim)));
}

static void
fx_redis_closed(void *ctx)
{
    fx_part_closed(ctx);
}

static int
fx_all_closed(fx_t *f)
{
    return f->closed == 2;
}

static void
fx_stop(fx_t *f)
{
    mcp_redis_limit_close(&f->lim, fx_lim_closed);
    mcp_redis_close(&f->redis, fx_redis_closed, f);
    fx_run_until(f, fx_all_closed);
    CHECK(fx_all_closed(f));
    uv_run(&f->loop, UV_RUN_NOWAIT);
    CHECK(uv_loop_close(&f->loop) == 0);
    mcp_redis_free(&f->redis);
    fx_server_stop(f);
}

/*
 * One request through the gate: 0 admitted (*ticket set), or the ms to
 * wait.  The first ask only sends the script; its reply decides.
 */
static int64_t
fx_ask(fx_t *f, int64_t tokens, uint64_t *ticket)
{
    int64_t  wait;

    *ticket = 0;
    wait = f->gate.acquire(f->gate.ctx, "p", 0, TPM, tokens, ticket);
    if (wait <= 0 || !f->lim.provs[0].pending) {
        return wait;
    }
    fx_run_until(f, fx_idle);
    return f->gate.acquire(f->gate.ctx, "p", 0, TPM, tokens, ticket);
}

static void
fx_settle(fx_t *f, uint64_t ticket, int64_t reserved, int64_t used)
{
    f->gate.settle(f->gate.ctx, "p", TPM, ticket, reserved, used);
    fx_run_until(f, fx_idle);
}


/*
 * A reserves 900 and, 300 ms later, settles at 100; B reserves 900
 * (100 + 900 fits).
 * Once A's reservation has left the window only B's 900 is in it, so C's
 * 900 must wait: a correction that outlived A would let C in (1800 in
 * one window).
 */
static void
test_settle_leaves_the_window_with_its_reservation(void)
{
    fx_t      f;
    uint64_t  a, b, c, t0;

    if (fx_start(&f) != 0) {
        fx_server_stop(&f);
        return;
    }
    t0 = uv_hrtime();
    CHECK_EQ_INT(fx_ask(&f, 900, &a), 0);
    CHECK(a != 0);
    fx_sleep(&f, 300);                  /* A's request takes a while */
    fx_settle(&f, a, 900, 100);
    CHECK_EQ_INT(fx_ask(&f, 900, &b), 0);
    CHECK(b != 0 && b != a);
    /* past A's reservation, well inside B's and A's settle (300 ms later) */
    fx_sleep(&f, WINDOW_MS + 100 - (uv_hrtime() - t0) / 1000000);
    CHECK(fx_ask(&f, 900, &c) > 0);
    CHECK(f.lim.provs[0].shared_waits >= 1);
    fx_stop(&f);
}

/*
 * A reserves 900; B's 900 is told to wait (about a window).  A settles at
 * 100: B fits now and must be asked for again at once, not after the
 * wait it was given.
 */
static void
test_settle_that_frees_tokens_lets_a_waiter_in(void)
{
    fx_t      f;
    uint64_t  a, b;

    if (fx_start(&f) != 0) {
        fx_server_stop(&f);
        return;
    }
    CHECK_EQ_INT(fx_ask(&f, 900, &a), 0);
    CHECK(fx_ask(&f, 900, &b) > 100);
    fx_settle(&f, a, 900, 100);
    CHECK_EQ_INT(fx_ask(&f, 900, &b), 0);
    CHECK(b != 0 && b != a);
    fx_stop(&f);
}


int
main(void)
{
    static const unit_test_t  tests[] = {
        UNIT_TEST(test_settle_leaves_the_window_with_its_reservation),
        UNIT_TEST(test_settle_that_frees_tokens_lets_a_waiter_in),
    };

    signal(SIGPIPE, SIG_IGN);
    return unit_run("redis_limit", tests, sizeof(tests) / sizeof(tests[0]));
}
