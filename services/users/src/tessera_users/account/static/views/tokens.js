// Personal access tokens: the account's tokens, a form to create one (its scopes within
// the signed-in token's), the new token shown once, revoking one.
import * as api from "../shared/api.js";
import { clearMessages, confirmAction, h, notice } from "../shared/dom.js";
import { field, onSubmit, report } from "../shared/forms.js";
import { shownOnce } from "../shared/shown-once.js";
import { tokensTable } from "../shared/tokens.js";

const TOKENS = "/api/v1/auth/tokens";
const FIELD_NAMES = { name: "pat_name", scope: "pat_scopes", expires_in_days: "pat_expires_in_days" };
const CREATE_ERRORS = { invalid_scope: "pat_scopes", expiry_too_long: "pat_expires_in_days" };

// A creation that met step-up (401 insufficient_user_authentication): the page signs out
// and asks for a new sign-in; once the same account is back, the creation is sent again.
// Only what was asked (name, scopes, days) waits here, never a token.
let pending = null; // {userId, body}

function scopeChoices(scopes) {
  return h(
    "fieldset",
    {
      id: "pat_scopes",
      name: "pat_scopes",
      class: "field scopes",
      tabindex: "-1",
      "aria-describedby": "pat_scopes-hint pat_scopes-error",
    },
    h("legend", { text: "Scopes" }),
    scopes.length
      ? scopes.map((scope) =>
          h(
            "label",
            { class: "check" },
            h("input", { type: "checkbox", name: "pat_scope", value: scope, "data-testid": "pat-scope" }),
            " ",
            h("span", { class: "mono", text: scope }),
          ),
        )
      : h("p", { class: "hint", text: "This sign-in holds no scope to give." }),
    h("p", { id: "pat_scopes-hint", class: "hint", text: "At most what this sign-in may do itself." }),
    h("p", { id: "pat_scopes-error", class: "field-error", "data-testid": "pat_scopes-error", hidden: true }),
  );
}

export function tokensCard(me) {
  const body = h("div", { id: "tokens-body" }, h("p", { class: "hint", text: "Loading tokens…" }));
  const shown = h("div", { id: "new-token-slot" });

  async function revoke(token) {
    const sure = await confirmAction(
      `Revoke the token “${token.name}”?`,
      "Whatever uses it is refused from the next request on. This cannot be undone.",
      "Revoke token",
    );
    if (!sure) return;
    clearMessages();
    try {
      await api.call("DELETE", `${TOKENS}/${encodeURIComponent(token.id)}`);
      notice(`The token “${token.name}” is revoked.`);
    } catch (error) {
      report(error);
    }
    await reload();
  }

  async function reload() {
    let tokens;
    try {
      tokens = await api.call("GET", TOKENS);
    } catch (error) {
      if (error instanceof api.SessionEnded) return;
      body.replaceChildren(h("p", { class: "alert", text: `Tokens unavailable: ${error.message}` }));
      return;
    }
    body.replaceChildren(tokensTable(tokens, { caption: "Your personal access tokens", empty: "No token yet.", revoke }));
  }

  async function create(request) {
    pending = { userId: me.id, body: request };
    let created;
    try {
      created = await api.call("POST", TOKENS, request);
    } catch (error) {
      if (!(error instanceof api.StepUpRequired)) pending = null;
      throw error;
    }
    pending = null;
    form.reset();
    const panel = shownOnce(
      {
        id: "new-token",
        copyId: "copy-token",
        title: `Your new token “${created.name}”`,
        value: created.token,
        label: `The new token ${created.name}`,
        warning: "Copy it now: it is not shown again, not here and not anywhere else. Keep it like a password.",
        what: "token",
      },
      () => {
        notice("");
        form.querySelector("#pat_name").focus();
      },
    );
    shown.replaceChildren(panel);
    panel.querySelector("#new-token-title").focus();
    notice(`The token “${created.name}” is made: copy it now.`);
    await reload();
  }

  const form = h(
    "form",
    { id: "token-form", novalidate: true, "aria-label": "Create a personal access token" },
    h("h3", { text: "New token" }),
    field({ name: "pat_name", label: "Name", autocomplete: "off" }, "", "What it is for: a script, a CI job."),
    scopeChoices(api.grantedScopes()),
    field(
      { name: "pat_expires_in_days", label: "Expires in (days)", type: "number" },
      "30",
      "30 days unless you say otherwise; the server refuses more than its maximum (365 days by default).",
    ),
    h("div", { class: "actions" }, h("button", { id: "create-token", type: "submit", text: "Create token" })),
  );
  form.querySelector("#pat_expires_in_days").setAttribute("min", "1");
  form.querySelector("#pat_expires_in_days").setAttribute("inputmode", "numeric");
  onSubmit(
    form,
    () => {
      const scopes = [...form.querySelectorAll("input[name=pat_scope]:checked")].map((box) => box.value);
      const days = form.elements.namedItem("pat_expires_in_days").value.trim();
      const request = { name: form.elements.namedItem("pat_name").value.trim(), scope: scopes.join(" ") };
      if (days) request.expires_in_days = Number(days);
      return create(request);
    },
    { errors: CREATE_ERRORS, fieldNames: FIELD_NAMES },
  );

  reload();
  // Back from the sign-in that step-up asked for: finish the creation it interrupted.
  if (pending && pending.userId === me.id) {
    const { body: request } = pending;
    notice("Signed in again: creating the token you asked for…");
    create(request).catch((error) => {
      notice("");
      report(error);
    });
  } else {
    pending = null;
  }

  return h(
    "section",
    { id: "tokens", class: "card wide", "aria-labelledby": "tokens-title" },
    h("h2", { id: "tokens-title", text: "Personal access tokens" }),
    h("p", {
      class: "hint",
      text: "A token lets a script or a CI job use the API as you, within the scopes you choose, until it expires or you revoke it. Making one needs a recent sign-in.",
    }),
    body,
    shown,
    form,
  );
}
