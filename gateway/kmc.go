package gateway

import (
	"context"
	"errors"
	"fmt"

	"github.com/stskms/stskms/gwresult"
)

// KMC is all the gateway needs of the Key Management Centre. The gateway
// never imports package kmc; an adapter implements this interface.
//
// Errors: a refusal is a *ServiceError carrying a stable code (see gwresult.Codes),
// which the gateway sends as a final Error result. Any other error, and a
// *ServiceError with Temporary set, is transient: the gateway sends one
// Notice<TAB>Deferred, tries again with back-off, and after its last
// attempt answers EInternal.
type KMC interface {
	// PublicKey returns the KMC's current public key.
	PublicKey(ctx context.Context) (PublicKeyInfo, error)

	// IssueKLF answers one VKLOAD.REQ.1 with a Key Load File, or refuses
	// it (ERecordFormat, ERecordCrc, EUnknownKmc, EKmcKeyExpired,
	// EVkloadExpired, ETagInvalid, EUnknownSm, EVkloadReplayed,
	// ESmRevoked, ESmNotCertified, ESmNotAuthorised, ENoVendingKeys, and
	// ENotAuthorisedSender when a ReplyTo address is not registered for
	// the module — checked before the file is issued, so that a refused
	// request is not used up).
	//
	// It must be idempotent per req.ID: the gateway calls it again with
	// the same ID when it crashed after the call and before it stored the
	// reply, and must then get the same Key Load File (or the same
	// refusal), never a second, different one and never EVkloadReplayed
	// for its own earlier issue.
	IssueKLF(ctx context.Context, req KLFRequest) (KLF, error)

	// ApplyRegistryUpdate applies a signed SM registry update file sent by
	// an STS Association sender ({KMS:SmUpdateStsEd2}) and returns a
	// one-line summary for the reply. A KMC without the service returns a
	// *ServiceError with code ENotAvailable. Like IssueKLF it must be
	// idempotent per upd.ID.
	ApplyRegistryUpdate(ctx context.Context, upd RegistryUpdate) (string, error)
}

// PublicKeyInfo is the KMC's current public key.
type PublicKeyInfo struct {
	// Fingerprint is the 16 hex digits printed as "KMC Public Key
	// Fingerprint: …" (docs/formats.md §3).
	Fingerprint string
	// Record is the one-line PK.ECDH.1 record.
	Record string
}

// KLFRequest is one {KMS:GetKlfStsEd2} request.
type KLFRequest struct {
	// ID identifies the request mail, unique across gateways and time
	// (random); the key of IssueKLF's idempotency.
	ID string
	// Request is the one-line VKLOAD.REQ.1 record, as found in the mail.
	Request string
	// ReplyTo are the addresses the Key Load File would be sent to; every
	// one must be registered for the module.
	ReplyTo []string
}

// KLF is an issued Key Load File.
type KLF struct {
	// SMID is the SMID PKID of the module (its text); the attachment is
	// named after its id.
	SMID string
	// Bodies are the one-line records: KLF.HDR.1, VK.1…, KLF.END.1.
	Bodies []string
}

// RegistryUpdate is one {KMS:SmUpdateStsEd2} request.
type RegistryUpdate struct {
	// ID identifies the request mail (see KLFRequest.ID).
	ID string
	// File is the attached update file, as sent.
	File []byte
	// FileName is the attachment's name, if it had one.
	FileName string
	// Sender is the authorised sender address it came from.
	Sender string
}

// ServiceError is a refusal with a stable code, from the KMC or the
// gateway. The gateway sends Code, Description (or the documented text of
// Code when empty) and Params to the requester; Err is for the log only.
type ServiceError struct {
	// Code is the error code, e.g. EVkloadExpired.
	Code string
	// Description is the client-facing text: what went wrong and what to
	// do, never internal detail. Empty means the text gwresult.Codes documents.
	Description string
	// Params are the code's client-facing parameters.
	Params []string
	// Temporary marks a transient failure worth trying again.
	Temporary bool
	// Err is the cause, for the operator's log; may be nil.
	Err error
}

// Error is the code, whether it is temporary, and the cause for the log;
// the requester sees Result's rendering instead.
func (e *ServiceError) Error() string {
	s := "gateway: " + e.Code
	if e.Temporary {
		s += " (temporary)"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *ServiceError) Unwrap() error { return e.Err }

// Refusal returns a *ServiceError of code with the given cause, for the
// log.
func Refusal(code string, cause error, params ...string) *ServiceError {
	return &ServiceError{Code: code, Params: params, Err: cause}
}

// result returns the Error result the requester gets.
func (e *ServiceError) result() gwresult.Result {
	r := errorResult(e.Code, e.Params...)
	if e.Description != "" {
		r.Text = e.Description
	}
	return r
}

// classify splits a service error into a final result (ok) or a transient
// failure (!ok).
func classify(err error) (gwresult.Result, bool) {
	var se *ServiceError
	if errors.As(err, &se) && !se.Temporary {
		if se.Code == "" {
			return errorResult(gwresult.EInternal), true
		}
		return se.result(), true
	}
	return gwresult.Result{}, false
}

// errInternal makes a transient error of the gateway's own.
func errInternal(format string, args ...any) error {
	return &ServiceError{Code: gwresult.EInternal, Temporary: true, Err: fmt.Errorf(format, args...)}
}
