package unseal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/stskms/stskms/keystore"
)

// Back-off after refused passphrases: from the third refusal in a row the
// gate takes no passphrase for backoffBase, doubling with each further
// refusal up to backoffMax.
const (
	backoffAfter = 3
	backoffBase  = time.Second
	backoffMax   = time.Minute
)

// connDeadline bounds one connection: request and answer.
const connDeadline = 10 * time.Second

// sealWait bounds how long a seal request waits for the service to close.
const sealWait = 30 * time.Second

// maxDrain bounds what is read of an oversize request before refusing it.
const maxDrain = 1 << 20

// maxHeld bounds the events held while no audit log is open.
const maxHeld = 1000

// Config is what a Gate needs.
type Config struct {
	// Dir is the service's directory: the socket is in Dir/run.
	Dir string
	// Service names the service in its socket, status and log lines
	// ("kmc-serve", "gateway-serve", "sm-serve").
	Service string
	// Component prefixes the audit actions: "kmc" gives "kmc.unseal" …
	Component string
	// Officers are the store's officers, in the order of its components.
	Officers []string
	// Verify checks one officer's passphrase against the store
	// (keystore.VerifyOfficer).
	Verify func(keystore.Component) error
	// Logf says each event at once (standard error).
	Logf func(format string, args ...any)
}

// state is where the gate is between sealed and serving.
type state int

const (
	sealed   state = iota // taking the officers' passphrases
	opening               // every part in, handed to Wait's caller
	unsealed              // serving
)

// Gate is the sealed state of one service and its socket. Its zero value
// is not usable: make one with Listen. A nil *Gate stands for a service
// that opens without its officers: Wait returns at once with none.
type Gate struct {
	cfg  Config
	ln   *net.UnixListener
	uid  int              // the user allowed at the other end (guarded by mu: tests change it)
	now  func() time.Time // the clock (tests)
	done chan struct{}    // closed when the accept loop ends

	amu   sync.Mutex // held while writing events; guards audit
	audit func([]Event)

	mu        sync.Mutex
	state     state
	parts     map[string][]byte // the passphrases given while sealed
	full      chan struct{}     // signalled when every part is in
	stop      context.CancelFunc
	resealed  chan struct{} // closed when the service has closed again
	sealAsked bool          // a seal came while opening
	refused   int
	streak    int       // refusals in a row
	notBefore time.Time // no passphrase taken before then
	held      []Event
	changed   chan struct{} // closed and replaced when the service opens or closes
}

// Event is an audited step: an officer's part, the unseal, a seal, a
// refusal. It never holds a passphrase.
type Event struct {
	Time    time.Time
	Action  string // "kmc.unseal.officer", "kmc.unseal", "kmc.seal", "kmc.unseal.refused"
	Officer string // the officer named, if any
	Reason  string // why a request was refused
}

// Details is the event's audit details.
func (e Event) Details() map[string]any {
	d := map[string]any{"at": e.Time.UTC().Format(time.RFC3339Nano)}
	if e.Officer != "" {
		d["officer"] = e.Officer
	}
	if e.Reason != "" {
		d["reason"] = e.Reason
	}
	return d
}

// Listen makes the gate of a sealed service and starts taking requests on
// its socket, Dir/run/SERVICE-PID.sock.
func Listen(cfg Config) (*Gate, error) {
	if len(cfg.Officers) == 0 {
		return nil, errors.New("unseal: the store names no officers")
	}
	ln, err := listen(cfg.Dir, SocketPath(cfg.Dir, cfg.Service, os.Getpid()))
	if err != nil {
		return nil, err
	}
	g := &Gate{cfg: cfg, ln: ln, uid: os.Getuid(), now: time.Now, done: make(chan struct{}),
		parts: map[string][]byte{}, full: make(chan struct{}, 1), changed: make(chan struct{})}
	go g.accept()
	return g, nil
}

// Socket is the path of the gate's socket.
func (g *Gate) Socket() string { return g.ln.Addr().String() }

// Close stops taking requests, removes the socket and clears the parts
// given.
func (g *Gate) Close() error {
	if g == nil {
		return nil
	}
	err := g.ln.Close()
	<-g.done
	g.mu.Lock()
	defer g.mu.Unlock()
	g.clearParts()
	return err
}

