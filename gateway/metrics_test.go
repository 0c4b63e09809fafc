package gateway

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stskms/stskms/store"
)

// scraper scrapes a gateway's /metrics over HTTP on loopback.
type scraper struct {
	t    *testing.T
	url  string
	last map[string]float64
}

func newScraper(t *testing.T, h *harness) *scraper {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", h.gw.MetricsHandler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return &scraper{t: t, url: "http://" + l.Addr().String() + "/metrics"}
}

// scrape reads the metrics as series → value ("name{label=\"v\"}").
func (s *scraper) scrape() {
	s.t.Helper()
	resp, err := http.Get(s.url)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		s.t.Fatalf("scrape: %s\n%s", resp.Status, b)
	}
	s.last = map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		i := strings.LastIndexByte(line, ' ')
		if strings.HasPrefix(line, "#") || i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			s.t.Fatalf("line %q: %v", line, err)
		}
		s.last[line[:i]] = v
	}
}

// expect checks series → value of the last scrape; a series missing
// counts as 0 (a counter vector shows a label set only once used).
func (s *scraper) expect(want map[string]float64) {
	s.t.Helper()
	for k, v := range want {
		if got := s.last["stskms_gateway_"+k]; got != v {
			s.t.Errorf("stskms_gateway_%s = %v, want %v", k, got, v)
		}
	}
}

// TestMetrics scrapes a gateway's /metrics over HTTP while real SMTP
// clients send it requests, and checks each counter and gauge moves as
// the mail does: accepted and refused, replied, ignored, deferred and
// blocked by the flood protection, refused by the relay, bounced.
func TestMetrics(t *testing.T) {
	each(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db, func(c *Config) {
			c.EnvelopeSender = bounceAddr
			c.Limits = &Limits{Address: Limit{Every: time.Hour, Burst: 1}, MaxDefer: 90 * time.Minute, BlockFor: time.Hour,
				Notices: Limit{Every: time.Second, Burst: 100}, NoticesTotal: Limit{Every: time.Second, Burst: 100}}
		})
		s := newScraper(t, h)
		s.scrape()
		s.expect(map[string]float64{`queue_mails{state="received"}`: 0, `blocks_active`: 0, `smtp_sessions_total`: 0})

		h.request(reqMail("Regards", "Subject: {KMS:Help}"))
		h.request(reqMail("Regards", "Subject: Re: {KMS:Help}"))
		if err := h.send(alice, []string{"nobody@kms.example.com"}, reqMail("x")); err == nil {
			t.Fatal("a stranger's address was accepted")
		}
		s.scrape()
		s.expect(map[string]float64{
			`smtp_sessions_total`:                             3,
			`smtp_messages_accepted_total`:                    2,
			`smtp_rejected_total{reason="no-such-recipient"}`: 1,
			`queue_mails{state="received"}`:                   2,
		})

		h.drain()
		s.scrape()
		s.expect(map[string]float64{
			`requests_total{result="Success",service="Help"}`: 1,
			`ignored_total{reason="reply-prefix"}`:            1,
			`replies_total{outcome="sent"}`:                   1,
			`reply_latency_seconds_count`:                     1,
			`queue_mails{state="received"}`:                   0,
			`queue_mails{state="replied"}`:                    1,
			`queue_mails{state="ignored"}`:                    1,
			`outbox_replies{state="sent"}`:                    1,
		})
		first := h.queue()[0].Replies[0]
		firstFrom := h.sink.messages()[0].From

		// Over the first limit: deferred, and the relay refuses the notice.
		h.sink.failWith(func(int) error {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Refused"}
		})
		h.request(reqMail("Regards", "Subject: {KMS:Help} 2"))
		h.drain()
		s.scrape()
		s.expect(map[string]float64{
			`requests_total{result="Deferred",service="Help"}`: 1,
			`ratelimit_total{action="deferred"}`:               1,
			`replies_total{outcome="failed"}`:                  1,
			`replies_total{outcome="sent"}`:                    1,
			`reply_latency_seconds_count`:                      1,
			`queue_mails{state="received"}`:                    1,
			`outbox_replies{state="failed"}`:                   1,
		})
		q := h.queue()
		if r := q[len(q)-1].Replies[0]; r.State != OutFailed || !strings.Contains(r.LastError, "550") {
			t.Errorf("refused notice %+v, want failed with the relay's reason", r)
		}

		// Over the second: blocked.
		h.sink.failWith(nil)
		h.request(reqMail("Regards", "Subject: {KMS:Help} 3"))
		h.drain()
		s.scrape()
		s.expect(map[string]float64{
			`requests_total{result="Blocked",service="Help"}`: 1,
			`ratelimit_total{action="blocked"}`:               1,
			`ignored_total{reason="blocked"}`:                 1,
			`replies_total{outcome="sent"}`:                   2,
			`blocks_active`:                                   1,
		})

		// The first reply bounces.
		envID := strings.TrimSuffix(strings.TrimPrefix(firstFrom, "bounces+"), "@kms.example.com")
		h.bounce(firstFrom, dsnFixture(t, "postfix-failed.eml",
			dsnVars{envFrom: firstFrom, envID: envID, rcpt: alice, msgID: first.MessageID}))
		s.scrape()
		s.expect(map[string]float64{
			`bounces_total{match="matched"}`:   1,
			`replies_total{outcome="bounced"}`: 1,
			`ignored_total{reason="bounce"}`:   1,
			`outbox_replies{state="bounced"}`:  1,
			`outbox_replies{state="sent"}`:     1,
		})
	})
}

// TestMetricsStoreDown: a scrape while the store fails reports the error
// for the gauges and still serves the counters.
func TestMetricsStoreDown(t *testing.T) {
	each(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db, nil)
		s := newScraper(t, h)
		h.request(reqMail("Regards"))
		db.Close()
		resp, err := http.Get(s.url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil && !errors.Is(err, io.EOF) {
			t.Fatal(err)
		}
		body := string(b)
		if !strings.Contains(body, "stskms_gateway_smtp_messages_accepted_total 1") ||
			strings.Contains(body, "stskms_gateway_queue_mails{") {
			t.Errorf("scrape with the store closed:\n%s", body)
		}
	})
}

// TestMetricsDocumented: docs/gateway.md lists every metric of the
// gateway's registry.
func TestMetricsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/gateway.md")
	if err != nil {
		t.Fatal(err)
	}
	g := &Queue{}
	m := newMetrics(g)
	ch := make(chan *prometheus.Desc, 100)
	for _, c := range []prometheus.Collector{m.sessions, m.accepted, m.rejected, m.requests, m.ignored, m.givenUp,
		m.replies, m.bounces, m.limited, m.latency, queueCollector{g}} {
		c.Describe(ch)
	}
	close(ch)
	name := regexp.MustCompile(`fqName: "([^"]+)"`)
	n := 0
	for d := range ch {
		f := name.FindStringSubmatch(d.String())
		if f == nil {
			t.Fatalf("desc %s", d)
		}
		n++
		if !strings.Contains(string(doc), "| `"+f[1]+"` |") {
			t.Errorf("docs/gateway.md lacks the metric %s", f[1])
		}
	}
	if n != 13 {
		t.Errorf("%d metrics described", n)
	}
}
