/*
 * Random (version 4) UUIDs as text, for ids that must be unique across
 * processes without asking anyone (a conversation id chosen before its
 * home is recorded in Redis).
 */

#ifndef MCP_UUID_H
#define MCP_UUID_H

#define MCP_UUID_LEN  36

/* out gets 36 characters and a NUL: xxxxxxxx-xxxx-4xxx-[89ab]xxx-... */
void mcp_uuid4(char out[MCP_UUID_LEN + 1]);

#endif /* MCP_UUID_H */
