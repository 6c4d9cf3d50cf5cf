import * as api from "../shared/api.js";
import { h, when, yesNo } from "../shared/dom.js";

// The listing's parameters as the API names them; the page keeps them in its address
// (#/users?search=…&cursor=…), so Back and a bookmark give the same page again.
const FILTERS = [
  { name: "is_active", label: "Status", options: [["", "Any"], ["true", "Active"], ["false", "Deactivated"]] },
  { name: "is_admin", label: "Role", options: [["", "Any"], ["true", "Administrators"], ["false", "Not administrators"]] },
  { name: "email_verified", label: "Email", options: [["", "Any"], ["true", "Verified"], ["false", "Not verified"]] },
  { name: "kind", label: "Kind", options: [["", "Any"], ["person", "People"], ["service", "Service accounts"]] },
];
const ORDERINGS = [
  ["date_joined", "Oldest first"],
  ["-date_joined", "Newest first"],
  ["username", "Username A–Z"],
  ["-username", "Username Z–A"],
];
const PAGE_SIZES = ["10", "20", "50", "100"];
const DEFAULTS = { ordering: "date_joined", limit: "20" };
const PARAMETERS = ["search", ...FILTERS.map((f) => f.name), "ordering", "limit"];

export function listAddress(query, cursor) {
  const kept = new URLSearchParams();
  for (const name of PARAMETERS) {
    const value = query.get(name);
    if (value && value !== DEFAULTS[name]) kept.set(name, value);
  }
  if (cursor) kept.set("cursor", cursor);
  const text = kept.toString();
  return text ? `#/users?${text}` : "#/users";
}

function select(name, label, options, chosen) {
  return h(
    "div",
    { class: "field" },
    h("label", { for: `filter-${name}`, text: label }),
    h(
      "select",
      { id: `filter-${name}`, name },
      options.map(([value, text]) => h("option", { value, selected: value === chosen, text })),
    ),
  );
}

function filterForm(query) {
  const search = h("input", {
    id: "filter-search",
    name: "search",
    type: "search",
    value: query.get("search") || "",
    maxlength: "100",
    placeholder: "username, email or nickname",
  });
  const form = h(
    "form",
    { id: "filters", class: "filters", role: "search", "aria-label": "Find users" },
    h("div", { class: "field grow" }, h("label", { for: "filter-search", text: "Search" }), search),
    FILTERS.map((f) => select(f.name, f.label, f.options, query.get(f.name) || "")),
    select("ordering", "Order", ORDERINGS, query.get("ordering") || DEFAULTS.ordering),
    select("limit", "Per page", PAGE_SIZES.map((n) => [n, n]), query.get("limit") || DEFAULTS.limit),
    h("div", { class: "field" }, h("button", { id: "apply-filters", type: "submit", text: "Apply" })),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const chosen = new URLSearchParams();
    for (const [name, value] of new FormData(form)) chosen.set(name, String(value).trim());
    const next = listAddress(chosen, null);
    // The same address again still means "load it again" (new users may have arrived).
    if (location.hash === next) window.dispatchEvent(new HashChangeEvent("hashchange"));
    else location.hash = next;
  });
  return form;
}

const COLUMNS = ["Username", "Email", "Nickname", "Active", "Admin", "Email verified", "Joined"];

function userRow(user) {
  const name = [h("a", { href: `#/users/${encodeURIComponent(user.id)}`, class: "user-link", text: user.username })];
  // A service account's row: its username is its client_id, its email a placeholder.
  if (user.is_service) name.push(" ", h("span", { class: "badge", "data-testid": "service-badge", text: "service" }));
  const cells = [
    name,
    user.email,
    user.nickname || "—",
    yesNo(user.is_active),
    yesNo(user.is_admin),
    yesNo(user.email_verified),
    when(user.date_joined),
  ];
  return h(
    "tr",
    {
      "data-testid": "user-row",
      "data-user-id": user.id,
      "data-kind": user.is_service ? "service" : "person",
      class: user.is_active ? "" : "inactive",
    },
    cells.map((cell, i) =>
      i === 0
        ? h("th", { scope: "row", "data-label": COLUMNS[i] }, cell)
        : h("td", { "data-label": COLUMNS[i], class: i === 6 ? "nowrap" : null }, cell),
    ),
  );
}

function usersTable(users) {
  return h(
    "table",
    { id: "users-table", class: "cards" },
    h("caption", { class: "visually-hidden", text: "Users matching the filters" }),
    h("thead", {}, h("tr", {}, COLUMNS.map((c) => h("th", { scope: "col", text: c })))),
    h("tbody", {}, users.map(userRow)),
  );
}

export async function usersView(query) {
  const params = new URLSearchParams({ limit: query.get("limit") || DEFAULTS.limit });
  for (const name of [...PARAMETERS, "cursor"]) {
    const value = query.get(name);
    if (value && name !== "limit") params.set(name, value);
  }
  const page = await api.call("GET", `/api/v1/users?${params}`);
  const cursor = query.get("cursor");
  const pager = h(
    "nav",
    { class: "pager", "aria-label": "Pages" },
    cursor ? h("a", { id: "first-page", href: listAddress(query, null), text: "First page" }) : null,
    page.next_cursor
      ? h("a", { id: "next-page", href: listAddress(query, page.next_cursor), text: "Next page" })
      : h("span", { id: "last-page", class: "hint", text: "Last page" }),
  );
  const results = page.items.length
    ? h("div", { class: "table-wrap" }, usersTable(page.items))
    : h("p", { id: "no-users", class: "empty", text: "No user matches these filters." });
  const shown = page.items.length === 1 ? "1 user" : `${page.items.length} users`;
  return h(
    "section",
    { id: "users-view", "aria-labelledby": "view-title" },
    h("h1", { id: "view-title", tabindex: "-1", text: "Users" }),
    filterForm(query),
    h("p", { id: "page-summary", class: "hint", text: `${shown} on this page${cursor ? " (not the first)" : ""}.` }),
    results,
    pager,
  );
}
