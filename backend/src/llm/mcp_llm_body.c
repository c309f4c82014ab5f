/*
 * The request body a provider is sent: model, messages and the sampling
 * settings as one compact JSON object, built once per admission (again
 * when a request moves to the fallback provider, whose model differs).
 * The messages are always spliced in as text: the caller's own dump
 * (chat keeps its history's from turn to turn), else one made here.
 */

#include <stdlib.h>
#include <string.h>

#include "llm/mcp_llm_int.h"


/*
 * The body around the dumped messages (dumping the whole context again
 * for every request was the largest part of building it): the same bytes
 * as json_dumps of {"model", "messages", rest...}, rest being o.
 */
static char *
llm_body_around(mcp_llm_req_t *r, const char *model, json_t *o)
{
    json_t  *m = json_pack("{s:s}", "model", model);
    char    *head = m ? json_dumps(m, JSON_COMPACT) : NULL;
    char    *tail = json_dumps(o, JSON_COMPACT);
    char    *body = NULL;
    size_t   hl, tl;

    json_decref(m);
    if (head != NULL && tail != NULL) {
        /* {"model":"x"} and {"temperature":...}: drop the '}' and the '{' */
        hl = strlen(head) - 1;
        tl = strlen(tail) - 1;
        body = malloc(hl + sizeof(",\"messages\":") - 1 + r->messages_len
                      + 1 + tl + 1);
    }
    if (body != NULL) {
        char  *p = body;

        memcpy(p, head, hl);
        p += hl;
        memcpy(p, ",\"messages\":", sizeof(",\"messages\":") - 1);
        p += sizeof(",\"messages\":") - 1;
        memcpy(p, r->messages_json, r->messages_len);
        p += r->messages_len;
        *p++ = ',';
        memcpy(p, tail + 1, tl);
        p += tl;
        *p = '\0';
    }
    free(head);
    free(tail);
    return body;
}


int
llm_build_body(mcp_llm_req_t *r)
{
    const mcp_llm_provider_conf_t  *c = r->p->conf;
    json_t                         *o;
    int64_t                         max_tokens;

    if (r->messages_json == NULL) {
        /* a caller without its own dump (mcpd llm call, the bench): dump
           once, kept for a rebuild for the fallback provider */
        r->messages_json = json_dumps(r->messages, JSON_COMPACT);
        if (r->messages_json == NULL) {
            return -1;
        }
        r->messages_len = strlen(r->messages_json);
    }

    max_tokens = r->max_tokens > 0 ? r->max_tokens : c->max_tokens;
    o = json_pack("{s:f, s:I, s:f}", "temperature", c->temperature,
                  "max_tokens", (json_int_t) max_tokens, "top_p", c->top_p);
    if (o == NULL) {
        return -1;
    }
    if (r->stream) {
        json_object_set_new(o, "stream", json_true());
        json_object_set_new(o, "stream_options",
                            json_pack("{s:b}", "include_usage", 1));
    }
    if (json_is_array(r->tools) && json_array_size(r->tools) > 0) {
        json_object_set(o, "tools", r->tools);
    }

    free(r->body);
    r->body = llm_body_around(r, c->model, o);
    json_decref(o);
    if (r->body == NULL) {
        return -1;
    }
    r->body_len = strlen(r->body);
    /* ~4 bytes a token: a pre-flight estimate, settled with real usage */
    r->est_tokens = (int64_t) (r->body_len / 4) + max_tokens;
    return 0;
}
