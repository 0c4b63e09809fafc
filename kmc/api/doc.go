// Package api is the HTTP/JSON admin API of the Key Management Centre:
// every administrative operation of package kmc over HTTP, documented as
// OpenAPI 3 in docs/kmc-api.yaml and served by "stskms kmc serve".
//
//	GET    /v1/identity                            identity and mode (any role)
//	GET    /v1/pubkey                              current PK.ECDH.1 and fingerprint (any role)
//	GET    /v1/keys, POST /v1/keys                 KMC keys; rotate (officer)
//	GET    /v1/supply-groups, POST …               supply groups; add (operator)
//	GET    /v1/vending-keys, POST …                vending keys by KCV; generate (officer)
//	GET    /v1/vending-keys/imports, POST …        imports under dual control (officer)
//	POST   /v1/vending-keys/imports/{id}/components  a further officer's component
//	DELETE /v1/vending-keys/imports/{id}           abandon an import
//	GET    /v1/sms, POST /v1/sms, GET /v1/sms/{ref}  registry; register (operator)
//	POST   /v1/sms/{ref}/revoke                    revoke a module (operator)
//	GET    /v1/kuas, POST /v1/kuas                 authorisations; grant (operator)
//	POST   /v1/kuas/{id}/revoke                    revoke an authorisation (operator)
//	POST   /v1/klfs, GET /v1/klfs                  issue a Key Load File (operator); list (operator, auditor)
//	POST   /v1/audit/verify                        verify the audit log (auditor, officer)
//	GET    /v1/stsa-keys, POST …                   STS Association keys; set (two officers)
//	DELETE /v1/stsa-keys/{id}                      remove an STS Association key (two officers)
//	POST   /v1/registry-updates                    apply a signed registry update (operator)
//	POST   /v1/prune                               prune old seen requests (operator)
//
// Callers authenticate with bearer tokens that the token file (TokenFile)
// maps to a kmc.Role and a name; every operation checks the role
// (kmc.Allow, and for the operations kmc.Allow does not know — STSA keys,
// registry updates, pruning — this package's own table, see allowed) and
// the KMC records the caller as "role:name" in its audit log. Plumbing shared with the security module's API (tokens, TLS and
// loopback rules, JSON bodies) is package internal/httpapi's.
//
// Request bodies are strict JSON (internal/strictjson). Refusals are JSON
// {"code", "field", "error", "params", "ref"} with a stable code: the
// kmc.Code of a refused Key Load File request (with its client-facing
// description, never the cause), or one of Codes for the administration
// errors (see errorBody); field names the member at fault, ref an internal
// error's line in the log.
//
// Creating calls take an optional request id, which belongs to the caller
// who first gave it; their answers are kept in the KMC's database
// (kmc.KMC.ClaimRequest; for POST /v1/klfs and POST /v1/registry-updates
// with the KMC's answer), as are the imports pending under dual control
// (kmc.KMC.StartImport), so every process of the KMC shares them. A
// vending key is imported under dual control, each officer posting their
// own component, and is assembled only when the quorum is complete (see
// the OpenAPI document). An STS Association key is set or removed by two
// officers at once: the caller and the one whose bearer token is in
// SecondOfficerHeader.
package api
