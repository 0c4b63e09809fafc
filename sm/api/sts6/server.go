package sts6

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/stskms/stskms/internal/netguard"
	"github.com/stskms/stskms/sm"
)

// Authenticator authenticates a bearer token: api.Tokens, whose officers
// are the second officers of the dual-control commands.
type Authenticator interface {
	Actor(token string) (sm.Actor, bool)
}

// Config says who the callers of a Server are.
type Config struct {
	// Plain is the caller of every connection without TLS, which the
	// server accepts from loopback only: the role configured for a test
	// module. Its zero value lets such a connection identify (SM?DI) and
	// nothing else.
	Plain sm.Actor
	// Clients maps the verified client certificates of TLS connections
	// to callers. A certificate it does not know is refused.
	Clients *Clients
	// Officers authenticates the second officer of the dual-control
	// commands (SM?KC, SM?KF); nil refuses them.
	Officers Authenticator
	// HandshakeTimeout bounds a TLS handshake, IdleTimeout the silence
	// before each frame; zero: netguard.DefaultHandshakeTimeout and
	// netguard.DefaultIdleTimeout.
	HandshakeTimeout, IdleTimeout time.Duration
}

// Server answers STS6-style frames on TCP connections (docs/sm.md,
// "STS6-style API"): one session per connection, its caller from the
// client certificate (TLS) or Config.Plain (loopback), each command
// checked against the caller's role and run by the module, the last reply
// kept for GL?RR. A frame that does not parse is answered GL!ER and its
// status.
type Server struct {
	m      *sm.Module
	cfg    Config
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	lns    []net.Listener
	conns  map[net.Conn]bool
	closed bool
	wg     sync.WaitGroup
}

// NewServer returns the STS6-style server of m.
func NewServer(m *sm.Module, cfg Config) *Server {
	lim := netguard.Limits{HandshakeTimeout: cfg.HandshakeTimeout, IdleTimeout: cfg.IdleTimeout}.OrDefaults()
	cfg.HandshakeTimeout, cfg.IdleTimeout = lim.HandshakeTimeout, lim.IdleTimeout
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{m: m, cfg: cfg, ctx: ctx, cancel: cancel, conns: map[net.Conn]bool{}}
}

// Serve accepts connections on ln until Close. A server may serve
// several listeners (TLS and plain loopback).
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.lns = append(s.lns, ln)
	s.mu.Unlock()
	for {
		c, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return ErrClosed
			}
			return err
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return ErrClosed
		}
		s.conns[c] = true
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(c)
	}
}

// Close stops the listener and every connection, and waits for them.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	s.cancel()
	var err error
	for _, ln := range s.lns {
		if e := ln.Close(); e != nil && err == nil {
			err = e
		}
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

// session is the state of one connection.
type session struct {
	actor sm.Actor // zero Role: may only identify
	last  []byte   // the last reply, for GL?RR
	// staged holds the Key Load File records sent by SM?KL per slot,
	// until SM?KF loads them.
	staged      map[int][]string
	stagedBytes int
}

// stage adds records for a slot and returns how many it holds.
func (c *session) stage(slot int, recs []string) (int, error) {
	n := 0
	for _, r := range recs {
		n += len(r)
	}
	if c.stagedBytes+n > maxStaged {
		return 0, &sm.Error{Code: sm.CodeExtended, Kind: sm.ErrInvalidRequest,
			Detail: fmt.Sprintf("more than %d bytes of Key Load File records staged", maxStaged)}
	}
	if c.staged == nil {
		c.staged = map[int][]string{}
	}
	c.staged[slot] = append(c.staged[slot], recs...)
	c.stagedBytes += n
	return len(c.staged[slot]), nil
}

// unstage drops the records staged for a slot.
func (c *session) unstage(slot int) {
	for _, r := range c.staged[slot] {
		c.stagedBytes -= len(r)
	}
	delete(c.staged, slot)
}

// authenticate returns the session of a new connection, or the frame to
// send before closing it.
func (s *Server) authenticate(c net.Conn) (*session, []byte) {
	tc, ok := c.(*tls.Conn)
	if !ok {
		if !isLoopback(c.RemoteAddr()) {
			return nil, errorFrame("ER", sm.CodeExtended, "plain TCP is served to loopback clients only")
		}
		return &session{actor: s.cfg.Plain}, nil
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.HandshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, nil
	}
	certs := tc.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return nil, errorFrame("ER", sm.CodeExtended, "a client certificate is required")
	}
	a, ok := s.cfg.Clients.Actor(certs[0])
	if !ok {
		return nil, errorFrame("ER", sm.CodeExtended, "client certificate not known to this module")
	}
	return &session{actor: a}, nil
}

func isLoopback(a net.Addr) bool {
	ap, err := netip.ParseAddrPort(a.String())
	return err == nil && ap.Addr().IsLoopback()
}

