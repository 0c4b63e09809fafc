package sm

import (
	"errors"
	"fmt"
)

// Code is a status code of the STS6-style API (notes kms-records.md §4): two
// characters, "00" for success, a number for each known refusal, "EE" for an
// extended error that says what it is in words. The core returns codes; the
// wire layer (sm/api, later) renders them.
type Code string

// The status codes the module returns. The numbers and their meanings are
// those seen in public code that drives STS6 (600-8-6) modules; where we
// give a number a wider meaning than seen, the constant says so.
const (
	CodeOK Code = "00"
	// CodeKeyType: the operation is not allowed under this key type: a
	// credit token under a DDTK (seen as "no credit on VDDK") and, by our
	// extension, every variant refusal of STS 600-10-1 §4.1.3 (credit
	// under a key type the variant may not use, a forbidden key change).
	CodeKeyType Code = "05"
	// CodeSlotState: the KEK slot is in the wrong state for the command,
	// or the Key Load File answers another request than the one pending.
	CodeSlotState Code = "26"
	// CodeNoSlot: no KEK slot holds that KMC key, or no slot is free.
	CodeNoSlot Code = "27"
	// CodeNoRegister: no vending key register matches, or none is free.
	CodeNoRegister Code = "28"
	// CodeCreditLimit: the register's credit limit (CLM) would be
	// exceeded.
	CodeCreditLimit Code = "31"
	// CodeKeyExpired: the TID's top 8 bits exceed the key expiry number
	// (KEN), or the KMC key (PK.ECDH.1) has expired.
	CodeKeyExpired Code = "41"
	// CodeAfterIUT: the module's time is past the key's issue-until time.
	CodeAfterIUT Code = "42"
	// CodeBeforeACT: the module's time is before the key's activation.
	CodeBeforeACT Code = "43"
	// CodeTIDWindow: the TID would run further ahead of the module's clock
	// than allowed, or beyond the 24-bit range of the key's base date.
	CodeTIDWindow Code = "44"
	// CodeSubclass: the token class or subclass is not allowed for the
	// request.
	CodeSubclass Code = "48"
	// CodeFormat: a record or token that does not parse, or whose CRC is
	// wrong.
	CodeFormat Code = "49"
	// CodeRange: a value out of range (the PTVD "field range" status).
	CodeRange Code = "63"
	// CodeMAC: a Key Load File whose MAC, key wrap or key check value does
	// not verify.
	CodeMAC Code = "77"
	// CodeAttribute: a mandatory key attribute missing or invalid.
	CodeAttribute Code = "94"
	// CodeExtended: an extended error, described in words (self-test
	// failure, role refused, live KMC refused, …).
	CodeExtended Code = "EE"
)

// Sentinel errors of the module. Every refusal the module returns is an
// *Error that matches exactly one of them with errors.Is; codeOf maps each
// to its status code.
var (
	ErrKeyType       = errors.New("sm: not allowed under this key type")
	ErrVariant       = errors.New("sm: refused by the module variant (STS 600-10-1 §4.1.3)")
	ErrSlotState     = errors.New("sm: KEK slot in wrong state")
	ErrNotPending    = errors.New("sm: Key Load File answers another request")
	ErrNoSlot        = errors.New("sm: no such KEK slot")
	ErrSlotsFull     = errors.New("sm: no free KEK slot")
	ErrNoRegister    = errors.New("sm: no vending key register matches")
	ErrRegistersFull = errors.New("sm: no free vending key register")
	ErrCreditLimit   = errors.New("sm: credit limit exhausted")
	ErrKeyExpired    = errors.New("sm: TID beyond the key expiry number")
	ErrKMCKeyExpired = errors.New("sm: KMC key expired")
	ErrAfterIUT      = errors.New("sm: key past its issue-until time")
	ErrBeforeACT     = errors.New("sm: key not yet active")
	ErrTIDWindow     = errors.New("sm: TID outside the window of the module's clock")
	ErrSubclass      = errors.New("sm: token class or subclass not allowed")
	ErrFormat        = errors.New("sm: record or token format error")
	ErrRange         = errors.New("sm: value out of range")
	ErrMAC           = errors.New("sm: Key Load File does not verify")
	ErrAttribute     = errors.New("sm: key attribute missing or invalid")

	// Extended errors (CodeExtended).
	ErrSelfTest       = errors.New("sm: module in error state")
	ErrRole           = errors.New("sm: role not allowed to do this")
	ErrLiveKMC        = errors.New("sm: KMC is on the live-KMC list; a virtual module must never be known to a live KMC (STS 600-10-1 §4.5)")
	ErrNotTestKMC     = errors.New("sm: the officer must declare the KMC a test KMC")
	ErrFingerprint    = errors.New("sm: fingerprint does not match the record")
	ErrRequestReused  = errors.New("sm: request id already used for another request")
	ErrRequestOwned   = errors.New("sm: request id belongs to another caller")
	ErrNoTables       = errors.New("sm: no STA tables for EA07")
	ErrIntegrity      = errors.New("sm: stored state fails its integrity check")
	ErrClosed         = errors.New("sm: module closed")
	ErrModuleExists   = errors.New("sm: a module exists in the directory already")
	ErrNoModule       = errors.New("sm: no module in the directory")
	ErrIdentity       = errors.New("sm: identity does not match the key custody or the database")
	ErrInvalidRequest = errors.New("sm: invalid request")
	ErrNoRollback     = errors.New("sm: no such rolled-back database to accept")
)

