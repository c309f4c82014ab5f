/*
 * The OPEN payload of a session: what mcpd learns about a WebSocket client
 * (docs/protocol.md, OPEN).  Built once at the upgrade, from the request,
 * and kept in the request pool so a replay after a reconnect sends exactly
 * the same attributes.
 */

#include "ngx_mcp_module.h"


static ngx_int_t
ngx_mcp_link_kv(ngx_mcp_conn_t *ctx, size_t cap, const char *key,
    u_char *val, size_t vlen)
{
    size_t  pos = ctx->open_len;

    if (mcp_link_kv_put(ctx->open, cap, &pos, key, ngx_strlen(key),
                        (const char *) val, vlen) != 0)
    {
        return NGX_ERROR;
    }

    ctx->open_len = pos;

    return NGX_OK;
}


/*
 * OPEN: addr, principal, uri, send_buffer_size, h:origin, h:user-agent and
 * q:<arg> for each query argument (values unescaped).  Built once, kept for
 * replays.  send_buffer_size (this location's mcp_send_buffer_size) lets
 * mcpd size a large answer, such as a history page, so that it is taken
 * even when it arrives after a FLOW pause.
 */
ngx_int_t
ngx_mcp_link_build_open(ngx_mcp_conn_t *ctx)
{
    u_char              *p, *last, *eq, *amp, *dst, *src, key[260];
    u_char               sbuf[NGX_SIZE_T_LEN];
    size_t               cap, klen;
    ngx_str_t            principal = ngx_null_string;
    ngx_uint_t           n;
    ngx_table_elt_t     *h;
    ngx_list_part_t     *part;
    ngx_http_request_t  *r = ctx->request;
    ngx_str_t            origin = ngx_null_string, ua = ngx_null_string;
    ngx_uint_t           i;

    if (ctx->conf->principal
        && ngx_http_complex_value(r, ctx->conf->principal, &principal)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    part = &r->headers_in.headers.part;
    h = part->elts;
    n = 0;
    for (i = 0; /* void */ ; i++) {
        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }
            part = part->next;
            h = part->elts;
            i = 0;
        }
        if (h[i].key.len == 6
            && ngx_strncasecmp(h[i].key.data, (u_char *) "origin", 6) == 0)
        {
            origin = h[i].value;
            n++;
        }
    }

    if (r->headers_in.user_agent) {
        ua = r->headers_in.user_agent->value;
    }

    cap = 7 * 64 + r->connection->addr_text.len + principal.len
          + r->unparsed_uri.len
          + origin.len + ua.len + 3 * r->args.len + 512;

    ctx->open = ngx_pnalloc(r->pool, cap);
    if (ctx->open == NULL) {
        return NGX_ERROR;
    }

    ctx->open_len = 0;

    if (ngx_mcp_link_kv(ctx, cap, "addr", r->connection->addr_text.data,
                        r->connection->addr_text.len) != NGX_OK
        || (principal.len && ngx_mcp_link_kv(ctx, cap, "principal",
                                             principal.data, principal.len)
                             != NGX_OK)
        || ngx_mcp_link_kv(ctx, cap, "uri", r->unparsed_uri.data,
                           r->unparsed_uri.len) != NGX_OK
        || ngx_mcp_link_kv(ctx, cap, "send_buffer_size", sbuf,
                           ngx_sprintf(sbuf, "%uz",
                                       ctx->conf->send_buffer_size) - sbuf)
           != NGX_OK
        || (origin.len && ngx_mcp_link_kv(ctx, cap, "h:origin", origin.data,
                                          origin.len) != NGX_OK)
        || (ua.len && ngx_mcp_link_kv(ctx, cap, "h:user-agent", ua.data,
                                      ua.len) != NGX_OK))
    {
        return NGX_ERROR;
    }

    p = r->args.data;
    last = p + r->args.len;

    while (p < last) {
        amp = ngx_strlchr(p, last, '&');
        if (amp == NULL) {
            amp = last;
        }

        eq = ngx_strlchr(p, amp, '=');
        if (eq == NULL) {
            eq = amp;
        }

        klen = ngx_min((size_t) (eq - p), sizeof(key) - 3);
        if (klen) {
            key[0] = 'q';
            key[1] = ':';
            dst = key + 2;
            src = p;
            ngx_unescape_uri(&dst, &src, klen, NGX_UNESCAPE_URI);
            *dst = '\0';

            dst = ctx->open + cap - (amp - eq) - 1;     /* scratch at end */
            src = eq < amp ? eq + 1 : eq;
            last = dst;
            ngx_unescape_uri(&dst, &src, amp - src, NGX_UNESCAPE_URI);

            if (ngx_mcp_link_kv(ctx, cap - (amp - eq) - 1, (char *) key, last,
                                dst - last) != NGX_OK)
            {
                return NGX_ERROR;
            }

            last = r->args.data + r->args.len;
        }

        p = amp + 1;
    }

    return NGX_OK;
}
