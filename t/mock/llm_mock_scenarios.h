/*
 * llm_mock's scenarios (see llm_mock.c): the scripts of timed steps that
 * play a scenario's answer (status line, headers, SSE events in a
 * provider's chunking style, resets, stalls).  Header-only on purpose:
 * every .c file in t/mock is built as its own program, so this part is
 * included by llm_mock.c alone.
 */

#ifndef LLM_MOCK_SCENARIOS_H
#define LLM_MOCK_SCENARIOS_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* the text scenario's answer unless a queued reply says otherwise
   (llm_mock --words N makes it N words long) */
static const char  *mock_default_text = "Hello from the mock.";

typedef struct {
    uint64_t  delay_ms;
    char     *data;
    size_t    len;
    int       action;            /* 0 write, 1 reset, 2 end (keep-alive) */
} mock_step_t;

/* ------------------------------------------------------------ scripts */

typedef struct {
    mock_step_t  *steps;
    size_t        n;
    size_t        cap;
} script_t;

static void
script_add(script_t *s, uint64_t delay, char *data, size_t len, int action)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->steps = realloc(s->steps, s->cap * sizeof(*s->steps));
    }
    s->steps[s->n].delay_ms = delay;
    s->steps[s->n].data = data;
    s->steps[s->n].len = len;
    s->steps[s->n].action = action;
    s->n++;
}

static char *
fmt(size_t *len, const char *f, ...) __attribute__((format(printf, 2, 3)));

static char *
fmt(size_t *len, const char *f, ...)
{
    va_list  ap;
    char    *s;
    int      n;

    va_start(ap, f);
    n = vasprintf(&s, f, ap);
    va_end(ap);
    *len = n > 0 ? (size_t) n : 0;
    return s;
}

/* one SSE event as one HTTP chunk */
static void
script_event(script_t *s, uint64_t delay, const char *event)
{
    size_t  len, n = strlen(event);
    char   *d = fmt(&len, "%zx\r\n%s\r\n", n, event);

    script_add(s, delay, d, len, 0);
}

static void
script_data(script_t *s, uint64_t delay, json_t *chunk)
{
    char   *j = json_dumps(chunk, JSON_COMPACT);
    size_t  len;
    char   *e = fmt(&len, "data: %s\n\n", j);

    script_event(s, delay, e);
    free(e);
    free(j);
    json_decref(chunk);
}

/* a scenario's extra response headers ({"name": "value"}) as header lines */
static char *
header_lines(json_t *headers)
{
    const char  *k;
    json_t      *v;
    size_t       len;
    char        *lines = strdup(""), *t;

    json_object_foreach(headers, k, v) {
        if (json_is_string(v)) {
            t = fmt(&len, "%s%s: %s\r\n", lines, k, json_string_value(v));
            free(lines);
            lines = t;
        }
    }
    return lines;
}

static void
script_stream_head(script_t *s, uint64_t delay, json_t *headers)
{
    size_t   len;
    char    *extra = header_lines(headers), *t;

    t = fmt(&len, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            "Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n%s\r\n",
            extra);
    free(extra);
    script_add(s, delay, t, len, 0);
}

static void
script_stream_end(script_t *s, uint64_t delay)
{
    script_event(s, delay, "data: [DONE]\n\n");
    script_add(s, 0, strdup("0\r\n\r\n"), 5, 2);
}

static json_t *
chunk_new(const char *model, json_t *delta, const char *finish)
{
    return json_pack("{s:s, s:s, s:i, s:s, s:[{s:i, s:o, s:o}]}",
                     "id", "chatcmpl-mock", "object", "chat.completion.chunk",
                     "created", 1764000000, "model", model, "choices",
                     "index", 0, "delta", delta,
                     "finish_reason", finish ? json_string(finish)
                                             : json_null());
}

static json_t *
usage_chunk(const char *model, int prompt, int completion)
{
    return json_pack("{s:s, s:s, s:s, s:[], s:{s:i, s:i, s:i}}",
                     "id", "chatcmpl-mock", "object", "chat.completion.chunk",
                     "model", model, "choices", "usage",
                     "prompt_tokens", prompt, "completion_tokens", completion,
                     "total_tokens", prompt + completion);
}

static void
script_plain(script_t *s, int status, json_t *body, json_t *headers)
{
    char    *b = json_dumps(body, JSON_COMPACT), *t;
    char    *extra = header_lines(headers);
    size_t   len;

    t = fmt(&len, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
            "Content-Length: %zu\r\n%s\r\n%s", status,
            status == 200 ? "OK" : "Mock", strlen(b), extra, b);
    script_add(s, 0, t, len, 2);
    free(extra);
    free(b);
    json_decref(body);
}

