/*
 * mcpd configuration: one YAML file parsed (libyaml) into a tree of nodes
 * that remember file:line:column, then bound to plain C structs through
 * field tables that each subsystem declares next to its own code.
 *
 * Binding rejects unknown keys and wrong types with "file:line:col: ..."
 * and applies defaults for absent keys, so every key the daemon accepts is
 * one it uses, and docs/configuration.md can be checked against the tables.
 *
 * Ownership: each subsystem owns its section's struct and field table
 * (repo/ owns chat.service.repository and persistence, llm/ owns llm, mcp/
 * owns mcp, ...).  core/ only holds the top-level table that names them.
 */

#ifndef MCP_CONFIG_H
#define MCP_CONFIG_H

#include <stddef.h>
#include <stdint.h>

/* An error with its location, ready to print: "mcpd.yaml:12:5: ..." */
typedef struct {
    char  msg[512];
} mcp_err_t;

/* printf-style; prefixes "file:line:col: " when node is not NULL */
struct mcp_cfg_node_s;
void mcp_err_set(mcp_err_t *err, const struct mcp_cfg_node_s *node,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* added: the same with an explicit location (file may be NULL) */
void mcp_err_at(mcp_err_t *err, const char *file, unsigned line,
    unsigned col, const char *fmt, ...) __attribute__((format(printf, 5, 6)));


/* ------------------------------------------------------------ the tree */

typedef enum {
    MCP_CFG_SCALAR,
    MCP_CFG_MAP,
    MCP_CFG_SEQ
} mcp_cfg_kind_e;

typedef struct mcp_cfg_node_s  mcp_cfg_node_t;

struct mcp_cfg_node_s {
    mcp_cfg_kind_e    kind;
    const char       *file;     /* shared by all nodes of a document */
    unsigned          line;     /* 1-based */
    unsigned          col;      /* 1-based */

    char             *scalar;   /* MCP_CFG_SCALAR: NUL-terminated text */
    int               quoted;   /* scalar was quoted: never null/bool/number */

    size_t            n;        /* MAP: pairs; SEQ: items */
    char            **keys;     /* MAP only: keys[i] names items[i] */
    unsigned         *key_line; /* MAP only: where keys[i] was written */
    unsigned         *key_col;
    mcp_cfg_node_t  **items;

    /* added: the full dotted key path of this node ("chat.service.x",
       "mcp.args[2]"; "" for the root), so that every message, including
       those of custom binders, names the whole key */
    char             *path;
};

/* Parse a whole file / a string (name is used in messages).  NULL + err. */
mcp_cfg_node_t *mcp_cfg_parse_file(const char *path, mcp_err_t *err);
mcp_cfg_node_t *mcp_cfg_parse_string(const char *name, const char *text,
    size_t len, mcp_err_t *err);
void mcp_cfg_free(mcp_cfg_node_t *root);

/* The child of a map by key, or NULL. */
const mcp_cfg_node_t *mcp_cfg_child(const mcp_cfg_node_t *map,
    const char *key);
/* Follow a dotted path from a map ("chat.service.repository"), or NULL. */
const mcp_cfg_node_t *mcp_cfg_path(const mcp_cfg_node_t *map,
    const char *dotted);


/* ------------------------------------------------------------ binding */

typedef enum {
    MCP_CFG_T_BOOL,         /* int:      true/false */
    MCP_CFG_T_INT,          /* int64_t:  within [min, max] */
    MCP_CFG_T_DOUBLE,       /* double:   within [min, max] when max > min */
    MCP_CFG_T_STRING,       /* char *:   strdup'ed; freed by mcp_cfg_unbind */
    MCP_CFG_T_DURATION,     /* int64_t milliseconds: 1.5 (seconds), "250ms",
                               "30s", "5m", "1h"; a bare number is seconds,
                               as in the original config */
    MCP_CFG_T_SIZE,         /* int64_t bytes: 1024, "64k", "16m", "1g" */
    MCP_CFG_T_ENUM,         /* int: index into enum_values */
    MCP_CFG_T_STRING_LIST,  /* mcp_cfg_strings_t */
    MCP_CFG_T_SECTION,      /* nested map bound with `section` at offset */
    MCP_CFG_T_CUSTOM        /* custom(node, dst + offset, err) */
} mcp_cfg_type_e;

typedef struct {
    size_t   n;
    char   **items;
} mcp_cfg_strings_t;

typedef struct mcp_cfg_field_s  mcp_cfg_field_t;

/* node is NULL when the key is absent (apply your default then) */
typedef int (*mcp_cfg_custom_pt)(const mcp_cfg_node_t *node, void *dst,
    mcp_err_t *err);
typedef void (*mcp_cfg_custom_free_pt)(void *dst);

struct mcp_cfg_field_s {
    const char               *key;
    mcp_cfg_type_e            type;
    size_t                    offset;      /* offsetof(struct, member) */
    const char               *def;         /* default, as YAML text; NULL:
                                              zero / NULL / empty section */
    double                    min;
    double                    max;         /* range checked when max > min */
    const char *const        *enum_values; /* NULL-terminated, for ENUM */
    const mcp_cfg_field_t    *section;     /* for SECTION; {NULL} ends */
    mcp_cfg_custom_pt         custom;
    mcp_cfg_custom_free_pt    custom_free;
    const char               *doc;         /* one line for the docs */
};

/*
 * Fill dst from map using fields.  map may be NULL (all defaults).  Unknown
 * keys, wrong kinds, bad values and out-of-range numbers fail with the
 * location of the offending key or value.  Returns 0 or -1.
 */
int mcp_cfg_bind(const mcp_cfg_node_t *map, const mcp_cfg_field_t *fields,
    void *dst, mcp_err_t *err);
/* Free what binding allocated (strings, lists, sections, custom_free). */
void mcp_cfg_unbind(const mcp_cfg_field_t *fields, void *dst);

/* Scalar conversions, also for custom binders. 0 or -1 with err set. */
int mcp_cfg_as_bool(const mcp_cfg_node_t *node, int *out, mcp_err_t *err);
int mcp_cfg_as_int(const mcp_cfg_node_t *node, int64_t *out, mcp_err_t *err);
int mcp_cfg_as_double(const mcp_cfg_node_t *node, double *out,
    mcp_err_t *err);
int mcp_cfg_as_duration_ms(const mcp_cfg_node_t *node, int64_t *out,
    mcp_err_t *err);
int mcp_cfg_as_size(const mcp_cfg_node_t *node, int64_t *out,
    mcp_err_t *err);

/*
 * Added notes on semantics (the declarations above are unchanged):
 *  - a plain null scalar (`key:`, `key: null`, `key: ~`) counts as absent:
 *    the default applies;
 *  - DURATION min/max are in milliseconds, SIZE min/max in bytes;
 *  - after a failed bind, call mcp_cfg_unbind() to free what was bound;
 *    dst must be zeroed before binding.
 */
/* added: is this node a plain null scalar (or NULL)? */
int mcp_cfg_is_null(const mcp_cfg_node_t *node);
/* added: the key path for messages, "(top level)" for the root */
const char *mcp_cfg_name(const mcp_cfg_node_t *node);

#endif /* MCP_CONFIG_H */
