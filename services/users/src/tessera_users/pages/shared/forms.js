// Form fields whose errors the API names: each message shown under its field, tied to the
// input with aria-describedby and aria-invalid.
import { SessionEnded } from "./api.js";
import { clearMessages, fail, h, notice } from "./dom.js";

export function field({ name, label, type = "text", autocomplete }, value, hint) {
  const errorId = `${name}-error`;
  const hintId = hint ? `${name}-hint` : null;
  const input = h("input", {
    id: name,
    name,
    type,
    value,
    autocomplete: autocomplete || "off",
    "aria-describedby": [hintId, errorId].filter(Boolean).join(" "),
  });
  return h(
    "div",
    { class: "field" },
    h("label", { for: name, text: label }),
    input,
    hint ? h("p", { id: hintId, class: "hint", text: hint }) : null,
    h("p", { id: errorId, class: "field-error", "data-testid": `${name}-error`, hidden: true }),
  );
}

function showFieldError(form, name, message) {
  const input = form.elements.namedItem(name);
  const slot = form.querySelector(`#${name}-error`);
  if (!input || !slot) return false;
  input.setAttribute("aria-invalid", "true");
  slot.textContent = message;
  slot.hidden = false;
  return true;
}

// Report a failed call in the page's alert line. A SessionEnded has been reported already:
// api.call ended the session and asked for a new sign-in (a refused refresh, a revoked
// session, or step-up's 401 insufficient_user_authentication).
export function report(error) {
  if (!(error instanceof SessionEnded)) fail(error.message);
}

export function clearFieldErrors(form) {
  for (const slot of form.querySelectorAll(".field-error")) {
    slot.textContent = "";
    slot.hidden = true;
  }
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
}

// Which field an API error belongs to: the 422's `errors[].field` (renamed by `fieldNames`
// where the page's input has another name), or the field a code is about (`byCode`).
function fieldErrorsOf(error, byCode, fieldNames) {
  if (error.fieldErrors && error.fieldErrors.length) {
    return error.fieldErrors.map((e) => {
      const name = String(e.field).split(".").pop();
      return [fieldNames[name] || name, e.message];
    });
  }
  const name = byCode[error.code];
  return name ? [[name, error.message]] : [];
}

// Show an API error next to the fields it names, else in the page's alert line; the first
// named field gets focus.
export function showApiError(form, error, byCode = {}, fieldNames = {}) {
  const placed = fieldErrorsOf(error, byCode, fieldNames).filter(([name, message]) => showFieldError(form, name, message));
  if (placed.length) {
    fail(placed.length === 1 ? "One field needs attention." : `${placed.length} fields need attention.`);
    form.elements.namedItem(placed[0][0]).focus();
  } else {
    fail(error.message);
  }
}

// A form's submit: messages and field errors cleared, its buttons disabled while `action`
// runs (given the pressed button's value), and an API error shown next to the fields it
// names (`errors`: {code: field}; `fieldNames`: {API field: the form's field}). A progress
// notice the action left does not outlive its failure.
export function onSubmit(form, action, { errors = {}, fieldNames = {} } = {}) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearMessages();
    clearFieldErrors(form);
    const pressed = event.submitter;
    const buttons = [...form.querySelectorAll("button")];
    for (const button of buttons) button.disabled = true;
    try {
      await action(pressed ? pressed.value : "");
    } catch (error) {
      if (error instanceof SessionEnded) return;
      notice("");
      showApiError(form, error, errors, fieldNames);
    } finally {
      for (const button of buttons) button.disabled = false;
    }
  });
}
