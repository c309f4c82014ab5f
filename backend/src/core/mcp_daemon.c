/*
 * The daemon's registries (stats, actions, hooks) and its STATS object.
 * Running and stopping are in mcp_daemon_run.c.
 */

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/mcp_daemon.h"
#include "link/mcp_link_server.h"


int
mcp_daemon_init(mcp_daemon_t *d, uv_loop_t *loop, const mcp_conf_t *conf,
    const mcp_cfg_node_t *root, const char *conf_path)
{
    memset(d, 0, sizeof(*d));
    d->loop = loop;
    d->conf = conf;
    d->conf_root = root;
    d->conf_path = conf_path;
    mcp_log_init(&d->log, conf->logging.level, conf->logging.format);
    d->start_ms = uv_now(loop);

    /* core answers ping itself: a round trip through nginx and mcpd */
    return mcp_daemon_add_action(d, "ping", mcp_dispatch_ping, NULL);
}


void
mcp_daemon_cleanup(mcp_daemon_t *d)
{
    size_t  i;

    for (i = d->non_exit; i > 0; i--) {
        ((mcp_daemon_hook_pt) d->on_exit[i - 1].fn)(d, d->on_exit[i - 1].ctx);
    }
    free(d->on_exit);
    d->on_exit = NULL;
    d->non_exit = 0;
    for (i = 0; i < d->nstats; i++) {
        free(d->stats[i].key);
    }
    for (i = 0; i < d->nactions; i++) {
        free(d->actions[i].name);
    }
    mcp_daemon_health_cleanup(d);
    free(d->stats);
    free(d->actions);
    free(d->on_stop);
    free(d->on_close);
    free(d->on_open);
    free(d->on_conv);
    free(d->on_flow);
    free(d->on_drain);
    d->on_open = NULL;
    d->non_open = 0;
    d->on_conv = NULL;
    d->non_conv = 0;
    d->on_flow = NULL;
    d->non_flow = 0;
    d->on_drain = NULL;
    d->non_drain = 0;
    d->stats = NULL;
    d->actions = NULL;
    d->on_stop = NULL;
    d->on_close = NULL;
    d->nstats = d->nactions = d->non_stop = d->non_close = 0;
}


int
mcp_daemon_add_stats(mcp_daemon_t *d, const char *key, mcp_stats_pt fn,
    void *ctx)
{
    mcp_daemon_stats_t  *a;
    size_t               i;

    for (i = 0; i < d->nstats; i++) {
        if (strcmp(d->stats[i].key, key) == 0) {
            return -1;
        }
    }
    if (strcmp(key, "mcpd") == 0) {
        return -1;  /* ours */
    }

    a = realloc(d->stats, (d->nstats + 1) * sizeof(*a));
    if (a == NULL) {
        return -1;
    }
    d->stats = a;

    a[d->nstats].key = strdup(key);
    if (a[d->nstats].key == NULL) {
        return -1;
    }
    a[d->nstats].fn = fn;
    a[d->nstats].ctx = ctx;
    a[d->nstats].prom_prefix = NULL;
    a[d->nstats].prom_labels = NULL;
    d->nstats++;
    return 0;
}


int
mcp_daemon_add_prometheus(mcp_daemon_t *d, const char *key,
    const char *prefix, const mcp_prom_label_t *labels)
{
    size_t  i;

    for (i = 0; i < d->nstats; i++) {
        if (strcmp(d->stats[i].key, key) == 0) {
            d->stats[i].prom_prefix = prefix;
            d->stats[i].prom_labels = labels;
            return 0;
        }
    }
    return -1;
}


/* The entry named `name`, registered or only wrapped so far. */
static mcp_daemon_action_t *
mcp_daemon_action_entry(const mcp_daemon_t *d, const char *name)
{
    size_t  i;

    for (i = 0; i < d->nactions; i++) {
        if (strcmp(d->actions[i].name, name) == 0) {
            return &d->actions[i];
        }
    }
    return NULL;
}


