/* The `llm call` subcommand: see mcp_llm_cli.h. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm/mcp_llm.h"
#include "llm/mcp_llm_cli.h"

typedef struct cli_s  cli_t;

typedef struct {
    cli_t          *cli;
    unsigned        index;
    mcp_llm_req_t  *req;
    uv_timer_t      cancel_timer;
} cli_req_t;

struct cli_s {
    uv_loop_t           *loop;
    mcp_llm_t           *llm;
    mcp_llm_call_t       call;
    unsigned             count;
    unsigned             concurrency;
    unsigned             started;
    unsigned             running;
    unsigned             finished;
    unsigned             failed;
    int64_t              cancel_after_ms;   /* -1: never */
    uint64_t             interval_ms;       /* between starts */
    uv_timer_t           interval_timer;
    int                  quiet_text;
    int                  cancel_on_text;
    int                  stats;
    uint64_t             t0;
    cli_req_t           *reqs;
};

static const char  cli_usage[] =
    "usage: mcpd -c CONFIG llm call PROVIDER 'JSON-messages' [options]\n"
    "  PROVIDER            a name under llm.providers, or - for llm.active\n"
    "  JSON-messages       a JSON array, or @FILE holding one (for bodies\n"
    "                      larger than one command-line argument may be)\n"
    "  --stream            stream the answer (SSE)\n"
    "  --count N           send N requests (default 1)\n"
    "  --concurrency C     keep at most C in flight (default 1)\n"
    "  --tools JSON        an OpenAI tools array\n"
    "  --max-tokens N      override the provider's max_tokens\n"
    "  --cancel-after MS   cancel each request MS ms after it starts\n"
    "  --interval MS       start one request every MS ms (sequentially)\n"
    "  --quiet-text        do not print text deltas (counts only)\n"
    "  --cancel-on-text    cancel each request from its first text callback\n"
    "  --no-stats          do not print llm_client_stats at the end\n"
    "Events are JSON lines: text, tool_call, usage, done, error, cancelled,\n"
    "stats.\n";

static void
cli_emit(json_t *o)
{
    char  *s = json_dumps(o, JSON_COMPACT);

    if (s) {
        fputs(s, stdout);
        fputc('\n', stdout);
        free(s);
    }
    json_decref(o);
}

static json_int_t
cli_t_ms(cli_t *cli)
{
    return (json_int_t) (uv_now(cli->loop) - cli->t0);
}

static void cli_start_more(cli_t *cli);
static void cli_req_over(cli_req_t *cr);

static void
cli_on_text(mcp_llm_req_t *r, void *data, const char *text, size_t len)
{
    cli_req_t  *cr = data;

    if (cr->cli->cancel_on_text) {
        /* cancelling from inside the layer's own callback */
        mcp_llm_cancel(r);
        cli_emit(json_pack("{s:s, s:i, s:I}", "event", "cancelled",
                           "req", cr->index, "t_ms", cli_t_ms(cr->cli)));
        cr->cli->failed++;
        cli_req_over(cr);
        return;
    }
    if (cr->cli->quiet_text) {
        return;
    }
    cli_emit(json_pack("{s:s, s:i, s:s%, s:I}", "event", "text",
                       "req", cr->index, "text", text, len,
                       "t_ms", cli_t_ms(cr->cli)));
}

static void
cli_on_tool_call(mcp_llm_req_t *r, void *data, const mcp_llm_tool_call_t *c)
{
    cli_req_t  *cr = data;

    cli_emit(json_pack("{s:s, s:i, s:s, s:s, s:s}", "event", "tool_call",
                       "req", cr->index, "id", mcp_llm_buf_cstr(&c->id),
                       "name", mcp_llm_buf_cstr(&c->name),
                       "arguments", mcp_llm_buf_cstr(&c->arguments)));
}

static void
cli_on_usage(mcp_llm_req_t *r, void *data, const mcp_llm_usage_t *u)
{
    cli_req_t  *cr = data;

    cli_emit(json_pack("{s:s, s:i, s:I, s:I, s:I}", "event", "usage",
                       "req", cr->index,
                       "prompt_tokens", (json_int_t) u->prompt_tokens,
                       "completion_tokens", (json_int_t) u->completion_tokens,
                       "total_tokens", (json_int_t) u->total_tokens));
}

static void
cli_req_over(cli_req_t *cr)
{
    cli_t  *cli = cr->cli;

    cr->req = NULL;
    uv_timer_stop(&cr->cancel_timer);
    cli->running--;
    cli->finished++;
    cli_start_more(cli);
    if (cli->finished == cli->count) {
        uv_stop(cli->loop);     /* idle connections must not keep us */
    }
}

