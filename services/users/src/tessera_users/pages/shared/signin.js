// The sign-in form of both pages: a password, then (for an account with a second factor) a
// code, a recovery code or a passkey; or a passkey alone, with no username typed.
import * as api from "./api.js";
import { clearMessages, fail, h, notice } from "./dom.js";
import { PasskeyUnavailable, passkeysSupported } from "./webauthn.js";

function signInProblem(error) {
  if (error instanceof PasskeyUnavailable) return error.message;
  if (!(error instanceof api.ApiError)) return "The API cannot be reached. Try again.";
  if (error.code === "invalid_credentials") return "Wrong username or password.";
  if (error.code === "invalid_second_factor") return "Wrong code, or one used already.";
  if (error.code === "invalid_passkey") return "That passkey was not accepted here.";
  if (error.code === "invalid_challenge") return "The sign-in timed out: enter your password again.";
  if (error.status === 429) {
    const wait = error.retryAfter ? ` Try again in ${error.retryAfter} seconds.` : "";
    return `Too many attempts.${wait}`;
  }
  return error.message;
}

// `onSignedIn(me)` runs once the user holds a session; `refuse(me)`, if it answers a
// reason, signs them out again at once (their session revoked) and shows the reason.
export function signInView({ hint, message, refuse = () => "", onSignedIn }) {
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
  const secondPasskey = h("button", {
    id: "use-passkey",
    type: "button",
    hidden: true,
    text: "Use a passkey instead",
    onclick: () => attempt(() => api.signInWithPasskey(challenge)),
  });
  const passkeyAlone = h("button", {
    id: "passkey-sign-in",
    type: "button",
    class: "secondary",
    text: "Sign in with a passkey",
    onclick: () => attempt(() => api.signInWithPasskey()),
  });
  const form = h(
    "form",
    { id: "sign-in", class: "card narrow" },
    h("h1", { id: "view-title", tabindex: "-1", text: "Sign in" }),
    hint ? h("p", { class: "hint", text: hint }) : null,
    h("div", { class: "field" }, h("label", { for: "username", text: "Username or email" }), username),
    h("div", { class: "field" }, h("label", { for: "password", text: "Password" }), password),
    codeField,
    h("div", { class: "actions" }, submit, secondPasskey),
    passkeysSupported()
      ? h("div", { class: "actions alternative" }, h("span", { class: "hint", text: "or" }), passkeyAlone)
      : null,
  );

  function askSecondFactor(error) {
    challenge = error.challenge;
    const codes = error.methods.length === 0 || error.methods.includes("totp") || error.methods.includes("recovery_code");
    const passkey = error.methods.includes("passkey") && passkeysSupported();
    codeField.hidden = !codes;
    submit.hidden = !codes;
    secondPasskey.hidden = !passkey;
    secondPasskey.textContent = codes ? "Use a passkey instead" : "Use your passkey";
    notice(codes ? "Enter the code from your authenticator app." : "Confirm with your passkey.");
    (codes ? code : secondPasskey).focus();
  }

  function startOver() {
    challenge = ""; // spent or expired: the password again
    codeField.hidden = secondPasskey.hidden = true;
    submit.hidden = false;
    code.value = "";
  }

  async function attempt(signIn) {
    clearMessages();
    for (const button of [submit, secondPasskey, passkeyAlone]) button.disabled = true;
    notice("Signing in…");
    try {
      await signIn();
      startOver();
      const me = await api.call("GET", "/api/v1/users/me");
      const refusal = refuse(me);
      if (refusal) {
        await api.signOut();
        notice("");
        fail(refusal);
        password.value = "";
        username.focus();
        return;
      }
      notice("");
      onSignedIn(me);
    } catch (error) {
      notice("");
      if (error instanceof api.ApiError && error.code === "second_factor_required") {
        askSecondFactor(error);
        return;
      }
      if (error instanceof api.ApiError && error.code === "invalid_challenge") startOver();
      if (!(error instanceof api.SessionEnded)) fail(signInProblem(error));
      if (challenge && !codeField.hidden) code.select();
      else if (!challenge) password.select();
    } finally {
      for (const button of [submit, secondPasskey, passkeyAlone]) button.disabled = false;
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    attempt(() => (challenge ? api.signInWithCode(challenge, code.value) : api.signIn(username.value, password.value)));
  });
  if (message) notice(message);
  return { node: form, focus: username };
}
