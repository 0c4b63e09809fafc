package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/stskms/stskms/internal/httpapi"
	"github.com/stskms/stskms/internal/metrics"
	"github.com/stskms/stskms/internal/netguard"
	"github.com/stskms/stskms/internal/unseal"
	"github.com/stskms/stskms/keystore"
	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/sm/api"
	"github.com/stskms/stskms/sm/api/sts6"
)

// serveFlags are the flags of "stskms sm serve".
type serveFlags struct {
	httpAddr, sts6Addr, certFile, keyFile, clientCA, clients, plainRole, addrFile string
	exitAfter, selftestEvery                                                      time.Duration
	limits                                                                        *netguard.Limits
	metrics                                                                       metricsFlag
	consoleOrigin                                                                 string // --console-origin, checked
	checkpointEvery                                                               time.Duration
	checkpointRecords                                                             int64
}

// runSMServe is "stskms sm serve": the HTTP/JSON API (package sm/api) and
// the STS6-style API (package sm/api/sts6), one module behind both, with
// the self-tests run every --selftest-every and on SIGUSR1.
func runSMServe(e *env, args []string) error {
	fs := newFlags("sm serve", "--dir DIR [--http ADDR] [--listen ADDR] [--tls-cert FILE --tls-key FILE [--client-ca FILE]]",
		"Serves the module's HTTP/JSON API (docs/sm-api.yaml) and, with --listen, its STS6-style\n"+
			"API (docs/sm.md) until interrupted. HTTP callers authenticate with bearer tokens from\n"+
			"DIR/"+api.TokenFile+"; a test module gets one of random tokens, flagged TEST-ONLY, the\n"+
			"first time. Without TLS both ports serve loopback addresses only. With --tls-cert and\n"+
			"--client-ca, client certificates signed by that CA are mapped to roles by\n"+
			"DIR/"+sts6.ClientsFile+": the STS6 port requires one; the HTTP port takes one\n"+
			"instead of a bearer token (or with the same caller's) and refuses an unknown one.\n"+
			"Without TLS a test module's STS6 port gives loopback clients the role --sts6-role\n"+
			"(default: identify only). The self-tests run at start,\n"+
			"every --selftest-every and on SIGUSR1; a failure puts the module in its error state:\n"+
			"every API refuses service, saying why, until restart. A production module given no\n"+
			"officer credentials on standard input starts sealed: its APIs refuse until each officer\n"+
			"runs `stskms sm unseal --dir DIR --officer NAME` (docs/sm.md §1.2).")
	f := addSMFlags(e, fs)
	addSMTablesFlag(e, fs, f)
	var sf serveFlags
	fs.StringVar(&sf.httpAddr, "http", "127.0.0.1:8080", "listen address of the HTTP/JSON API")
	fs.StringVar(&sf.sts6Addr, "listen", "", "listen address of the STS6-style API")
	fs.StringVar(&sf.certFile, "tls-cert", "", "TLS certificate (PEM)")
	fs.StringVar(&sf.keyFile, "tls-key", "", "TLS private key (PEM)")
	fs.StringVar(&sf.clientCA, "client-ca", "", "CA certificates (PEM) of client certificates: required on the STS6 port, optional on the HTTP port")
	fs.StringVar(&sf.clients, "sts6-clients", "", "client certificate file of both ports (default DIR/"+sts6.ClientsFile+")")
	fs.StringVar(&sf.plainRole, "sts6-role", "", "role of plain loopback STS6 clients of a test module: officer, operator or auditor")
	fs.StringVar(&sf.addrFile, "addr-file", "", "write the addresses listened on to this file, HTTP then STS6, one a line (for --http 127.0.0.1:0)")
	fs.DurationVar(&sf.exitAfter, "exit-after", 0, "stop after this long (tests and demos; 0: run until interrupted)")
	fs.DurationVar(&sf.selftestEvery, "selftest-every", time.Hour, "run the self-tests this often (0: only at start and on SIGUSR1)")
	fs.DurationVar(&sf.checkpointEvery, "checkpoint-every", sm.DefaultCheckpointEvery, "keep a signed audit checkpoint outside the database at least this often while the log grows (docs/audit.md)")
	fs.Int64Var(&sf.checkpointRecords, "checkpoint-records", sm.DefaultCheckpointRecords, "and whenever the log has grown by this many records")
	sf.limits = addListenFlags(fs)
	sf.metrics = addMetricsFlag(fs)
	consoleAt := addConsoleOriginFlag(fs)
	if _, err := fs.parse(e, args); err != nil {
		return err
	}
	if err := checkLimits(sf.limits); err != nil {
		return err
	}
	if err := sf.metrics.check(); err != nil {
		return err
	}
	var err error
	if sf.consoleOrigin, err = parseConsoleOrigin(*consoleAt); err != nil {
		return err
	}
	if (sf.certFile == "") != (sf.keyFile == "") {
		return usageError("give both --tls-cert and --tls-key, or neither")
	}
	if sf.clientCA != "" && sf.certFile == "" {
		return fmt.Errorf("--client-ca needs --tls-cert and --tls-key")
	}
	// Refuse a plain non-loopback address before opening the module.
	for _, a := range []string{sf.httpAddr, sf.sts6Addr} {
		if err := httpapi.CheckPlain(a, sf.certFile != ""); err != nil {
			return err
		}
	}
	gate, test, err := smGate(e, f)
	defer func() { zeroOfficers(f.unsealed) }()
	if err != nil {
		return err
	}
	defer gate.Close()
	tokens, err := smAPITokens(e, f.dir, test)
	if err != nil {
		return err
	}
	if err := checkSMOfficerTokens(f.dir, tokens); err != nil {
		return err
	}
	srv, err := newSMServer(e, f, sf, tokens, gate, test)
	if err != nil {
		return err
	}
	return srv.serve()
}

