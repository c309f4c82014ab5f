/*
 * Tool result conversion and capping.
 */

#include "mcp/mcp_result.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char    *buf;
    size_t   len;
    size_t   cap;
    int      oom;
} mcp_strbuf_t;


static void
mcp_sb_add(mcp_strbuf_t *sb, const char *s, size_t n)
{
    char    *nb;
    size_t   cap;

    if (sb->oom) {
        return;
    }
    if (sb->len + n + 1 > sb->cap) {
        cap = sb->cap ? sb->cap : 256;
        while (cap < sb->len + n + 1) {
            cap *= 2;
        }
        nb = realloc(sb->buf, cap);
        if (nb == NULL) {
            sb->oom = 1;
            return;
        }
        sb->buf = nb;
        sb->cap = cap;
    }
    memcpy(sb->buf + sb->len, s, n);
    sb->len += n;
    sb->buf[sb->len] = '\0';
}


static void
mcp_sb_str(mcp_strbuf_t *sb, const char *s)
{
    mcp_sb_add(sb, s, strlen(s));
}


static void
mcp_sb_sep(mcp_strbuf_t *sb)
{
    if (sb->len > 0) {
        mcp_sb_add(sb, "\n", 1);
    }
}


static const char *
mcp_str(const json_t *obj, const char *key, const char *def)
{
    const json_t  *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : def;
}


/* decoded size of a base64 text, for the placeholder */
static size_t
mcp_b64_size(const char *s)
{
    size_t  n = s ? strlen(s) : 0;

    return n / 4 * 3;
}


static void
mcp_result_media(mcp_strbuf_t *sb, json_t *media, const json_t *item,
    const char *type)
{
    char         line[256];
    const char  *mime = mcp_str(item, "mimeType", "application/octet-stream");
    json_t      *m = json_object();

    snprintf(line, sizeof(line), "[%s: %.100s, %zu bytes, not shown]", type,
             mime, mcp_b64_size(mcp_str(item, "data", NULL)));
    mcp_sb_sep(sb);
    mcp_sb_str(sb, line);

    json_object_set_new(m, "type", json_string(type));
    json_object_set_new(m, "mimeType", json_string(mime));
    if (json_object_get(item, "data")) {
        json_object_set(m, "data", json_object_get(item, "data"));
    }
    json_array_append_new(media, m);
}


static void
mcp_result_resource(mcp_strbuf_t *sb, json_t *media, const json_t *item)
{
    const json_t  *res = json_object_get(item, "resource");
    const char    *uri = mcp_str(res, "uri", "?");
    const char    *text = mcp_str(res, "text", NULL);
    char           line[512];

    mcp_sb_sep(sb);
    if (text != NULL) {
        snprintf(line, sizeof(line), "[resource %.400s]\n", uri);
        mcp_sb_str(sb, line);
        mcp_sb_str(sb, text);
        return;
    }
    snprintf(line, sizeof(line), "[resource %.400s: %.60s, %zu bytes, "
             "not shown]", uri, mcp_str(res, "mimeType", "binary"),
             mcp_b64_size(mcp_str(res, "blob", NULL)));
    mcp_sb_str(sb, line);
    if (json_is_object(res)) {
        json_t  *m = json_object();
        json_object_set_new(m, "type", json_string("resource"));
        json_object_set(m, "resource", (json_t *) res);
        json_array_append_new(media, m);
    }
}


static void
mcp_result_item(mcp_strbuf_t *sb, json_t *media, const json_t *item)
{
    const char  *type = mcp_str(item, "type", "");
    char         line[640];

    if (strcmp(type, "text") == 0) {
        mcp_sb_sep(sb);
        mcp_sb_str(sb, mcp_str(item, "text", ""));

    } else if (strcmp(type, "image") == 0 || strcmp(type, "audio") == 0) {
        mcp_result_media(sb, media, item, type);

    } else if (strcmp(type, "resource") == 0) {
        mcp_result_resource(sb, media, item);

    } else if (strcmp(type, "resource_link") == 0) {
        snprintf(line, sizeof(line), "[resource link %.400s%s%.200s]",
                 mcp_str(item, "uri", "?"),
                 json_object_get(item, "name") ? " " : "",
                 mcp_str(item, "name", ""));
        mcp_sb_sep(sb);
        mcp_sb_str(sb, line);

    } else {
        snprintf(line, sizeof(line), "[unsupported content type \"%.60s\"]",
                 type);
        mcp_sb_sep(sb);
        mcp_sb_str(sb, line);
    }
}


