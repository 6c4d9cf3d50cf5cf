// Form fields whose errors the API names: each message shown under its field, tied to the
// input with aria-describedby and aria-invalid.
import { fail, h } from "./dom.js";

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
