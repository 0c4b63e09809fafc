package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/stskms/stskms/gateway"
	"github.com/stskms/stskms/gwresult"
	"github.com/stskms/stskms/internal/dnstest"
	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/loop"
	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/smmail"
)

// gwBenchLine is one mode's figures, as --json prints them.
type gwBenchLine struct {
	Mode      string  `json:"mode"`           // "paced" or "burst"
	Rate      int     `json:"rate,omitempty"` // offered requests/s (paced)
	Conns     int     `json:"conns"`
	Requests  int     `json:"requests"`
	Replies   int     `json:"replies"`
	Errors    int     `json:"errors"` // final replies that are not Success
	Seconds   float64 `json:"seconds"`
	RequestsS float64 `json:"requests_per_s"`
	P50MS     float64 `json:"p50_ms"`
	P99MS     float64 `json:"p99_ms"`
	MaxMS     float64 `json:"max_ms"`
}

// benchFrom is the operator's address of the bench's vending module.
const benchFrom = "bench@utility.test"

// runBenchGateway is "stskms bench gateway": {KMS:GetKlfStsEd2} requests
// over SMTP on loopback through a real test-mode KMC and its gateway.
func runBenchGateway(e *env, args []string) error {
	fs := newFlags("bench gateway", "[--json] [--n N] [--rate R] [--conns N] [--mode paced|burst|both] [--auth [--dns-delay D]]",
		"Starts a TEST-ONLY KMC and its e-mail gateway (SQLite, flood protection off) in a temporary\n"+
			"directory on 127.0.0.1 with a relay sink, registers and authorises a virtual vending module,\n"+
			"makes --n fresh VKLOAD.REQ.1 per mode beforehand, then sends them as {KMS:GetKlfStsEd2}\n"+
			"mails from --conns clients: paced (--rate requests/s offered) and burst (as fast as they go).\n"+
			"Prints requests/s (all replies received) and the p50/p99 latency from the SMTP 250 of a\n"+
			"request to its reply reaching the relay. With --auth the gateway checks SPF, DKIM and DMARC\n"+
			"(record only) against a local DNS server that answers every question after --dns-delay.")
	bf := addBenchModeFlags(fs, "paced", "burst")
	n := fs.Int("n", 500, "requests per mode")
	rate := fs.Int("rate", 100, "requests offered per second in paced mode")
	conns := fs.Int("conns", 8, "concurrent SMTP clients")
	workers := fs.Int("workers", 8, "the gateway's processing workers")
	senders := fs.Int("senders", 4, "the gateway's sending workers")
	timeout := fs.Duration("timeout", time.Minute, "how long to wait for the replies of a mode")
	auth := fs.Bool("auth", false, "check sender authenticity (record only) against a local slow DNS server")
	dnsDelay := fs.Duration("dns-delay", 3*time.Second, "with --auth: how long the local DNS server takes to answer")
	if _, err := fs.parse(e, args); err != nil {
		return err
	}
	modes, err := bf.modes()
	if err != nil {
		return err
	}
	// Each request's time is one second after the last (the KMC refuses
	// a second request of a module with the same time), all within the
	// KMC's freshness window (±30 min).
	const maxRequests = 1500
	if *n < 1 || *n*len(modes) > maxRequests || *rate < 1 || *conns < 1 || *workers < 1 || *senders < 1 || *timeout <= 0 {
		return fmt.Errorf("--n must be 1 to %d in all modes; --rate, --conns, --workers, --senders and --timeout positive", maxRequests)
	}
	tmp, err := os.MkdirTemp("", "stskms-gateway-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	ctx := context.Background()

	sink, err := newBenchSink()
	if err != nil {
		return err
	}
	defer sink.close()
	cfg := gateway.Config{Limits: &gateway.Limits{}, Workers: *workers, Senders: *senders}
	if *auth {
		dns, err := slowDNS(*dnsDelay)
		if err != nil {
			return err
		}
		defer dns.Close()
		cfg.Auth = &gateway.AuthChecker{Policy: gateway.RecordOnly, Resolver: dns.Resolver()}
	}
	st, err := loop.StartKMCAndGatewayConfig(ctx, tmp, sink.addr, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	b, err := newGatewayBencher(ctx, st, filepath.Join(tmp, "sm"))
	if err != nil {
		return err
	}
	defer b.m.Close()
	for _, md := range modes {
		r := 0
		if md == "paced" {
			r = *rate
		}
		line, err := b.run(ctx, sink, md, *n, r, *conns, *timeout)
		if err != nil {
			return err
		}
		printGatewayBenchLine(e, line, bf.json)
	}
	return nil
}

func printGatewayBenchLine(e *env, l gwBenchLine, asJSON bool) {
	if asJSON {
		printJSON(e.stdout, l)
		return
	}
	offered := "as fast as possible"
	if l.Rate > 0 {
		offered = fmt.Sprintf("%d/s offered", l.Rate)
	}
	fmt.Fprintf(e.stdout, "%-6s %-20s conns=%-3d n=%-5d %8.1f requests/s  p50 %7.1f ms  p99 %7.1f ms  max %7.1f ms  errors %d\n",
		l.Mode, offered, l.Conns, l.Requests, l.RequestsS, l.P50MS, l.P99MS, l.MaxMS, l.Errors)
}

// gatewayBencher is the vending module making the requests.
type gatewayBencher struct {
	st   *loop.Stack
	m    *sm.Module
	slot int
	tick atomic.Int64 // the module's clock: base + tick seconds
	base time.Time
	next int64
}

var benchOfficer = sm.Officer.As("bench")

func newGatewayBencher(ctx context.Context, st *loop.Stack, dir string) (*gatewayBencher, error) {
	b := &gatewayBencher{st: st, base: time.Now().Truncate(time.Second)}
	if _, err := sm.Init(ctx, dir, sm.Vending, true, sm.Options{}); err != nil {
		return nil, fmt.Errorf("module: %w", err)
	}
	m, err := sm.Open(ctx, dir, sm.Options{Now: func() time.Time { return b.base.Add(time.Duration(b.tick.Load()) * time.Second) }})
	if err != nil {
		return nil, fmt.Errorf("module: %w", err)
	}
	b.m = m
	ok := false
	defer func() {
		if !ok {
			m.Close()
		}
	}()
	if err := st.AddSupplyGroup(ctx); err != nil {
		return nil, err
	}
	if _, err := st.ImportKey(ctx, 1, kmc.VUDK); err != nil {
		return nil, err
	}
	if err := st.Authorise(ctx, m.Identify(), kmc.Vending, kmc.TypesOf(kmc.VUDK), benchFrom); err != nil {
		return nil, err
	}
	rec, err := st.PublicKey(ctx)
	if err != nil {
		return nil, err
	}
	s, err := m.InstallSlot(ctx, benchOfficer, sm.InstallRequest{Record: rec, Fingerprint: st.Fingerprint, TestKMC: true})
	if err != nil {
		return nil, err
	}
	b.slot = s.Number
	ok = true
	return b, nil
}

// requests makes n request mails, each with a fresh VKLOAD.REQ.1 and a
// unique tag, before the clock starts: the module's work is not the
// gateway's.
func (b *gatewayBencher) requests(ctx context.Context, n int) (tags []string, msgs [][]byte, err error) {
	c := &smmail.Client{Gateway: b.st.Address, From: benchFrom, Hostname: "utility.test"}
	for range n {
		b.tick.Store(b.next)
		b.next++
		text, err := klfRequestText(ctx, b.m, benchOfficer, b.slot)
		if err != nil {
			return nil, nil, err
		}
		tag := smmail.NewTag()
		tags = append(tags, tag)
		msgs = append(msgs, c.Message(smmail.GetKlf, tag, text))
	}
	return tags, msgs, nil
}

func (b *gatewayBencher) run(ctx context.Context, sink *benchSink, mode string, n, rate, conns int, timeout time.Duration) (gwBenchLine, error) {
	tags, msgs, err := b.requests(ctx, n)
	if err != nil {
		return gwBenchLine{}, err
	}
	sink.expect(tags)
	sent := make([]time.Time, n)
	var (
		wg      sync.WaitGroup
		errMu   sync.Mutex
		sendErr error
	)
	next := make(chan int)
	start := time.Now()
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				at, err := submitPlain(b.st.Submit, benchFrom, b.st.Address, msgs[i])
				if err != nil {
					errMu.Lock()
					if sendErr == nil {
						sendErr = fmt.Errorf("request %d: %w", i, err)
					}
					errMu.Unlock()
					continue
				}
				sent[i] = at
			}
		}()
	}
	var tick *time.Ticker
	if rate > 0 {
		tick = time.NewTicker(time.Second / time.Duration(rate))
	}
	for i := range n {
		if tick != nil {
			<-tick.C
		}
		next <- i
	}
	close(next)
	if tick != nil {
		tick.Stop()
	}
	wg.Wait()
	if sendErr != nil {
		return gwBenchLine{}, sendErr
	}
	got, failed, err := sink.wait(n, timeout)
	if err != nil {
		return gwBenchLine{}, err
	}
	var last time.Time
	lat := make([]time.Duration, 0, n)
	for i, tag := range tags {
		t := got[tag]
		if t.After(last) {
			last = t
		}
		lat = append(lat, max(0, t.Sub(sent[i])))
	}
	slices.Sort(lat)
	elapsed := last.Sub(start)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 }
	return gwBenchLine{Mode: mode, Rate: rate, Conns: conns, Requests: n, Replies: len(got), Errors: failed,
		Seconds: elapsed.Seconds(), RequestsS: float64(n) / elapsed.Seconds(),
		P50MS: ms(lat[len(lat)/2]), P99MS: ms(lat[len(lat)*99/100]), MaxMS: ms(lat[len(lat)-1])}, nil
}

