// Service accounts (docs/service-accounts.md): the list and a form to create one (its first
// secret shown once), and one account's page: its secrets (a new one shown once, at most
// two live), its public keys for private_key_jwt, and deactivation.
import * as api from "../shared/api.js";
import { clearMessages, confirmAction, fail, h, notice, when } from "../shared/dom.js";
import { field, onSubmit, report } from "../shared/forms.js";
import { shownOnce } from "../shared/shown-once.js";

const ACCOUNTS = "/api/v1/auth/admin/service-accounts";
// What a service account may hold (SERVICE_SCOPES); the API also keeps it within the
// signed-in administrator's own token.
const SCOPES = ["users:read", "users:write"];
const SECRET_LIMIT =
  "Two secrets are live already, the most an account may have: delete one first (the one no longer deployed), then make a new one.";
const WARNING = "Copy it now: it is not shown again, not here and not anywhere else. Keep it like a password.";

function accountPath(id, rest = "") {
  return `${ACCOUNTS}/${encodeURIComponent(id)}${rest}`;
}

export function accountAddress(id) {
  return `#/service-accounts/${encodeURIComponent(id)}`;
}

function status(account) {
  return account.is_active
    ? h("span", { class: "flag yes", text: "active" })
    : h("span", { class: "flag no", text: "deactivated" });
}

// The client id beside a secret: both are needed to ask for a token.
function clientIdFacts(account) {
  return h(
    "dl",
    { class: "facts" },
    h("dt", { text: "Client ID" }),
    h("dd", { class: "mono", "data-testid": "shown-client-id", text: account.client_id }),
  );
}

function secretPanel(account, secret, onDone) {
  return shownOnce(
    {
      id: "new-secret",
      title: `A new secret of “${account.name}”`,
      value: secret.secret,
      label: `The new client secret of ${account.name}`,
      warning: WARNING,
      what: "secret",
      details: [clientIdFacts(account)],
    },
    onDone,
  );
}

// --- the list and the creation form --------------------------------------------------

const COLUMNS = ["Name", "Client ID", "Scope", "Created", "Status", "Live secrets"];

function accountRow(account) {
  const cells = [
    h("a", { href: accountAddress(account.id), class: "sa-link", text: account.name }),
    h("span", { class: "mono", text: account.client_id }),
    h("span", { class: "mono scopes", text: account.scope }),
    when(account.created_at),
    status(account),
    h("span", { "data-testid": "sa-secrets", text: String(account.secrets.length) }),
  ];
  return h(
    "tr",
    { "data-testid": "sa-row", "data-account-id": account.id, class: account.is_active ? "" : "inactive" },
    cells.map((cell, i) =>
      i === 0
        ? h("th", { scope: "row", "data-label": COLUMNS[i] }, cell)
        : h("td", { "data-label": COLUMNS[i], class: i === 3 ? "nowrap" : null }, cell),
    ),
  );
}

function accountsTable(accounts) {
  if (!accounts.length) return h("p", { id: "no-service-accounts", class: "empty", text: "No service account yet." });
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { id: "service-accounts-table", class: "cards" },
      h("caption", { class: "visually-hidden", text: "Service accounts, newest first" }),
      h("thead", {}, h("tr", {}, COLUMNS.map((c) => h("th", { scope: "col", text: c })))),
      h("tbody", {}, accounts.map(accountRow)),
    ),
  );
}

function scopeChoices() {
  return h(
    "fieldset",
    {
      id: "sa_scopes",
      name: "sa_scopes",
      class: "field scopes",
      tabindex: "-1",
      "aria-describedby": "sa_scopes-hint sa_scopes-error",
    },
    h("legend", { text: "Scopes" }),
    SCOPES.map((scope) =>
      h(
        "label",
        { class: "check" },
        h("input", { type: "checkbox", name: "sa_scope", value: scope, "data-testid": "sa-scope" }),
        " ",
        h("span", { class: "mono", text: scope }),
      ),
    ),
    h("p", { id: "sa_scopes-hint", class: "hint", text: "users:read lists and reads accounts; users:write changes them." }),
    h("p", { id: "sa_scopes-error", class: "field-error", "data-testid": "sa_scopes-error", hidden: true }),
  );
}

