/*
 * A session: one WebSocket client as mcpd sees it, identified by (link, sid).
 * Created by OPEN from the nginx module, ended by CLOSE from either side or
 * when its link goes away.  This is the API producers (the chat service,
 * the tool loop) use to answer a client.
 *
 * Lifetime: a session is freed when it is closed and its last reference is
 * dropped.  Keep one with mcp_session_ref() across asynchronous work and
 * check mcp_session_is_open() before producing; sends on a closed session
 * are dropped and return -1.
 *
 * Flow control: mcp_session_paused() is true while the client is slow (the
 * module sent FLOW pause) or while the link's unsent output is above
 * daemon.link_buffer_size.  A producer that sees it paused stops reading
 * upstream and registers mcp_session_on_resume(); it is called once when
 * the session may produce again (or not at all if it closes first: use the
 * session-close hook to clean up).
 */

#ifndef MCP_SESSION_H
#define MCP_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

typedef struct mcp_session_s  mcp_session_t;
struct mcp_daemon_s;

typedef void (*mcp_session_resume_pt)(mcp_session_t *s, void *ctx);

uint64_t mcp_session_id(const mcp_session_t *s);
struct mcp_daemon_s *mcp_session_daemon(const mcp_session_t *s);

/* An OPEN attribute ("addr", "principal", "uri", "h:origin", "q:x"), or
   NULL when the module did not send it.  NUL-terminated. */
const char *mcp_session_attr(const mcp_session_t *s, const char *key);

int mcp_session_is_open(const mcp_session_t *s);
void mcp_session_ref(mcp_session_t *s);
void mcp_session_unref(mcp_session_t *s);

/* Send one text message to the client; 0 or -1 (closed / overflow). */
int mcp_session_send_text(mcp_session_t *s, const char *text, size_t len);
/* Serialize obj (not stolen) compactly and send it. */
int mcp_session_send_json(mcp_session_t *s, json_t *obj);
/* {"request_id":id|null,"status":status,"chunk":chunk}; chunk is stolen
   (NULL: {}). */
int mcp_session_reply(mcp_session_t *s, const char *request_id,
    const char *status, json_t *chunk);
/* The same for a request's last frame (complete or error): small and one
   per request, it may be sent while the session is paused and is never
   taken for a producer that ignores the pause. */
int mcp_session_reply_last(mcp_session_t *s, const char *request_id,
    const char *status, json_t *chunk);
/* The same for an answer to an action (history, lists) that may be
   large: sent now unless the session is paused, else held, in order, and
   sent when it resumes (so a client that is behind never gets more than
   one such answer past a FLOW pause); dropped if it closes first.  0, or
   -1 when closed; a client that stops reading and keeps asking is closed
   with 1008 past 64 held answers. */
int mcp_session_answer(mcp_session_t *s, const char *request_id,
    const char *status, json_t *chunk);
/* status "error", chunk {"error": message, "code": code}. */
int mcp_session_error(mcp_session_t *s, const char *request_id,
    const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

int mcp_session_paused(const mcp_session_t *s);
/* The client's own FLOW state only (not the link's congestion). */
int mcp_session_flow_paused(const mcp_session_t *s);
void mcp_session_on_resume(mcp_session_t *s, mcp_session_resume_pt cb,
    void *ctx);

/* End the session from mcpd's side: CLOSE(code, reason) to the module. */
void mcp_session_close(mcp_session_t *s, uint16_t code, const char *reason);

/*
 * Remote sessions (added for redis/): a client connected to another mcpd of
 * the cluster whose requests run here.  It has no link: what producers send
 * goes to sink->send, mcp_session_close() to sink->closed; it is paused
 * only by redis/ (mcp_session_set_flow()): while the asking client is, or
 * while a window of frames is unacknowledged.  Actions see an ordinary
 * session with the attributes given (NULL-terminated key, value list).
 * The creator holds one reference and ends it with
 * mcp_session_end_remote() when the client went away: close hooks run
 * (producers stop) and that reference is dropped.
 */
typedef struct {
    int   (*send)(void *ctx, const char *text, size_t len);
    void  (*closed)(void *ctx, uint16_t code, const char *reason);
} mcp_session_sink_t;

mcp_session_t *mcp_session_new_remote(struct mcp_daemon_s *d, uint64_t sid,
    const char *const *attrs, const mcp_session_sink_t *sink, void *ctx);
void mcp_session_end_remote(mcp_session_t *s);
int mcp_session_is_remote(const mcp_session_t *s);

#endif /* MCP_SESSION_H */
