/* Cutting UTF-8 text short without splitting a character. */

#include "util/mcp_utf8_cut.h"


static int
utf8_is_continuation(unsigned char ch)
{
    return (ch & 0xc0) == 0x80;
}

size_t
mcp_utf8_cut(const char *s, size_t len, size_t max)
{
    size_t  n;

    if (len <= max) {
        return len;
    }
    /* s[max] is the first byte left out: if it continues a character,
       that character's earlier bytes go too */
    n = max;
    while (n > 0 && utf8_is_continuation((unsigned char) s[n])) {
        n--;
    }
    return n;
}