static void
cli_on_done(mcp_llm_req_t *r, void *data, const mcp_llm_result_t *res)
{
    cli_req_t  *cr = data;
    cli_t      *cli = cr->cli;

    if (res->err == MCP_LLM_OK) {
        cli_emit(json_pack("{s:s, s:i, s:s, s:s, s:s, s:i, s:b, s:I, s:I,"
                           " s:I}",
            "event", "done", "req", cr->index,
            "finish_reason", res->finish_reason, "provider", res->provider,
            "model", res->model, "attempts", res->attempts,
            "fell_back", res->fell_back,
            "latency_ms", (json_int_t) res->latency_ms,
            "ttft_ms", (json_int_t) res->ttft_ms, "t_ms", cli_t_ms(cli)));
    } else {
        cli->failed++;
        cli_emit(json_pack("{s:s, s:i, s:s, s:s, s:s, s:i, s:i, s:b, s:I,"
                           " s:I}",
            "event", "error", "req", cr->index,
            "code", mcp_llm_err_name(res->err), "message", res->message,
            "provider", res->provider, "attempts", res->attempts,
            "http_status", (int) res->http_status,
            "fell_back", res->fell_back,
            "latency_ms", (json_int_t) res->latency_ms,
            "t_ms", cli_t_ms(cli)));
    }
    cli_req_over(cr);
}

static void
cli_on_cancel_timer(uv_timer_t *t)
{
    cli_req_t  *cr = t->data;

    if (cr->req == NULL) {
        return;
    }
    mcp_llm_cancel(cr->req);
    cli_emit(json_pack("{s:s, s:i, s:I}", "event", "cancelled",
                       "req", cr->index, "t_ms", cli_t_ms(cr->cli)));
    cr->cli->failed++;
    cli_req_over(cr);
}

static const mcp_llm_callbacks_t  cli_cbs = {
    cli_on_text, cli_on_tool_call, cli_on_usage, cli_on_done
};

static void
cli_start_one(cli_t *cli)
{
    cli_req_t      *cr = &cli->reqs[cli->started];
    mcp_llm_err_e   err;
    const char     *msg;

    cr->cli = cli;
    cr->index = cli->started++;
    cli->running++;
    cr->req = mcp_llm_start(cli->llm, &cli->call, &cli_cbs, cr, &err, &msg);
    if (cr->req == NULL) {
        cli->failed++;
        cli_emit(json_pack("{s:s, s:i, s:s, s:s, s:i, s:I}", "event", "error",
                           "req", cr->index, "code", mcp_llm_err_name(err),
                           "message", msg, "attempts", 0,
                           "t_ms", cli_t_ms(cli)));
        cli->running--;
        cli->finished++;
        if (cli->finished == cli->count) {
            uv_stop(cli->loop);
        }
        return;
    }
    if (cli->cancel_after_ms >= 0) {
        uv_timer_start(&cr->cancel_timer, cli_on_cancel_timer,
                       (uint64_t) cli->cancel_after_ms, 0);
    }
}

static void
cli_on_interval(uv_timer_t *t)
{
    cli_t  *cli = t->data;

    if (cli->started < cli->count) {
        cli_start_one(cli);
    }
    if (cli->started == cli->count) {
        uv_timer_stop(t);
    }
}

static void
cli_start_more(cli_t *cli)
{
    if (cli->interval_ms) {
        if (cli->started == 0) {
            cli_start_one(cli);
            uv_timer_start(&cli->interval_timer, cli_on_interval,
                           cli->interval_ms, cli->interval_ms);
        }
        return;
    }
    while (cli->started < cli->count && cli->running < cli->concurrency) {
        cli_start_one(cli);
    }
}

static void
cli_closed(void *ctx)
{
    int  *closed = ctx;

    *closed = 1;
}

