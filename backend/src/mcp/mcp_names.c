/*
 * Tool-name mapping (see mcp_names.h for the rules).  Sets are small (tens
 * to a few hundred tools), so collision checks are simple scans.
 */

#include "mcp/mcp_names.h"
#include "util/mcp_lru.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


void
mcp_names_init(mcp_names_t *m)
{
    memset(m, 0, sizeof(*m));
}


void
mcp_names_free(mcp_names_t *m)
{
    size_t  i;

    for (i = 0; i < m->n; i++) {
        free(m->items[i].server);
        free(m->items[i].tool);
        free(m->items[i].exposed);
    }
    free(m->items);
    memset(m, 0, sizeof(*m));
}


int
mcp_names_add(mcp_names_t *m, const char *server, const char *tool)
{
    mcp_name_t  *ni;
    size_t       cap;

    if (m->n == m->cap) {
        cap = m->cap ? m->cap * 2 : 16;
        ni = realloc(m->items, cap * sizeof(*ni));
        if (ni == NULL) {
            return -1;
        }
        m->items = ni;
        m->cap = cap;
    }
    ni = &m->items[m->n];
    ni->server = strdup(server);
    ni->tool = strdup(tool);
    ni->exposed = NULL;
    if (ni->server == NULL || ni->tool == NULL) {
        free(ni->server);
        free(ni->tool);
        return -1;
    }
    m->n++;
    return 0;
}


static int
mcp_names_char_ok(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9') || c == '_' || c == '-';
}


int
mcp_names_valid(const char *s)
{
    size_t  n = 0;

    for (; *s; s++, n++) {
        if (!mcp_names_char_ok((unsigned char) *s)) {
            return 0;
        }
    }
    return n >= 1 && n <= MCP_NAME_MAX;
}


/* sanitized copy of s (full length; may exceed 64) */
static char *
mcp_names_sanitize(const char *s)
{
    size_t   n = strlen(s), i;
    char    *out = malloc(n + 2);

    if (out == NULL) {
        return NULL;
    }
    for (i = 0; i < n; i++) {
        out[i] = mcp_names_char_ok((unsigned char) s[i]) ? s[i] : '_';
    }
    if (n == 0) {
        out[n++] = '_';
    }
    out[n] = '\0';
    return out;
}


static char *
mcp_names_join(const char *server, const char *tool)
{
    char    *s = mcp_names_sanitize(server), *t = mcp_names_sanitize(tool);
    char    *out = NULL;
    size_t   n;

    if (s && t) {
        n = strlen(s) + 2 + strlen(t) + 1;
        out = malloc(n);
        if (out) {
            snprintf(out, n, "%s__%s", s, t);
        }
    }
    free(s);
    free(t);
    return out;
}


/* cut to fit and append "_" + 8 hex digits of hash(server \0 tool) */
static void
mcp_names_hash_suffix(char *name, const mcp_name_t *e, unsigned salt)
{
    size_t    ls = strlen(e->server), lt = strlen(e->tool), keep;
    char     *key = malloc(ls + lt + 2);
    uint64_t  h;

    if (key == NULL) {
        return;
    }
    memcpy(key, e->server, ls + 1);
    memcpy(key + ls + 1, e->tool, lt);
    h = mcp_lru_hash(key, ls + 1 + lt) + salt * 0x9e3779b97f4a7c15ULL;
    free(key);

    keep = strlen(name);
    if (keep > MCP_NAME_MAX - 9) {
        keep = MCP_NAME_MAX - 9;
    }
    snprintf(name + keep, 10, "_%08x", (unsigned) (h ^ (h >> 32)));
}


static size_t
mcp_names_count(const mcp_names_t *m, char **names, const char *name)
{
    size_t  i, c = 0;

    for (i = 0; i < m->n; i++) {
        if (names[i] && strcmp(names[i], name) == 0) {
            c++;
        }
    }
    return c;
}


int
mcp_names_build(mcp_names_t *m)
{
    char      **base;
    size_t      i, j;
    unsigned    salt;
    int         rc = -1;

    base = calloc(m->n ? m->n : 1, sizeof(char *));
    if (base == NULL) {
        return -1;
    }
    for (i = 0; i < m->n; i++) {
        base[i] = mcp_names_sanitize(m->items[i].tool);
        if (base[i] == NULL) {
            goto done;
        }
    }

    /* pass 1: prefix every name that collides after sanitizing */
    for (i = 0; i < m->n; i++) {
        free(m->items[i].exposed);
        m->items[i].exposed = NULL;
        if (mcp_names_count(m, base, base[i]) > 1) {
            m->items[i].exposed = mcp_names_join(m->items[i].server,
                                                 m->items[i].tool);
        } else {
            m->items[i].exposed = strdup(base[i]);
        }
        if (m->items[i].exposed == NULL) {
            goto done;
        }
    }

    /* pass 2: too long, or colliding even with the prefix: hash suffix */
    for (i = 0; i < m->n; i++) {
        char  *e = m->items[i].exposed;
        int    clash = 0;

        for (j = 0; j < m->n; j++) {
            if (j != i && strcmp(m->items[j].exposed, e) == 0) {
                clash = 1;
                break;
            }
        }
        if (strlen(e) > MCP_NAME_MAX || clash) {
            char  *nb = realloc(e, strlen(e) + 10);
            if (nb == NULL) {
                goto done;
            }
            m->items[i].exposed = nb;
            mcp_names_hash_suffix(nb, &m->items[i], 0);
        }
    }

    /*
     * pass 3: a hash clash (or a duplicate (server, tool) pair, which a
     * broken server can send) is settled by re-salting the later entry
     */
    for (i = 0; i < m->n; i++) {
        for (salt = 1; salt < 1000; salt++) {
            int  clash = 0;
            for (j = 0; j < i; j++) {
                if (strcmp(m->items[j].exposed, m->items[i].exposed) == 0) {
                    clash = 1;
                    break;
                }
            }
            if (!clash) {
                break;
            }
            {
                char  *nb = realloc(m->items[i].exposed,
                                    strlen(m->items[i].exposed) + 10);
                if (nb == NULL) {
                    goto done;
                }
                m->items[i].exposed = nb;
                if (strlen(nb) > MCP_NAME_MAX - 9) {
                    nb[MCP_NAME_MAX - 9] = '\0';
                }
                mcp_names_hash_suffix(nb, &m->items[i], salt);
            }
        }
    }
    rc = 0;

done:
    for (i = 0; i < m->n; i++) {
        free(base[i]);
    }
    free(base);
    return rc;
}


const mcp_name_t *
mcp_names_by_exposed(const mcp_names_t *m, const char *exposed)
{
    size_t  i;

    for (i = 0; i < m->n; i++) {
        if (m->items[i].exposed && strcmp(m->items[i].exposed, exposed) == 0) {
            return &m->items[i];
        }
    }
    return NULL;
}


const char *
mcp_names_exposed(const mcp_names_t *m, const char *server, const char *tool)
{
    size_t  i;

    for (i = 0; i < m->n; i++) {
        if (strcmp(m->items[i].server, server) == 0
            && strcmp(m->items[i].tool, tool) == 0)
        {
            return m->items[i].exposed;
        }
    }
    return NULL;
}
