// stskms console: the passkey ceremonies. The only script of the console;
// served from its own origin (the Content-Security-Policy allows no other).
"use strict";

function showStatus(text, isError) {
  const el = document.getElementById("status");
  if (!el) { return; }
  el.textContent = text;
  el.classList.toggle("error", !!isError);
}

async function post(url, body, csrf) {
  const headers = { "Content-Type": "application/json" };
  if (csrf) { headers["X-CSRF-Token"] = csrf; }
  const res = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: headers,
    body: body === undefined ? "{}" : JSON.stringify(body),
  });
  let answer = {};
  try { answer = await res.json(); } catch (e) { answer = {}; }
  if (!res.ok) { throw new Error(answer.error || ("the server answered " + res.status)); }
  return answer;
}

async function ceremony(button, run) {
  if (!window.PublicKeyCredential) {
    showStatus("This browser cannot use passkeys.", true);
    return;
  }
  button.disabled = true;
  showStatus("Waiting for your passkey…", false);
  try {
    const options = await post(button.dataset.begin, undefined, button.dataset.csrf);
    const credential = await run(options.publicKey);
    const done = await post(button.dataset.finish, credential.toJSON(), button.dataset.csrf);
    showStatus("Done.", false);
    window.location.assign(done.next || "/console/");
  } catch (e) {
    showStatus("Not done: " + e.message, true);
    button.disabled = false;
    button.focus();
  }
}

document.addEventListener("DOMContentLoaded", function () {
  const register = document.getElementById("passkey-register");
  if (register) {
    register.addEventListener("click", function () {
      ceremony(register, function (publicKey) {
        return navigator.credentials.create({ publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(publicKey) });
      });
    });
  }
  // A two-person approval step: the passkey signs the proposal's challenge.
  const approval = document.getElementById("passkey-approval");
  if (approval) {
    approval.addEventListener("click", function () {
      ceremony(approval, function (publicKey) {
        return navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(publicKey) });
      });
    });
  }
  const signin = document.getElementById("passkey-signin");
  if (signin) {
    signin.addEventListener("click", function () {
      ceremony(signin, function (publicKey) {
        return navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(publicKey) });
      });
    });
  }
});
