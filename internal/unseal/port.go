package unseal

import (
	"net"
	"sync"
)

// Port holds a listener for a service's whole life and hands its
// connections to the listener of the phase in use (Open): while none is
// open — sealed — each connection is greeted with the sealed greeting, if
// any, and closed. So a sealed service keeps its port, and a client learns
// at once that it is sealed.
type Port struct {
	ln       net.Listener
	greeting []byte
	mu       sync.Mutex
	cur      *phase
	done     chan struct{}
}

// NewPort starts handing ln's connections out; greeting (may be empty) is
// written to each connection while sealed (a mail server's "421 …").
func NewPort(ln net.Listener, greeting string) *Port {
	p := &Port{ln: ln, greeting: []byte(greeting), done: make(chan struct{})}
	go p.run()
	return p
}

// Addr is the listener's address.
func (p *Port) Addr() net.Addr { return p.ln.Addr() }

// Close closes the listener and the phase open, if any.
func (p *Port) Close() error {
	err := p.ln.Close()
	<-p.done
	return err
}

// Open returns the listener of a new phase, which takes the connections
// until it is closed; then the port is sealed again.
func (p *Port) Open() net.Listener {
	ph := &phase{addr: p.ln.Addr(), conns: make(chan net.Conn), closed: make(chan struct{})}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur != nil {
		p.cur.Close()
	}
	p.cur = ph
	return ph
}

func (p *Port) run() {
	defer close(p.done)
	for {
		c, err := p.ln.Accept()
		if err != nil {
			p.mu.Lock()
			if p.cur != nil {
				p.cur.Close()
			}
			p.mu.Unlock()
			return
		}
		p.mu.Lock()
		cur := p.cur
		p.mu.Unlock()
		if cur == nil || !cur.give(c) {
			p.refuse(c)
		}
	}
}

// refuse greets c as sealed and closes it.
func (p *Port) refuse(c net.Conn) {
	if len(p.greeting) > 0 {
		c.Write(p.greeting)
	}
	c.Close()
}

// phase is the listener of one unsealed phase of a Port.
type phase struct {
	addr   net.Addr
	conns  chan net.Conn
	once   sync.Once
	closed chan struct{}
}

func (ph *phase) give(c net.Conn) bool {
	select {
	case ph.conns <- c:
		return true
	case <-ph.closed:
		return false
	}
}

// Accept returns the next connection, or net.ErrClosed once closed.
func (ph *phase) Accept() (net.Conn, error) {
	select {
	case c := <-ph.conns:
		return c, nil
	case <-ph.closed:
		return nil, net.ErrClosed
	}
}

// Close ends the phase; the port's listener stays open.
func (ph *phase) Close() error {
	ph.once.Do(func() { close(ph.closed) })
	return nil
}

// Addr is the port's address.
func (ph *phase) Addr() net.Addr { return ph.addr }
