/*
 * Export of one conversation as a JSON document, built on the reader
 * thread so the loop only hands the text on.  Message content goes out as
 * a JSON string exactly as stored; tool_calls and usage were stored as
 * JSON text and are embedded as JSON values (as a string if they do not
 * parse, so nothing is ever lost).
 */

#include <stdlib.h>
#include <string.h>

#include "repo/mcp_repo_int.h"


const char *
mcp_msg_type_name(mcp_msg_type_e type)
{
    switch (type) {
    case MCP_MSG_USER:
        return "user";
    case MCP_MSG_ASSISTANT:
        return "assistant";
    case MCP_MSG_TOOL_CALL:
        return "tool_call";
    case MCP_MSG_TOOL_RESULT:
        return "tool_result";
    }
    return "unknown";
}


static const char *
mcp_msg_role(mcp_msg_type_e type)
{
    switch (type) {
    case MCP_MSG_USER:
        return "user";
    case MCP_MSG_TOOL_RESULT:
        return "tool";
    default:
        return "assistant";
    }
}


static json_t *
mcp_json_embed(const char *text)
{
    json_t  *v;

    if (text == NULL) {
        return json_null();
    }
    v = json_loads(text, JSON_DECODE_ANY, NULL);
    return v ? v : json_string(text);
}


static void
mcp_json_set_str(json_t *o, const char *key, const char *s)
{
    json_object_set_new(o, key, s ? json_string(s) : json_null());
}


static json_t *
mcp_msg_json(const mcp_repo_msg_t *m)
{
    json_t  *o, *content;

    o = json_object();
    json_object_set_new(o, "id", json_integer(m->id));
    json_object_set_new(o, "type", json_string(mcp_msg_type_name(m->type)));
    json_object_set_new(o, "role", json_string(mcp_msg_role(m->type)));

    content = json_stringn(m->content, m->content_len);
    if (content == NULL) {
        /* not UTF-8: JSON cannot carry it as text; say so, keep the rest */
        json_object_set_new(o, "content_invalid_utf8", json_true());
        content = json_null();
    }
    json_object_set_new(o, "content", content);

    if (m->tool_calls) {
        json_object_set_new(o, "tool_calls", mcp_json_embed(m->tool_calls));
    }
    if (m->tool_call_id) {
        mcp_json_set_str(o, "tool_call_id", m->tool_call_id);
    }
    if (m->name) {
        mcp_json_set_str(o, "name", m->name);
    }
    if (m->model) {
        mcp_json_set_str(o, "model", m->model);
    }
    if (m->usage) {
        json_object_set_new(o, "usage", mcp_json_embed(m->usage));
    }
    json_object_set_new(o, "token_count", json_integer(m->token_count));
    mcp_json_set_str(o, "request_id", m->request_id);
    json_object_set_new(o, "part", json_integer(m->part));
    json_object_set_new(o, "created_at", json_integer(m->created_at));
    return o;
}


void
mcp_op_export(mcp_conn_t *c, mcp_repo_req_t *r)
{
    sqlite3_stmt    *st = c->st[MCP_ST_CONV_GET];
    const char      *conv = r->msg.conversation_id;
    mcp_chain_t      ch;
    json_t          *doc, *msgs;
    mcp_repo_msg_t  *m;
    size_t           i;
    int              rc, owned;

    sqlite3_bind_text(st, 1, conv, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    owned = rc == SQLITE_ROW
            && strcmp((const char *) sqlite3_column_text(st, 0),
                      r->principal) == 0;
    doc = json_object();
    if (owned) {
        json_object_set_new(doc, "id", json_string(conv));
        json_object_set_new(doc, "principal", json_string(r->principal));
        mcp_json_set_str(doc, "title",
                         (const char *) sqlite3_column_text(st, 1));
        json_object_set_new(doc, "created_at",
                            json_integer(sqlite3_column_int64(st, 2)));
        json_object_set_new(doc, "updated_at",
                            json_integer(sqlite3_column_int64(st, 3)));
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        json_decref(doc);
        mcp_req_fail_db(r, c->db, rc, "exporting a conversation");
        return;
    }
    if (!owned) {
        json_decref(doc);
        mcp_req_fail(r, MCP_REPO_ENOTFOUND, 0, "conversation \"%s\" not found",
                     conv);
        return;
    }

    /* the chain is newest first: walk the rows backwards */
    rc = mcp_chain_open(&ch, c, conv, 1);
    if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
        rc = mcp_chain_collect(&ch, &r->res, 0, INT64_MAX, NULL);
    }
    if (rc != SQLITE_DONE) {
        json_decref(doc);
        mcp_req_fail_db(r, c->db, rc, "exporting a conversation");
        return;
    }

    msgs = json_array();
    for (i = r->res.n_msgs; i > 0; i--) {
        m = &r->res.msgs[i - 1];
        json_array_append_new(msgs, mcp_msg_json(m));
    }
    json_object_set_new(doc, "messages", msgs);
    for (i = 0; i < r->res.n_msgs; i++) {
        mcp_repo_msg_clear(&r->res.msgs[i]);
    }
    r->res.n_msgs = 0;
    r->res.json = json_dumps(doc, JSON_COMPACT);
    r->res.json_len = r->res.json ? strlen(r->res.json) : 0;
    json_decref(doc);
    if (r->res.json == NULL) {
        mcp_req_fail(r, MCP_REPO_EIO, 0, "exporting a conversation: out of "
                     "memory");
    }
}
