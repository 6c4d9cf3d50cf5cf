// A page's one door to the API (the console's and the account page's): the token pair, and
// every request made with it.
//
// The tokens live in this module's variables and nowhere else: not in localStorage,
// sessionStorage or a cookie, so no other page or script of this origin can read them
// from storage, and a reload or a closed tab lets go of them (sign in again).

import { usePasskey } from "./webauthn.js";

// Refresh this long before the access token expires, so that a request rarely meets a
// 401 at all; a 401 `invalid_token` still triggers one refresh and one retry.
const EARLY_REFRESH_MS = 30_000;

// The 401s that say the token itself no longer works (API.md, "Token checks").
const TOKEN_PROBLEMS = new Set(["", "invalid_token", "token_revoked", "not_authenticated"]);

let tokens = null; // {access, refresh, expiresAt}
let refreshing = null; // the one refresh in flight: a refresh token works only once
let sessionEnded = () => {};

export class ApiError extends Error {
  constructor(status, problem, headers) {
    super(problem.detail || problem.title || `The API answered ${status}.`);
    this.status = status;
    this.code = problem.code || "";
    // Validation problems name their fields: [{field, message}] (API.md, "Errors").
    this.fieldErrors = Array.isArray(problem.errors) ? problem.errors : [];
    this.retryAfter = headers.get("Retry-After");
    // A login that needs a second factor names its challenge and the factors that may
    // answer it: totp, recovery_code, passkey (docs/second-factors.md).
    this.challenge = problem.challenge || "";
    this.methods = Array.isArray(problem.methods) ? problem.methods : [];
  }
}

// Thrown when the page no longer holds a usable session: the handler given to
// `onSessionEnded` has already been told, so callers only stop what they were doing.
export class SessionEnded extends Error {}

// The session was ended because the change needs a recent sign-in (step-up): a view may
// offer to finish the change once the person has signed in again.
export class StepUpRequired extends SessionEnded {}

export function onSessionEnded(handler) {
  sessionEnded = handler;
}

export function signedIn() {
  return tokens !== null;
}

async function send(method, path, { body, token } = {}) {
  const headers = { Accept: "application/json, application/problem+json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  return fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "omit",
    cache: "no-store",
  });
}

async function parse(response) {
  if (response.status === 204) return null;
  const type = response.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await response.json() : {};
  if (!response.ok) throw new ApiError(response.status, data, response.headers);
  return data;
}

function keep(pair) {
  tokens = {
    access: pair.access_token,
    refresh: pair.refresh_token,
    expiresAt: Date.now() + pair.expires_in * 1000,
  };
}

function end(message, Ended = SessionEnded) {
  tokens = null;
  sessionEnded(message);
  return new Ended(message);
}

// The scopes the signed-in access token holds (its `scope` claim, RFC 9068), so a form
// offers no more than the API would grant. Read, not verified: the API still decides.
export function grantedScopes() {
  if (!tokens) return [];
  try {
    const payload = tokens.access.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return String(JSON.parse(atob(payload)).scope || "").split(" ").filter(Boolean);
  } catch {
    return [];
  }
}

export async function signIn(username, password) {
  keep(await parse(await send("POST", "/api/v1/auth/login", { body: { username, password } })));
}

// A passkey alone (a discoverable credential names its account), or, given the challenge
// of a password login, the passkey as that login's second step.
export async function signInWithPasskey(challenge = "") {
  const body = challenge ? { challenge } : {};
  const options = await parse(await send("POST", "/api/v1/auth/login/passkey/options", { body }));
  const passkey = { ceremony: options.ceremony, credential: await usePasskey(options.public_key) };
  const answer = challenge
    ? send("POST", "/api/v1/auth/login/second-factor", { body: { challenge, passkey } })
    : send("POST", "/api/v1/auth/login/passkey", { body: passkey });
  keep(await parse(await answer));
}

// What the person typed as the API's answer: a TOTP code (six digits) or a recovery code
// (anything else).
export function codeAnswer(code) {
  return /^\d{6}$/.test(code.trim()) ? { code: code.trim() } : { recovery_code: code };
}

// The second step of a login whose password answered 403 second_factor_required.
export async function signInWithCode(challenge, code) {
  const body = { challenge, ...codeAnswer(code) };
  keep(await parse(await send("POST", "/api/v1/auth/login/second-factor", { body })));
}

function refresh() {
  if (refreshing) return refreshing;
  const held = tokens;
  refreshing = (async () => {
    try {
      const body = { refresh_token: held.refresh };
      const pair = await parse(await send("POST", "/api/v1/auth/refresh", { body }));
      if (tokens === held) keep(pair); // else signed out meanwhile: keep nothing
    } catch (error) {
      if (error instanceof ApiError && error.status < 500) {
        throw end("Your session has ended. Sign in again.");
      }
      throw error; // the API is unreachable for now: keep the session, let the user retry
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

async function problemCode(response) {
  try {
    return (await response.clone().json()).code || "";
  } catch {
    return "";
  }
}

// One API call as the signed-in user: the JSON answer, null for a 204, or an
// ApiError. An expired access token is refreshed once and the call repeated.
export async function call(method, path, body) {
  if (!tokens) throw end("Sign in first.");
  if (tokens.expiresAt - Date.now() < EARLY_REFRESH_MS) await refresh();
  const used = tokens.access;
  let response = await send(method, path, { body, token: used });
  if (response.status === 401 && (await problemCode(response)) === "invalid_token") {
    if (!tokens) throw new SessionEnded();
    if (tokens.access === used) await refresh();
    response = await send(method, path, { body, token: tokens.access });
  }
  if (response.status === 401) {
    const code = await problemCode(response);
    // Step-up (RFC 9470): the change needs a recent sign-in, with a second factor where
    // the account has one; a new sign-in is the way to it.
    if (code === "insufficient_user_authentication") {
      // The new sign-in starts a session of its own: this one is ended, not left live.
      await signOut();
      throw end(
        "This change needs a recent sign-in (with your second factor, if you have one). Sign in again.",
        StepUpRequired,
      );
    }
    // token_revoked (signed out elsewhere, this session ended, roles changed) or a refresh
    // that did not help: nothing the page can do but ask for a new sign-in. Any other 401
    // is about the request (a wrong code, a refused passkey): the caller shows it.
    if (TOKEN_PROBLEMS.has(code)) throw end("Your session has ended. Sign in again.");
  }
  return parse(response);
}

// Revoke the session (its refresh token, and the access token with it) and forget both.
export async function signOut() {
  const held = tokens;
  tokens = null;
  if (!held) return;
  try {
    await send("POST", "/api/v1/auth/logout", {
      body: { refresh_token: held.refresh },
      token: held.access,
    });
  } catch {
    // Unreachable: the tokens are forgotten here all the same and expire on their own.
  }
}
