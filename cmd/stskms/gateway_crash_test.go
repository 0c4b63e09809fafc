package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	netsmtp "net/smtp"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stskms/stskms/gwresult"
	"github.com/stskms/stskms/internal/smtpsink"
	"github.com/stskms/stskms/smmail"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
)

// crashGW is the address of the gateways the crash tests run.
const crashGW = "kmc@kms.test"

// recoveryBound is how soon after a gateway is killed (or restarted) every
// mail it accepted must be answered: issue 12's acceptance.
const recoveryBound = 10 * time.Second

// TestGatewayServeKilled kills (SIGKILL) a real "stskms gateway serve"
// while request mails stream in and it answers them — with both its
// senders stuck at the relay, each holding the claim of a reply — and
// restarts it at once on the same directory, with the default settings,
// and goes on sending: every mail that either process accepted (SMTP 250)
// is answered, with success, within 10 s of the restart; the dead
// process's claims were taken over when its heartbeat lapsed, not when
// their 2-minute leases ran out.
func TestGatewayServeKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("short: kills a real gateway process")
	}
	kmcDir := initTestKMC(t)
	sink := newRelaySink(t)
	args := []string{"--dir", kmcDir, "--relay", sink.Addr}
	first := startGatewayServe(t, append(args, "--hostname", "first.kms.test")...)
	s := streamMail(t, first.addr)
	s.killMidStream(t, sink, first, "first.kms.test")
	restart := time.Now()
	second := startGatewayServe(t, append(args, "--hostname", "second.kms.test")...)
	s.retarget(second.addr)
	s.waitAccepted(t, s.count()+20)
	s.stop()
	checkAnswered(t, sink, s.accepted(), restart.Add(recoveryBound), first, second)
	second.stop(t)
}

// TestGatewayServeSurvivor runs two real "stskms gateway serve" processes
// on one database, sends to both, and kills one (SIGKILL) mid-stream, its
// senders stuck at the relay with their claims: the survivor takes the
// dead one's claims over, and every mail either accepted is answered
// within 10 s of the kill.
func TestGatewayServeSurvivor(t *testing.T) {
	if testing.Short() {
		t.Skip("short: kills a real gateway process")
	}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		kmcDir := initTestKMC(t)
		sink := newRelaySink(t)
		args := []string{"--dir", kmcDir, "--db", storetest.DSN(t, db), "--relay", sink.Addr}
		victim := startGatewayServe(t, append(args, "--hostname", "victim.kms.test")...)
		survivor := startGatewayServe(t, append(args, "--hostname", "survivor.kms.test")...)
		s := streamMail(t, victim.addr, survivor.addr)
		s.killMidStream(t, sink, victim, "victim.kms.test")
		killed := time.Now()
		s.retarget(survivor.addr)
		s.waitAccepted(t, s.count()+20)
		s.stop()
		checkAnswered(t, sink, s.accepted(), killed.Add(recoveryBound), victim, survivor)
		survivor.stop(t)
	})
}

// killMidStream lets some mail be accepted, then holds the victim's
// replies at the relay until both its senders are stuck with a claim,
// lets more mail come in, and kills it; the relay then refuses what it
// held, as if it never got it.
func (s *mailStream) killMidStream(t *testing.T, sink *relaySink, victim *gwChild, host string) {
	t.Helper()
	s.waitAccepted(t, s.count()+20+rand.IntN(20))
	sink.hold(host)
	sink.waitHeld(t, 2) // gateway serve runs 2 senders
	s.waitAccepted(t, s.count()+10)
	victim.kill(t)
	sink.release()
}

// relaySink is the gateways' relay: an SMTP server that keeps the replies.
// While it holds a gateway (hold), it keeps that gateway's messages
// unanswered in DATA, so that the gateway's senders are stuck with their
// claims; release answers them 451 and drops them (the relay never took
// them).
type relaySink struct {
	*smtpsink.Sink

	mu      sync.Mutex
	held    string        // the EHLO name of the gateway held ("": none)
	waiting int           // its messages held now
	gate    chan struct{} // closed by release
	changed chan struct{} // closed and replaced at every change of waiting
}

