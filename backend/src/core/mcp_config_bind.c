/*
 * mcpd configuration, part two: binding the node tree to C structs through
 * field tables, and the scalar conversions (bool, int, double, duration,
 * size).  Every message names the full dotted key and where it was written,
 * so an operator can fix the file without reading our code.
 */

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mcp_config.h"


int
mcp_cfg_is_null(const mcp_cfg_node_t *node)
{
    const char  *s;

    if (node == NULL) {
        return 1;
    }

    if (node->kind != MCP_CFG_SCALAR || node->quoted) {
        return 0;
    }

    s = node->scalar;
    return s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0
           || strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}


static const char *
mcp_cfg_kind_name(const mcp_cfg_node_t *node)
{
    switch (node->kind) {
    case MCP_CFG_MAP:
        return "a map";
    case MCP_CFG_SEQ:
        return "a list";
    default:
        return node->quoted ? "a quoted string" : "a scalar";
    }
}


/* A scalar that may be a number: plain, or quoted only when allowed. */
static int
mcp_cfg_want_scalar(const mcp_cfg_node_t *node, const char *what,
    int allow_quoted, mcp_err_t *err)
{
    if (node->kind != MCP_CFG_SCALAR || (node->quoted && !allow_quoted)) {
        mcp_err_set(err, node, "'%s' must be %s, not %s", mcp_cfg_name(node),
                    what, mcp_cfg_kind_name(node));
        return -1;
    }
    return 0;
}


int
mcp_cfg_as_bool(const mcp_cfg_node_t *node, int *out, mcp_err_t *err)
{
    const char  *s;

    if (mcp_cfg_want_scalar(node, "a boolean (true or false)", 0, err)) {
        return -1;
    }

    s = node->scalar;
    if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0
        || strcmp(s, "TRUE") == 0)
    {
        *out = 1;
        return 0;
    }

    if (strcmp(s, "false") == 0 || strcmp(s, "False") == 0
        || strcmp(s, "FALSE") == 0)
    {
        *out = 0;
        return 0;
    }

    mcp_err_set(err, node, "'%s' must be a boolean (true or false), got '%s'",
                mcp_cfg_name(node), s);
    return -1;
}


int
mcp_cfg_as_int(const mcp_cfg_node_t *node, int64_t *out, mcp_err_t *err)
{
    char       *end;
    long long   v;

    if (mcp_cfg_want_scalar(node, "an integer", 0, err)) {
        return -1;
    }

    errno = 0;
    v = strtoll(node->scalar, &end, 10);
    if (node->scalar[0] == '\0' || isspace((unsigned char) node->scalar[0])
        || *end != '\0' || errno == ERANGE)
    {
        mcp_err_set(err, node, "'%s' must be an integer, got '%s'",
                    mcp_cfg_name(node), node->scalar);
        return -1;
    }

    *out = (int64_t) v;
    return 0;
}


int
mcp_cfg_as_double(const mcp_cfg_node_t *node, double *out, mcp_err_t *err)
{
    char    *end;
    double   v;

    if (mcp_cfg_want_scalar(node, "a number", 0, err)) {
        return -1;
    }

    errno = 0;
    v = strtod(node->scalar, &end);
    if (node->scalar[0] == '\0' || isspace((unsigned char) node->scalar[0])
        || *end != '\0' || errno == ERANGE || !isfinite(v))
    {
        mcp_err_set(err, node, "'%s' must be a number, got '%s'",
                    mcp_cfg_name(node), node->scalar);
        return -1;
    }

    *out = v;
    return 0;
}


/* "<number><unit>" with units from the table; a bare number uses unit 0. */
typedef struct {
    const char  *suffix;
    double       scale;
} mcp_cfg_unit_t;

