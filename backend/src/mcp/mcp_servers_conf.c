/*
 * servers.json parsing and validation (see mcp_servers_conf.h).
 */

#include "mcp/mcp_servers_conf.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


const char *
mcp_transport_name(int kind)
{
    switch (kind) {
    case MCP_TRANSPORT_HTTP:  return "streamable-http";
    case MCP_TRANSPORT_SSE:   return "sse";
    default:                  return "stdio";
    }
}


static void
mcp_strv_free(char **v, size_t n)
{
    size_t  i;

    if (v == NULL) {
        return;
    }
    for (i = 0; i < n; i++) {
        free(v[i]);
    }
    free(v);
}


void
mcp_servers_conf_free(mcp_servers_conf_t *c)
{
    size_t  i;

    for (i = 0; i < c->n; i++) {
        mcp_server_conf_t  *s = &c->items[i];
        free(s->name);
        free(s->command);
        mcp_strv_free(s->args, s->nargs + 1);
        mcp_strv_free(s->env, s->nenv);
        free(s->cwd);
        free(s->url);
        mcp_strv_free(s->headers, s->nheaders);
    }
    free(c->items);
    memset(c, 0, sizeof(*c));
}


#define FAIL(...)  do { mcp_err_set(err, NULL, __VA_ARGS__); return -1; } \
                   while (0)

/* an object of strings -> "K<sep>V" vector */
static int
mcp_servers_kv(const char *file, const char *srv, const char *key,
    const json_t *obj, const char *sep, char ***out, size_t *n,
    mcp_err_t *err)
{
    const char  *k;
    json_t      *v;
    size_t       i = 0, len;

    if (!json_is_object(obj)) {
        FAIL("%s: mcpServers.%s.%s must be an object of strings", file, srv,
             key);
    }
    *out = calloc(json_object_size(obj) + 1, sizeof(char *));
    if (*out == NULL) {
        FAIL("out of memory");
    }
    json_object_foreach((json_t *) obj, k, v) {
        if (!json_is_string(v)) {
            FAIL("%s: mcpServers.%s.%s.%s must be a string", file, srv, key,
                 k);
        }
        if (strcmp(sep, "=") == 0 && (*k == '\0' || strchr(k, '='))) {
            FAIL("%s: mcpServers.%s.%s: bad variable name '%s'", file, srv,
                 key, k);
        }
        len = strlen(k) + strlen(sep) + json_string_length(v) + 1;
        (*out)[i] = malloc(len);
        if ((*out)[i] == NULL) {
            FAIL("out of memory");
        }
        snprintf((*out)[i], len, "%s%s%s", k, sep, json_string_value(v));
        *n = ++i;
    }
    return 0;
}


static int
mcp_servers_args(const char *file, const char *srv, const json_t *args,
    mcp_server_conf_t *s, mcp_err_t *err)
{
    size_t   i, n = json_array_size(args);
    json_t  *a;

    if (args != NULL && !json_is_array(args)) {
        FAIL("%s: mcpServers.%s.args must be an array of strings", file, srv);
    }
    s->args = calloc(n + 2, sizeof(char *));
    if (s->args == NULL || (s->args[0] = strdup(s->command)) == NULL) {
        FAIL("out of memory");
    }
    json_array_foreach(args, i, a) {
        if (!json_is_string(a)) {
            FAIL("%s: mcpServers.%s.args[%zu] must be a string", file, srv, i);
        }
        s->args[i + 1] = strdup(json_string_value(a));
        if (s->args[i + 1] == NULL) {
            FAIL("out of memory");
        }
        s->nargs = i + 1;
    }
    return 0;
}


static int
mcp_servers_str(const char *file, const char *srv, const char *key,
    const json_t *v, char **out, mcp_err_t *err)
{
    if (!json_is_string(v) || json_string_length(v) == 0) {
        FAIL("%s: mcpServers.%s.%s must be a non-empty string", file, srv,
             key);
    }
    *out = strdup(json_string_value(v));
    if (*out == NULL) {
        FAIL("out of memory");
    }
    return 0;
}


