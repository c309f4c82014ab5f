/*
 * One client message: check the envelope, answer the built-in `ping`, hand
 * anything else to the action registered for it.  Every bad input gets one
 * error frame with a stable code (docs/websocket-api.md) and the session
 * stays open: a client bug must never cost the client its socket.
 */

#include <string.h>

#include "core/mcp_daemon.h"
#include "link/mcp_link_server.h"

#define MCP_REQUEST_ID_MAX  128


/*
 * The request_id, when it is readable: a string of 1..128 bytes.  *bad is
 * set when it is missing or unusable, which makes the request invalid.
 */
static const char *
mcp_dispatch_request_id(json_t *msg, const char **why)
{
    json_t      *rid = json_object_get(msg, "request_id");
    const char  *s;
    size_t       n;

    if (rid == NULL || json_is_null(rid)) {
        *why = "request_id is required";
        return NULL;
    }

    if (!json_is_string(rid)) {
        *why = "request_id must be a string";
        return NULL;
    }

    s = json_string_value(rid);
    n = json_string_length(rid);
    if (n == 0 || n > MCP_REQUEST_ID_MAX || strlen(s) != n) {
        *why = "request_id must be 1 to 128 bytes of text";
        return NULL;
    }

    return s;
}


void
mcp_dispatch_message(mcp_session_t *s, const char *text, size_t len)
{
    mcp_daemon_t               *d = mcp_session_daemon(s);
    const mcp_daemon_action_t  *a;
    json_t                     *msg, *act;
    json_error_t                jerr;
    const char                 *rid, *action, *why = NULL;

    msg = json_loadb(text, len, JSON_DECODE_ANY, &jerr);
    if (msg == NULL) {
        mcp_session_error(s, NULL, "invalid_json",
                          "message is not valid JSON: %s (at character %d)",
                          jerr.text, jerr.position);
        return;
    }

    if (!json_is_object(msg)) {
        mcp_session_error(s, NULL, "invalid_request",
                          "message must be a JSON object");
        json_decref(msg);
        return;
    }

    rid = mcp_dispatch_request_id(msg, &why);

    act = json_object_get(msg, "action");
    if (act == NULL || !json_is_string(act)) {
        mcp_session_error(s, rid, "invalid_request", "%s",
                          act ? "action must be a string"
                              : "action is required");
        goto done;
    }

    action = json_string_value(act);
    if (action[0] == '\0') {
        mcp_session_error(s, rid, "invalid_request",
                          "action must not be empty");
        goto done;
    }

    if (rid == NULL) {
        mcp_session_error(s, NULL, "invalid_request", "%s", why);
        goto done;
    }

    a = mcp_daemon_find_action(d, action);
    if (a == NULL) {
        mcp_session_error(s, rid, "unknown_action", "unknown action '%.64s'",
                          action);
        goto done;
    }

    /* the handler may close the session; keep it valid until we return */
    mcp_session_ref(s);
    a->handler(s, rid, msg, a->ctx);
    mcp_session_unref(s);

done:
    json_decref(msg);
}


/* The built-in `ping`: an application-level round trip. */
void
mcp_dispatch_ping(mcp_session_t *s, const char *request_id, json_t *msg,
    void *ctx)
{
    mcp_session_reply(s, request_id, "complete",
                      json_pack("{s:s}", "type", "pong"));
}
