/*
 * mcp-edge chat page (docs/websocket-api.md), plain ES modules served as
 * they are, no build step:
 *
 *   chat.js        this file: the composer, a chat request and its
 *                  frames, Stop, which conversation is open, the wiring
 *   connection.js  the WebSocket: requests, reconnect, re-send
 *   messages.js    the message log: user messages, assistant turns, tool
 *                  calls and results, error boxes
 *   history.js     a conversation's stored messages, a page at a time
 *   convlist.js    the sidebar's conversations, a page at a time
 *   markdown.js    safe Markdown to DOM nodes; util.js small helpers
 *
 * Every error frame is shown where it belongs, with its stable `code`.
 */

import { Connection } from "./connection.js";
import { MessageLog, Turn, errorBox } from "./messages.js";
import { History } from "./history.js";
import { ConversationList } from "./convlist.js";

/* request ids of these errors were never run: a retry may reuse them */
const NOT_RUN = { rate_limited: 1, backend_unavailable: 1, conversation_busy: 1 };
const RETRYABLE = {
  rate_limited: 1, backend_unavailable: 1, conversation_busy: 1,
  provider_unavailable: 1, provider_error: 1, internal: 1
};

const $ = (id) => document.getElementById(id);

const ui = {
  app: $("app"), toggle: $("toggle-sidebar"), newConv: $("new-conv"),
  title: $("conv-title"), conn: $("conn"), connText: $("conn-text"),
  connRetry: $("conn-retry"), form: $("composer"), input: $("input"),
  send: $("send"), cancel: $("cancel")
};

const view = {
  current: null,              /* open conversation id, null for a new one */
  running: null               /* the chat request running in this view */
};

const log = new MessageLog($("messages"), $("empty"));

const conn = new Connection(wsUrl(), {
  onState: showConn,
  onOpen: () => {
    convs.load(false);
    if (view.current && !hist.loaded) {
      hist.load(false);
    }
  },
  onLost: (req) => {
    if (req.turn) {
      req.turn.setStatus("Connection lost \u2013 resumes when it is back", true);
    }
  },
  onStrayError: (c) => log.showError(c.code, c.error, c.retry_after_ms),
  onBadFrame: () => log.showError("internal", "The server sent a frame that is not JSON."),
  onPingTime: (ms) => { ui.conn.title = "round trip " + ms + " ms"; }
});

const hist = new History(conn, log, (c) => {
  log.showError(c.code, "Could not load this conversation: " + (c.error || ""), c.retry_after_ms);
});

const convs = new ConversationList(conn, {
  list: $("conv-list"), notice: $("conv-notice"), empty: $("conv-empty"),
  more: $("conv-more")
}, {
  current: () => view.current,
  open: openConversation,
  deleted: (id) => {
    if (view.current === id) {
      openConversation(null);
    }
  }
});

function wsUrl() {
  const proto = window.location.protocol === "https:" ? "wss:" : "ws:";
  return proto + "//" + window.location.host + "/ws/chat";
}

/* ------------------------------------------------------------ header */

function showConn(state, text) {
  ui.conn.setAttribute("data-state", state);
  ui.conn.setAttribute("data-backend", conn.backend);
  ui.connText.textContent = text;
  ui.connRetry.hidden = state !== "reconnecting";
  updateComposer();
}

function updateComposer() {
  const running = !!view.running;
  ui.send.disabled = running;
  ui.cancel.hidden = !running;
  ui.send.hidden = running;
}

function setCurrent(id, title) {
  view.current = id;
  ui.title.textContent = title || (id ? "Conversation" : "New conversation");
  const want = id ? "#c=" + encodeURIComponent(id) : "";
  if (window.location.hash !== want) {
    window.history.replaceState(null, "", want || window.location.pathname);
  }
  convs.markActive();
}

/* ------------------------------------------------------------ chat */

function startChat(text, reuseId) {
  const payload = { text: text, streaming: true };
  if (view.current) {
    payload.conversation_id = view.current;
  }
  const turn = new Turn(log);
  turn.setStatus(conn.isOpen() ? "Thinking\u2026" : "Waiting for the connection\u2026", true);
  log.keepBottom(true);

  const req = conn.request("chat", payload, {
    onFrame: (f) => onChatFrame(req, f, text)
  }, { id: reuseId });
  req.turn = turn;
  req.convAtStart = view.current;
  req.onResend = () => {
    req.resent = true;
    turn.setStatus("Reconnected, resuming\u2026", true);
  };
  view.running = req.id;
  updateComposer();
  return req;
}

function onChatFrame(req, f, text) {
  const turn = req.turn;
  const chunk = f.chunk || {};
  const meta = chunk.metadata || {};

  if (f.status === "processing") {
    /* a new conversation: its id comes in the first frame */
    if (meta.conversation_id && !req.payload.conversation_id) {
      req.payload.conversation_id = meta.conversation_id;
      if (view.current === req.convAtStart) {
        setCurrent(meta.conversation_id, text.slice(0, 60));
      }
    }
    turn.setStatus("Thinking\u2026", true);
  } else if (f.status === "chunk") {
    onChatChunk(req, chunk, meta);
  } else if (f.status === "complete") {
    finishRunning(req);
    turn.renderNow();
    turn.complete(meta);
    convs.load(false);
  } else if (f.status === "error") {
    finishRunning(req);
    turn.renderNow();
    const retry = RETRYABLE[chunk.code] ? () => {
      turn.node.remove();
      startChat(text, NOT_RUN[chunk.code] ? req.id : undefined);
    } : null;
    turn.error(chunk, retry);
    if (req.payload.conversation_id) {
      convs.load(false);
    }
  }
}

