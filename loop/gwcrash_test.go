package loop_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	netsmtp "net/smtp"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/gateway"
	"github.com/stskms/stskms/gwresult"
	"github.com/stskms/stskms/internal/crashtest"
	"github.com/stskms/stskms/internal/kmcgateway"
	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/loop"
	"github.com/stskms/stskms/records/armor"
	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/sm/api/apitest"
	"github.com/stskms/stskms/smmail"
	"github.com/stskms/stskms/store"
)

// gwCrashDir names the environment variable that makes TestGatewayCrash
// the child: a KMC and its gateway on the directory it names, relaying to
// gwCrashRelay, until killed.
const (
	gwCrashDir   = "STSKMS_GATEWAY_CRASH_DIR"
	gwCrashRelay = "STSKMS_GATEWAY_CRASH_RELAY"
)

var testOfficer = sm.Officer.As("test")

// request is one request mail of a test: who sends it, and the mail.
type request struct {
	tag, from, service string
	vkload             string // {KMS:GetKlfStsEd2}: the VKLOAD.REQ.1 block
	raw                []byte
}

// messageID is the request's Message-ID, as replies carry it in
// In-Reply-To.
func (r request) messageID() string { return "<" + r.tag + "@utility.test>" }

// TestGatewayCrash kills (SIGKILL) a real gateway process — a KMC and its
// gateway on one SQLite directory, replying through a real SMTP relay in
// the test — four times at random moments while it receives, processes
// and relays a stream of {KMS:GetKlfStsEd2} requests from registered
// modules and {KMS:GetPublicKey} requests, restarting it each time; the
// last run goes on until the queue is drained. Then: every request the
// gateway took (250) is answered by exactly one final reply (copies of a
// reply the relay took just before a kill are the same message, byte for
// byte); replies to requests whose 250 was lost are not required but are
// final once too; no request has two Key Load Files; the KMC issued as
// many files as there are requests answered with one; no mail failed; and
// the KMC's audit chain verifies.
func TestGatewayCrash(t *testing.T) {
	if !crashtest.Parent(t, gwCrashDir, func(t *testing.T, dir string) { runGatewayChild(t, dir, os.Getenv(gwCrashRelay)) }) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	sink := newRelaySink(t)
	reqs := crashRequests(ctx, t, dir, sink.Addr, 3, 16, 20)

	const kills = 4
	accepted := map[string]bool{} // tag → the gateway answered 250
	next := 0                     // the next request to send
	for round := 0; round <= kills; round++ {
		env := []string{gwCrashDir + "=" + dir, gwCrashRelay + "=" + sink.Addr}
		killAfter := 5 + rand.IntN(40) // log lines of the child's work
		lines := 0
		var sender sync.WaitGroup
		var mu sync.Mutex
		sendsDone := false
		crashtest.KillChild(t, "TestGatewayCrash", env, 30*time.Millisecond, func(line string) bool {
			if addr, ok := strings.CutPrefix(line, "listening "); ok {
				sender.Add(1)
				go func() {
					defer sender.Done()
					last := len(reqs)
					if round < kills {
						last = min(last, next+len(reqs)/(kills+1)+10)
					}
					for ; next < last; next++ {
						r := reqs[next]
						if err := netsmtp.SendMail(addr, nil, r.from, []string{loop.GatewayAddress}, r.raw); err != nil {
							next++ // taken or not, never sent again
							break
						}
						mu.Lock()
						accepted[r.tag] = true
						mu.Unlock()
					}
					mu.Lock()
					sendsDone = true
					mu.Unlock()
				}()
				return false
			}
			mu.Lock()
			defer mu.Unlock()
			if ctx.Err() != nil { // only stops a hung test
				t.Errorf("round %d: not done in time: %d of %d requests sent, %d taken", round, next, len(reqs), len(accepted))
				return true
			}
			if line != "drained" {
				lines++
				return round < kills && lines == killAfter
			}
			// Idle: a round that ran out of work before its kill ends,
			// the last one once every request taken is answered.
			return sendsDone && (round < kills || answered(sink, accepted))
		})
		sender.Wait()
		t.Logf("round %d: killed after %d lines of log; %d of %d requests sent, %d taken, %d messages at the relay",
			round, lines, next, len(reqs), len(accepted), len(sinkMsgs(sink)))
	}
	checkCrash(ctx, t, dir, reqs, accepted, sinkMsgs(sink))
}

// answered reports whether every accepted request has a final reply at
// the sink.
func answered(sink *relaySink, accepted map[string]bool) bool {
	final := finals(sinkMsgs(sink))
	for tag := range accepted {
		if len(final["<"+tag+"@utility.test>"]) == 0 {
			return false
		}
	}
	return true
}