// submitPlain sends msg over one SMTP session of its own, as a mail
// client does (the bench gateway offers no STARTTLS); it returns at the
// server's 250 to the data, and when that came.
func submitPlain(addr, from, to string, msg []byte) (time.Time, error) {
	cl, err := smtp.Dial(addr)
	if err != nil {
		return time.Time{}, err
	}
	defer cl.Close()
	if err := cl.Hello("utility.test"); err != nil {
		return time.Time{}, err
	}
	if err := cl.SendMail(from, []string{to}, bytes.NewReader(msg)); err != nil {
		return time.Time{}, err
	}
	at := time.Now()
	return at, cl.Quit()
}

// benchSink is the relay: it notes when each final reply to an expected
// tag arrives.
type benchSink struct {
	addr string
	srv  *smtp.Server

	mu      sync.Mutex
	want    map[string]bool
	got     map[string]time.Time
	failed  int
	changed chan struct{}
}

func newBenchSink() (*benchSink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &benchSink{addr: ln.Addr().String(), changed: make(chan struct{}, 1)}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return sinkSession{s}, nil }))
	s.srv.Domain = "utility.test"
	s.srv.AllowInsecureAuth = true
	s.srv.ErrorLog = quietLog{}
	go s.srv.Serve(ln) //nolint:errcheck // ends with Close
	return s, nil
}

