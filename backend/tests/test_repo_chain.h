/*
 * Shared by test_repo_chain*.c: black-box tests of
 * the repository through mcp_repo.h only.  Each test keeps a model of
 * what every conversation must hold (ids as acknowledged, content, request
 * id, part, tokens) and compares each read with it: history within a
 * budget and a row limit, history pages walked back with a cursor,
 * export, list counts.  Whatever the storage layout, these are what the
 * chat service and the client API rely on.
 */

#ifndef TEST_REPO_CHAIN_H
#define TEST_REPO_CHAIN_H

#include "unit.h"

/* each test file uses a part of these helpers and of test_repo_util.h */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"

#include "test_repo_util.h"

#define C_MAX_MSGS  256             /* t_res_t copies at most 256 rows */
#define C_BIG       (INT64_C(1) << 40)

typedef struct {
    int64_t   id;
    int       type;
    char      content[112];
    size_t    content_len;
    char      rid[24];              /* "": no request id */
    int64_t   part;
    int64_t   tokens;
    int64_t   created_at;           /* 0: now (not compared) */
    char      tool_calls[96];       /* "": none (NULL), as the rest */
    char      tool_call_id[24];
    char      name[8];
    char      model[8];
    char      usage[56];
    int       final;
    int       abandoned;            /* user row of a request open at a
                                       restart (c_restart) */
} c_msg_t;

typedef struct c_conv_s  c_conv_t;

struct c_conv_s {
    char      id[32];
    char      principal[16];
    size_t    n;
    c_msg_t   m[C_MAX_MSGS];
    size_t    next;                 /* rows ever added: c_gen's k */
    /* created_at of the k-th message; NULL: 0, the time of the append */
    int64_t (*when)(const c_conv_t *c, size_t k);
};


static void
c_conv_init(c_conv_t *c, const char *principal, const char *id)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->id, sizeof(c->id), "%s", id);
    snprintf(c->principal, sizeof(c->principal), "%s", principal);
}


/* the other fields of a generated row: the tool calls of a hop, the
   call its result answers, the model and usage of the answer */
static void
c_gen_fields(c_msg_t *m, int r, int slot)
{
    if (slot == 1 || slot == 3) {
        snprintf(m->tool_calls, sizeof(m->tool_calls),
                 "[{\"id\":\"call_%d_%d\",\"type\":\"function\","
                 "\"function\":{\"name\":\"get\",\"arguments\":\"{}\"}}]",
                 r, slot);
        snprintf(m->model, sizeof(m->model), "gpt-x");
    } else if (slot == 2 || slot == 4) {
        snprintf(m->tool_call_id, sizeof(m->tool_call_id), "call_%d_%d", r,
                 slot - 1);
        snprintf(m->name, sizeof(m->name), "get");
    } else if (slot == 5) {
        snprintf(m->model, sizeof(m->model), "gpt-y");
        snprintf(m->usage, sizeof(m->usage),
                 "{\"prompt_tokens\":%d,\"completion_tokens\":5}", r);
    }
}


/*
 * The k-th message of a conversation, in cycles of eight: a request with
 * two tool hops and a final answer (request id "req-<k/8>", the same names
 * in every conversation), then a user and an assistant row without one.
 * Content: JSON starting with '[', Markdown, multi-byte UTF-8, empty.
 */
