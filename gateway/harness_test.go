package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net"
	netsmtp "net/smtp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stskms/stskms/internal/smtpsink"
	"github.com/stskms/stskms/internal/testclock"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// sinkMsg is one message the sink relay took.
type sinkMsg = smtpsink.Message

// sink is a real go-smtp server acting as the gateway's relay: it records
// what it is given. fail, if set, may refuse a message.
type sink struct {
	*smtpsink.Sink

	mu   sync.Mutex
	fail func(n int) error // n counts DATA commands from 1
	n    int
}

func newSink(t testing.TB, setup ...func(*smtp.Server, *sink)) *sink {
	s := &sink{}
	s.Sink = smtpsink.New(t, s.accept, func(srv *smtp.Server, _ *smtpsink.Sink) {
		srv.EnableDSN = true
		for _, f := range setup {
			f(srv, s)
		}
	})
	return s
}

// accept counts the message and refuses it if s.fail says so.
func (s *sink) accept(smtpsink.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	if s.fail != nil {
		return s.fail(s.n)
	}
	return nil
}

func (s *sink) messages() []sinkMsg {
	msgs, _ := s.Messages()
	return msgs
}

// failWith sets s.fail (nil: take every message).
func (s *sink) failWith(fail func(n int) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = fail
}

// testLogger logs to the test's log while the test runs.
func testLogger(t testing.TB) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.done = true
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *testWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimSpace(string(b)))
	}
	return len(b), nil
}

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}
func (nopLogger) Println(...any)        {}

// harness is a gateway with its database, a fake KMC, a sink relay and a
// listening SMTP server.
type harness struct {
	t     testing.TB
	db    *store.DB
	clock *testclock.Clock
	kmc   *fakeKMC
	sink  *sink
	cfg   Config
	gw    *Gateway
	srv   *smtp.Server
	addr  string
	opts  ServerOptions
}

func newHarness(t testing.TB, db *store.DB, edit func(*Config)) *harness {
	t.Helper()
	h := &harness{t: t, db: db, clock: testclock.New(time.Now().UTC().Truncate(time.Second)), sink: newSink(t)}
	h.kmc = newFakeKMC(t, h.clock.Now)
	h.cfg = Config{
		Address:     gwAddr,
		STSASenders: []string{"registry@sts.example.org"},
		Now:         h.clock.Now,
		Limits:      &Limits{}, // no flood protection unless a test sets it
		// Tests send one request (one Message-ID) many times: redelivery
		// is recognised only where a test sets a window (dedupe_test.go).
		DedupeWindow: -1,
		Logger:       testLogger(t),
	}
	if edit != nil {
		edit(&h.cfg)
	}
	h.start()
	return h
}

// start makes the gateway and its server (again, after a crash).
func (h *harness) start() {
	h.t.Helper()
	gw, err := New(context.Background(), h.db, h.kmc, &Relay{Addr: h.sink.Addr, Hostname: "kms.example.com"}, h.cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	h.gw = gw
	h.srv = gw.NewServer(h.opts)
	h.srv.ErrorLog = nopLogger{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		h.t.Fatal(err)
	}
	h.addr = l.Addr().String()
	go h.srv.Serve(l)
	srv := h.srv
	h.t.Cleanup(func() { srv.Close() })
}

// second starts another gateway process on h's database (its own
// connection pool), with h's clock, KMC, relay and configuration.
func (h *harness) second() *harness {
	h.t.Helper()
	h2 := &harness{t: h.t, db: storetest.Reopen(h.t, h.db), clock: h.clock, kmc: h.kmc, sink: h.sink, cfg: h.cfg}
	h2.start()
	return h2
}

// restart simulates a crash and restart of the gateway process: a new
// Gateway on the same database, its old one abandoned mid-work.
func (h *harness) restart() {
	h.t.Helper()
	h.srv.Close()
	h.start()
}

// send submits a message over SMTP with net/smtp, as a mail client's
// server would.
func (h *harness) send(from string, to []string, raw string) error {
	return netsmtp.SendMail(h.addr, nil, from, to, []byte(raw))
}

// request sends a request from alice to the gateway, failing the test if
// the gateway does not take it.
func (h *harness) request(raw string) {
	h.t.Helper()
	h.requestFrom(alice, raw)
}

// requestFrom sends a message from from to the gateway, failing the test
// if the gateway does not take it.
func (h *harness) requestFrom(from, raw string) {
	h.t.Helper()
	if err := h.send(from, []string{gwAddr}, raw); err != nil {
		h.t.Fatalf("send: %v", err)
	}
}

// drain processes and sends until there is nothing due.
func (h *harness) drain() {
	h.t.Helper()
	ctx := context.Background()
	for {
		p, err := h.gw.ProcessNext(ctx)
		if err != nil {
			h.t.Fatalf("ProcessNext: %v", err)
		}
		s, err := h.gw.SendNext(ctx)
		if err != nil {
			h.t.Fatalf("SendNext: %v", err)
		}
		if !p && !s {
			return
		}
	}
}

// replies returns what the relay got, parsed.
func (h *harness) replies() []*parsedReply {
	h.t.Helper()
	var out []*parsedReply
	for _, m := range h.sink.messages() {
		out = append(out, readReply(h.t, m.Data))
	}
	return out
}

// one returns the only reply, failing otherwise.
func (h *harness) one() *parsedReply {
	h.t.Helper()
	r := h.replies()
	if len(r) != 1 {
		h.t.Fatalf("%d replies, want 1", len(r))
	}
	return r[0]
}

// queue returns the queue.
func (h *harness) queue() []QueueEntry {
	h.t.Helper()
	q, err := h.gw.Queue().List(context.Background(), "")
	if err != nil {
		h.t.Fatal(err)
	}
	return q
}

func netDial(addr string) (net.Conn, error) { return net.Dial("tcp", addr) }

var errCrash = errors.New("simulated crash")

// crashAt makes the gateway stop at point once, as if killed there.
func (h *harness) crashAt(point string) {
	var once sync.Once
	h.gw.hook = func(p string) error {
		crash := false
		if p == point {
			once.Do(func() { crash = true })
		}
		if crash {
			return errCrash
		}
		return nil
	}
}

// crashClaimed makes the gateway claim the next mail and stop there, as
// if killed after its claim.
func (h *harness) crashClaimed() {
	h.t.Helper()
	h.crashAt("claimed")
	if _, err := h.gw.ProcessNext(context.Background()); !errors.Is(err, errCrash) {
		h.t.Fatalf("ProcessNext: %v, want the crash", err)
	}
}

// each runs fn on SQLite and PostgreSQL.
func each(t *testing.T, fn func(t *testing.T, db *store.DB)) { storetest.Each(t, fn) }

// subjectOf returns the decoded Subject of a reply.
func subjectOf(p *parsedReply) string { return strings.TrimSpace(p.header.Get("Subject")) }
