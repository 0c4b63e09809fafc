package kmc

import (
	"errors"
	"fmt"
	"strings"
)

// Code is the stable code of a refused Key Load File request, as the e-mail
// gateway puts it into X-Gateway-Result (Error<TAB>code<TAB>description…,
// STS 600-9-2 §8.3.2): a CamelCase identifier with prefix E. The codes
// follow docs/notes/kms-records.md §3.6; docs/kmc.md lists them all.
// A code, once published, never changes its meaning.
type Code string

// The codes of IssueKLF, IssueKLFWith and IssueKLFText, in the order the
// checks run.
const (
	// ERecordFormat: no VKLOAD.REQ.1, more than one, or one that does not
	// parse (a field, a PKID, a public key); also an SMID whose key hash
	// does not name the request's public key.
	ERecordFormat Code = "ERecordFormat"
	// ERecordCrc: the request is well-formed but a CRC does not verify.
	ERecordCrc Code = "ERecordCrc"
	// EUnknownKmc: the request names a KMC key (KMCID) that is not one of
	// this KMC's keys.
	EUnknownKmc Code = "EUnknownKmc"
	// EKmcKeyExpired: the request names a key of this KMC that is past its
	// expiry.
	EKmcKeyExpired Code = "EKmcKeyExpired"
	// EVkloadExpired: the request time is outside the freshness window
	// around the KMC's clock (the seed's own example code).
	EVkloadExpired Code = "EVkloadExpired"
	// ETagInvalid: the request's tag does not verify: it was not made by
	// the holder of the SM key it names, or was altered.
	ETagInvalid Code = "ETagInvalid"
	// EUnknownSm: the security module is not in the registry (or is
	// registered with another public key).
	EUnknownSm Code = "EUnknownSm"
	// EVkloadReplayed: a Key Load File was already issued for this request
	// (same SMID and request time).
	EVkloadReplayed Code = "EVkloadReplayed"
	// ESmRevoked: the security module's registration is revoked.
	ESmRevoked Code = "ESmRevoked"
	// ESmNotCertified: a live KMC and a module that is virtual (software)
	// or not certified (STS 600-10-1 §4.5).
	ESmNotCertified Code = "ESmNotCertified"
	// ENotAuthorisedSender: an address the file is to be sent to is not
	// registered for the module.
	ENotAuthorisedSender Code = "ENotAuthorisedSender"
	// ESmNotAuthorised: the module holds no key-use authorisation valid now.
	ESmNotAuthorised Code = "ESmNotAuthorised"
	// ENoVendingKeys: the module is authorised, but no vending key it is
	// authorised for may be issued (none generated, or all past EXP).
	ENoVendingKeys Code = "ENoVendingKeys"
	// EInternal: the KMC failed (database, key custody); trying again
	// later may succeed.
	EInternal Code = "EInternal"
)

// Codes lists every code, in the order of the checks.
var Codes = []Code{ERecordFormat, ERecordCrc, EUnknownKmc, EKmcKeyExpired, EVkloadExpired, ETagInvalid,
	EUnknownSm, EVkloadReplayed, ESmRevoked, ESmNotCertified, ENotAuthorisedSender, ESmNotAuthorised, ENoVendingKeys,
	EInternal}