static void
c_gen(const c_conv_t *c, size_t k, c_msg_t *m)
{
    static const int  types[8] = {
        MCP_MSG_USER, MCP_MSG_TOOL_CALL, MCP_MSG_TOOL_RESULT,
        MCP_MSG_TOOL_CALL, MCP_MSG_TOOL_RESULT, MCP_MSG_ASSISTANT,
        MCP_MSG_USER, MCP_MSG_ASSISTANT
    };
    int  slot = (int) (k % 8), r = (int) (k / 8);

    memset(m, 0, sizeof(*m));
    m->type = types[slot];
    m->tokens = (int64_t) ((k * 7) % 13);  /* 0 too: always fits */
    if (slot < 6) {
        snprintf(m->rid, sizeof(m->rid), "req-%d", r);
        m->part = slot >= 3 && slot <= 4;
        m->final = slot == 5;
    }
    switch (slot) {
    case 0:
        snprintf(m->content, sizeof(m->content),
                 "[{\"ask\":%d,\"conv\":\"%s\"}]", r, c->id);
        break;
    case 1:
    case 3:
        m->content[0] = '\0';               /* a tool call has no text */
        break;
    case 2:
    case 4:
        snprintf(m->content, sizeof(m->content),
                 "{\"rows\": [%d, %zu], \"c\": \"%s\"}", r, k, c->id);
        break;
    case 5:
        snprintf(m->content, sizeof(m->content),
                 "## Answer %s/%zu\n\n| a | b |\n|---|---|\n| `x` | **y** |",
                 c->id, k);
        break;
    case 6:
        snprintf(m->content, sizeof(m->content),
                 "héllo wörld — 日本語 🎉 %s/%zu", c->id, k);
        break;
    default:
        snprintf(m->content, sizeof(m->content), "[%s] plain #%zu",
                 c->id, k);
        break;
    }
    m->content_len = strlen(m->content);
    m->created_at = c->when ? c->when(c, k) : 0;
    c_gen_fields(m, r, slot);
}


/* Queue an append of m to conversation conv, answered to cb. */
static int
c_append(mcp_repo_t *repo, const char *conv, const c_msg_t *m,
    mcp_repo_cb_pt cb, void *data)
{
    mcp_repo_append_t  a;

    memset(&a, 0, sizeof(a));
    a.msg.conversation_id = (char *) conv;
    a.msg.type = m->type;
    a.msg.content = (char *) m->content;
    a.msg.content_len = m->content_len;
    a.msg.request_id = m->rid[0] ? (char *) m->rid : NULL;
    a.msg.part = m->part;
    a.msg.token_count = m->tokens;
    a.msg.created_at = m->created_at;
    a.msg.tool_calls = m->tool_calls[0] ? (char *) m->tool_calls : NULL;
    a.msg.tool_call_id = m->tool_call_id[0] ? (char *) m->tool_call_id : NULL;
    a.msg.name = m->name[0] ? (char *) m->name : NULL;
    a.msg.model = m->model[0] ? (char *) m->model : NULL;
    a.msg.usage = m->usage[0] ? (char *) m->usage : NULL;
    a.final = m->final;
    return mcp_repo_append(repo, &a, cb, data);
}


/* The same, t_cb filling r. */
static int
c_submit(t_env_t *e, t_res_t *r, const char *conv, const c_msg_t *m)
{
    t_res_clear(r);
    return c_append(e->repo, conv, m, t_cb, r);
}


/* An acknowledged new row: its id follows the conversation's newest. */
static void
c_record(c_conv_t *c, const c_msg_t *m, const t_res_t *r)
{
    CHECK_EQ_INT(r->status, MCP_REPO_OK);
    CHECK_EQ_INT(r->duplicate, 0);
    CHECK(r->id > 0);
    CHECK(c->n == 0 || r->id > c->m[c->n - 1].id);
    if (r->status != MCP_REPO_OK || r->duplicate || c->n == C_MAX_MSGS) {
        fprintf(stderr, "  %s: append %zu: %s\n", c->id, c->n, r->error);
        return;
    }
    c->m[c->n] = *m;
    c->m[c->n].id = r->id;
    c->n++;
    c->next++;
}


/* Acknowledged by one of several callers at once, so not necessarily
   after the newest: c_sort_by_id() orders the model when they are done. */
static void
c_acked(c_conv_t *c, const c_msg_t *m, int64_t id)
{
    if (c->n < C_MAX_MSGS) {
        c->m[c->n] = *m;
        c->m[c->n++].id = id;
        c->next++;
    }
}


