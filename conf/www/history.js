/*
 * A conversation's stored messages (the `history` action), drawn as the
 * live chat draws them, a page at a time: the newest page first, then
 * older ones above it through the keyset cursor (`before` / `next_before`)
 * with a "Load earlier messages" button.
 */

import { button, parseMaybeJson } from "./util.js";
import { Turn } from "./messages.js";

const HISTORY_PAGE = 50;
/* finish reasons of a stored partial answer, as the reader is told */
const PARTIAL = { cancelled: "cancelled", tool_limit_reached: "tool limit reached" };

function text(v) {
  return String(v === undefined ? "" : v);
}

/* Messages oldest first; consecutive non-user messages form one turn. */
function renderMessages(log, messages, before) {
  let turn = null;
  messages.forEach((m) => {
    if (m.role === "user") {
      log.addUser(text(m.content), before);
      turn = null;
      return;
    }
    if (!turn) {
      turn = new Turn(log, before);
    }
    if (m.role === "assistant") {
      turn.text = null;
      turn.appendText(text(m.content));
      turn.complete({ model: m.model, usage: m.usage });
      if (PARTIAL[m.finish_reason]) {
        turn.meta.textContent += " \u00b7 " + PARTIAL[m.finish_reason];
      }
    } else if (m.role === "tool_call") {
      turn.toolCall({ id: m.tool_call_id, tool: m.tool || "tool",
                      arguments: parseMaybeJson(m.content) || m.content }, "called");
    } else if (m.role === "tool_result") {
      turn.toolResult({ id: m.tool_call_id, tool: m.tool, status: m.status || "ok",
                        size: typeof m.content === "string" ? m.content.length : undefined },
                      m.content);
    }
  });
}

export class History {
  /* onError(chunk): a page of history could not be loaded */
  constructor(conn, log, onError) {
    this.conn = conn;
    this.log = log;
    this.onError = onError;
    this.open(null);
  }

  /* a new view: conversation id (null for a new one), nothing loaded */
  open(id) {
    this.id = id;
    this.before = null;       /* cursor of the next older page */
    this.loaded = false;
  }

  /* the newest page, or (older) the page before the oldest shown */
  load(older) {
    const id = this.id;
    if (!id) {
      return;
    }
    const payload = { conversation_id: id, limit: HISTORY_PAGE };
    if (older && this.before !== null) {
      payload.before = this.before;
    }
    this.loaded = true;
    this.conn.request("history", payload, {
      onFrame: (f) => {
        if (this.id !== id) {
          return;             /* the user opened another conversation */
        }
        if (f.status === "error") {
          this.onError(f.chunk || {});
        } else if (f.status === "complete") {
          this.show((f.chunk || {}).metadata || {}, older);
        }
      }
    });
  }

  show(meta, older) {
    const msgs = Array.isArray(meta.messages) ? meta.messages : [];
    const box = this.log.box;
    /* older messages go above: the reader keeps their place */
    const fromEnd = box.scrollHeight - box.scrollTop;
    const more = box.querySelector(".history-more");
    if (more) {
      more.remove();
    }
    renderMessages(this.log, msgs, older ? this.log.first() : null);
    this.before = (meta.next_before !== undefined && meta.next_before !== null)
                  ? meta.next_before : null;
    if (this.before !== null) {
      const b = button("btn btn-link history-more", "Load earlier messages",
                       () => {
                         b.disabled = true;
                         this.load(true);
                       });
      box.insertBefore(b, this.log.first());
    }
    if (older) {
      box.scrollTop = box.scrollHeight - fromEnd;
    } else {
      this.log.scrollToEnd();
    }
  }
}
