package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/stskms/stskms/audit"
	"github.com/stskms/stskms/internal/httpapi"
	"github.com/stskms/stskms/internal/netguard"
	"github.com/stskms/stskms/internal/unseal"
	"github.com/stskms/stskms/keystore"
	"github.com/stskms/stskms/kmc"
)

// Sealed start: a live KMC or production module whose custody is a sealed
// store, served without its officers' passphrases, starts sealed and
// waits for each officer to unseal it over its socket (internal/unseal):
// "kmc unseal|status|seal", "sm unseal|status|seal".

// unsealTarget is what the unseal commands of kmc or sm work on.
type unsealTarget struct {
	component string // "kmc" or "sm"
	dirEnv    string // the environment variable of --dir
}

var (
	kmcUnsealTarget = unsealTarget{component: "kmc", dirEnv: "STSKMS_KMC_DIR"}
	smUnsealTarget  = unsealTarget{component: "sm", dirEnv: "STSKMS_SM_DIR"}
)

// unsealCommands are the "unseal", "status" and "seal" commands of t.
func (t unsealTarget) commands() map[string]*command {
	what := map[string]string{"kmc": "kmc serve and gateway serve", "sm": "sm serve"}[t.component]
	return map[string]*command{
		"unseal": {summary: "give your officer's passphrase to every sealed " + what + " of DIR", run: t.runUnseal},
		"status": {summary: "print whether each " + what + " of DIR is sealed, and how many officers have unsealed", run: t.runStatus},
		"seal":   {summary: "seal every " + what + " of DIR at once (emergency; audited)", run: t.runSeal},
	}
}

func (t unsealTarget) flags(e *env, verb, synopsis, description string) (*flagSet, *string, *bool) {
	fs := newFlags(t.component+" "+verb, synopsis, description)
	dir := fs.String("dir", e.getenv(t.dirEnv), "the directory of the running services (default $"+t.dirEnv+")")
	asJSON := fs.Bool("json", false, "print each service's status as a JSON line")
	return fs, dir, asJSON
}

func (t unsealTarget) runUnseal(e *env, args []string) error {
	fs, dir, asJSON := t.flags(e, "unseal", "--dir DIR --officer NAME",
		"Reads your passphrase (without echo on a terminal; else one line of standard input) and\n"+
			"gives it, over the socket in DIR/run, to every sealed service of DIR, which checks it\n"+
			"against its sealed store at once. A service unseals after its last officer. A wrong\n"+
			"passphrase is refused, counted and audited; repeated refusals slow the service down.")
	officer := fs.String("officer", "", "your officer name (required)")
	if err := fs.parseNoArgs(e, args); err != nil {
		return err
	}
	if *dir == "" || *officer == "" {
		return usageError("give --dir and --officer")
	}
	p := newPrompter(e)
	defer p.close()
	pass, ok, err := p.secret(fmt.Sprintf("passphrase of officer %q (not echoed): ", *officer))
	if err == nil && !ok {
		err = errors.New("no passphrase on standard input")
	}
	if err != nil {
		return err
	}
	defer clear(pass)
	return t.send(e, *dir, unseal.Request{Op: unseal.OpUnseal, Officer: *officer, Passphrase: pass}, *asJSON)
}

func (t unsealTarget) runStatus(e *env, args []string) error {
	fs, dir, asJSON := t.flags(e, "status", "--dir DIR [--json]",
		"Prints the state of every running service of DIR: \"unsealed\", or \"sealed (1 of 2\n"+
			"officers: alice)\", with the refusals counted since it started. Exit status 1 if no\n"+
			"service of DIR is running.")
	return t.simple(e, fs, dir, asJSON, args, unseal.OpStatus)
}

func (t unsealTarget) runSeal(e *env, args []string) error {
	fs, dir, asJSON := t.flags(e, "seal", "--dir DIR",
		"Seals every running service of DIR at once (an emergency): each audits the seal, stops\n"+
			"serving, closes its keys and waits for its officers again. Passphrases given since the\n"+
			"last unseal are discarded. Reaching the socket (the services' user) is the authority.")
	return t.simple(e, fs, dir, asJSON, args, unseal.OpSeal)
}

func (t unsealTarget) simple(e *env, fs *flagSet, dir *string, asJSON *bool, args []string, op string) error {
	if err := fs.parseNoArgs(e, args); err != nil {
		return err
	}
	if *dir == "" {
		return usageError("give the directory with --dir (or $" + t.dirEnv + ")")
	}
	return t.send(e, *dir, unseal.Request{Op: op}, *asJSON)
}

