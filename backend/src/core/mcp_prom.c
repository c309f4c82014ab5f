/*
 * mcpd's figures as Prometheus text, for /health?format=prometheus: a
 * STATS request whose payload is "prometheus" (docs/protocol.md).
 *
 * The text is rendered from the very JSON objects the STATS reply carries,
 * so the two can never disagree: every number (and boolean, as 0/1) of a
 * registered object becomes one sample named by its path, prefix first
 * (chat_stats.requests.completed -> mcp_chat_requests_completed).  An
 * object named in the registration's label map is a set of one figure per
 * label value instead (errors.{code: n} -> mcp_chat_errors{code="..."};
 * providers.{name: {...}} -> mcp_llm_providers_<path>{provider="..."});
 * strings and arrays are descriptions, left to the JSON.  Samples are
 * untyped: the JSON does not say which figures are counters.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mcp_daemon.h"

#define MCP_PROM_NAME_MAX  200


/* metric names: [a-zA-Z0-9_:], anything else becomes '_' */
static void
mcp_prom_name_add(char *name, size_t len, const char *part)
{
    size_t  n = strlen(name);
    char    ch;

    if (n && n + 1 < len) {
        name[n++] = '_';
    }
    for ( /* void */ ; *part && n + 1 < len; part++) {
        ch = *part;
        name[n++] = ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
                     || (ch >= '0' && ch <= '9') || ch == '_') ? ch : '_';
    }
    name[n] = '\0';
}


static int
mcp_prom_value(json_t *v, double *out)
{
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return 0;
    }
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
        return 0;
    }
    return -1;
}


static void
mcp_prom_label_value(FILE *f, const char *s)
{
    for ( /* void */ ; *s; s++) {
        if (*s == '\\' || *s == '"') {
            fputc('\\', f);
            fputc(*s, f);
        } else if (*s == '\n') {
            fputs("\\n", f);
        } else {
            fputc(*s, f);
        }
    }
}


static const char *
mcp_prom_label_of(const mcp_prom_label_t *labels, const char *key)
{
    for ( /* void */ ; labels && labels->key; labels++) {
        if (strcmp(labels->key, key) == 0) {
            return labels->label;
        }
    }
    return NULL;
}


/* one sample: name{labels} value, the braces only with labels */
static void
mcp_prom_sample(FILE *f, const char *name, const char *labels, double x)
{
    fprintf(f, labels[0] ? "%s{%s} %.17g\n" : "%s%s %.17g\n", name, labels,
            x);
}


static void
mcp_prom_walk(FILE *f, const char *prefix, json_t *obj,
    const mcp_prom_label_t *map, const char *labels)
{
    char         name[MCP_PROM_NAME_MAX], *more;
    const char  *k, *label, *lk;
    json_t      *v, *lv;
    size_t       n;
    double       x;

    json_object_foreach(obj, k, v) {
        snprintf(name, sizeof(name), "%s", prefix);
        mcp_prom_name_add(name, sizeof(name), k);
        if (!json_is_object(v)) {
            if (mcp_prom_value(v, &x) == 0) {
                mcp_prom_sample(f, name, labels, x);
            }
            continue;
        }
        label = mcp_prom_label_of(map, k);
        if (label == NULL) {
            mcp_prom_walk(f, name, v, map, labels);
            continue;
        }
        /* each key is a value of label, for its number or its object */
        json_object_foreach(v, lk, lv) {
            FILE  *lf = open_memstream(&more, &n);

            if (lf == NULL) {
                continue;
            }
            fprintf(lf, "%s%s%s=\"", labels, labels[0] ? "," : "", label);
            mcp_prom_label_value(lf, lk);
            fputc('"', lf);
            if (fclose(lf) != 0) {
                free(more);
                continue;
            }
            if (json_is_object(lv)) {
                mcp_prom_walk(f, name, lv, map, more);
            } else if (mcp_prom_value(lv, &x) == 0) {
                mcp_prom_sample(f, name, more, x);
            }
            free(more);
        }
    }
}


char *
mcp_prom_render(const char *prefix, json_t *obj,
    const mcp_prom_label_t *labels)
{
    FILE    *f;
    char    *text = NULL;
    size_t   len = 0;

    f = open_memstream(&text, &len);
    if (f == NULL) {
        return NULL;
    }
    if (json_is_object(obj)) {
        mcp_prom_walk(f, prefix, obj, labels, "");
    }
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}
