package metrics

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stskms/stskms/internal/testparty"
	"github.com/stskms/stskms/keyload"
	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/records"
	"github.com/stskms/stskms/records/armor"
	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/sm/api/apitest"
	"github.com/stskms/stskms/sts"
)

// scrape returns what s serves at /metrics.
func scrape(t *testing.T, s *Set) string {
	t.Helper()
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: %d %s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

// wantLines fails unless text has each of lines.
func wantLines(t *testing.T, text string, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !strings.Contains("\n"+text, "\n"+l+"\n") {
			t.Errorf("no line %q in:\n%s", l, text)
		}
	}
}

// TestSMMetrics: the module's metrics count the token requests answered
// by class from its store (a second Set on the same module sees them: no
// process memory), and time the API's requests by method and code.
func TestSMMetrics(t *testing.T) {
	ctx := context.Background()
	m, err := apitest.Setup(ctx, filepath.Join(t.TempDir(), "sm"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for range 3 {
		if _, err := m.Credit(ctx, sm.Operator.As("pos"), sm.CreditRequest{Meter: apitest.Meter(1), Sub: sts.Electricity, Amount: 10}); err != nil {
			t.Fatal(err)
		}
	}
	s := SM(m)
	api := s.Instrument(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", http.StatusForbidden) }))
	api.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/v1/credit", nil))
	wantLines(t, scrape(t, s), `stskms_sm_token_requests_total{class="credit"} 3`,
		`stskms_sm_api_request_duration_seconds_count{code="403",method="post"} 1`)
	wantLines(t, scrape(t, SM(m)), `stskms_sm_token_requests_total{class="credit"} 3`)
	m.Close()
	if text := scrape(t, s); strings.Contains(text, "stskms_sm_token_requests_total{") {
		t.Errorf("a closed module's counts:\n%s", text)
	}
}

// TestKMCMetrics: the KMC's metrics count the Key Load Files issued and
// the refusals by code from its audit log.
func TestKMCMetrics(t *testing.T) {
	ctx := context.Background()
	k, err := kmc.Init(ctx, filepath.Join(t.TempDir(), "kmc"), kmc.InitOptions{Mode: kmc.ModeTest, Actor: "officer:setup"})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	key, pkid := testparty.Module(t, "sm-94000002", "94000002")
	if _, err := k.RegisterSM(ctx, "operator:setup", kmc.SM{SMID: pkid, PublicKey: key.PublicKey(), Model: "Test-SSM-1",
		Firmware: "SSM1V100", Variant: kmc.Manufacturing, Virtual: true, Emails: []string{"ops@utility.example"}}); err != nil {
		t.Fatal(err)
	}
	wantLines(t, scrape(t, KMC(k)), "stskms_kmc_klfs_issued_total 0")
	current, err := k.CurrentKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	text, err := kmc.FormatPublicKey(current)
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := armor.Find(text)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := records.ParsePKECDH(blocks[0].Body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := keyload.NewRequest(keyload.Module{Key: key, PKID: pkid}, pk, time.Now(), "Test-SSM-1", "SSM1V100")
	if err != nil {
		t.Fatal(err)
	}
	_, err = k.IssueKLF(ctx, "gateway", req)
	code := kmc.CodeOf(err)
	if code == "" {
		t.Fatalf("a module without authorisations: %v", err)
	}
	wantLines(t, scrape(t, KMC(k)), "stskms_kmc_klfs_issued_total 0", `stskms_kmc_klf_refusals_total{code="`+string(code)+`"} 1`)
}