// send sends req to every service of dir and prints their answers; a
// refusal by any is the command's error.
func (t unsealTarget) send(e *env, dir string, req unseal.Request, asJSON bool) error {
	sts, err := unseal.Send(dir, req)
	if err != nil {
		return err
	}
	refused := 0
	for _, st := range sts {
		if st.Error != "" {
			refused++
		}
		if asJSON {
			b, _ := json.Marshal(st)
			fmt.Fprintf(e.stdout, "%s\n", b)
			continue
		}
		fmt.Fprintln(e.stdout, statusLine(st))
	}
	if refused > 0 {
		return fmt.Errorf("refused by %d of %d services", refused, len(sts))
	}
	return nil
}

// statusLine is a service's status in one line.
func statusLine(st unseal.Status) string {
	if st.Service == "" {
		return fmt.Sprintf("%s: %s", filepath.Base(st.Socket), st.Error)
	}
	s := fmt.Sprintf("%s (pid %d): %s", st.Service, st.PID, st.State())
	if st.Refused > 0 {
		s += fmt.Sprintf(", %d refused", st.Refused)
	}
	if st.Error != "" {
		s += ": " + st.Error
	}
	return s
}

// kmcGate is the unseal gate of service (kmc-serve, gateway-serve) on the
// KMC in dir: nil — open as before — unless it is a live KMC of
// sealed-store custody given no officers.
func kmcGate(e *env, dir, officers, service string) (*unseal.Gate, error) {
	mode, err := kmc.DirMode(dir)
	if err != nil {
		return nil, err
	}
	custody, err := kmc.DirCustody(dir)
	if err != nil {
		return nil, err
	}
	if mode != kmc.ModeLive || custody == keystore.KindPKCS11 || officers != "" {
		return nil, nil
	}
	return listenGate(e, dir, filepath.Join(dir, kmc.KeystoreDir), service, "kmc")
}

// listenGate starts sealed: it makes the gate of service on dir, whose
// sealed store is ksDir.
func listenGate(e *env, dir, ksDir, service, component string) (*unseal.Gate, error) {
	names, err := keystore.StoreOfficers(ksDir)
	if err != nil {
		return nil, err
	}
	prefix := "stskms " + strings.Replace(service, "-", " ", 1) + ": "
	logger := log.New(e.stderr, prefix, log.LstdFlags)
	g, err := unseal.Listen(unseal.Config{Dir: dir, Service: service, Component: component, Officers: names,
		Verify: func(c keystore.Component) error { return keystore.VerifyOfficer(ksDir, c) }, Logf: logger.Printf})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(e.stderr, "%ssealed: waiting for %d officers (%s): stskms %s unseal --dir %s --officer NAME\n",
		prefix, len(names), strings.Join(names, ", "), component, dir)
	return g, nil
}

// auditTo writes the gate's events to log, saying a failure with logf.
func auditTo(l *audit.Log, service string, logf func(string, ...any)) func([]unseal.Event) {
	return func(evs []unseal.Event) {
		for _, ev := range evs {
			actor := "unseal-socket"
			if ev.Officer != "" {
				actor = "officer:" + ev.Officer
			}
			e := audit.Entry{Actor: actor, Action: ev.Action, Subject: service, Details: ev.Details()}
			if _, err := l.AppendNow(context.Background(), e); err != nil {
				logf("audit of %s failed: %v", ev.Action, err)
			}
		}
	}
}

// sealable is a service that a gate opens and seals: serve waits until
// unsealed (at once without a gate), opens, runs until sealed or ctx
// ends, closes, and waits again.
type sealable[T any] struct {
	gate *unseal.Gate
	// start starts the listeners: before waiting when sealed, else
	// after the first open (so that a service that opens at once never
	// answers "sealed").
	start func() error
	open  func(officers []keystore.Component) (T, error)
	audit func(T) func([]unseal.Event)
	// live starts answering with the opened T (handlers, ports) before
	// the gate says unsealed, so that nobody told "unsealed" is answered
	// "sealed"; stop ends it.
	live  func(T) (stop func(), err error)
	run   func(context.Context, T) error
	close func(T)
}

func (s sealable[T]) serve(ctx context.Context) error {
	if s.gate != nil {
		if err := s.start(); err != nil {
			return err
		}
	}
	for first := true; ; first = false {
		comps, err := s.gate.Wait(ctx)
		if err != nil {
			return nil // ended while sealed
		}
		v, err := s.open(comps)
		zeroOfficers(comps)
		if err != nil {
			return err
		}
		if first && s.gate == nil {
			if err := s.start(); err != nil {
				s.close(v)
				return err
			}
		}
		stop, err := s.live(v)
		if err != nil {
			s.close(v)
			return err
		}
		err = s.run(s.gate.Unsealed(ctx, s.audit(v)), v)
		stop()
		s.gate.Resealed()
		s.close(v)
		if err != nil || ctx.Err() != nil || s.gate == nil {
			return err
		}
	}
}

