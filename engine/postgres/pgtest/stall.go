package pgtest

import (
	"net"
	"net/url"
	"sync"
	"testing"
)

// Stall is a TCP proxy in front of the PostgreSQL server that can freeze:
// it then keeps every connection open and passes nothing on, as a server
// whose process or storage hangs does (the kernel still acknowledges
// what is sent), until it thaws.
type Stall struct {
	ln     net.Listener
	mu     sync.Mutex
	cond   *sync.Cond
	frozen bool
	conns  []net.Conn
}

// NewStall starts a proxy to the server of dsn, closed when the test
// ends, and returns it with dsn pointed at it.
func NewStall(t testing.TB, dsn string) (*Stall, string) {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Stall{ln: ln}
	p.cond = sync.NewCond(&p.mu)
	target := u.Host
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go p.pipe(c, s)
			go p.pipe(s, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		p.Freeze(false)
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, c := range p.conns {
			c.Close()
		}
	})
	u.Host = ln.Addr().String()
	return p, u.String()
}

// pipe copies src to dst, holding what it read while the proxy is frozen.
func (p *Stall) pipe(dst, src net.Conn) {
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			for p.frozen {
				p.cond.Wait()
			}
			p.mu.Unlock()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// Freeze stops (true) or resumes (false) passing anything on.
func (p *Stall) Freeze(frozen bool) {
	p.mu.Lock()
	p.frozen = frozen
	p.mu.Unlock()
	p.cond.Broadcast()
}

// Cut closes every connection and stops listening, so that new
// connections are refused, as when the server went down: for good.
func (p *Stall) Cut() {
	p.ln.Close()
	p.Freeze(false)
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}