static int
c_cmp_id(const void *a, const void *b)
{
    const c_msg_t  *x = a, *y = b;

    return x->id < y->id ? -1 : x->id > y->id;
}


static void
c_sort_by_id(c_conv_t *c)
{
    qsort(c->m, c->n, sizeof(c->m[0]), c_cmp_id);
}


/* Append m to c and wait; the model follows. */
static void
c_push(t_env_t *e, t_res_t *r, c_conv_t *c, const c_msg_t *m)
{
    CHECK(c_submit(e, r, c->id, m) == 0);
    CHECK(t_wait(&e->loop, &r->done) == 0);
    c_record(c, m, r);
}


/* One round: the next generated message of each conversation whose bit
   is not in skip, all queued at once (they share group commits), then
   waited for. */
static void
c_round(t_env_t *e, t_res_t *rs, c_conv_t *cs, size_t n, unsigned skip)
{
    c_msg_t  m[16];
    size_t   i;

    for (i = 0; i < n && i < 16; i++) {
        if (!(skip & (1u << i))) {
            c_gen(&cs[i], cs[i].next, &m[i]);
            CHECK(c_submit(e, &rs[i], cs[i].id, &m[i]) == 0);
        }
    }
    for (i = 0; i < n && i < 16; i++) {
        if (!(skip & (1u << i))) {
            CHECK(t_wait(&e->loop, &rs[i].done) == 0);
            c_record(&cs[i], &m[i], &rs[i]);
        }
    }
}


/* n conversations of principal named <prefix><i>, empty */
static void
c_open_as(t_env_t *e, t_res_t *r, c_conv_t *cs, size_t n,
    const char *principal, const char *prefix)
{
    char    id[32];
    size_t  i;

    for (i = 0; i < n; i++) {
        snprintf(id, sizeof(id), "%s%zu", prefix, i);
        c_conv_init(&cs[i], principal, id);
        CHECK(t_open_conv(e, r, principal, id) == 0);
        CHECK_EQ_INT(r->created, 1);
    }
}


static void
c_open_all(t_env_t *e, t_res_t *r, c_conv_t *cs, size_t n,
    const char *prefix)
{
    c_open_as(e, r, cs, n, "p", prefix);
}


/* Rounds of appends: conversation i sits out one round in i + 3, so the
   conversations end with different lengths, some part way through a
   request (in flight). */
static void
c_rounds(t_env_t *e, t_res_t *rs, c_conv_t *cs, size_t n, int rounds)
{
    unsigned  skip;
    size_t    i;
    int       k;

    for (k = 0; k < rounds; k++) {
        skip = 0;
        for (i = 0; i < n; i++) {
            skip |= (unsigned) (k % (int) (i + 3) == 1) << i;
        }
        c_round(e, rs, cs, n, skip);
    }
}


/* The state a lookup reports for rid in c as the model has it: no user
   row, none; a final row after it (or request_end, marked on it), done;
   open at a restart, abandoned; else open.  A final row before the user
   row (a question asked again after retention took it) does not count. */
static int
c_req_state(const c_conv_t *c, const char *rid)
{
    const c_msg_t  *m;
    size_t          i;
    int             user = 0, final = 0, abandoned = 0;

    for (i = 0; i < c->n; i++) {
        m = &c->m[i];
        if (strcmp(m->rid, rid) != 0) {
            continue;
        }
        if (m->type == MCP_MSG_USER) {
            user = 1;
            final = m->final;
            abandoned = m->abandoned;
        } else {
            final |= m->final;
        }
    }
    return !user ? MCP_REQ_NONE : final ? MCP_REQ_DONE
           : abandoned ? MCP_REQ_ABANDONED : MCP_REQ_OPEN;
}