// smGate is the unseal gate of sm serve: nil — open as before — unless
// the module is a production one of sealed-store custody and no officer
// gave a credential on standard input (kept in f for the open); test
// reports a test module.
func smGate(e *env, f *smFlags) (gate *unseal.Gate, test bool, err error) {
	if f.dir == "" {
		return nil, false, smDir.errNoDir()
	}
	info, err := sm.Stat(f.dir)
	if err != nil || info.Test || info.Custody == keystore.KindPKCS11 {
		return nil, info.Test, err
	}
	if f.unsealed, err = smCredentials(e); err != nil || len(f.unsealed) > 0 {
		return nil, false, err
	}
	gate, err = listenGate(e, f.dir, filepath.Join(f.dir, sm.KeystoreDir), "sm-serve", "sm")
	return gate, false, err
}

// smServer is sm serve: the HTTP API, sealed or live, for the command's
// life, and the STS6 port, refusing while sealed.
type smServer struct {
	e       *env
	f       *smFlags
	sf      serveFlags
	gate    *unseal.Gate
	tokens  *api.Tokens
	test    bool
	cfg     *tls.Config // the servers' TLS, nil without
	clients *api.Clients
	h       *swapHandler
	web     *apiServer
	sts6    *servicePort // nil without --listen
	s6c     sts6.Config
	fail    context.CancelCauseFunc
}

func newSMServer(e *env, f *smFlags, sf serveFlags, tokens *api.Tokens, gate *unseal.Gate, test bool) (*smServer, error) {
	s := &smServer{e: e, f: f, sf: sf, gate: gate, tokens: tokens, test: test}
	var err error
	if s.cfg, err = tlsConfigOf(sf.certFile, sf.keyFile); err != nil {
		return nil, err
	}
	if s.clients, err = smClients(f.dir, sf); err != nil {
		return nil, err
	}
	httpCfg := s.cfg
	if s.clients != nil {
		if httpCfg, err = httpapi.WithClientCA(s.cfg, sf.clientCA, tls.VerifyClientCertIfGiven); err != nil {
			return nil, err
		}
	}
	if sf.sts6Addr != "" {
		if s.s6c, err = sts6Config(e, test, s.clients, tokens, s.cfg, sf); err != nil {
			return nil, err
		}
	}
	s.h = newSwapHandler(gate, "sm", smSealedBody)
	s.web = &apiServer{srv: httpapi.NewHTTPServerWith(s.h, *sf.limits), addr: sf.httpAddr, tls: httpCfg,
		name: "sm serve", label: "HTTP API", guard: guardOptions(sf.limits, e.stderr, "stskms sm serve: "), consoleOrigin: sf.consoleOrigin}
	return s, nil
}

// serve serves until interrupted or --exit-after, or until a server fails
// for good (its reason returned).
func (s *smServer) serve() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if s.sf.exitAfter > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.sf.exitAfter)
		defer cancel()
	}
	ctx, s.fail = context.WithCancelCause(ctx)
	defer s.fail(nil)
	defer s.web.wait()
	defer func() {
		if s.sts6 != nil {
			s.sts6.close()
		}
	}()
	loop := sealable[*sm.Module]{gate: s.gate,
		start: func() error { return s.start(ctx) },
		open:  s.open,
		audit: s.audit,
		live:  s.live,
		run:   s.run,
		close: func(m *sm.Module) { m.Close() },
	}
	if err := loop.serve(ctx); err != nil {
		return err
	}
	return stopReason(ctx)
}

