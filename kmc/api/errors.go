package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/stskms/stskms/internal/httpapi"
	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/records"
	"github.com/stskms/stskms/sts"
)

// ErrorBody is the JSON of a refusal: a stable code, words for people and,
// for a refused Key Load File request, the code's parameters.
//
// Field names the member of the request (or the header) at fault, if one
// is; Ref, on an internal error, the reference of its line in the
// server's log.
type ErrorBody struct {
	Code   kmc.Code `json:"code"`
	Field  string   `json:"field,omitempty"`
	Error  string   `json:"error"`
	Params []string `json:"params,omitempty"`
	Ref    string   `json:"ref,omitempty"`
}

// String says the refusal as a client's error does.
func (b ErrorBody) String() string {
	s := "kmc/api: " + string(b.Code) + ": " + b.Error
	if b.Ref != "" {
		s += " (ref " + b.Ref + ")"
	}
	return s
}

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
	EUnknownOfficer  kmc.Code = "EUnknownOfficer"  // kmc.ErrUnknownOfficer: a part from someone not a registered officer (403)
	EKcv             kmc.Code = "EKcv"             // kmc.ErrKCV (422)
	ENoIdentity      kmc.Code = "ENoIdentity"      // kmc.ErrNoIdentity (409)
	ENoCurrentKey    kmc.Code = "ENoCurrentKey"    // kmc.ErrNoCurrentKey (409)
	ERequestReused   kmc.Code = "ERequestReused"   // kmc.ErrRequestReused: a request id given again with another body (409)
	ERequestOwned    kmc.Code = "ERequestOwned"    // kmc.ErrRequestOwned: another caller's request id (409)
	ERecord          kmc.Code = "ERecord"          // a record or value of packages records or sts that does not parse (422)
	ESealed          kmc.Code = "ESealed"          // the serving KMC is sealed until its officers unseal it (503)
	ESecondOfficer   kmc.Code = "ESecondOfficer"   // dual control: no valid token of a second, distinct officer in SecondOfficerHeader (403)
)

// Codes lists the API's own codes; a refused Key Load File request carries
// one of kmc.Codes instead.
var Codes = []kmc.Code{EUnauthenticated, ERole, EBadRequest, EInvalid, ENotFound, EExists, EMode, ERevoked, EVariant,
	EDualControl, EUnknownOfficer, EKcv, ENoIdentity, ENoCurrentKey, ERequestReused, ERequestOwned, ERecord, ESealed, ESecondOfficer}

// adminErrors maps the sentinel errors of package kmc (and the API's own)
// to their code and HTTP status, in the order they are tested.
var adminErrors = []struct {
	err    error
	code   kmc.Code
	status int
}{
	{kmc.ErrRole, ERole, http.StatusForbidden},
	{kmc.ErrRequestReused, ERequestReused, http.StatusConflict},
	{kmc.ErrRequestOwned, ERequestOwned, http.StatusConflict},
	{kmc.ErrUnknownOfficer, EUnknownOfficer, http.StatusForbidden},
	{errSecondOfficer, ESecondOfficer, http.StatusForbidden},
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

// inputErrors are the sentinels of the packages that parse the API's
// input (records, sts): a value that does not parse (422 ERecord).
var inputErrors = []error{records.ErrUnknownType, records.ErrFieldCount, records.ErrIdent, records.ErrTime,
	records.ErrHex, records.ErrLowerHex, records.ErrLength, records.ErrPoint, records.ErrDecimal, records.ErrRange,
	records.ErrChoice, records.ErrCRC, records.ErrPKIDType, records.ErrKeyHash, records.ErrValue, records.ErrSpec,
	records.ErrStructure, records.ErrDuplicate, records.ErrSignature,
	sts.ErrFormat, sts.ErrCRC, sts.ErrReserved, sts.ErrRange, sts.ErrNoKey, sts.ErrKey, sts.ErrCheckDigit,
	sts.ErrBeforeBaseDate, sts.ErrTIDRollover, sts.ErrAmountTooLarge}

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
	var ie *httpapi.InputError
	if errors.As(err, &ie) {
		code := EBadRequest
		if errors.Is(err, kmc.ErrInvalid) {
			code = EInvalid
		}
		return http.StatusBadRequest, ErrorBody{Code: code, Field: httpapi.FieldOf(err), Error: err.Error()}
	}
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
			b := ErrorBody{Code: a.code, Error: err.Error()}
			switch a.code {
			case ERequestReused, ERequestOwned:
				b.Field = "request_id"
			case ESecondOfficer:
				b.Field = SecondOfficerHeader
			}
			return a.status, b
		}
	}
	for _, k := range inputErrors {
		if errors.Is(err, k) {
			return http.StatusUnprocessableEntity, ErrorBody{Code: ERecord, Error: err.Error()}
		}
	}
	return http.StatusInternalServerError, ErrorBody{Code: kmc.EInternal, Error: "internal error"}
}

// Explain says how the API answers err, for another front end of the same
// KMC (the console): its HTTP status and words, or 0 and "" for an
// internal error, whose words are not for the caller.
func Explain(err error) (status int, text string) {
	status, b := errorBody(err)
	if status >= http.StatusInternalServerError {
		return 0, ""
	}
	if b.Field != "" && !strings.Contains(b.Error, b.Field) {
		return status, b.Field + ": " + b.Error
	}
	return status, b.Error
}
