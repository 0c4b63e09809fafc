package gateway

import (
	"net"
	"testing"
)

// TestRelayLoopbackJudgedOnAddress: the relay counts as loopback (no
// STARTTLS needed for its password) by the address connected to, never by
// its name: a relay named "localhost" that resolved to a LAN address is
// not loopback.
func TestRelayLoopbackJudgedOnAddress(t *testing.T) {
	for _, c := range []struct {
		addr net.Addr
		want bool
	}{
		{&net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 25}, true},
		{&net.TCPAddr{IP: net.ParseIP("::1"), Port: 25}, true},
		{&net.TCPAddr{IP: net.ParseIP("::ffff:127.0.0.1"), Port: 25}, true},
		{&net.TCPAddr{IP: net.ParseIP("192.0.2.25"), Port: 25}, false},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8::25"), Port: 25}, false},
		{&net.UnixAddr{Name: "localhost", Net: "unix"}, false},
	} {
		if got := isLoopback(c.addr); got != c.want {
			t.Errorf("isLoopback(%s) = %v", c.addr, got)
		}
	}
}
