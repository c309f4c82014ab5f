/*
 * The message log: user messages, assistant turns (text rendered as
 * Markdown as it streams, tool calls and results inline and collapsible)
 * and error boxes with their stable code.  Text from the server reaches
 * the DOM only as text nodes or through markdown.js, which builds nodes
 * and never parses HTML.
 */

import { render as renderMarkdown } from "./markdown.js";
import { el, button, pretty, nearBottom, keepBottom } from "./util.js";

/* An error frame for people: its code, its message, when to retry. */
export function errorBox(code, message, retryAfterMs, onRetry) {
  const box = el("div", "error-box");
  box.setAttribute("role", "alert");
  box.setAttribute("data-code", code || "");
  const head = el("div", "error-head");
  head.appendChild(el("strong", null, code === "cancelled" ? "Stopped" : "Error"));
  head.appendChild(el("code", "error-code", code || "unknown"));
  box.appendChild(head);
  box.appendChild(el("p", "error-text", message || "(no message)"));

  if (typeof retryAfterMs === "number" && retryAfterMs >= 0) {
    box.appendChild(el("p", "error-hint",
      "Try again in " + Math.max(1, Math.ceil(retryAfterMs / 1000)) + " s."));
  }

  if (onRetry) {
    const btn = button("btn btn-small", "Retry", () => {
      box.remove();
      onRetry();
    });
    /* a rate limit says when: the button waits for it */
    const until = Date.now() + (retryAfterMs || 0);
    btn.disabled = Date.now() < until;
    if (btn.disabled) {
      setTimeout(() => { btn.disabled = false; }, until - Date.now());
    }
    box.appendChild(btn);
  }
  return box;
}

/* The scrolling log of one conversation (#messages, with its #empty hint). */
export class MessageLog {
  constructor(box, empty) {
    this.box = box;
    this.empty = empty;
  }

  /* node goes before `before` (older history), or at the end */
  insert(node, before) {
    this.empty.hidden = true;
    this.box.insertBefore(node, before || null);
  }

  /* the oldest message shown, where older history goes */
  first() {
    return this.box.querySelector(".msg");
  }

  clear() {
    this.box.querySelectorAll(".msg, .error-box, .history-more")
      .forEach((n) => n.remove());
    this.empty.hidden = false;
  }

  nearBottom() {
    return nearBottom(this.box);
  }

  keepBottom(wasNear) {
    keepBottom(this.box, wasNear);
  }

  scrollToEnd() {
    this.box.scrollTop = this.box.scrollHeight;
  }

  /* as the user typed it: text, never Markdown or HTML */
  addUser(text, before) {
    const m = el("div", "msg user");
    m.appendChild(el("div", "msg-role visually-hidden", "You"));
    m.appendChild(el("div", "msg-body", text));
    this.insert(m, before);
    return m;
  }

  /* an error that belongs to no reply (a history that failed to load) */
  showError(code, message, retryAfterMs) {
    const wasNear = this.nearBottom();
    const box = errorBox(code, message, retryAfterMs, null);
    box.classList.add("global");
    this.insert(box);
    this.keepBottom(wasNear);
  }
}

/* An assistant turn: text blocks, tool calls and results, in order. */
export class Turn {
  constructor(log, before) {
    this.log = log;
    this.node = el("div", "msg assistant");
    this.node.appendChild(el("div", "msg-role visually-hidden", "Assistant"));
    this.blocks = el("div", "msg-blocks");
    this.status = el("div", "msg-status");
    this.meta = el("div", "msg-meta");
    this.node.appendChild(this.blocks);
    this.node.appendChild(this.status);
    this.node.appendChild(this.meta);
    this.text = null;         /* the text block deltas go to */
    this.textBlocks = [];
    this.tools = {};          /* call id -> {node, badge, done} */
    this.renderQueued = false;
    log.insert(this.node, before);
  }