func (s *Server) serveConn(c net.Conn) {
	defer func() {
		c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		s.wg.Done()
	}()
	sess, refused := s.authenticate(c)
	if sess == nil {
		if refused != nil {
			c.SetWriteDeadline(time.Now().Add(time.Minute))
			c.Write(refused)
		}
		return
	}
	r := bufio.NewReaderSize(c, MaxFrame)
	for {
		c.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout))
		line, err := r.ReadSlice('\r')
		if errors.Is(err, bufio.ErrBufferFull) {
			c.Write(errorFrame("ER", sm.CodeFormat, fmt.Sprintf("frame longer than %d bytes", MaxFrame)))
			return
		}
		if err != nil {
			return
		}
		reply := s.handle(s.ctx, sess, line)
		c.SetWriteDeadline(time.Now().Add(time.Minute))
		if _, err := c.Write(reply); err != nil {
			return
		}
	}
}

// handle answers one frame of a session.
func (s *Server) handle(ctx context.Context, c *session, frame []byte) []byte {
	q, err := Parse(frame)
	if err != nil {
		code, text := refusal(err)
		return c.remember(errorFrame("ER", code, text))
	}
	if q.Prefix == "GL" && !q.Reply && q.Cmd == "RR" && len(q.Fields) == 0 {
		if c.last == nil {
			return errorFrame("RR", sm.CodeExtended, "no reply to resend")
		}
		return c.last
	}
	if q.Reply || q.Prefix != "SM" {
		return c.remember(errorFrame("ER", sm.CodeFormat, "not a query of this module (SM?XX, or GL?RR)"))
	}
	fields, err := s.run(ctx, c, q)
	var df *diFault
	if errors.As(err, &df) {
		fields = append(df.fields, Print(printable(df.fault.Error())))
		return c.remember(encodeReply(Frame{Reply: true, Cmd: q.Cmd, Status: sm.CodeExtended, Fields: fields}))
	}
	if err != nil {
		code, text := refusal(err)
		return c.remember(encodeReply(Frame{Reply: true, Cmd: q.Cmd, Status: code, Fields: []Field{Print(printable(text))}}))
	}
	return c.remember(encodeReply(Frame{Reply: true, Cmd: q.Cmd, Status: sm.CodeOK, Fields: fields}))
}

// run checks the caller's role from the command code alone, then decodes
// the query, checks the module's state and runs it: a caller learns
// nothing of the fields of a command it may not call.
func (s *Server) run(ctx context.Context, c *session, q Frame) ([]Field, error) {
	cmd, err := lookupCommand(q.Cmd)
	if err != nil {
		return nil, err
	}
	if q.Cmd == "DI" {
		o, err := cmd.decodeFields(q)
		if err != nil {
			return nil, err
		}
		fields, _ := o(ctx, s, c)
		if fault := s.m.Fault(); fault != nil {
			return nil, &diFault{fields: fields, fault: fault}
		}
		return fields, nil
	}
	if err := checkRole(c.actor, cmd, q.Cmd); err != nil {
		return nil, err
	}
	o, err := cmd.decodeFields(q)
	if err != nil {
		return nil, err
	}
	if fault := s.m.Fault(); fault != nil {
		return nil, fault
	}
	return o(ctx, s, c)
}

// checkRole refuses a caller whose role may not call the command code.
func checkRole(a sm.Actor, cmd command, code string) error {
	if a.Role == 0 {
		return &sm.Error{Code: sm.CodeExtended, Kind: sm.ErrRole, Detail: "authentication required: a client certificate (TLS)"}
	}
	if !slices.Contains(cmd.roles, a.Role) {
		return &sm.Error{Code: sm.CodeExtended, Kind: sm.ErrRole, Detail: fmt.Sprintf("%s may not call SM?%s", a.Role, code)}
	}
	return nil
}

// diFault is the answer to SM?DI of a module in its error state: status
// EE, the identity fields and why.
type diFault struct {
	fields []Field
	fault  error
}

func (d *diFault) Error() string { return d.fault.Error() }

// remember keeps a reply for GL?RR.
func (c *session) remember(reply []byte) []byte {
	c.last = reply
	return reply
}

// errorFrame is a GL!XX reply with its status and text.
func errorFrame(cmd string, code sm.Code, text string) []byte {
	return encodeReply(Frame{Prefix: "GL", Reply: true, Cmd: cmd, Status: code, Fields: []Field{Print(printable(text))}})
}

func encodeReply(f Frame) []byte {
	b, err := f.Encode()
	if err != nil {
		// Only our own replies are encoded here; a field that does not
		// encode is a bug, answered as an extended error.
		b, _ = Frame{Reply: true, Cmd: f.Cmd, Status: sm.CodeExtended, Fields: []Field{Print("internal error: reply does not encode")}}.Encode()
	}
	return b
}