static int
cli_parse(cli_t *cli, int argc, char **argv, json_error_t *jerr)
{
    int  i;

    if (argc < 4 || strcmp(argv[1], "call") != 0) {
        return -1;
    }
    cli->call.provider = strcmp(argv[2], "-") == 0 ? NULL : argv[2];
    /* read before the loop starts: nothing else runs yet */
    cli->call.messages = argv[3][0] == '@' ? json_load_file(argv[3] + 1, 0, jerr)
                                           : json_loads(argv[3], 0, jerr);
    if (!json_is_array(cli->call.messages)) {
        fprintf(stderr, "mcpd llm: messages must be a JSON array: %s\n",
                jerr->text);
        return -2;
    }

    for (i = 4; i < argc; i++) {
        if (strcmp(argv[i], "--stream") == 0) {
            cli->call.stream = 1;
        } else if (strcmp(argv[i], "--cancel-on-text") == 0) {
            cli->cancel_on_text = 1;
        } else if (strcmp(argv[i], "--quiet-text") == 0) {
            cli->quiet_text = 1;
        } else if (strcmp(argv[i], "--no-stats") == 0) {
            cli->stats = 0;
        } else if (i + 1 < argc && strcmp(argv[i], "--count") == 0) {
            cli->count = (unsigned) strtoul(argv[++i], NULL, 10);
        } else if (i + 1 < argc && strcmp(argv[i], "--concurrency") == 0) {
            cli->concurrency = (unsigned) strtoul(argv[++i], NULL, 10);
        } else if (i + 1 < argc && strcmp(argv[i], "--max-tokens") == 0) {
            cli->call.max_tokens = strtoll(argv[++i], NULL, 10);
        } else if (i + 1 < argc && strcmp(argv[i], "--interval") == 0) {
            cli->interval_ms = strtoull(argv[++i], NULL, 10);
        } else if (i + 1 < argc && strcmp(argv[i], "--cancel-after") == 0) {
            cli->cancel_after_ms = strtoll(argv[++i], NULL, 10);
        } else if (i + 1 < argc && strcmp(argv[i], "--tools") == 0) {
            cli->call.tools = json_loads(argv[++i], 0, jerr);
            if (!json_is_array(cli->call.tools)) {
                fprintf(stderr, "mcpd llm: --tools must be a JSON array\n");
                return -2;
            }
        } else {
            return -1;
        }
    }
    if (cli->count == 0 || cli->count > 10000000 || cli->concurrency == 0) {
        return -1;
    }
    return 0;
}

int
mcp_llm_cli(uv_loop_t *loop, const mcp_llm_conf_t *conf,
    const mcp_log_t *log, int argc, char **argv)
{
    cli_t         cli;
    json_error_t  jerr;
    mcp_err_t     err;
    unsigned      i;
    int           rc, closed = 0;

    memset(&cli, 0, sizeof(cli));
    cli.loop = loop;
    cli.count = 1;
    cli.concurrency = 1;
    cli.cancel_after_ms = -1;
    cli.stats = 1;

    rc = cli_parse(&cli, argc, argv, &jerr);
    if (rc != 0) {
        if (rc == -1) {
            fputs(cli_usage, stderr);
        }
        json_decref(cli.call.messages);
        json_decref(cli.call.tools);
        return 2;
    }

    if (mcp_llm_init(&cli.llm, cli.loop, conf, log, &err) != 0) {
        fprintf(stderr, "mcpd llm: %s\n", err.msg);
        json_decref(cli.call.messages);
        json_decref(cli.call.tools);
        return 2;
    }

    cli.reqs = calloc(cli.count, sizeof(*cli.reqs));
    for (i = 0; cli.reqs && i < cli.count; i++) {
        uv_timer_init(cli.loop, &cli.reqs[i].cancel_timer);
        cli.reqs[i].cancel_timer.data = &cli.reqs[i];
    }
    uv_timer_init(cli.loop, &cli.interval_timer);
    cli.interval_timer.data = &cli;
    cli.t0 = uv_now(cli.loop);
    if (cli.reqs) {
        cli_start_more(&cli);
        uv_run(cli.loop, UV_RUN_DEFAULT);
    }

    if (cli.stats) {
        cli_emit(json_pack("{s:s, s:o}", "event", "stats",
                           "llm_client_stats", mcp_llm_stats(cli.llm)));
    }
    fflush(stdout);

    for (i = 0; cli.reqs && i < cli.count; i++) {
        uv_close((uv_handle_t *) &cli.reqs[i].cancel_timer, NULL);
    }
    uv_close((uv_handle_t *) &cli.interval_timer, NULL);
    mcp_llm_close(cli.llm, cli_closed, &closed);
    /* the daemon may own other handles on this loop: run only until ours
       are closed */
    while (!closed) {
        uv_run(cli.loop, UV_RUN_ONCE);
    }
    uv_run(cli.loop, UV_RUN_NOWAIT);
    free(cli.reqs);
    json_decref(cli.call.messages);
    json_decref(cli.call.tools);
    return cli.failed || cli.reqs == NULL ? 1 : 0;
}

