// The profile (names, and the email behind the password) and the password change.
import * as api from "../shared/api.js";
import { h, notice } from "../shared/dom.js";
import { field, onSubmit } from "../shared/forms.js";

const PROFILE_FIELDS = [
  { name: "nickname", label: "Nickname", autocomplete: "nickname" },
  { name: "first_name", label: "First name", autocomplete: "given-name" },
  { name: "last_name", label: "Last name", autocomplete: "family-name" },
  { name: "email", label: "Email", type: "email", autocomplete: "email" },
];

// The field each error code is about, where the API's problem does not name one.
const PROFILE_ERRORS = {
  email_taken: "email",
  reauthentication_required: "current_password",
  too_many_attempts: "current_password",
};
const PASSWORD_ERRORS = {
  invalid_current_password: "current_password_change",
  too_many_attempts: "current_password_change",
  weak_password: "new_password",
};

export function profileCard(me, onSaved) {
  let user = me;
  const save = h("button", { id: "save-profile", type: "submit", text: "Save profile" });
  const form = h(
    "form",
    { id: "profile-form", class: "card", novalidate: true, "aria-labelledby": "profile-title" },
    h("h2", { id: "profile-title", text: "Profile" }),
    PROFILE_FIELDS.map((f) => field(f, user[f.name])),
    field(
      { name: "current_password", label: "Current password", type: "password", autocomplete: "current-password" },
      "",
      "Needed only to change the email.",
    ),
    h("div", { class: "actions" }, save),
  );
  onSubmit(form, async () => {
    const changes = {};
    for (const { name } of PROFILE_FIELDS) {
      const value = form.elements.namedItem(name).value;
      if (value !== user[name]) changes[name] = value;
    }
    if (!Object.keys(changes).length) {
      notice("Nothing to save: no field was changed.");
      return;
    }
    const password = form.elements.namedItem("current_password");
    if ("email" in changes && password.value) changes.current_password = password.value;
    user = await api.call("PATCH", "/api/v1/users/me", changes);
    password.value = "";
    notice("Your profile is saved.");
    onSaved(user);
  }, { errors: PROFILE_ERRORS });
  return form;
}

export function passwordCard(onChanged) {
  const change = h("button", { id: "change-password", type: "submit", text: "Change password" });
  const form = h(
    "form",
    { id: "password-form", class: "card", novalidate: true, "aria-labelledby": "password-title" },
    h("h2", { id: "password-title", text: "Password" }),
    field({ name: "current_password_change", label: "Current password", type: "password", autocomplete: "current-password" }, ""),
    field(
      { name: "new_password", label: "New password", type: "password", autocomplete: "new-password" },
      "",
      "At least 8 characters; not a common password, nor like your username or email.",
    ),
    h("div", { class: "actions" }, change),
  );
  onSubmit(form, async () => {
    const current = form.elements.namedItem("current_password_change");
    const next = form.elements.namedItem("new_password");
    await api.call("POST", "/api/v1/auth/password", {
      current_password: current.value,
      new_password: next.value,
    });
    current.value = next.value = "";
    notice("Your password is changed; your other sessions have ended.");
    onChanged();
  }, { errors: PASSWORD_ERRORS, fieldNames: { current_password: "current_password_change" } });
  return form;
}