function createForm(onCreated) {
  const form = h(
    "form",
    { id: "service-account-form", class: "card", novalidate: true, "aria-labelledby": "create-title" },
    h("h2", { id: "create-title", text: "New service account" }),
    field({ name: "sa_name", label: "Name" }, "", "What uses it: a sync job, another service."),
    scopeChoices(),
    h("div", { class: "actions" }, h("button", { id: "create-service-account", type: "submit", text: "Create service account" })),
  );
  onSubmit(
    form,
    async () => {
      const scopes = [...form.querySelectorAll("input[name=sa_scope]:checked")].map((box) => box.value);
      const request = { name: form.elements.namedItem("sa_name").value.trim(), scope: scopes.join(" ") };
      const created = await api.call("POST", ACCOUNTS, request);
      form.reset();
      await onCreated(created);
    },
    { errors: { invalid_scope: "sa_scopes" }, fieldNames: { name: "sa_name", scope: "sa_scopes" } },
  );
  return form;
}

export async function serviceAccountsView() {
  const accounts = await api.call("GET", ACCOUNTS);
  const list = h("div", { id: "service-accounts-body" }, accountsTable(accounts));
  const shown = h("div", { id: "new-secret-slot" });
  async function created(account) {
    const panel = secretPanel(account, account.secret, () => {
      notice("");
      document.getElementById("sa_name").focus();
    });
    panel.append(h("p", {}, h("a", { id: "open-new-account", href: accountAddress(account.id), text: `Open ${account.name}` })));
    shown.replaceChildren(panel);
    panel.querySelector("#new-secret-title").focus();
    notice(`The service account “${account.name}” is made: copy its secret now.`);
    try {
      list.replaceChildren(accountsTable(await api.call("GET", ACCOUNTS)));
    } catch (error) {
      report(error);
    }
  }
  return h(
    "section",
    { id: "service-accounts-view", "aria-labelledby": "view-title" },
    h("h1", { id: "view-title", tabindex: "-1", text: "Service accounts" }),
    h("p", {
      class: "hint",
      text: "Other services of the platform get tokens as a service account with the client credentials grant: its client ID and a secret, or a signed assertion with a registered key.",
    }),
    shown,
    createForm(created),
    list,
  );
}

// --- one account ---------------------------------------------------------------------

const SECRET_COLUMNS = ["Secret ID", "Created", ""];

function secretsTable(account, remove) {
  if (!account.secrets.length) return h("p", { id: "no-secrets", class: "empty", text: "No live secret." });
  const row = (secret) =>
    h(
      "tr",
      { "data-testid": "secret-row", "data-secret-id": secret.id },
      h("th", { scope: "row", "data-label": SECRET_COLUMNS[0] }, h("span", { class: "mono", text: secret.id })),
      h("td", { "data-label": SECRET_COLUMNS[1], class: "nowrap", text: when(secret.created_at) }),
      h(
        "td",
        { "data-label": SECRET_COLUMNS[2] },
        h("button", {
          type: "button",
          class: "danger small",
          "data-testid": "delete-secret",
          "data-secret-id": secret.id,
          disabled: !account.is_active,
          text: "Delete",
          "aria-label": `Delete the secret made ${when(secret.created_at)}`,
          onclick: () => remove(secret),
        }),
      ),
    );
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { id: "secrets-table", class: "cards" },
      h("caption", { class: "visually-hidden", text: `Live secrets of ${account.name}` }),
      h("thead", {}, h("tr", {}, SECRET_COLUMNS.map((c) => h("th", { scope: "col", text: c || "Action" })))),
      h("tbody", {}, account.secrets.map(row)),
    ),
  );
}

