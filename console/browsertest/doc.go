// Package browsertest holds the operator console's tests in a real
// browser: headless Chromium driven over the DevTools protocol
// (github.com/chromedp/chromedp), with the DevTools WebAuthn virtual
// authenticator standing in for a person's passkey. It has no code of its
// own; its tests run the console of a test-mode KMC (console/kmcconsole)
// and of a test module (console/smconsole). See docs/console.md.
package browsertest
