// The account's sessions: each signed-in device, ending one, ending all the others.
import * as api from "../shared/api.js";
import { clearMessages, confirmAction, h, notice, when } from "../shared/dom.js";
import { report } from "../shared/forms.js";

const SESSIONS = "/api/v1/auth/sessions";
const COLUMNS = ["Device", "Started", "Last used", "Address", ""];

function end(id) {
  return api.call("DELETE", `${SESSIONS}/${encodeURIComponent(id)}`);
}

function sessionRow(session, reload) {
  const device = h("span", { class: "agent" }, session.user_agent || "unknown device");
  if (session.current) device.append(" ", h("strong", { class: "badge", text: "this page" }));
  const action = session.current
    ? h("span", { class: "hint", text: "Sign out to end it" })
    : h("button", {
        type: "button",
        class: "danger small",
        "data-testid": "end-session",
        text: "End this session",
        "aria-label": `End the session last used ${when(session.last_used_at)}`,
        onclick: async () => {
          clearMessages();
          try {
            await end(session.id);
            notice("The session has ended.");
            await reload();
          } catch (error) {
            report(error);
          }
        },
      });
  const cells = [when(session.created_at), when(session.last_used_at), session.ip || "unknown", action];
  return h(
    "tr",
    { "data-testid": "session-row", "data-session-id": session.id, "data-current": session.current ? "true" : null },
    h("th", { scope: "row", "data-label": COLUMNS[0] }, device),
    cells.map((cell, i) => h("td", { "data-label": COLUMNS[i + 1], class: i < 3 ? "nowrap" : null }, cell)),
  );
}

// `{node, reload}`: the card, and a way to read the list again after a change elsewhere.
export function sessionsCard() {
  const body = h("div", { id: "sessions-body" }, h("p", { class: "hint", text: "Loading sessions…" }));
  let others = [];
  const endOthers = h("button", {
    id: "end-other-sessions",
    type: "button",
    class: "danger",
    text: "End all other sessions",
    disabled: true,
    onclick: async () => {
      const sure = await confirmAction(
        "End every other session?",
        "Every other device signed in to your account is signed out; this page stays signed in.",
        "End other sessions",
      );
      if (!sure) return;
      clearMessages();
      try {
        await api.call("POST", "/api/v1/auth/logout-others");
        notice("Every other session has ended.");
      } catch (error) {
        report(error);
      }
      await reload();
    },
  });
  async function reload() {
    let sessions;
    try {
      sessions = await api.call("GET", SESSIONS);
    } catch (error) {
      if (error instanceof api.SessionEnded) return;
      body.replaceChildren(h("p", { class: "alert", text: `Sessions unavailable: ${error.message}` }));
      return;
    }
    others = sessions.filter((s) => !s.current);
    endOthers.disabled = others.length === 0;
    body.replaceChildren(
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          { id: "sessions-table", class: "cards" },
          h("caption", { class: "visually-hidden", text: "Your sessions" }),
          h("thead", {}, h("tr", {}, COLUMNS.map((c) => h("th", { scope: "col", text: c || "Action" })))),
          h("tbody", {}, sessions.map((s) => sessionRow(s, reload))),
        ),
      ),
    );
  }
  reload();
  const node = h(
    "section",
    { id: "sessions", class: "card wide", "aria-labelledby": "sessions-title" },
    h("h2", { id: "sessions-title", text: "Sessions" }),
    body,
    h("div", { class: "actions" }, endOthers),
  );
  return { node, reload };
}