static int
mcp_cfg_as_scaled(const mcp_cfg_node_t *node, const mcp_cfg_unit_t *units,
    double bare_scale, const char *what, const char *example, int64_t *out,
    mcp_err_t *err)
{
    const char  *s;
    char        *end;
    double       v, scale = -1;
    size_t       i;

    if (mcp_cfg_want_scalar(node, what, 1, err)) {
        return -1;
    }

    s = node->scalar;
    errno = 0;
    v = strtod(s, &end);
    if (end == s || isspace((unsigned char) s[0]) || errno == ERANGE
        || !isfinite(v) || s[0] == '+' || strchr(s, 'x') || strchr(s, 'X'))
    {
        goto bad;
    }

    if (*end == '\0') {
        scale = bare_scale;
    } else {
        for (i = 0; units[i].suffix; i++) {
            if (strcmp(end, units[i].suffix) == 0) {
                scale = units[i].scale;
                break;
            }
        }
    }

    if (scale < 0) {
        goto bad;
    }

    if (v < 0) {
        mcp_err_set(err, node, "'%s' must not be negative, got '%s'",
                    mcp_cfg_name(node), s);
        return -1;
    }

    v *= scale;
    if (v > 9.2e18) {
        mcp_err_set(err, node, "'%s' is too large: '%s'", mcp_cfg_name(node),
                    s);
        return -1;
    }

    *out = (int64_t) llround(v);
    return 0;

bad:
    mcp_err_set(err, node, "'%s' must be %s (%s), got '%s'",
                mcp_cfg_name(node), what, example, s);
    return -1;
}


int
mcp_cfg_as_duration_ms(const mcp_cfg_node_t *node, int64_t *out,
    mcp_err_t *err)
{
    static const mcp_cfg_unit_t  units[] = {
        { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 },
        { "d", 86400000 }, { NULL, 0 }
    };

    return mcp_cfg_as_scaled(node, units, 1000, "a duration",
                             "seconds, or e.g. 250ms, 30s, 5m, 1h", out, err);
}


int
mcp_cfg_as_size(const mcp_cfg_node_t *node, int64_t *out, mcp_err_t *err)
{
    static const mcp_cfg_unit_t  units[] = {
        { "k", 1024.0 }, { "K", 1024.0 }, { "m", 1048576.0 },
        { "M", 1048576.0 }, { "g", 1073741824.0 }, { "G", 1073741824.0 },
        { NULL, 0 }
    };
    int  rc;

    rc = mcp_cfg_as_scaled(node, units, 1, "a size",
                           "bytes, or e.g. 64k, 16m, 1g", out, err);
    return rc;
}


/* ------------------------------------------------------------ binding */

static int mcp_cfg_bind_fields(const mcp_cfg_node_t *map, const char *prefix,
    const mcp_cfg_field_t *fields, void *dst, mcp_err_t *err);


static int
mcp_cfg_check_range(const mcp_cfg_node_t *node, const mcp_cfg_field_t *f,
    double v, const char *unit, mcp_err_t *err)
{
    if (f->max > f->min && (v < f->min || v > f->max)) {
        mcp_err_set(err, node, "'%s' must be between %.15g and %.15g%s, "
                    "got '%s'", mcp_cfg_name(node), f->min, f->max, unit,
                    node->scalar);
        return -1;
    }
    return 0;
}


static int
mcp_cfg_bind_enum(const mcp_cfg_node_t *node, const mcp_cfg_field_t *f,
    int *out, mcp_err_t *err)
{
    char    list[256];
    size_t  i, n = 0;

    if (node->kind == MCP_CFG_SCALAR) {
        for (i = 0; f->enum_values[i]; i++) {
            if (strcmp(node->scalar, f->enum_values[i]) == 0) {
                *out = (int) i;
                return 0;
            }
        }
    }

    list[0] = '\0';
    for (i = 0; f->enum_values[i] && n < sizeof(list); i++) {
        n += (size_t) snprintf(list + n, sizeof(list) - n, "%s%s",
                               i ? ", " : "", f->enum_values[i]);
    }

    mcp_err_set(err, node, "'%s' must be one of: %s; got %s%s%s",
                mcp_cfg_name(node), list,
                node->kind == MCP_CFG_SCALAR ? "'" : "",
                node->kind == MCP_CFG_SCALAR ? node->scalar
                                             : mcp_cfg_kind_name(node),
                node->kind == MCP_CFG_SCALAR ? "'" : "");
    return -1;
}


