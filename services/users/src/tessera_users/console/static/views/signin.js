import * as api from "../api.js";
import { clearMessages, fail, h, notice } from "../dom.js";

const REFUSED = "This account is not an administrator: the console is for administrators only.";

function signInProblem(error) {
  if (!(error instanceof api.ApiError)) return "The API cannot be reached. Try again.";
  if (error.code === "invalid_credentials") return "Wrong username or password.";
  if (error.code === "invalid_second_factor") return "Wrong code, or one used already.";
  if (error.code === "invalid_challenge") return "The sign-in timed out: enter your password again.";
  if (error.status === 429) {
    const wait = error.retryAfter ? ` Try again in ${error.retryAfter} seconds.` : "";
    return `Too many attempts.${wait}`;
  }
  return error.message;
}

// The sign-in form. `onAdmin(me)` runs once an administrator holds a session; anyone else
// is signed out again at once (their session revoked) and told why.
export function signInView({ message, onAdmin }) {
  const username = h("input", {
    id: "username",
    name: "username",
    autocomplete: "username",
    required: true,
    autocapitalize: "none",
    spellcheck: "false",
  });
  const password = h("input", {
    id: "password",
    name: "password",
    type: "password",
    autocomplete: "current-password",
    required: true,
  });
  const code = h("input", {
    id: "code",
    name: "code",
    autocomplete: "one-time-code",
    inputmode: "text",
    autocapitalize: "none",
    spellcheck: "false",
  });
  const codeField = h(
    "div",
    { class: "field", hidden: true },
    h("label", { for: "code", text: "Code from your authenticator app, or a recovery code" }),
    code,
  );
  let challenge = ""; // set while the password was right and a second factor is asked
  const submit = h("button", { id: "sign-in-submit", type: "submit", text: "Sign in" });
  const form = h(
    "form",
    { id: "sign-in", class: "card narrow" },
    h("h1", { id: "view-title", tabindex: "-1", text: "Sign in" }),
    h("p", { class: "hint", text: "Administrators of this Tessera deployment only." }),
    h("div", { class: "field" }, h("label", { for: "username", text: "Username or email" }), username),
    h("div", { class: "field" }, h("label", { for: "password", text: "Password" }), password),
    codeField,
    h("div", { class: "actions" }, submit),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearMessages();
    submit.disabled = true;
    notice("Signing in…");
    try {
      if (challenge) {
        await api.signInWithCode(challenge, code.value);
      } else {
        await api.signIn(username.value, password.value);
      }
      challenge = "";
      const me = await api.call("GET", "/api/v1/users/me");
      if (!me.is_admin) {
        await api.signOut();
        notice("");
        fail(REFUSED);
        password.value = "";
        username.focus();
        return;
      }
      notice("");
      onAdmin(me);
    } catch (error) {
      notice("");
      if (error instanceof api.ApiError && error.code === "second_factor_required") {
        challenge = error.challenge;
        codeField.hidden = false;
        notice("Enter the code from your authenticator app.");
        code.focus();
        return;
      }
      if (error instanceof api.ApiError && error.code === "invalid_challenge") {
        challenge = ""; // spent or expired: the password again
        codeField.hidden = true;
        code.value = "";
      }
      if (!(error instanceof api.SessionEnded)) fail(signInProblem(error));
      (challenge ? code : password).select();
    } finally {
      submit.disabled = false;
    }
  });
  if (message) notice(message);
  return { node: form, focus: username };
}
