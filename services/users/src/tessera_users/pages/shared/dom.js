// Building the page from data without ever parsing it as HTML: every value becomes a text
// node or an attribute value, so a username like `<img onerror=…>` stays text.

export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "text") element.textContent = value;
    else if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

export function when(iso) {
  return iso ? dateFormat.format(new Date(iso)) : "never";
}

export function yesNo(value) {
  return h("span", { class: value ? "flag yes" : "flag no", text: value ? "yes" : "no" });
}

// Status lines shared by every view: `#status` is polite, `#alert` interrupts.
export function notice(text) {
  document.getElementById("status").textContent = text;
}

export function fail(text) {
  const alert = document.getElementById("alert");
  alert.textContent = text;
  alert.hidden = !text;
}

export function clearMessages() {
  notice("");
  fail("");
}

// A modal question (the page's one <dialog>): resolves true only if "confirm" was chosen.
// showModal() traps focus inside it and Escape cancels, so it works from the keyboard.
export function confirmAction(title, message, confirmLabel) {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-title").textContent = title;
  document.getElementById("confirm-message").textContent = message;
  document.getElementById("confirm-ok").textContent = confirmLabel;
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.showModal();
  });
}
