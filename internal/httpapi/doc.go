// Package httpapi is what the HTTP/JSON APIs of stskms share — the
// security module's (sm/api) and the KMC's (kmc/api):
//
//   - bearer tokens read from a token file (Tokens, LoadTokenFile,
//     WriteTestTokenFile) and mapped to the caller (an actor of the API's
//     own role model); tokens are held and compared as SHA-256 hashes, so
//     no lookup compares a secret byte by byte;
//   - the listen rules: TLS, or plain HTTP on a loopback address only
//     (Listen, IsLoopback, TLSConfig, NewHTTPServer);
//   - JSON bodies: bounded in size, one value, unknown fields refused
//     (ReadBody, DecodeBytes), answers (WriteJSON), and a generic handler
//     (API, Handle) that authenticates, decodes, calls the operation and
//     writes its answer or its error in the API's own error body.
//
// It imports only the standard library.
package httpapi