// Wait waits until every officer has given their passphrase and returns
// them, in the store's order; the caller opens the store with them, clears
// them and calls Unsealed. It returns ctx's error if ctx ends first. On a
// nil gate it returns nothing at once.
func (g *Gate) Wait(ctx context.Context) ([]keystore.Component, error) {
	if g == nil {
		return nil, nil
	}
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-g.full:
		}
		if comps := g.take(); comps != nil {
			return comps, nil
		}
	}
}

// take hands over the parts if all are in, moving to opening.
func (g *Gate) take() []keystore.Component {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.state != sealed || len(g.parts) < len(g.cfg.Officers) {
		return nil
	}
	comps := make([]keystore.Component, 0, len(g.cfg.Officers))
	for _, name := range g.cfg.Officers {
		comps = append(comps, keystore.Component{Officer: name, Passphrase: g.parts[name]})
	}
	g.parts = map[string][]byte{}
	g.state, g.resealed, g.sealAsked = opening, make(chan struct{}), false
	return comps
}

// Unsealed says the store is open: the events held while sealed are
// written with audit, then each later one at once; the context returned
// ends at a seal (or with ctx), and the caller then stops serving, closes
// the store and calls Resealed. On a nil gate it returns ctx.
func (g *Gate) Unsealed(ctx context.Context, audit func([]Event)) context.Context {
	if g == nil {
		return ctx
	}
	g.amu.Lock()
	g.mu.Lock()
	held := g.held
	g.held = nil
	g.mu.Unlock()
	if len(held) > 0 {
		audit(held)
	}
	g.audit = audit
	g.amu.Unlock()

	ctx, stop := context.WithCancel(ctx)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.state, g.stop = unsealed, stop
	g.changedLocked()
	if g.sealAsked {
		stop()
	}
	g.cfg.Logf("unsealed")
	return ctx
}

// Resealed says the service has stopped serving; the caller closes the
// store after it. The gate takes passphrases again.
func (g *Gate) Resealed() {
	if g == nil {
		return
	}
	g.amu.Lock()
	g.audit = nil
	g.amu.Unlock()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stop != nil {
		g.stop()
		g.stop = nil
	}
	if g.state != sealed {
		close(g.resealed)
	}
	g.state = sealed
	g.changedLocked()
}

// changedLocked wakes those waiting for the service to open or close.
func (g *Gate) changedLocked() {
	close(g.changed)
	g.changed = make(chan struct{})
}

// Status is the gate's state.
func (g *Gate) Status() Status {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.statusLocked()
}

func (g *Gate) statusLocked() Status {
	s := Status{Service: g.cfg.Service, PID: os.Getpid(), Sealed: g.state != unsealed,
		Officers: slices.Clone(g.cfg.Officers), Unsealed: []string{}, Refused: g.refused}
	for _, name := range g.cfg.Officers {
		if _, ok := g.parts[name]; ok {
			s.Unsealed = append(s.Unsealed, name)
		}
	}
	return s
}

func (g *Gate) clearParts() {
	for name, p := range g.parts {
		clear(p)
		delete(g.parts, name)
	}
}

// record says ev on the log and audits it: at once while unsealed, else
// when the service is next unsealed.
func (g *Gate) record(ev Event) {
	ev.Time = g.now()
	line := ev.Action
	if ev.Officer != "" {
		line += " officer=" + ev.Officer
	}
	if ev.Reason != "" {
		line += ": " + ev.Reason
	}
	g.cfg.Logf("%s", line)
	g.amu.Lock()
	defer g.amu.Unlock()
	if g.audit != nil {
		g.audit([]Event{ev})
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.held) < maxHeld {
		g.held = append(g.held, ev)
	}
}

// accept serves the socket's connections one at a time until it closes.
func (g *Gate) accept() {
	defer close(g.done)
	for {
		c, err := g.ln.AcceptUnix()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				g.cfg.Logf("socket: %v", err)
			}
			return
		}
		g.serveConn(c)
	}
}

