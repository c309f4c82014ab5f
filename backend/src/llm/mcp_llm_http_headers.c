/*
 * The response headers of one attempt, as curl hands them over line by
 * line: what the provider says about retrying (Retry-After and its
 * millisecond variants) and about its rate limits (x-ratelimit-*), fed to
 * the limiter once the header block ends.
 */

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "llm/mcp_llm_int.h"

static int64_t
http_header_int(const char *v)
{
    char  *end;
    long   n = strtol(v, &end, 10);

    return end != v && n >= 0 ? (int64_t) n : -1;
}

static void
http_header_value(mcp_llm_req_t *r, const char *name, size_t nlen,
    const char *v)
{
    int64_t  ms;

#define IS(s)  (nlen == sizeof(s) - 1 && strncasecmp(name, s, nlen) == 0)

    if (IS("retry-after")) {
        if (r->retry_after_ms < 0
            && mcp_llm_parse_retry_after(v, time(NULL), &ms) == 0)
        {
            r->retry_after_ms = ms;
        }
    } else if (IS("retry-after-ms") || IS("x-ms-retry-after-ms")) {
        if (mcp_llm_parse_retry_after_ms(v, &ms) == 0) {
            r->retry_after_ms = ms;      /* more precise: wins */
        }
    } else if (IS("x-ratelimit-remaining-requests")) {
        r->rl_rem_req = http_header_int(v);
    } else if (IS("x-ratelimit-remaining-tokens")) {
        r->rl_rem_tok = http_header_int(v);
    } else if (IS("x-ratelimit-reset-requests")) {
        if (mcp_llm_parse_duration(v, &ms) == 0) {
            r->rl_reset_req = ms;
        }
    } else if (IS("x-ratelimit-reset-tokens")) {
        if (mcp_llm_parse_duration(v, &ms) == 0) {
            r->rl_reset_tok = ms;
        }
    }
#undef IS
}

size_t
mcp_llm_http_on_header(char *buf, size_t size, size_t nitems, void *userp)
{
    mcp_llm_req_t  *r = userp;
    size_t          n = size * nitems, len = n;
    const char     *colon;
    char            value[128];
    size_t          vlen, nlen;

    r->last_io_ms = uv_now(r->llm->loop);
    while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r')) {
        len--;
    }

    if (len == 0) {
        /* end of this response's headers: learn the provider's view */
        if (r->rl_rem_req >= 0 || r->rl_rem_tok >= 0) {
            mcp_llm_ratelimit_observe(&r->p->rl, uv_now(r->llm->loop),
                                      r->rl_rem_req, r->rl_reset_req,
                                      r->rl_rem_tok, r->rl_reset_tok);
        }
        return n;
    }

    if (len > 5 && strncmp(buf, "HTTP/", 5) == 0) {
        r->retry_after_ms = -1;
        r->rl_rem_req = r->rl_reset_req = r->rl_rem_tok = r->rl_reset_tok = -1;
        return n;
    }

    colon = memchr(buf, ':', len);
    if (colon == NULL) {
        return n;
    }
    nlen = (size_t) (colon - buf);
    vlen = len - nlen - 1;
    colon++;
    while (vlen && (*colon == ' ' || *colon == '\t')) {
        colon++;
        vlen--;
    }
    if (vlen >= sizeof(value)) {
        return n;
    }
    memcpy(value, colon, vlen);
    value[vlen] = '\0';
    http_header_value(r, buf, nlen, value);
    return n;
}
