/*
 * Conversation titles.  Conversations were stored without one, so every
 * list showed "Untitled"; the first user message names them, the way the
 * chat products people know do, without a model call.
 */

#include "chat/mcp_chat_title.h"

#include <string.h>

#include "util/mcp_utf8_cut.h"


static int
title_is_space(unsigned char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\f'
           || ch == '\v';
}

/* Start of the first line holding something other than white space. */
static const char *
title_first_line(const char *p, const char *end)
{
    const char  *line = p;

    for (; p < end; p++) {
        if (*p == '\n') {
            line = p + 1;
        } else if (!title_is_space((unsigned char) *p)) {
            return line;
        }
    }
    return NULL;
}

/* Copies the line folding white space; returns the bytes written.  When
   the line does not fit, *stop is the first byte left out, else NULL;
   *at_word says whether white space came right before it. */
static size_t
title_fold(const char *p, const char *end, char *out, const char **stop,
    int *at_word)
{
    size_t  n = 0;
    int     space = 0;

    *stop = NULL;
    for (; p < end && *p != '\n' && *p != '\0'; p++) {
        if (title_is_space((unsigned char) *p)) {
            space = n > 0;
            continue;
        }
        if (n + space + 1 > MCP_CHAT_TITLE_MAX) {
            *stop = p;
            *at_word = space;
            break;
        }
        if (space) {
            out[n++] = ' ';
            space = 0;
        }
        out[n++] = *p;
    }
    return n;
}

/* Where a cut title ends: at the cut when it fell between words, else at
   the last space in its second half, else before the character the cut
   split (a UTF-8 sequence is never left half).  out has room for the
   byte left out, which says whether the cut split a character. */
static size_t
title_trim(char *out, size_t n, char next, int at_word)
{
    size_t  i;

    if (at_word) {
        return n;
    }
    for (i = n; i > MCP_CHAT_TITLE_MAX / 2; i--) {
        if (out[i - 1] == ' ') {
            return i - 1;
        }
    }
    out[n] = next;
    return mcp_utf8_cut(out, n + 1, n);
}

char *
mcp_chat_title(const char *text, size_t len, char *buf)
{
    const char  *end, *line, *stop;
    size_t       n;
    int          at_word = 0;

    if (text == NULL) {
        return NULL;
    }
    end = text + len;
    line = title_first_line(text, end);
    if (line == NULL) {
        return NULL;
    }
    n = title_fold(line, end, buf, &stop, &at_word);
    if (stop != NULL) {
        n = title_trim(buf, n, *stop, at_word);
        memcpy(buf + n, "\xe2\x80\xa6", 3);
        n += 3;
    }
    buf[n] = '\0';
    return buf;
}
