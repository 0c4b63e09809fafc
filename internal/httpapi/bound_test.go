package httpapi_test

import (
	"errors"
	"net"
	"testing"

	"github.com/stskms/stskms/internal/httpapi"
)

// boundAt is a listener that says it is bound to addr, whatever name it
// was asked for: how "localhost" resolving to a LAN address looks after
// net.Listen.
type boundAt struct {
	net.Listener
	addr net.Addr
}

func (b boundAt) Addr() net.Addr { return b.addr }

// TestPlainJudgedOnBoundAddress: the plain-listener rule is decided by the
// address bound, not by the name: a listener bound to a LAN or a wildcard
// address is refused, one bound to loopback passes; Listen of "localhost"
// ends on a loopback address, or is refused where localhost resolves off
// loopback.
func TestPlainJudgedOnBoundAddress(t *testing.T) {
	real, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer real.Close()
	if err := httpapi.CheckBound(real); err != nil {
		t.Fatalf("CheckBound(127.0.0.1) = %v", err)
	}
	for _, a := range []*net.TCPAddr{
		{IP: net.ParseIP("192.0.2.10"), Port: 8080},
		{IP: net.ParseIP("2001:db8::1"), Port: 8080},
		{IP: net.IPv4zero, Port: 8080},
		{IP: net.IPv6unspecified, Port: 8080},
	} {
		if err := httpapi.CheckBound(boundAt{real, a}); !errors.Is(err, httpapi.ErrPlainNotLoopback) {
			t.Errorf("CheckBound(bound to %s) = %v, want ErrPlainNotLoopback", a, err)
		}
	}
	for _, a := range []*net.TCPAddr{{IP: net.ParseIP("127.0.0.2"), Port: 1}, {IP: net.IPv6loopback, Port: 1},
		{IP: net.ParseIP("::ffff:127.0.0.1"), Port: 1}} {
		if err := httpapi.CheckBound(boundAt{real, a}); err != nil {
			t.Errorf("CheckBound(bound to %s) = %v", a, err)
		}
	}
	ln, err := httpapi.Listen("localhost:0", nil)
	if !httpapi.IsLoopback("localhost:0") {
		// This machine resolves localhost off loopback: refused.
		if !errors.Is(err, httpapi.ErrPlainNotLoopback) {
			t.Fatalf("Listen(localhost, resolving off loopback) = %v", err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := httpapi.CheckBound(ln); err != nil {
		t.Fatalf("Listen(localhost) bound %s: %v", ln.Addr(), err)
	}
}
