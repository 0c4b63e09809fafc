package api

import (
	"bytes"
	"errors"
	"fmt"
	"log"
	"maps"
	"net/http"
	"strings"
	"testing"

	"github.com/stskms/stskms/internal/errwalk"
	"github.com/stskms/stskms/kmc"
)

// kmcErrors is an error of each kind package kmc exports, by qualified
// name.
var kmcErrors = map[string]error{
	"kmc.ErrInvalid": kmc.ErrInvalid, "kmc.ErrNotFound": kmc.ErrNotFound, "kmc.ErrExists": kmc.ErrExists,
	"kmc.ErrMode": kmc.ErrMode, "kmc.ErrRevoked": kmc.ErrRevoked, "kmc.ErrVariant": kmc.ErrVariant,
	"kmc.ErrDualControl": kmc.ErrDualControl, "kmc.ErrKCV": kmc.ErrKCV, "kmc.ErrNoIdentity": kmc.ErrNoIdentity,
	"kmc.ErrNoCurrentKey": kmc.ErrNoCurrentKey, "kmc.ErrRequestReused": kmc.ErrRequestReused,
	"kmc.ErrRequestOwned": kmc.ErrRequestOwned, "kmc.ErrRole": kmc.ErrRole, "kmc.ErrUnknownOfficer": kmc.ErrUnknownOfficer,
	"kmc.Error": &kmc.Error{Code: kmc.ERecordFormat, Err: errors.New("detail")},
}

// TestEveryErrorIsAnswered walks every exported error of packages sts,
// records and kmc (found in their source, so that a new one cannot be
// forgotten) and shows that the API answers each, bare, wrapped or as the
// input error of a field, with a status other than 500; and every code of
// a refused Key Load File request but EInternal likewise.
func TestEveryErrorIsAnswered(t *testing.T) {
	samples := errwalk.Samples()
	maps.Copy(samples, kmcErrors)
	errwalk.Check(t, samples, "../../sts", "../../records", "..")
	errwalk.CheckAnswered(t, samples, func(err error) errwalk.Answer { return answer(errorBody(err)) }, "sgc")
	for _, c := range kmc.Codes {
		if status, _ := errorBody(&kmc.Error{Code: c}); (status >= 500) != (c == kmc.EInternal) {
			t.Errorf("%s: %d", c, status)
		}
	}
}

// TestInternalErrorRef: a genuine internal error is 500 without its
// words, and with a reference that the server's log line shows with them.
func TestInternalErrorRef(t *testing.T) {
	var logged bytes.Buffer
	s := &Server{log: log.New(&logged, "", 0)}
	errwalk.CheckInternal(t, func(err error) errwalk.Answer {
		status, body := s.refusal(err)
		return answer(status, body.(ErrorBody))
	}, string(kmc.EInternal), &logged)
}

// answer is what the client is told in status and body.
func answer(status int, body ErrorBody) errwalk.Answer {
	return errwalk.Answer{Status: status, Code: string(body.Code), Field: body.Field, Ref: body.Ref, Text: body.Error}
}

// TestDigestKeepsNoSecret: the digest stored with a request id is made
// without a component's value (a digest of it would be a test of guesses).
func TestDigestKeepsNoSecret(t *testing.T) {
	req := StartImportRequest{RequestID: "a", VKAttributes: VKAttributes{SGC: 123456, Type: "VCDK"},
		Component: Component{Value: "00112233445566778899aabbccddeeff00112233", KCV: "A1B2C3"}}
	other := req
	other.Component.Value = "ffeeddccbbaa99887766554433221100ffeeddcc"
	other.RequestID = ""
	d1, err1 := requestDigest(req)
	d2, err2 := requestDigest(other)
	if err1 != nil || err2 != nil || d1 != d2 {
		t.Fatalf("digests %s, %s (%v, %v): the value or the request id counts", d1, d2, err1, err2)
	}
	other.Component.KCV = "000000"
	if d3, _ := requestDigest(other); d3 == d1 {
		t.Fatal("the KCV does not count")
	}
}

// TestExplain: the console is told an administration error's status and
// words, and nothing of an internal error.
func TestExplain(t *testing.T) {
	if status, text := Explain(fmt.Errorf("grant: %w", kmc.ErrRole)); status != http.StatusForbidden || !strings.Contains(text, "grant") {
		t.Errorf("role: %d %q", status, text)
	}
	if status, text := Explain(errors.New("disk on fire at /var/lib")); status != 0 || text != "" {
		t.Errorf("internal: %d %q", status, text)
	}
}
