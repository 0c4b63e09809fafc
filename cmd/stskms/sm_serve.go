package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/stskms/stskms/sm/api"
	"github.com/stskms/stskms/sm/api/sts6"
)

// runSMServe is "stskms sm serve": the HTTP/JSON API (package sm/api).
func runSMServe(e *env, args []string) error {
	fs := newFlags("sm serve", "--dir DIR [--http ADDR] [--listen ADDR] [--tls-cert FILE --tls-key FILE]",
		"Serves the module's HTTP/JSON API (docs/sm-api.yaml) until interrupted. Callers authenticate\n"+
			"with bearer tokens from DIR/"+api.TokenFile+"; a test module gets one of random tokens,\n"+
			"flagged TEST-ONLY, the first time. Plain HTTP is served only on a loopback address;\n"+
			"any other address needs --tls-cert and --tls-key.")
	f := addSMFlags(e, fs)
	addSMTablesFlag(e, fs, f)
	httpAddr := fs.String("http", "127.0.0.1:8080", "listen address of the HTTP/JSON API")
	sts6Addr := fs.String("listen", "", "listen address of the STS6-style API (so far: SM?DI identify)")
	certFile := fs.String("tls-cert", "", "TLS certificate (PEM)")
	keyFile := fs.String("tls-key", "", "TLS private key (PEM)")
	addrFile := fs.String("addr-file", "", "write the addresses listened on to this file, HTTP then STS6, one a line (for --http 127.0.0.1:0)")
	exitAfter := fs.Duration("exit-after", 0, "stop after this long (tests and demos; 0: run until interrupted)")
	if _, err := fs.parse(e, args); err != nil {
		return err
	}
	if (*certFile == "") != (*keyFile == "") {
		return fmt.Errorf("give both --tls-cert and --tls-key, or neither")
	}
	// Refuse a plain non-loopback address before opening the module.
	for _, a := range []string{*httpAddr, *sts6Addr} {
		if a != "" && *certFile == "" && !api.IsLoopback(a) {
			return fmt.Errorf("%w (%s)", api.ErrPlainNotLoopback, a)
		}
	}
	m, err := openSM(e, f, false)
	if err != nil {
		return err
	}
	defer m.Close()
	tokens, err := smAPITokens(e, f.dir, m.Identify().Test)
	if err != nil {
		return err
	}
	cfg, err := tlsConfigOf(*certFile, *keyFile)
	if err != nil {
		return err
	}
	ln, err := api.Listen(*httpAddr, cfg)
	if err != nil {
		return err
	}
	scheme := "http"
	if cfg != nil {
		scheme = "https"
	}
	srv := api.NewHTTPServer(api.New(m, tokens))
	fmt.Fprintf(e.stdout, "stskms sm serve: HTTP API on %s://%s\n", scheme, ln.Addr())
	addrs := ln.Addr().String() + "\n"
	if *sts6Addr != "" {
		// TLS with client certificates off loopback is still to come; a
		// certificate given for HTTP serves the STS6 port with TLS too.
		sln, err := api.Listen(*sts6Addr, cfg)
		if err != nil {
			ln.Close()
			return err
		}
		s6 := sts6.NewServer(m)
		go s6.Serve(sln)
		defer s6.Close()
		fmt.Fprintf(e.stdout, "stskms sm serve: STS6 API on %s\n", sln.Addr())
		addrs += sln.Addr().String() + "\n"
	}
	if *addrFile != "" {
		if err := os.WriteFile(*addrFile, []byte(addrs), 0o644); err != nil {
			ln.Close()
			return err
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *exitAfter > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *exitAfter)
		defer cancel()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shut); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// smAPITokens reads the token file of the module, making one of test
// tokens for a test module that has none.
func smAPITokens(e *env, dir string, test bool) (*api.Tokens, error) {
	tokens, err := api.LoadTokens(dir)
	if errors.Is(err, api.ErrNoTokens) && test {
		tokens, err = api.InitTestTokens(dir)
		if err == nil {
			fmt.Fprintf(e.stderr, "stskms sm serve: made %s: %s\n", api.TokenFile, api.TestTokensWarning)
		}
	}
	if err != nil {
		return nil, err
	}
	if tokens.TestOnly {
		if !test {
			return nil, fmt.Errorf("the token file of a production module is flagged TEST-ONLY; replace it")
		}
		fmt.Fprintln(e.stderr, "stskms sm serve: "+api.TestTokensWarning)
	}
	return tokens, nil
}

func tlsConfigOf(cert, key string) (*tls.Config, error) {
	if cert == "" {
		return nil, nil
	}
	return api.TLSConfig(cert, key)
}