/* After a restart nothing can finish the requests that were open. */
static void
c_restart(c_conv_t *cs, size_t n)
{
    size_t  i, j;

    for (i = 0; i < n; i++) {
        for (j = 0; j < cs[i].n; j++) {
            if (cs[i].m[j].type == MCP_MSG_USER && cs[i].m[j].rid[0]
                && c_req_state(&cs[i], cs[i].m[j].rid) == MCP_REQ_OPEN)
            {
                cs[i].m[j].abandoned = 1;
            }
        }
    }
}


/* a string field as read (NULL: absent) is the model's ("": absent) */
static int
c_same(const char *got, const char *want)
{
    return want[0] ? got != NULL && strcmp(got, want) == 0 : got == NULL;
}


/* got[0..ngot) must be exp[0..n) exactly; what names the read */
static void
c_check_rows(const c_msg_t *exp, size_t n, const t_msg_t *got, size_t ngot,
    const char *what)
{
    size_t  i;

    if (ngot != n) {
        fprintf(stderr, "  %s: %zu rows, not %zu\n", what, ngot, n);
        CHECK(!"as many rows as expected");
    }
    for (i = 0; i < n && i < ngot; i++) {
        const c_msg_t  *x = &exp[i];
        const t_msg_t  *g = &got[i];

        if (g->id == x->id && g->type == x->type
            && g->content_len == x->content_len
            && memcmp(g->content, x->content, x->content_len) == 0
            && c_same(g->request_id, x->rid) && g->part == x->part
            && g->token_count == x->tokens
            && (x->created_at == 0 || g->created_at == x->created_at)
            && c_same(g->tool_calls, x->tool_calls)
            && c_same(g->tool_call_id, x->tool_call_id)
            && c_same(g->model, x->model) && c_same(g->usage, x->usage))
        {
            continue;
        }
        fprintf(stderr, "  %s: row %zu: got id %lld type %d \"%s\" rid %s "
                "part %lld; want id %lld type %d \"%s\" rid %s part %lld\n",
                what, i, (long long) g->id, g->type,
                g->content ? g->content : "(null)",
                g->request_id ? g->request_id : "-", (long long) g->part,
                (long long) x->id, x->type, x->content,
                x->rid[0] ? x->rid : "-", (long long) x->part);
        CHECK(!"row as expected");
        return;
    }
}


/* The first row history(budget, limit) must return: newest first while
   the tokens fit (stop at the first that does not), at most limit rows. */
static size_t
c_history_start(const c_conv_t *c, int64_t budget, int64_t limit,
    int64_t *tokens)
{
    size_t  i = c->n;

    *tokens = 0;
    while (i > 0 && (limit <= 0 || (int64_t) (c->n - i) < limit)
           && *tokens + c->m[i - 1].tokens <= budget)
    {
        *tokens += c->m[--i].tokens;
    }
    return i;
}


static void
c_check_history(t_env_t *e, t_res_t *r, const c_conv_t *c, int64_t budget,
    int64_t limit)
{
    char     what[96];
    int64_t  tokens;
    size_t   start = c_history_start(c, budget, limit, &tokens);

    snprintf(what, sizeof(what), "history %s budget %lld limit %lld", c->id,
             (long long) budget, (long long) limit);
    CHECK(t_history(e, r, c->id, budget, limit) == 0);
    CHECK_EQ_INT(r->status, MCP_REPO_OK);
    CHECK_EQ_INT(r->tokens, tokens);
    c_check_rows(&c->m[start], c->n - start, r->msgs, r->n_msgs, what);
}


/* Walk the whole conversation back, size rows a page: every row once, in
   order, each page oldest first and just below the previous cursor. */
