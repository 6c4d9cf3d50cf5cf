// The browser's half of the passkey ceremonies. The API speaks WebAuthn Level 3's JSON form
// (docs/second-factors.md), which the browser parses and writes itself
// (PublicKeyCredential.parse*OptionsFromJSON, credential.toJSON()): no base64url by hand.

export class PasskeyUnavailable extends Error {}

export function passkeysSupported() {
  return (
    typeof PublicKeyCredential === "function" &&
    typeof PublicKeyCredential.parseRequestOptionsFromJSON === "function" &&
    typeof PublicKeyCredential.parseCreationOptionsFromJSON === "function"
  );
}

// The browser says NotAllowedError both when the person cancels and when no passkey of
// theirs fits: it keeps which one from the page on purpose (no probing for accounts).
function explained(error) {
  if (error && error.name === "NotAllowedError") {
    return new PasskeyUnavailable("No passkey was used: the request was cancelled, timed out, or found no passkey for this site.");
  }
  if (error && error.name === "InvalidStateError") {
    return new PasskeyUnavailable("This authenticator already holds a passkey of this account.");
  }
  return new PasskeyUnavailable(`The passkey could not be used: ${error && error.message ? error.message : error}`);
}

function required() {
  if (!passkeysSupported()) throw new PasskeyUnavailable("This browser cannot use passkeys here.");
}

// `navigator.credentials.get()` with the API's request options; the assertion as JSON.
export async function usePasskey(publicKey) {
  required();
  try {
    const options = PublicKeyCredential.parseRequestOptionsFromJSON(publicKey);
    return (await navigator.credentials.get({ publicKey: options })).toJSON();
  } catch (error) {
    throw explained(error);
  }
}

// `navigator.credentials.create()` with the API's creation options; the new credential as JSON.
export async function createPasskey(publicKey) {
  required();
  try {
    const options = PublicKeyCredential.parseCreationOptionsFromJSON(publicKey);
    return (await navigator.credentials.create({ publicKey: options })).toJSON();
  } catch (error) {
    throw explained(error);
  }
}
