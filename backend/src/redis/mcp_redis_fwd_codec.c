/* Forwarding between instances, the pure part: see mcp_redis_fwd_codec.h. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis/mcp_redis_fwd_codec.h"

static const char  *mcp_fwd_kinds[] = {
    NULL, "req", "close", "frame", "alive", "gone", "flow", "ack"
};

#define MCP_FWD_SEND_BUFFER_DEFAULT  (1024 * 1024)
#define MCP_FWD_WINDOW_MIN           (64 * 1024)


char *
mcp_fwd_encode(const mcp_fwd_msg_t *m, size_t *len)
{
    json_t  *o;
    char    *text;

    if (m->kind < MCP_FWD_REQ || m->kind > MCP_FWD_ACK || m->from == NULL) {
        return NULL;
    }
    o = json_pack("{s:s, s:s, s:I}", "k", mcp_fwd_kinds[m->kind],
                  "from", m->from, "sid", (json_int_t) m->sid);
    if (o == NULL) {
        return NULL;
    }
    if (m->kind == MCP_FWD_FRAME) {
        json_object_set_new(o, "seq", json_integer((json_int_t) m->seq));
    }
    if (m->kind == MCP_FWD_FLOW) {
        json_object_set_new(o, "z", json_boolean(m->paused));
    }
    if (m->kind == MCP_FWD_ACK) {
        json_object_set_new(o, "n", json_integer((json_int_t) m->bytes));
    }
    if (m->kind == MCP_FWD_REQ) {
        json_object_set_new(o, "p", json_string(m->principal
                                                ? m->principal : ""));
        if (m->send_buffer != NULL) {
            json_object_set_new(o, "b", json_string(m->send_buffer));
        }
        if (m->acks) {
            json_object_set_new(o, "a", json_true());
        }
    }
    if (m->kind == MCP_FWD_REQ || m->kind == MCP_FWD_FRAME) {
        json_object_set_new(o, "t", json_stringn(m->text ? m->text : "",
                                                 m->text ? m->len : 0));
    }
    text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (text != NULL && len != NULL) {
        *len = strlen(text);
    }
    return text;
}


static int
mcp_fwd_kind(const char *k)
{
    int  i;

    for (i = MCP_FWD_REQ; i <= MCP_FWD_ACK; i++) {
        if (k != NULL && strcmp(k, mcp_fwd_kinds[i]) == 0) {
            return i;
        }
    }
    return -1;
}


int
mcp_fwd_decode(const char *buf, size_t len, mcp_fwd_msg_t *m)
{
    json_t  *sid, *seq, *t, *p, *z, *n;
    int      kind;

    memset(m, 0, sizeof(*m));
    m->doc = json_loadb(buf, len, JSON_ALLOW_NUL, NULL);
    if (!json_is_object(m->doc)) {
        return -1;
    }
    kind = mcp_fwd_kind(json_string_value(json_object_get(m->doc, "k")));
    m->from = json_string_value(json_object_get(m->doc, "from"));
    sid = json_object_get(m->doc, "sid");
    if (kind < 0 || m->from == NULL || !json_is_integer(sid)
        || json_integer_value(sid) < 0)
    {
        return -1;
    }
    m->kind = (mcp_fwd_kind_e) kind;
    m->sid = (uint64_t) json_integer_value(sid);

    if (kind == MCP_FWD_FRAME) {
        seq = json_object_get(m->doc, "seq");
        if (!json_is_integer(seq) || json_integer_value(seq) < 0) {
            return -1;
        }
        m->seq = (uint64_t) json_integer_value(seq);
    }
    if (kind == MCP_FWD_FLOW) {
        z = json_object_get(m->doc, "z");
        if (!json_is_boolean(z)) {
            return -1;
        }
        m->paused = json_is_true(z);
    }
    if (kind == MCP_FWD_ACK) {
        n = json_object_get(m->doc, "n");
        if (!json_is_integer(n) || json_integer_value(n) < 0) {
            return -1;
        }
        m->bytes = (uint64_t) json_integer_value(n);
    }
    if (kind == MCP_FWD_REQ) {
        p = json_object_get(m->doc, "p");
        if (!json_is_string(p)) {
            return -1;
        }
        m->principal = json_string_value(p);
        /* optional: an instance of an older build sends neither */
        m->send_buffer = json_string_value(json_object_get(m->doc, "b"));
        m->acks = json_is_true(json_object_get(m->doc, "a"));
    }
    if (kind == MCP_FWD_REQ || kind == MCP_FWD_FRAME) {
        t = json_object_get(m->doc, "t");
        if (!json_is_string(t)) {
            return -1;
        }
        m->text = json_string_value(t);
        m->len = json_string_length(t);
    }
    return 0;
}


uint64_t
mcp_fwd_window(const char *send_buffer)
{
    unsigned long long  n = 0;
    char               *end = NULL;

    if (send_buffer != NULL) {
        n = strtoull(send_buffer, &end, 10);
        if (end == send_buffer || *end != '\0') {
            n = 0;
        }
    }
    if (n == 0) {
        n = MCP_FWD_SEND_BUFFER_DEFAULT;
    }
    n /= 4;
    return n < MCP_FWD_WINDOW_MIN ? MCP_FWD_WINDOW_MIN : (uint64_t) n;
}


void
mcp_fwd_msg_clear(mcp_fwd_msg_t *m)
{
    json_decref(m->doc);
    memset(m, 0, sizeof(*m));
}


int
mcp_fwd_frame_final(const char *text, size_t len, char *rid, size_t size)
{
    json_t      *o = json_loadb(text, len, 0, NULL);
    const char  *st, *r;
    int          final;

    if (!json_is_object(o)) {
        json_decref(o);
        return -1;
    }
    st = json_string_value(json_object_get(o, "status"));
    r = json_string_value(json_object_get(o, "request_id"));
    final = st != NULL && (strcmp(st, "complete") == 0
                           || strcmp(st, "error") == 0);
    snprintf(rid, size, "%s", r ? r : "");
    json_decref(o);
    return final;
}


static int
mcp_fwd_name(char *buf, size_t size, const char *prefix, const char *kind,
    const char *part)
{
    int  n = snprintf(buf, size, "%s%s%s", prefix ? prefix : "", kind, part);

    return n < 0 || (size_t) n >= size ? -1 : 0;
}


int
mcp_fwd_channel(char *buf, size_t size, const char *prefix,
    const char *instance)
{
    return mcp_fwd_name(buf, size, prefix, "fwd:", instance);
}


int
mcp_fwd_home_key(char *buf, size_t size, const char *prefix,
    const char *conv)
{
    return mcp_fwd_name(buf, size, prefix, "home:", conv);
}


int
mcp_fwd_lock_key(char *buf, size_t size, const char *prefix,
    const char *conv)
{
    return mcp_fwd_name(buf, size, prefix, "lock:", conv);
}


int
mcp_fwd_request_key(char *buf, size_t size, const char *prefix,
    const char *principal, const char *rid)
{
    /* the principal's length first: "a:b" + "c" never meets "a" + "b:c" */
    int  n = snprintf(buf, size, "%sreq:%zu:%s:%s", prefix ? prefix : "",
                      strlen(principal), principal, rid);

    return n < 0 || (size_t) n >= size ? -1 : 0;
}
