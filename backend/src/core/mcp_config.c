/*
 * mcpd configuration, part one: YAML text -> a tree of mcp_cfg_node_t that
 * remembers where each node and key was written.  Binding to structs is in
 * mcp_config_bind.c.
 *
 * The tree is built from libyaml's event stream by recursive descent.  We
 * are stricter than YAML: one document only, duplicate keys rejected (YAML
 * says they are an error, libyaml does not check), keys must be scalars,
 * anchors and aliases refused (a config file has no use for them and they
 * hide where a value came from), nesting depth capped so that a hostile file
 * cannot exhaust the stack.
 */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "core/mcp_config.h"

#define MCP_CFG_MAX_DEPTH   64
#define MCP_CFG_MAX_FILE    (16 * 1024 * 1024)

typedef struct {
    yaml_parser_t   parser;
    const char     *file;
    mcp_err_t      *err;
    unsigned        depth;
} mcp_cfg_parse_t;


void
mcp_err_at(mcp_err_t *err, const char *file, unsigned line, unsigned col,
    const char *fmt, ...)
{
    va_list  ap;
    int      n = 0;

    if (err == NULL) {
        return;
    }

    if (file != NULL) {
        n = snprintf(err->msg, sizeof(err->msg), "%s:%u:%u: ", file, line,
                     col);
        if (n < 0 || (size_t) n >= sizeof(err->msg)) {
            n = 0;
        }
    }

    va_start(ap, fmt);
    vsnprintf(err->msg + n, sizeof(err->msg) - (size_t) n, fmt, ap);
    va_end(ap);
}


void
mcp_err_set(mcp_err_t *err, const mcp_cfg_node_t *node, const char *fmt, ...)
{
    va_list  ap;
    int      n = 0;

    if (err == NULL) {
        return;
    }

    if (node != NULL) {
        n = snprintf(err->msg, sizeof(err->msg), "%s:%u:%u: ",
                     node->file ? node->file : "?", node->line, node->col);
        if (n < 0 || (size_t) n >= sizeof(err->msg)) {
            n = 0;
        }
    }

    va_start(ap, fmt);
    vsnprintf(err->msg + n, sizeof(err->msg) - (size_t) n, fmt, ap);
    va_end(ap);
}


const char *
mcp_cfg_name(const mcp_cfg_node_t *node)
{
    if (node == NULL || node->path == NULL || node->path[0] == '\0') {
        return "(top level)";
    }
    return node->path;
}


/* ------------------------------------------------------------ nodes */

static mcp_cfg_node_t *
mcp_cfg_node_new(mcp_cfg_parse_t *ps, mcp_cfg_kind_e kind,
    const yaml_mark_t *mark, const char *path)
{
    mcp_cfg_node_t  *n;

    n = calloc(1, sizeof(*n));
    if (n == NULL) {
        return NULL;
    }

    n->kind = kind;
    n->file = ps->file;
    n->line = (unsigned) mark->line + 1;
    n->col = (unsigned) mark->column + 1;
    n->path = strdup(path);
    if (n->path == NULL) {
        free(n);
        return NULL;
    }

    return n;
}


static void
mcp_cfg_node_free(mcp_cfg_node_t *n)
{
    size_t  i;

    if (n == NULL) {
        return;
    }

    for (i = 0; i < n->n; i++) {
        mcp_cfg_node_free(n->items[i]);
        if (n->keys) {
            free(n->keys[i]);
        }
    }

    free(n->items);
    free(n->keys);
    free(n->key_line);
    free(n->key_col);
    free(n->scalar);
    free(n->path);
    free(n);
}


void
mcp_cfg_free(mcp_cfg_node_t *root)
{
    char  *file;

    if (root == NULL) {
        return;
    }

    /* every node points at the same file name, allocated with the root */
    file = (char *) root->file;
    mcp_cfg_node_free(root);
    free(file);
}


