// Package gwresult is the vocabulary of the e-mail gateway's replies: the
// X-Gateway-Result header of STS 600-9-2 §8.3.2 (Result, Parse, Header) and
// its error and notice codes with their descriptions (Codes). The gateway
// writes it and a mail client reads it; it imports only the standard
// library, so a client (package smmail, an integrator's software) links
// nothing of the gateway's server side.
package gwresult

import (
	"errors"
	"fmt"
	"strings"
)

// Kind is the first element of an X-Gateway-Result (STS 600-9-2 §8.3.2).
type Kind string

const (
	// Success: a final result; the reply has the structure the service
	// describes.
	Success Kind = "Success"
	// Failure ("Error" on the wire): a final result; the request failed.
	Failure Kind = "Error"
	// Notice: not a result; more mail about the request follows.
	Notice Kind = "Notice"
)

// Result is what a reply says in its X-Gateway-Result header, HTAB-separated
// exactly as STS 600-9-2 §8.3.2 gives it:
//
//	Success<TAB>summary
//	Error<TAB>code<TAB>description<TAB>params…
//	Notice<TAB>code<TAB>message<TAB>params…
//
// It is data: the gateway builds Results, Header renders them, Parse reads
// them back.
type Result struct {
	Kind Kind
	// Code is the error code (E…) or the notice code; empty for Success.
	Code string
	// Text is the summary, the error description or the notice message:
	// client-facing, with guidance on what to do, never internal detail.
	Text string
	// Params are the code's parameters (Error and Notice only).
	Params []string
}

// HeaderName is the name of the result header.
const HeaderName = "X-Gateway-Result"

// maxLen bounds the header value so that the field, never folded, stays
// within RFC 5322's 998 characters a line.
const maxLen = 998 - len(HeaderName) - 2

// Header returns the header value: the elements joined by HTAB, each made
// safe for a single unfolded header line by Clean, the whole cut to fit one line.
func (r Result) Header() string {
	elems := []string{string(r.Kind)}
	if r.Kind == Success {
		elems = append(elems, r.Text)
	} else {
		elems = append(elems, r.Code, r.Text)
		elems = append(elems, r.Params...)
	}
	var b strings.Builder
	for i, e := range elems {
		if i > 0 {
			b.WriteByte('\t')
		}
		b.WriteString(Clean(e))
	}
	s := b.String()
	if len(s) > maxLen {
		s = s[:maxLen]
	}
	return s
}

// Clean returns s as one element of the result header: printable ASCII,
// runs of white space (HTAB, CR and LF included) as one space, trimmed.
// Other characters become "?".
func Clean(s string) string {
	var b strings.Builder
	space := false
	for _, c := range s {
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			space = b.Len() > 0
			continue
		case c < 0x20 || c >= 0x7F:
			c = '?'
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(c)
	}
	return b.String()
}

// String returns the header value with its tabs shown as " | ", for logs.
func (r Result) String() string { return strings.ReplaceAll(r.Header(), "\t", " | ") }

// Final reports whether the result is final (Success or Error).
func (r Result) Final() bool { return r.Kind != Notice }

// ErrMalformed is returned by Parse for a header value that is not one of
// the three forms.
var ErrMalformed = errors.New("gwresult: malformed " + HeaderName)

// Parse parses an X-Gateway-Result header value (unfolded: a fold before an
// HTAB keeps the HTAB, RFC 5322 §2.2.3). It is what an integrator's
// software does with a reply.
func Parse(v string) (Result, error) {
	v = strings.TrimRight(v, "\r\n")
	v = strings.ReplaceAll(v, "\r\n", "")
	elems := strings.Split(v, "\t")
	for i := range elems {
		elems[i] = strings.TrimSpace(elems[i])
	}
	switch Kind(elems[0]) {
	case Success:
		if len(elems) != 2 {
			return Result{}, fmt.Errorf("%w: Success with %d elements", ErrMalformed, len(elems))
		}
		return Result{Kind: Success, Text: elems[1]}, nil
	case Failure, Notice:
		if len(elems) < 3 || elems[1] == "" {
			return Result{}, fmt.Errorf("%w: %s without code and text", ErrMalformed, elems[0])
		}
		r := Result{Kind: Kind(elems[0]), Code: elems[1], Text: elems[2]}
		if len(elems) > 3 {
			r.Params = elems[3:]
		}
		return r, nil
	}
	return Result{}, fmt.Errorf("%w: first element %q", ErrMalformed, Clean(elems[0]))
}
