import * as api from "../shared/api.js";
import { clearMessages, confirmAction, h, notice, when, yesNo } from "../shared/dom.js";
import { clearFieldErrors, field, report, showApiError } from "../shared/forms.js";
import { tokensTable } from "../shared/tokens.js";

const PROFILE_FIELDS = [
  { name: "email", label: "Email", type: "email", autocomplete: "off" },
  { name: "nickname", label: "Nickname" },
  { name: "first_name", label: "First name" },
  { name: "last_name", label: "Last name" },
];

function usersPath(id) {
  return `/api/v1/users/${encodeURIComponent(id)}`;
}

function sessionsPath(id) {
  return `/api/v1/auth/admin/users/${encodeURIComponent(id)}/sessions`;
}

function tokensPath(id) {
  return `/api/v1/auth/admin/users/${encodeURIComponent(id)}/tokens`;
}

function factorsPath(id) {
  return `/api/v1/auth/admin/users/${encodeURIComponent(id)}/factors`;
}

// --- the profile form: each error of the API next to the field it names --------------

// The field each error code is about, where the API's problem does not name one.
const FIELD_OF_CODE = {
  email_taken: "email",
  reauthentication_required: "current_password",
  too_many_attempts: "current_password",
};

function profileForm(user, onSaved) {
  const form = h(
    "form",
    { id: "profile-form", class: "card", novalidate: true, "aria-labelledby": "profile-title" },
    h("h2", { id: "profile-title", text: "Profile" }),
    PROFILE_FIELDS.map((f) => field(f, user[f.name])),
    field(
      { name: "current_password", label: "Your password", type: "password", autocomplete: "current-password" },
      "",
      "Needed only to change the email: yours, as the administrator making the change.",
    ),
    h("div", { class: "actions" }, h("button", { id: "save-profile", type: "submit", text: "Save changes" })),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearMessages();
    clearFieldErrors(form);
    const changes = {};
    for (const { name } of PROFILE_FIELDS) {
      const value = form.elements.namedItem(name).value;
      if (value !== user[name]) changes[name] = value;
    }
    if (!Object.keys(changes).length) {
      notice("Nothing to save: no field was changed.");
      return;
    }
    const password = form.elements.namedItem("current_password").value;
    if ("email" in changes && password) changes.current_password = password;
    const button = form.querySelector("#save-profile");
    button.disabled = true;
    try {
      const saved = await api.call("PATCH", usersPath(user.id), changes);
      form.elements.namedItem("current_password").value = "";
      onSaved(saved, `Saved ${saved.username}.`);
    } catch (error) {
      if (error instanceof api.SessionEnded) return;
      showApiError(form, error, FIELD_OF_CODE);
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

// --- account state: deactivate/reactivate, promote/demote, each confirmed first --------

async function changeAccess(user, action, onSaved) {
  const questions = {
    deactivate: [
      `Deactivate ${user.username}?`,
      "They can no longer sign in, and every session of theirs ends now.",
      "Deactivate",
    ],
    reactivate: [`Reactivate ${user.username}?`, "They can sign in again.", "Reactivate"],
    promote: [
      `Make ${user.username} an administrator?`,
      "They can then see and change every account, yours included. Their current sessions end.",
      "Make administrator",
    ],
    demote: [
      `Remove ${user.username}'s administrator role?`,
      "Their current sessions end; they keep their account.",
      "Remove administrator",
    ],
  };
  if (!(await confirmAction(...questions[action]))) return;
  clearMessages();
  try {
    if (action === "deactivate") await api.call("DELETE", usersPath(user.id));
    else {
      const change = action === "reactivate" ? { is_active: true } : { is_admin: action === "promote" };
      await api.call("PATCH", usersPath(user.id), change);
    }
    const done = {
      deactivate: `${user.username} is deactivated; their sessions have ended.`,
      reactivate: `${user.username} is active again.`,
      promote: `${user.username} is now an administrator.`,
      demote: `${user.username} is no longer an administrator.`,
    };
    onSaved(await api.call("GET", usersPath(user.id)), done[action]);
  } catch (error) {
    report(error);
  }
}

function accessCard(user, me, onSaved) {
  const self = user.id === me.id;
  const activeAction = user.is_active ? "deactivate" : "reactivate";
  const adminAction = user.is_admin ? "demote" : "promote";
  const labels = {
    deactivate: "Deactivate",
    reactivate: "Reactivate",
    promote: "Make administrator",
    demote: "Remove administrator",
  };
  const button = (id, action) =>
    h("button", {
      id,
      type: "button",
      class: action === "deactivate" || action === "demote" ? "danger" : "",
      // The API refuses an administrator locking themselves out (403 self_lockout).
      disabled: self && (action === "deactivate" || action === "demote"),
      text: labels[action],
      onclick: () => changeAccess(user, action, onSaved),
    });
  return h(
    "section",
    { id: "access", class: "card", "aria-labelledby": "access-title" },
    h("h2", { id: "access-title", text: "Access" }),
    h(
      "dl",
      { class: "facts" },
      h("dt", { text: "Active" }), h("dd", { id: "fact-active" }, yesNo(user.is_active)),
      h("dt", { text: "Administrator" }), h("dd", { id: "fact-admin" }, yesNo(user.is_admin)),
      h("dt", { text: "Email verified" }), h("dd", { id: "fact-verified" }, yesNo(user.email_verified)),
      h("dt", { text: "Joined" }), h("dd", { text: when(user.date_joined) }),
      h("dt", { text: "Last login" }), h("dd", { text: when(user.last_login) }),
      h("dt", { text: "ID" }), h("dd", { class: "mono", text: user.id }),
    ),
    h(
      "div",
      { class: "actions" },
      button("toggle-active", activeAction),
      button("toggle-admin", adminAction),
    ),
    self ? h("p", { class: "hint", text: "This is your own account: you cannot deactivate or demote it here." }) : null,
  );
}

// --- sessions --------------------------------------------------------------------------

const SESSION_COLUMNS = ["Device", "Started", "Last used", "Address", ""];

function sessionRow(user, session, reload) {
  const end = h("button", {
    type: "button",
    class: "danger small",
    "data-testid": "end-session",
    "data-session-id": session.id,
    text: "End this session",
    "aria-label": `End the session last used ${when(session.last_used_at)}`,
    onclick: async () => {
      clearMessages();
      try {
        await api.call("DELETE", `${sessionsPath(user.id)}/${encodeURIComponent(session.id)}`);
        notice("The session has ended.");
        await reload();
      } catch (error) {
        report(error);
      }
    },
  });
  const device = h("span", { class: "agent" }, session.user_agent || "unknown device");
  if (session.current) device.append(" ", h("strong", { class: "badge", text: "this console" }));
  const cells = [device, when(session.created_at), when(session.last_used_at), session.ip || "unknown", end];
  return h(
    "tr",
    { "data-testid": "session-row", "data-session-id": session.id },
    cells.map((cell, i) =>
      i === 0
        ? h("th", { scope: "row", "data-label": SESSION_COLUMNS[i] }, cell)
        : h("td", { "data-label": SESSION_COLUMNS[i], class: i < 4 ? "nowrap" : null }, cell),
    ),
  );
}

function sessionsCard(user) {
  const body = h("div", { id: "sessions-body" }, h("p", { class: "hint", text: "Loading sessions…" }));
  const endAll = h("button", {
    id: "end-all-sessions",
    type: "button",
    class: "danger",
    text: "End all sessions",
    disabled: true,
    onclick: async () => {
      const sure = await confirmAction(
        `End every session of ${user.username}?`,
        "Every device signed in as them is signed out; their account stays as it is.",
        "End all sessions",
      );
      if (!sure) return;
      clearMessages();
      try {
        await api.call("DELETE", sessionsPath(user.id));
        notice(`Every session of ${user.username} has ended.`);
        await reload();
      } catch (error) {
        report(error);
      }
    },
  });
  async function reload() {
    let sessions;
    try {
      sessions = await api.call("GET", sessionsPath(user.id));
    } catch (error) {
      if (error instanceof api.SessionEnded) return;
      body.replaceChildren(h("p", { id: "sessions-error", class: "alert", text: `Sessions unavailable: ${error.message}` }));
      return;
    }
    endAll.disabled = sessions.length === 0;
    body.replaceChildren(
      sessions.length
        ? h(
            "div",
            { class: "table-wrap" },
            h(
              "table",
              { id: "sessions-table", class: "cards" },
              h("caption", { class: "visually-hidden", text: `Sessions of ${user.username}` }),
              h("thead", {}, h("tr", {}, SESSION_COLUMNS.map((c) => h("th", { scope: "col", text: c || "Action" })))),
              h("tbody", {}, sessions.map((s) => sessionRow(user, s, reload))),
            ),
          )
        : h("p", { id: "no-sessions", class: "empty", text: "No active session." }),
    );
  }
  reload();
  return h(
    "section",
    { id: "sessions", class: "card wide", "aria-labelledby": "sessions-title" },
    h("h2", { id: "sessions-title", text: "Sessions" }),
    body,
    h("div", { class: "actions" }, endAll),
  );
}

// --- personal access tokens -------------------------------------------------------------

function tokensCard(user) {
  const body = h("div", { id: "tokens-body" }, h("p", { class: "hint", text: "Loading tokens…" }));
  async function revoke(token) {
    const sure = await confirmAction(
      `Revoke the token “${token.name}” of ${user.username}?`,
      "Whatever uses it is refused from the next request on. They are mailed that an administrator revoked it.",
      "Revoke token",
    );
    if (!sure) return;
    clearMessages();
    try {
      await api.call("DELETE", `${tokensPath(user.id)}/${encodeURIComponent(token.id)}`);
      notice(`The token “${token.name}” of ${user.username} is revoked.`);
    } catch (error) {
      report(error);
    }
    await reload();
  }
  async function reload() {
    let tokens;
    try {
      tokens = await api.call("GET", tokensPath(user.id));
    } catch (error) {
      if (error instanceof api.SessionEnded) return;
      body.replaceChildren(h("p", { id: "tokens-error", class: "alert", text: `Tokens unavailable: ${error.message}` }));
      return;
    }
    body.replaceChildren(
      tokensTable(tokens, { caption: `Personal access tokens of ${user.username}`, empty: "No personal access token.", revoke }),
    );
  }
  reload();
  return h(
    "section",
    { id: "tokens", class: "card wide", "aria-labelledby": "tokens-title" },
    h("h2", { id: "tokens-title", text: "Personal access tokens" }),
    body,
  );
}

// --- second factors ----------------------------------------------------------------------

function factorsCard(user) {
  const body = h("div", { id: "factors-body" }, h("p", { class: "hint", text: "Loading second factors…" }));
  const remove = h("button", {
    id: "remove-factors",
    type: "button",
    class: "danger",
    text: "Remove second factors",
    disabled: true,
    onclick: async () => {
      const sure = await confirmAction(
        `Remove every second factor of ${user.username}?`,
        "Their authenticator app and passkeys stop working here and their sessions end: for a lost phone with no recovery code left. They are mailed.",
        "Remove second factors",
      );
      if (!sure) return;
      clearMessages();
      try {
        await api.call("DELETE", factorsPath(user.id));
        notice(`The second factors of ${user.username} are removed; their sessions have ended.`);
        await reload();
      } catch (error) {
        report(error);
      }
    },
  });
  async function reload() {
    let factors;
    try {
      factors = await api.call("GET", factorsPath(user.id));
    } catch (error) {
      if (error instanceof api.SessionEnded) return;
      body.replaceChildren(h("p", { id: "factors-error", class: "alert", text: `Second factors unavailable: ${error.message}` }));
      return;
    }
    const totp = factors.totp_enabled ? "on" : factors.totp_pending ? "being set up" : "off";
    remove.disabled = !(factors.totp_enabled || factors.totp_pending || factors.passkeys);
    body.replaceChildren(
      h(
        "dl",
        { id: "factors-list", class: "facts" },
        h("dt", { text: "Authenticator app (TOTP)" }),
        h("dd", { id: "factor-totp", text: totp }),
        h("dt", { text: "Recovery codes left" }),
        h("dd", { id: "factor-recovery-codes", text: String(factors.recovery_codes_left) }),
        h("dt", { text: "Passkeys" }),
        h("dd", { id: "factor-passkeys", text: String(factors.passkeys) }),
      ),
    );
  }
  reload();
  return h(
    "section",
    { id: "factors", class: "card wide", "aria-labelledby": "factors-title" },
    h("h2", { id: "factors-title", text: "Second factors" }),
    body,
    h("div", { class: "actions" }, remove),
  );
}

// --- the page ----------------------------------------------------------------------------

export async function userView(id, { me, backTo }) {
  const user = await api.call("GET", usersPath(id));
  const page = h("section", { id: "user-view", "aria-labelledby": "view-title" });
  function render(current) {
    page.replaceChildren(
      h("p", { class: "crumbs" }, h("a", { id: "back-to-list", href: backTo, text: "← All users" })),
      h(
        "h1",
        { id: "view-title", tabindex: "-1" },
        current.username,
        current.is_active ? null : h("span", { class: "badge muted", text: "deactivated" }),
        current.is_admin ? h("span", { class: "badge", text: "admin" }) : null,
        current.is_service ? h("span", { class: "badge", text: "service" }) : null,
      ),
      current.is_service
        ? h(
            "p",
            { id: "service-account-hint", class: "hint" },
            "A service account: its secrets and keys are on ",
            h("a", { id: "open-service-account", href: `#/service-accounts/${encodeURIComponent(current.id)}`, text: "its service account page" }),
            ".",
          )
        : null,
      h(
        "div",
        { class: "grid" },
        profileForm(current, saved),
        accessCard(current, me, saved),
      ),
      factorsCard(current),
      sessionsCard(current),
      tokensCard(current),
    );
  }
  function saved(updated, message) {
    render(updated);
    notice(message);
  }
  render(user);
  return page;
}