/* Grow items (and keys for maps) by one slot; 0 or -1. */
static int
mcp_cfg_node_push(mcp_cfg_node_t *n, mcp_cfg_node_t *item, char *key,
    unsigned kline, unsigned kcol)
{
    size_t            cap = n->n + 1;
    mcp_cfg_node_t  **items;
    char            **keys;
    unsigned         *kl, *kc;

    items = realloc(n->items, cap * sizeof(*items));
    if (items == NULL) {
        return -1;
    }
    n->items = items;

    if (n->kind == MCP_CFG_MAP) {
        keys = realloc(n->keys, cap * sizeof(*keys));
        if (keys == NULL) {
            return -1;
        }
        n->keys = keys;

        kl = realloc(n->key_line, cap * sizeof(*kl));
        if (kl == NULL) {
            return -1;
        }
        n->key_line = kl;

        kc = realloc(n->key_col, cap * sizeof(*kc));
        if (kc == NULL) {
            return -1;
        }
        n->key_col = kc;

        keys[n->n] = key;
        kl[n->n] = kline;
        kc[n->n] = kcol;
    }

    items[n->n++] = item;
    return 0;
}


/* ------------------------------------------------------------ parser */

static int
mcp_cfg_next(mcp_cfg_parse_t *ps, yaml_event_t *ev)
{
    const char  *ctx;

    if (yaml_parser_parse(&ps->parser, ev)) {
        return 0;
    }

    ctx = ps->parser.context ? ps->parser.context : "";
    mcp_err_at(ps->err, ps->file,
               (unsigned) ps->parser.problem_mark.line + 1,
               (unsigned) ps->parser.problem_mark.column + 1,
               "YAML syntax error: %s%s%s",
               ps->parser.problem ? ps->parser.problem : "unknown problem",
               ctx[0] ? " " : "", ctx);
    return -1;
}


static int
mcp_cfg_refuse_anchor(mcp_cfg_parse_t *ps, const yaml_event_t *ev,
    const yaml_char_t *anchor)
{
    if (anchor == NULL) {
        return 0;
    }

    mcp_err_at(ps->err, ps->file, (unsigned) ev->start_mark.line + 1,
               (unsigned) ev->start_mark.column + 1,
               "YAML anchors (&%s) are not supported in mcpd config",
               (const char *) anchor);
    return -1;
}


static mcp_cfg_node_t *mcp_cfg_parse_node(mcp_cfg_parse_t *ps,
    yaml_event_t *ev, const char *path);


static char *
mcp_cfg_join(const char *parent, const char *key)
{
    size_t  pl = strlen(parent), kl = strlen(key);
    char   *s;

    s = malloc(pl + kl + 2);
    if (s == NULL) {
        return NULL;
    }

    if (pl == 0) {
        memcpy(s, key, kl + 1);
    } else {
        memcpy(s, parent, pl);
        s[pl] = '.';
        memcpy(s + pl + 1, key, kl + 1);
    }

    return s;
}


static mcp_cfg_node_t *
mcp_cfg_parse_seq(mcp_cfg_parse_t *ps, yaml_event_t *start, const char *path)
{
    mcp_cfg_node_t  *seq, *item;
    yaml_event_t     ev;
    char            *ipath;
    size_t           pl = strlen(path);

    seq = mcp_cfg_node_new(ps, MCP_CFG_SEQ, &start->start_mark, path);
    if (seq == NULL) {
        mcp_err_set(ps->err, NULL, "out of memory");
        return NULL;
    }

    for ( ;; ) {
        if (mcp_cfg_next(ps, &ev) != 0) {
            goto failed;
        }

        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            return seq;
        }

        ipath = malloc(pl + 24);
        if (ipath == NULL) {
            yaml_event_delete(&ev);
            mcp_err_set(ps->err, NULL, "out of memory");
            goto failed;
        }
        snprintf(ipath, pl + 24, "%s[%zu]", path, seq->n);

        item = mcp_cfg_parse_node(ps, &ev, ipath);
        free(ipath);
        yaml_event_delete(&ev);
        if (item == NULL) {
            goto failed;
        }

        if (mcp_cfg_node_push(seq, item, NULL, 0, 0) != 0) {
            mcp_cfg_node_free(item);
            mcp_err_set(ps->err, NULL, "out of memory");
            goto failed;
        }
    }