func (s *benchSink) close() { s.srv.Close() }

func (s *benchSink) expect(tags []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.want = map[string]bool{}
	for _, t := range tags {
		s.want[t] = true
	}
	s.got, s.failed = map[string]time.Time{}, 0
}

func (s *benchSink) deliver(at time.Time, raw []byte) {
	r, err := smmail.ParseReply(raw)
	if err != nil || !r.Final() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tag := r.Tag()
	if _, dup := s.got[tag]; dup || !s.want[tag] {
		return
	}
	s.got[tag] = at
	if r.Result.Kind != gwresult.Success {
		s.failed++
	}
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// wait waits for n final replies.
func (s *benchSink) wait(n int, timeout time.Duration) (map[string]time.Time, int, error) {
	deadline := time.After(timeout)
	for {
		s.mu.Lock()
		got, failed := len(s.got), s.failed
		s.mu.Unlock()
		if got >= n {
			s.mu.Lock()
			defer s.mu.Unlock()
			return maps.Clone(s.got), failed, nil
		}
		select {
		case <-s.changed:
		case <-time.After(100 * time.Millisecond):
		case <-deadline:
			return nil, 0, fmt.Errorf("%d of %d replies after %v", got, n, timeout)
		}
	}
}

type sinkSession struct{ s *benchSink }

func (sinkSession) Reset()                               {}
func (sinkSession) Logout() error                        { return nil }
func (sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (sinkSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (ss sinkSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.s.deliver(time.Now(), raw)
	return nil
}

type quietLog struct{}

func (quietLog) Printf(string, ...any) {}
func (quietLog) Println(...any)        {}

// slowDNS starts a local DNS server for "bench gateway --auth" that
// answers every question after delay: the bench's domain has SPF and DMARC
// records, which the gateway's checks never get in time with the default
// timeout (2 s) and a delay over it.
func slowDNS(delay time.Duration) (*dnstest.Server, error) {
	s, err := dnstest.Start(map[string][]string{
		"utility.test":        {"v=spf1 ip4:127.0.0.1 -all"},
		"_dmarc.utility.test": {"v=DMARC1; p=reject"},
	})
	if err != nil {
		return nil, err
	}
	s.SetMode(dnstest.Normal, delay)
	return s, nil
}
