/*
 * stdio transport: the server is a child process (libuv), JSON-RPC goes
 * newline-delimited over its stdin/stdout, its stderr lines go to mcpd's
 * log tagged with the server's name.
 *
 * Shutdown follows the MCP spec: close stdin, wait, SIGTERM, wait,
 * SIGKILL.  The struct lives until the child has exited and all three
 * pipes and the timer are closed, whatever order those happen in.
 */

#include "mcp/mcp_jsonrpc.h"
#include "mcp/mcp_transport.h"
#include "util/mcp_cpu.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char  **environ;

#define MCP_STDIO_GRACE_MS   2000
#define MCP_STDERR_LINE_MAX  4096
#define MCP_GARBAGE_LOG_MAX  5

typedef struct {
    mcp_transport_t      t;
    mcp_transport_env_t  env;
    uv_process_t         proc;
    uv_pipe_t            in, out, err;
    uv_timer_t           kill_timer;
    mcp_framer_t         out_framer;
    mcp_framer_t         err_framer;
    int                  handles;      /* open uv handles */
    int                  exited;
    int                  closing;      /* owner called close(): be silent */
    int                  dead;         /* closed() reported */
    int                  kill_stage;
    unsigned             garbage;
    char               **envp;
    char                 why[128];
    char                 name[132];    /* the owner's conf may go first */
    char                 rbuf[65536];
} mcp_stdio_t;

typedef struct {
    uv_write_t   req;
    char        *buf;
} mcp_stdio_write_t;


static void
mcp_stdio_handle_closed(uv_handle_t *h)
{
    mcp_stdio_t  *s = h->data;
    char        **e;

    if (--s->handles > 0) {
        return;
    }
    mcp_framer_free(&s->out_framer);
    mcp_framer_free(&s->err_framer);
    for (e = s->envp; e && *e; e++) {
        free(*e);
    }
    free(s->envp);
    free(s);
}


static void
mcp_stdio_close_handle(uv_handle_t *h)
{
    if (!uv_is_closing(h)) {
        uv_close(h, mcp_stdio_handle_closed);
    }
}


static void
mcp_stdio_report(mcp_stdio_t *s, const char *why)
{
    if (s->dead || s->closing) {
        return;
    }
    s->dead = 1;
    s->env.cb.closed(s->env.cb.ctx, why, 0);
}


static void
mcp_stdio_kill_step(uv_timer_t *timer)
{
    mcp_stdio_t  *s = timer->data;

    if (s->exited) {
        return;
    }
    if (s->kill_stage == 0) {
        s->kill_stage = 1;
        uv_process_kill(&s->proc, SIGTERM);
        uv_timer_start(&s->kill_timer, mcp_stdio_kill_step,
                       MCP_STDIO_GRACE_MS, 0);
    } else {
        uv_process_kill(&s->proc, SIGKILL);
    }
}


/* no more messages either way: close stdin, then escalate if needed */
static void
mcp_stdio_shutdown(mcp_stdio_t *s, int grace)
{
    mcp_stdio_close_handle((uv_handle_t *) &s->in);
    if (s->exited) {
        return;    /* the reap timer finishes the job */
    }
    if (!grace) {
        s->kill_stage = 1;
        uv_process_kill(&s->proc, SIGKILL);
        return;
    }
    if (!uv_is_active((uv_handle_t *) &s->kill_timer)) {
        uv_timer_start(&s->kill_timer, mcp_stdio_kill_step,
                       MCP_STDIO_GRACE_MS, 0);
    }
}


/* after exit: output still in the pipes has been read; report, close */
static void
mcp_stdio_reap(uv_timer_t *timer)
{
    mcp_stdio_t  *s = timer->data;

    mcp_stdio_report(s, s->why);
    mcp_stdio_close_handle((uv_handle_t *) &s->kill_timer);
    /* a grandchild may still hold stdout/stderr open: do not wait for it */
    mcp_stdio_close_handle((uv_handle_t *) &s->out);
    mcp_stdio_close_handle((uv_handle_t *) &s->err);
}


static void
mcp_stdio_exit(uv_process_t *p, int64_t status, int sig)
{
    mcp_stdio_t  *s = p->data;

    s->exited = 1;
    if (sig) {
        snprintf(s->why, sizeof(s->why), "process %d killed by signal %d "
                 "(%s)", s->t.pid, sig, strsignal(sig));
    } else {
        snprintf(s->why, sizeof(s->why), "process %d exited with status %lld",
                 s->t.pid, (long long) status);
    }
    if (!s->closing && !s->dead) {
        mcp_log_warn(s->env.log, "mcp", "%s: %s", s->name, s->why);
    }
    mcp_stdio_close_handle((uv_handle_t *) &s->in);
    mcp_stdio_close_handle((uv_handle_t *) p);
    /* let the last lines it wrote arrive before saying it is gone */
    uv_timer_stop(&s->kill_timer);
    uv_timer_start(&s->kill_timer, mcp_stdio_reap, 200, 0);
}