failed:
    mcp_cfg_node_free(seq);
    return NULL;
}


/* One key of a map: a scalar, not yet present.  0, 1 at the end, -1. */
static int
mcp_cfg_parse_key(mcp_cfg_parse_t *ps, mcp_cfg_node_t *map, yaml_event_t *ev)
{
    size_t  i;

    if (mcp_cfg_next(ps, ev) != 0) {
        return -1;
    }

    if (ev->type == YAML_MAPPING_END_EVENT) {
        return 1;
    }

    if (ev->type != YAML_SCALAR_EVENT) {
        mcp_err_at(ps->err, ps->file, (unsigned) ev->start_mark.line + 1,
                   (unsigned) ev->start_mark.column + 1,
                   "keys of '%s' must be plain scalars",
                   mcp_cfg_name(map));
        yaml_event_delete(ev);
        return -1;
    }

    for (i = 0; i < map->n; i++) {
        if (strcmp(map->keys[i], (const char *) ev->data.scalar.value) == 0) {
            mcp_err_at(ps->err, ps->file, (unsigned) ev->start_mark.line + 1,
                       (unsigned) ev->start_mark.column + 1,
                       "duplicate key '%s%s%s' (first at line %u)",
                       map->path, map->path[0] ? "." : "",
                       (const char *) ev->data.scalar.value, map->key_line[i]);
            yaml_event_delete(ev);
            return -1;
        }
    }

    return 0;
}


static mcp_cfg_node_t *
mcp_cfg_parse_map(mcp_cfg_parse_t *ps, yaml_event_t *start, const char *path)
{
    mcp_cfg_node_t  *map, *val;
    yaml_event_t     kev, vev;
    char            *key, *vpath;
    unsigned         kline, kcol;
    int              rc;

    map = mcp_cfg_node_new(ps, MCP_CFG_MAP, &start->start_mark, path);
    if (map == NULL) {
        mcp_err_set(ps->err, NULL, "out of memory");
        return NULL;
    }

    for ( ;; ) {
        rc = mcp_cfg_parse_key(ps, map, &kev);
        if (rc < 0) {
            goto failed;
        }
        if (rc == 1) {
            yaml_event_delete(&kev);
            return map;
        }

        if (mcp_cfg_refuse_anchor(ps, &kev, kev.data.scalar.anchor) != 0) {
            yaml_event_delete(&kev);
            goto failed;
        }

        key = strdup((const char *) kev.data.scalar.value);
        vpath = key ? mcp_cfg_join(path, key) : NULL;
        kline = (unsigned) kev.start_mark.line + 1;
        kcol = (unsigned) kev.start_mark.column + 1;
        yaml_event_delete(&kev);
        if (vpath == NULL) {
            free(key);
            mcp_err_set(ps->err, NULL, "out of memory");
            goto failed;
        }

        if (mcp_cfg_next(ps, &vev) != 0) {
            free(key);
            free(vpath);
            goto failed;
        }

        val = mcp_cfg_parse_node(ps, &vev, vpath);
        free(vpath);
        yaml_event_delete(&vev);
        if (val == NULL) {
            free(key);
            goto failed;
        }

        if (mcp_cfg_node_push(map, val, key, kline, kcol) != 0) {
            free(key);
            mcp_cfg_node_free(val);
            mcp_err_set(ps->err, NULL, "out of memory");
            goto failed;
        }
    }

failed:
    mcp_cfg_node_free(map);
    return NULL;
}