static int
param_int(json_t *p, const char *k, int def)
{
    json_t  *v = json_object_get(p, k);

    return json_is_integer(v) ? (int) json_integer_value(v) : def;
}

static const char *
param_str(json_t *p, const char *k, const char *def)
{
    json_t  *v = json_object_get(p, k);

    return json_is_string(v) ? json_string_value(v) : def;
}

/* the words of the answer, streamed one per chunk */
static int
script_words(script_t *s, const char *model, const char *text,
    uint64_t delay, uint64_t first)
{
    const char  *p = text, *sp;
    char         word[256];
    size_t       n;
    int          count = 0;

    while (*p) {
        sp = strchr(p + 1, ' ');
        n = sp ? (size_t) (sp - p) : strlen(p);
        if (n >= sizeof(word)) {
            n = sizeof(word) - 1;
        }
        memcpy(word, p, n);
        word[n] = '\0';
        script_data(s, count ? delay : first, chunk_new(model,
                    json_pack("{s:s}", "content", word), NULL));
        count++;
        p += n;
    }
    return count;
}

static void
script_tools(script_t *s, const char *model, const char *style, int usage)
{
    int  every = strcmp(style, "every") == 0;
    int  index0 = strcmp(style, "index0") == 0;

    script_stream_head(s, 0, NULL);
    script_data(s, 0, chunk_new(model, json_pack("{s:s, s:n}", "role",
                                "assistant", "content"), NULL));
    if (index0) {
        script_data(s, 0, chunk_new(model, json_pack("{s:[{s:i, s:s, s:s, "
            "s:{s:s, s:s}}]}", "tool_calls", "index", 0, "id", "call_a",
            "type", "function", "function", "name", "get_weather",
            "arguments", "{\"city\":\"Paris\"}"), NULL));
        script_data(s, 0, chunk_new(model, json_pack("{s:[{s:i, s:s, s:s, "
            "s:{s:s, s:s}}]}", "tool_calls", "index", 0, "id", "call_b",
            "type", "function", "function", "name", "get_time",
            "arguments", "{\"tz\":\"CET\"}"), NULL));
    } else {
        static const char *const  frags[2][3] = {
            { "{\"ci", "ty\":\"Pa", "ris\"}" },
            { "{\"t", "z\":\"CE", "T\"}" },
        };
        static const char *const  ids[2] = { "call_a", "call_b" };
        static const char *const  names[2] = { "get_weather", "get_time" };
        int                        i, k;

        for (i = 0; i < 2; i++) {
            script_data(s, 0, chunk_new(model, json_pack("{s:[{s:i, s:s, "
                "s:s, s:{s:s, s:s}}]}", "tool_calls", "index", i, "id",
                ids[i], "type", "function", "function", "name", names[i],
                "arguments", ""), NULL));
            for (k = 0; k < 3; k++) {
                json_t  *tc = json_pack("{s:i, s:{s:s}}", "index", i,
                                        "function", "arguments", frags[i][k]);

                if (every) {
                    json_object_set_new(tc, "id", json_string(ids[i]));
                    json_object_set_new(json_object_get(tc, "function"),
                                        "name", json_string(names[i]));
                }
                script_data(s, 0, chunk_new(model,
                            json_pack("{s:[o]}", "tool_calls", tc), NULL));
            }
        }
    }
    script_data(s, 0, chunk_new(model, json_object(), "tool_calls"));
    if (usage) {
        script_data(s, 0, usage_chunk(model, 20, 12));
    }
    script_stream_end(s, 0);
}

static void
script_text(script_t *s, json_t *p, const char *model, int stream,
    int usage)
{
    const char  *text = param_str(p, "text", mock_default_text);
    uint64_t     delay = (uint64_t) param_int(p, "delay_ms", 0);
    uint64_t     first = (uint64_t) param_int(p, "first_byte_ms", 0);
    int          words;

    if (!stream) {
        script_plain(s, 200, json_pack("{s:s, s:s, s:s, s:[{s:i, s:{s:s, "
            "s:s}, s:s}], s:{s:i, s:i, s:i}}", "id", "chatcmpl-mock",
            "object", "chat.completion", "model", model, "choices", "index",
            0, "message", "role", "assistant", "content", text,
            "finish_reason", "stop", "usage", "prompt_tokens", 10,
            "completion_tokens", 5, "total_tokens", 15),
            json_object_get(p, "headers"));
        s->steps[0].delay_ms = first;
        return;
    }

    script_stream_head(s, first, json_object_get(p, "headers"));
    words = script_words(s, model, text, delay, 0);
    script_data(s, delay, chunk_new(model, json_object(), "stop"));
    if (usage) {
        script_data(s, 0, usage_chunk(model, 10, words));
    }
    script_stream_end(s, 0);
}

