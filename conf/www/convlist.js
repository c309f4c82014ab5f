/*
 * The sidebar's conversations (`list_conversations`, newest first): a page
 * at a time, more through the keyset cursor (`before` / `next_before`)
 * with a "More conversations" button; open one, delete one (two clicks,
 * no modal dialog).
 */

import { el, button, fmtTime } from "./util.js";

const LIST_PAGE = 50;
const DELETE_ARMED_MS = 4000;

export class ConversationList {
  /*
   * ui: {list, notice, empty, more} elements; app: {current() -> the open
   * conversation's id, open(id, title), deleted(id)}.
   */
  constructor(conn, ui, app) {
    this.conn = conn;
    this.ui = ui;
    this.app = app;
    this.before = null;       /* cursor of the next page */
    this.generation = 0;      /* a refresh makes older "more" answers stale */
    ui.more.onclick = () => this.load(true);
  }

  /* the first page again (more: false), or the page after the last shown */
  load(more) {
    if (!more) {
      this.generation++;
    }
    const generation = this.generation;
    const payload = { limit: LIST_PAGE };
    if (more) {
      if (this.before === null) {
        return;
      }
      payload.before = this.before;
      this.ui.more.disabled = true;
    }
    this.conn.request("list_conversations", payload, {
      onFrame: (f) => {
        if (generation !== this.generation) {
          return;
        }
        this.ui.more.disabled = false;
        if (f.status === "error") {
          const c = f.chunk || {};
          this.notice("Conversations unavailable (" + (c.code || "error") + "): " + (c.error || ""),
                      c.code);
        } else if (f.status === "complete") {
          this.notice("");
          this.show((f.chunk || {}).metadata || {}, more);
        }
      },
      onDropped: () => { this.ui.more.disabled = false; }
    }, { resend: false });
  }

  show(meta, append) {
    if (!append) {
      this.ui.list.textContent = "";
    }
    const list = Array.isArray(meta.conversations) ? meta.conversations : [];
    list.forEach((c) => this.ui.list.appendChild(this.item(c)));
    this.before = (meta.next_before !== undefined && meta.next_before !== null)
                  ? meta.next_before : null;
    this.ui.more.hidden = this.before === null;
    this.ui.empty.hidden = this.ui.list.children.length > 0;
    this.markActive();
  }

  item(c) {
    const id = c.conversation_id;
    const title = c.title || "Untitled";
    const li = el("li", "conv");
    li.setAttribute("data-id", id);

    const open = button("conv-open", null, () => this.app.open(id, title));
    open.appendChild(el("span", "conv-title", title));
    let sub = fmtTime(c.updated_at);
    if (typeof c.messages === "number") {
      sub += (sub ? " \u00b7 " : "") + c.messages + " messages";
    }
    open.appendChild(el("span", "conv-sub", sub));

    const del = button("conv-del", "\u2715", () => this.confirmDelete(del, id));
    del.setAttribute("aria-label", "Delete conversation " + title);
    del.title = "Delete";

    li.appendChild(open);
    li.appendChild(del);
    return li;
  }

  markActive() {
    const current = this.app.current();
    this.ui.list.querySelectorAll(".conv").forEach((li) => {
      const on = li.getAttribute("data-id") === current;
      li.classList.toggle("active", on);
      const b = li.querySelector(".conv-open");
      if (on) {
        b.setAttribute("aria-current", "true");
      } else {
        b.removeAttribute("aria-current");
      }
    });
  }

  notice(text, code) {
    this.ui.notice.textContent = text;
    this.ui.notice.hidden = !text;
    this.ui.notice.setAttribute("data-code", text ? (code || "") : "");
  }

  /* First click arms, second click (while armed) deletes. */
  confirmDelete(btn, id) {
    if (!btn.classList.contains("armed")) {
      btn.classList.add("armed");
      btn.textContent = "Delete?";
      setTimeout(() => {
        btn.classList.remove("armed");
        btn.textContent = "\u2715";
      }, DELETE_ARMED_MS);
      return;
    }
    btn.disabled = true;
    this.conn.request("delete_conversation", { conversation_id: id }, {
      onFrame: (f) => {
        btn.disabled = false;
        if (f.status === "error") {
          const c = f.chunk || {};
          this.notice("Could not delete (" + (c.code || "error") + "): " + (c.error || ""),
                      c.code);
        } else if (f.status === "complete") {
          this.app.deleted(id);
          this.load(false);
        }
      }
    });
  }
}
