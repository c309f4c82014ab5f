/*
 * A small JSON scanner: enough to walk one object's members and skip any
 * value, with a depth limit so hostile nesting costs nothing.  It validates
 * only what it returns.
 */

#include <string.h>

#include "mcp_reqid.h"

#define MCP_JSON_MAX_DEPTH  64

typedef struct {
    const uint8_t  *p;
    const uint8_t  *end;
} mcp_json_t;


static void
mcp_json_ws(mcp_json_t *j)
{
    while (j->p < j->end
           && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n'
               || *j->p == '\r'))
    {
        j->p++;
    }
}


static int
mcp_json_hex(uint8_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')
           || (c >= 'A' && c <= 'F');
}


/* a string at j->p; 0 and j->p past it, or -1 */
static int
mcp_json_string(mcp_json_t *j)
{
    int  i;

    if (j->p >= j->end || *j->p != '"') {
        return -1;
    }

    j->p++;

    while (j->p < j->end) {
        if (*j->p == '"') {
            j->p++;
            return 0;
        }

        if (*j->p < 0x20) {
            return -1;
        }

        if (*j->p == '\\') {
            j->p++;
            if (j->p >= j->end) {
                return -1;
            }

            if (*j->p == 'u') {
                for (i = 1; i <= 4; i++) {
                    if (j->p + i >= j->end || !mcp_json_hex(j->p[i])) {
                        return -1;
                    }
                }
                j->p += 4;

            } else if (strchr("\"\\/bfnrt", *j->p) == NULL || *j->p == 0) {
                return -1;
            }
        }

        j->p++;
    }

    return -1;
}


static int
mcp_json_number(mcp_json_t *j)
{
    const uint8_t  *start = j->p;

    if (j->p < j->end && *j->p == '-') {
        j->p++;
    }

    if (j->p >= j->end || *j->p < '0' || *j->p > '9') {
        return -1;
    }

    while (j->p < j->end
           && ((*j->p >= '0' && *j->p <= '9') || *j->p == '.'
               || *j->p == 'e' || *j->p == 'E' || *j->p == '+'
               || *j->p == '-'))
    {
        j->p++;
    }

    return j->p > start ? 0 : -1;
}


static int
mcp_json_skip(mcp_json_t *j, int depth)
{
    uint8_t  close;

    mcp_json_ws(j);

    if (j->p >= j->end) {
        return -1;
    }

    switch (*j->p) {

    case '"':
        return mcp_json_string(j);

    case '{':
    case '[':
        if (depth >= MCP_JSON_MAX_DEPTH) {
            return -1;
        }

        close = *j->p == '{' ? '}' : ']';
        j->p++;
        mcp_json_ws(j);

        if (j->p < j->end && *j->p == close) {
            j->p++;
            return 0;
        }

        for ( ;; ) {
            if (close == '}') {
                mcp_json_ws(j);
                if (mcp_json_string(j) != 0) {
                    return -1;
                }
                mcp_json_ws(j);
                if (j->p >= j->end || *j->p != ':') {
                    return -1;
                }
                j->p++;
            }

            if (mcp_json_skip(j, depth + 1) != 0) {
                return -1;
            }

            mcp_json_ws(j);

            if (j->p >= j->end) {
                return -1;
            }

            if (*j->p == close) {
                j->p++;
                return 0;
            }

            if (*j->p != ',') {
                return -1;
            }

            j->p++;
        }

    case 't':
        if (j->end - j->p >= 4 && memcmp(j->p, "true", 4) == 0) {
            j->p += 4;
            return 0;
        }
        return -1;

    case 'f':
        if (j->end - j->p >= 5 && memcmp(j->p, "false", 5) == 0) {
            j->p += 5;
            return 0;
        }
        return -1;

    case 'n':
        if (j->end - j->p >= 4 && memcmp(j->p, "null", 4) == 0) {
            j->p += 4;
            return 0;
        }
        return -1;

    default:
        return mcp_json_number(j);
    }
}


void
mcp_json_members(mcp_json_iter_t *it, const uint8_t *p, size_t len)
{
    it->p = p;
    it->end = p + len;
    it->inside = 0;
}


int
mcp_json_next_member(mcp_json_iter_t *it, mcp_json_member_t *m)
{
    mcp_json_t  j;

    j.p = it->p;
    j.end = it->end;
    mcp_json_ws(&j);

    if (!it->inside) {
        if (j.p >= j.end || *j.p != '{') {
            return -1;
        }
        j.p++;
        mcp_json_ws(&j);
        it->inside = 1;
        if (j.p < j.end && *j.p == '}') {
            it->p = j.end;
            return 0;
        }

    } else if (j.p < j.end && *j.p == ',') {
        j.p++;
        mcp_json_ws(&j);

    } else {
        it->p = j.end;
        return j.p < j.end && *j.p == '}' ? 0 : -1;
    }

    m->start = j.p;
    if (mcp_json_string(&j) != 0) {
        return -1;
    }
    m->key = m->start + 1;
    m->key_len = (size_t) (j.p - m->start) - 2;

    mcp_json_ws(&j);
    if (j.p >= j.end || *j.p != ':') {
        return -1;
    }
    j.p++;
    mcp_json_ws(&j);

    m->value = j.p;
    if (mcp_json_skip(&j, 1) != 0) {
        return -1;
    }
    m->value_len = (size_t) (j.p - m->value);

    it->p = j.p;
    return 1;
}


size_t
mcp_json_request_id(const uint8_t *p, size_t len, const uint8_t **tok)
{
    mcp_json_iter_t    it;
    mcp_json_member_t  m;

    mcp_json_members(&it, p, len);

    while (mcp_json_next_member(&it, &m) == 1) {
        if (m.key_len == 10 && memcmp(m.key, "request_id", 10) == 0
            && (*m.value == '"' || *m.value == '-'
                || (*m.value >= '0' && *m.value <= '9')))
        {
            *tok = m.value;
            return m.value_len;
        }
    }

    return 0;
}