static void
script_build(script_t *s, const char *sc, json_t *p, const char *model,
    int stream, int usage)
{
    size_t  len;
    char   *t;

    if (strcmp(sc, "tools") == 0) {
        script_tools(s, model, param_str(p, "style", "first"), usage);

    } else if (strcmp(sc, "status") == 0) {
        json_t  *h = json_deep_copy(json_object_get(p, "headers"));
        int      st = param_int(p, "status", 500);

        if (h == NULL) {
            h = json_object();
        }
        if (param_str(p, "retry_after", NULL)) {
            json_object_set_new(h, "Retry-After",
                                json_string(param_str(p, "retry_after", "")));
        }
        if (param_str(p, "retry_after_ms", NULL)) {
            json_object_set_new(h, "retry-after-ms",
                                json_string(param_str(p, "retry_after_ms", "")));
        }
        script_plain(s, st, json_pack("{s:{s:s, s:i}}", "error", "message",
                     st == 429 ? "Rate limit reached (mock)"
                               : "Upstream failure (mock)", "code", st), h);
        json_decref(h);

    } else if (strcmp(sc, "reset_before") == 0) {
        script_add(s, 0, NULL, 0, 1);

    } else if (strcmp(sc, "reset_after") == 0 || strcmp(sc, "stall") == 0) {
        script_stream_head(s, 0, NULL);
        script_data(s, 0, chunk_new(model, json_pack("{s:s}", "content",
                    "partial"), NULL));
        if (strcmp(sc, "stall") == 0) {
            script_data(s, (uint64_t) param_int(p, "stall_ms", 60000),
                        chunk_new(model, json_object(), "stop"));
            script_stream_end(s, 0);
        } else {
            script_add(s, (uint64_t) param_int(p, "delay_ms", 20), NULL, 0, 1);
        }

    } else if (strcmp(sc, "bulk") == 0) {
        /* a long reply at full speed: chunk i is "<i:06>" padded with x to
           chunk_bytes, so a client can check it got all of it in order */
        int     i, n = param_int(p, "chunks", 100);
        size_t  cb = (size_t) param_int(p, "chunk_bytes", 1024);
        char   *c = malloc(cb + 16);

        script_stream_head(s, 0, NULL);
        for (i = 0; i < n; i++) {
            snprintf(c, cb + 16, "<%06d>", i);
            len = strlen(c);
            if (cb > len) {
                memset(c + len, 'x', cb - len);
                c[cb] = '\0';
            }
            script_data(s, 0, chunk_new(model, json_pack("{s:s}", "content",
                        c), NULL));
        }
        free(c);
        script_data(s, 0, chunk_new(model, json_object(), "stop"));
        script_stream_end(s, 0);

    } else if (strcmp(sc, "no_finish") == 0) {
        script_stream_head(s, 0, NULL);
        script_words(s, model, "cut short", 0, 0);
        script_stream_end(s, 0);

    } else if (strcmp(sc, "trickle") == 0) {
        script_stream_head(s, 0, NULL);
        script_words(s, model, param_str(p, "text", "slow but steady words"),
                     (uint64_t) param_int(p, "delay_ms", 200), 0);
        script_data(s, 0, chunk_new(model, json_object(), "stop"));
        script_stream_end(s, 0);

    } else if (strcmp(sc, "malformed") == 0) {
        script_stream_head(s, 0, NULL);
        script_words(s, model, "ok", 0, 0);
        script_event(s, 0, "data: {\"choices\":[{\"delta\":{\"content\":\"x\"\n\n");
        script_data(s, 0, chunk_new(model, json_object(), "stop"));
        script_stream_end(s, 0);

    } else if (strcmp(sc, "error_event") == 0) {
        script_stream_head(s, 0, NULL);
        script_event(s, 0, ": OPENROUTER PROCESSING\n\n");
        script_words(s, model, "before error", 0, 0);
        t = fmt(&len, "data: {\"error\":{\"code\":502,\"message\":\"Provider "
                "returned error (mock)\"},\"choices\":[{\"index\":0,\"delta\":"
                "{},\"finish_reason\":\"error\"}]}\n\n");
        script_event(s, 0, t);
        free(t);
        script_stream_end(s, 0);

    } else if (strcmp(sc, "vllm_error") == 0) {
        script_stream_head(s, 0, NULL);
        script_event(s, 0, "data: {\"object\":\"error\",\"message\":\"The "
                     "model ran out of memory (mock)\",\"type\":"
                     "\"InternalServerError\",\"code\":500}\n\n");
        script_stream_end(s, 0);

    } else {
        script_text(s, p, model, stream, usage);
    }
}

#endif /* LLM_MOCK_SCENARIOS_H */
