/*
 * The token estimator: cl100k pre-tokenisation boundaries, exact parts
 * (numbers, message framing), the error bound on reference texts whose
 * exact cl100k_base counts come from gpt-tokenizer 4.0.0, and robustness
 * on arbitrary bytes.
 */

#include "unit.h"

#include <stdint.h>
#include <stdlib.h>

#include "chat/mcp_tokens.h"


#define S(lit)  lit, sizeof(lit) - 1


/* Splits s into pieces; writes their lengths into lens, returns the count. */
static size_t
split(const char *s, size_t len, size_t *lens, mcp_tok_piece_class_t *cls,
    size_t max)
{
    mcp_tok_piece_t  piece;
    size_t           i, n, l;

    for (i = 0, n = 0; i < len && n < max; n++) {
        l = mcp_tokens_next_piece(s + i, len - i, &piece);
        lens[n] = l;
        cls[n] = piece.cls;
        i += l;
    }

    return n;
}


static void
test_name(void)
{
    CHECK_EQ_STR(mcp_tokens_estimator_name(), "cl100k-approx-1");
}


static void
test_empty(void)
{
    CHECK_EQ_INT(mcp_tokens_estimate("", 0), 0);
    CHECK_EQ_INT(mcp_tokens_estimate(NULL, 0), 0);
    CHECK_EQ_INT(mcp_tokens_estimate(S("a")), 1);
    CHECK_EQ_INT(mcp_tokens_estimate(S(" ")), 1);
}


/* The boundaries cl100k's regex draws (checked against its tokens). */
static void
test_pieces(void)
{
    size_t                 lens[16];
    mcp_tok_piece_class_t  cls[16];
    size_t                 n;

    /* "Hello" " world" */
    n = split(S("Hello world"), lens, cls, 16);
    CHECK_EQ_INT(n, 2);
    CHECK_EQ_INT(lens[0], 5);
    CHECK_EQ_INT(lens[1], 6);
    CHECK_EQ_INT(cls[1], MCP_TOK_PIECE_WORD);

    /* the last space of a run joins the next word: "  " " foo" */
    n = split(S("   foo"), lens, cls, 16);
    CHECK_EQ_INT(n, 2);
    CHECK_EQ_INT(lens[0], 2);
    CHECK_EQ_INT(cls[0], MCP_TOK_PIECE_SPACE);
    CHECK_EQ_INT(lens[1], 4);

    /* digits in threes, never with a space: " " "123" "456" "7" */
    n = split(S(" 1234567"), lens, cls, 16);
    CHECK_EQ_INT(n, 4);
    CHECK_EQ_INT(lens[0], 1);
    CHECK_EQ_INT(cls[0], MCP_TOK_PIECE_SPACE);
    CHECK_EQ_INT(lens[1], 3);
    CHECK_EQ_INT(cls[1], MCP_TOK_PIECE_NUMBER);
    CHECK_EQ_INT(lens[3], 1);

    /* contraction, then punctuation with trailing newlines */
    n = split(S("that's.\n\nok"), lens, cls, 16);
    CHECK_EQ_INT(n, 4);
    CHECK_EQ_INT(lens[0], 4);
    CHECK_EQ_INT(cls[1], MCP_TOK_PIECE_CONTRACTION);
    CHECK_EQ_INT(lens[2], 3);
    CHECK_EQ_INT(cls[2], MCP_TOK_PIECE_PUNCT);
    CHECK_EQ_INT(lens[3], 2);

    /* newline runs stop at the last newline; indentation follows */
    n = split(S("{\n    return"), lens, cls, 16);
    CHECK_EQ_INT(n, 3);
    CHECK_EQ_INT(lens[0], 2);
    CHECK_EQ_INT(lens[1], 3);
    CHECK_EQ_INT(cls[1], MCP_TOK_PIECE_SPACE);
    CHECK_EQ_INT(lens[2], 7);

    n = split(S("a \n\n b"), lens, cls, 16);
    CHECK_EQ_INT(n, 3);
    CHECK_EQ_INT(lens[1], 3);
    CHECK_EQ_INT(cls[1], MCP_TOK_PIECE_NEWLINE);

    /* one punctuation byte prefixes a word; a run of them stands alone */
    n = split(S("(\"hello"), lens, cls, 16);
    CHECK_EQ_INT(n, 2);
    CHECK_EQ_INT(lens[0], 2);
    CHECK_EQ_INT(cls[0], MCP_TOK_PIECE_PUNCT);
    CHECK_EQ_INT(cls[1], MCP_TOK_PIECE_WORD);

    n = split(S(".length"), lens, cls, 16);
    CHECK_EQ_INT(n, 1);

    /* a space prefixes punctuation too */
    n = split(S("a ->b"), lens, cls, 16);
    CHECK_EQ_INT(n, 3);
    CHECK_EQ_INT(lens[1], 3);
    CHECK_EQ_INT(cls[1], MCP_TOK_PIECE_PUNCT);
}


