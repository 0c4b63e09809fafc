package api_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/kmc/api"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
)

// TestRegisterVirtualDefault: POST /v1/sms without "virtual" takes the
// KMC's default (kmc.DefaultVirtual), as kmc sm register does: a virtual
// module on a test KMC, a hardware one on a live KMC, which refuses a
// virtual module saying to use a test KMC.
func TestRegisterVirtualDefault(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := start(t, db, setup{mode: kmc.ModeTest})
		text, _, _ := newTestSM(t, "sts-test-sm", "94000001").request(e, e.clock.Now())
		var m api.SM
		e.do("operator", "POST", "/v1/sms", api.RegisterRequest{Request: text, Variant: "vending"}, &m)
		if !m.Virtual || m.Certified {
			t.Errorf("test KMC, virtual not given: %+v, want a virtual module", m)
		}
	})
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := start(t, db, setup{mode: kmc.ModeLive})
		text, _, _ := newTestSM(t, "sts-test-sm", "94000001").request(e, e.clock.Now())
		err := e.as("operator").Do(e.ctx, "POST", "/v1/sms", api.RegisterRequest{Request: text, Variant: "vending", Virtual: new(true)}, nil)
		refused(t, "virtual module, live KMC", err, http.StatusForbidden, api.EMode)
		var se *api.StatusError
		if errors.As(err, &se) && !strings.Contains(se.Body.Error, "kmc init --mode test") {
			t.Errorf("refusal %q does not point to a test KMC", se.Body.Error)
		}
		var m api.SM
		e.do("operator", "POST", "/v1/sms", api.RegisterRequest{Request: text, Variant: "vending"}, &m)
		if m.Virtual {
			t.Errorf("live KMC, virtual not given: %+v, want a hardware module", m)
		}
	})
}
