package sts6_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stskms/stskms/internal/httpapi/httpapitest"
	"github.com/stskms/stskms/sm/api"
	"github.com/stskms/stskms/sm/api/apitest"
	"github.com/stskms/stskms/sm/api/sts6"
)

// TestIdleAndHandshakeTimeout: a plain connection that sends nothing is
// closed after IdleTimeout, and a TLS connection that never finishes its
// handshake after HandshakeTimeout: a silent client holds no descriptor
// for long.
func TestIdleAndHandshakeTimeout(t *testing.T) {
	m, err := apitest.New(context.Background(), filepath.Join(t.TempDir(), "sm"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	pki := httpapitest.NewPKI(t)
	cfg, err := sts6.ServerTLS(pki.Cert("127.0.0.1", true), pki.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	srv := sts6.NewServer(m, sts6.Config{IdleTimeout: 200 * time.Millisecond, HandshakeTimeout: 200 * time.Millisecond})
	var wg sync.WaitGroup
	defer func() { srv.Close(); wg.Wait() }()
	for _, tc := range []struct {
		name string
		cfg  *tls.Config
	}{{"idle plain", nil}, {"stalled handshake", cfg}} {
		ln, err := api.Listen("127.0.0.1:0", tc.cfg)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { srv.Serve(ln) })
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err = io.ReadAll(c)
		c.Close()
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Errorf("%s: the server kept a silent connection open", tc.name)
		}
	}
}
