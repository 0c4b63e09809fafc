package sts6_test

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stskms/stskms/internal/httpapi/httpapitest"
	"github.com/stskms/stskms/sm/api/apitest"
	"github.com/stskms/stskms/sm/api/sts6"
)

// TestIdleAndHandshakeTimeout: a plain connection that sends nothing is
// closed after IdleTimeout, and a TLS connection that never finishes its
// handshake after HandshakeTimeout: a silent client holds no descriptor
// for long.
func TestIdleAndHandshakeTimeout(t *testing.T) {
	m := testModule(t, apitest.New)
	pki := httpapitest.NewPKI(t)
	cfg, err := sts6.ServerTLS(pki.Cert("127.0.0.1", true), pki.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	srv := sts6.NewServer(m, sts6.Config{IdleTimeout: 200 * time.Millisecond, HandshakeTimeout: 200 * time.Millisecond})
	addrs := serve(t, srv, nil, cfg)
	for i, name := range []string{"idle plain", "stalled handshake"} {
		c, err := net.Dial("tcp", addrs[i])
		if err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err = io.ReadAll(c)
		c.Close()
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Errorf("%s: the server kept a silent connection open", name)
		}
	}
}