static mcp_cfg_node_t *
mcp_cfg_parse_node(mcp_cfg_parse_t *ps, yaml_event_t *ev, const char *path)
{
    mcp_cfg_node_t  *n = NULL;

    if (ps->depth >= MCP_CFG_MAX_DEPTH) {
        mcp_err_at(ps->err, ps->file, (unsigned) ev->start_mark.line + 1,
                   (unsigned) ev->start_mark.column + 1,
                   "nesting deeper than %d levels", MCP_CFG_MAX_DEPTH);
        return NULL;
    }

    switch (ev->type) {

    case YAML_SCALAR_EVENT:
        if (mcp_cfg_refuse_anchor(ps, ev, ev->data.scalar.anchor) != 0) {
            return NULL;
        }
        n = mcp_cfg_node_new(ps, MCP_CFG_SCALAR, &ev->start_mark, path);
        if (n == NULL) {
            break;
        }
        n->scalar = strndup((const char *) ev->data.scalar.value,
                            ev->data.scalar.length);
        if (n->scalar == NULL) {
            mcp_cfg_node_free(n);
            n = NULL;
            break;
        }
        n->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
        return n;

    case YAML_SEQUENCE_START_EVENT:
        if (mcp_cfg_refuse_anchor(ps, ev, ev->data.sequence_start.anchor)) {
            return NULL;
        }
        ps->depth++;
        n = mcp_cfg_parse_seq(ps, ev, path);
        ps->depth--;
        return n;

    case YAML_MAPPING_START_EVENT:
        if (mcp_cfg_refuse_anchor(ps, ev, ev->data.mapping_start.anchor)) {
            return NULL;
        }
        ps->depth++;
        n = mcp_cfg_parse_map(ps, ev, path);
        ps->depth--;
        return n;

    case YAML_ALIAS_EVENT:
        mcp_err_at(ps->err, ps->file, (unsigned) ev->start_mark.line + 1,
                   (unsigned) ev->start_mark.column + 1,
                   "YAML aliases (*%s) are not supported in mcpd config",
                   (const char *) ev->data.alias.anchor);
        return NULL;

    default:
        mcp_err_at(ps->err, ps->file, (unsigned) ev->start_mark.line + 1,
                   (unsigned) ev->start_mark.column + 1,
                   "unexpected YAML event");
        return NULL;
    }

    mcp_err_set(ps->err, NULL, "out of memory");
    return NULL;
}


/* Expect one event type; 0 or -1 with an error naming what we saw. */
static int
mcp_cfg_expect(mcp_cfg_parse_t *ps, yaml_event_type_t type, const char *what)
{
    yaml_event_t  ev;

    if (mcp_cfg_next(ps, &ev) != 0) {
        return -1;
    }

    if (ev.type != type) {
        mcp_err_at(ps->err, ps->file, (unsigned) ev.start_mark.line + 1,
                   (unsigned) ev.start_mark.column + 1, "%s", what);
        yaml_event_delete(&ev);
        return -1;
    }

    yaml_event_delete(&ev);
    return 0;
}


static mcp_cfg_node_t *
mcp_cfg_parse_document(mcp_cfg_parse_t *ps)
{
    mcp_cfg_node_t  *root;
    yaml_event_t     ev;
    yaml_mark_t      top = { 0, 0, 0 };

    if (mcp_cfg_expect(ps, YAML_STREAM_START_EVENT, "not a YAML stream")) {
        return NULL;
    }

    if (mcp_cfg_next(ps, &ev) != 0) {
        return NULL;
    }

    if (ev.type == YAML_STREAM_END_EVENT) {
        /* an empty file: every key takes its default */
        yaml_event_delete(&ev);
        root = mcp_cfg_node_new(ps, MCP_CFG_MAP, &top, "");
        if (root == NULL) {
            mcp_err_set(ps->err, NULL, "out of memory");
        }
        return root;
    }
    yaml_event_delete(&ev);

    if (mcp_cfg_next(ps, &ev) != 0) {
        return NULL;
    }

    root = mcp_cfg_parse_node(ps, &ev, "");
    yaml_event_delete(&ev);
    if (root == NULL) {
        return NULL;
    }

    if (root->kind == MCP_CFG_SCALAR && !root->quoted
        && mcp_cfg_is_null(root))
    {
        /* a document of only comments or "---" */
        root->kind = MCP_CFG_MAP;
        free(root->scalar);
        root->scalar = NULL;
    }

    if (root->kind != MCP_CFG_MAP) {
        mcp_err_set(ps->err, root, "the top level must be a map of sections");
        goto failed;
    }

    if (mcp_cfg_expect(ps, YAML_DOCUMENT_END_EVENT, "expected end of document")
        || mcp_cfg_expect(ps, YAML_STREAM_END_EVENT,
                          "only one YAML document is allowed"))
    {
        goto failed;
    }

    return root;

failed:
    mcp_cfg_node_free(root);
    return NULL;
}


