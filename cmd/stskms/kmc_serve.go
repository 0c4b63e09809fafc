package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/stskms/stskms/internal/httpapi"
	"github.com/stskms/stskms/internal/keptcheckpoint"
	"github.com/stskms/stskms/internal/metrics"
	"github.com/stskms/stskms/internal/netguard"
	"github.com/stskms/stskms/internal/unseal"
	"github.com/stskms/stskms/keystore"
	"github.com/stskms/stskms/kmc"
	"github.com/stskms/stskms/kmc/api"
)

// runKMCServe is "stskms kmc serve": the KMC's HTTP/JSON admin API
// (package kmc/api, docs/kmc-api.yaml).
func runKMCServe(e *env, args []string) error {
	fs := newFlags("kmc serve", "--dir DIR [--http ADDR] [--tls-cert FILE --tls-key FILE] [--tokens FILE]",
		"Serves the KMC's HTTP/JSON admin API (docs/kmc-api.yaml) until interrupted, pruning seen\n"+
			"requests older than --retain (default 30 days) every --prune-every (audited). Callers\n"+
			"authenticate with bearer tokens from DIR/"+api.TokenFile+" (or --tokens FILE), each\n"+
			"mapped to a role (officer, operator, auditor) and a name for the audit log; a test-mode\n"+
			"KMC gets a file of random tokens, flagged TEST-ONLY, the first time. Plain HTTP is\n"+
			"served only on a loopback address; any other address needs --tls-cert and --tls-key.\n"+
			"A live KMC of sealed-store custody given no --officers starts sealed: the API answers\n"+
			"503 until each officer runs `stskms kmc unseal --dir DIR --officer NAME`; `stskms kmc\n"+
			"seal` seals it again (docs/kmc.md §2.2).")
	f := addKMCFlags(e, fs)
	httpAddr := fs.String("http", "127.0.0.1:8081", "listen address of the admin API")
	certFile := fs.String("tls-cert", "", "TLS certificate (PEM)")
	keyFile := fs.String("tls-key", "", "TLS private key (PEM)")
	tokensFile := fs.String("tokens", "", "the token file (default DIR/"+api.TokenFile+")")
	addrFile := fs.String("addr-file", "", "write the address listened on to this file (for --http 127.0.0.1:0)")
	exitAfter := fs.Duration("exit-after", 0, "stop after this long (tests and demos; 0: run until interrupted)")
	limits := addListenFlags(fs)
	metricsAt := addMetricsFlag(fs)
	consoleAt := addConsoleOriginFlag(fs)
	retain := addRetainFlags(fs, "seen requests and registry-update answers")
	cpEvery := fs.Duration("checkpoint-every", keptcheckpoint.DefaultEvery, "keep a signed audit checkpoint outside the database at least this often while the log grows (docs/audit.md)")
	var cpRecords int64
	fs.Int64Var(&cpRecords, "checkpoint-records", keptcheckpoint.DefaultRecords, "and whenever the log has grown by this many records")
	if err := fs.parseNoArgs(e, args); err != nil {
		return err
	}
	if (*certFile == "") != (*keyFile == "") {
		return usageError("give both --tls-cert and --tls-key, or neither")
	}
	if err := checkLimits(limits); err != nil {
		return err
	}
	// Refuse a plain non-loopback address before opening the KMC.
	if err := httpapi.CheckPlain(*httpAddr, *certFile != ""); err != nil {
		return err
	}
	if err := metricsAt.check(); err != nil {
		return err
	}
	origin, err := parseConsoleOrigin(*consoleAt)
	if err != nil {
		return err
	}
	if f.dir == "" {
		return kmcDir.errNoDir()
	}
	mode, err := kmc.DirMode(f.dir)
	if err != nil {
		return err
	}
	tokens, err := kmcAPITokens(e, f.dir, *tokensFile, mode)
	if err != nil {
		return err
	}
	if err := checkKMCOfficerTokens(f.dir, tokens); err != nil {
		return err
	}
	cfg, err := tlsConfigOf(*certFile, *keyFile)
	if err != nil {
		return err
	}
	gate, err := kmcGate(e, f.dir, f.officers, "kmc-serve")
	if err != nil {
		return err
	}
	defer gate.Close()
	srv := &kmcServer{e: e, f: f, gate: gate, tokens: tokens, retain: retain, cpEvery: *cpEvery, cpRecords: cpRecords,
		addrFile: *addrFile, logger: log.New(e.stderr, "stskms kmc serve: ", log.LstdFlags), metrics: metricsAt, limits: *limits}
	srv.h = newSwapHandler(gate, "kmc", kmcSealedBody)
	srv.web = &apiServer{srv: httpapi.NewHTTPServerWith(srv.h, *limits), addr: *httpAddr, tls: cfg,
		name: "kmc serve", label: "admin API", guard: guardOptions(limits, e.stderr, "stskms kmc serve: "), consoleOrigin: origin}
	return srv.serve(*exitAfter)
}

