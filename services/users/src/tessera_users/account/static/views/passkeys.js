// Passkeys: add one (behind the password, made by the browser's authenticator), list them
// with when each was made and last used, rename, remove.
import * as api from "../shared/api.js";
import { clearMessages, confirmAction, h, notice, when } from "../shared/dom.js";
import { field, onSubmit, report } from "../shared/forms.js";
import { createPasskey, passkeysSupported } from "../shared/webauthn.js";

const PASSKEYS = "/api/v1/auth/factors/passkeys";
const COLUMNS = ["Name", "Added", "Last used", "Synced", ""];
const ADD_ERRORS = {
  invalid_current_password: "passkey_password",
  too_many_attempts: "passkey_password",
  invalid_passkey: "passkey_name",
};

function passkeyRow(passkey, reload, onChanged) {
  const name = h("th", { scope: "row", "data-label": COLUMNS[0], "data-testid": "passkey-name", text: passkey.name });
  const rename = h("button", {
    type: "button",
    class: "small",
    "data-testid": "rename-passkey",
    text: "Rename",
    "aria-label": `Rename the passkey ${passkey.name}`,
    onclick: () => {
      const input = h("input", { "data-testid": "passkey-new-name", value: passkey.name, maxlength: "64", "aria-label": "New name" });
      const editor = h(
        "form",
        { class: "inline-form" },
        input,
        h("button", { type: "submit", class: "small", "data-testid": "save-passkey-name", text: "Save" }),
      );
      editor.addEventListener("submit", async (event) => {
        event.preventDefault();
        clearMessages();
        try {
          await api.call("PATCH", `${PASSKEYS}/${encodeURIComponent(passkey.id)}`, { name: input.value });
          notice("The passkey is renamed.");
          await reload();
        } catch (error) {
          report(error);
        }
      });
      name.replaceChildren(editor);
      input.select();
    },
  });
  const remove = h("button", {
    type: "button",
    class: "danger small",
    "data-testid": "remove-passkey",
    text: "Remove",
    "aria-label": `Remove the passkey ${passkey.name}`,
    onclick: async () => {
      const sure = await confirmAction(
        `Remove the passkey “${passkey.name}”?`,
        "It no longer signs in to this account, and your other sessions end. Removing a passkey needs a recent sign-in with your second factor.",
        "Remove passkey",
      );
      if (!sure) return;
      clearMessages();
      try {
        await api.call("DELETE", `${PASSKEYS}/${encodeURIComponent(passkey.id)}`);
        notice("The passkey is removed; your other sessions have ended.");
        onChanged();
        await reload();
      } catch (error) {
        report(error);
      }
    },
  });
  const cells = [when(passkey.created_at), when(passkey.last_used_at), passkey.backed_up ? "yes" : "no", [rename, " ", remove]];
  return h(
    "tr",
    { "data-testid": "passkey-row", "data-passkey-id": passkey.id },
    name,
    cells.map((cell, i) => h("td", { "data-label": COLUMNS[i + 1], class: i < 3 ? "nowrap" : null }, cell)),
  );
}

function addForm(reload, onChanged) {
  const add = h("button", { id: "add-passkey", type: "submit", text: "Add a passkey" });
  const form = h(
    "form",
    { id: "passkey-form", class: "inline-form", novalidate: true, "aria-label": "Add a passkey" },
    field({ name: "passkey_name", label: "Name it", autocomplete: "off" }, "", "Which device or password manager holds it."),
    field({ name: "passkey_password", label: "Your password", type: "password", autocomplete: "current-password" }, ""),
    h("div", { class: "actions" }, add),
  );
  // A browser without passkeys (PasskeyUnavailable) is told so in the alert line, as any
  // error no field is named by.
  onSubmit(form, async () => {
    const password = form.elements.namedItem("passkey_password");
    const options = await api.call("POST", `${PASSKEYS}/options`, { password: password.value });
    password.value = "";
    notice("Follow your browser's prompt to make the passkey…");
    const credential = await createPasskey(options.public_key);
    const name = form.elements.namedItem("passkey_name").value.trim() || "Passkey";
    await api.call("POST", PASSKEYS, { ceremony: options.ceremony, credential, name });
    form.elements.namedItem("passkey_name").value = "";
    notice(`The passkey “${name}” is added: it signs you in alone. Your other sessions have ended.`);
    onChanged();
    await reload();
  }, { errors: ADD_ERRORS });
  return form;
}

export function passkeysCard(onChanged) {
  const body = h("div", { id: "passkeys-body" }, h("p", { class: "hint", text: "Loading passkeys…" }));
  async function reload() {
    let passkeys;
    try {
      passkeys = await api.call("GET", PASSKEYS);
    } catch (error) {
      if (error instanceof api.SessionEnded) return;
      body.replaceChildren(h("p", { class: "alert", text: `Passkeys unavailable: ${error.message}` }));
      return;
    }
    body.replaceChildren(
      passkeys.length
        ? h(
            "div",
            { class: "table-wrap" },
            h(
              "table",
              { id: "passkeys-table", class: "cards" },
              h("caption", { class: "visually-hidden", text: "Your passkeys" }),
              h("thead", {}, h("tr", {}, COLUMNS.map((c) => h("th", { scope: "col", text: c || "Actions" })))),
              h("tbody", {}, passkeys.map((p) => passkeyRow(p, reload, onChanged))),
            ),
          )
        : h("p", { id: "no-passkeys", class: "empty", text: "No passkey yet." }),
    );
  }
  reload();
  return h(
    "section",
    { id: "passkeys", class: "card wide", "aria-labelledby": "passkeys-title" },
    h("h2", { id: "passkeys-title", text: "Passkeys" }),
    h("p", {
      class: "hint",
      text: "A passkey signs you in alone, with your device's screen lock or fingerprint, and answers the second step of a password sign-in.",
    }),
    body,
    passkeysSupported()
      ? addForm(reload, onChanged)
      : h("p", { class: "hint", text: "This browser cannot make passkeys." }),
  );
}
