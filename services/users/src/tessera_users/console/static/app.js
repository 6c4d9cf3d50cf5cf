// The console's entry point: a hash router over the views (sign-in, the users list, one
// user, the service accounts, one service account), the header, and what happens when the
// session ends.
import * as api from "./shared/api.js";
import { clearMessages, fail, h, notice } from "./shared/dom.js";
import { signInView } from "./shared/signin.js";
import { serviceAccountView, serviceAccountsView } from "./views/service-accounts.js";
import { userView } from "./views/user.js";
import { listAddress, usersView } from "./views/users.js";

const view = document.getElementById("view");
const whoami = document.getElementById("whoami");
const signOutButton = document.getElementById("sign-out");
const nav = document.getElementById("nav");
const navUsers = document.getElementById("nav-users");

const REFUSED = "This account is not an administrator: the console is for administrators only.";

let me = null; // the signed-in administrator (GET /users/me)
let lastList = "#/users"; // where "All users" goes back to: the list as it was left
let rendering = 0; // each navigation's number: a slow view must not replace a newer one

function showHeader() {
  whoami.hidden = signOutButton.hidden = nav.hidden = !me;
  whoami.textContent = me ? `Signed in as ${me.username}` : "";
}

// The header's links: "All users" returns to the list as it was left; the current part is
// marked for screen readers.
function markNav(part) {
  navUsers.setAttribute("href", lastList);
  for (const link of nav.querySelectorAll("a")) {
    if (link.dataset.part === part) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function place(node, focus) {
  view.replaceChildren(node);
  (focus || node.querySelector("#view-title") || node).focus();
}

function showSignIn(message) {
  me = null;
  showHeader();
  rendering += 1;
  clearMessages();
  const { node, focus } = signInView({
    hint: "Administrators of this Tessera deployment only.",
    message,
    refuse: (user) => (user.is_admin ? "" : REFUSED),
    onSignedIn(admin) {
      me = admin;
      showHeader();
      route();
    },
  });
  place(node, focus);
}

// The address: #/users (with the listing's query), #/users/<id>, #/service-accounts or
// #/service-accounts/<id>.
function parse(hash) {
  const [path, query = ""] = hash.replace(/^#/, "").split("?", 2);
  const user = /^\/users\/([0-9a-fA-F-]{36})$/.exec(path);
  if (user) return { name: "user", id: user[1] };
  const account = /^\/service-accounts\/([0-9a-fA-F-]{36})$/.exec(path);
  if (account) return { name: "service-account", id: account[1] };
  if (path === "/service-accounts") return { name: "service-accounts" };
  if (path === "" || path === "/" || path === "/users") {
    return { name: "users", query: new URLSearchParams(query) };
  }
  return { name: "unknown" };
}

async function route() {
  if (!api.signedIn()) {
    showSignIn();
    return;
  }
  const number = ++rendering;
  const target = parse(location.hash);
  clearMessages();
  notice("Loading…");
  try {
    let node;
    if (target.name === "users") {
      lastList = listAddress(target.query, target.query.get("cursor"));
      node = await usersView(target.query);
    } else if (target.name === "user") {
      node = await userView(target.id, { me, backTo: lastList });
    } else if (target.name === "service-accounts") {
      node = await serviceAccountsView();
    } else if (target.name === "service-account") {
      node = await serviceAccountView(target.id);
    } else {
      node = h(
        "section",
        {},
        h("h1", { id: "view-title", tabindex: "-1", text: "Not found" }),
        h("p", {}, "The console has no page here. ", h("a", { href: "#/users", text: "All users" })),
      );
    }
    if (number !== rendering) return;
    notice("");
    markNav(target.name.startsWith("service-account") ? "service-accounts" : "users");
    place(node);
  } catch (error) {
    if (number !== rendering || error instanceof api.SessionEnded) return;
    notice("");
    if (error.code === "user_not_found") fail("No user has this id.");
    else if (error.code === "service_account_not_found") fail("No service account has this id.");
    else if (error.code === "invalid_cursor") fail("That page is no longer valid: start from the first page.");
    else fail(error.message);
    place(h("section", {}, h("h1", { id: "view-title", tabindex: "-1", text: "Something went wrong" }),
      h("p", {}, h("a", { href: "#/users", text: "Back to all users" }))));
  }
}

api.onSessionEnded((message) => showSignIn(message));

signOutButton.addEventListener("click", async () => {
  signOutButton.disabled = true;
  await api.signOut();
  signOutButton.disabled = false;
  showSignIn("Signed out: the session is revoked.");
});

window.addEventListener("hashchange", route);
route();