static void
c_check_pages(t_env_t *e, t_res_t *r, const c_conv_t *c, int64_t size)
{
    char     what[96];
    size_t   end = c->n, start;
    int64_t  before = 0;
    int      pages = 0;

    for (;;) {
        t_res_clear(r);
        CHECK(mcp_repo_history_page(e->repo, c->principal, c->id, before,
                                    size, t_cb, r) == 0);
        CHECK(t_wait(&e->loop, &r->done) == 0);
        CHECK_EQ_INT(r->status, MCP_REPO_OK);
        start = end > (size_t) size ? end - (size_t) size : 0;
        snprintf(what, sizeof(what), "page %d of %s (before %lld)", pages,
                 c->id, (long long) before);
        c_check_rows(&c->m[start], end - start, r->msgs, r->n_msgs, what);
        if (r->n_msgs == 0 || r->n_msgs != end - start || ++pages > 300) {
            break;
        }
        before = r->msgs[0].id;
        end = start;
    }
    CHECK_EQ_INT(end, 0);
    CHECK_EQ_INT(r->n_msgs, 0);         /* the walk ends on an empty page */
}


/*
 * One page below any cursor: a row id of another conversation, of a row
 * deleted since, or none at all is as good as one of c's own.  The
 * newest limit rows of c below it, oldest first.
 */
static void
c_check_page_before(t_env_t *e, t_res_t *r, const c_conv_t *c,
    int64_t before, int64_t limit)
{
    char    what[96];
    size_t  end = 0, start;

    while (end < c->n && c->m[end].id < before) {
        end++;
    }
    start = end > (size_t) limit ? end - (size_t) limit : 0;
    t_res_clear(r);
    CHECK(mcp_repo_history_page(e->repo, c->principal, c->id, before, limit,
                                t_cb, r) == 0);
    CHECK(t_wait(&e->loop, &r->done) == 0);
    CHECK_EQ_INT(r->status, MCP_REPO_OK);
    snprintf(what, sizeof(what), "page of %s before %lld", c->id,
             (long long) before);
    c_check_rows(&c->m[start], end - start, r->msgs, r->n_msgs, what);
}


/* o's key is text (JSON text: embedded as a value), absent for "" */
static int
c_json_has(json_t *o, const char *key, const char *text, int embedded)
{
    json_t  *v = json_object_get(o, key), *want;
    int      same;

    if (text[0] == '\0') {
        return v == NULL;
    }
    if (!embedded) {
        return json_is_string(v) && strcmp(json_string_value(v), text) == 0;
    }
    want = json_loads(text, JSON_DECODE_ANY, NULL);
    same = want != NULL && json_equal(v, want);
    json_decref(want);
    return same;
}


/* the exported message o is the model's m */
static int
c_json_is(json_t *o, const c_msg_t *m)
{
    json_t      *content = json_object_get(o, "content");
    const char  *type = json_string_value(json_object_get(o, "type"));

    return json_integer_value(json_object_get(o, "id")) == m->id
        && type != NULL && strcmp(type, mcp_msg_type_name(m->type)) == 0
        && json_string_length(content) == m->content_len
        && memcmp(json_string_value(content), m->content,
                  m->content_len) == 0
        && (m->rid[0] ? c_json_has(o, "request_id", m->rid, 0)
                      : json_is_null(json_object_get(o, "request_id")))
        && json_integer_value(json_object_get(o, "part")) == m->part
        && json_integer_value(json_object_get(o, "token_count")) == m->tokens
        && (m->created_at == 0 || json_integer_value(
                json_object_get(o, "created_at")) == m->created_at)
        && c_json_has(o, "tool_calls", m->tool_calls, 1)
        && c_json_has(o, "tool_call_id", m->tool_call_id, 0)
        && c_json_has(o, "name", m->name, 0)
        && c_json_has(o, "model", m->model, 0)
        && c_json_has(o, "usage", m->usage, 1);
}


