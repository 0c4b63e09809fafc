package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/stskms/stskms/internal/httpapi"
	"github.com/stskms/stskms/internal/netguard"
	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/sm/api"
	"github.com/stskms/stskms/sm/api/sts6"
)

// serveFlags are the flags of "stskms sm serve".
type serveFlags struct {
	httpAddr, sts6Addr, certFile, keyFile, clientCA, clients, plainRole, addrFile string
	exitAfter, selftestEvery                                                      time.Duration
	limits                                                                        *netguard.Limits
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
			"every API refuses service, saying why, until restart.")
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
	if _, err := fs.parse(e, args); err != nil {
		return err
	}
	if err := checkLimits(sf.limits); err != nil {
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
	m, err := openSM(e, f, true)
	if err != nil {
		return err
	}
	defer m.Close()
	if fault := m.Fault(); fault != nil {
		fmt.Fprintf(e.stderr, "stskms sm serve: SELF-TEST FAILED at start; every request will be refused: %v\n", fault)
	}
	tokens, err := smAPITokens(e, f.dir, m.Identify().Test)
	if err != nil {
		return err
	}
	return serveSM(e, m, f.dir, tokens, sf)
}

// serveSM serves the module until interrupted or --exit-after.
func serveSM(e *env, m *sm.Module, dir string, tokens *api.Tokens, sf serveFlags) error {
	cfg, err := tlsConfigOf(sf.certFile, sf.keyFile)
	if err != nil {
		return err
	}
	clients, err := smClients(dir, sf)
	if err != nil {
		return err
	}
	httpCfg := cfg
	if clients != nil {
		if httpCfg, err = httpapi.WithClientCA(cfg, sf.clientCA, tls.VerifyClientCertIfGiven); err != nil {
			return err
		}
	}
	ln, err := httpapi.ListenGuarded(sf.httpAddr, httpCfg, guardOptions(sf.limits, e.stderr, "stskms sm serve: "))
	if err != nil {
		return err
	}
	defer ln.Close()
	scheme := map[bool]string{false: "http", true: "https"}[cfg != nil]
	srv := httpapi.NewHTTPServerWith(api.NewWithClients(m, tokens, clients), *sf.limits)
	fmt.Fprintf(e.stdout, "stskms sm serve: HTTP API on %s://%s\n", scheme, ln.Addr())
	addrs := ln.Addr().String() + "\n"
	var s6 *sts6.Server
	var sln net.Listener
	if sf.sts6Addr != "" {
		if s6, sln, err = listenSTS6(e, m, clients, tokens, cfg, sf); err != nil {
			return err
		}
		defer sln.Close()
		fmt.Fprintf(e.stdout, "stskms sm serve: STS6 API on %s\n", sln.Addr())
		addrs += sln.Addr().String() + "\n"
	}
	if sf.addrFile != "" {
		if err := os.WriteFile(sf.addrFile, []byte(addrs), 0o644); err != nil {
			return err
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if sf.exitAfter > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, sf.exitAfter)
		defer cancel()
	}
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)
	go selftestLoop(ctx, m, sf.selftestEvery, usr1, e.stderr)
	keep := func(ctx context.Context) error {
		return m.KeepCheckpoints(ctx, sf.checkpointEvery, sf.checkpointRecords)
	}
	return withCheckpoints(ctx, keep, func(ctx context.Context) error { return serveSMListeners(ctx, srv, ln, s6, sln) })
}

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

// serveSMListeners serves the HTTP API on ln and, if s6 is not nil, the
// STS6 API on sln, until ctx ends (nil) or either server stops for good:
// then both stop and the reason is returned.
func serveSMListeners(ctx context.Context, srv *http.Server, ln net.Listener, s6 *sts6.Server, sln net.Listener) error {
	ctx, fail := context.WithCancelCause(ctx)
	defer fail(nil)
	if s6 != nil {
		watchServer(fail, "STS6 API on "+sln.Addr().String(), func() error { return s6.Serve(sln) }, sts6.ErrClosed)
		defer s6.Close()
	}
	if err := serverStopped("HTTP API on "+ln.Addr().String(), httpapi.Serve(ctx, srv, ln)); err != nil {
		return err
	}
	return stopReason(ctx)
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

// listenSTS6 makes the STS6 server and its listener: with TLS, client
// certificates verified against --client-ca and mapped by clients (the
// client file); without, loopback only, with --sts6-role for a test
// module.
func listenSTS6(e *env, m *sm.Module, clients *api.Clients, tokens *api.Tokens, cfg *tls.Config, sf serveFlags) (*sts6.Server, net.Listener, error) {
	c := sts6.Config{Officers: tokens, Clients: clients, HandshakeTimeout: sf.limits.HandshakeTimeout, IdleTimeout: sf.limits.IdleTimeout}
	if sf.plainRole != "" {
		if !m.Identify().Test || cfg != nil {
			return nil, nil, fmt.Errorf("--sts6-role is for a test module served without TLS")
		}
		r, err := sm.ParseRole(sf.plainRole)
		if err != nil {
			return nil, nil, err
		}
		c.Plain = r.As("loopback-" + r.String())
		fmt.Fprintf(e.stderr, "stskms sm serve: STS6 loopback clients are %s (TEST-ONLY module)\n", c.Plain)
	}
	var s6cfg *tls.Config
	if cfg != nil {
		var err error
		if s6cfg, err = sts6.ServerTLS(cfg.Certificates[0], sf.clientCA); err != nil {
			return nil, nil, err
		}
	}
	sln, err := httpapi.ListenGuarded(sf.sts6Addr, s6cfg, guardOptions(sf.limits, e.stderr, "stskms sm serve: "))
	if err != nil {
		return nil, nil, err
	}
	return sts6.NewServer(m, c), sln, nil
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