static mcp_daemon_action_t *
mcp_daemon_action_new(mcp_daemon_t *d, const char *name)
{
    mcp_daemon_action_t  *a;

    a = realloc(d->actions, (d->nactions + 1) * sizeof(*a));
    if (a == NULL) {
        return NULL;
    }
    d->actions = a;

    a = &a[d->nactions];
    memset(a, 0, sizeof(*a));
    a->name = strdup(name);
    if (a->name == NULL) {
        return NULL;
    }
    d->nactions++;
    return a;
}


int
mcp_daemon_add_action(mcp_daemon_t *d, const char *name,
    mcp_action_pt handler, void *ctx)
{
    mcp_daemon_action_t  *a;

    if (name[0] == '\0') {
        return -1;
    }

    a = mcp_daemon_action_entry(d, name);
    if (a != NULL && a->registered) {
        return -1;
    }
    if (a != NULL) {
        /* wrapped before it existed: it goes under the wrappers */
        a->inner->handler = handler;
        a->inner->ctx = ctx;
        a->registered = 1;
        return 0;
    }

    a = mcp_daemon_action_new(d, name);
    if (a == NULL) {
        return -1;
    }
    a->handler = handler;
    a->ctx = ctx;
    a->registered = 1;
    return 0;
}


int
mcp_daemon_wrap_action(mcp_daemon_t *d, const char *name, mcp_action_pt fn,
    void *ctx, mcp_action_next_t *next)
{
    mcp_daemon_action_t  *a;

    if (name[0] == '\0') {
        return -1;
    }

    a = mcp_daemon_action_entry(d, name);
    if (a == NULL && (a = mcp_daemon_action_new(d, name)) == NULL) {
        return -1;
    }

    next->handler = a->handler;
    next->ctx = a->ctx;
    if (a->inner == NULL) {
        a->inner = next;
    }
    a->handler = fn;
    a->ctx = ctx;
    return 0;
}


const mcp_daemon_action_t *
mcp_daemon_find_action(const mcp_daemon_t *d, const char *name)
{
    const mcp_daemon_action_t  *a = mcp_daemon_action_entry(d, name);

    return a != NULL && a->registered ? a : NULL;
}


static int
mcp_daemon_add_hook(mcp_daemon_hook_t **hooks, size_t *n, void *fn,
    void *ctx)
{
    mcp_daemon_hook_t  *h;

    h = realloc(*hooks, (*n + 1) * sizeof(*h));
    if (h == NULL) {
        return -1;
    }
    *hooks = h;
    h[*n].fn = fn;
    h[*n].ctx = ctx;
    (*n)++;
    return 0;
}


int
mcp_daemon_on_stop(mcp_daemon_t *d, mcp_daemon_hook_pt fn, void *ctx)
{
    return mcp_daemon_add_hook(&d->on_stop, &d->non_stop, (void *) fn, ctx);
}


int
mcp_daemon_on_exit(mcp_daemon_t *d, mcp_daemon_hook_pt fn, void *ctx)
{
    return mcp_daemon_add_hook(&d->on_exit, &d->non_exit, (void *) fn, ctx);
}


int
mcp_daemon_on_drain(mcp_daemon_t *d, mcp_daemon_hook_pt start,
    mcp_daemon_busy_pt busy, void *ctx)
{
    mcp_daemon_drain_t  *h;

    h = realloc(d->on_drain, (d->non_drain + 1) * sizeof(*h));
    if (h == NULL) {
        return -1;
    }
    d->on_drain = h;
    h[d->non_drain].start = start;
    h[d->non_drain].busy = busy;
    h[d->non_drain].ctx = ctx;
    d->non_drain++;
    return 0;
}


int
mcp_daemon_on_session_close(mcp_daemon_t *d, mcp_session_hook_pt fn,
    void *ctx)
{
    return mcp_daemon_add_hook(&d->on_close, &d->non_close, (void *) fn,
                               ctx);
}


int
mcp_daemon_on_session_open(mcp_daemon_t *d, mcp_session_hook_pt fn,
    void *ctx)
{
    return mcp_daemon_add_hook(&d->on_open, &d->non_open, (void *) fn, ctx);
}


