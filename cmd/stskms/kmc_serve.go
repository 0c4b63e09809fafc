package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/stskms/stskms/internal/httpapi"
	"github.com/stskms/stskms/internal/keptcheckpoint"
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
			"served only on a loopback address; any other address needs --tls-cert and --tls-key.")
	f := addKMCFlags(e, fs)
	httpAddr := fs.String("http", "127.0.0.1:8081", "listen address of the admin API")
	certFile := fs.String("tls-cert", "", "TLS certificate (PEM)")
	keyFile := fs.String("tls-key", "", "TLS private key (PEM)")
	tokensFile := fs.String("tokens", "", "the token file (default DIR/"+api.TokenFile+")")
	addrFile := fs.String("addr-file", "", "write the address listened on to this file (for --http 127.0.0.1:0)")
	exitAfter := fs.Duration("exit-after", 0, "stop after this long (tests and demos; 0: run until interrupted)")
	limits := addListenFlags(fs)
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
	k, err := f.open(e)
	if err != nil {
		return err
	}
	defer k.Close()
	if err := retain.checkKMC(k); err != nil {
		return err
	}
	tokens, err := kmcAPITokens(e, f.dir, *tokensFile, k.Mode())
	if err != nil {
		return err
	}
	cfg, err := tlsConfigOf(*certFile, *keyFile)
	if err != nil {
		return err
	}
	ln, err := httpapi.ListenGuarded(*httpAddr, cfg, guardOptions(limits, e.stderr, "stskms kmc serve: "))
	if err != nil {
		return err
	}
	scheme := map[bool]string{false: "http", true: "https"}[cfg != nil]
	fmt.Fprintf(e.stdout, "stskms kmc serve: admin API on %s://%s\n", scheme, ln.Addr())
	fmt.Fprintf(e.stdout, "stskms kmc serve: %s\n", k.Release())
	if *addrFile != "" {
		if err := os.WriteFile(*addrFile, []byte(ln.Addr().String()+"\n"), 0o644); err != nil {
			ln.Close()
			return err
		}
	}
	logger := log.New(e.stderr, "stskms kmc serve: ", log.LstdFlags)
	srv := httpapi.NewHTTPServerWith(api.New(k, tokens, api.Options{Log: logger}), *limits)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *exitAfter > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *exitAfter)
		defer cancel()
	}
	pruneCtx, stopPruning := context.WithCancel(ctx)
	pruned := make(chan struct{})
	go func() { defer close(pruned); retain.pruneKMC(pruneCtx, k, "kmc serve", logger.Printf) }()
	defer func() { stopPruning(); <-pruned }()
	keep := func(ctx context.Context) error { return k.KeepCheckpoints(ctx, *cpEvery, cpRecords) }
	return withCheckpoints(ctx, keep, func(ctx context.Context) error {
		return serverStopped("admin API on "+ln.Addr().String(), httpapi.Serve(ctx, srv, ln))
	})
}

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