static int
mcp_servers_type(const char *file, const char *srv, const json_t *v,
    mcp_server_conf_t *s, mcp_err_t *err)
{
    const char  *t = json_string_value(v);

    if (t == NULL) {
        FAIL("%s: mcpServers.%s.type must be a string", file, srv);
    }
    if (strcmp(t, "stdio") == 0) {
        s->transport = MCP_TRANSPORT_STDIO;
    } else if (strcmp(t, "http") == 0 || strcmp(t, "streamable-http") == 0
               || strcmp(t, "streamableHttp") == 0)
    {
        s->transport = MCP_TRANSPORT_HTTP;
    } else if (strcmp(t, "sse") == 0) {
        s->transport = MCP_TRANSPORT_SSE;
    } else {
        FAIL("%s: mcpServers.%s.type: unknown transport '%s' (stdio, http, "
             "sse)", file, srv, t);
    }
    return 0;
}


static int
mcp_servers_one(const char *file, const char *srv, const json_t *o,
    mcp_server_conf_t *s, mcp_err_t *err)
{
    const char  *k;
    json_t      *v, *type;

    if (!json_is_object(o)) {
        FAIL("%s: mcpServers.%s must be an object", file, srv);
    }
    if (*srv == '\0' || strlen(srv) > 128) {
        FAIL("%s: server names must be 1 to 128 characters", file);
    }
    s->name = strdup(srv);
    s->enabled = 1;
    if (s->name == NULL) {
        FAIL("out of memory");
    }

    json_object_foreach((json_t *) o, k, v) {
        if (k[0] == '_' || strcmp(k, "command") == 0 || strcmp(k, "url") == 0
            || strcmp(k, "type") == 0 || strcmp(k, "args") == 0)
        {
            continue;    /* comments; the rest is read in order below */
        }
        if (strcmp(k, "enabled") == 0) {
            if (!json_is_boolean(v)) {
                FAIL("%s: mcpServers.%s.enabled must be true or false", file,
                     srv);
            }
            s->enabled = json_is_true(v);
        } else if (strcmp(k, "env") == 0) {
            if (mcp_servers_kv(file, srv, k, v, "=", &s->env, &s->nenv, err)) {
                return -1;
            }
        } else if (strcmp(k, "headers") == 0) {
            if (mcp_servers_kv(file, srv, k, v, ": ", &s->headers,
                               &s->nheaders, err))
            {
                return -1;
            }
        } else if (strcmp(k, "cwd") == 0) {
            if (mcp_servers_str(file, srv, k, v, &s->cwd, err)) {
                return -1;
            }
        } else if (strcmp(k, "timeout") == 0) {
            /* milliseconds, as LibreChat and Claude Code write it */
            if (!json_is_integer(v) || json_integer_value(v) <= 0) {
                FAIL("%s: mcpServers.%s.timeout must be a positive number of "
                     "milliseconds", file, srv);
            }
            s->timeout_ms = json_integer_value(v);
        } else {
            FAIL("%s: mcpServers.%s: unknown key '%s' (known: command, args, "
                 "env, cwd, enabled, url, headers, type, timeout)", file, srv,
                 k);
        }
    }

    type = json_object_get(o, "type");
    if (json_object_get(o, "command") && json_object_get(o, "url")) {
        FAIL("%s: mcpServers.%s: give either 'command' (stdio) or 'url' "
             "(HTTP), not both", file, srv);
    }
    if (json_object_get(o, "command")) {
        if (mcp_servers_str(file, srv, "command", json_object_get(o, "command"),
                            &s->command, err)
            || mcp_servers_args(file, srv, json_object_get(o, "args"), s, err))
        {
            return -1;
        }
        s->transport = MCP_TRANSPORT_STDIO;
        if (type && (!json_is_string(type)
                     || strcmp(json_string_value(type), "stdio") != 0))
        {
            FAIL("%s: mcpServers.%s: 'command' needs type stdio", file, srv);
        }
        if (s->nheaders) {
            FAIL("%s: mcpServers.%s: 'headers' only apply to 'url' servers",
                 file, srv);
        }
        return 0;
    }
    if (json_object_get(o, "url")) {
        const char  *u;
        if (mcp_servers_str(file, srv, "url", json_object_get(o, "url"),
                            &s->url, err))
        {
            return -1;
        }
        u = s->url;
        if (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0) {
            FAIL("%s: mcpServers.%s.url must start with http:// or https://",
                 file, srv);
        }
        s->transport = MCP_TRANSPORT_HTTP;
        if (type && mcp_servers_type(file, srv, type, s, err)) {
            return -1;
        }
        if (s->transport == MCP_TRANSPORT_STDIO) {
            FAIL("%s: mcpServers.%s: type stdio needs 'command'", file, srv);
        }
        if (json_object_get(o, "args") || s->nenv || s->cwd) {
            FAIL("%s: mcpServers.%s: 'args', 'env' and 'cwd' only apply to "
                 "'command' servers", file, srv);
        }
        return 0;
    }
    FAIL("%s: mcpServers.%s: needs 'command' (stdio) or 'url' (HTTP)", file,
         srv);
}