mcp_cfg_node_t *
mcp_cfg_parse_string(const char *name, const char *text, size_t len,
    mcp_err_t *err)
{
    mcp_cfg_parse_t   ps;
    mcp_cfg_node_t   *root;
    char             *file;

    file = strdup(name ? name : "<string>");
    if (file == NULL) {
        mcp_err_set(err, NULL, "out of memory");
        return NULL;
    }

    memset(&ps, 0, sizeof(ps));
    ps.file = file;
    ps.err = err;

    if (!yaml_parser_initialize(&ps.parser)) {
        free(file);
        mcp_err_set(err, NULL, "out of memory");
        return NULL;
    }

    yaml_parser_set_input_string(&ps.parser, (const unsigned char *) text,
                                 len);
    root = mcp_cfg_parse_document(&ps);
    yaml_parser_delete(&ps.parser);

    if (root == NULL) {
        free(file);
    }

    return root;
}


mcp_cfg_node_t *
mcp_cfg_parse_file(const char *path, mcp_err_t *err)
{
    FILE            *f;
    char            *buf;
    long             size;
    size_t           got;
    mcp_cfg_node_t  *root;

    /* read it whole: config is loaded before the loop runs */
    f = fopen(path, "rb");
    if (f == NULL) {
        mcp_err_set(err, NULL, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }

    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0
        || fseek(f, 0, SEEK_SET) != 0)
    {
        mcp_err_set(err, NULL, "%s: cannot read: %s", path, strerror(errno));
        fclose(f);
        return NULL;
    }

    if (size > MCP_CFG_MAX_FILE) {
        mcp_err_set(err, NULL, "%s: larger than %d bytes", path,
                    MCP_CFG_MAX_FILE);
        fclose(f);
        return NULL;
    }

    buf = malloc((size_t) size + 1);
    if (buf == NULL) {
        mcp_err_set(err, NULL, "out of memory");
        fclose(f);
        return NULL;
    }

    got = fread(buf, 1, (size_t) size, f);
    fclose(f);
    buf[got] = '\0';

    root = mcp_cfg_parse_string(path, buf, got, err);
    free(buf);
    return root;
}


const mcp_cfg_node_t *
mcp_cfg_child(const mcp_cfg_node_t *map, const char *key)
{
    size_t  i;

    if (map == NULL || map->kind != MCP_CFG_MAP) {
        return NULL;
    }

    for (i = 0; i < map->n; i++) {
        if (strcmp(map->keys[i], key) == 0) {
            return map->items[i];
        }
    }

    return NULL;
}


const mcp_cfg_node_t *
mcp_cfg_path(const mcp_cfg_node_t *map, const char *dotted)
{
    char         part[256];
    const char  *dot;
    size_t       len;

    while (map != NULL && *dotted) {
        dot = strchr(dotted, '.');
        len = dot ? (size_t) (dot - dotted) : strlen(dotted);
        if (len >= sizeof(part)) {
            return NULL;
        }
        memcpy(part, dotted, len);
        part[len] = '\0';

        map = mcp_cfg_child(map, part);
        dotted += len + (dot ? 1 : 0);
    }

    return map;
}
