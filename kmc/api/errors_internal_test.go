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
	"github.com/stskms/stskms/internal/httpapi"
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
	for n, e := range samples {
		for _, err := range []error{e, fmt.Errorf("context: %w", e)} {
			if status, body := errorBody(err); status >= 500 || status < 400 || body.Code == "" {
				t.Errorf("%s: %d %+v", n, status, body)
			}
		}
		if status, body := errorBody(httpapi.FieldError("sgc", e)); status != http.StatusBadRequest || body.Field != "sgc" {
			t.Errorf("%s as the error of a field: %d %+v", n, status, body)
		}
	}
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
	status, b := s.refusal(errors.New("database at /secret/path is gone"))
	body := b.(ErrorBody)
	if status != http.StatusInternalServerError || body.Code != kmc.EInternal || len(body.Ref) != 16 ||
		strings.Contains(body.Error, "secret") {
		t.Fatalf("internal error: %d %+v", status, body)
	}
	if line := logged.String(); !strings.Contains(line, body.Ref) || !strings.Contains(line, "/secret/path") {
		t.Fatalf("log %q does not show ref %s with the error", line, body.Ref)
	}
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
