#ifndef MCP_UTF8_CUT_H
#define MCP_UTF8_CUT_H

#include <stddef.h>

/*
 * The length of the longest prefix of s (len bytes) that is at most max
 * bytes and does not end inside a UTF-8 sequence: where to cut a text
 * that is shown shortened.  Bytes that are not UTF-8 are not repaired.
 */
size_t mcp_utf8_cut(const char *s, size_t len, size_t max);

#endif
