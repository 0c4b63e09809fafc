package console

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stskms/stskms/internal/role"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
)

// svgTexts parses an SVG document with encoding/xml and returns its root
// element's name and every text it shows.
func svgTexts(t *testing.T, svg []byte) (root string, texts []string) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(svg))
	inText := false
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return root, texts
		}
		if err != nil {
			t.Fatalf("the chart is not well-formed XML: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = tok.Name.Local
			}
			inText = tok.Name.Local == "text"
		case xml.EndElement:
			inText = false
		case xml.CharData:
			if inText {
				texts = append(texts, strings.TrimSpace(string(tok)))
			}
		}
	}
}

// TestChartSVG: a chart counts what falls in its period by step, lists the
// numbers as rows, and draws valid SVG naming its series and period; a
// series name with markup in it is drawn as text.
func TestChartSVG(t *testing.T) {
	now := time.Date(2026, 12, 6, 10, 30, 0, 0, time.UTC)
	c := NewChart("Tokens issued", "tokens", Periods[0], now)
	for range 3 {
		c.Count("credit", now)
	}
	c.Count("test", now.Add(-2*time.Hour))
	c.Count("old", now.Add(-24*time.Hour)) // before the first step (11:00 yesterday)
	c.Count("test", now.Add(time.Hour))    // after the last
	if want := time.Date(2026, 12, 5, 11, 0, 0, 0, time.UTC); !c.Start.Equal(want) {
		t.Errorf("Start %v, want %v", c.Start, want)
	}
	rows := c.Rows()
	if len(rows) != 24 || len(c.Series) != 2 {
		t.Fatalf("%d rows, %d series; want 24 and 2 (credit, test)", len(rows), len(c.Series))
	}
	if got := strings.Join(rows[23].Cells, ","); got != "3,0" || !rows[23].Time.Equal(now.Truncate(time.Hour)) {
		t.Errorf("last row %v %q, want 10:00 3,0", rows[23].Time, got)
	}
	if got := strings.Join(rows[21].Cells, ","); got != "0,1" {
		t.Errorf("08:00 row %q, want 0,1", got)
	}
	svg, err := c.SVG()
	if err != nil {
		t.Fatal(err)
	}
	root, texts := svgTexts(t, svg)
	all := strings.Join(texts, "|")
	if root != "svg" {
		t.Errorf("root element %q, want svg", root)
	}
	for _, want := range []string{"credit", "test", "Tokens issued, the last 24 hours, by hour (UTC)", "tokens", "UTC", "11:00"} {
		if !strings.Contains("|"+all+"|", "|"+want+"|") {
			t.Errorf("the chart does not show %q: %s", want, all)
		}
	}
	if strings.Contains(all, "old") {
		t.Error("a count outside the period is drawn")
	}
	hostile := `<script>alert(1)</script>&"`
	c.Count(hostile, now)
	svg, err = c.SVG()
	if err != nil {
		t.Fatal(err)
	}
	if _, texts := svgTexts(t, svg); !slices.Contains(texts, hostile) || bytes.Contains(svg, []byte("<script")) {
		t.Errorf("a series name is not drawn as text: %v", texts)
	}
	empty, err := NewChart("Refusals", "requests", Periods[1], now).SVG()
	if err != nil {
		t.Fatal(err)
	}
	_, texts = svgTexts(t, empty)
	if !strings.Contains(strings.Join(texts, "|"), "Refusals, the last 30 days, by day (UTC): none") {
		t.Errorf("an empty chart does not say so: %v", texts)
	}
	if !slices.Contains(texts, "1") || slices.ContainsFunc(texts, func(s string) bool { return strings.HasPrefix(s, "0.") }) {
		t.Errorf("a chart of counts marks fractions, or no whole number: %v", texts)
	}
}

// TestQueryPeriod: the period comes from the query; anything else is the
// default.
func TestQueryPeriod(t *testing.T) {
	for q, want := range map[string]string{"period=30d": "30d", "period=24h": "24h", "": "24h", "period=1y": "24h", "period=%00": "24h"} {
		v, _ := url.ParseQuery(q)
		if got := (Query{v}).Period().Name; got != want {
			t.Errorf("%q: period %s, want %s", q, got, want)
		}
	}
}

