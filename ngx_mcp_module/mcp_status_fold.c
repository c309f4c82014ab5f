/* Folding mcpd's health verdict into /health: see mcp_status_fold.h. */

#include <string.h>

#include "mcp_reqid.h"
#include "mcp_status_fold.h"


static int
mcp_status_key_is(const mcp_json_member_t *m, const char *key)
{
    return m->key_len == strlen(key) && memcmp(m->key, key, m->key_len) == 0;
}


/* health.reasons as the text between its brackets, blanks trimmed */
static void
mcp_status_reasons(const mcp_json_member_t *health, mcp_status_fold_t *f)
{
    mcp_json_iter_t    it;
    mcp_json_member_t  m;
    const uint8_t     *p, *last;

    mcp_json_members(&it, health->value, health->value_len);

    while (mcp_json_next_member(&it, &m) == 1) {
        if (!mcp_status_key_is(&m, "reasons") || *m.value != '[') {
            continue;
        }
        p = m.value + 1;
        last = m.value + m.value_len - 1;   /* the ']' */
        while (p < last && (*p == ' ' || *p == '\n' || *p == '\t'
                            || *p == '\r'))
        {
            p++;
        }
        while (last > p && (last[-1] == ' ' || last[-1] == '\n'
                            || last[-1] == '\t' || last[-1] == '\r'))
        {
            last--;
        }
        f->reasons = p;
        f->reasons_len = (size_t) (last - p);
        return;
    }
}


int
mcp_status_fold(const uint8_t *reply, size_t len, mcp_status_fold_t *f)
{
    int                 rc, seen_health = 0;
    const uint8_t      *end_before = NULL, *first = NULL, *last = NULL;
    const uint8_t      *after = NULL;
    mcp_json_iter_t     it;
    mcp_json_member_t   m;

    memset(f, 0, sizeof(*f));
    mcp_json_members(&it, reply, len);

    while ((rc = mcp_json_next_member(&it, &m)) == 1) {
        if (!seen_health && mcp_status_key_is(&m, "health")) {
            seen_health = 1;
            end_before = last;
            mcp_status_reasons(&m, f);
            continue;
        }
        if (first == NULL) {
            first = m.start;
        }
        if (seen_health && after == NULL) {
            after = m.start;
        }
        last = m.value + m.value_len;
    }

    if (rc != 0) {
        memset(f, 0, sizeof(*f));
        return -1;
    }

    if (!seen_health) {
        end_before = last;
    }
    if (first != NULL && end_before != NULL) {
        f->before = first;
        f->before_len = (size_t) (end_before - first);
    }
    if (after != NULL) {
        f->after = after;
        f->after_len = (size_t) (last - after);
    }
    return 0;
}


int
mcp_status_prom_degraded(const uint8_t *text, size_t len)
{
    static const char   name[] = MCP_HEALTH_PROM_COMPONENT "{";
    const uint8_t      *p = text, *end = text + len, *eol;

    while (p < end) {
        eol = memchr(p, '\n', (size_t) (end - p));
        if (eol == NULL) {
            eol = end;
        }
        if ((size_t) (eol - p) > sizeof(name) + 1
            && memcmp(p, name, sizeof(name) - 1) == 0
            && eol[-2] == ' ' && eol[-1] == '1')
        {
            return 1;
        }
        p = eol + 1;
    }
    return 0;
}
