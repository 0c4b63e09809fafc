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

// A passkey-confirmed step (a form marked data-confirm): the form without
// its secret fields (data-secret) asks for the passkey's signature of its
// operation; the whole form goes only with that signature. The secret
// fields are cleared after the step, done or not.
async function confirmStep(form) {
  const button = form.querySelector("button[type=submit]");
  const whole = new URLSearchParams(new FormData(form));
  const open = new URLSearchParams();
  for (const [name, value] of whole) {
    const field = form.elements.namedItem(name);
    if (!(field && field.dataset && "secret" in field.dataset)) { open.append(name, value); }
  }
  button.disabled = true;
  showStatus("Waiting for your passkey…", false);
  try {
    if (!window.PublicKeyCredential) { throw new Error("this browser cannot use passkeys"); }
    const csrf = whole.get("csrf");
    const options = await post(form.action + "/begin", { form: open.toString() }, csrf);
    const credential = await navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options.publicKey) });
    const done = await post(form.action + "/finish", { form: whole.toString(), credential: credential.toJSON() }, csrf);
    showStatus("Done: " + done.done + " Reload the page to see the list as it is now.", false);
  } catch (e) {
    showStatus("Not done: " + e.message, true);
  } finally {
    form.querySelectorAll("[data-secret]").forEach(function (field) { field.value = ""; });
    button.disabled = false;
  }
}

document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      confirmStep(form);
    });
  });
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
