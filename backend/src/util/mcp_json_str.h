/*
 * A JSON string literal written straight into a buffer, for the hot frames
 * that would otherwise be built as a jansson tree only to be dumped at once
 * (a streamed text delta: several per chat turn).
 *
 * The bytes are those of jansson's compact dump (json_dumps with
 * JSON_COMPACT | JSON_ENCODE_ANY): quoted; '"' and '\\' escaped; \b \f \n
 * \r \t in short form; other control characters as \u00XX; everything
 * else, UTF-8 included, as is (hex digits upper case, as jansson).  The input must be valid UTF-8 (check it
 * first: jansson refuses anything else).  backend/tests/test_util_json_str.c
 * holds it to jansson's output.
 */

#ifndef MCP_JSON_STR_H
#define MCP_JSON_STR_H

#include <stddef.h>

/* Bytes mcp_json_str_write() may need for n bytes of input, at most. */
#define MCP_JSON_STR_MAX(n)  (6 * (n) + 2)

/* Write s[0..n) as a JSON string literal at out; returns the bytes
   written (out must have room for MCP_JSON_STR_MAX(n)). */
size_t mcp_json_str_write(char *out, const char *s, size_t n);

#endif /* MCP_JSON_STR_H */
