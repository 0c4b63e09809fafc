// Package unseal lets the officers unseal a running service whose key
// custody is a sealed store: the service starts sealed, listens on a Unix
// socket inside its directory that only its own user may reach, and takes
// each officer's passphrase there (stskms kmc unseal, stskms sm unseal),
// checking it at once against the store. After the last officer it hands
// every component to its caller, which opens the KMC or module and serves
// until sealed again (stskms kmc seal): the [Gate] is the state, the
// [Client] the other end.
//
// The protocol is one small JSON request per connection, answered by one
// JSON [Status]. A passphrase is never echoed, logged or audited, and is
// cleared once handed over or discarded.
package unseal

import (
	"errors"
	"fmt"
	"strings"

	"github.com/stskms/stskms/internal/strictjson"
)

// The operations of a request.
const (
	OpStatus = "status" // the service's state
	OpUnseal = "unseal" // one officer's part: Officer and Passphrase
	OpSeal   = "seal"   // seal at once (emergency)
)

// MaxRequest is the longest request, in bytes.
const MaxRequest = 4 << 10

// maxAnswer bounds an answer the client reads.
const maxAnswer = 64 << 10

// Request is what a client sends: an operation, and for OpUnseal the
// officer's name and passphrase (base64 in JSON, so that it can be
// cleared).
type Request struct {
	Op         string `json:"op"`
	Officer    string `json:"officer,omitempty"`
	Passphrase []byte `json:"passphrase,omitempty"`
}

// ErrRequest is matched by the error of a request that does not parse or
// breaks the protocol.
var ErrRequest = errors.New("unseal: bad request")

// ParseRequest parses one request strictly (internal/strictjson). It never
// panics, and its errors never hold the passphrase. On an error nothing is
// returned (a decoded passphrase is cleared).
func ParseRequest(b []byte) (Request, error) {
	if len(b) > MaxRequest {
		return Request{}, fmt.Errorf("%w: longer than %d bytes", ErrRequest, MaxRequest)
	}
	var r Request
	if err := strictjson.Unmarshal(b, &r); err != nil {
		clear(r.Passphrase)
		return Request{}, fmt.Errorf("%w: %v", ErrRequest, err)
	}
	if err := r.check(); err != nil {
		clear(r.Passphrase)
		return Request{}, err
	}
	return r, nil
}

func (r Request) check() error {
	switch r.Op {
	case OpStatus, OpSeal:
		if r.Officer != "" || r.Passphrase != nil {
			return fmt.Errorf("%w: %q takes no officer or passphrase", ErrRequest, r.Op)
		}
	case OpUnseal:
		if r.Officer == "" || len(r.Officer) > 256 {
			return fmt.Errorf("%w: officer: want a name of 1 to 256 bytes", ErrRequest)
		}
		if len(r.Passphrase) == 0 {
			return fmt.Errorf("%w: passphrase: missing", ErrRequest)
		}
	default:
		return fmt.Errorf("%w: op: want status, unseal or seal", ErrRequest)
	}
	return nil
}

// Status is a service's answer to every request: its state and, if the
// request was refused, why.
type Status struct {
	Service string `json:"service"` // e.g. "kmc-serve"
	PID     int    `json:"pid"`
	Sealed  bool   `json:"sealed"`
	// Officers are every officer of the store, in order; Unsealed those
	// who have given their passphrase since the service was last sealed.
	Officers []string `json:"officers"`
	Unsealed []string `json:"unsealed"`
	// Refused counts the refused requests since the service started.
	Refused int `json:"refused"`
	// Error is the refusal of this request, empty if it was done.
	Error string `json:"error,omitempty"`
	// Socket is the socket the client reached (set by the client).
	Socket string `json:"socket,omitempty"`
}

// State says the state in words: "unsealed", or "sealed (1 of 2 officers:
// alice)".
func (s Status) State() string {
	if !s.Sealed {
		return "unsealed"
	}
	st := fmt.Sprintf("sealed (%d of %d officers", len(s.Unsealed), len(s.Officers))
	if len(s.Unsealed) > 0 {
		st += ": " + strings.Join(s.Unsealed, ", ")
	}
	return st + ")"
}

// SealedMessage is what a sealed service answers on its APIs.
func (s Status) SealedMessage(cmd string) string {
	return fmt.Sprintf("sealed: %d of %d officers have unsealed; run `%s`", len(s.Unsealed), len(s.Officers), cmd)
}