/* Where cl100k is exact and so are we. */
static void
test_exact_parts(void)
{
    CHECK_EQ_INT(mcp_tokens_estimate(S("Hello world")), 2);
    CHECK_EQ_INT(mcp_tokens_estimate(S("What is 2+3?")), 7);
    CHECK_EQ_INT(mcp_tokens_estimate(S("Thanks, that's great.")), 6);
    CHECK_EQ_INT(mcp_tokens_estimate(S("123456789012")), 4);
    CHECK_EQ_INT(mcp_tokens_estimate(S("\n\n\n")), 1);
    CHECK_EQ_INT(mcp_tokens_estimate(S("                ")), 1);
}


/* OpenAI's documented accounting: 3 per message, +1 per name, +3 priming. */
static void
test_messages(void)
{
    mcp_tok_message_t  msgs[3];
    size_t             sys, user, asst;

    memset(msgs, 0, sizeof(msgs));

    msgs[0].role = "system";
    msgs[0].role_len = 6;
    msgs[0].content = "You are a helpful assistant.";
    msgs[0].content_len = 28;
    msgs[1].role = "user";
    msgs[1].role_len = 4;
    msgs[1].content = "What is 2+3?";
    msgs[1].content_len = 12;
    msgs[2].role = "assistant";
    msgs[2].role_len = 9;
    msgs[2].content = "5";
    msgs[2].content_len = 1;

    sys = mcp_tokens_message(&msgs[0]);
    user = mcp_tokens_message(&msgs[1]);
    asst = mcp_tokens_message(&msgs[2]);

    /* every role is one token; the framing is exact */
    CHECK_EQ_INT(sys, 3 + 1 + mcp_tokens_estimate(msgs[0].content, 28));
    CHECK_EQ_INT(user, 3 + 1 + 7);
    CHECK_EQ_INT(asst, 3 + 1 + 1);
    CHECK_EQ_INT(mcp_tokens_messages(msgs, 3), 3 + sys + user + asst);

    /* gpt-tokenizer's encodeChat for gpt-4 gives 29 for these three */
    CHECK(mcp_tokens_messages(msgs, 3) >= 29
          && mcp_tokens_messages(msgs, 3) <= 30);
    CHECK_EQ_INT(mcp_tokens_messages(msgs, 0), MCP_TOKENS_REPLY_PRIMING);

    msgs[1].name = "alice";
    msgs[1].name_len = 5;
    CHECK_EQ_INT(mcp_tokens_message(&msgs[1]),
                 user + MCP_TOKENS_PER_NAME + 1);

    msgs[2].extra = "{\"id\":\"call_1\"}";
    msgs[2].extra_len = 15;
    CHECK(mcp_tokens_message(&msgs[2]) > asst);
}


typedef struct {
    const char  *text;
    size_t       exact;      /* cl100k_base, gpt-tokenizer 4.0.0 */
    unsigned     tolerance;  /* percent */
} ref_text_t;


