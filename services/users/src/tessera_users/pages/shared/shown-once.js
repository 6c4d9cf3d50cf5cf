// A secret shown once (a personal access token, a service account's client secret): a
// read-only field to copy it from, a copy button, a warning that it is not shown again,
// and "Done", which takes it off the page. The page never keeps it anywhere else.
import { fail, h, notice } from "./dom.js";

// `id` names the panel and its parts (`<id>-title`, `-value`, `-warning`, `-done`; the copy
// button `copyId`); `details` are nodes shown above the value (what it belongs to).
export function shownOnce({ id, title, value, label, warning, what, copyId = `${id}-copy`, details = [] }, onDone) {
  const input = h("input", {
    id: `${id}-value`,
    class: "mono",
    readonly: true,
    value,
    "aria-label": label,
    "aria-describedby": `${id}-warning`,
  });
  const copy = h("button", {
    id: copyId,
    type: "button",
    text: "Copy",
    onclick: async () => {
      try {
        await navigator.clipboard.writeText(input.value);
        notice(`The ${what} is copied.`);
      } catch {
        input.select();
        fail(`This browser did not let the page copy: the ${what} is selected, copy it yourself.`);
      }
    },
  });
  const panel = h(
    "div",
    { id, class: "shown-once", role: "group", "aria-labelledby": `${id}-title` },
    h("h3", { id: `${id}-title`, tabindex: "-1", text: title }),
    h("p", { id: `${id}-warning`, class: "warning", text: warning }),
    details,
    h("div", { class: "inline-form" }, input, copy),
    h(
      "div",
      { class: "actions" },
      h("button", {
        id: `${id}-done`,
        type: "button",
        text: "I have copied it",
        onclick: () => {
          input.value = "";
          panel.remove();
          onDone();
        },
      }),
    ),
  );
  return panel;
}