  setStatus(text, busy) {
    this.status.textContent = text || "";
    this.status.classList.toggle("busy", !!busy);
    this.node.setAttribute("aria-busy", busy ? "true" : "false");
  }

  appendText(delta) {
    if (!this.text) {
      this.text = { src: "", node: el("div", "md"), dirty: true };
      this.textBlocks.push(this.text);
      this.blocks.appendChild(this.text.node);
    }
    this.text.src += delta;
    this.text.dirty = true;
    this.scheduleRender();
  }

  /* a replayed reply comes whole: it replaces what was shown */
  replaceText(text) {
    this.blocks.textContent = "";
    this.text = null;
    this.textBlocks = [];
    this.tools = {};
    this.appendText(text);
  }

  /* Markdown is re-rendered at most once per frame, however fast deltas come. */
  scheduleRender() {
    if (this.renderQueued) {
      return;
    }
    this.renderQueued = true;
    window.requestAnimationFrame(() => this.renderNow());
  }

  renderNow() {
    const wasNear = this.log.nearBottom();
    this.renderQueued = false;
    this.textBlocks.forEach((b) => {
      if (b.dirty) {
        b.node.replaceChildren(renderMarkdown(b.src));
        b.dirty = false;
      }
    });
    this.log.keepBottom(wasNear);
  }

  /* badgeText: "running…" live, "called" when drawn from history */
  toolCall(d, badgeText) {
    d = d || {};
    const det = el("details", "tool");
    det.setAttribute("data-call-id", d.id || "");
    const sum = el("summary");
    sum.appendChild(el("span", "tool-icon", "\u2699"));
    sum.appendChild(el("span", "tool-name", d.tool || "tool"));
    const badge = el("span", "tool-status running", badgeText || "running\u2026");
    sum.appendChild(badge);
    det.appendChild(sum);
    det.appendChild(el("div", "tool-label", "Arguments"));
    det.appendChild(el("pre", "tool-args", pretty(d.arguments === undefined ? {} : d.arguments)));
    this.blocks.appendChild(det);
    this.tools[d.id || ""] = { node: det, badge: badge, done: false };
    this.text = null;          /* text after a tool call is a new block */
    return det;
  }

  /* the call a result answers: by id, else the oldest still open */
  toolFor(d) {
    let t = this.tools[d.id || ""];
    if (!t && !d.id) {
      t = Object.values(this.tools).find((x) => !x.done);
    }
    if (!t) {
      this.toolCall({ id: d.id, tool: d.tool });
      t = this.tools[d.id || ""];
    }
    return t;
  }

  /* content: the result itself, which only history carries */
  toolResult(d, content) {
    d = d || {};
    const t = this.toolFor(d);
    const st = d.status || "ok";
    t.done = true;
    t.badge.className = "tool-status " + st;
    let label = st;
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
  }

  /* calls that will get no result (the reply ended): say why */
  finishTools(why) {
    Object.values(this.tools).forEach((t) => {
      if (t.badge.classList.contains("running")) {
        t.badge.className = "tool-status error";
        t.badge.textContent = why;
      }
    });
  }

  complete(meta) {
    meta = meta || {};
    this.setStatus("", false);
    const parts = [];
    if (meta.model) {
      parts.push(meta.model);
    }
    const u = meta.usage;
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
  }

  error(chunk, onRetry) {
    chunk = chunk || {};
    this.setStatus("", false);
    this.finishTools(chunk.code === "cancelled" ? "cancelled" : "not finished");
    const wasNear = this.log.nearBottom();
    const box = errorBox(chunk.code, chunk.error, chunk.retry_after_ms, onRetry);
    if (chunk.code === "cancelled") {
      box.classList.add("soft");
    }
    this.node.appendChild(box);
    this.log.keepBottom(wasNear);
  }

  /* an error about this reply that does not end it (a cancel refused) */
  note(box) {
    this.node.appendChild(box);
  }
}