/* step back from p to the start of a UTF-8 sequence */
static size_t
mcp_utf8_floor(const char *s, size_t p)
{
    while (p > 0 && ((unsigned char) s[p] & 0xc0) == 0x80) {
        p--;
    }
    return p;
}


char *
mcp_result_cap(const char *text, size_t len, size_t max_bytes,
    size_t *out_len)
{
    char     marker[160], *out;
    size_t   mlen, room, head, tail_start, n;

    if (len <= max_bytes) {
        out = malloc(len + 1);
        if (out) {
            memcpy(out, text, len);
            out[len] = '\0';
            *out_len = len;
        }
        return out;
    }

    /* the marker's numbers are at most 20 digits each: size it for that */
    mlen = (size_t) snprintf(marker, sizeof(marker),
                             "\n\n[... %zu of %zu bytes truncated by mcpd "
                             "...]\n\n", len, len);
    room = max_bytes > mlen ? max_bytes - mlen : 0;

    /* two thirds head, one third tail: the start usually says the most */
    head = mcp_utf8_floor(text, room * 2 / 3);
    tail_start = len - (room - head);
    while (tail_start < len && ((unsigned char) text[tail_start] & 0xc0)
                               == 0x80)
    {
        tail_start++;
    }
    if (room == 0) {
        head = 0;
        tail_start = len;
    }

    mlen = (size_t) snprintf(marker, sizeof(marker),
                             "\n\n[... %zu of %zu bytes truncated by mcpd "
                             "...]\n\n", tail_start - head, len);
    if (mlen > max_bytes) {
        mlen = max_bytes;    /* absurdly small cap: the marker is all */
    }

    n = head + mlen + (len - tail_start);
    out = malloc(n + 1);
    if (out == NULL) {
        return NULL;
    }
    memcpy(out, text, head);
    memcpy(out + head, marker, mlen);
    memcpy(out + head + mlen, text + tail_start, len - tail_start);
    out[n] = '\0';
    *out_len = n;
    return out;
}


static int
mcp_result_finish(mcp_strbuf_t *sb, size_t max_bytes, mcp_tool_result_t *out)
{
    if (sb->oom) {
        free(sb->buf);
        return -1;
    }
    if (sb->buf == NULL) {
        mcp_sb_add(sb, "", 0);
        if (sb->oom) {
            return -1;
        }
    }
    out->full_len = sb->len;
    out->text = mcp_result_cap(sb->buf, sb->len, max_bytes, &out->len);
    out->truncated = sb->len > max_bytes;
    free(sb->buf);
    return out->text ? 0 : -1;
}


int
mcp_result_convert(const json_t *result, size_t max_bytes,
    mcp_tool_result_t *out)
{
    mcp_strbuf_t   sb = { 0 };
    const json_t  *content, *item, *sc;
    size_t         i;

    memset(out, 0, sizeof(*out));
    out->media = json_array();
    out->is_error = json_is_true(json_object_get(result, "isError"));

    content = json_object_get(result, "content");
    json_array_foreach(content, i, item) {
        mcp_result_item(&sb, out->media, item);
    }

    sc = json_object_get(result, "structuredContent");
    if (sb.len == 0 && sc != NULL) {
        char  *s = json_dumps(sc, JSON_COMPACT | JSON_ENCODE_ANY);
        if (s) {
            mcp_sb_str(&sb, s);
            free(s);
        }
    }

    if (json_array_size(out->media) == 0) {
        json_decref(out->media);
        out->media = NULL;
    }
    return mcp_result_finish(&sb, max_bytes, out);
}


int
mcp_result_from_error(const json_t *error, const char *message,
    size_t max_bytes, mcp_tool_result_t *out)
{
    mcp_strbuf_t   sb = { 0 };
    char           line[128];
    const json_t  *code = json_object_get(error, "code");

    memset(out, 0, sizeof(*out));
    out->is_error = 1;
    if (error != NULL) {
        snprintf(line, sizeof(line), "MCP error %lld: ",
                 json_is_integer(code) ? (long long) json_integer_value(code)
                                       : 0LL);
        mcp_sb_str(&sb, line);
        mcp_sb_str(&sb, mcp_str(error, "message", "(no message)"));
    } else {
        mcp_sb_str(&sb, message ? message : "tool call failed");
    }
    return mcp_result_finish(&sb, max_bytes, out);
}


void
mcp_result_free(mcp_tool_result_t *r)
{
    free(r->text);
    json_decref(r->media);
    memset(r, 0, sizeof(*r));
}