func newRelaySink(t *testing.T) *relaySink {
	t.Helper()
	s := &relaySink{changed: make(chan struct{})}
	s.Sink = smtpsink.New(t, s.accept)
	t.Cleanup(s.release) // before the server closes
	return s
}

// accept holds a message of the gateway held until release, and then
// refuses it.
func (s *relaySink) accept(m smtpsink.Message) error {
	s.mu.Lock()
	gate := s.gate
	if gate == nil || m.Host != s.held {
		s.mu.Unlock()
		return nil
	}
	s.waiting++
	s.changedLocked()
	s.mu.Unlock()
	<-gate
	s.mu.Lock()
	s.waiting--
	s.mu.Unlock()
	return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Not taken"}
}

// changedLocked wakes the waiters; s.mu is held.
func (s *relaySink) changedLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// hold holds the messages of the gateway that says EHLO host.
func (s *relaySink) hold(host string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.held, s.gate = host, make(chan struct{})
}

// release refuses the held messages (451) and lets the rest through.
func (s *relaySink) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gate != nil {
		close(s.gate)
		s.held, s.gate = "", nil
	}
}

// waitHeld waits until n messages are held.
func (s *relaySink) waitHeld(t *testing.T, n int) {
	t.Helper()
	timeout := time.After(time.Minute)
	for {
		s.mu.Lock()
		waiting, changed := s.waiting, s.changed
		s.mu.Unlock()
		if waiting >= n {
			return
		}
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("%d messages held after a minute, want %d", waiting, n)
		}
	}
}

// wait waits, until ctx ends, for a final reply to rcpt and returns it.
func (s *relaySink) wait(ctx context.Context, rcpt string) (*smmail.Reply, error) {
	for seen := 0; ; {
		msgs, kept := s.Messages()
		for ; seen < len(msgs); seen++ {
			if !slices.Contains(msgs[seen].To, rcpt) {
				continue
			}
			if r, err := smmail.ParseReply(msgs[seen].Data); err == nil && r.Result.Final() {
				return r, nil
			}
		}
		select {
		case <-kept:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// checkAnswered waits, until deadline, for a final reply to each sender
// in from, and fails the test for those that get none or a failure.
func checkAnswered(t *testing.T, sink *relaySink, from []string, deadline time.Time, children ...*gwChild) {
	t.Helper()
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	var missing []string
	for _, f := range from {
		r, err := sink.wait(ctx, f)
		switch {
		case err != nil:
			missing = append(missing, f)
		case r.Result.Kind != gwresult.Success:
			t.Errorf("%s: %s", f, r.Result)
		}
	}
	takeovers := 0
	for _, c := range children {
		takeovers += strings.Count(c.logText(), "took over a claim")
	}
	t.Logf("%d mails accepted, %d unanswered by the deadline (the last answer came %v before it); %d claims taken over",
		len(from), len(missing), time.Until(deadline).Round(time.Millisecond), takeovers)
	if takeovers < 2 {
		t.Errorf("%d claims taken over, want at least the 2 of the dead process's senders", takeovers)
	}
	if len(missing) > 0 {
		for i, c := range children {
			t.Logf("gateway %d log:\n%s", i, c.logText())
		}
		t.Fatalf("%d of %d accepted mails unanswered within %v: %v", len(missing), len(from), recoveryBound, missing)
	}
}

// gwChild is a real "stskms gateway serve" process of a test.
type gwChild struct {
	cmd  *exec.Cmd
	addr string        // where it accepts mail
	done chan struct{} // closed once it has exited

	mu  sync.Mutex
	log []string // its standard error: JSON lines
}

// startGatewayServe starts "stskms gateway serve" for crashGW, with the
// sender checks off (no DNS) and args, listening on a free port of
// 127.0.0.1, and returns once it serves. It is killed after the test if
// still running.
func startGatewayServe(t *testing.T, args ...string) *gwChild {
	t.Helper()
	bin, err := exec.LookPath("stskms") // this test binary as stskms (TestMain)
	if err != nil {
		t.Fatal(err)
	}
	c := &gwChild{done: make(chan struct{})}
	c.cmd = exec.Command(bin, append([]string{"gateway", "serve", "--address", crashGW, "--listen", "127.0.0.1:0",
		"--auth", "off"}, args...)...)
	stderr, err := c.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	serving := make(chan string, 1)
	go func() {
		defer close(c.done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			c.mu.Lock()
			c.log = append(c.log, sc.Text())
			c.mu.Unlock()
			var rec struct{ Msg, Listen string }
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "gateway: serving" {
				serving <- rec.Listen
			}
		}
		c.cmd.Wait()
	}()
	t.Cleanup(func() {
		c.cmd.Process.Kill()
		<-c.done
	})
	select {
	case c.addr = <-serving:
	case <-c.done:
		t.Fatalf("gateway serve exited: %v\n%s", c.cmd.ProcessState, c.logText())
	case <-time.After(time.Minute):
		t.Fatalf("gateway serve did not start\n%s", c.logText())
	}
	return c
}

func (c *gwChild) logText() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.log, "\n")
}

// kill kills the process with SIGKILL and waits until it is gone.
func (c *gwChild) kill(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-c.done
}

// stop stops the process as an operator does (SIGTERM): it must exit 0.
func (c *gwChild) stop(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		t.Fatal("gateway serve did not stop on SIGTERM")
	}
	if !c.cmd.ProcessState.Success() {
		t.Errorf("gateway serve stopped with %v\n%s", c.cmd.ProcessState, c.logText())
	}
}

