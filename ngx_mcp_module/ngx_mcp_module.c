/*
 * ngx_mcp_module: directives, configuration merging, the shared zone that
 * counts WebSockets across workers, and the worker start/exit hooks.
 */

#include "ngx_mcp_module.h"

static void *ngx_mcp_create_main_conf(ngx_conf_t *cf);
static void *ngx_mcp_create_loc_conf(ngx_conf_t *cf);
static char *ngx_mcp_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_mcp_websocket(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_mcp_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_mcp_backend(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_mcp_allow_origins(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_mcp_add_zone(ngx_conf_t *cf);
static ngx_int_t ngx_mcp_init_zone(ngx_shm_zone_t *shm_zone, void *data);
static ngx_int_t ngx_mcp_init_process(ngx_cycle_t *cycle);
static void ngx_mcp_exit_process(ngx_cycle_t *cycle);

static ngx_conf_num_bounds_t  ngx_mcp_max_connections_bounds = {
    ngx_conf_check_num_bounds, 1, 10000000
};

static ngx_conf_num_bounds_t  ngx_mcp_queue_size_bounds = {
    ngx_conf_check_num_bounds, 0, NGX_MCP_QUEUE_MAX
};


static ngx_command_t  ngx_mcp_commands[] = {

    { ngx_string("mcp_websocket"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_mcp_websocket,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mcp_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_mcp_status,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mcp_backend"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_mcp_backend,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mcp_max_connections"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_mcp_loc_conf_t, max_connections),
      &ngx_mcp_max_connections_bounds },

    { ngx_string("mcp_connection_queue_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_mcp_loc_conf_t, queue_size),
      &ngx_mcp_queue_size_bounds },

    { ngx_string("mcp_connection_queue_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_mcp_loc_conf_t, queue_timeout),
      NULL },

    { ngx_string("mcp_ping_interval"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_mcp_loc_conf_t, ping_interval),
      NULL },

    { ngx_string("mcp_ping_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_mcp_loc_conf_t, ping_timeout),
      NULL },

    { ngx_string("mcp_idle_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_mcp_loc_conf_t, idle_timeout),
      NULL },

    { ngx_string("mcp_max_message_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_mcp_loc_conf_t, max_message_size),
      NULL },

    { ngx_string("mcp_send_buffer_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_mcp_loc_conf_t, send_buffer_size),
      NULL },

    { ngx_string("mcp_allow_origins"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_mcp_allow_origins,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mcp_principal"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_mcp_loc_conf_t, principal),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_mcp_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    ngx_mcp_create_main_conf,              /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_mcp_create_loc_conf,               /* create location configuration */
    ngx_mcp_merge_loc_conf                 /* merge location configuration */
};


ngx_module_t  ngx_mcp_module = {
    NGX_MODULE_V1,
    &ngx_mcp_module_ctx,                   /* module context */
    ngx_mcp_commands,                      /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_mcp_init_process,                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_mcp_exit_process,                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


ngx_mcp_main_conf_t *
ngx_mcp_main_conf(void)
{
    if (ngx_cycle->conf_ctx == NULL) {
        return NULL;
    }

    return ngx_http_cycle_get_module_main_conf(ngx_cycle, ngx_mcp_module);
}


void
ngx_mcp_count_close(ngx_mcp_sh_t *sh, unsigned code)
{
    static const uint16_t  codes[NGX_MCP_CLOSE_KINDS - 1] = {
        1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008, 1009, 1011, 1013,
        4000
    };
    ngx_uint_t             i;

    for (i = 0; i < NGX_MCP_CLOSE_KINDS - 1; i++) {
        if (codes[i] == code) {
            break;
        }
    }

    (void) ngx_atomic_fetch_add(&sh->closed[i], 1);
}


static void *
ngx_mcp_create_main_conf(ngx_conf_t *cf)
{
    ngx_mcp_main_conf_t  *mmcf;

    mmcf = ngx_pcalloc(cf->pool, sizeof(ngx_mcp_main_conf_t));
    if (mmcf == NULL) {
        return NULL;
    }

    return mmcf;
}


static void *
ngx_mcp_create_loc_conf(ngx_conf_t *cf)
{
    ngx_mcp_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_mcp_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->backend = NULL;
     *     conf->principal = NULL;
     */

    conf->websocket = NGX_CONF_UNSET;
    conf->status = NGX_CONF_UNSET;
    conf->max_connections = NGX_CONF_UNSET_UINT;
    conf->queue_size = NGX_CONF_UNSET_UINT;
    conf->queue_timeout = NGX_CONF_UNSET_MSEC;
    conf->ping_interval = NGX_CONF_UNSET_MSEC;
    conf->ping_timeout = NGX_CONF_UNSET_MSEC;
    conf->idle_timeout = NGX_CONF_UNSET_MSEC;
    conf->max_message_size = NGX_CONF_UNSET_SIZE;
    conf->send_buffer_size = NGX_CONF_UNSET_SIZE;
    conf->allow_origins = NGX_CONF_UNSET_PTR;

    return conf;
}


static char *
ngx_mcp_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_mcp_loc_conf_t  *prev = parent;
    ngx_mcp_loc_conf_t  *conf = child;

    ngx_mcp_main_conf_t  *mmcf;

    ngx_conf_merge_value(conf->websocket, prev->websocket, 0);
    ngx_conf_merge_value(conf->status, prev->status, 0);

    if (conf->backend == NULL) {
        conf->backend = prev->backend;
    }

    ngx_conf_merge_uint_value(conf->max_connections, prev->max_connections,
                              1000);
    ngx_conf_merge_uint_value(conf->queue_size, prev->queue_size, 1000);
    ngx_conf_merge_msec_value(conf->queue_timeout, prev->queue_timeout,
                              30000);
    ngx_conf_merge_msec_value(conf->ping_interval, prev->ping_interval,
                              20000);
    ngx_conf_merge_msec_value(conf->ping_timeout, prev->ping_timeout, 10000);
    ngx_conf_merge_msec_value(conf->idle_timeout, prev->idle_timeout,
                              120000);
    ngx_conf_merge_size_value(conf->max_message_size, prev->max_message_size,
                              16 * 1024 * 1024);
    ngx_conf_merge_size_value(conf->send_buffer_size, prev->send_buffer_size,
                              1024 * 1024);
    ngx_conf_merge_ptr_value(conf->allow_origins, prev->allow_origins, NULL);

    if (conf->principal == NULL) {
        conf->principal = prev->principal;
    }

    if (conf->max_message_size > MCP_LINK_MAX_PAYLOAD - 1024) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mcp_max_message_size\" must not exceed %uzm",
                           (size_t) (MCP_LINK_MAX_PAYLOAD / 1024 / 1024 - 1));
        return NGX_CONF_ERROR;
    }

    if (conf->send_buffer_size < 4096) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mcp_send_buffer_size\" must be at least 4k");
        return NGX_CONF_ERROR;
    }

    if (conf->websocket && conf->backend == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mcp_websocket\" requires \"mcp_backend\"");
        return NGX_CONF_ERROR;
    }

    if (conf->websocket) {
        mmcf = ngx_http_conf_get_module_main_conf(cf, ngx_mcp_module);

        if (mmcf->backend != NULL
            && (mmcf->backend->url.len != conf->backend->url.len
                || ngx_strncmp(mmcf->backend->url.data, conf->backend->url.data,
                               conf->backend->url.len) != 0))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "only one \"mcp_backend\" address may be used "
                               "by all \"mcp_websocket\" locations");
            return NGX_CONF_ERROR;
        }

        mmcf->backend = conf->backend;
        mmcf->max_connections = conf->max_connections;
        mmcf->queue_size = conf->queue_size;
    }

    return NGX_CONF_OK;
}


/*
 * mcp_websocket and mcp_status differ only in the flag they set and the
 * content handler they install; both need the shared zone.
 */
static char *
ngx_mcp_set_location_handler(ngx_conf_t *cf, ngx_flag_t *flag,
    ngx_http_handler_pt handler)
{
    ngx_http_core_loc_conf_t  *clcf;

    if (*flag != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    *flag = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = handler;

    if (ngx_mcp_add_zone(cf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_mcp_websocket(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_mcp_loc_conf_t  *mlcf = conf;

    return ngx_mcp_set_location_handler(cf, &mlcf->websocket,
                                        ngx_mcp_ws_handler);
}


static char *
ngx_mcp_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_mcp_loc_conf_t  *mlcf = conf;

    return ngx_mcp_set_location_handler(cf, &mlcf->status,
                                        ngx_mcp_status_handler);
}


static char *
ngx_mcp_backend(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_mcp_loc_conf_t  *mlcf = conf;

    ngx_str_t  *value;
    ngx_url_t  *u;

    if (mlcf->backend != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strncmp(value[1].data, "unix:", 5) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"mcp_backend\" must be \"unix:PATH\", not \"%V\"",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    u = ngx_pcalloc(cf->pool, sizeof(ngx_url_t));
    if (u == NULL) {
        return NGX_CONF_ERROR;
    }

    u->url = value[1];
    u->no_resolve = 1;

    if (ngx_parse_url(cf->pool, u) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"mcp_backend\" \"%V\": %s", &value[1],
                           u->err ? u->err : "bad address");
        return NGX_CONF_ERROR;
    }

    mlcf->backend = u;

    return NGX_CONF_OK;
}


static char *
ngx_mcp_allow_origins(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_mcp_loc_conf_t  *mlcf = conf;

    ngx_str_t   *value, *o;
    ngx_uint_t   i;

    if (mlcf->allow_origins != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "any") == 0) {
        mlcf->allow_origins = NULL;
        return NGX_CONF_OK;
    }

    mlcf->allow_origins = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                           sizeof(ngx_str_t));
    if (mlcf->allow_origins == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 1; i < cf->args->nelts; i++) {
        if (ngx_strncmp(value[i].data, "http://", 7) != 0
            && ngx_strncmp(value[i].data, "https://", 8) != 0
            && ngx_strcmp(value[i].data, "null") != 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid origin \"%V\" in \"mcp_allow_origins\""
                               ", expected \"scheme://host[:port]\" or "
                               "\"any\"", &value[i]);
            return NGX_CONF_ERROR;
        }

        o = ngx_array_push(mlcf->allow_origins);
        if (o == NULL) {
            return NGX_CONF_ERROR;
        }

        *o = value[i];
    }

    return NGX_CONF_OK;
}


/* one zone for the whole configuration; the size never changes, so a
 * reload keeps the counts of sockets that old workers still hold */
static ngx_int_t
ngx_mcp_add_zone(ngx_conf_t *cf)
{
    ngx_str_t             name = ngx_string("ngx_mcp_module");
    ngx_mcp_main_conf_t  *mmcf;

    mmcf = ngx_http_conf_get_module_main_conf(cf, ngx_mcp_module);
    mmcf->enabled = 1;

    if (mmcf->shm_zone != NULL) {
        return NGX_OK;
    }

    mmcf->shm_zone = ngx_shared_memory_add(cf, &name,
                                           ngx_align(sizeof(ngx_mcp_sh_t)
                                                     + 64 * 1024, ngx_pagesize),
                                           &ngx_mcp_module);
    if (mmcf->shm_zone == NULL) {
        return NGX_ERROR;
    }

    mmcf->shm_zone->init = ngx_mcp_init_zone;
    mmcf->shm_zone->data = mmcf;

    return NGX_OK;
}


static ngx_int_t
ngx_mcp_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_mcp_main_conf_t  *omcf = data;
    ngx_mcp_main_conf_t  *mmcf;

    mmcf = shm_zone->data;

    if (omcf) {
        mmcf->sh = omcf->sh;
        mmcf->shpool = omcf->shpool;
        return NGX_OK;
    }

    mmcf->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    mmcf->sh = ngx_slab_calloc(mmcf->shpool, sizeof(ngx_mcp_sh_t));
    if (mmcf->sh == NULL) {
        return NGX_ERROR;
    }

    mmcf->shpool->data = mmcf->sh;
    mmcf->shpool->log_nomem = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_mcp_init_process(ngx_cycle_t *cycle)
{
    ngx_mcp_main_conf_t  *mmcf;
    ngx_mcp_worker_sh_t  *w;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    mmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_mcp_module);
    if (mmcf == NULL || !mmcf->enabled || mmcf->sh == NULL) {
        return NGX_OK;
    }

    /*
     * A slot is reused only once the master has reaped its previous worker,
     * so whatever that worker still counted (it crashed, or was killed)
     * died with it: give the slots back before counting anew.
     */
    ngx_shmtx_lock(&mmcf->shpool->mutex);

    w = &mmcf->sh->workers[ngx_process_slot];
    mmcf->sh->active -= w->active;
    mmcf->sh->queued -= w->queued;
    w->active = 0;
    w->queued = 0;
    w->pid = ngx_pid;
    w->gen++;
    w->link_state = NGX_MCP_LINK_DOWN;
    w->link_out_bytes = 0;
    mmcf->sh->max = mmcf->max_connections;
    mmcf->sh->queue_max = mmcf->queue_size;

    ngx_shmtx_unlock(&mmcf->shpool->mutex);

    return ngx_mcp_link_init_worker(cycle);
}


static void
ngx_mcp_exit_process(ngx_cycle_t *cycle)
{
    ngx_mcp_main_conf_t  *mmcf;
    ngx_mcp_worker_sh_t  *w;

    mmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_mcp_module);
    if (mmcf == NULL || !mmcf->enabled || mmcf->sh == NULL) {
        return;
    }

    ngx_mcp_link_exit_worker();

    /* whatever is still open dies with the process */
    ngx_shmtx_lock(&mmcf->shpool->mutex);

    w = &mmcf->sh->workers[ngx_process_slot];
    mmcf->sh->active -= w->active;
    mmcf->sh->queued -= w->queued;
    w->active = 0;
    w->queued = 0;
    w->pid = 0;
    w->gen++;
    w->link_state = NGX_MCP_LINK_DOWN;

    ngx_shmtx_unlock(&mmcf->shpool->mutex);
}