/* export: the conversation's document with every row, oldest first */
static void
c_check_export(t_env_t *e, t_res_t *r, const c_conv_t *c)
{
    json_t  *doc, *msgs;
    size_t   i;
    int      bad = 0;

    t_res_clear(r);
    CHECK(mcp_repo_export(e->repo, c->principal, c->id, t_cb, r) == 0);
    CHECK(t_wait(&e->loop, &r->done) == 0);
    CHECK_EQ_INT(r->status, MCP_REPO_OK);
    doc = r->json ? json_loads(r->json, 0, NULL) : NULL;
    CHECK(doc != NULL);
    if (doc == NULL) {
        return;
    }
    CHECK_EQ_STR(json_string_value(json_object_get(doc, "id")), c->id);
    msgs = json_object_get(doc, "messages");
    CHECK_EQ_INT(json_array_size(msgs), c->n);
    for (i = 0; i < c->n && i < json_array_size(msgs) && !bad; i++) {
        bad = !c_json_is(json_array_get(msgs, i), &c->m[i]);
        if (bad) {
            fprintf(stderr, "  export %s: message %zu is not id %lld \"%s\"\n",
                    c->id, i, (long long) c->m[i].id, c->m[i].content);
        }
    }
    CHECK(!bad);
    json_decref(doc);
}


/* r (a list or a list page) holds exactly cs[0..n) with their counts */
static void
c_check_convs(const t_res_t *r, const c_conv_t *cs, size_t n,
    const char *what)
{
    size_t  i, j, found;

    CHECK_EQ_INT(r->status, MCP_REPO_OK);
    CHECK_EQ_INT(r->n_convs, n);
    for (i = 0; i < n; i++) {
        found = 0;
        for (j = 0; j < r->n_convs; j++) {
            if (strcmp(r->convs[j], cs[i].id) == 0) {
                found++;
                if (r->conv_msgs[j] != (int64_t) cs[i].n) {
                    fprintf(stderr, "  %s: %s has %lld messages, not %zu\n",
                            what, cs[i].id, (long long) r->conv_msgs[j],
                            cs[i].n);
                    CHECK(!"count as expected");
                }
            }
        }
        CHECK_EQ_INT(found, 1);
    }
}


/* list and a list page: exactly these conversations of principal, with
   their message counts */
static void
c_check_list(t_env_t *e, t_res_t *r, const char *principal,
    const c_conv_t *cs, size_t n)
{
    t_res_clear(r);
    CHECK(mcp_repo_list(e->repo, principal, 0, t_cb, r) == 0);
    CHECK(t_wait(&e->loop, &r->done) == 0);
    c_check_convs(r, cs, n, "list");
    t_res_clear(r);
    CHECK(mcp_repo_list_page(e->repo, principal, -1, NULL, 64, t_cb, r)
          == 0);
    CHECK(t_wait(&e->loop, &r->done) == 0);
    c_check_convs(r, cs, n, "list page");
}


/* Every read of every conversation agrees with the model. */
static void
c_check_all(t_env_t *e, t_res_t *r, const c_conv_t *cs, size_t n)
{
    int64_t  exact;
    size_t   i, j;

    for (i = 0; i < n; i++) {
        /* a budget the newest ten fill exactly, and one token less */
        for (j = cs[i].n, exact = 0; j > 0 && cs[i].n - j < 10; j--) {
            exact += cs[i].m[j - 1].tokens;
        }
        c_check_history(e, r, &cs[i], exact, 0);
        if (exact > 0) {
            c_check_history(e, r, &cs[i], exact - 1, 0);
        }
        c_check_history(e, r, &cs[i], C_BIG, 0);
        c_check_history(e, r, &cs[i], 200, 0);
        c_check_history(e, r, &cs[i], C_BIG, 25);
        c_check_history(e, r, &cs[i], 90, 10);
        c_check_pages(e, r, &cs[i], 7);
        c_check_export(e, r, &cs[i]);
    }
    c_check_list(e, r, cs[0].principal, cs, n);
}


/* the rows of request rid in c, chronological, into exp */
static size_t
c_request_rows(const c_conv_t *c, const char *rid, c_msg_t *exp)
{
    size_t  i, n = 0;

    for (i = 0; i < c->n; i++) {
        if (strcmp(c->m[i].rid, rid) == 0) {
            exp[n++] = c->m[i];
        }
    }
    return n;
}


