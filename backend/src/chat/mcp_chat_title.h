#ifndef MCP_CHAT_TITLE_H
#define MCP_CHAT_TITLE_H

#include <stddef.h>

/* Longest title in bytes, not counting the ellipsis or the NUL. */
#define MCP_CHAT_TITLE_MAX  60

/*
 * A conversation's title from its first user message: the first line that
 * has any text, runs of white space folded to one space, cut at a word
 * (or, failing that, a UTF-8 character) boundary to MCP_CHAT_TITLE_MAX
 * bytes with "…" added when cut.  buf must hold MCP_CHAT_TITLE_MAX + 4
 * bytes.  Returns buf, or NULL when the text has no visible character.
 */
char *mcp_chat_title(const char *text, size_t len, char *buf);

#endif
