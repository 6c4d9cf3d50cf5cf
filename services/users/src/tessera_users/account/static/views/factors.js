// The authenticator app (TOTP) and the recovery codes: turn on (password → QR code → first
// code → ten recovery codes, shown once), new recovery codes, turn off.
import * as api from "../shared/api.js";
import { confirmAction, fail, h, notice } from "../shared/dom.js";
import { field, onSubmit } from "../shared/forms.js";
import { qrCode } from "./qr.js";

const PROOF_ERRORS = {
  invalid_current_password: "totp_password",
  too_many_attempts: "totp_password",
  invalid_second_factor: "totp_code",
  invalid_code: "totp_code",
};

function recoveryCodes(codes, onDone) {
  return h(
    "div",
    { id: "recovery-codes-shown" },
    h("h3", { text: "Your recovery codes" }),
    h("p", {
      class: "hint",
      text: "Each signs in once instead of a code from your app. Keep them somewhere safe: they are shown only now.",
    }),
    h("ol", { id: "recovery-codes", class: "codes mono" }, codes.map((c) => h("li", { text: c }))),
    h("div", { class: "actions" }, h("button", { id: "recovery-codes-done", type: "button", text: "I have kept them", onclick: onDone })),
  );
}

function form(id, title, children, buttons, action) {
  const node = h("form", { id, class: "inline-form", novalidate: true, "aria-label": title }, children, h("div", { class: "actions" }, buttons));
  onSubmit(node, action, { errors: PROOF_ERRORS });
  return node;
}

const password = () =>
  field({ name: "totp_password", label: "Your password", type: "password", autocomplete: "current-password" }, "");

export function factorsCard(onChanged) {
  const body = h("div", { id: "totp-body" }, h("p", { class: "hint", text: "Loading…" }));
  const card = h(
    "section",
    { id: "totp", class: "card wide", "aria-labelledby": "totp-title" },
    h("h2", { id: "totp-title", text: "Authenticator app" }),
    body,
  );

  function offForm() {
    return form(
      "totp-enroll-form",
      "Turn on the authenticator app",
      [password()],
      [h("button", { id: "totp-start", type: "submit", text: "Set up an authenticator app" })],
      async () => {
        const enrollment = await api.call("POST", "/api/v1/auth/factors/totp", {
          password: card.querySelector("#totp_password").value,
        });
        showEnrollment(enrollment);
      },
    );
  }

  function showEnrollment(enrollment) {
    let picture;
    try {
      picture = h("div", { id: "totp-qr", class: "qr" }, qrCode(enrollment.qr_svg, "QR code for your authenticator app"));
    } catch (error) {
      picture = h("p", { class: "alert", text: error.message });
    }
    const confirm = form(
      "totp-confirm-form",
      "Confirm the authenticator app",
      [field({ name: "totp_code", label: "The app's 6-digit code", autocomplete: "one-time-code" }, "")],
      [h("button", { id: "totp-confirm", type: "submit", text: "Turn on" })],
      async () => {
        const answer = await api.call("POST", "/api/v1/auth/factors/totp/confirm", {
          code: card.querySelector("#totp_code").value.trim(),
        });
        notice("The authenticator app is on: each sign-in now asks for its code. Your other sessions have ended.");
        body.replaceChildren(recoveryCodes(answer.recovery_codes, reload));
        card.querySelector("#recovery-codes-done").focus();
        onChanged();
      },
    );
    body.replaceChildren(
      h("p", { text: "Scan this QR code with your authenticator app, or type the secret into it; then enter the code it shows." }),
      picture,
      h("dl", { class: "facts" }, h("dt", { text: "Secret" }), h("dd", { id: "totp-secret", class: "mono", text: enrollment.secret })),
      h("p", { class: "hint" }, "Setup link: ", h("span", { id: "totp-uri", class: "mono", text: enrollment.otpauth_uri })),
      confirm,
    );
    card.querySelector("#totp_code").focus();
  }

  function onForm(status) {
    return form(
      "totp-proof-form",
      "Recovery codes or turning off",
      [
        password(),
        field({ name: "totp_code", label: "A code from the app, or a recovery code", autocomplete: "one-time-code" }, ""),
      ],
      [
        h("button", { id: "new-recovery-codes", type: "submit", value: "codes", text: "New recovery codes" }),
        h("button", { id: "totp-remove", type: "submit", value: "remove", class: "danger", text: "Turn off" }),
      ],
      async (action) => {
        const proof = {
          password: card.querySelector("#totp_password").value,
          ...api.codeAnswer(card.querySelector("#totp_code").value),
        };
        if (action === "remove") {
          const sure = await confirmAction(
            "Turn off the authenticator app?",
            "Sign-ins no longer ask for its code, your recovery codes stop working and your other sessions end.",
            "Turn off",
          );
          if (!sure) return;
          await api.call("POST", "/api/v1/auth/factors/totp/remove", proof);
          notice("The authenticator app is off; your other sessions have ended.");
          onChanged();
          await reload();
          return;
        }
        const answer = await api.call("POST", "/api/v1/auth/factors/recovery-codes", proof);
        notice("New recovery codes: the old ones no longer work.");
        body.replaceChildren(recoveryCodes(answer.recovery_codes, reload));
        card.querySelector("#recovery-codes-done").focus();
      },
    );
  }

  async function reload() {
    let status;
    try {
      status = await api.call("GET", "/api/v1/auth/factors");
    } catch (error) {
      if (!(error instanceof api.SessionEnded)) fail(`Second factors unavailable: ${error.message}`);
      return;
    }
    const on = status.totp_enabled;
    body.replaceChildren(
      h(
        "dl",
        { class: "facts" },
        h("dt", { text: "Status" }),
        h("dd", { id: "totp-status", text: on ? "on" : "off" }),
        on ? [h("dt", { text: "Recovery codes left" }), h("dd", { id: "recovery-codes-left", text: String(status.recovery_codes_left) })] : null,
      ),
      on
        ? h("p", { class: "hint", text: "Both need your password and a current code: new recovery codes replace the old ones." })
        : h("p", { class: "hint", text: "An app on your phone (any TOTP app) makes a new 6-digit code every 30 seconds: with it on, a stolen password alone no longer signs in." }),
      on ? onForm(status) : offForm(),
    );
  }

  reload();
  return card;
}