int
mcp_daemon_on_session_flow(mcp_daemon_t *d, mcp_session_hook_pt fn,
    void *ctx)
{
    return mcp_daemon_add_hook(&d->on_flow, &d->non_flow, (void *) fn, ctx);
}


int
mcp_daemon_on_conversation(mcp_daemon_t *d, mcp_conv_hook_pt fn, void *ctx)
{
    return mcp_daemon_add_hook(&d->on_conv, &d->non_conv, (void *) fn, ctx);
}


void
mcp_daemon_conversation_event(mcp_daemon_t *d, const char *conv,
    mcp_conv_event_e ev)
{
    size_t  i;

    for (i = 0; i < d->non_conv; i++) {
        ((mcp_conv_hook_pt) d->on_conv[i].fn)(conv, ev, d->on_conv[i].ctx);
    }
}


static json_t *
mcp_daemon_own_stats(mcp_daemon_t *d)
{
    return json_pack("{s:s, s:I, s:f, s:I, s:I, s:I, s:I, s:I, s:I}",
                   "version", MCPD_VERSION,
                   "pid", (json_int_t) getpid(),
                   "uptime", (double) (uv_now(d->loop) - d->start_ms) / 1000.0,
                   "links", (json_int_t) d->nlinks,
                   "sessions", (json_int_t) d->nsessions,
                   "sessions_paused", (json_int_t) d->nsessions_paused,
                   "links_dropped", (json_int_t) d->links_dropped,
                   "messages_in", (json_int_t) d->messages_in,
                   "messages_out", (json_int_t) d->messages_out);
}


json_t *
mcp_daemon_stats_json(mcp_daemon_t *d)
{
    json_t  *root, *o, *me;
    size_t   i;

    root = json_object();
    if (root == NULL) {
        return NULL;
    }

    /* first: the verdict is what a reader of the reply looks for first */
    o = mcp_daemon_health_json(d);
    if (o != NULL) {
        json_object_set_new(root, "health", o);
    }

    for (i = 0; i < d->nstats; i++) {
        o = d->stats[i].fn(d->stats[i].ctx);
        if (o != NULL) {
            json_object_set_new(root, d->stats[i].key, o);
        }
    }

    me = mcp_daemon_own_stats(d);
    if (me != NULL) {
        json_object_set_new(root, "mcpd", me);
    }

    return root;
}


/* one rendered object after another; NULL only when out of memory */
static char *
mcp_daemon_prom_append(char *text, const char *prefix, json_t *obj,
    const mcp_prom_label_t *labels)
{
    char    *more = mcp_prom_render(prefix, obj, labels), *joined;
    size_t   n = text ? strlen(text) : 0;

    json_decref(obj);
    if (more == NULL || text == NULL) {
        free(text);
        return more;
    }
    joined = realloc(text, n + strlen(more) + 1);
    if (joined != NULL) {
        memcpy(joined + n, more, strlen(more) + 1);
    } else {
        free(text);
    }
    free(more);
    return joined;
}


/* the health samples first: the module reads the verdict there and puts
   its own component right before them, so the metric stays one group */
static char *
mcp_daemon_prom_health(mcp_daemon_t *d)
{
    json_t  *health = mcp_daemon_health_json(d);
    char    *text;

    if (health == NULL) {
        return NULL;
    }
    text = mcp_daemon_health_prometheus(d, health);
    json_decref(health);
    return text;
}


char *
mcp_daemon_stats_prometheus(mcp_daemon_t *d)
{
    char    *text;
    size_t   i;

    text = mcp_daemon_prom_append(mcp_daemon_prom_health(d), "mcpd",
                                  mcp_daemon_own_stats(d), NULL);
    for (i = 0; text && i < d->nstats; i++) {
        if (d->stats[i].prom_prefix) {
            text = mcp_daemon_prom_append(text, d->stats[i].prom_prefix,
                       d->stats[i].fn(d->stats[i].ctx),
                       d->stats[i].prom_labels);
        }
    }
    return text;
}
