/*
 * mcpd logging.  One write(2) per line so that lines from threads (SQLite
 * workers) never interleave; stderr is a pipe or a terminal, and a line is
 * far below PIPE_BUF in practice, so this does not block the loop in any
 * way that matters.
 */

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "core/mcp_log.h"

const char *const  mcp_log_level_names[] = {
    "debug", "info", "warn", "error", NULL
};

const char *const  mcp_log_format_names[] = { "text", "json", NULL };

#define MCP_LOG_LINE    2048


void
mcp_log_init(mcp_log_t *log, int level, int format)
{
    log->level = level;
    log->format = format;
    log->fd = 2;
}


/* Append s to buf as the inside of a JSON string. */
static size_t
mcp_log_json_escape(char *buf, size_t cap, size_t n, const char *s)
{
    static const char  hex[] = "0123456789abcdef";
    unsigned char      c;

    for ( ; *s && n + 7 < cap; s++) {
        c = (unsigned char) *s;
        if (c == '"' || c == '\\') {
            buf[n++] = '\\';
            buf[n++] = (char) c;
        } else if (c == '\n') {
            buf[n++] = '\\';
            buf[n++] = 'n';
        } else if (c < 0x20) {
            n += (size_t) snprintf(buf + n, cap - n, "\\u00%c%c",
                                   hex[c >> 4], hex[c & 15]);
        } else {
            buf[n++] = (char) c;
        }
    }

    return n;
}


void
mcp_log_vwrite(const mcp_log_t *log, int level, const char *sub,
    const char *fmt, va_list ap)
{
    char            msg[MCP_LOG_LINE], line[MCP_LOG_LINE * 2], ts[40];
    struct timeval  tv;
    struct tm       tm;
    size_t          n;
    ssize_t         w;

    if (log == NULL || level < log->level) {
        return;
    }

    if (level < MCP_LOG_DEBUG || level > MCP_LOG_ERROR) {
        level = MCP_LOG_ERROR;
    }

    vsnprintf(msg, sizeof(msg), fmt, ap);

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof(ts) - n, ".%03dZ", (int) (tv.tv_usec / 1000));

    if (log->format == MCP_LOG_JSON) {
        n = (size_t) snprintf(line, sizeof(line),
                              "{\"ts\":\"%s\",\"level\":\"%s\",\"sub\":\"",
                              ts, mcp_log_level_names[level]);
        n = mcp_log_json_escape(line, sizeof(line), n, sub);
        n += (size_t) snprintf(line + n, sizeof(line) - n, "\",\"msg\":\"");
        n = mcp_log_json_escape(line, sizeof(line), n, msg);
        n += (size_t) snprintf(line + n, sizeof(line) - n, "\"}\n");
    } else {
        n = (size_t) snprintf(line, sizeof(line), "%s %-5s [%s] %s\n", ts,
                              mcp_log_level_names[level], sub, msg);
    }

    if (n >= sizeof(line)) {
        n = sizeof(line) - 1;
        line[n - 1] = '\n';
    }

    do {
        w = write(log->fd, line, n);
    } while (w < 0 && errno == EINTR);
}


void
mcp_log_write(const mcp_log_t *log, int level, const char *sub,
    const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    mcp_log_vwrite(log, level, sub, fmt, ap);
    va_end(ap);
}
