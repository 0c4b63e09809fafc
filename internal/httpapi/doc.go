// Package httpapi is what the HTTP/JSON APIs of stskms share — the
// security module's (sm/api) and the KMC's (kmc/api):
//
//   - bearer tokens read from a token file (Tokens, LoadTokenFile,
//     WriteTestTokenFile) and mapped to the caller (an actor of the API's
//     own role model); tokens are held and compared as SHA-256 hashes, so
//     no lookup compares a secret byte by byte;
//   - TLS client certificates, verified against client CAs (WithClientCA)
//     and mapped to the caller by a client file (Clients, LoadClientFile):
//     API.Auth takes a known certificate, refuses an unknown one, and with
//     a bearer token as well wants both to name the same caller;
//   - the listen rules: TLS, or plain HTTP on a loopback address only,
//     judged on the address bound (Listen, ListenGuarded, CheckBound,
//     IsLoopback, TLSConfig), connections capped and Accept kept alive
//     through exhaustion (package internal/netguard), timeouts
//     (NewHTTPServer, NewHTTPServerWith);
//   - JSON bodies: bounded in size, one value, unknown fields refused
//     (ReadBody, DecodeBytes), answers (WriteJSON), and a generic handler
//     (API, Handle) that authenticates, decodes, calls the operation and
//     writes its answer or its error in the API's own error body;
//   - the client side (Client, StatusError, Call).
//
// Of this module it imports only other internal packages.
package httpapi