static int
mcp_cfg_bind_strings(const mcp_cfg_node_t *node, mcp_cfg_strings_t *out,
    mcp_err_t *err)
{
    size_t  i;

    if (node->kind != MCP_CFG_SEQ) {
        mcp_err_set(err, node, "'%s' must be a list of strings, not %s",
                    mcp_cfg_name(node), mcp_cfg_kind_name(node));
        return -1;
    }

    out->items = calloc(node->n + 1, sizeof(char *));
    if (out->items == NULL) {
        mcp_err_set(err, node, "out of memory");
        return -1;
    }

    for (i = 0; i < node->n; i++) {
        if (node->items[i]->kind != MCP_CFG_SCALAR) {
            mcp_err_set(err, node->items[i], "'%s' must be a string, not %s",
                        mcp_cfg_name(node->items[i]),
                        mcp_cfg_kind_name(node->items[i]));
            return -1;
        }
        out->items[i] = strdup(node->items[i]->scalar);
        if (out->items[i] == NULL) {
            mcp_err_set(err, node, "out of memory");
            return -1;
        }
        out->n = i + 1;
    }

    return 0;
}


/* Bind one present, non-null value. */
static int
mcp_cfg_bind_value(const mcp_cfg_node_t *node, const mcp_cfg_field_t *f,
    char *p, mcp_err_t *err)
{
    int64_t   i64;
    double    d;
    char     *s;

    switch (f->type) {

    case MCP_CFG_T_BOOL:
        return mcp_cfg_as_bool(node, (int *) p, err);

    case MCP_CFG_T_INT:
        if (mcp_cfg_as_int(node, &i64, err)
            || mcp_cfg_check_range(node, f, (double) i64, "", err))
        {
            return -1;
        }
        *(int64_t *) p = i64;
        return 0;

    case MCP_CFG_T_DOUBLE:
        if (mcp_cfg_as_double(node, &d, err)
            || mcp_cfg_check_range(node, f, d, "", err))
        {
            return -1;
        }
        *(double *) p = d;
        return 0;

    case MCP_CFG_T_DURATION:
        if (mcp_cfg_as_duration_ms(node, &i64, err)
            || mcp_cfg_check_range(node, f, (double) i64, " ms", err))
        {
            return -1;
        }
        *(int64_t *) p = i64;
        return 0;

    case MCP_CFG_T_SIZE:
        if (mcp_cfg_as_size(node, &i64, err)
            || mcp_cfg_check_range(node, f, (double) i64, " bytes", err))
        {
            return -1;
        }
        *(int64_t *) p = i64;
        return 0;

    case MCP_CFG_T_STRING:
        if (node->kind != MCP_CFG_SCALAR) {
            mcp_err_set(err, node, "'%s' must be a string, not %s",
                        mcp_cfg_name(node), mcp_cfg_kind_name(node));
            return -1;
        }
        s = strdup(node->scalar);
        if (s == NULL) {
            mcp_err_set(err, node, "out of memory");
            return -1;
        }
        free(*(char **) p);
        *(char **) p = s;
        return 0;

    case MCP_CFG_T_ENUM:
        return mcp_cfg_bind_enum(node, f, (int *) p, err);

    case MCP_CFG_T_STRING_LIST:
        return mcp_cfg_bind_strings(node, (mcp_cfg_strings_t *) p, err);

    case MCP_CFG_T_SECTION:
        if (node->kind != MCP_CFG_MAP) {
            mcp_err_set(err, node, "'%s' must be a map, not %s",
                        mcp_cfg_name(node), mcp_cfg_kind_name(node));
            return -1;
        }
        return mcp_cfg_bind_fields(node, node->path, f->section, p, err);

    case MCP_CFG_T_CUSTOM:
        return f->custom(node, p, err);
    }

    mcp_err_set(err, node, "'%s': unknown field type %d", mcp_cfg_name(node),
                (int) f->type);
    return -1;
}


/*
 * An absent key: apply the default.  Defaults are YAML text too, bound by
 * the same code, so a wrong default in a table is caught by the unit tests
 * ("<default>" in the message tells it apart from a user error).
 */
