/*
 * Shared by the test_repo_*.c unit tests: a loop, a temp database, and a
 * completion record that copies what a callback saw (the result is only
 * valid during the callback).
 */

#ifndef TEST_REPO_UTIL_H
#define TEST_REPO_UTIL_H

#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "repo/mcp_repo.h"

typedef struct {
    int64_t   id;
    int       type;
    char     *content;
    size_t    content_len;
    char     *request_id;
    char     *tool_calls;
    char     *usage;
    char     *model;
    char     *tool_call_id;
    int64_t   token_count;
    int64_t   part;
    int64_t   created_at;
} t_msg_t;

typedef struct {
    int        done;
    int        status;
    char       error[512];
    int64_t    id;
    int        duplicate;
    int        created;
    int        request_state;
    char       conv[128];
    size_t     n_msgs;
    t_msg_t    msgs[256];
    int64_t    tokens;
    size_t     n_convs;
    char       convs[64][128];
    int64_t    conv_msgs[64];
    char      *json;
    int64_t    count;
} t_res_t;

static char *
t_dup(const char *s, size_t n)
{
    char  *p;

    if (s == NULL) {
        return NULL;
    }
    p = malloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

static void
t_res_clear(t_res_t *t)
{
    size_t  i;

    for (i = 0; i < t->n_msgs; i++) {
        free(t->msgs[i].content);
        free(t->msgs[i].request_id);
        free(t->msgs[i].tool_calls);
        free(t->msgs[i].usage);
        free(t->msgs[i].model);
        free(t->msgs[i].tool_call_id);
    }
    free(t->json);
    memset(t, 0, sizeof(*t));
}

static void
t_cb(const mcp_repo_result_t *res, void *data)
{
    t_res_t  *t = data;
    size_t    i;

    t->done = 1;
    t->status = res->status;
    if (res->error) {
        snprintf(t->error, sizeof(t->error), "%s", res->error);
    }
    t->id = res->id;
    t->duplicate = res->duplicate;
    t->created = res->created;
    t->request_state = res->request_state;
    if (res->conversation_id) {
        snprintf(t->conv, sizeof(t->conv), "%s", res->conversation_id);
    }
    for (i = 0; i < res->n_msgs && i < 256; i++) {
        const mcp_repo_msg_t  *m = &res->msgs[i];
        t_msg_t               *c = &t->msgs[i];

        c->id = m->id;
        c->type = m->type;
        c->content = t_dup(m->content, m->content_len);
        c->content_len = m->content_len;
        c->request_id = m->request_id ? strdup(m->request_id) : NULL;
        c->tool_calls = m->tool_calls ? strdup(m->tool_calls) : NULL;
        c->usage = m->usage ? strdup(m->usage) : NULL;
        c->model = m->model ? strdup(m->model) : NULL;
        c->tool_call_id = m->tool_call_id ? strdup(m->tool_call_id) : NULL;
        c->token_count = m->token_count;
        c->part = m->part;
        c->created_at = m->created_at;
    }
    t->n_msgs = i;
    t->tokens = res->tokens;
    for (i = 0; i < res->n_convs && i < 64; i++) {
        snprintf(t->convs[i], sizeof(t->convs[i]), "%s", res->convs[i].id);
        t->conv_msgs[i] = res->convs[i].messages;
    }
    t->n_convs = i;
    t->json = res->json ? strdup(res->json) : NULL;
    t->count = res->count;
}

/* Run the loop until done (bounded: a hang is a failure, not a stall). */
static int
t_wait(uv_loop_t *loop, int *done)
{
    uint64_t  start = uv_hrtime();

    while (!*done) {
        uv_run(loop, UV_RUN_ONCE);
        if (uv_hrtime() - start > 15000000000ull) {
            fprintf(stderr, "  t_wait: timed out\n");
            return -1;
        }
    }
    return 0;
}

typedef struct {
    char                 dir[128];
    char                 path[192];
    mcp_repo_conf_t      rc;
    mcp_persist_conf_t   pc;
    uv_loop_t            loop;
    mcp_repo_t          *repo;
} t_env_t;

static void
t_env_init(t_env_t *e)
{
    memset(e, 0, sizeof(*e));
    snprintf(e->dir, sizeof(e->dir), "/tmp/test_repo_XXXXXX");
    if (mkdtemp(e->dir) == NULL) {
        perror("mkdtemp");
        abort();
    }
    snprintf(e->path, sizeof(e->path), "%s/store.db", e->dir);
    mcp_repo_conf_defaults(&e->rc, &e->pc);
    e->rc.path = e->path;
    uv_loop_init(&e->loop);
}

static mcp_repo_t *
t_env_open(t_env_t *e)
{
    mcp_err_t  err;

    err.msg[0] = '\0';
    e->repo = mcp_repo_open(&e->loop, &e->rc, &e->pc, &err);
    if (e->repo == NULL) {
        fprintf(stderr, "  open: %s\n", err.msg);
    }
    return e->repo;
}

static void
t_env_close_repo(t_env_t *e)
{
    if (e->repo) {
        mcp_repo_close(e->repo);
        uv_run(&e->loop, UV_RUN_DEFAULT);
        e->repo = NULL;
    }
}

static void
t_env_done(t_env_t *e)
{
    char  cmd[256];

    t_env_close_repo(e);
    uv_loop_close(&e->loop);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e->dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "  cleanup of %s failed\n", e->dir);
    }
}

