package sts6_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stskms/stskms/internal/httpapi/httpapitest"
	"github.com/stskms/stskms/sm"
	"github.com/stskms/stskms/sm/api"
	"github.com/stskms/stskms/sm/api/sts6"
	"github.com/stskms/stskms/store"
	"github.com/stskms/stskms/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// t0 is the test module's clock: fixed, so TIDs, times and audit numbers
// in the replies are the same on every run.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// env is a test module served on a TLS port (client certificates) and a
// plain loopback port.
type env struct {
	t      *testing.T
	ctx    context.Context
	m      *sm.Module
	db     *store.DB
	tokens *api.Tokens
	pki    *httpapitest.PKI
	tlsAt  string
	plain  string
	certs  map[string]tls.Certificate // by role name, and "stranger"
}

// newEnv makes the test vending module on db, with the fixed clock, and
// serves it. Plain connections get the role plain (zero: identify only).
func newEnv(t *testing.T, db *store.DB, plain sm.Actor) *env {
	t.Helper()
	return newVariantEnv(t, db, plain, sm.Vending)
}

// newVariantEnv is newEnv for a module of the given variant.
func newVariantEnv(t *testing.T, db *store.DB, plain sm.Actor, variant sm.Variant) *env {
	t.Helper()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "sm")
	opts := sm.Options{DB: db, Now: func() time.Time { return t0 }, Vendor: "TestVendor", ID: "94000001"}
	if _, err := sm.Init(ctx, dir, variant, true, opts); err != nil {
		t.Fatal(err)
	}
	m, err := sm.Open(ctx, dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	tokens, err := api.InitTestTokens(dir)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: ctx, m: m, db: db, tokens: tokens, pki: httpapitest.NewPKI(t), certs: map[string]tls.Certificate{}}
	for _, cn := range []string{"alice", "pos-1", "aud-1", "mallory"} {
		e.certs[cn] = e.pki.Cert(cn, false)
	}
	clients, err := sts6.NewClients([]sts6.ClientEntry{
		{CertSHA256: sts6.CertSHA256(e.certs["alice"].Leaf), Role: "officer", Name: "alice"},
		{CommonName: "pos-1", Role: "operator", Name: "pos-1"},
		{CommonName: "aud-1", Role: "auditor", Name: "aud-1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := sts6.NewServer(m, sts6.Config{Plain: plain, Clients: clients, Officers: tokens})
	cfg, err := sts6.ServerTLS(e.pki.Cert("127.0.0.1", true), e.pki.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	addrs := serve(t, srv, cfg, nil)
	e.tlsAt, e.plain = addrs[0], addrs[1]
	return e
}

// conn is a client connection.
type conn struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

// dial connects with the client certificate of cn ("" for plain TCP).
func (e *env) dial(cn string) *conn {
	e.t.Helper()
	var c net.Conn
	var err error
	if cn == "" {
		c, err = net.Dial("tcp", e.plain)
	} else {
		roots := x509.NewCertPool()
		roots.AddCert(e.pki.CA)
		c, err = tls.Dial("tcp", e.tlsAt, &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{e.certs[cn]}, MinVersion: tls.VersionTLS12})
	}
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	return &conn{t: e.t, c: c, r: bufio.NewReader(c)}
}

// ask sends raw bytes and returns the reply line (CR included).
func (c *conn) ask(q []byte) []byte {
	c.t.Helper()
	if _, err := c.c.Write(q); err != nil {
		c.t.Fatal(err)
	}
	line, err := c.r.ReadBytes('\r')
	if err != nil {
		c.t.Fatalf("reading the reply to %q: %v", q, err)
	}
	return line
}

// askFrame sends a query and parses the reply.
func (c *conn) askFrame(f sts6.Frame) sts6.Frame {
	c.t.Helper()
	q, err := f.Encode()
	if err != nil {
		c.t.Fatal(err)
	}
	line := c.ask(q)
	g, err := sts6.Parse(line)
	if err != nil {
		c.t.Fatalf("reply %q: %v", line, err)
	}
	return g
}

// testModule makes a test module with open (apitest.New or apitest.Setup)
// in a new directory, closed when the test ends.
func testModule(tb testing.TB, open func(context.Context, string) (*sm.Module, error)) *sm.Module {
	tb.Helper()
	m, err := open(context.Background(), filepath.Join(tb.TempDir(), "sm"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { m.Close() })
	return m
}

// serve serves srv on a loopback listener for each TLS configuration of
// cfgs (nil: plain TCP) until the test ends, and returns their addresses.
func serve(tb testing.TB, srv *sts6.Server, cfgs ...*tls.Config) []string {
	tb.Helper()
	var wg sync.WaitGroup
	tb.Cleanup(func() { srv.Close(); wg.Wait() })
	addrs := make([]string, len(cfgs))
	for i, cfg := range cfgs {
		ln, err := api.Listen("127.0.0.1:0", cfg)
		if err != nil {
			tb.Fatal(err)
		}
		addrs[i] = ln.Addr().String()
		wg.Go(func() { srv.Serve(ln) })
	}
	return addrs
}
