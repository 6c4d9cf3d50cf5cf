// A table of personal access tokens (docs/personal-access-tokens.md), the account page's
// own and the console's view of a user's: the same columns, each with its revoke button.
import { h, when } from "./dom.js";

const COLUMNS = ["Name", "Scopes", "Created", "Expires", "Last used", ""];

function expired(token) {
  return new Date(token.expires_at).getTime() <= Date.now();
}

function tokenRow(token, revoke) {
  const name = h("th", { scope: "row", "data-label": COLUMNS[0], "data-testid": "token-name", text: token.name });
  const expires = [when(token.expires_at)];
  if (expired(token)) expires.push(" ", h("strong", { class: "badge muted", text: "expired" }));
  const action = h("button", {
    type: "button",
    class: "danger small",
    "data-testid": "revoke-token",
    text: "Revoke",
    "aria-label": `Revoke the token ${token.name}`,
    onclick: () => revoke(token),
  });
  const cells = [
    h("span", { class: "mono scopes", text: token.scope }),
    when(token.created_at),
    expires,
    h("span", { "data-testid": "token-last-used", text: when(token.last_used_at) }),
    action,
  ];
  return h(
    "tr",
    { "data-testid": "token-row", "data-token-id": token.id },
    name,
    cells.map((cell, i) => h("td", { "data-label": COLUMNS[i + 1], class: i > 0 && i < 4 ? "nowrap" : null }, cell)),
  );
}

// The table, or `empty` when there is no token; `revoke(token)` asks and revokes.
export function tokensTable(tokens, { caption, empty, revoke }) {
  if (!tokens.length) return h("p", { id: "no-tokens", class: "empty", text: empty });
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { id: "tokens-table", class: "cards" },
      h("caption", { class: "visually-hidden", text: caption }),
      h("thead", {}, h("tr", {}, COLUMNS.map((c) => h("th", { scope: "col", text: c || "Action" })))),
      h("tbody", {}, tokens.map((t) => tokenRow(t, revoke))),
    ),
  );
}