func sinkMsgs(sink *relaySink) []relayMsg {
	m, _ := sink.all()
	return m
}

// finals groups the final replies by the request's Message-ID, and each
// request's by the reply's own Message-ID.
func finals(msgs []relayMsg) map[string]map[string][]relayMsg {
	out := map[string]map[string][]relayMsg{}
	for _, m := range msgs {
		if m.reply == nil || !m.reply.Final() {
			continue
		}
		if out[m.inReplyTo] == nil {
			out[m.inReplyTo] = map[string][]relayMsg{}
		}
		out[m.inReplyTo][m.messageID] = append(out[m.inReplyTo][m.messageID], m)
	}
	return out
}

// checkCrash proves the outcome of TestGatewayCrash.
func checkCrash(ctx context.Context, t *testing.T, dir string, reqs []request, accepted map[string]bool, msgs []relayMsg) {
	t.Helper()
	final := finals(msgs)
	klfs := map[string]string{} // VKLOAD.REQ.1 → its Key Load File
	successes, copies := 0, 0
	for _, r := range reqs {
		byID := final[r.messageID()]
		if accepted[r.tag] && len(byID) != 1 || len(byID) > 1 {
			t.Errorf("request %s (taken %v): %d different final replies", r.tag, accepted[r.tag], len(byID))
			continue
		}
		for _, same := range byID {
			for _, c := range same[1:] {
				if !bytes.Equal(c.raw, same[0].raw) {
					t.Errorf("request %s: two different messages under one Message-ID", r.tag)
				}
				copies++
			}
			rep := same[0].reply
			if rep.Result.Kind != gwresult.Success {
				t.Errorf("request %s %s: %s", r.tag, r.service, rep.Result.Header())
				continue
			}
			if r.service != smmail.GetKlf {
				continue
			}
			_, bodies, err := rep.KLF()
			if err != nil {
				t.Errorf("request %s: %v", r.tag, err)
				continue
			}
			file := strings.Join(bodies, "\n")
			if prev, ok := klfs[r.vkload]; ok && prev != file {
				t.Errorf("request %s: two different Key Load Files", r.tag)
			}
			klfs[r.vkload] = file
			successes++
		}
	}
	t.Logf("%d requests, %d taken, %d Key Load Files, %d replies at the relay, %d of them copies of a reply sent again after a kill",
		len(reqs), len(accepted), successes, len(msgs), copies)

	k, err := kmc.OpenDir(ctx, filepath.Join(dir, "kmc"), kmc.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	issued := 0
	if err := k.AuditLog().Records(ctx, 1, func(r audit.Record) error {
		if r.Action == "klf.issue" {
			issued++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if issued != successes {
		t.Errorf("the KMC issued %d Key Load Files, %d requests were answered with one", issued, successes)
	}
	if _, err := k.AuditLog().Verify(ctx); err != nil {
		t.Errorf("audit chain: %v", err)
	}
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, "kmc", "gateway.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	gw, err := gateway.New(ctx, db, nil, nil, gateway.Config{Address: loop.GatewayAddress})
	if err != nil {
		t.Fatal(err)
	}
	q, err := gw.Queue().List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range q {
		if e.State != gateway.StateReplied {
			t.Errorf("request mail %s from %s: %s (%s)", e.Ref, e.From, e.State, e.Reason)
		}
	}
}

// crashRequests sets up the KMC in dir/kmc with modules registered and
// authorised, and returns the request mails: perModule
// {KMS:GetKlfStsEd2} of each of modules modules, and pk {KMS:GetPublicKey},
// shuffled.
func crashRequests(ctx context.Context, t *testing.T, dir, relay string, modules, perModule, pk int) []request {
	t.Helper()
	st, record := startKeyed(ctx, t, dir, relay, gateway.Config{Limits: &gateway.Limits{}})
	defer st.Close()
	var reqs []request
	for i := range modules {
		m, from := newModule(ctx, t, st, filepath.Join(dir, fmt.Sprintf("sm%d", i)), record, i)
		for j := range perModule {
			reqs = append(reqs, newRequest(fmt.Sprintf("klf-%d-%d", i, j), from, smmail.GetKlf, requestBlock(ctx, t, m)))
		}
	}
	for i := range pk {
		reqs = append(reqs, newRequest(fmt.Sprintf("pk-%d", i), "someone@utility.test", smmail.GetPublicKey, ""))
	}
	rand.Shuffle(len(reqs), func(i, j int) { reqs[i], reqs[j] = reqs[j], reqs[i] })
	return reqs
}

// requestBlock returns a fresh VKLOAD.REQ.1 of m for its slot 1, armored
// as a Record-in-Email block.
func requestBlock(ctx context.Context, t *testing.T, m *sm.Module) string {
	t.Helper()
	req, err := m.Request(ctx, testOfficer, 1)
	if err != nil {
		t.Fatal(err)
	}
	body, err := req.Format()
	if err != nil {
		t.Fatal(err)
	}
	block, err := armor.Wrap(body)
	if err != nil {
		t.Fatal(err)
	}
	return string(block)
}

// startKeyed starts a KMC and its gateway on dir, relaying to relay, with
// supply group 1 and a VUDK imported for it, and returns the stack, for
// the caller to close, and the KMC's public key record.
func startKeyed(ctx context.Context, t *testing.T, dir, relay string, cfg gateway.Config) (*loop.Stack, string) {
	t.Helper()
	st, err := loop.StartKMCAndGatewayConfig(ctx, dir, relay, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var record string
	err = st.AddSupplyGroup(ctx)
	if err == nil {
		_, err = st.ImportKey(ctx, 1, kmc.VUDK)
	}
	if err == nil {
		record, err = st.PublicKey(ctx)
	}
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	return st, record
}

// newModule makes a vending module in dir, registered at the KMC for
// address i and authorised for the loop's keys, with the KMC key in
// slot 1.
func newModule(ctx context.Context, t *testing.T, st *loop.Stack, dir, record string, i int) (*sm.Module, string) {
	t.Helper()
	m, err := apitest.New(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	from := fmt.Sprintf("vending%d@utility.test", i)
	if err := st.Authorise(ctx, m.Identify(), kmc.Vending, kmc.TypesOf(kmc.VUDK), from); err != nil {
		t.Fatal(err)
	}
	s, err := m.InstallSlot(ctx, testOfficer, sm.InstallRequest{Record: record, Fingerprint: st.Fingerprint, TestKMC: true})
	if err != nil {
		t.Fatal(err)
	}
	if s.Number != 1 {
		t.Fatalf("installed in slot %d", s.Number)
	}
	return m, from
}

func newRequest(tag, from, service, vkload string) request {
	c := smmail.Client{Gateway: loop.GatewayAddress, From: from, Hostname: "utility.test"}
	body := ""
	if vkload != "" {
		body = "Please send the Key Load File.\r\n\r\n" + vkload
	}
	return request{tag: tag, from: from, service: service, vkload: vkload, raw: c.Message(service, tag, body)}
}

// runGatewayChild is the child of TestGatewayCrash: the KMC in dir/kmc and
// its gateway, SMTP on 127.0.0.1:0 (announced as "listening ADDR"),
// logging to standard output, and "drained" whenever nothing is left to
// process or send. It runs until killed.
func runGatewayChild(t *testing.T, dir, relay string) {
	ctx := context.Background()
	k, err := kmc.OpenDir(ctx, filepath.Join(dir, "kmc"), kmc.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, "kmc", "gateway.db"))
	if err != nil {
		t.Fatal(err)
	}
	var out sync.Mutex
	say := func(line string) {
		out.Lock()
		defer out.Unlock()
		fmt.Println(line)
	}
	gw, err := gateway.New(ctx, db, kmcgateway.New(k), &gateway.Relay{Addr: relay, Hostname: "kms.test"}, gateway.Config{
		Address: loop.GatewayAddress, Limits: &gateway.Limits{}, Lease: 3 * time.Second, PollInterval: 50 * time.Millisecond,
		RetryBase: 100 * time.Millisecond, RetryMax: time.Second,
		Logger: slog.New(slog.NewTextHandler(lineWriter(say), nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := gw.NewServer(gateway.ServerOptions{})
	srv.ErrorLog = silent{}
	go srv.Serve(ln) //nolint:errcheck // until killed
	say("listening " + ln.Addr().String())
	go func() {
		for range time.Tick(100 * time.Millisecond) {
			if drained(ctx, gw) {
				say("drained")
			}
		}
	}()
	t.Fatal(gw.Run(ctx))
}

// lineWriter writes each log record as one line through say.
type lineWriter func(string)

func (w lineWriter) Write(b []byte) (int, error) {
	w(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// drained reports whether the gateway has nothing left to process or send.
func drained(ctx context.Context, gw *gateway.Gateway) bool {
	q, err := gw.Queue().List(ctx, "")
	if err != nil {
		return false
	}
	for _, e := range q {
		if e.State == gateway.StateReceived || e.State == gateway.StateProcessing {
			return false
		}
		for _, r := range e.Replies {
			if r.State == gateway.OutPending || r.State == gateway.OutSending {
				return false
			}
		}
	}
	return true
}