static int
mcp_cfg_bind_default(const char *path, const mcp_cfg_field_t *f, char *p,
    mcp_err_t *err)
{
    mcp_cfg_node_t   tmp;
    mcp_cfg_node_t  *doc;
    char             text[1024];
    int              rc;

    if (f->type == MCP_CFG_T_SECTION) {
        return mcp_cfg_bind_fields(NULL, path, f->section, p, err);
    }

    if (f->type == MCP_CFG_T_CUSTOM) {
        return f->custom(NULL, p, err);
    }

    if (f->def == NULL) {
        return 0;   /* zero, NULL, empty: dst was zeroed */
    }

    if (f->type == MCP_CFG_T_STRING_LIST) {
        /* the default is a flow list, "[a, b]": parse it as one value */
        snprintf(text, sizeof(text), "v: %s", f->def);
        doc = mcp_cfg_parse_string("<default>", text, strlen(text), err);
        if (doc == NULL) {
            return -1;
        }
        free(doc->items[0]->path);
        doc->items[0]->path = strdup(path);
        rc = doc->items[0]->path
             ? mcp_cfg_bind_value(doc->items[0], f, p, err) : -1;
        mcp_cfg_free(doc);
        return rc;
    }

    memset(&tmp, 0, sizeof(tmp));
    tmp.kind = MCP_CFG_SCALAR;
    tmp.file = "<default>";
    tmp.line = 1;
    tmp.col = 1;
    tmp.scalar = (char *) f->def;
    tmp.path = (char *) path;

    return mcp_cfg_bind_value(&tmp, f, p, err);
}


static const mcp_cfg_field_t *
mcp_cfg_field_find(const mcp_cfg_field_t *fields, const char *key)
{
    for ( ; fields->key; fields++) {
        if (strcmp(fields->key, key) == 0) {
            return fields;
        }
    }
    return NULL;
}


static int
mcp_cfg_check_unknown(const mcp_cfg_node_t *map, const char *prefix,
    const mcp_cfg_field_t *fields, mcp_err_t *err)
{
    size_t  i;

    for (i = 0; i < map->n; i++) {
        if (mcp_cfg_field_find(fields, map->keys[i]) == NULL) {
            mcp_err_at(err, map->file, map->key_line[i], map->key_col[i],
                       "unknown key '%s%s%s'", prefix, prefix[0] ? "." : "",
                       map->keys[i]);
            return -1;
        }
    }
    return 0;
}


static int
mcp_cfg_bind_fields(const mcp_cfg_node_t *map, const char *prefix,
    const mcp_cfg_field_t *fields, void *dst, mcp_err_t *err)
{
    const mcp_cfg_field_t  *f;
    const mcp_cfg_node_t   *node;
    char                    path[512];
    char                   *p;

    if (map != NULL && mcp_cfg_check_unknown(map, prefix, fields, err)) {
        return -1;
    }

    for (f = fields; f->key; f++) {
        p = (char *) dst + f->offset;
        node = mcp_cfg_child(map, f->key);

        if (!mcp_cfg_is_null(node)) {
            if (mcp_cfg_bind_value(node, f, p, err) != 0) {
                return -1;
            }
            continue;
        }

        snprintf(path, sizeof(path), "%s%s%s", prefix, prefix[0] ? "." : "",
                 f->key);
        if (mcp_cfg_bind_default(path, f, p, err) != 0) {
            return -1;
        }
    }

    return 0;
}


int
mcp_cfg_bind(const mcp_cfg_node_t *map, const mcp_cfg_field_t *fields,
    void *dst, mcp_err_t *err)
{
    if (map != NULL && map->kind != MCP_CFG_MAP) {
        mcp_err_set(err, map, "'%s' must be a map, not %s", mcp_cfg_name(map),
                    mcp_cfg_kind_name(map));
        return -1;
    }

    return mcp_cfg_bind_fields(map, map ? map->path : "", fields, dst, err);
}


void
mcp_cfg_unbind(const mcp_cfg_field_t *fields, void *dst)
{
    const mcp_cfg_field_t  *f;
    mcp_cfg_strings_t      *l;
    char                   *p;
    size_t                  i;

    for (f = fields; f->key; f++) {
        p = (char *) dst + f->offset;

        switch (f->type) {
        case MCP_CFG_T_STRING:
            free(*(char **) p);
            *(char **) p = NULL;
            break;
        case MCP_CFG_T_STRING_LIST:
            l = (mcp_cfg_strings_t *) p;
            for (i = 0; l->items && l->items[i]; i++) {
                free(l->items[i]);
            }
            free(l->items);
            l->items = NULL;
            l->n = 0;
            break;
        case MCP_CFG_T_SECTION:
            mcp_cfg_unbind(f->section, p);
            break;
        case MCP_CFG_T_CUSTOM:
            if (f->custom_free) {
                f->custom_free(p);
            }
            break;
        default:
            break;
        }
    }
}