static void
mcp_stdio_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    mcp_stdio_t  *s = h->data;

    /* one buffer serves both pipes: each read is consumed before the next */
    buf->base = s->rbuf;
    buf->len = sizeof(s->rbuf);
}


static void
mcp_stdio_on_line(void *ctx, const char *line, size_t len, int oversize)
{
    mcp_stdio_t  *s = ctx;
    json_t       *msg;
    char          err[160];

    if (s->closing || s->dead) {
        return;
    }
    if (oversize) {
        mcp_log_warn(s->env.log, "mcp", "%s: dropped a %zu-byte message "
                     "(mcp.max_message_size is %zu)", s->name, len,
                     s->env.max_message);
        return;
    }
    msg = mcp_rpc_parse(line, len, err, sizeof(err));
    if (msg == NULL) {
        /* servers print banners on stdout: say so, but only a few times */
        if (++s->garbage <= MCP_GARBAGE_LOG_MAX) {
            mcp_log_warn(s->env.log, "mcp", "%s: not JSON-RPC on stdout "
                         "(%s): %.120s%s", s->name, err, line,
                         s->garbage == MCP_GARBAGE_LOG_MAX
                         ? " (further lines not logged)" : "");
        }
        return;
    }
    s->env.cb.message(s->env.cb.ctx, msg);
    json_decref(msg);
}


static void
mcp_stdio_eof_grace(uv_timer_t *timer)
{
    mcp_stdio_t  *s = timer->data;

    if (s->exited || s->closing || s->dead) {
        return;
    }
    /* stdout gone while alive: it cannot answer anymore */
    mcp_log_warn(s->env.log, "mcp", "%s: closed its stdout",
                 s->name);
    mcp_stdio_report(s, "closed its stdout");
    mcp_stdio_shutdown(s, 1);
}


static void
mcp_stdio_read_out(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    mcp_stdio_t  *s = st->data;

    if (n > 0) {
        mcp_framer_feed(&s->out_framer, buf->base, (size_t) n,
                        mcp_stdio_on_line, s);
        return;
    }
    if (n < 0) {
        mcp_stdio_close_handle((uv_handle_t *) st);
        if (!s->exited && !s->closing && !s->dead) {
            /* usually the child is dying: give its exit status a moment
               to arrive, it says more than "closed its stdout" */
            uv_timer_start(&s->kill_timer, mcp_stdio_eof_grace, 1000, 0);
        }
    }
}


static void
mcp_stdio_on_err_line(void *ctx, const char *line, size_t len, int oversize)
{
    mcp_stdio_t  *s = ctx;

    if (oversize) {
        mcp_log_info(s->env.log, "mcp", "%s: stderr: (%zu-byte line dropped)",
                     s->name, len);
        return;
    }
    mcp_log_info(s->env.log, "mcp", "%s: stderr: %.*s", s->name,
                 (int) len, line);
}


static void
mcp_stdio_read_err(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    mcp_stdio_t  *s = st->data;

    if (n > 0) {
        mcp_framer_feed(&s->err_framer, buf->base, (size_t) n,
                        mcp_stdio_on_err_line, s);
    } else if (n < 0) {
        mcp_stdio_close_handle((uv_handle_t *) st);
    }
}


static void
mcp_stdio_written(uv_write_t *req, int status)
{
    mcp_stdio_write_t  *w = (mcp_stdio_write_t *) req;

    free(w->buf);
    free(w);
}


static int
mcp_stdio_send(mcp_transport_t *t, const json_t *msg)
{
    mcp_stdio_t        *s = (mcp_stdio_t *) t;
    mcp_stdio_write_t  *w;
    uv_buf_t            b;
    size_t              len;
    int                 rc;

    if (s->dead || s->closing || uv_is_closing((uv_handle_t *) &s->in)) {
        return -1;
    }
    w = malloc(sizeof(*w));
    if (w == NULL || (w->buf = mcp_rpc_dump_line(msg, &len)) == NULL) {
        free(w);
        return -1;
    }
    b = uv_buf_init(w->buf, (unsigned) len);
    rc = uv_write(&w->req, (uv_stream_t *) &s->in, &b, 1, mcp_stdio_written);
    if (rc != 0) {
        free(w->buf);
        free(w);
        return -1;
    }
    return 0;
}


static void
mcp_stdio_set_protocol(mcp_transport_t *t, const char *version)
{
}