// serveConn answers one request.
func (g *Gate) serveConn(c *net.UnixConn) {
	defer c.Close()
	c.SetDeadline(g.now().Add(connDeadline))
	g.mu.Lock()
	want := g.uid
	g.mu.Unlock()
	if uid, err := peerUID(c); err != nil || uid != want {
		reason := fmt.Sprintf("a process of user %d, not %d, reached the socket", uid, want)
		if err != nil {
			reason = err.Error()
		}
		g.refuse("", reason)
		return // no answer to another user
	}
	buf := make([]byte, MaxRequest+1)
	defer clear(buf)
	n, err := io.ReadFull(c, buf)
	if err == nil {
		err = fmt.Errorf("%w: longer than %d bytes", ErrRequest, MaxRequest)
		// Read on (bounded) so that the client hears the refusal rather
		// than a reset.
		io.Copy(io.Discard, io.LimitReader(c, maxDrain))
	} else if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		err = nil
	}
	if err == nil && n == 0 {
		return // a probe (another service's stale-socket check): no request, nothing to count
	}
	var st Status
	if err == nil {
		st = g.handle(buf[:n])
	} else {
		st = g.refuse("", err.Error())
	}
	c.SetDeadline(g.now().Add(connDeadline))
	b, _ := json.Marshal(st)
	c.Write(append(b, '\n'))
}

// handle carries out one request and returns the answer.
func (g *Gate) handle(raw []byte) Status {
	req, err := ParseRequest(raw)
	if err != nil {
		return g.refuse("", err.Error())
	}
	defer clear(req.Passphrase)
	switch req.Op {
	case OpUnseal:
		return g.unseal(req)
	case OpSeal:
		return g.seal()
	}
	return g.Status()
}

// refuse counts and records a refused request, and returns the answer.
func (g *Gate) refuse(officer, reason string) Status {
	g.mu.Lock()
	g.refused++
	g.mu.Unlock()
	g.record(Event{Action: g.cfg.Component + ".unseal.refused", Officer: officer, Reason: reason})
	st := g.Status()
	st.Error = "refused: " + reason
	return st
}

// unseal takes one officer's part, checked against the store.
func (g *Gate) unseal(req Request) Status {
	g.mu.Lock()
	st, wait := g.state, g.notBefore.Sub(g.now())
	_, given := g.parts[req.Officer]
	g.mu.Unlock()
	switch {
	case st != sealed:
		return g.Status() // already unsealed: nothing needed
	case given:
		s := g.Status()
		s.Error = fmt.Sprintf("officer %q has already given their passphrase", req.Officer)
		return s
	case wait > 0:
		return g.refuse(req.Officer, fmt.Sprintf("too many refused passphrases: try again in %s", wait.Round(time.Second)))
	}
	if err := g.cfg.Verify(keystore.Component{Officer: req.Officer, Passphrase: req.Passphrase}); err != nil {
		g.backOff()
		return g.refuse(req.Officer, err.Error())
	}
	return g.accepted(req)
}

// backOff counts a refused passphrase and, after backoffAfter in a row,
// makes the gate wait before it takes the next.
func (g *Gate) backOff() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.streak++
	if g.streak >= backoffAfter {
		d := min(backoffBase<<min(g.streak-backoffAfter, 8), backoffMax)
		g.notBefore = g.now().Add(d)
	}
}

// accepted keeps a checked part and, after the last, wakes Wait.
func (g *Gate) accepted(req Request) Status {
	g.mu.Lock()
	if g.state != sealed {
		g.mu.Unlock()
		return g.Status()
	}
	g.streak = 0
	g.parts[req.Officer] = bytes.Clone(req.Passphrase)
	all := len(g.parts) == len(g.cfg.Officers)
	st, changed := g.statusLocked(), g.changed
	g.mu.Unlock()
	g.record(Event{Action: g.cfg.Component + ".unseal.officer", Officer: req.Officer})
	if !all {
		return st
	}
	g.record(Event{Action: g.cfg.Component + ".unseal"})
	select {
	case g.full <- struct{}{}:
	default:
	}
	// The last officer hears whether the service opened.
	select {
	case <-changed:
	case <-time.After(sealWait):
	}
	return g.Status()
}

// seal seals the service at once: the parts given are discarded, and a
// serving service stops and closes its store before the answer.
func (g *Gate) seal() Status {
	g.record(Event{Action: g.cfg.Component + ".seal"})
	g.mu.Lock()
	g.clearParts()
	var wait chan struct{}
	switch g.state {
	case opening:
		g.sealAsked, wait = true, g.resealed
	case unsealed:
		g.stop()
		wait = g.resealed
	}
	g.mu.Unlock()
	if wait != nil {
		select {
		case <-wait:
		case <-time.After(sealWait):
			s := g.Status()
			s.Error = "the service has not closed yet"
			return s
		}
	}
	return g.Status()
}