function keysSummary(account) {
  const keys = account.jwks && Array.isArray(account.jwks.keys) ? account.jwks.keys : [];
  if (!keys.length) return "none";
  const ids = keys.map((key) => key.kid || "(no kid)").join(", ");
  return `${keys.length} ${keys.length === 1 ? "key" : "keys"}: ${ids}`;
}

function keysForm(account, changed) {
  const textarea = h("textarea", {
    id: "sa_jwks",
    name: "sa_jwks",
    class: "mono",
    rows: "6",
    spellcheck: "false",
    autocomplete: "off",
    disabled: !account.is_active,
    placeholder: '{"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1", "x": "…", "y": "…"}]}',
    "aria-describedby": "sa_jwks-hint sa_jwks-error",
  });
  const form = h(
    "form",
    { id: "keys-form", novalidate: true, "aria-label": `Register public keys of ${account.name}` },
    h(
      "div",
      { class: "field" },
      h("label", { for: "sa_jwks", text: "JWK set (JSON)" }),
      textarea,
      h("p", {
        id: "sa_jwks-hint",
        class: "hint",
        text: "Public RSA, EC or OKP keys, each with a kid. They replace the keys registered before, and the tokens those obtained are revoked.",
      }),
      h("p", { id: "sa_jwks-error", class: "field-error", "data-testid": "sa_jwks-error", hidden: true }),
    ),
    h("div", { class: "actions" }, h("button", { id: "register-keys", type: "submit", disabled: !account.is_active, text: "Register keys" })),
  );
  onSubmit(
    form,
    async () => {
      let jwks;
      try {
        jwks = JSON.parse(textarea.value);
      } catch {
        // Not sent: shown where the API's own refusal (422 invalid_jwks) is.
        const notJson = new Error('This is not JSON: paste the JWK set itself, {"keys": [...]}.');
        notJson.code = "invalid_jwks";
        throw notJson;
      }
      if (account.jwks) {
        const sure = await confirmAction(
          `Replace the keys of ${account.name}?`,
          "Assertions signed with the old keys are refused from now on, and the tokens they obtained are revoked.",
          "Replace keys",
        );
        if (!sure) return;
      }
      const updated = await api.call("PUT", accountPath(account.id, "/keys"), { jwks });
      changed(updated, `The keys of ${account.name} are registered: ${keysSummary(updated)}.`);
    },
    { errors: { invalid_jwks: "sa_jwks" }, fieldNames: { jwks: "sa_jwks" } },
  );
  return form;
}

