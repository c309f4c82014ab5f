/*
 * JSON string literals (see mcp_json_str.h).
 */

#include "util/mcp_json_str.h"


size_t
mcp_json_str_write(char *out, const char *s, size_t n)
{
    static const char   hex[] = "0123456789ABCDEF";
    const unsigned char *p = (const unsigned char *) s;
    char                *o = out;
    size_t               i;

    *o++ = '"';
    for (i = 0; i < n; i++) {
        unsigned char  c = p[i];

        if (c >= 0x20 && c != '"' && c != '\\') {
            *o++ = (char) c;
            continue;
        }
        *o++ = '\\';
        switch (c) {
        case '"':  *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '\b': *o++ = 'b'; break;
        case '\f': *o++ = 'f'; break;
        case '\n': *o++ = 'n'; break;
        case '\r': *o++ = 'r'; break;
        case '\t': *o++ = 't'; break;
        default:
            *o++ = 'u';
            *o++ = '0';
            *o++ = '0';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 0xf];
        }
    }
    *o++ = '"';
    return (size_t) (o - out);
}
