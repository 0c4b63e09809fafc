package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/stskms/stskms/internal/strictjson"
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

// InputError is a request the API cannot take as it is: a body that does
// not decode, a header that contradicts it, a field that does not parse.
// Field names the member of the body (or the header) at fault, if known.
// The APIs answer it 400 with the field.
type InputError struct {
	Field string
	Err   error
}

func (e *InputError) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *InputError) Unwrap() error { return e.Err }

// FieldError returns err as the *InputError of field, its words prefixed
// with the field's name.
func FieldError(field string, err error) error {
	return &InputError{Field: field, Err: fmt.Errorf("%s: %w", field, err)}
}

// FieldOf returns the field an error names: that of an *InputError, else
// the member of a *strictjson.Error, else "".
func FieldOf(err error) string {
	var ie *InputError
	if errors.As(err, &ie) && ie.Field != "" {
		return ie.Field
	}
	var se *strictjson.Error
	if errors.As(err, &se) {
		return se.Member
	}
	return ""
}

// RequestID is the request id of r: that of its body (body) and of its
// Idempotency-Key header, which must be the same if both are given (an
// *InputError naming both if not).
func RequestID(r *http.Request, body string) (string, error) {
	header := r.Header.Get("Idempotency-Key")
	switch {
	case header == "":
		return body, nil
	case body == "" || body == header:
		return header, nil
	}
	return "", &InputError{Field: "request_id", Err: fmt.Errorf("the Idempotency-Key header %.140q and the body's request_id %.140q differ", header, body)}
}

// NewRef returns a fresh reference for an internal error: the answer
// carries it and the server's log line shows it with the error.
func NewRef() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// DecodeBytes decodes raw, exactly one JSON value, into v strictly (see
// package strictjson): a member given twice, named other than exactly as
// v's json tags say, or that v does not have, and data after the value are
// refused with a *strictjson.Error naming the member.
func DecodeBytes(raw []byte, v any) error {
	return strictjson.Unmarshal(raw, v)
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
	// Refusal renders the error of an operation as an HTTP status and the
	// API's error body; a body that does not decode is an *InputError.
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

// WriteError answers with the refusal err.
func (x *API[A]) WriteError(w http.ResponseWriter, err error) {
	status, body := x.Refusal(err)
	WriteJSON(w, status, body)
}

// Decode reads the JSON body of r into v (see ReadBody and DecodeBytes),
// or answers its *InputError and returns false.
func (x *API[A]) Decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := ReadJSON(w, r, x.MaxBody, v); err != nil {
		x.WriteError(w, err)
		return false
	}
	return true
}

// ReadJSON reads the JSON body of r, at most limit bytes, into v strictly
// (see DecodeBytes); an error is an *InputError naming the member.
func ReadJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	raw, err := ReadBody(w, r, limit)
	if err != nil {
		return &InputError{Err: fmt.Errorf("request body: %w", err)}
	}
	return DecodeJSON(raw, v)
}

// DecodeJSON is DecodeBytes with its error an *InputError naming the
// member.
func DecodeJSON(raw []byte, v any) error {
	if err := DecodeBytes(raw, v); err != nil {
		return &InputError{Field: FieldOf(err), Err: fmt.Errorf("request body: %w", err)}
	}
	return nil
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
