/*
 * Differential fuzzing of the plain-chunk reader (mcp_llm_chunk.h)
 * against jansson, which it stands in for: whenever the reader calls an
 * input plain, jansson must parse it to an object that the stream would
 * act on in no other way than taking the same text and model.  Inputs it
 * calls not plain go to jansson in the product, so they need no oracle.
 * Then the same input as one SSE event through the stream, with the
 * reader and without, must give the same text, model and outcome.
 */

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "llm/mcp_llm_chunk.h"
#include "llm/mcp_llm_stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int ok)
{
    if (!ok) {
        abort();
    }
}

/* the reader's text, decoded, equals jansson's string (or both absent) */
static void
check_content(const mcp_llm_chunk_t *c, const json_t *content)
{
    char    *buf;
    size_t   n;

    check(c->has_content == (json_is_string(content) ? 1 : 0));
    if (!c->has_content) {
        return;
    }
    buf = malloc(c->content_len + 1);
    check(buf != NULL);
    n = mcp_llm_chunk_unescape(c->content, c->content_len, buf);
    check(n == json_string_length(content));
    check(memcmp(buf, json_string_value(content), n) == 0);
    check(c->content_escaped
          || (n == c->content_len && memcmp(c->content, buf, n) == 0));
    free(buf);
}

static void
check_plain(const mcp_llm_chunk_t *c, const json_t *root)
{
    const json_t  *err, *obj, *model, *usage, *choice, *delta;

    check(json_is_object(root));
    err = json_object_get(root, "error");
    obj = json_object_get(root, "object");
    check(err == NULL || json_is_null(err));
    check(!json_is_string(obj)
          || strcmp(json_string_value(obj), "error") != 0);
    usage = json_object_get(root, "usage");
    check(!json_is_object(usage));
    check(json_object_get(root, "x_groq") == NULL);

    model = json_object_get(root, "model");
    if (json_is_string(model)) {
        check(c->model != NULL
              && c->model_len == json_string_length(model)
              && memcmp(c->model, json_string_value(model),
                        c->model_len) == 0);
    } else {
        check(c->model == NULL);
    }

    choice = json_array_get(json_object_get(root, "choices"), 0);
    delta = json_is_object(choice) ? json_object_get(choice, "delta") : NULL;
    if (json_is_object(choice)) {
        check(!json_is_string(json_object_get(choice, "finish_reason")));
    }
    if (json_is_object(delta)) {
        check(json_object_get(delta, "tool_calls") == NULL);
        check_content(c, json_object_get(delta, "content"));
    } else {
        check(!c->has_content);
    }
}

typedef struct {
    char    text[8192];
    size_t  len;
} fz_rec_t;

static void
fz_text(void *ctx, const char *t, size_t len)
{
    fz_rec_t  *r = ctx;

    if (len <= sizeof(r->text) - r->len) {
        memcpy(r->text + r->len, t, len);
        r->len += len;
    }
}

/* the input as one "data:" event, read with or without the reader */
static void
fz_stream(const uint8_t *data, size_t size, int no_scan, fz_rec_t *r,
    mcp_llm_stream_t *s)
{
    static const mcp_llm_stream_cb_t  cbs = { fz_text, NULL, NULL };

    memset(r, 0, sizeof(*r));
    mcp_llm_stream_init(s, &cbs, r);
    s->no_scan = no_scan;
    s->sse.max_line = 1 << 16;
    (void) mcp_llm_stream_feed(s, "data: ", 6);
    (void) mcp_llm_stream_feed(s, (const char *) data, size);
    (void) mcp_llm_stream_feed(s, "\n\n", 2);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mcp_llm_chunk_t    c;
    json_t            *root;
    json_error_t       jerr;
    mcp_llm_stream_t   a, b;
    fz_rec_t           ra, rb;

    if (mcp_llm_chunk_scan((const char *) data, size, &c)) {
        root = json_loadb((const char *) data, size, 0, &jerr);
        check(root != NULL);
        check_plain(&c, root);
        json_decref(root);
    }

    if (memchr(data, '\n', size) != NULL || memchr(data, '\r', size) != NULL) {
        return 0;                       /* not one event's data line */
    }
    fz_stream(data, size, 0, &ra, &a);
    fz_stream(data, size, 1, &rb, &b);
    check(a.err == b.err && strcmp(a.errmsg, b.errmsg) == 0);
    check(a.chunks == b.chunks && a.text_bytes == b.text_bytes);
    check(ra.len == rb.len && memcmp(ra.text, rb.text, ra.len) == 0);
    check(strcmp(a.model, b.model) == 0);
    check(strcmp(a.finish_reason, b.finish_reason) == 0);
    mcp_llm_stream_free(&a);
    mcp_llm_stream_free(&b);
    return 0;
}