static void
mcp_stdio_close(mcp_transport_t *t)
{
    mcp_stdio_t  *s = (mcp_stdio_t *) t;

    s->closing = 1;
    mcp_stdio_shutdown(s, 1);
}


/* environ overlaid with the configured variables */
static char **
mcp_stdio_envp(const mcp_server_conf_t *c)
{
    size_t   n = 0, i, j, k = 0;
    char   **envp;

    while (environ[n]) {
        n++;
    }
    envp = calloc(n + c->nenv + 1, sizeof(char *));
    if (envp == NULL) {
        return NULL;
    }
    for (i = 0; i < n; i++) {
        size_t  kl = strcspn(environ[i], "=");
        int     overridden = 0;
        for (j = 0; j < c->nenv; j++) {
            if (strncmp(c->env[j], environ[i], kl) == 0
                && c->env[j][kl] == '=')
            {
                overridden = 1;
            }
        }
        if (!overridden && (envp[k] = strdup(environ[i])) != NULL) {
            k++;
        }
    }
    for (j = 0; j < c->nenv; j++) {
        if ((envp[k] = strdup(c->env[j])) != NULL) {
            k++;
        }
    }
    return envp;
}


mcp_transport_t *
mcp_stdio_start(const mcp_transport_env_t *env, char *err, size_t err_size,
    int *config_error)
{
    mcp_stdio_t                *s = calloc(1, sizeof(*s));
    uv_process_options_t        o;
    uv_stdio_container_t        io[3];
    int                         rc;

    *config_error = 0;
    if (s == NULL) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    s->env = *env;
    snprintf(s->name, sizeof(s->name), "%.128s", env->conf->name);
    s->t.kind = "stdio";
    s->t.send = mcp_stdio_send;
    s->t.set_protocol = mcp_stdio_set_protocol;
    s->t.close = mcp_stdio_close;
    mcp_framer_init(&s->out_framer, env->max_message);
    mcp_framer_init(&s->err_framer, MCP_STDERR_LINE_MAX);
    s->envp = mcp_stdio_envp(env->conf);

    uv_pipe_init(env->loop, &s->in, 0);
    uv_pipe_init(env->loop, &s->out, 0);
    uv_pipe_init(env->loop, &s->err, 0);
    uv_timer_init(env->loop, &s->kill_timer);
    s->in.data = s->out.data = s->err.data = s->kill_timer.data = s;
    s->proc.data = s;
    s->handles = 4;

    memset(&o, 0, sizeof(o));
    io[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
    io[0].data.stream = (uv_stream_t *) &s->in;
    io[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    io[1].data.stream = (uv_stream_t *) &s->out;
    io[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    io[2].data.stream = (uv_stream_t *) &s->err;
    o.exit_cb = mcp_stdio_exit;
    o.file = env->conf->command;
    o.args = env->conf->args;
    o.env = s->envp;
    o.cwd = env->conf->cwd;
    o.stdio = io;
    o.stdio_count = 3;

    /* the child gets mcpd's CPUs, not the loop's own (writer_affinity) */
    mcp_cpu_release_loop();
    rc = uv_spawn(env->loop, &s->proc, &o);
    mcp_cpu_repin_loop();
    if (rc != 0) {
        snprintf(err, err_size, "cannot start '%s'%s%s: %s",
                 env->conf->command, env->conf->cwd ? " in " : "",
                 env->conf->cwd ? env->conf->cwd : "", uv_strerror(rc));
        /* not found / not executable / bad cwd: fix the config, not retry */
        *config_error = rc == UV_ENOENT || rc == UV_EACCES
                        || rc == UV_ENOTDIR;
        s->closing = 1;
        s->exited = 1;
        uv_close((uv_handle_t *) &s->in, mcp_stdio_handle_closed);
        uv_close((uv_handle_t *) &s->out, mcp_stdio_handle_closed);
        uv_close((uv_handle_t *) &s->err, mcp_stdio_handle_closed);
        uv_close((uv_handle_t *) &s->kill_timer, mcp_stdio_handle_closed);
        /* libuv needs the failed process handle closed too */
        s->handles++;
        uv_close((uv_handle_t *) &s->proc, mcp_stdio_handle_closed);
        return NULL;
    }
    s->handles++;    /* the process handle */
    s->t.pid = s->proc.pid;
    s->env.conf = NULL;    /* not needed past the spawn */

    uv_read_start((uv_stream_t *) &s->out, mcp_stdio_alloc,
                  mcp_stdio_read_out);
    uv_read_start((uv_stream_t *) &s->err, mcp_stdio_alloc,
                  mcp_stdio_read_err);
    mcp_log_info(env->log, "mcp", "%s: started '%s' (pid %d)", env->conf->name,
                 env->conf->command, s->t.pid);
    return &s->t;
}