export async function serviceAccountView(id) {
  let account = await api.call("GET", accountPath(id));
  const page = h("section", { id: "service-account-view", "aria-labelledby": "view-title" });
  // The shown-once panel outlives the re-rendering of the rest (a delete after a rotation).
  const shown = h("div", { id: "new-secret-slot" });

  // Read the account again and show it; `focus` (a selector) is where the keyboard goes
  // next, since the button that was pressed is gone with the old rendering.
  async function reload(message, focus = "#view-title") {
    try {
      account = await api.call("GET", accountPath(id));
    } catch (error) {
      report(error);
      return;
    }
    render();
    if (message) notice(message);
    page.querySelector(focus).focus();
  }

  function changed(updated, message) {
    account = updated;
    render();
    notice(message);
    page.querySelector("#sa_jwks").focus();
  }

  async function newSecret(button) {
    clearMessages();
    button.disabled = true;
    let secret;
    try {
      secret = await api.call("POST", accountPath(id, "/secrets"));
    } catch (error) {
      button.disabled = false;
      if (error.code !== "secret_limit_reached") {
        report(error);
        return;
      }
      // In the alert line, and beside the button too: the alert may be scrolled away.
      fail(SECRET_LIMIT);
      const note = page.querySelector("#secret-limit");
      note.textContent = SECRET_LIMIT;
      note.hidden = false;
      return;
    }
    const panel = secretPanel(account, secret, () => {
      notice("");
      page.querySelector("#new-secret-button").focus();
    });
    shown.replaceChildren(panel);
    await reload(`A new secret of ${account.name} is made: copy it now.`, "#new-secret-title");
  }

  async function removeSecret(secret) {
    const sure = await confirmAction(
      `Delete the secret made ${when(secret.created_at)}?`,
      "It stops working now, and every token obtained with it is refused from the next request on.",
      "Delete secret",
    );
    if (!sure) return;
    clearMessages();
    try {
      await api.call("DELETE", accountPath(id, `/secrets/${encodeURIComponent(secret.id)}`));
    } catch (error) {
      report(error);
      return;
    }
    await reload(`The secret made ${when(secret.created_at)} is deleted; its tokens are revoked.`, "#new-secret-button");
  }

  async function deactivate() {
    const sure = await confirmAction(
      `Deactivate ${account.name}?`,
      "Its secrets and keys stop working and every token it holds is refused at once. It cannot be reactivated: make a new one instead.",
      "Deactivate",
    );
    if (!sure) return;
    clearMessages();
    try {
      await api.call("DELETE", accountPath(id));
    } catch (error) {
      report(error);
      return;
    }
    await reload(`${account.name} is deactivated; its tokens are refused.`);
  }

  function render() {
    const active = account.is_active;
    const newButton = h("button", {
      id: "new-secret-button",
      type: "button",
      disabled: !active,
      text: "New secret",
      onclick: (event) => newSecret(event.currentTarget),
    });
    page.replaceChildren(
      h("p", { class: "crumbs" }, h("a", { id: "back-to-service-accounts", href: "#/service-accounts", text: "← Service accounts" })),
      h(
        "h1",
        { id: "view-title", tabindex: "-1" },
        account.name,
        h("span", { class: "badge", text: "service" }),
        active ? null : h("span", { id: "deactivated-badge", class: "badge muted", text: "deactivated" }),
      ),
      h(
        "section",
        { id: "sa-facts", class: "card", "aria-labelledby": "facts-title" },
        h("h2", { id: "facts-title", text: "Account" }),
        h(
          "dl",
          { class: "facts" },
          h("dt", { text: "Client ID" }), h("dd", { id: "sa-client-id", class: "mono", text: account.client_id }),
          h("dt", { text: "Scope" }), h("dd", { id: "sa-scope", class: "mono", text: account.scope }),
          h("dt", { text: "Status" }), h("dd", { id: "sa-status" }, status(account)),
          h("dt", { text: "Created" }), h("dd", { text: when(account.created_at) }),
          h("dt", { text: "Public keys" }), h("dd", { id: "sa-keys", text: keysSummary(account) }),
          h("dt", { text: "ID" }), h("dd", { class: "mono", text: account.id }),
        ),
        h(
          "div",
          { class: "actions" },
          h("button", { id: "deactivate-service-account", type: "button", class: "danger", disabled: !active, text: "Deactivate", onclick: deactivate }),
        ),
        active ? null : h("p", { class: "hint", text: "Deactivated: its secrets, keys and tokens no longer work." }),
      ),
      h(
        "section",
        { id: "secrets", class: "card wide", "aria-labelledby": "secrets-title" },
        h("h2", { id: "secrets-title", text: "Secrets" }),
        h("p", {
          class: "hint",
          text: "At most two are live at once. To rotate: make a new one, deploy it, then delete the old one.",
        }),
        secretsTable(account, removeSecret),
        shown,
        h("p", { id: "secret-limit", class: "field-error", hidden: true }),
        h("div", { class: "actions" }, newButton),
      ),
      h(
        "section",
        { id: "keys", class: "card wide", "aria-labelledby": "keys-title" },
        h("h2", { id: "keys-title", text: "Keys (private_key_jwt)" }),
        keysForm(account, changed),
      ),
    );
  }

  render();
  return page;
}
