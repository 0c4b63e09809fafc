// Package dnstest is a small DNS server for tests and benchmarks: it
// listens on 127.0.0.1 (UDP and TCP, one port), answers TXT questions from
// a table and every other question with "no such name", and can be made
// slow, failing (SERVFAIL) or silent, so that code using DNS is tested
// against a resolver that misbehaves, never against the machine's.
//
// It speaks only as much of RFC 1035 as a stub resolver needs: one
// question per query, class IN, uncompressed question names.
package dnstest

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Mode is how the server answers.
type Mode int

const (
	// Normal answers at once.
	Normal Mode = iota
	// Fail answers SERVFAIL.
	Fail
	// Hold answers only once Release is called (or the server closes).
	Hold
)

// Server is a DNS server on 127.0.0.1. Its zero value is not usable; call
// Start.
type Server struct {
	// Addr is the host:port it listens on (UDP and TCP).
	Addr string

	mu      sync.Mutex
	txt     map[string][]string
	mode    Mode
	delay   time.Duration
	release chan struct{}

	queries atomic.Int64
	pending atomic.Int64
	names   sync.Map // lower-case name → *atomic.Int64, queries of it

	udp    net.PacketConn
	tcp    net.Listener
	closed chan struct{}
	wg     sync.WaitGroup
}

// Start starts a server answering the TXT records of txt (names without
// the trailing dot, any case). It stops when Close is called.
func Start(txt map[string][]string) (*Server, error) {
	pc, l, err := listen()
	if err != nil {
		return nil, err
	}
	s := &Server{Addr: pc.LocalAddr().String(), txt: map[string][]string{}, udp: pc, tcp: l,
		closed: make(chan struct{}), release: make(chan struct{})}
	for k, v := range txt {
		s.txt[strings.ToLower(strings.TrimSuffix(k, "."))] = v
	}
	s.wg.Add(2)
	go s.serveUDP()
	go s.serveTCP()
	return s, nil
}

// listen opens a UDP socket and a TCP listener on the same free port of
// 127.0.0.1; the TCP port may be taken by another program, so it tries a
// few ports.
func listen() (net.PacketConn, net.Listener, error) {
	var err error
	for range 10 {
		pc, uerr := net.ListenPacket("udp", "127.0.0.1:0")
		if uerr != nil {
			return nil, nil, uerr
		}
		var l net.Listener
		if l, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			return pc, l, nil
		}
		pc.Close()
	}
	return nil, nil, err
}

// Close stops the server and waits for its goroutines; held queries are
// dropped unanswered.
func (s *Server) Close() error {
	select {
	case <-s.closed:
		return nil
	default:
	}
	close(s.closed)
	s.udp.Close()
	s.tcp.Close()
	s.wg.Wait()
	return nil
}

// SetMode sets how the server answers from now on; delay, if positive,
// makes every answer (of any mode) wait that long first.
func (s *Server) SetMode(m Mode, delay time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mode, s.delay = m, delay
	if m == Hold {
		s.release = make(chan struct{})
	}
}

// Release answers the held queries, and later ones at once (mode Normal).
func (s *Server) Release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mode = Normal
	select {
	case <-s.release:
	default:
		close(s.release)
	}
}

// Queries is how many queries the server has received.
func (s *Server) Queries() int64 { return s.queries.Load() }

// QueriesFor is how many queries for name (any type) it has received.
func (s *Server) QueriesFor(name string) int64 {
	if n, ok := s.names.Load(strings.ToLower(strings.TrimSuffix(name, "."))); ok {
		return n.(*atomic.Int64).Load()
	}
	return 0
}

// Pending is how many queries are waiting for their answer (held or
// delayed).
func (s *Server) Pending() int64 { return s.pending.Load() }

func (s *Server) serveUDP() {
	defer s.wg.Done()
	buf := make([]byte, 1500)
	for {
		n, from, err := s.udp.ReadFrom(buf)
		if err != nil {
			return
		}
		q := append([]byte(nil), buf[:n]...)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if resp := s.answer(q); resp != nil {
				if len(resp) > 512 {
					resp = truncated(q)
				}
				s.udp.WriteTo(resp, from)
			}
		}()
	}
}

func (s *Server) serveTCP() {
	defer s.wg.Done()
	for {
		c, err := s.tcp.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.Close()
			go func() { <-s.closed; c.Close() }()
			for {
				var l [2]byte
				if _, err := io.ReadFull(c, l[:]); err != nil {
					return
				}
				q := make([]byte, binary.BigEndian.Uint16(l[:]))
				if _, err := io.ReadFull(c, q); err != nil {
					return
				}
				resp := s.answer(q)
				if resp == nil {
					return
				}
				if _, err := c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(resp))), resp...)); err != nil {
					return
				}
			}
		}()
	}
}

