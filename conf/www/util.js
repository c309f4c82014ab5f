/*
 * Small helpers shared by the chat page's modules: building DOM nodes
 * (text only, never HTML), request ids, times, JSON shown to people, and
 * the "stay at the bottom while a reply streams" scrolling rule.
 */

/* A new element; text, if given, becomes a text node (never markup). */
export function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) {
    e.className = cls;
  }
  if (text !== undefined && text !== null) {
    e.textContent = String(text);
  }
  return e;
}

/* A button of type "button" (not submit), with its text and class. */
export function button(cls, text, onclick) {
  const b = el("button", cls, text);
  b.type = "button";
  if (onclick) {
    b.onclick = onclick;
  }
  return b;
}

export function newRequestId() {
  const b = new Uint8Array(12);
  window.crypto.getRandomValues(b);
  let s = "";
  for (let i = 0; i < b.length; i++) {
    s += (b[i] < 16 ? "0" : "") + b[i].toString(16);
  }
  return "r-" + s;
}

/* "just now", "5 min ago", a time today, or a date. */
export function fmtTime(ms) {
  if (typeof ms !== "number") {
    return "";
  }
  const d = new Date(ms);
  const ago = (Date.now() - ms) / 1000;
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

/* JSON (or JSON text) indented for reading; other text as it is. */
export function pretty(v) {
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

/* The value of JSON text, null when it is not JSON; non-strings as they are. */
export function parseMaybeJson(s) {
  if (typeof s !== "string") {
    return s;
  }
  try {
    return JSON.parse(s);
  } catch (e) {
    return null;
  }
}

/*
 * A reader who is at the bottom of a scrolling box stays there while it
 * grows; one who scrolled up to read is left where they are.
 */
export function nearBottom(box) {
  return box.scrollHeight - box.scrollTop - box.clientHeight < 80;
}

export function keepBottom(box, wasNear) {
  if (wasNear) {
    box.scrollTop = box.scrollHeight;
  }
}