// codes maps each sentinel to its status code. Sentinels not listed are
// CodeExtended.
var codes = map[error]Code{
	ErrKeyType:       CodeKeyType,
	ErrVariant:       CodeKeyType,
	ErrSlotState:     CodeSlotState,
	ErrNotPending:    CodeSlotState,
	ErrNoSlot:        CodeNoSlot,
	ErrSlotsFull:     CodeNoSlot,
	ErrNoRegister:    CodeNoRegister,
	ErrRegistersFull: CodeNoRegister,
	ErrCreditLimit:   CodeCreditLimit,
	ErrKeyExpired:    CodeKeyExpired,
	ErrKMCKeyExpired: CodeKeyExpired,
	ErrAfterIUT:      CodeAfterIUT,
	ErrBeforeACT:     CodeBeforeACT,
	ErrTIDWindow:     CodeTIDWindow,
	ErrSubclass:      CodeSubclass,
	ErrFormat:        CodeFormat,
	ErrRange:         CodeRange,
	ErrMAC:           CodeMAC,
	ErrAttribute:     CodeAttribute,
}

// Error is a refusal of the module: its status code, the sentinel it
// matches, a short detail and, when another package found the problem, its
// error. Neither the detail nor the cause ever holds key material: the
// packages below the module (records, keyagree, keystore, sts) promise the
// same of their errors.
type Error struct {
	Code   Code   // the wire status
	Kind   error  // one of the sentinels above
	Detail string // what was wrong, for people; may be empty
	Cause  error  // the underlying error, or nil
}

// Error returns the refusal in words, its status code after them in
// brackets where it is a number the docs list (docs/sm.md), e.g. "sm:
// credit limit exhausted: 100 left, 150 asked [31]". An extended error
// (EE) is its words alone.
func (e *Error) Error() string {
	s := e.Text()
	if e.Code != CodeExtended && e.Code != "" {
		s += " [" + string(e.Code) + "]"
	}
	return s
}

// Text returns the refusal in words without its status code, e.g. "sm:
// credit limit exhausted: 100 left, 150 asked": the text of a wire
// format that carries the code in a field of its own (STS6).
func (e *Error) Text() string {
	s := "sm: " + trimPrefix(e.Kind.Error())
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Cause != nil {
		s += ": " + e.Cause.Error()
	}
	return s
}

// Unwrap returns the sentinel and the cause, for errors.Is and errors.As.
func (e *Error) Unwrap() []error {
	if e.Cause == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Cause}
}

func trimPrefix(s string) string {
	if len(s) > 4 && s[:4] == "sm: " {
		return s[4:]
	}
	return s
}

// refuse returns the *Error of a sentinel with a formatted detail.
func refuse(kind error, format string, args ...any) *Error {
	return &Error{Code: codeOf(kind), Kind: kind, Detail: fmt.Sprintf(format, args...)}
}

// refuseCause is refuse with the error of the package that found the
// problem.
func refuseCause(kind, cause error, format string, args ...any) *Error {
	e := refuse(kind, format, args...)
	e.Cause = cause
	return e
}

func codeOf(kind error) Code {
	if c, ok := codes[kind]; ok {
		return c
	}
	return CodeExtended
}

// CodeOf returns the status code of an error the module returned: CodeOK
// for nil, the *Error's code, or CodeExtended for any other error (a
// database or custody failure).
func CodeOf(err error) Code {
	if err == nil {
		return CodeOK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeExtended
}