// mailStream sends request mails, each from a sender of its own, to its
// targets in turn, until stopped, and records which were accepted.
type mailStream struct {
	mu      sync.Mutex
	targets []string
	taken   []string // the senders of the mails answered 250
	quit    chan struct{}
	done    chan struct{}
}

func streamMail(t *testing.T, targets ...string) *mailStream {
	s := &mailStream{targets: targets, quit: make(chan struct{}), done: make(chan struct{})}
	go s.run()
	t.Cleanup(s.stop)
	return s
}

func (s *mailStream) run() {
	defer close(s.done)
	for i := 0; ; i++ {
		select {
		case <-s.quit:
			return
		case <-time.After(10 * time.Millisecond):
		}
		s.mu.Lock()
		to := s.targets[i%len(s.targets)]
		s.mu.Unlock()
		from := fmt.Sprintf("r%d@d%d.utility.test", i, i%32)
		service := []string{"Help", "GetPublicKey"}[i%2]
		raw := "From: <" + from + ">\r\nTo: <" + crashGW + ">\r\nSubject: {KMS:" + service + "} " + fmt.Sprint(i) +
			"\r\nMessage-ID: <m" + fmt.Sprint(i) + "." + from + ">\r\nDate: " + time.Now().Format(time.RFC1123Z) +
			"\r\n\r\nPlease.\r\n"
		if netsmtp.SendMail(to, nil, from, []string{crashGW}, []byte(raw)) == nil {
			s.mu.Lock()
			s.taken = append(s.taken, from)
			s.mu.Unlock()
		}
	}
}

// retarget sends the following mails to targets.
func (s *mailStream) retarget(targets ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.targets = targets
}

// count returns the number of mails accepted so far.
func (s *mailStream) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.taken)
}

// waitAccepted waits until n mails were accepted.
func (s *mailStream) waitAccepted(t *testing.T, n int) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); s.count() < n; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d mails accepted after a minute, want %d", s.count(), n)
		}
	}
}

func (s *mailStream) stop() {
	select {
	case <-s.quit:
	default:
		close(s.quit)
	}
	<-s.done
}

func (s *mailStream) accepted() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.taken...)
}
