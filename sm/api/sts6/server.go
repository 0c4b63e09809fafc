package sts6

import (
	"bufio"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/stskms/stskms/sm"
)

// Server answers STS6-style frames on TCP connections. This first slice
// answers SM?DI (identify): SM!DI, status 00 (or the fault's "EE"), and
// the fields P<SMID>~ P<variant>~ P<firmware identifier>~ P<model>~
// N<1 if test module>~. Every other command is answered with its
// header and status EE (not implemented here yet); a frame that does not
// parse with GL!ER and its status.
type Server struct {
	m *sm.Module

	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]bool
	closed bool
	wg     sync.WaitGroup
}

// NewServer returns the STS6-style server of m.
func NewServer(m *sm.Module) *Server { return &Server{m: m, conns: map[net.Conn]bool{}} }

// Serve accepts connections on ln until Close.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.ln = ln
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
	var err error
	if s.ln != nil {
		err = s.ln.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

func (s *Server) serveConn(c net.Conn) {
	defer func() {
		c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		s.wg.Done()
	}()
	r := bufio.NewReaderSize(c, MaxFrame)
	for {
		c.SetReadDeadline(time.Now().Add(5 * time.Minute))
		line, err := r.ReadSlice('\r')
		if errors.Is(err, bufio.ErrBufferFull) {
			c.Write(mustEncode(Frame{Prefix: "GL", Reply: true, Cmd: "ER", Status: sm.CodeFormat}))
			return
		}
		if err != nil {
			return
		}
		reply := s.Handle(line)
		c.SetWriteDeadline(time.Now().Add(time.Minute))
		if _, err := c.Write(reply); err != nil {
			return
		}
	}
}

// Handle answers one frame.
func (s *Server) Handle(frame []byte) []byte {
	q, err := Parse(frame)
	if err != nil {
		code := sm.CodeFormat
		var fe *Error
		if errors.As(err, &fe) {
			code = fe.Code
		}
		return mustEncode(Frame{Prefix: "GL", Reply: true, Cmd: "ER", Status: code})
	}
	if q.Reply || q.Prefix != "SM" {
		return mustEncode(Frame{Prefix: "GL", Reply: true, Cmd: "ER", Status: sm.CodeFormat})
	}
	switch q.Cmd {
	case "DI":
		id := s.m.Identify()
		status := sm.CodeOK
		if s.m.Fault() != nil {
			status = sm.CodeExtended
		}
		test := uint64(0)
		if id.Test {
			test = 1
		}
		return mustEncode(Frame{Reply: true, Cmd: "DI", Status: status, Fields: []Field{
			Print(id.SMID.String()), Print(id.Variant.String()), Print(id.Firmware[sm.APISTS6]), Print(id.Model), Num(test)}})
	}
	return mustEncode(Frame{Reply: true, Cmd: q.Cmd, Status: sm.CodeExtended, Fields: []Field{Print("command not implemented")}})
}

func mustEncode(f Frame) []byte {
	b, err := f.Encode()
	if err != nil {
		// Only our own replies are encoded here; a field that does not
		// encode is a bug, answered as an extended error.
		b, _ = Frame{Prefix: "GL", Reply: true, Cmd: "ER", Status: sm.CodeExtended}.Encode()
	}
	return b
}
