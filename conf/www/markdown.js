/*
 * A small, safe Markdown renderer for chat replies.
 *
 * It builds DOM nodes directly (createElement + textContent), never HTML
 * strings, so nothing in a reply can become markup: "<script>" in a reply is
 * shown as the text "<script>".  Links are only made for http, https and
 * mailto URLs.  Supported: fenced code blocks (an unclosed fence while a
 * reply streams renders as code so far), headings, block quotes, bullet and
 * numbered lists, horizontal rules, paragraphs with line breaks kept, and
 * inline code, **bold**, *italic*, ~~strike~~, [links](url) and bare URLs.
 */

import { el } from "./util.js";

const SAFE_PROTOCOLS = { "http:": 1, "https:": 1, "mailto:": 1 };

export function safeUrl(raw) {
  try {
    var u = new URL(raw, window.location.href);
    return SAFE_PROTOCOLS[u.protocol] ? u.href : null;
  } catch (e) {
    return null;
  }
}

function link(href) {
  var a = el("a");
  a.href = href;
  a.rel = "noopener noreferrer nofollow";
  a.target = "_blank";
  return a;
}

/* ------------------------------------------------------------ inline */

/*
 * Inline rules, tried at each position in this order.  Each returns the
 * number of characters consumed (0: no match) and appends to parent.
 */
function inlineCode(s, i, parent) {
  if (s[i] !== "`") {
    return 0;
  }
  var ticks = 1;
  while (s[i + ticks] === "`") {
    ticks++;
  }
  var fence = s.substr(i, ticks);
  var end = s.indexOf(fence, i + ticks);
  if (end < 0) {
    return 0;
  }
  var code = el("code");
  code.textContent = s.slice(i + ticks, end).replace(/^ (.*) $/, "$1");
  parent.appendChild(code);
  return end + ticks - i;
}

function delimited(s, i, parent, marker, tag) {
  if (s.substr(i, marker.length) !== marker) {
    return 0;
  }
  var start = i + marker.length;
  if (start >= s.length || /\s/.test(s[start])) {
    return 0;
  }
  var end = s.indexOf(marker, start + 1);
  while (end > 0 && /\s/.test(s[end - 1])) {
    end = s.indexOf(marker, end + 1);
  }
  if (end < 0) {
    return 0;
  }
  var node = el(tag);
  renderInline(s.slice(start, end), node);
  parent.appendChild(node);
  return end + marker.length - i;
}

function mdLink(s, i, parent) {
  if (s[i] !== "[") {
    return 0;
  }
  var close = s.indexOf("](", i + 1);
  if (close < 0) {
    return 0;
  }
  var end = s.indexOf(")", close + 2);
  if (end < 0) {
    return 0;
  }
  var label = s.slice(i + 1, close);
  var href = safeUrl(s.slice(close + 2, end).trim());
  if (!href || label.indexOf("[") >= 0) {
    return 0;
  }
  var a = link(href);
  renderInline(label, a);
  parent.appendChild(a);
  return end + 1 - i;
}

function bareUrl(s, i, parent) {
  if (!/^https?:\/\//.test(s.substr(i, 8))) {
    return 0;
  }
  if (i > 0 && /[\w\/]/.test(s[i - 1])) {
    return 0;
  }
  var m = /^https?:\/\/[^\s<>"'`]+/.exec(s.slice(i));
  var url = m[0].replace(/[.,;:!?)\]]+$/, "");
  var href = safeUrl(url);
  if (!href) {
    return 0;
  }
  var a = link(href);
  a.textContent = url;
  parent.appendChild(a);
  return url.length;
}