// DNS constants (RFC 1035).
const (
	typeTXT  = 16
	classIN  = 1
	rcodeOK  = 0
	rcodeFmt = 1
	rcodeSrv = 2
	rcodeNX  = 3
	ttl      = 60
)

// answer returns the response to query q, or nil to stay silent (the
// server is closing, or q is not a query).
func (s *Server) answer(q []byte) []byte {
	s.queries.Add(1)
	name, qtype, qend, err := parseQuestion(q)
	if err != nil {
		if len(q) < 12 {
			return nil
		}
		return header(q, rcodeFmt, 0, 0)
	}
	c, _ := s.names.LoadOrStore(name, new(atomic.Int64))
	c.(*atomic.Int64).Add(1)

	s.mu.Lock()
	mode, delay, release := s.mode, s.delay, s.release
	records, found := s.txt[name]
	s.mu.Unlock()
	s.pending.Add(1)
	defer s.pending.Add(-1)
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-s.closed:
			t.Stop()
			return nil
		}
	}
	if mode == Hold {
		select {
		case <-release:
		case <-s.closed:
			return nil
		}
	}
	if mode == Fail {
		return append(header(q, rcodeSrv, 1, 0), q[12:qend]...)
	}
	if !found {
		return append(header(q, rcodeNX, 1, 0), q[12:qend]...)
	}
	if qtype != typeTXT {
		return append(header(q, rcodeOK, 1, 0), q[12:qend]...)
	}
	resp := append(header(q, rcodeOK, 1, uint16(len(records))), q[12:qend]...)
	for _, r := range records {
		var rdata []byte
		for len(r) > 255 {
			rdata = append(append(rdata, 255), r[:255]...)
			r = r[255:]
		}
		rdata = append(append(rdata, byte(len(r))), r...)
		resp = append(resp, 0xC0, 12) // the question's name
		resp = binary.BigEndian.AppendUint16(resp, typeTXT)
		resp = binary.BigEndian.AppendUint16(resp, classIN)
		resp = binary.BigEndian.AppendUint32(resp, ttl)
		resp = binary.BigEndian.AppendUint16(resp, uint16(len(rdata)))
		resp = append(resp, rdata...)
	}
	return resp
}

// errFormat: the query cannot be read.
var errFormat = errors.New("dnstest: malformed query")

// parseQuestion reads the one question of query q: its name (lower case,
// no trailing dot), type, and where it ends.
func parseQuestion(q []byte) (name string, qtype uint16, end int, err error) {
	if len(q) < 12 || q[2]&0x80 != 0 || binary.BigEndian.Uint16(q[4:]) != 1 {
		return "", 0, 0, errFormat
	}
	var labels []string
	i := 12
	for {
		if i >= len(q) {
			return "", 0, 0, errFormat
		}
		l := int(q[i])
		i++
		if l == 0 {
			break
		}
		if l > 63 || i+l > len(q) {
			return "", 0, 0, errFormat
		}
		labels = append(labels, strings.ToLower(string(q[i:i+l])))
		i += l
	}
	if i+4 > len(q) {
		return "", 0, 0, errFormat
	}
	return strings.Join(labels, "."), binary.BigEndian.Uint16(q[i:]), i + 4, nil
}

// header is the header of the response to q: its id, opcode and RD, with
// QR, AA and RA set, rcode and the counts.
func header(q []byte, rcode byte, qd, an uint16) []byte {
	h := make([]byte, 12)
	copy(h, q[:2])
	h[2] = 0x80 | 0x04 | q[2]&0x79 // QR, AA, opcode and RD of the query
	h[3] = 0x80 | rcode            // RA
	binary.BigEndian.PutUint16(h[4:], qd)
	binary.BigEndian.PutUint16(h[6:], an)
	return h
}

// truncated is the TC answer to q, telling the client to ask over TCP.
func truncated(q []byte) []byte {
	_, _, end, _ := parseQuestion(q)
	h := header(q, rcodeOK, 1, 0)
	h[2] |= 0x02
	return append(h, q[12:end]...)
}

// Resolver returns a Go resolver that asks only this server (UDP, then
// TCP for long answers).
func (s *Server) Resolver() *net.Resolver {
	addr := s.Addr
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
}