function onChatChunk(req, chunk, meta) {
  const turn = req.turn;
  if (chunk.type === "text") {
    /* a replay after a reconnect is the whole text, not a delta */
    if (meta.cached || (req.resent && meta.cached !== undefined)) {
      turn.replaceText(String(chunk.data || ""));
    } else {
      turn.appendText(String(chunk.data === undefined ? "" : chunk.data));
    }
    turn.setStatus("Writing\u2026", true);
  } else if (chunk.type === "tool_call") {
    turn.toolCall(chunk.data);
    turn.setStatus("Running " + ((chunk.data || {}).tool || "tool") + "\u2026", true);
  } else if (chunk.type === "tool_result") {
    /* the result's head arrives live (preview); history has it whole */
    const d = chunk.data || {};
    let shown = d.preview;
    if (typeof shown === "string" && d.preview_truncated) {
      shown += "\n\u2026";
    }
    turn.toolResult(d, shown);
    turn.setStatus("Thinking\u2026", true);
  }
}

function finishRunning(req) {
  if (view.running === req.id) {
    view.running = null;
    updateComposer();
  }
}

function sendFromComposer() {
  const text = ui.input.value;
  if (!text.trim() || view.running) {
    return;
  }
  ui.input.value = "";
  autosize();
  const wasNear = log.nearBottom();
  log.addUser(text);
  log.keepBottom(wasNear);
  startChat(text);
}

function cancelRunning() {
  const id = view.running;
  if (!id) {
    return;
  }
  const req = conn.pending.get(id);
  if (req && conn.withdraw(id)) {
    /* never left the page: drop it here */
    finishRunning(req);
    req.turn.error({ code: "cancelled", error: "Stopped before it was sent." });
    return;
  }
  ui.cancel.disabled = true;
  conn.request("cancel", { target: id }, {
    onFrame: (f) => {
      ui.cancel.disabled = false;
      if (f.status !== "error") {
        return;
      }
      const c = f.chunk || {};
      const message = "Could not stop: " + (c.error || "");
      const r = conn.pending.get(id);
      if (r && r.turn) {
        r.turn.note(errorBox(c.code, message, c.retry_after_ms, null));
      } else {
        log.showError(c.code, message);
      }
    },
    onDropped: () => { ui.cancel.disabled = false; }
  }, { resend: false });
}

/* ------------------------------------------------------------ conversations */

function openConversation(id, title) {
  if (view.running) {
    finishRunning({ id: view.running });
  }
  log.clear();
  setCurrent(id, title);
  hist.open(id);
  if (id) {
    hist.load(false);
  }
  closeSidebarOnNarrow();
  ui.input.focus();
}

function hashConversation() {
  const m = /^#c=(.+)$/.exec(window.location.hash);
  return m ? decodeURIComponent(m[1]) : null;
}

/* ------------------------------------------------------------ layout */

function closeSidebarOnNarrow() {
  if (window.matchMedia("(max-width: 760px)").matches) {
    ui.app.classList.remove("sidebar-open");
    ui.toggle.setAttribute("aria-expanded", "false");
  }
}

function autosize() {
  ui.input.style.height = "auto";
  ui.input.style.height = Math.min(ui.input.scrollHeight, 220) + "px";
}

/* ------------------------------------------------------------ wiring */

ui.form.addEventListener("submit", (e) => {
  e.preventDefault();
  sendFromComposer();
});

ui.input.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    sendFromComposer();
  } else if (e.key === "Escape" && view.running) {
    cancelRunning();
  }
});

ui.input.addEventListener("input", autosize);
ui.cancel.addEventListener("click", cancelRunning);
ui.connRetry.addEventListener("click", () => conn.retryNow());
ui.newConv.addEventListener("click", () => openConversation(null));

ui.toggle.addEventListener("click", () => {
  const open = ui.app.classList.toggle("sidebar-open");
  ui.toggle.setAttribute("aria-expanded", open ? "true" : "false");
});

window.addEventListener("hashchange", () => {
  const id = hashConversation();
  if (id !== view.current) {
    openConversation(id);
  }
});

window.addEventListener("online", () => conn.retryNow());
window.addEventListener("pageshow", (e) => {
  if (e.persisted) {          /* back from the back/forward cache */
    conn.connect();
  }
});
window.addEventListener("pagehide", () => conn.close());

/* read-only view for debugging from the console (and for tests) */
window.mcpChat = {
  state: () => ({
    conn: conn.conn, backend: conn.backend, current: view.current,
    running: view.running, pending: Array.from(conn.pending.keys()),
    connLog: conn.connLog.slice()
  })
};

const initial = hashConversation();
if (initial) {
  setCurrent(initial, "Conversation");
  hist.open(initial);
}
updateComposer();
conn.connect();
ui.input.focus();