// The codes of ApplyRegistryUpdate, the STS Association's registry update
// ({KMS:SmUpdateStsEd2}), in the order its checks run. They are not in
// Codes, which lists those of a Key Load File request.
const (
	// ENotAvailable: the KMC has no STS Association key configured, so it
	// takes no registry update (the gateway's code of the same name).
	ENotAvailable Code = "ENotAvailable"
	// ESmUpdateRecord: the update is not a file of SMREG records as
	// docs/formats.md §9 defines it: a record that does not parse, a CRC,
	// an SMID whose key hash does not name its public key, a record out of
	// place or counts that disagree. Params: the record's position (0 for
	// the file as a whole).
	ESmUpdateRecord Code = "ESmUpdateRecord"
	// ESmUpdateUnknownKey: the update names an STS Association key this KMC
	// is not configured with. Params: the key id.
	ESmUpdateUnknownKey Code = "ESmUpdateUnknownKey"
	// ESmUpdateSignature: the signature does not verify under the key the
	// update names. Params: the key id.
	ESmUpdateSignature Code = "ESmUpdateSignature"
	// ESmUpdateStale: the update's sequence number is not greater than
	// that of the last update applied (a replay, or one overtaken).
	// Params: its sequence number, the last applied.
	ESmUpdateStale Code = "ESmUpdateStale"
	// ESmUpdateConflict: a record contradicts the registry or another
	// record: a module listed twice, another variant than registered, a
	// module registered as virtual (or a software model) listed by the STS
	// Association. Params: the record's position, the SMID.
	ESmUpdateConflict Code = "ESmUpdateConflict"
)

// UpdateCodes lists the codes of ApplyRegistryUpdate, in the order of its
// checks; EInternal applies too.
var UpdateCodes = []Code{ENotAvailable, ESmUpdateRecord, ESmUpdateUnknownKey, ESmUpdateSignature, ESmUpdateStale,
	ESmUpdateConflict}

// descriptions are the client-facing texts: what went wrong and what to
// do, never internal detail.
var descriptions = map[Code]string{
	ERecordFormat:        "The VKLOAD.REQ.1 is missing or malformed; send exactly one request record, unaltered, in plain text",
	ERecordCrc:           "A CRC of the VKLOAD.REQ.1 does not verify; the request was altered in transit, send it again unaltered",
	EUnknownKmc:          "The VKLOAD.REQ.1 is made for a KMC key this KMC does not hold; get the current public key ({KMS:GetPublicKey}) and make a new request",
	EKmcKeyExpired:       "The KMC key the VKLOAD.REQ.1 is made for has expired; get the current public key ({KMS:GetPublicKey}) and make a new request",
	EVkloadExpired:       "The VKLOADREQ is stale; generate a fresh VKLOADREQ and try again",
	ETagInvalid:          "The tag of the VKLOAD.REQ.1 does not verify; make a new request with the security module",
	EUnknownSm:           "The security module is not registered with this KMC; ask the KMC operator to register it",
	EVkloadReplayed:      "A Key Load File was already issued for this VKLOAD.REQ.1; generate a fresh request",
	ESmRevoked:           "The security module's registration is revoked; contact the KMC operator",
	ESmNotCertified:      "This KMC issues Key Load Files only to certified hardware security modules",
	ENotAuthorisedSender: "Your address is not registered for this request: a Key Load File goes only to addresses registered for the security module, a registry update is taken only from the STS Association; send the request from a registered address",
	ESmNotAuthorised:     "The security module holds no key-use authorisation; ask the KMC operator for one",
	ENoVendingKeys:       "No vending key the security module is authorised for can be issued; contact the KMC operator",
	EInternal:            "The KMC could not process the request; try again later",

	ENotAvailable:       "This service is not available at this KMC; contact the KMC operator",
	ESmUpdateRecord:     "The registry update file is malformed (the parameter names the record, 0 for the whole file); nothing was applied, correct the file and send it again",
	ESmUpdateUnknownKey: "The registry update is signed with a key this KMC is not configured with; nothing was applied, ask the KMC operator to configure your key",
	ESmUpdateSignature:  "The signature of the registry update does not verify; nothing was applied, sign the file again and send it unaltered",
	ESmUpdateStale:      "The registry update's sequence number is not greater than that of the last update applied; nothing was applied, send a newer update",
	ESmUpdateConflict:   "A record of the registry update contradicts the KMC's registry or another record; nothing was applied, contact the KMC operator",
}

// Description returns the code's client-facing description (with guidance
// on how to proceed), or "" for an unknown code.
func (c Code) Description() string { return descriptions[c] }