/* append and wait */
static int
t_append(t_env_t *e, t_res_t *t, const char *conv, mcp_msg_type_e type,
    const char *content, size_t len, const char *rid, int64_t tokens,
    int final)
{
    mcp_repo_append_t  a;

    memset(&a, 0, sizeof(a));
    a.msg.conversation_id = (char *) conv;
    a.msg.type = type;
    a.msg.content = (char *) content;
    a.msg.content_len = len;
    a.msg.request_id = (char *) rid;
    a.msg.token_count = tokens;
    a.final = final;
    t_res_clear(t);
    if (mcp_repo_append(e->repo, &a, t_cb, t) != 0) {
        return -1;
    }
    return t_wait(&e->loop, &t->done);
}

static int
t_open_conv(t_env_t *e, t_res_t *t, const char *principal, const char *id)
{
    t_res_clear(t);
    if (mcp_repo_conversation_open(e->repo, principal, id, NULL, t_cb, t)) {
        return -1;
    }
    return t_wait(&e->loop, &t->done);
}

static int
t_history(t_env_t *e, t_res_t *t, const char *conv, int64_t budget,
    int64_t rows)
{
    t_res_clear(t);
    if (mcp_repo_history(e->repo, conv, budget, rows, t_cb, t)) {
        return -1;
    }
    return t_wait(&e->loop, &t->done);
}

/* Run the loop for ms, without waiting for anything in particular
   (inline: not every test that includes this needs it) */
static inline void
t_sleep_loop(uv_loop_t *loop, uint64_t ms)
{
    uint64_t  end = uv_hrtime() + ms * 1000000;

    while (uv_hrtime() < end) {
        uv_run(loop, UV_RUN_NOWAIT);
        usleep(2000);
    }
}

/* A counter of an object of repository_stats (inline: as above) */
static inline int64_t
t_repo_stat(mcp_repo_t *repo, const char *object, const char *key)
{
    json_t   *st = mcp_repo_stats(repo);
    int64_t   v;

    v = json_integer_value(json_object_get(json_object_get(st, object),
                                           key));
    json_decref(st);
    return v;
}

/* A counter of repository_stats' request_sets */
static inline int64_t
t_reqsets_stat(mcp_repo_t *repo, const char *key)
{
    return t_repo_stat(repo, "request_sets", key);
}

#endif /* TEST_REPO_UTIL_H */
