package smmail

import (
	"crypto/tls"
	"errors"
	"strconv"
	"strings"

	"github.com/stskms/stskms/gwresult"
)

// Error is an Error result of the gateway (or a Blocked notice, which
// ends a request as surely): its code, the gateway's
// description and parameters. errors.Is matches it against the sentinel of
// its code (ErrUnknownService …), and CodeOf returns the code.
type Error struct {
	Service string
	Result  gwresult.Result
	Reply   *Reply
}

// Error is the service and the gateway's result: kind, code, text and
// parameters.
func (e *Error) Error() string {
	kind := "error"
	if e.Result.Kind == gwresult.Notice {
		kind = "notice"
	}
	s := "smmail: " + e.Service + ": gateway " + kind + " " + e.Result.Code + ": " + e.Result.Text
	if len(e.Result.Params) > 0 {
		s += " (" + strings.Join(e.Result.Params, "; ") + ")"
	}
	return s
}

// Code returns the error code.
func (e *Error) Code() string { return e.Result.Code }

// Is reports whether target is the sentinel of e's code.
func (e *Error) Is(target error) bool {
	c, ok := target.(codeError)
	return ok && string(c) == e.Result.Code
}

// codeError is the sentinel of one error code.
type codeError string

func (c codeError) Error() string { return "smmail: gateway error " + string(c) }

// Sentinels, one per Error code of the gateway (package gwresult).
var (
	ErrUnknownService      error = codeError(gwresult.EUnknownService)
	ErrNotPlainText        error = codeError(gwresult.ENotPlainText)
	ErrAttachment          error = codeError(gwresult.EAttachment)
	ErrNotAuthorisedSender error = codeError(gwresult.ENotAuthorisedSender)
	ErrNotAvailable        error = codeError(gwresult.ENotAvailable)
	ErrRecordFormat        error = codeError(gwresult.ERecordFormat)
	ErrRecordCrc           error = codeError(gwresult.ERecordCrc)
	ErrUnknownKmc          error = codeError(gwresult.EUnknownKmc)
	ErrKmcKeyExpired       error = codeError(gwresult.EKmcKeyExpired)
	ErrVkloadExpired       error = codeError(gwresult.EVkloadExpired)
	ErrTagInvalid          error = codeError(gwresult.ETagInvalid)
	ErrUnknownSm           error = codeError(gwresult.EUnknownSm)
	ErrVkloadReplayed      error = codeError(gwresult.EVkloadReplayed)
	ErrSmRevoked           error = codeError(gwresult.ESmRevoked)
	ErrSmNotCertified      error = codeError(gwresult.ESmNotCertified)
	ErrSmNotAuthorised     error = codeError(gwresult.ESmNotAuthorised)
	ErrNoVendingKeys       error = codeError(gwresult.ENoVendingKeys)
	ErrInternal            error = codeError(gwresult.EInternal)
	// ErrBlocked: a Blocked notice; the gateway ignores requests until the
	// time in its parameter, and dropped this one.
	ErrBlocked error = codeError(gwresult.Blocked)
)

// ErrorCode returns the sentinel of an error code: errors.Is(err,
// ErrorCode("EUnknownSm")) is true for an Error carrying that code.
func ErrorCode(code string) error { return codeError(code) }

// CodeOf returns the gateway error code carried by err, or "".
func CodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Result.Code
	}
	return ""
}

// Advice returns what the operator should do about an error code: the
// gateway's published description, or "" for an unknown code.
func Advice(code string) string {
	if c, ok := gwresult.Lookup(code); ok && c.Kind == gwresult.Failure {
		return c.Description
	}
	return ""
}

// Other errors.
var (
	// ErrLiveKMC: the gateway address is the live KMC's; a software module
	// never talks to it.
	ErrLiveKMC = errors.New("smmail: refusing to mail the live KMC gateway (stsa_kmc_01@stskms.org.za): a software module never talks to the live KMC")
	// ErrTimeout: no final reply came in time.
	ErrTimeout = errors.New("smmail: no final reply in time")
)

// CertificateError is a TLS certificate of the SMTP or IMAP server that
// does not verify for the server name (wrong name, unknown CA, expired).
// It is final: the client does not try again.
type CertificateError struct {
	// Proto is "SMTP" or "IMAP".
	Proto string
	// Server is the address dialled, host:port.
	Server string
	// ServerName is the name the certificate was verified for.
	ServerName string
	// Err is the verification error.
	Err error
}

// Error names the server, the name verified and what is wrong.
func (e *CertificateError) Error() string {
	return "smmail: the TLS certificate of " + e.Proto + " server " + e.Server + " does not verify for server name " +
		strconv.Quote(e.ServerName) + ": " + e.Err.Error()
}

// Unwrap returns the verification error.
func (e *CertificateError) Unwrap() error { return e.Err }

// certificateError returns err as a *CertificateError when it is a
// certificate verification failure, else err.
func certificateError(proto, server, serverName string, err error) error {
	var ve *tls.CertificateVerificationError
	if errors.As(err, &ve) {
		return &CertificateError{Proto: proto, Server: server, ServerName: serverName, Err: ve}
	}
	return err
}