// Error is a refused Key Load File request: a stable Code, the
// client-facing Params (SMID, request time, …: values the requester sent or
// may know) and, for the KMC's own log only, the underlying cause. The
// wire layer renders Code, Code.Description() and Params; it must not send
// Error() or the cause to a requester.
type Error struct {
	Code   Code
	Params []string
	// Err is the cause, with detail for the operator's log (never key
	// material); may be nil.
	Err error
}

// Error returns the refusal in words, its code after them in brackets for
// the docs (docs/kmc.md), e.g. "kmc: request made 20250103T120000Z, now
// 20250103T130000Z [EVkloadExpired]"; without a cause, the code's
// description.
func (e *Error) Error() string {
	words := e.Code.Description()
	if e.Err != nil {
		words = strings.TrimPrefix(e.Err.Error(), "kmc: ")
	}
	if words == "" {
		words = "refused"
	}
	return "kmc: " + words + " [" + string(e.Code) + "]"
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// refuse returns an *Error of code c with a cause formatted like
// fmt.Errorf (so %w wraps).
func refuse(c Code, params []string, format string, args ...any) *Error {
	return &Error{Code: c, Params: params, Err: fmt.Errorf(format, args...)}
}

// internal wraps an unexpected failure as EInternal.
func internal(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: EInternal, Err: err}
}

// CodeOf returns the code of err: that of the *Error in its chain, "" for
// nil, EInternal for any other error.
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// Errors of the administration functions (supply groups, vending keys,
// registry, authorisations, KMC keys). Callers test them with errors.Is;
// the returned errors wrap them with which object and which value, never
// with key material.
var (
	// ErrInvalid: an argument out of its range or form (an SGC of 7 digits,
	// DKGA 03, an e-mail address that does not parse, …).
	ErrInvalid = errors.New("kmc: invalid argument")
	// ErrNotFound: no such supply group, vending key, module, authorisation
	// or KMC key.
	ErrNotFound = errors.New("kmc: not found")
	// ErrExists: the object exists already (a supply group, a module, the
	// KMC's identity), or a KRN is still held by a vending key that may be
	// issued.
	ErrExists = errors.New("kmc: exists already")
	// ErrMode: the operation is refused in this KMC's mode (a virtual
	// module registered with a live KMC), or the key custody's mode does
	// not match the KMC's.
	ErrMode = errors.New("kmc: refused in this mode")
	// ErrRevoked: the module or authorisation is revoked already.
	ErrRevoked = errors.New("kmc: revoked")
	// ErrVariant: a variant rule: a vending module may not be authorised
	// for initialization keys.
	ErrVariant = errors.New("kmc: not allowed for the module's variant")
	// ErrDualControl: a key import without components from at least two
	// different officers.
	ErrDualControl = errors.New("kmc: dual control: components from at least two different officers needed")
	// ErrKCV: a key component or an imported key does not match its key
	// check value.
	ErrKCV = errors.New("kmc: key check value mismatch")
	// ErrNoIdentity: the KMC has no identity yet (Setup was not run).
	ErrNoIdentity = errors.New("kmc: KMC not set up")
	// ErrNoCurrentKey: every KMC key has expired; rotate.
	ErrNoCurrentKey = errors.New("kmc: no unexpired KMC key")
	// ErrRequestReused: a request id given again with another request.
	ErrRequestReused = errors.New("kmc: request id used before for another request")
	// ErrRequestOwned: a request id another caller used; its answer is
	// that caller's.
	ErrRequestOwned = errors.New("kmc: request id belongs to another caller")
)

// failed returns err with what failed in front of it ("kmc: failed to
// add supply group: exists already: supply group 000001"), without
// repeating the "kmc: " that err's own text may begin with. It unwraps
// to err.
func failed(what string, err error) error { return &failure{what: what, err: err} }

type failure struct {
	what string
	err  error
}

func (f *failure) Error() string {
	return "kmc: failed to " + f.what + ": " + strings.TrimPrefix(f.err.Error(), "kmc: ")
}

func (f *failure) Unwrap() error { return f.err }
