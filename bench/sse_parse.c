/*
 * sse_parse: the CPU of reading a streamed answer (make bench-sse).
 *
 * Builds a provider stream of N chunk events shaped as OpenAI's and
 * OpenRouter's (one to a few words each; some with a newline, some with
 * \u escapes as Python servers write them), then a finish chunk, a usage
 * chunk and [DONE]; feeds it through mcp_llm_stream_feed() in pieces of
 * 1,400 bytes (one TCP segment each) again and again for a while, with
 * the plain-chunk reader (mcp_llm_chunk.h) and, as the peer in the same
 * run, without it: every event parsed into a jansson tree, as before.
 * The two alternate, five rounds each; the line takes the medians.
 *
 *   RESULT events=N scan_ns_per_event=X tree_ns_per_event=X speedup=X
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "llm/mcp_llm_stream.h"

#define SSE_ROUNDS  5

static const char *const  sse_words[] = {
    " the", " answer", " is", " forty", "-two", ",", " as", " you", " know",
    ".\\n\\n", " caf\\u00e9", " na\\u00efve", " \\u2014", " \\ud83d\\ude00",
    " \\\"quoted\\\"", " stream", "ing", " tokens"
};

static size_t  sse_text_bytes;

static void
sse_on_text(void *ctx, const char *t, size_t len)
{
    sse_text_bytes += len;
}

static const mcp_llm_stream_cb_t  sse_cbs = { sse_on_text, NULL, NULL };

/* the stream: n chunk events, the finish, the usage, [DONE] */
static char *
sse_build(int n, size_t *len)
{
    size_t  cap = (size_t) n * 320 + 1024, off = 0;
    char   *buf = malloc(cap);
    int     i;

    if (buf == NULL) {
        return NULL;
    }
    for (i = 0; i < n; i++) {
        if (i % 2 == 0) {
            off += (size_t) snprintf(buf + off, cap - off,
                "data: {\"id\":\"chatcmpl-AbCdEf0123456789\",\"object\":"
                "\"chat.completion.chunk\",\"created\":1732700000,\"model\":"
                "\"gpt-4o-mini-2024-07-18\",\"system_fingerprint\":"
                "\"fp_0ba0d124f1\",\"choices\":[{\"index\":0,\"delta\":"
                "{\"content\":\"%s\"},\"logprobs\":null,\"finish_reason\":"
                "null}]}\n\n", sse_words[i % 18]);
        } else {
            off += (size_t) snprintf(buf + off, cap - off,
                "data: {\"id\":\"gen-1732700000-abc\",\"provider\":\"OpenAI\","
                "\"model\":\"openai/gpt-4o-mini\",\"object\":"
                "\"chat.completion.chunk\",\"created\":1732700000,"
                "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
                "\"content\":\"%s\"},\"finish_reason\":null,"
                "\"native_finish_reason\":null,\"logprobs\":null}]}\n\n",
                sse_words[i % 18]);
        }
    }
    off += (size_t) snprintf(buf + off, cap - off,
        "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":"
        "\"stop\"}]}\n\n"
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":120,"
        "\"completion_tokens\":%d,\"total_tokens\":%d}}\n\n"
        "data: [DONE]\n\n", n, n + 120);
    *len = off;
    return buf;
}

static double
sse_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* ns per event over `seconds` of whole streams, one way */
static double
sse_run(const char *buf, size_t len, int events, int no_scan, double seconds)
{
    mcp_llm_stream_t  s;
    double            t0 = sse_now(), t;
    long              streams = 0;
    size_t            off, n;

    do {
        mcp_llm_stream_init(&s, &sse_cbs, NULL);
        s.no_scan = no_scan;
        for (off = 0; off < len; off += n) {
            n = len - off < 1400 ? len - off : 1400;
            if (mcp_llm_stream_feed(&s, buf + off, n) != 0) {
                fprintf(stderr, "sse_parse: %s\n", s.errmsg);
                exit(1);
            }
        }
        if (mcp_llm_stream_end(&s) != 0 || !s.finished) {
            fprintf(stderr, "sse_parse: stream not finished\n");
            exit(1);
        }
        mcp_llm_stream_free(&s);
        streams++;
        t = sse_now();
    } while (t - t0 < seconds);
    return (t - t0) * 1e9 / ((double) streams * (events + 3));
}

static int
sse_cmp(const void *a, const void *b)
{
    double  x = *(const double *) a, y = *(const double *) b;

    return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
    int      events = argc > 1 ? atoi(argv[1]) : 200;
    double   seconds = argc > 2 ? atof(argv[2]) : 1.0;
    double   scan[SSE_ROUNDS], tree[SSE_ROUNDS];
    size_t   len;
    char    *buf;
    int      i;

    buf = sse_build(events > 0 ? events : 200, &len);
    if (buf == NULL) {
        return 1;
    }
    for (i = 0; i < SSE_ROUNDS; i++) {
        scan[i] = sse_run(buf, len, events, 0, seconds);
        tree[i] = sse_run(buf, len, events, 1, seconds);
        printf("# round %d: scan %.0f ns/event, tree %.0f ns/event\n", i + 1,
               scan[i], tree[i]);
    }
    qsort(scan, SSE_ROUNDS, sizeof(double), sse_cmp);
    qsort(tree, SSE_ROUNDS, sizeof(double), sse_cmp);
    printf("RESULT events=%d bytes_per_stream=%zu scan_ns_per_event=%.0f "
           "tree_ns_per_event=%.0f speedup=%.2f\n", events, len,
           scan[SSE_ROUNDS / 2], tree[SSE_ROUNDS / 2],
           tree[SSE_ROUNDS / 2] / scan[SSE_ROUNDS / 2]);
    free(buf);
    return 0;
}
