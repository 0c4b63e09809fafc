package api

import (
	"errors"
	"net/http"

	"github.com/stskms/stskms/kmc"
)

// ErrorBody is the JSON of a refusal: a stable code, words for people and,
// for a refused Key Load File request, the code's parameters.
type ErrorBody struct {
	Code   kmc.Code `json:"code"`
	Error  string   `json:"error"`
	Params []string `json:"params,omitempty"`
}

// String says the refusal as a client's error does.
func (b ErrorBody) String() string { return "kmc/api: " + string(b.Code) + ": " + b.Error }

// The codes of the API's own refusals and of the administration errors of
// package kmc (its sentinel errors). A refused Key Load File request
// carries the kmc.Code of its *kmc.Error (ERecordFormat … EInternal). A
// code, once published, never changes its meaning; docs/kmc-api.yaml
// lists them all.
const (
	EUnauthenticated kmc.Code = "EUnauthenticated" // no valid bearer token (401)
	ERole            kmc.Code = "ERole"            // kmc.ErrRole (403)
	EBadRequest      kmc.Code = "EBadRequest"      // a body that does not decode, a bad query (400)
	EInvalid         kmc.Code = "EInvalid"         // kmc.ErrInvalid (400)
	ENotFound        kmc.Code = "ENotFound"        // kmc.ErrNotFound, an unknown import (404)
	EExists          kmc.Code = "EExists"          // kmc.ErrExists (409)
	EMode            kmc.Code = "EMode"            // kmc.ErrMode (403)
	ERevoked         kmc.Code = "ERevoked"         // kmc.ErrRevoked (409)
	EVariant         kmc.Code = "EVariant"         // kmc.ErrVariant (422)
	EDualControl     kmc.Code = "EDualControl"     // kmc.ErrDualControl (409)
	EKcv             kmc.Code = "EKcv"             // kmc.ErrKCV (422)
	ENoIdentity      kmc.Code = "ENoIdentity"      // kmc.ErrNoIdentity (409)
	ENoCurrentKey    kmc.Code = "ENoCurrentKey"    // kmc.ErrNoCurrentKey (409)
	ERequestReused   kmc.Code = "ERequestReused"   // a request id given again with another body (409)
)

// Codes lists the API's own codes; a refused Key Load File request carries
// one of kmc.Codes instead.
var Codes = []kmc.Code{EUnauthenticated, ERole, EBadRequest, EInvalid, ENotFound, EExists, EMode, ERevoked, EVariant,
	EDualControl, EKcv, ENoIdentity, ENoCurrentKey, ERequestReused}

// adminErrors maps the sentinel errors of package kmc (and the API's own)
// to their code and HTTP status, in the order they are tested.
var adminErrors = []struct {
	err    error
	code   kmc.Code
	status int
}{
	{kmc.ErrRole, ERole, http.StatusForbidden},
	{errRequestReused, ERequestReused, http.StatusConflict},
	{errNoImport, ENotFound, http.StatusNotFound},
	{kmc.ErrDualControl, EDualControl, http.StatusConflict},
	{kmc.ErrKCV, EKcv, http.StatusUnprocessableEntity},
	{kmc.ErrVariant, EVariant, http.StatusUnprocessableEntity},
	{kmc.ErrNotFound, ENotFound, http.StatusNotFound},
	{kmc.ErrExists, EExists, http.StatusConflict},
	{kmc.ErrMode, EMode, http.StatusForbidden},
	{kmc.ErrRevoked, ERevoked, http.StatusConflict},
	{kmc.ErrNoIdentity, ENoIdentity, http.StatusConflict},
	{kmc.ErrNoCurrentKey, ENoCurrentKey, http.StatusConflict},
	{kmc.ErrInvalid, EInvalid, http.StatusBadRequest},
}

// klfStatus is the HTTP status of each refusal of a Key Load File request
// or a registry update.
var klfStatus = map[kmc.Code]int{
	kmc.ERecordFormat:        http.StatusUnprocessableEntity,
	kmc.ERecordCrc:           http.StatusUnprocessableEntity,
	kmc.EUnknownKmc:          http.StatusUnprocessableEntity,
	kmc.EKmcKeyExpired:       http.StatusUnprocessableEntity,
	kmc.EVkloadExpired:       http.StatusUnprocessableEntity,
	kmc.ETagInvalid:          http.StatusUnprocessableEntity,
	kmc.EUnknownSm:           http.StatusNotFound,
	kmc.EVkloadReplayed:      http.StatusConflict,
	kmc.ESmRevoked:           http.StatusForbidden,
	kmc.ESmNotCertified:      http.StatusForbidden,
	kmc.ENotAuthorisedSender: http.StatusForbidden,
	kmc.ESmNotAuthorised:     http.StatusForbidden,
	kmc.ENoVendingKeys:       http.StatusConflict,
	kmc.EInternal:            http.StatusInternalServerError,
	kmc.ENotAvailable:        http.StatusConflict,
	kmc.ESmUpdateRecord:      http.StatusUnprocessableEntity,
	kmc.ESmUpdateUnknownKey:  http.StatusUnprocessableEntity,
	kmc.ESmUpdateSignature:   http.StatusUnprocessableEntity,
	kmc.ESmUpdateStale:       http.StatusConflict,
	kmc.ESmUpdateConflict:    http.StatusConflict,
}

// errorBody renders err. A refused Key Load File request shows its code's
// client-facing description and parameters, never its cause (which may
// name internals); an administration error its words (which name the
// object and value, never key material); anything else is an internal
// error whose words are not shown.
func errorBody(err error) (int, ErrorBody) {
	var e *kmc.Error
	if errors.As(err, &e) {
		status, ok := klfStatus[e.Code]
		if !ok { // a refusal of another kmc operation: the input's fault
			status = http.StatusUnprocessableEntity
		}
		return status, ErrorBody{Code: e.Code, Error: e.Code.Description(), Params: e.Params}
	}
	for _, a := range adminErrors {
		if errors.Is(err, a.err) {
			return a.status, ErrorBody{Code: a.code, Error: err.Error()}
		}
	}
	return http.StatusInternalServerError, ErrorBody{Code: kmc.EInternal, Error: "internal error"}
}
