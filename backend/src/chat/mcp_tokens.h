/*
 * Token estimator for context assembly.
 *
 * The chat service must fit history into `max_tokens - reserve_tokens`
 * without running a real tokenizer on the loop thread for every turn.  This
 * estimator approximates OpenAI's cl100k_base in one pass over the bytes,
 * with no allocation and no tables beyond a few dozen constants:
 *
 *   1. Pre-tokenisation exactly as cl100k's regex splits text (contractions,
 *      an optional one-byte prefix plus a run of letters, runs of 1-3
 *      digits, an optional space plus a run of punctuation plus trailing
 *      newlines, whitespace runs ending in newlines, other whitespace runs,
 *      where the last space of a run joins the word after it).  BPE never
 *      merges across these pieces, so a text's count is the sum of its
 *      pieces' counts.  Non-ASCII bytes are treated as letters.
 *   2. Each piece is costed from measured averages instead of a merge table:
 *      letters are split at case changes (camelCase, ACRONYMWord) and each
 *      part costs a value by length; digits cost exactly one per three;
 *      punctuation and whitespace cost by run length; non-ASCII characters
 *      cost by their UTF-8 length (2-byte scripts, CJK, emoji).
 *
 * Measured error against the exact cl100k_base counts of gpt-tokenizer 4.0.0
 * is recorded in mcp_tokens.c next to the constants it was fitted with.
 *
 * Message lists follow OpenAI's documented accounting for chat models
 * (the "How to count tokens with tiktoken" recipe): every message costs
 * 3 tokens of framing plus its encoded values (role, content, name, ...),
 * a `name` costs 1 more, and every reply is primed with 3 tokens.
 *
 * All functions are pure, thread-safe and O(length).
 */

#ifndef MCP_TOKENS_H
#define MCP_TOKENS_H

#include <stddef.h>

#define MCP_TOKENS_PER_MESSAGE    3
#define MCP_TOKENS_PER_NAME       1
#define MCP_TOKENS_REPLY_PRIMING  3

/* The pre-tokenisation classes of cl100k_base. */
typedef enum {
    MCP_TOK_PIECE_CONTRACTION = 0,  /* 's 't 're 've 'm 'll 'd          */
    MCP_TOK_PIECE_WORD,             /* [^\r\n L N]? L+                  */
    MCP_TOK_PIECE_NUMBER,           /* N{1,3}                           */
    MCP_TOK_PIECE_PUNCT,            /*  ?[^\s L N]+[\r\n]*              */
    MCP_TOK_PIECE_NEWLINE,          /* \s*[\r\n]+                       */
    MCP_TOK_PIECE_SPACE,            /* \s+(?!\S) | \s+                  */
    MCP_TOK_PIECE_CLASSES
} mcp_tok_piece_class_t;

typedef struct {
    mcp_tok_piece_class_t  cls;
    size_t                 len;      /* bytes of the piece */
    size_t                 centitokens;  /* estimate, in 1/100 token */
} mcp_tok_piece_t;

/*
 * One message of a chat request.  Every non-NULL field is a value that the
 * provider encodes (`extra` carries what else the message holds, e.g. the
 * JSON of its tool calls or its tool_call_id); `name` also costs
 * MCP_TOKENS_PER_NAME.  Lengths are in bytes; strings need no terminator.
 */
typedef struct {
    const char  *role;
    size_t       role_len;
    const char  *content;
    size_t       content_len;
    const char  *name;
    size_t       name_len;
    const char  *extra;
    size_t       extra_len;
} mcp_tok_message_t;

/* A stable identifier for status ("estimator": "...").  */
const char *mcp_tokens_estimator_name(void);

/*
 * Reads the piece that starts at s[0] (len > 0) into *piece and returns its
 * length in bytes (always >= 1).  Exposed for tests and for callers that
 * want to stop at a token budget.
 */
size_t mcp_tokens_next_piece(const char *s, size_t len, mcp_tok_piece_t *piece);

/* Estimated tokens of a string; 0 for an empty one. */
size_t mcp_tokens_estimate(const char *s, size_t len);

/* Estimated tokens of one message, framing included, priming excluded. */
size_t mcp_tokens_message(const mcp_tok_message_t *m);

/* Estimated prompt tokens of a message list, the reply priming included. */
size_t mcp_tokens_messages(const mcp_tok_message_t *msgs, size_t n);

#endif /* MCP_TOKENS_H */