int
mcp_servers_conf_parse(const char *name, const char *text, size_t len,
    mcp_servers_conf_t *out, mcp_err_t *err)
{
    json_error_t   je;
    json_t        *root, *servers, *v;
    const char    *k;

    memset(out, 0, sizeof(*out));
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL) {
        mcp_err_set(err, NULL, "%s:%d:%d: %s", name, je.line, je.column,
                    je.text);
        return -1;
    }
    if (!json_is_object(root)) {
        mcp_err_set(err, NULL, "%s: the top level must be an object with "
                    "\"mcpServers\"", name);
        goto fail;
    }
    json_object_foreach(root, k, v) {
        if (k[0] != '_' && strcmp(k, "mcpServers") != 0) {
            mcp_err_set(err, NULL, "%s: unknown top-level key '%s' (expected "
                        "\"mcpServers\")", name, k);
            goto fail;
        }
    }
    servers = json_object_get(root, "mcpServers");
    if (!json_is_object(servers)) {
        mcp_err_set(err, NULL, "%s: \"mcpServers\" must be an object of "
                    "servers", name);
        goto fail;
    }
    out->items = calloc(json_object_size(servers) + 1, sizeof(*out->items));
    if (out->items == NULL) {
        mcp_err_set(err, NULL, "out of memory");
        goto fail;
    }
    /* jansson keeps insertion order: the file's order */
    json_object_foreach(servers, k, v) {
        out->n++;
        if (mcp_servers_one(name, k, v, &out->items[out->n - 1], err) != 0) {
            goto fail;
        }
    }
    json_decref(root);
    return 0;

fail:
    json_decref(root);
    mcp_servers_conf_free(out);
    return -1;
}


int
mcp_servers_conf_load(const char *path, mcp_servers_conf_t *out,
    mcp_err_t *err)
{
    FILE    *f = fopen(path, "rb");
    char    *buf;
    long     n;
    int      rc;

    memset(out, 0, sizeof(*out));
    if (f == NULL) {
        mcp_err_set(err, NULL, "%s: cannot open: %m", path);
        return -1;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || n > (16 << 20)
        || fseek(f, 0, SEEK_SET) != 0)
    {
        fclose(f);
        mcp_err_set(err, NULL, "%s: unreadable or larger than 16 MB", path);
        return -1;
    }
    buf = malloc((size_t) n + 1);
    if (buf == NULL || fread(buf, 1, (size_t) n, f) != (size_t) n) {
        free(buf);
        fclose(f);
        mcp_err_set(err, NULL, "%s: read failed", path);
        return -1;
    }
    fclose(f);
    rc = mcp_servers_conf_parse(path, buf, (size_t) n, out, err);
    free(buf);
    return rc;
}
