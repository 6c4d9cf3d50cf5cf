// The account page's entry point: the sign-in form, or, once signed in, the account's
// cards; what happens when the session ends.
import * as api from "./shared/api.js";
import { clearMessages, h } from "./shared/dom.js";
import { signInView } from "./shared/signin.js";
import { factorsCard } from "./views/factors.js";
import { passkeysCard } from "./views/passkeys.js";
import { passwordCard, profileCard } from "./views/profile.js";
import { sessionsCard } from "./views/sessions.js";
import { tokensCard } from "./views/tokens.js";

const view = document.getElementById("view");
const whoami = document.getElementById("whoami");
const signOutButton = document.getElementById("sign-out");

function showHeader(me) {
  whoami.hidden = signOutButton.hidden = !me;
  whoami.textContent = me ? `Signed in as ${me.username}` : "";
}

function place(node, focus) {
  view.replaceChildren(node);
  (focus || node.querySelector("#view-title") || node).focus();
}

function showSignIn(message) {
  showHeader(null);
  clearMessages();
  const { node, focus } = signInView({ message, onSignedIn: showAccount });
  place(node, focus);
}

function showAccount(me) {
  showHeader(me);
  const page = h("section", { id: "account-view", "aria-labelledby": "view-title" });
  // A change of the factors ends the account's other sessions: the list is read again.
  const sessions = sessionsCard();
  const changed = () => sessions.reload();
  page.replaceChildren(
    h("h1", { id: "view-title", tabindex: "-1", text: me.username }),
    h(
      "div",
      { class: "grid" },
      profileCard(me, (saved) => showHeader(saved)),
      passwordCard(changed),
    ),
    factorsCard(changed),
    passkeysCard(changed),
    sessions.node,
    tokensCard(me),
  );
  place(page);
}

api.onSessionEnded((message) => showSignIn(message));

signOutButton.addEventListener("click", async () => {
  signOutButton.disabled = true;
  await api.signOut();
  signOutButton.disabled = false;
  showSignIn("Signed out: the session is revoked.");
});

showSignIn();