function renderInline(s, parent) {
  var text = "";
  var i = 0;

  function flush() {
    if (text) {
      parent.appendChild(document.createTextNode(text));
      text = "";
    }
  }

  while (i < s.length) {
    var c = s[i];
    var n = 0;

    if (c === "\\" && i + 1 < s.length && /[\\`*_~\[\]()#>+\-.!]/.test(s[i + 1])) {
      text += s[i + 1];
      i += 2;
      continue;
    }

    if ("`*_~[h".indexOf(c) >= 0) {
      var probe = document.createDocumentFragment();
      n = inlineCode(s, i, probe)
        || delimited(s, i, probe, "**", "strong")
        || delimited(s, i, probe, "__", "strong")
        || delimited(s, i, probe, "~~", "del")
        || delimited(s, i, probe, "*", "em")
        || (/\w/.test(s[i - 1] || "") ? 0 : delimited(s, i, probe, "_", "em"))
        || mdLink(s, i, probe)
        || bareUrl(s, i, probe);
      if (n) {
        flush();
        parent.appendChild(probe);
        i += n;
        continue;
      }
    }

    text += c;
    i++;
  }

  flush();
}

/* Lines of a paragraph keep their breaks (chat text is written that way). */
function renderLines(lines, parent) {
  for (var k = 0; k < lines.length; k++) {
    if (k > 0) {
      parent.appendChild(el("br"));
    }
    renderInline(lines[k], parent);
  }
}

/* ------------------------------------------------------------ blocks */

var FENCE = /^ {0,3}(`{3,}|~{3,})\s*([\w+#.-]*)/;
var HEADING = /^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
var RULE = /^ {0,3}([-*_])(\s*\1){2,}\s*$/;
var QUOTE = /^ {0,3}> ?(.*)$/;
var BULLET = /^(\s*)[-*+]\s+(.*)$/;
var ORDERED = /^(\s*)(\d{1,9})[.)]\s+(.*)$/;

function codeBlock(lines, i, parent) {
  var m = FENCE.exec(lines[i]);
  var fence = m[1];
  var body = [];
  var j = i + 1;
  while (j < lines.length && lines[j].trim().indexOf(fence) !== 0) {
    body.push(lines[j]);
    j++;
  }
  var pre = el("pre", "md-code");
  var code = el("code");
  if (m[2]) {
    code.className = "language-" + m[2];
    pre.setAttribute("data-lang", m[2]);
  }
  code.textContent = body.join("\n");
  pre.appendChild(code);
  parent.appendChild(pre);
  return j < lines.length ? j + 1 : j;
}

function list(lines, i, parent, ordered) {
  var re = ordered ? ORDERED : BULLET;
  var first = re.exec(lines[i]);
  var node = el(ordered ? "ol" : "ul");
  if (ordered && first[2] !== "1") {
    node.start = parseInt(first[2], 10);
  }
  var item = null;
  var j = i;
  while (j < lines.length) {
    var m = re.exec(lines[j]);
    if (m) {
      item = el("li");
      renderInline(ordered ? m[3] : m[2], item);
      node.appendChild(item);
    } else if (item && /^\s{2,}\S/.test(lines[j])) {
      item.appendChild(el("br"));
      renderInline(lines[j].trim(), item);
    } else {
      break;
    }
    j++;
  }
  parent.appendChild(node);
  return j;
}

function isBlockStart(line) {
  return FENCE.test(line) || HEADING.test(line) || RULE.test(line)
    || QUOTE.test(line) || BULLET.test(line) || ORDERED.test(line);
}

function renderBlocks(lines, parent) {
  var i = 0;
  while (i < lines.length) {
    var line = lines[i];
    var m;

    if (!line.trim()) {
      i++;
    } else if (FENCE.test(line)) {
      i = codeBlock(lines, i, parent);
    } else if ((m = HEADING.exec(line))) {
      var h = el("h" + Math.min(6, m[1].length + 2), "md-h");
      renderInline(m[2], h);
      parent.appendChild(h);
      i++;
    } else if (RULE.test(line)) {
      parent.appendChild(el("hr"));
      i++;
    } else if (QUOTE.test(line)) {
      var quoted = [];
      while (i < lines.length && (m = QUOTE.exec(lines[i]))) {
        quoted.push(m[1]);
        i++;
      }
      var bq = el("blockquote");
      renderBlocks(quoted, bq);
      parent.appendChild(bq);
    } else if (BULLET.test(line)) {
      i = list(lines, i, parent, false);
    } else if (ORDERED.test(line)) {
      i = list(lines, i, parent, true);
    } else {
      var para = [];
      while (i < lines.length && lines[i].trim()
             && (para.length === 0 || !isBlockStart(lines[i]))) {
        para.push(lines[i]);
        i++;
      }
      var p = el("p");
      renderLines(para, p);
      parent.appendChild(p);
    }
  }
}

/* Returns a DocumentFragment for the Markdown text (any string). */
export function render(text) {
  var frag = document.createDocumentFragment();
  renderBlocks(String(text).replace(/\r\n?/g, "\n").split("\n"), frag);
  return frag;
}