/* Reference texts of each kind, with the bound the fitted costs meet. */
static void
test_reference_error(void)
{
    static const ref_text_t  refs[] = {
        { "The quick brown fox jumps over the lazy dog. It was the best of "
          "times, it was the worst of times; the request was persisted "
          "before it was acknowledged, and the reply streamed back to the "
          "browser as it arrived.", 45, 15 },
        { "static ngx_int_t\nngx_http_mcp_handler(ngx_http_request_t *r)\n"
          "{\n    if (r->method != NGX_HTTP_GET) {\n        return "
          "NGX_HTTP_NOT_ALLOWED;\n    }\n    return NGX_OK;\n}\n", 46, 20 },
        { "{\"action\": \"chat\", \"request_id\": \"r-1732650000-42\", "
          "\"payload\": {\"text\": \"What is 2+3?\", \"streaming\": true}}",
          40, 15 },
        { "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82! "
          "\xd0\x9a\xd0\xb0\xd0\xba \xd0\xb4\xd0\xb5\xd0\xbb\xd0\xb0? "
          "\xd0\xa1\xd0\xb5\xd0\xb3\xd0\xbe\xd0\xb4\xd0\xbd\xd1\x8f "
          "\xd0\xbc\xd1\x8b \xd0\xbf\xd1\x80\xd0\xbe\xd0\xb2\xd0\xb5\xd1\x80"
          "\xd1\x8f\xd0\xb5\xd0\xbc, \xd0\xbd\xd0\xb0\xd1\x81\xd0\xba\xd0\xbe"
          "\xd0\xbb\xd1\x8c\xd0\xba\xd0\xbe \xd1\x85\xd0\xbe\xd1\x80\xd0\xbe"
          "\xd1\x88\xd0\xbe \xd1\x80\xd0\xb0\xd0\xb1\xd0\xbe\xd1\x82\xd0\xb0"
          "\xd0\xb5\xd1\x82 \xd0\xbe\xd1\x86\xd0\xb5\xd0\xbd\xd0\xba\xd0\xb0 "
          "\xd0\xba\xd0\xbe\xd0\xbb\xd0\xb8\xd1\x87\xd0\xb5\xd1\x81\xd1\x82"
          "\xd0\xb2\xd0\xb0 \xd1\x82\xd0\xbe\xd0\xba\xd0\xb5\xd0\xbd\xd0\xbe"
          "\xd0\xb2.", 40, 20 },
        { "\xe4\xbd\xa0\xe5\xa5\xbd\xef\xbc\x8c\xe4\xb8\x96\xe7\x95\x8c\xef"
          "\xbc\x81\xe4\xbb\x8a\xe5\xa4\xa9\xe6\x88\x91\xe4\xbb\xac\xe6\xb5"
          "\x8b\xe8\xaf\x95\xe4\xb8\x80\xe4\xb8\x8b\xe5\x88\x86\xe8\xaf\x8d"
          "\xe5\x99\xa8\xe7\x9a\x84\xe4\xbc\xb0\xe7\xae\x97\xe6\x95\x88\xe6"
          "\x9e\x9c\xe3\x80\x82", 24, 20 },
        { "Die Gr\xc3\xb6\xc3\x9f" "e der Datei \xc3\xbc" "berschreitet das "
          "zul\xc3\xa4ssige Maximum f\xc3\xbcr diesen Server.", 22, 25 },
        /* the known weak spot: well-known camelCase identifiers are often
         * one token, the estimate counts one per case change */
        { "getElementById HTTPServer XMLHttpRequest 1234567 3.14159", 14,
          40 },
    };
    size_t  i, est, diff;

    for (i = 0; i < sizeof(refs) / sizeof(refs[0]); i++) {
        est = mcp_tokens_estimate(refs[i].text, strlen(refs[i].text));
        diff = est > refs[i].exact ? est - refs[i].exact
                                   : refs[i].exact - est;
        if (diff * 100 > refs[i].exact * refs[i].tolerance) {
            fprintf(stderr, "  reference %zu: estimate %zu, exact %zu\n", i,
                    est, refs[i].exact);
        }
        CHECK(diff * 100 <= refs[i].exact * refs[i].tolerance);
    }
}


/* Concatenation never loses more than the pieces joined at the seam. */
static void
test_additive(void)
{
    const char  *a = "One sentence here. ";
    const char  *b = "And another one, with 42 numbers!";
    char         both[128];
    size_t       ea, eb, eab;

    snprintf(both, sizeof(both), "%s%s", a, b);
    ea = mcp_tokens_estimate(a, strlen(a));
    eb = mcp_tokens_estimate(b, strlen(b));
    eab = mcp_tokens_estimate(both, strlen(both));

    CHECK(eab + 2 >= ea + eb && eab <= ea + eb + 2);
}


/* Any bytes at all: NULs, truncated and invalid UTF-8, long runs. */
static void
test_arbitrary_bytes(void)
{
    static const char  odd[] = "\xf0\x9f\x98" "\xc3" "abc\x80\x80\xff\xfe"
                               "\0\0x\xe4\xbd";
    char               buf[4096];
    size_t             i, round, len, est;
    uint32_t           x = 2463534242u;

    est = mcp_tokens_estimate(odd, sizeof(odd) - 1);
    CHECK(est >= 5 && est <= sizeof(odd));

    for (round = 0; round < 300; round++) {
        len = 1 + round * 13 % sizeof(buf);
        for (i = 0; i < len; i++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            /* half the rounds biased to text-like bytes */
            buf[i] = (round & 1) ? (char) (x & 0xff)
                                 : " aZ9.\n\t\xd0\x9f\xe4\xbd\xa0'_"[x % 15];
        }
        est = mcp_tokens_estimate(buf, len);
        CHECK(est >= 1 && est <= len * 3);
    }

    memset(buf, ' ', sizeof(buf));
    CHECK(mcp_tokens_estimate(buf, sizeof(buf)) < 200);
    memset(buf, 'a', sizeof(buf));
    CHECK(mcp_tokens_estimate(buf, sizeof(buf)) > 500);
}


UNIT_MAIN("chat_tokens",
    UNIT_TEST(test_name),
    UNIT_TEST(test_empty),
    UNIT_TEST(test_pieces),
    UNIT_TEST(test_exact_parts),
    UNIT_TEST(test_messages),
    UNIT_TEST(test_reference_error),
    UNIT_TEST(test_additive),
    UNIT_TEST(test_arbitrary_bytes))
