// Package console is the core of the operator console of a KMC or a
// security module (docs/console.md): server-rendered pages under
// /console/ with passkey sign-in (WebAuthn, github.com/go-webauthn/webauthn),
// enrolment by a one-time code made on the command line, sessions with
// idle and absolute timeouts, a CSRF token on every state-changing form,
// a Content-Security-Policy without inline script, and an audit record,
// naming the person, of every console action.
//
// The core knows no component: what a console shows and who may do what
// come from a [Site] — package console/kmcconsole for a KMC, package
// console/smconsole for a security module — whose Allow is the
// component's own role table (kmc.Allow, sm.Allow), so the console and
// the APIs share one authorisation engine. Accounts, passkeys, enrolment
// codes and sessions live in the component's database ([Store],
// migration component "console"), and audit records go to the
// component's audit log in the same transaction as the change they
// record.
package console
