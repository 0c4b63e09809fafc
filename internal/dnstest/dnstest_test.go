package dnstest_test

import (
	"context"
	"errors"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stskms/stskms/internal/dnstest"
)

func start(t *testing.T) *dnstest.Server {
	t.Helper()
	long := strings.Repeat("x", 600) // over 255 (split) and 512 (TCP)
	s, err := dnstest.Start(map[string][]string{
		"example.com.":       {"v=spf1 -all"},
		"_dmarc.Example.com": {"v=DMARC1; p=none", "second"},
		"long.example":       {long},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestServer: TXT answers (UDP, and TCP after truncation), no such name,
// SERVFAIL, held answers, and the query counts.
func TestServer(t *testing.T) {
	s := start(t)
	r := s.Resolver()
	ctx := context.Background()
	for name, want := range map[string][]string{
		"example.com":        {"v=spf1 -all"},
		"_DMARC.example.com": {"v=DMARC1; p=none", "second"},
		"long.example":       {strings.Repeat("x", 600)},
	} {
		got, err := r.LookupTXT(ctx, name+".")
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %q, %v", name, got, err)
		}
	}
	var de *net.DNSError
	if _, err := r.LookupTXT(ctx, "missing.example."); !errors.As(err, &de) || !de.IsNotFound {
		t.Errorf("missing name: %v", err)
	}
	if n := s.QueriesFor("example.com"); n != 1 {
		t.Errorf("%d queries for example.com", n)
	}

	s.SetMode(dnstest.Fail, 0)
	if _, err := r.LookupTXT(ctx, "example.com."); !errors.As(err, &de) || de.IsNotFound {
		t.Errorf("SERVFAIL: %v", err)
	}

	s.SetMode(dnstest.Hold, 0)
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := r.LookupTXT(short, "example.com."); !errors.As(err, &de) || !de.IsTimeout {
		t.Errorf("held, cut off: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := r.LookupTXT(ctx, "example.com.")
		done <- err
	}()
	for s.Pending() == 0 {
		time.Sleep(time.Millisecond)
	}
	s.Release()
	if err := <-done; err != nil {
		t.Errorf("released: %v", err)
	}
}

// TestMalformed: garbage gets FORMERR or silence, never a crash.
func TestMalformed(t *testing.T) {
	s := start(t)
	c, err := net.Dial("udp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, q := range [][]byte{{1, 2, 3}, {0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 70, 'a'}} {
		c.Write(q)
	}
	c.Write([]byte{0, 9, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 'a', 0, 0, 16, 0, 1})
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 512)
	for {
		n, err := c.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		if n >= 12 && buf[0] == 0 && buf[1] == 9 {
			if rcode := buf[3] & 0x0f; rcode != 3 {
				t.Errorf("rcode %d for a missing name", rcode)
			}
			return
		}
	}
}
