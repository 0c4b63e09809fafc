package httpapi_test

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stskms/stskms/internal/httpapi"
)

// TestRequestID: the Idempotency-Key header and the body's request_id
// must agree; a conflict is an *InputError naming both.
func TestRequestID(t *testing.T) {
	for _, c := range []struct {
		header, body, want string
		ok                 bool
	}{
		{"", "", "", true},
		{"h", "", "h", true},
		{"", "b", "b", true},
		{"x", "x", "x", true},
		{"h", "b", "", false},
	} {
		r := httptest.NewRequest("POST", "/", nil)
		if c.header != "" {
			r.Header.Set("Idempotency-Key", c.header)
		}
		id, err := httpapi.RequestID(r, c.body)
		if id != c.want || (err == nil) != c.ok {
			t.Errorf("header %q, body %q: %q, %v", c.header, c.body, id, err)
		}
		var ie *httpapi.InputError
		if err != nil && (!errors.As(err, &ie) || ie.Field != "request_id" || !strings.Contains(err.Error(), `"h"`) ||
			!strings.Contains(err.Error(), `"b"`) || !strings.Contains(err.Error(), "Idempotency-Key")) {
			t.Errorf("conflict: %v", err)
		}
	}
}

func TestFieldOf(t *testing.T) {
	var v struct {
		A int `json:"a"`
	}
	err := httpapi.DecodeJSON([]byte(`{"a":1,"a":2}`), &v)
	if httpapi.FieldOf(err) != "a" {
		t.Errorf("FieldOf(%v) = %q", err, httpapi.FieldOf(err))
	}
	if f := httpapi.FieldOf(httpapi.FieldError("meter.pan", errors.New("x"))); f != "meter.pan" {
		t.Errorf("FieldOf(FieldError) = %q", f)
	}
	if f := httpapi.FieldOf(errors.New("x")); f != "" {
		t.Errorf("FieldOf(plain error) = %q", f)
	}
}