// kmcServer is kmc serve: its admin API, sealed or live, for the
// command's life, and the KMC while unsealed.
type kmcServer struct {
	e         *env
	f         *kmcFlags
	gate      *unseal.Gate // nil: opens at once
	tokens    *api.Tokens
	retain    retainFlags
	cpEvery   time.Duration
	cpRecords int64
	addrFile  string
	logger    *log.Logger
	h         *swapHandler
	web       *apiServer
	fail      context.CancelCauseFunc
	metrics   metricsFlag
	limits    netguard.Limits
}

// serve serves until interrupted or exitAfter (if not 0), or until the
// API server fails for good (its reason returned).
func (s *kmcServer) serve(exitAfter time.Duration) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if exitAfter > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, exitAfter)
		defer cancel()
	}
	ctx, s.fail = context.WithCancelCause(ctx)
	defer s.fail(nil)
	defer s.web.wait()
	loop := sealable[*kmc.KMC]{gate: s.gate,
		start: func() error { return s.start(ctx) },
		open:  s.open,
		audit: func(k *kmc.KMC) func([]unseal.Event) { return auditTo(k.AuditLog(), "kmc-serve", s.logger.Printf) },
		live:  s.live,
		run:   s.run,
		close: func(k *kmc.KMC) { k.Close() },
	}
	if err := loop.serve(ctx); err != nil {
		return err
	}
	return stopReason(ctx)
}

// start listens and writes --addr-file.
func (s *kmcServer) start(ctx context.Context) error {
	if err := s.web.start(ctx, s.e, s.fail); err != nil {
		return err
	}
	return writeAddrFile(s.addrFile, s.web.ln.Addr().String()+"\n")
}

// open opens the KMC, with the officers' components if given, and checks
// --retain against it.
func (s *kmcServer) open(comps []keystore.Component) (*kmc.KMC, error) {
	s.f.unsealed = comps
	defer func() { s.f.unsealed = nil }()
	k, err := s.f.open(s.e)
	if err != nil {
		return nil, err
	}
	if err := s.retain.checkKMC(k); err != nil {
		k.Close()
		return nil, err
	}
	return k, nil
}

// run serves the API on k, prunes and keeps the audit checkpoints until
// ctx ends (a seal, a signal, --exit-after, the API server failing).
func (s *kmcServer) run(ctx context.Context, k *kmc.KMC) error {
	pruneCtx, stopPruning := context.WithCancel(ctx)
	pruned := make(chan struct{})
	go func() { defer close(pruned); s.retain.pruneKMC(pruneCtx, k, "kmc serve", s.logger.Printf) }()
	defer func() { stopPruning(); <-pruned }()
	keep := func(ctx context.Context) error { return k.KeepCheckpoints(ctx, s.cpEvery, s.cpRecords) }
	return withCheckpoints(ctx, keep, func(ctx context.Context) error { <-ctx.Done(); return nil })
}

// live answers the admin API with k until the returned function is
// called.
func (s *kmcServer) live(k *kmc.KMC) (func(), error) {
	fmt.Fprintf(s.e.stdout, "stskms kmc serve: %s\n", k.Release())
	set := metrics.KMC(k)
	stopMetrics, err := s.metrics.serve(s.e, "kmc", set, s.limits, s.fail)
	if err != nil {
		return nil, err
	}
	h, closeConsole := mountKMCConsole(s.e, s.web, s.f, k, api.New(k, s.tokens, api.Options{Log: s.logger}))
	s.h.set(set.Instrument(h))
	return func() { s.h.set(nil); closeConsole(); stopMetrics() }, nil
}

// kmcSealedBody is the admin API's refusal while sealed.
func kmcSealedBody(msg string) any { return api.ErrorBody{Code: api.ESealed, Error: msg} }

// kmcAPITokens reads the token file (file, or the one in dir), making one
// of test tokens for a test-mode KMC that has none. A live KMC refuses a
// file flagged TEST-ONLY.
func kmcAPITokens(e *env, dir, file string, mode kmc.Mode) (*api.Tokens, error) {
	var tokens *api.Tokens
	var err error
	if file != "" {
		tokens, err = api.LoadTokensFile(file)
	} else {
		tokens, err = api.LoadTokens(dir)
		if errors.Is(err, api.ErrNoTokens) && mode == kmc.ModeTest {
			tokens, err = api.InitTestTokens(dir)
			if err == nil {
				fmt.Fprintf(e.stderr, "stskms kmc serve: made %s: %s\n", api.TokenFile, api.TestTokensWarning)
			}
		}
	}
	if err != nil {
		return nil, err
	}
	if tokens.TestOnly {
		if mode != kmc.ModeTest {
			return nil, fmt.Errorf("the token file of a live KMC is flagged TEST-ONLY; replace it")
		}
		fmt.Fprintln(e.stderr, "stskms kmc serve: "+api.TestTokensWarning)
		warnExposed(e, "kmc serve", file, dir, api.TokenFile)
	}
	return tokens, nil
}
