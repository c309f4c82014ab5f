/*
 * mcpd logging: one line per event on stderr, as text
 *   2026-11-26T20:40:01.123Z info  [link] worker 3 connected (pid 1234)
 * or as JSON lines (logging.format: json)
 *   {"ts":"...","level":"info","sub":"link","msg":"worker 3 connected ..."}
 *
 * Every line carries a subsystem tag.  Never pass secrets (API keys,
 * Authorization headers, message bodies) to these functions: logs are
 * shipped and kept where secrets must not be.
 */

#ifndef MCP_LOG_H
#define MCP_LOG_H

#include <stdarg.h>

typedef enum {
    MCP_LOG_DEBUG = 0,
    MCP_LOG_INFO,
    MCP_LOG_WARN,
    MCP_LOG_ERROR
} mcp_log_level_e;

typedef enum {
    MCP_LOG_TEXT = 0,
    MCP_LOG_JSON
} mcp_log_format_e;

typedef struct {
    int     level;      /* mcp_log_level_e: lines below it are dropped */
    int     format;     /* mcp_log_format_e */
    int     fd;         /* 2 (stderr) unless a test says otherwise */
} mcp_log_t;

/* The names used in logging.level, index = mcp_log_level_e. */
extern const char *const  mcp_log_level_names[];
extern const char *const  mcp_log_format_names[];

void mcp_log_init(mcp_log_t *log, int level, int format);
void mcp_log_write(const mcp_log_t *log, int level, const char *sub,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void mcp_log_vwrite(const mcp_log_t *log, int level, const char *sub,
    const char *fmt, va_list ap);

#define mcp_log_debug(log, sub, ...)                                         \
    do {                                                                     \
        if ((log)->level <= MCP_LOG_DEBUG) {                                 \
            mcp_log_write(log, MCP_LOG_DEBUG, sub, __VA_ARGS__);             \
        }                                                                    \
    } while (0)
#define mcp_log_info(log, sub, ...)                                          \
    mcp_log_write(log, MCP_LOG_INFO, sub, __VA_ARGS__)
#define mcp_log_warn(log, sub, ...)                                          \
    mcp_log_write(log, MCP_LOG_WARN, sub, __VA_ARGS__)
#define mcp_log_error(log, sub, ...)                                         \
    mcp_log_write(log, MCP_LOG_ERROR, sub, __VA_ARGS__)

#endif /* MCP_LOG_H */