// chartSite is the test site with an officers' page of one chart that
// counts its calls at the time of the call.
func chartSite() Site {
	site := testSite()
	site.Pages = append(site.Pages, ChartsPage("graphs", "Graphs", "secret.read", PageChart{Name: "calls",
		Chart: func(_ context.Context, a role.Actor, q Query) (*Chart, error) {
			c := NewChart("Calls of "+a.Name, "calls", q.Period(), time.Now())
			c.Count("calls", time.Now())
			return c, nil
		}}))
	return site
}

// get fetches path with cookie c (nil: none), not following redirects.
func get(t *testing.T, base, path string, c *http.Cookie) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+path, nil)
	return roundTrip(t, req, c)
}

// TestChartServed: a page's chart is served as SVG, with its own CSP, to
// whoever may read the page, and its page shows it with its numbers; a
// role the page refuses is refused the chart too (audited), a signed-out
// browser is sent to sign in, an unknown chart is not found.
func TestChartServed(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		base, s, sign := siteServer(t, db, chartSite())
		alice, _ := sign("alice", role.Officer)
		carol, _ := sign("carol", role.Auditor)
		res, svg := get(t, base, "/console/charts/calls.svg?period=30d", alice)
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != "image/svg+xml" || res.Header.Get("Content-Security-Policy") != chartCSP {
			t.Fatalf("chart: %d %q %q", res.StatusCode, res.Header.Get("Content-Type"), res.Header.Get("Content-Security-Policy"))
		}
		if _, texts := svgTexts(t, svg); !strings.Contains(strings.Join(texts, "|"), "Calls of alice, the last 30 days") {
			t.Errorf("chart texts: %v", texts)
		}
		res, page := get(t, base, "/console/graphs?period=30d", alice)
		for _, want := range []string{`src="/console/charts/calls.svg?period=30d"`, `alt="Chart of Calls of alice`, "<caption>Calls of alice (calls), the last 30 days", `<option value="30d" selected>`} {
			if res.StatusCode != 200 || !strings.Contains(string(page), want) {
				t.Errorf("page (%d) lacks %s", res.StatusCode, want)
			}
		}
		if res, _ := get(t, base, "/console/charts/calls.svg", carol); res.StatusCode != http.StatusForbidden {
			t.Errorf("auditor's chart: %d, want 403", res.StatusCode)
		}
		if got := strings.Join(auditActions(t, s), "\n"); !strings.Contains(got, "auditor:carol console.refused secret.read") {
			t.Errorf("refusal not audited:\n%s", got)
		}
		if res, _ := get(t, base, "/console/charts/calls.svg", nil); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/console/signin" {
			t.Errorf("signed out: %d %q", res.StatusCode, res.Header.Get("Location"))
		}
		for _, p := range []string{"/console/charts/nope.svg", "/console/charts/calls", "/console/charts/calls.png"} {
			if res, _ := get(t, base, p, alice); res.StatusCode != http.StatusNotFound {
				t.Errorf("%s: %d, want 404", p, res.StatusCode)
			}
		}
	})
}

// TestChartNames: a chart needs a lower-case name unique in its site.
func TestChartNames(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s, _ := newStore(t, db)
		noop := func(context.Context, role.Actor, Query) (*Chart, error) { return nil, nil }
		for _, charts := range [][]PageChart{{{Name: "Bad", Chart: noop}}, {{Name: "a", Chart: noop}, {Name: "a", Chart: noop}}, {{Name: "nil"}}} {
			site := testSite()
			site.Pages = append(site.Pages, ChartsPage("graphs", "Graphs", "", charts...))
			if _, err := New(Config{Store: s, Site: site, Origin: "http://localhost:1"}); err == nil {
				t.Errorf("charts %v accepted", charts)
			}
		}
	})
}
