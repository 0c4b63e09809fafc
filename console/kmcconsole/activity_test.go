package kmcconsole

import (
	"context"
	"errors"
	"maps"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stskms/stskms/console"
	"github.com/stskms/stskms/gateway"
	"github.com/stskms/stskms/gwresult"
	"github.com/stskms/stskms/internal/role"
	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
)

// chartOf reads the chart name of the site's activity page as a, with
// query q.
func chartOf(t *testing.T, s console.Site, name string, a role.Actor, q string) (*console.Chart, error) {
	t.Helper()
	v, _ := url.ParseQuery(q)
	for _, c := range s.Pages[pageIndex(t, s, "activity")].Charts {
		if c.Name == name {
			return c.Chart(context.Background(), a, console.Query{Values: v})
		}
	}
	t.Fatalf("no chart %q", name)
	return nil, nil
}

// totals sums each series of c.
func totals(c *console.Chart) map[string]float64 {
	out := map[string]float64{}
	for _, s := range c.Series {
		for _, v := range s.Values {
			out[s.Name] += v
		}
	}
	return out
}

// TestActivityKLFs: the activity page charts the Key Load Files issued
// and the refusals by code, in the step they were made, and draws them
// as SVG; a role that may not list them is refused; without a gateway its
// charts are empty.
func TestActivityKLFs(t *testing.T) {
	f := newFixture(t)
	f.issueAndRefuse()
	site := Site(f.k, Options{})
	if p := site.Pages[pageIndex(t, site, "activity")]; p.Op != kmc.OpKLFList {
		t.Errorf("activity page op %q", p.Op)
	}
	for _, q := range []string{"", "period=30d"} {
		klfs := must(chartOf(t, site, "klfs", auditor, q))
		refusals := must(chartOf(t, site, "refusals", operator, q))
		if got := totals(klfs); len(got) != 1 || got["issued"] != 1 {
			t.Errorf("%q: files issued %v, want issued: 1", q, got)
		}
		if got := totals(refusals); len(got) != 1 || got[string(kmc.ESmNotAuthorised)] != 2 {
			t.Errorf("%q: refusals %v, want %s: 2", q, got, kmc.ESmNotAuthorised)
		}
		if last := refusals.Rows()[refusals.Period.Steps-1]; strings.Join(last.Cells, ",") != "2" {
			t.Errorf("%q: the refusals are not in the last step: %+v", q, last)
		}
		svg := string(must(refusals.SVG()))
		if !strings.Contains(svg, ">"+string(kmc.ESmNotAuthorised)+"</text>") || !strings.HasPrefix(svg, "<?xml") {
			t.Errorf("%q: the refusals chart does not name its code", q)
		}
		for _, name := range []string{"requests", "latency"} {
			if c := must(chartOf(t, site, name, auditor, q)); len(totals(c)) > 2 || totals(c)["mean"] != 0 || totals(c)["Success"] != 0 {
				t.Errorf("%s without a gateway: %v", name, totals(c))
			}
		}
	}
	if _, err := chartOf(t, site, "refusals", officer, ""); !errors.Is(err, kmc.ErrRole) {
		t.Errorf("an officer's refusals chart: %v, want kmc.ErrRole", err)
	}
	if _, err := chartOf(t, site, "klfs", role.Actor{Name: "nobody"}, ""); !errors.Is(err, kmc.ErrRole) {
		t.Errorf("no role's files chart: %v, want kmc.ErrRole", err)
	}
}

// TestActivityGateway: the gateway's final replies are charted by result
// in the step they were made, and the latency of those handed to the
// relay, from the queue's store.
func TestActivityGateway(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newGatewayFixture(t, db)
		// Mail 5 was replied an hour ago, its reply handed to the relay 2.5 s
		// after the mail was accepted; mails 1 and 2 were replied two days ago.
		hourAgo := time.Now().Add(-time.Hour)
		f.exec(`UPDATE gateway_outbox SET created_ns = $1, sent_ns = (SELECT received_ns FROM gateway_mail WHERE id = 5) + 2500000000
			WHERE mail_id = 5`, hourAgo.UnixNano())
		f.exec(`UPDATE gateway_outbox SET created_ns = $1 WHERE mail_id <> 5`, time.Now().Add(-48*time.Hour).UnixNano())
		// Mails 1 and 5 were answered Success, mail 2 EUnknownService.
		f.exec(`UPDATE gateway_outbox SET result = $1 WHERE mail_id <> 2`, gwresult.Result{Kind: gwresult.Success, Text: "Help"}.Header())
		f.exec(`UPDATE gateway_outbox SET result = $1 WHERE mail_id = 2`,
			gwresult.Result{Kind: gwresult.Failure, Code: gwresult.EUnknownService, Text: "No such service"}.Header())
		for q, want := range map[string]map[string]float64{"": {"Success": 1}, "period=30d": {"Success": 2, gwresult.EUnknownService: 1}} {
			c, err := chartOf(t, f.site, "requests", carol, q)
			if err != nil {
				t.Fatal(err)
			}
			if got := totals(c); !maps.Equal(got, want) {
				t.Errorf("%q: requests %v, want %v", q, got, want)
			}
		}
		c, err := chartOf(t, f.site, "latency", carol, "")
		if err != nil {
			t.Fatal(err)
		}
		i, _ := c.Step(hourAgo)
		if mean, slowest := c.Series[0].Values[i], c.Series[1].Values[i]; mean != 2.5 || slowest != 2.5 {
			t.Errorf("latency an hour ago: mean %v, slowest %v; want 2.5 s", mean, slowest)
		}
		if got := totals(c); got["mean"] != 2.5 {
			t.Errorf("latency %v: an unsent or failed reply counted", got)
		}
		if err := f.q.Answers(context.Background(), time.Now(), func(a gateway.Answer) error {
			return errors.New("an answer from the future")
		}); err != nil {
			t.Error(err)
		}
	})
}
