package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// WriteJSON answers with status and v as JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// ReadBody reads the body of r, at most limit bytes (a longer body is an
// error, and the connection is closed after the answer).
func ReadBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	return io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
}

// DecodeBytes decodes raw, exactly one JSON value, into v, refusing fields
// v does not have.
func DecodeBytes(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	// More only looks inside an array or object: a stray '}' or ']' after
	// the value would pass it. Anything but the end of the input is refused.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("data after the JSON value")
	}
	return nil
}

// API is what the generic handlers need of an API: who its callers are
// (bearer tokens, and verified TLS client certificates, mapped to actors
// of type A) and how it renders refusals in its own JSON error body.
type API[A comparable] struct {
	// Tokens authenticate the callers by bearer token.
	Tokens *Tokens[A]
	// Clients, if not nil, authenticate the callers by the TLS client
	// certificate their connection verified (see Auth).
	Clients *Clients[A]
	// Realm is the realm of the WWW-Authenticate header of a 401.
	Realm string
	// MaxBody is the largest request body, in bytes.
	MaxBody int64
	// Unauthorized is the JSON body of a 401.
	Unauthorized any
	// Malformed renders the words of a 400 (a body that does not decode)
	// as the API's error body.
	Malformed func(msg string) any
	// Refusal renders the error of an operation as an HTTP status and the
	// API's error body.
	Refusal func(err error) (int, any)
}

// Auth returns the caller of r, or answers 401 and returns false. A
// client certificate the connection verified names the caller through
// Clients; an unknown one is refused, whatever else the request carries,
// and a bearer token given as well must name the same caller. Without a
// certificate the bearer token names the caller.
func (x *API[A]) Auth(w http.ResponseWriter, r *http.Request) (A, bool) {
	a, ok := x.caller(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+x.Realm+`"`)
		WriteJSON(w, http.StatusUnauthorized, x.Unauthorized)
	}
	return a, ok
}

func (x *API[A]) caller(r *http.Request) (A, bool) {
	token := Bearer(r.Header.Get("Authorization"))
	cert := VerifiedCert(r.TLS)
	if cert == nil {
		return x.Tokens.Actor(token)
	}
	a, ok := x.Clients.Actor(cert)
	if !ok || token == "" {
		return a, ok
	}
	if b, ok := x.Tokens.Actor(token); !ok || b != a {
		var zero A
		return zero, false
	}
	return a, true
}

// BadRequest answers 400 with the formatted words.
func (x *API[A]) BadRequest(w http.ResponseWriter, format string, args ...any) {
	WriteJSON(w, http.StatusBadRequest, x.Malformed(fmt.Sprintf(format, args...)))
}

// WriteError answers with the refusal err.
func (x *API[A]) WriteError(w http.ResponseWriter, err error) {
	status, body := x.Refusal(err)
	WriteJSON(w, status, body)
}

// Decode reads the JSON body of r into v (see ReadBody and DecodeBytes),
// or answers 400 and returns false.
func (x *API[A]) Decode(w http.ResponseWriter, r *http.Request, v any) bool {
	raw, err := ReadBody(w, r, x.MaxBody)
	if err == nil {
		err = DecodeBytes(raw, v)
	}
	if err != nil {
		x.BadRequest(w, "request body: %v", err)
		return false
	}
	return true
}

// authorize authenticates the caller of r and checks it with allow, in
// order; a refusal is answered (401, or allow's error) and ok is false.
func (x *API[A]) authorize(w http.ResponseWriter, r *http.Request, allow []func(A) error) (a A, ok bool) {
	if a, ok = x.Auth(w, r); !ok {
		return a, false
	}
	for _, f := range allow {
		if err := f(a); err != nil {
			x.WriteError(w, err)
			return a, false
		}
	}
	return a, true
}

// Handle makes the handler of an operation with a JSON body of type T: it
// authenticates the caller, checks it with each allow (a role check,
// before the body is read), decodes the body, calls op and writes its
// answer (200) or its error.
func Handle[A comparable, T any](x *API[A], op func(ctx context.Context, a A, r *http.Request, req T) (any, error), allow ...func(A) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a, ok := x.authorize(w, r, allow)
		if !ok {
			return
		}
		var req T
		if !x.Decode(w, r, &req) {
			return
		}
		ans, err := op(r.Context(), a, r, req)
		x.answer(w, ans, err)
	}
}

// HandleGet makes the handler of an operation without a body: it
// authenticates the caller, checks it with each allow, calls op and
// writes its answer or its error.
func HandleGet[A comparable](x *API[A], op func(ctx context.Context, a A, r *http.Request) (any, error), allow ...func(A) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a, ok := x.authorize(w, r, allow)
		if !ok {
			return
		}
		ans, err := op(r.Context(), a, r)
		x.answer(w, ans, err)
	}
}

func (x *API[A]) answer(w http.ResponseWriter, ans any, err error) {
	if err != nil {
		x.WriteError(w, err)
		return
	}
	WriteJSON(w, http.StatusOK, ans)
}
