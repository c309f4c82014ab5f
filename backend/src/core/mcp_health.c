/*
 * The health registry: each subsystem says what is wrong with it now, and
 * the STATS reply carries the verdict as one object, first of all:
 *
 *   "health": {"status": "degraded",
 *              "reasons": [{"component": "redis", "reason": "..."}]}
 *
 * The module folds it into /health's top-level status and reasons, next
 * to its own (the link to mcpd).  Reasons are text for an operator: what
 * is wrong, and what it means for users; never a user or conversation id.
 * For Prometheus each component is one sample, 0 or 1, so an alert can
 * name the component without parsing text.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mcp_daemon.h"

struct mcp_health_s {
    json_t      *reasons;       /* the array being filled */
    const char  *component;     /* of the fn being asked */
};


int
mcp_daemon_add_health(mcp_daemon_t *d, const char *component,
    mcp_health_pt fn, void *ctx)
{
    mcp_daemon_health_t  *a;
    size_t                i;

    for (i = 0; i < d->nhealth; i++) {
        if (strcmp(d->health[i].component, component) == 0) {
            return -1;
        }
    }

    a = realloc(d->health, (d->nhealth + 1) * sizeof(*a));
    if (a == NULL) {
        return -1;
    }
    d->health = a;

    a[d->nhealth].component = strdup(component);
    if (a[d->nhealth].component == NULL) {
        return -1;
    }
    a[d->nhealth].fn = fn;
    a[d->nhealth].ctx = ctx;
    d->nhealth++;
    return 0;
}


void
mcp_daemon_health_cleanup(mcp_daemon_t *d)
{
    size_t  i;

    for (i = 0; i < d->nhealth; i++) {
        free(d->health[i].component);
    }
    free(d->health);
    d->health = NULL;
    d->nhealth = 0;
}


void
mcp_health_reason(mcp_health_t *h, const char *fmt, ...)
{
    va_list   ap;
    char      text[512];

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);

    json_array_append_new(h->reasons, json_pack("{s:s, s:s}",
                          "component", h->component, "reason", text));
}


json_t *
mcp_daemon_health_json(mcp_daemon_t *d)
{
    mcp_health_t  h;
    size_t        i;

    h.reasons = json_array();
    if (h.reasons == NULL) {
        return NULL;
    }
    for (i = 0; i < d->nhealth; i++) {
        h.component = d->health[i].component;
        d->health[i].fn(&h, d->health[i].ctx);
    }
    return json_pack("{s:s, s:o}",
                     "status", json_array_size(h.reasons) ? "degraded" : "ok",
                     "reasons", h.reasons);
}


/* does any reason of health name component? */
static int
mcp_health_names(json_t *health, const char *component)
{
    json_t      *r;
    size_t       i;
    const char  *c;

    json_array_foreach(json_object_get(health, "reasons"), i, r) {
        c = json_string_value(json_object_get(r, "component"));
        if (c != NULL && strcmp(c, component) == 0) {
            return 1;
        }
    }
    return 0;
}


char *
mcp_daemon_health_prometheus(mcp_daemon_t *d, json_t *health)
{
    FILE    *f;
    char    *text = NULL;
    size_t   len = 0, i;

    f = open_memstream(&text, &len);
    if (f == NULL) {
        return NULL;
    }
    /* component names are ours (registered in code): no escaping needed */
    for (i = 0; i < d->nhealth; i++) {
        fprintf(f, "mcp_health_component_degraded{component=\"%s\"} %d\n",
                d->health[i].component,
                mcp_health_names(health, d->health[i].component));
    }
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}