// swapHandler serves the live API while unsealed and the sealed answer
// otherwise; sealing waits for the live calls in progress. A service
// without a gate is never sealed: its calls wait until it is live.
type swapHandler struct {
	sealed http.Handler
	ready  chan struct{} // closed once calls may be answered
	once   sync.Once
	mu     sync.RWMutex // held (read) by each live call
	live   http.Handler
}

// newSwapHandler answers sealed with the API's error body (see
// sealedHandler) while g is sealed.
func newSwapHandler(g *unseal.Gate, component string, body func(msg string) any) *swapHandler {
	h := &swapHandler{sealed: sealedHandler(g, component, body), ready: make(chan struct{})}
	if g != nil {
		h.once.Do(func() { close(h.ready) })
	}
	return h
}

func (h *swapHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	select {
	case <-h.ready:
	case <-r.Context().Done():
		return
	}
	h.mu.RLock()
	if live := h.live; live != nil {
		defer h.mu.RUnlock()
		live.ServeHTTP(w, r)
		return
	}
	h.mu.RUnlock()
	h.sealed.ServeHTTP(w, r)
}

// set serves live (nil: sealed), once the calls in progress are done.
func (h *swapHandler) set(live http.Handler) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.live = live
	if live != nil {
		h.once.Do(func() { close(h.ready) })
	}
}

// sealedHandler answers every call 503 with the API's error body, made
// by body from the gate's message.
func sealedHandler(g *unseal.Gate, component string, body func(msg string) any) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		msg := "stopped"
		if g != nil {
			msg = g.Status().SealedMessage("stskms " + component + " unseal")
		}
		w.Header().Set("Retry-After", "30")
		httpapi.WriteJSON(w, http.StatusServiceUnavailable, body(msg))
	})
}

// apiServer is the HTTP server of a serve command: it listens from start
// until its context ends or wait is called.
type apiServer struct {
	srv         *http.Server
	addr        string
	tls         *tls.Config
	guard       netguard.Options
	name, label string // "kmc serve", "admin API"
	// consoleOrigin is --console-origin ("": the listener's own origin).
	consoleOrigin string
	ln            net.Listener
	stop          context.CancelFunc
	served        chan struct{}
}

// start listens and serves in the background; if the server stops for
// good, fail ends the command with the reason.
func (a *apiServer) start(ctx context.Context, e *env, fail context.CancelCauseFunc) error {
	ln, err := httpapi.ListenGuarded(a.addr, a.tls, a.guard)
	if err != nil {
		return err
	}
	scheme := map[bool]string{false: "http", true: "https"}[a.tls != nil]
	fmt.Fprintf(e.stdout, "stskms %s: %s on %s://%s\n", a.name, a.label, scheme, ln.Addr())
	a.serve(ctx, ln, fail)
	return nil
}

// serve serves on ln in the background; if the server stops for good,
// fail ends the command with the reason.
func (a *apiServer) serve(ctx context.Context, ln net.Listener, fail context.CancelCauseFunc) {
	a.ln = ln
	ctx, a.stop = context.WithCancel(ctx)
	a.served = make(chan struct{})
	go func() {
		defer close(a.served)
		if err := serverStopped(a.label+" on "+ln.Addr().String(), httpapi.Serve(ctx, a.srv, ln)); err != nil {
			fail(err)
		}
	}()
}

// wait stops the server, if started, and waits until it has.
func (a *apiServer) wait() {
	if a.served != nil {
		a.stop()
		<-a.served
	}
}

// writeAddrFile writes addrs to path (--addr-file), if given.
func writeAddrFile(path, addrs string) error {
	if path == "" {
		return nil
	}
	return os.WriteFile(path, []byte(addrs), 0o644)
}

// servicePort is a listener a serve command holds for its life. With a
// gate, connections while sealed are greeted and closed (unseal.Port);
// without, the listener is served once, connections waiting in its
// backlog until then.
type servicePort struct {
	ln   net.Listener
	port *unseal.Port // nil without a gate
}

func newServicePort(ln net.Listener, g *unseal.Gate, sealedGreeting string) *servicePort {
	p := &servicePort{ln: ln}
	if g != nil {
		p.port = unseal.NewPort(ln, sealedGreeting)
	}
	return p
}

// phase is the listener to serve while unsealed; closing it seals the
// port again.
func (p *servicePort) phase() net.Listener {
	if p.port == nil {
		return p.ln
	}
	return p.port.Open()
}

func (p *servicePort) addr() net.Addr { return p.ln.Addr() }

func (p *servicePort) close() {
	if p.port != nil {
		p.port.Close()
		return
	}
	p.ln.Close()
}