/* lookup: the request's rows as the model has them, and its state */
static void
c_check_lookup(t_env_t *e, t_res_t *r, const c_conv_t *c, const char *rid,
    int state)
{
    static c_msg_t  exp[C_MAX_MSGS];
    size_t          n = c_request_rows(c, rid, exp);
    char            what[96];

    t_res_clear(r);
    CHECK(mcp_repo_lookup_request(e->repo, c->id, rid, t_cb, r) == 0);
    CHECK(t_wait(&e->loop, &r->done) == 0);
    CHECK_EQ_INT(r->status, MCP_REPO_OK);
    snprintf(what, sizeof(what), "lookup %s/%s", c->id, rid);
    if (r->request_state != state) {
        fprintf(stderr, "  %s: state %d, not %d\n", what, r->request_state,
                state);
        CHECK(!"request state as expected");
    }
    c_check_rows(exp, n, r->msgs, r->n_msgs, what);
}


/* a lookup that finds nothing: no rows, no state, not an error */
static void
c_check_unknown(t_env_t *e, t_res_t *r, const char *conv, const char *rid)
{
    t_res_clear(r);
    CHECK(mcp_repo_lookup_request(e->repo, conv, rid, t_cb, r) == 0);
    CHECK(t_wait(&e->loop, &r->done) == 0);
    CHECK_EQ_INT(r->status, MCP_REPO_OK);
    CHECK_EQ_INT(r->request_state, MCP_REQ_NONE);
    CHECK_EQ_INT(r->n_msgs, 0);
}


/*
 * Keep the writer busy for a moment so that what is queued next waits
 * and is taken together.  Not waited for: the writer finishes it before
 * what is queued behind it, whose completions the caller waits for.
 */
static void
c_hold_writer(t_env_t *e, t_res_t *r)
{
    t_res_clear(r);
    CHECK(mcp_repo_debug_hold(e->repo, 1, 50, t_cb, r) == 0);
}


/* the model row of c holding (rid, type, part), or NULL */
static const c_msg_t *
c_find(const c_conv_t *c, const char *rid, int type, int64_t part)
{
    size_t  i;

    for (i = 0; i < c->n; i++) {
        if (strcmp(c->m[i].rid, rid) == 0 && c->m[i].type == type
            && c->m[i].part == part)
        {
            return &c->m[i];
        }
    }
    return NULL;
}


/*
 * Append a copy of the stored row (rid, type, part) of c with other
 * content: a duplicate, answered with the stored row's id and the
 * request's stored rows, in the given state; nothing is written.
 */
static void
c_check_duplicate(t_env_t *e, t_res_t *r, const c_conv_t *c,
    const char *rid, int type, int64_t part, int state)
{
    static c_msg_t   exp[C_MAX_MSGS];
    const c_msg_t   *orig = c_find(c, rid, type, part);
    c_msg_t          m;
    char             what[96];

    CHECK(orig != NULL);
    if (orig == NULL) {
        return;
    }
    m = *orig;
    snprintf(m.content, sizeof(m.content), "retry of %s", rid);
    m.content_len = strlen(m.content);
    m.final = 0;
    CHECK(c_submit(e, r, c->id, &m) == 0);
    CHECK(t_wait(&e->loop, &r->done) == 0);
    CHECK_EQ_INT(r->status, MCP_REPO_OK);
    CHECK_EQ_INT(r->duplicate, 1);
    CHECK_EQ_INT(r->id, orig->id);
    CHECK_EQ_INT(r->request_state, state);
    snprintf(what, sizeof(what), "duplicate %s/%s type %d part %lld", c->id,
             rid, type, (long long) part);
    c_check_rows(exp, c_request_rows(c, rid, exp), r->msgs, r->n_msgs, what);
}

/* the end of a test: every result record cleared, the repository closed
   and its directory removed */
static void
c_env_done(t_env_t *e, t_res_t *rs, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        t_res_clear(&rs[i]);
    }
    t_env_done(e);
}

#pragma GCC diagnostic pop

#endif /* TEST_REPO_CHAIN_H */
