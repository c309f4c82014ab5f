/*
 * mcp-edge chat page: one WebSocket to /ws/chat (docs/websocket-api.md).
 *
 * - Every request gets a client-made request_id and stays in `pending` until
 *   its last frame (complete or error).  When the socket drops, pending
 *   requests are sent again, with the same request_id, after reconnecting:
 *   the server replays a finished chat (metadata.cached) or attaches the
 *   repeat to the running one, so nothing runs twice.
 * - Reconnects use exponential backoff with jitter; the state is shown in
 *   the header (#conn, data-state = connecting | open | reconnecting).
 * - Every error frame is shown where it belongs, with its stable `code`.
 * - Text from the server only reaches the DOM as text nodes or through
 *   McpMarkdown.render, which builds nodes and never parses HTML.
 */
(function () {
  "use strict";

  var BACKOFF_MIN_MS = 500;
  var BACKOFF_MAX_MS = 15000;
  var PING_EVERY_MS = 30000;
  var HISTORY_PAGE = 50;
  var LIST_PAGE = 50;
  /* request ids of these errors were never run: a retry may reuse them */
  var NOT_RUN = { rate_limited: 1, backend_unavailable: 1, conversation_busy: 1 };
  var RETRYABLE = {
    rate_limited: 1, backend_unavailable: 1, conversation_busy: 1,
    provider_unavailable: 1, provider_error: 1, internal: 1
  };

  var $ = function (id) { return document.getElementById(id); };

  var ui = {
    app: $("app"), sidebar: $("sidebar"), toggle: $("toggle-sidebar"),
    newConv: $("new-conv"), convList: $("conv-list"), convNotice: $("conv-notice"),
    convEmpty: $("conv-empty"), title: $("conv-title"), conn: $("conn"),
    connText: $("conn-text"), connRetry: $("conn-retry"), messages: $("messages"),
    empty: $("empty"), form: $("composer"), input: $("input"), send: $("send"),
    cancel: $("cancel")
  };

  var state = {
    ws: null,
    conn: "connecting",
    connLog: [],             /* recent connection states, for people and tests */
    backend: "unknown",
    attempt: 0,
    retryTimer: null,
    countdownTimer: null,
    retryAt: 0,
    pingTimer: null,
    pending: new Map(),      /* request_id -> request */
    current: null,           /* open conversation id, null for a new one */
    running: null,           /* the chat request running in this view */
    historyBefore: null,     /* cursor for older messages */
    listBefore: null,
    historyLoaded: false,
    unloading: false
  };

  /* ------------------------------------------------------------ utilities */

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) {
      e.className = cls;
    }
    if (text !== undefined && text !== null) {
      e.textContent = String(text);
    }
    return e;
  }

  function newRequestId() {
    var b = new Uint8Array(12);
    window.crypto.getRandomValues(b);
    var s = "";
    for (var i = 0; i < b.length; i++) {
      s += (b[i] < 16 ? "0" : "") + b[i].toString(16);
    }
    return "r-" + s;
  }

  function wsUrl() {
    var proto = window.location.protocol === "https:" ? "wss:" : "ws:";
    return proto + "//" + window.location.host + "/ws/chat";
  }

  function fmtTime(ms) {
    if (typeof ms !== "number") {
      return "";
    }
    var d = new Date(ms);
    var ago = (Date.now() - ms) / 1000;
    if (ago < 60) {
      return "just now";
    }
    if (ago < 3600) {
      return Math.floor(ago / 60) + " min ago";
    }
    if (ago < 86400 && d.getDate() === new Date().getDate()) {
      return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    }
    return d.toLocaleDateString();
  }

  function pretty(v) {
    if (typeof v === "string") {
      try {
        return JSON.stringify(JSON.parse(v), null, 2);
      } catch (e) {
        return v;
      }
    }
    try {
      return JSON.stringify(v, null, 2);
    } catch (e) {
      return String(v);
    }
  }

  function nearBottom() {
    var m = ui.messages;
    return m.scrollHeight - m.scrollTop - m.clientHeight < 80;
  }

  function keepBottom(wasNear) {
    if (wasNear) {
      ui.messages.scrollTop = ui.messages.scrollHeight;
    }
  }

  /* ------------------------------------------------------------ connection */

  function setConn(conn, text) {
    if (conn !== state.conn || text !== ui.connText.textContent) {
      state.connLog.push({ state: conn, text: text, t: Date.now() });
      if (state.connLog.length > 50) {
        state.connLog.shift();
      }
    }
    state.conn = conn;
    ui.conn.setAttribute("data-state", conn);
    ui.conn.setAttribute("data-backend", state.backend);
    ui.connText.textContent = text;
    ui.connRetry.hidden = conn !== "reconnecting";
    updateComposer();
  }

  function connectedText() {
    if (state.backend === "unavailable") {
      return "Connected \u2013 chat service unavailable";
    }
    return "Connected";
  }

  function connect() {
    clearTimeout(state.retryTimer);
    clearInterval(state.countdownTimer);
    state.retryTimer = null;
    setConn("connecting", state.attempt ? "Reconnecting\u2026" : "Connecting\u2026");

    var ws;
    try {
      ws = new WebSocket(wsUrl());
    } catch (e) {
      scheduleReconnect(0, String(e.message || e));
      return;
    }
    state.ws = ws;

    ws.onopen = function () {
      state.attempt = 0;
      setConn("open", connectedText());
      resendPending();      /* first: what follows is sent as it is made */
      ping();
      clearInterval(state.pingTimer);
      state.pingTimer = setInterval(ping, PING_EVERY_MS);
      loadConversations(false);
      if (state.current && !state.historyLoaded) {
        loadHistory(false);
      }
    };

    ws.onmessage = function (ev) {
      onFrameText(ev.data);
    };

    ws.onclose = function (ev) {
      if (state.ws !== ws) {
        return;
      }
      state.ws = null;
      clearInterval(state.pingTimer);
      dropUnresendable();
      state.pending.forEach(function (req) {
        if (req.turn) {
          req.turn.setStatus("Connection lost \u2013 resumes when it is back", true);
        }
      });
      if (!state.unloading) {
        scheduleReconnect(ev.code, ev.reason);
      }
    };
  }

  function scheduleReconnect(code, reason) {
    var base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * Math.pow(2, state.attempt));
    var delay = Math.round(base / 2 + Math.random() * base / 2);
    state.attempt++;
    state.retryAt = Date.now() + delay;

    var why = code ? " (" + code + (reason ? " " + reason : "") + ")" : "";
    var tick = function () {
      var s = Math.max(0, Math.ceil((state.retryAt - Date.now()) / 1000));
      setConn("reconnecting", "Disconnected" + why + " \u2013 retrying in " + s + " s");
    };
    tick();
    clearInterval(state.countdownTimer);
    state.countdownTimer = setInterval(tick, 1000);
    state.retryTimer = setTimeout(connect, delay);
  }

  function retryNow() {
    if (state.conn === "reconnecting") {
      connect();
    }
  }

  function rawSend(req) {
    if (!state.ws || state.ws.readyState !== WebSocket.OPEN) {
      return false;
    }
    var msg = { action: req.action, request_id: req.id };
    if (req.payload) {
      msg.payload = req.payload;
    }
    state.ws.send(JSON.stringify(msg));
    req.sentCount++;
    return true;
  }

  /*
   * Sends a request now, or when the socket is next open.  handlers:
   * onFrame(frame) for every frame; the request leaves `pending` after its
   * complete or error frame.  resend: send it again after a reconnect.
   */
  function request(action, payload, handlers, opts) {
    var req = {
      id: (opts && opts.id) || newRequestId(),
      action: action,
      payload: payload,
      onFrame: handlers.onFrame,
      onDropped: handlers.onDropped,
      resend: !(opts && opts.resend === false),
      sentCount: 0
    };
    state.pending.set(req.id, req);
    rawSend(req);
    return req;
  }

  function resendPending() {
    state.pending.forEach(function (req) {
      if (req.sentCount > 0 && req.onResend) {
        req.onResend();
      }
      rawSend(req);
    });
  }

  function dropUnresendable() {
    state.pending.forEach(function (req, id) {
      if (!req.resend) {
        state.pending.delete(id);
        if (req.onDropped) {
          req.onDropped();
        }
      }
    });
  }

  function onFrameText(text) {
    var f;
    try {
      f = JSON.parse(text);
    } catch (e) {
      showGlobalError("internal", "The server sent a frame that is not JSON.");
      return;
    }
    if (!f || typeof f !== "object") {
      return;
    }
    noteBackend(f);
    var req = (typeof f.request_id === "string") ? state.pending.get(f.request_id) : null;
    if (!req) {
      if (f.status === "error") {
        var c = f.chunk || {};
        showGlobalError(c.code, c.error, c.retry_after_ms);
      }
      return;     /* a late frame of a request we gave up on */
    }
    if (f.status === "complete" || f.status === "error") {
      state.pending.delete(req.id);
    }
    req.onFrame(f);
  }

  /* Any answer says whether mcpd is reachable behind nginx right now. */
  function noteBackend(f) {
    var code = f.status === "error" ? (f.chunk || {}).code : null;
    var backend = code === "backend_unavailable" ? "unavailable" : "ok";
    if (backend !== state.backend) {
      state.backend = backend;
      if (state.conn === "open") {
        setConn("open", connectedText());
      }
    }
  }

  function ping() {
    var sent = Date.now();
    request("ping", undefined, {
      onFrame: function (f) {
        if (f.status === "complete") {
          ui.conn.title = "round trip " + (Date.now() - sent) + " ms";
        }
      }
    }, { resend: false });
  }

  /* ------------------------------------------------------------ errors */

  function errorBox(code, message, retryAfterMs, onRetry) {
    var box = el("div", "error-box");
    box.setAttribute("role", "alert");
    box.setAttribute("data-code", code || "");
    var head = el("div", "error-head");
    head.appendChild(el("strong", null, code === "cancelled" ? "Stopped" : "Error"));
    head.appendChild(el("code", "error-code", code || "unknown"));
    box.appendChild(head);
    box.appendChild(el("p", "error-text", message || "(no message)"));

    if (typeof retryAfterMs === "number" && retryAfterMs >= 0) {
      box.appendChild(el("p", "error-hint",
        "Try again in " + Math.max(1, Math.ceil(retryAfterMs / 1000)) + " s."));
    }

    if (onRetry) {
      var btn = el("button", "btn btn-small", "Retry");
      btn.type = "button";
      var until = Date.now() + (retryAfterMs || 0);
      btn.disabled = Date.now() < until;
      if (btn.disabled) {
        setTimeout(function () { btn.disabled = false; }, until - Date.now());
      }
      btn.onclick = function () {
        box.remove();
        onRetry();
      };
      box.appendChild(btn);
    }
    return box;
  }

  function showGlobalError(code, message, retryAfterMs) {
    var wasNear = nearBottom();
    ui.empty.hidden = true;
    var box = errorBox(code, message, retryAfterMs, null);
    box.classList.add("global");
    ui.messages.appendChild(box);
    keepBottom(wasNear);
  }

  function showConvNotice(text) {
    ui.convNotice.textContent = text;
    ui.convNotice.hidden = !text;
  }

  /* ------------------------------------------------------------ messages */

  function addUserMessage(text, beforeNode) {
    var m = el("div", "msg user");
    m.appendChild(el("div", "msg-role visually-hidden", "You"));
    m.appendChild(el("div", "msg-body", text));
    ui.empty.hidden = true;
    ui.messages.insertBefore(m, beforeNode || null);
    return m;
  }

  /* An assistant turn: text blocks, tool calls and results, in order. */
  function Turn(beforeNode) {
    this.node = el("div", "msg assistant");
    this.node.appendChild(el("div", "msg-role visually-hidden", "Assistant"));
    this.blocks = el("div", "msg-blocks");
    this.status = el("div", "msg-status");
    this.meta = el("div", "msg-meta");
    this.node.appendChild(this.blocks);
    this.node.appendChild(this.status);
    this.node.appendChild(this.meta);
    this.text = null;
    this.textBlocks = [];
    this.tools = {};
    this.renderQueued = false;
    ui.empty.hidden = true;
    ui.messages.insertBefore(this.node, beforeNode || null);
  }

  Turn.prototype.setStatus = function (text, busy) {
    this.status.textContent = text || "";
    this.status.classList.toggle("busy", !!busy);
    this.node.setAttribute("aria-busy", busy ? "true" : "false");
  };

  Turn.prototype.appendText = function (delta) {
    if (!this.text) {
      this.text = { src: "", node: el("div", "md"), dirty: true };
      this.textBlocks.push(this.text);
      this.blocks.appendChild(this.text.node);
    }
    this.text.src += delta;
    this.text.dirty = true;
    this.scheduleRender();
  };

  Turn.prototype.replaceText = function (text) {
    this.blocks.textContent = "";
    this.text = null;
    this.textBlocks = [];
    this.tools = {};
    this.appendText(text);
  };

  /* Markdown is re-rendered at most once per frame, however fast deltas come. */
  Turn.prototype.scheduleRender = function () {
    var self = this;
    if (this.renderQueued) {
      return;
    }
    this.renderQueued = true;
    window.requestAnimationFrame(function () { self.renderNow(); });
  };

  Turn.prototype.renderNow = function () {
    var wasNear = nearBottom();
    this.renderQueued = false;
    this.textBlocks.forEach(function (b) {
      if (b.dirty) {
        b.node.replaceChildren(window.McpMarkdown.render(b.src));
        b.dirty = false;
      }
    });
    keepBottom(wasNear);
  };

  /* badgeText: "running…" live, "called" when drawn from history */
  Turn.prototype.toolCall = function (d, badgeText) {
    d = d || {};
    var det = el("details", "tool");
    det.setAttribute("data-call-id", d.id || "");
    var sum = el("summary");
    sum.appendChild(el("span", "tool-icon", "\u2699"));
    sum.appendChild(el("span", "tool-name", d.tool || "tool"));
    var badge = el("span", "tool-status running", badgeText || "running\u2026");
    sum.appendChild(badge);
    det.appendChild(sum);
    det.appendChild(el("div", "tool-label", "Arguments"));
    det.appendChild(el("pre", "tool-args", pretty(d.arguments === undefined ? {} : d.arguments)));
    this.blocks.appendChild(det);
    this.tools[d.id || ""] = { node: det, badge: badge, done: false };
    this.text = null;          /* text after a tool call is a new block */
    return det;
  };

  Turn.prototype.toolResult = function (d, content) {
    d = d || {};
    var t = this.tools[d.id || ""];
    if (!t && !d.id) {
      /* no id to match (history without ids): the oldest call still open */
      for (var k in this.tools) {
        if (!this.tools[k].done) {
          t = this.tools[k];
          break;
        }
      }
    }
    if (!t) {
      this.toolCall({ id: d.id, tool: d.tool });
      t = this.tools[d.id || ""];
    }
    var st = d.status || "ok";
    t.done = true;
    t.badge.className = "tool-status " + st;
    var label = st;
    if (typeof d.size === "number") {
      label += " \u00b7 " + d.size + " B";
    }
    if (d.truncated) {
      label += " \u00b7 truncated";
    }
    t.badge.textContent = label;
    t.node.setAttribute("data-status", st);
    if (content !== undefined) {
      t.node.appendChild(el("div", "tool-label", "Result"));
      t.node.appendChild(el("pre", "tool-result", pretty(content)));
    }
  };

  Turn.prototype.finishTools = function (why) {
    for (var id in this.tools) {
      var b = this.tools[id].badge;
      if (b.classList.contains("running")) {
        b.className = "tool-status error";
        b.textContent = why;
      }
    }
  };

  Turn.prototype.complete = function (meta) {
    meta = meta || {};
    this.setStatus("", false);
    var parts = [];
    if (meta.model) {
      parts.push(meta.model);
    }
    var u = meta.usage;
    if (u && typeof u.total_tokens === "number") {
      parts.push(u.total_tokens + " tokens");
    }
    if (typeof meta.duration_ms === "number") {
      parts.push((meta.duration_ms / 1000).toFixed(1) + " s");
    }
    if (typeof meta.hops === "number" && meta.hops > 1) {
      parts.push(meta.hops + " model turns");
    }
    if (meta.cached) {
      parts.push("replayed");
    }
    this.meta.textContent = parts.join(" \u00b7 ");
    if (!this.blocks.childNodes.length) {
      this.blocks.appendChild(el("p", "hint", "(empty reply)"));
    }
  };

  Turn.prototype.error = function (chunk, onRetry) {
    chunk = chunk || {};
    this.setStatus("", false);
    this.finishTools(chunk.code === "cancelled" ? "cancelled" : "not finished");
    var wasNear = nearBottom();
    var box = errorBox(chunk.code, chunk.error, chunk.retry_after_ms, onRetry);
    if (chunk.code === "cancelled") {
      box.classList.add("soft");
    }
    this.node.appendChild(box);
    keepBottom(wasNear);
  };

  /* ------------------------------------------------------------ chat */

  function updateComposer() {
    var running = !!state.running;
    ui.send.disabled = running;
    ui.cancel.hidden = !running;
    ui.send.hidden = running;
  }

  function setCurrent(id, title) {
    state.current = id;
    ui.title.textContent = title || (id ? "Conversation" : "New conversation");
    var want = id ? "#c=" + encodeURIComponent(id) : "";
    if (window.location.hash !== want) {
      window.history.replaceState(null, "", want || window.location.pathname);
    }
    markActive();
  }

  function startChat(text, reuseId) {
    var payload = { text: text, streaming: true };
    if (state.current) {
      payload.conversation_id = state.current;
    }
    var turn = new Turn();
    var convAtStart = state.current;
    turn.setStatus(state.conn === "open" ? "Thinking\u2026" : "Waiting for the connection\u2026", true);
    keepBottom(true);

    var req = request("chat", payload, {
      onFrame: function (f) {
        onChatFrame(req, turn, f, text);
      }
    }, { id: reuseId });

    req.turn = turn;
    req.onResend = function () {
      req.resent = true;
      turn.setStatus("Reconnected, resuming\u2026", true);
    };
    state.running = req.id;
    req.convAtStart = convAtStart;
    updateComposer();
    return req;
  }

  function onChatFrame(req, turn, f, text) {
    var chunk = f.chunk || {};
    var meta = chunk.metadata || {};

    if (f.status === "processing") {
      if (meta.conversation_id && !req.payload.conversation_id) {
        req.payload.conversation_id = meta.conversation_id;
        if (state.current === req.convAtStart) {
          setCurrent(meta.conversation_id, text.slice(0, 60));
        }
      }
      turn.setStatus("Thinking\u2026", true);
      return;
    }

    if (f.status === "chunk") {
      if (chunk.type === "text") {
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
        turn.toolResult(chunk.data);
        turn.setStatus("Thinking\u2026", true);
      }
      return;
    }

    finishRunning(req);

    if (f.status === "complete") {
      turn.renderNow();
      turn.complete(meta);
      loadConversations(false);
      return;
    }

    if (f.status === "error") {
      turn.renderNow();
      var retry = RETRYABLE[chunk.code] ? function () {
        turn.node.remove();
        startChat(text, NOT_RUN[chunk.code] ? req.id : undefined);
      } : null;
      turn.error(chunk, retry);
      if (req.payload.conversation_id) {
        loadConversations(false);
      }
    }
  }

  function finishRunning(req) {
    if (state.running === req.id) {
      state.running = null;
      updateComposer();
    }
  }

  function sendFromComposer() {
    var text = ui.input.value;
    if (!text.trim() || state.running) {
      return;
    }
    ui.input.value = "";
    autosize();
    var wasNear = nearBottom();
    addUserMessage(text);
    keepBottom(wasNear);
    startChat(text);
  }

  function cancelRunning() {
    var id = state.running;
    if (!id) {
      return;
    }
    var req = state.pending.get(id);
    if (req && req.sentCount === 0) {
      /* never left the page: drop it here */
      state.pending.delete(id);
      finishRunning(req);
      req.turn.error({ code: "cancelled", error: "Stopped before it was sent." });
      return;
    }
    ui.cancel.disabled = true;
    request("cancel", { target: id }, {
      onFrame: function (f) {
        ui.cancel.disabled = false;
        if (f.status === "error") {
          var r = state.pending.get(id);
          var chunk = f.chunk || {};
          if (r && r.turn) {
            r.turn.node.appendChild(errorBox(chunk.code, "Could not stop: " + (chunk.error || ""), chunk.retry_after_ms, null));
          } else {
            showGlobalError(chunk.code, "Could not stop: " + (chunk.error || ""));
          }
        }
      },
      onDropped: function () { ui.cancel.disabled = false; }
    }, { resend: false });
  }

  /* ------------------------------------------------------------ history */

  function clearMessages() {
    ui.messages.querySelectorAll(".msg, .error-box, .history-more").forEach(function (n) { n.remove(); });
    ui.empty.hidden = false;
  }

  function parseMaybeJson(s) {
    if (typeof s !== "string") {
      return s;
    }
    try {
      return JSON.parse(s);
    } catch (e) {
      return null;
    }
  }

  /* Messages oldest first; consecutive non-user messages form one turn. */
  function renderHistory(messages, beforeNode) {
    var turn = null;
    messages.forEach(function (m) {
      if (m.role === "user") {
        addUserMessage(String(m.content === undefined ? "" : m.content), beforeNode);
        turn = null;
        return;
      }
      if (!turn) {
        turn = new Turn(beforeNode);
      }
      if (m.role === "assistant") {
        turn.text = null;
        turn.appendText(String(m.content === undefined ? "" : m.content));
        turn.complete({ model: m.model, usage: m.usage });
        if (m.cancelled || m.status === "cancelled") {
          turn.meta.textContent += " \u00b7 cancelled";
        }
      } else if (m.role === "tool_call") {
        var c = parseMaybeJson(m.content) || {};
        turn.toolCall({ id: c.id || m.tool_call_id, tool: c.tool || c.name || m.tool || "tool",
                        arguments: c.arguments !== undefined ? c.arguments : m.content }, "called");
      } else if (m.role === "tool_result") {
        var r = parseMaybeJson(m.content);
        var id = (r && r.id) || m.tool_call_id;
        turn.toolResult({ id: id, tool: m.tool || (r && r.tool), status: m.status || (r && r.status) || "ok",
                          size: typeof m.content === "string" ? m.content.length : undefined },
                        r && r.content !== undefined ? r.content : m.content);
      }
    });
  }

  function loadHistory(older) {
    var id = state.current;
    if (!id) {
      return;
    }
    var payload = { conversation_id: id, limit: HISTORY_PAGE };
    if (older && state.historyBefore !== null) {
      payload.before = state.historyBefore;
    }
    state.historyLoaded = true;
    request("history", payload, {
      onFrame: function (f) {
        if (state.current !== id) {
          return;
        }
        if (f.status === "error") {
          var c = f.chunk || {};
          showGlobalError(c.code, "Could not load this conversation: " + (c.error || ""), c.retry_after_ms);
          return;
        }
        if (f.status !== "complete") {
          return;
        }
        var meta = (f.chunk || {}).metadata || {};
        var msgs = Array.isArray(meta.messages) ? meta.messages : [];
        var more = ui.messages.querySelector(".history-more");
        if (more) {
          more.remove();
        }
        var anchor = older ? ui.messages.querySelector(".msg") : null;
        renderHistory(msgs, anchor);
        state.historyBefore = (meta.next_before !== undefined) ? meta.next_before : null;
        if (state.historyBefore !== null) {
          var b = el("button", "btn btn-link history-more", "Load earlier messages");
          b.type = "button";
          b.onclick = function () { loadHistory(true); };
          ui.messages.insertBefore(b, ui.messages.querySelector(".msg"));
        }
        if (!older) {
          ui.messages.scrollTop = ui.messages.scrollHeight;
        }
      }
    });
  }

  function openConversation(id, title) {
    if (state.running) {
      finishRunning({ id: state.running });
    }
    clearMessages();
    setCurrent(id, title);
    state.historyBefore = null;
    state.historyLoaded = false;
    if (id) {
      loadHistory(false);
    }
    closeSidebarOnNarrow();
    ui.input.focus();
  }

  /* ------------------------------------------------------------ list */

  function loadConversations(more) {
    var payload = { limit: LIST_PAGE };
    if (more && state.listBefore !== null) {
      payload.before = state.listBefore;
    }
    request("list_conversations", payload, {
      onFrame: function (f) {
        if (f.status === "error") {
          var c = f.chunk || {};
          showConvNotice("Conversations unavailable (" + (c.code || "error") + "): " + (c.error || ""));
          ui.convNotice.setAttribute("data-code", c.code || "");
          return;
        }
        if (f.status !== "complete") {
          return;
        }
        showConvNotice("");
        var meta = (f.chunk || {}).metadata || {};
        renderConversations(Array.isArray(meta.conversations) ? meta.conversations : [], more);
        state.listBefore = (meta.next_before !== undefined) ? meta.next_before : null;
      }
    }, { resend: false });
  }

  function renderConversations(list, append) {
    if (!append) {
      ui.convList.textContent = "";
    }
    list.forEach(function (c) {
      var li = el("li", "conv");
      li.setAttribute("data-id", c.conversation_id);
      var open = el("button", "conv-open");
      open.type = "button";
      var title = c.title || "Untitled";
      open.appendChild(el("span", "conv-title", title));
      var sub = fmtTime(c.updated_at);
      if (typeof c.messages === "number") {
        sub += (sub ? " \u00b7 " : "") + c.messages + " messages";
      }
      open.appendChild(el("span", "conv-sub", sub));
      open.onclick = function () { openConversation(c.conversation_id, title); };
      var del = el("button", "conv-del", "\u2715");
      del.type = "button";
      del.setAttribute("aria-label", "Delete conversation " + title);
      del.title = "Delete";
      del.onclick = function () { confirmDelete(del, c.conversation_id); };
      li.appendChild(open);
      li.appendChild(del);
      ui.convList.appendChild(li);
    });
    ui.convEmpty.hidden = ui.convList.children.length > 0;
    markActive();
  }

  function markActive() {
    ui.convList.querySelectorAll(".conv").forEach(function (li) {
      var on = li.getAttribute("data-id") === state.current;
      li.classList.toggle("active", on);
      var b = li.querySelector(".conv-open");
      if (on) {
        b.setAttribute("aria-current", "true");
      } else {
        b.removeAttribute("aria-current");
      }
    });
  }

  /* First click arms, second click (within 4 s) deletes: no modal dialog. */
  function confirmDelete(btn, id) {
    if (!btn.classList.contains("armed")) {
      btn.classList.add("armed");
      btn.textContent = "Delete?";
      setTimeout(function () {
        btn.classList.remove("armed");
        btn.textContent = "\u2715";
      }, 4000);
      return;
    }
    btn.disabled = true;
    request("delete_conversation", { conversation_id: id }, {
      onFrame: function (f) {
        btn.disabled = false;
        if (f.status === "error") {
          var c = f.chunk || {};
          showConvNotice("Could not delete (" + (c.code || "error") + "): " + (c.error || ""));
          return;
        }
        if (f.status === "complete") {
          if (state.current === id) {
            openConversation(null);
          }
          loadConversations(false);
        }
      }
    });
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

  function hashConversation() {
    var m = /^#c=(.+)$/.exec(window.location.hash);
    return m ? decodeURIComponent(m[1]) : null;
  }

  /* ------------------------------------------------------------ wiring */

  ui.form.addEventListener("submit", function (e) {
    e.preventDefault();
    sendFromComposer();
  });

  ui.input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      sendFromComposer();
    } else if (e.key === "Escape" && state.running) {
      cancelRunning();
    }
  });

  ui.input.addEventListener("input", autosize);
  ui.cancel.addEventListener("click", cancelRunning);
  ui.connRetry.addEventListener("click", retryNow);
  ui.newConv.addEventListener("click", function () { openConversation(null); });

  ui.toggle.addEventListener("click", function () {
    var open = ui.app.classList.toggle("sidebar-open");
    ui.toggle.setAttribute("aria-expanded", open ? "true" : "false");
  });

  window.addEventListener("hashchange", function () {
    var id = hashConversation();
    if (id !== state.current) {
      openConversation(id);
    }
  });

  window.addEventListener("online", retryNow);
  window.addEventListener("pageshow", function (e) {
    if (e.persisted) {          /* back from the back/forward cache */
      state.unloading = false;
      connect();
    }
  });
  window.addEventListener("pagehide", function () {
    state.unloading = true;
    if (state.ws) {
      state.ws.close(1000, "page closed");
    }
  });

  /* read-only view for debugging from the console (and for tests) */
  window.mcpChat = {
    state: function () {
      return { conn: state.conn, backend: state.backend, current: state.current,
               running: state.running, pending: Array.from(state.pending.keys()),
               connLog: state.connLog.slice() };
    }
  };

  var initial = hashConversation();
  if (initial) {
    setCurrent(initial, "Conversation");
  }
  updateComposer();
  connect();
  ui.input.focus();
})();