// start listens on both ports and writes --addr-file.
func (s *smServer) start(ctx context.Context) error {
	if err := s.web.start(ctx, s.e, s.fail); err != nil {
		return err
	}
	addrs := s.web.ln.Addr().String() + "\n"
	if s.sf.sts6Addr != "" {
		var s6cfg *tls.Config
		if s.cfg != nil {
			var err error
			if s6cfg, err = sts6.ServerTLS(s.cfg.Certificates[0], s.sf.clientCA); err != nil {
				return err
			}
		}
		ln, err := httpapi.ListenGuarded(s.sf.sts6Addr, s6cfg, guardOptions(s.sf.limits, s.e.stderr, "stskms sm serve: "))
		if err != nil {
			return err
		}
		s.sts6 = newServicePort(ln, s.gate, "")
		fmt.Fprintf(s.e.stdout, "stskms sm serve: STS6 API on %s\n", ln.Addr())
		addrs += ln.Addr().String() + "\n"
	}
	return writeAddrFile(s.sf.addrFile, addrs)
}

// open opens the module with the officers' components (none: as before).
func (s *smServer) open(comps []keystore.Component) (*sm.Module, error) {
	if comps != nil {
		s.f.unsealed = comps
	}
	defer func() { zeroOfficers(s.f.unsealed); s.f.unsealed = nil }()
	m, err := openSM(s.e, s.f, true)
	if err != nil {
		return nil, err
	}
	if fault := m.Fault(); fault != nil {
		fmt.Fprintf(s.e.stderr, "stskms sm serve: SELF-TEST FAILED at start; every request will be refused: %v\n", fault)
	}
	return m, nil
}

// unsealActor writes the unseal gate's events to the module's audit log.
var unsealActor = sm.Officer.As("sm-serve-unseal")

func (s *smServer) audit(m *sm.Module) func([]unseal.Event) {
	logf := func(format string, args ...any) { fmt.Fprintf(s.e.stderr, "stskms sm serve: "+format+"\n", args...) }
	l, err := m.Audit(unsealActor)
	if err != nil {
		return func([]unseal.Event) { logf("audit: %v", err) }
	}
	return auditTo(l, "sm-serve", logf)
}

// run serves m until ctx ends: the HTTP API, the STS6 port, the
// self-tests and the kept checkpoints.
func (s *smServer) run(ctx context.Context, m *sm.Module) error {
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)
	go selftestLoop(ctx, m, s.sf.selftestEvery, usr1, s.e.stderr)
	keep := func(ctx context.Context) error {
		return m.KeepCheckpoints(ctx, s.sf.checkpointEvery, s.sf.checkpointRecords)
	}
	return withCheckpoints(ctx, keep, func(ctx context.Context) error { <-ctx.Done(); return nil })
}

// live answers the HTTP API and the STS6 port with m until the returned
// function is called.
func (s *smServer) live(m *sm.Module) (func(), error) {
	set := metrics.SM(m)
	stopMetrics, err := s.sf.metrics.serve(s.e, "sm", set, *s.sf.limits, s.fail)
	if err != nil {
		return nil, err
	}
	h, closeConsole := mountSMConsole(s.e, s.web, s.f, m, api.NewWithClients(m, s.tokens, s.clients))
	s.h.set(set.Instrument(h))
	if s.sts6 == nil {
		return func() { s.h.set(nil); closeConsole(); stopMetrics() }, nil
	}
	s6 := sts6.NewServer(m, s.s6c)
	serveSTS6(s.fail, s6, s.sts6.phase())
	return func() { s6.Close(); s.h.set(nil); closeConsole(); stopMetrics() }, nil
}

// serveSTS6 serves s6 on ln in the background; if it stops for good, fail
// ends the command with the reason.
func serveSTS6(fail context.CancelCauseFunc, s6 *sts6.Server, ln net.Listener) {
	watchServer(fail, "STS6 API on "+ln.Addr().String(), func() error { return s6.Serve(ln) }, sts6.ErrClosed)
}

// smSealedBody is the HTTP API's refusal while sealed.
func smSealedBody(msg string) any { return api.ErrorBody{Code: sm.CodeExtended, Error: msg} }

