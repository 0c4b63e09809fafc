package api

import (
	"errors"
	"testing"
	"time"

	"github.com/stskms/stskms/internal/httpapi"
	"github.com/stskms/stskms/kmc"
)

// FuzzRequestBodies feeds arbitrary bodies to the decoding of the creating
// requests and the conversion of their attributes and components: nothing
// panics, and a refused value is kmc.ErrInvalid.
func FuzzRequestBodies(f *testing.F) {
	for _, s := range []string{
		`{"sgc":123456,"type":"VUDK"}`,
		`{"sgc":1,"type":"VDDK","dkga":2,"ea":7,"clm":"0000FFFF","ken":3,"act":"2025-01-01T00:00:00Z"}`,
		`{"sgc":1,"type":"X","clm":"zz"}`,
		`{"sgc":1,"type":"VCDK","quorum":3,"kcv":"AABBCC","component":{"value":"00ff","kcv":"123456"}}`,
		`{"component":{"value":"0g","kcv":""}}`,
	} {
		f.Add([]byte(s))
	}
	now := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, raw []byte) {
		var req StartImportRequest
		if httpapi.DecodeBytes(raw, &req) != nil {
			return
		}
		if _, err := req.Attributes(now); err != nil && !errors.Is(err, kmc.ErrInvalid) {
			t.Fatalf("attributes: %v", err)
		}
		c, err := req.Component.KeyComponent("officer")
		if err != nil && !errors.Is(err, kmc.ErrInvalid) {
			t.Fatalf("component: %v", err)
		}
		clear(c.Value)
	})
}
