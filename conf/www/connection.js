/*
 * The page's one WebSocket to /ws/chat (docs/websocket-api.md): requests
 * and their frames, reconnecting, and sending again what was not answered.
 *
 * - Every request gets a client-made request_id and stays in `pending`
 *   until its last frame (complete or error).  When the socket drops,
 *   pending requests are sent again, with the same request_id, after
 *   reconnecting: the server replays a finished chat (metadata.cached) or
 *   attaches the repeat to the running one, so nothing runs twice.
 * - Reconnects use exponential backoff with jitter.  The state
 *   (connecting | open | reconnecting) and a sentence for people go to
 *   hooks.onState; this file touches no DOM.
 * - Every answer says whether mcpd is reachable behind nginx (an error
 *   backend_unavailable says it is not): `backend` is "ok", "unavailable"
 *   or "unknown" before the first answer.
 */

import { newRequestId } from "./util.js";

const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 15000;
const PING_EVERY_MS = 30000;
const CONN_LOG_MAX = 50;

/*
 * hooks: onState(conn, text) on every change of state or of its text;
 * onOpen() once a socket is open (pending requests already re-sent);
 * onLost(req) for each pending request when the socket drops;
 * onStrayError(chunk) for an error frame no request waits for;
 * onBadFrame() for a frame that is not JSON; onPingTime(ms).
 */
export class Connection {
  constructor(url, hooks) {
    this.url = url;
    this.hooks = hooks;
    this.ws = null;
    this.conn = "connecting";
    this.connText = "Connecting\u2026";   /* what the header starts with */
    this.connLog = [];        /* recent states, for people and tests */
    this.backend = "unknown";
    this.attempt = 0;
    this.retryTimer = null;
    this.countdownTimer = null;
    this.retryAt = 0;
    this.pingTimer = null;
    this.pending = new Map(); /* request_id -> request */
    this.closing = false;     /* the page is going away: no reconnect */
  }

  /* ---------------------------------------------------------- state */

  setState(conn, text) {
    if (conn !== this.conn || text !== this.connText) {
      this.connLog.push({ state: conn, text: text, t: Date.now() });
      if (this.connLog.length > CONN_LOG_MAX) {
        this.connLog.shift();
      }
    }
    this.conn = conn;
    this.connText = text;
    this.hooks.onState(conn, text);
  }

  openText() {
    if (this.backend === "unavailable") {
      return "Connected \u2013 chat service unavailable";
    }
    return "Connected";
  }

  isOpen() {
    return this.conn === "open";
  }

  /* ---------------------------------------------------------- socket */

  connect() {
    clearTimeout(this.retryTimer);
    clearInterval(this.countdownTimer);
    this.retryTimer = null;
    this.closing = false;
    this.setState("connecting", this.attempt ? "Reconnecting\u2026" : "Connecting\u2026");

    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (e) {
      this.scheduleReconnect(0, String(e.message || e));
      return;
    }
    this.ws = ws;
    ws.onopen = () => this.opened();
    ws.onmessage = (ev) => this.onFrameText(ev.data);
    ws.onclose = (ev) => {
      if (this.ws === ws) {
        this.closed(ev.code, ev.reason);
      }
    };
  }

  opened() {
    this.attempt = 0;
    this.setState("open", this.openText());
    this.resendPending();     /* first: what follows is sent as it is made */
    this.ping();
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => this.ping(), PING_EVERY_MS);
    this.hooks.onOpen();
  }

  closed(code, reason) {
    this.ws = null;
    clearInterval(this.pingTimer);
    this.dropUnresendable();
    this.pending.forEach((req) => this.hooks.onLost(req));
    if (!this.closing) {
      this.scheduleReconnect(code, reason);
    }
  }

  scheduleReconnect(code, reason) {
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * Math.pow(2, this.attempt));
    const delay = Math.round(base / 2 + Math.random() * base / 2);
    this.attempt++;
    this.retryAt = Date.now() + delay;

    const why = code ? " (" + code + (reason ? " " + reason : "") + ")" : "";
    const tick = () => {
      const s = Math.max(0, Math.ceil((this.retryAt - Date.now()) / 1000));
      this.setState("reconnecting", "Disconnected" + why + " \u2013 retrying in " + s + " s");
    };
    tick();
    clearInterval(this.countdownTimer);
    this.countdownTimer = setInterval(tick, 1000);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  /* "Retry now", or the browser says it is online again */
  retryNow() {
    if (this.conn === "reconnecting") {
      this.connect();
    }
  }

  /* the page is going away (it may come back from the back/forward cache) */
  close() {
    this.closing = true;
    if (this.ws) {
      this.ws.close(1000, "page closed");
    }
  }

  /* ---------------------------------------------------------- requests */

  rawSend(req) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
      return false;
    }
    const msg = { action: req.action, request_id: req.id };
    if (req.payload) {
      msg.payload = req.payload;
    }
    this.ws.send(JSON.stringify(msg));
    req.sentCount++;
    return true;
  }

  /*
   * Sends a request now, or when the socket is next open.  handlers:
   * onFrame(frame) for every frame (the request leaves `pending` before
   * its complete or error frame is handed over); onDropped() when a
   * request that is not re-sent loses its socket.  opts.id reuses a
   * request_id; opts.resend false: do not send it again after a reconnect.
   */
  request(action, payload, handlers, opts) {
    const req = {
      id: (opts && opts.id) || newRequestId(),
      action: action,
      payload: payload,
      onFrame: handlers.onFrame,
      onDropped: handlers.onDropped,
      onResend: null,
      resend: !(opts && opts.resend === false),
      sentCount: 0
    };
    this.pending.set(req.id, req);
    this.rawSend(req);
    return req;
  }

  /* forget a request that never left the page; false if it did */
  withdraw(id) {
    const req = this.pending.get(id);
    if (!req || req.sentCount > 0) {
      return false;
    }
    this.pending.delete(id);
    return true;
  }

  resendPending() {
    this.pending.forEach((req) => {
      if (req.sentCount > 0 && req.onResend) {
        req.onResend();
      }
      this.rawSend(req);
    });
  }

  dropUnresendable() {
    this.pending.forEach((req, id) => {
      if (!req.resend) {
        this.pending.delete(id);
        if (req.onDropped) {
          req.onDropped();
        }
      }
    });
  }

  onFrameText(text) {
    let f;
    try {
      f = JSON.parse(text);
    } catch (e) {
      this.hooks.onBadFrame();
      return;
    }
    if (!f || typeof f !== "object") {
      return;
    }
    this.noteBackend(f);
    const req = (typeof f.request_id === "string") ? this.pending.get(f.request_id) : null;
    if (!req) {
      if (f.status === "error") {
        this.hooks.onStrayError(f.chunk || {});
      }
      return;     /* a late frame of a request we gave up on */
    }
    if (f.status === "complete" || f.status === "error") {
      this.pending.delete(req.id);
    }
    req.onFrame(f);
  }

  noteBackend(f) {
    const code = f.status === "error" ? (f.chunk || {}).code : null;
    const backend = code === "backend_unavailable" ? "unavailable" : "ok";
    if (backend !== this.backend) {
      this.backend = backend;
      if (this.conn === "open") {
        this.setState("open", this.openText());
      }
    }
  }

  ping() {
    const sent = Date.now();
    this.request("ping", undefined, {
      onFrame: (f) => {
        if (f.status === "complete") {
          this.hooks.onPingTime(Date.now() - sent);
        }
      }
    }, { resend: false });
  }
}
