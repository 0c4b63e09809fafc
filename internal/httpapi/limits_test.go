package httpapi_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stskms/stskms/internal/httpapi"
	"github.com/stskms/stskms/internal/netguard"
)

// TestSilentConnectionClosed: a client that connects and sends nothing,
// or goes silent after a request, is disconnected after the handshake and
// idle timeouts.
func TestSilentConnectionClosed(t *testing.T) {
	lim := netguard.Limits{HandshakeTimeout: 200 * time.Millisecond, IdleTimeout: 200 * time.Millisecond}
	ln, err := httpapi.ListenGuarded("127.0.0.1:0", nil, netguard.Options{Limits: lim})
	if err != nil {
		t.Fatal(err)
	}
	srv := httpapi.NewHTTPServerWith(http.NotFoundHandler(), lim)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- httpapi.Serve(ctx, srv, ln) }()
	defer func() { cancel(); <-done }()

	closedSoon := func(c net.Conn, what string) {
		t.Helper()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err := io.ReadAll(c)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Errorf("%s: still open after 10 s", what)
		}
	}
	silent, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	idle, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	io.WriteString(idle, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	closedSoon(silent, "a connection that sent nothing")
	closedSoon(idle, "an idle keep-alive connection")
}