// withCheckpoints runs serve while keep keeps the component's audit
// checkpoints (sm.Module.KeepCheckpoints, kmc.KMC.KeepCheckpoints); if
// keeping one fails, serving stops with the reason.
func withCheckpoints(ctx context.Context, keep, serve func(context.Context) error) error {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	kept := make(chan error, 1)
	go func() {
		kept <- keep(ctx)
		stop()
	}()
	err := serve(ctx)
	stop()
	if kerr := <-kept; err == nil && !errors.Is(kerr, context.Canceled) && !errors.Is(kerr, context.DeadlineExceeded) {
		return fmt.Errorf("stopped: failed to keep the audit checkpoint: %w", kerr)
	}
	return err
}

// smClients reads the client certificate file (--sts6-clients, default
// DIR/sm-sts6-clients.json) when --client-ca is given; nil otherwise.
func smClients(dir string, sf serveFlags) (*api.Clients, error) {
	if sf.clientCA == "" {
		return nil, nil
	}
	path := sf.clients
	if path == "" {
		path = filepath.Join(dir, api.ClientsFile)
	}
	return api.LoadClients(path)
}

// sts6Config is the STS6 server's configuration: with TLS, client
// certificates verified against --client-ca and mapped by clients (the
// client file); without, loopback only, with --sts6-role for a test
// module.
func sts6Config(e *env, test bool, clients *api.Clients, tokens *api.Tokens, cfg *tls.Config, sf serveFlags) (sts6.Config, error) {
	c := sts6.Config{Officers: tokens, Clients: clients, HandshakeTimeout: sf.limits.HandshakeTimeout, IdleTimeout: sf.limits.IdleTimeout}
	if sf.plainRole == "" {
		return c, nil
	}
	if !test || cfg != nil {
		return c, fmt.Errorf("--sts6-role is for a test module served without TLS")
	}
	r, err := sm.ParseRole(sf.plainRole)
	if err != nil {
		return c, err
	}
	c.Plain = r.As("loopback-" + r.String())
	fmt.Fprintf(e.stderr, "stskms sm serve: STS6 loopback clients are %s (TEST-ONLY module)\n", c.Plain)
	return c, nil
}

// selftestActor runs the periodic self-tests, as the audit log records.
var selftestActor = sm.Auditor.As("sm-serve-selftest")

// selftestLoop runs the self-tests every interval (never if 0) and on
// each value of now, until ctx ends, and says the outcome of each run on
// w. A failure puts the module in its error state (sm.Module.Selftest).
func selftestLoop(ctx context.Context, m *sm.Module, every time.Duration, now <-chan os.Signal, w io.Writer) {
	var tick <-chan time.Time
	if every > 0 {
		t := time.NewTicker(every)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
		case <-now:
		}
		rep, err := m.Selftest(ctx, selftestActor)
		switch {
		case err != nil:
			fmt.Fprintf(w, "stskms sm serve: self-test: %v\n", err)
		case !rep.OK:
			fmt.Fprintf(w, "stskms sm serve: SELF-TEST FAILED; every request is refused until restart: %s\n", rep.Failure())
		default:
			fmt.Fprintf(w, "stskms sm serve: self-test passed (%d tests)\n", len(rep.Results))
		}
	}
}

// smAPITokens reads the token file of the module, making one of test
// tokens for a test module that has none. A test token file is warned
// about once: as made, or as read.
func smAPITokens(e *env, dir string, test bool) (*api.Tokens, error) {
	tokens, err := api.LoadTokens(dir)
	made := false
	if errors.Is(err, api.ErrNoTokens) && test {
		tokens, err = api.InitTestTokens(dir)
		made = err == nil
	}
	if err != nil {
		return nil, err
	}
	if tokens.TestOnly {
		if !test {
			return nil, fmt.Errorf("the token file of a production module is flagged TEST-ONLY; replace it")
		}
		if made {
			fmt.Fprintf(e.stderr, "stskms sm serve: made %s: %s\n", api.TokenFile, api.TestTokensWarning)
		} else {
			fmt.Fprintln(e.stderr, "stskms sm serve: "+api.TestTokensWarning)
			warnExposed(e, "sm serve", "", dir, api.TokenFile)
		}
	}
	return tokens, nil
}

func tlsConfigOf(cert, key string) (*tls.Config, error) {
	if cert == "" {
		return nil, nil
	}
	return api.TLSConfig(cert, key)
}
