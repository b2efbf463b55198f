package transport

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// freezeConn stops delivering writes once frozen, like a peer that vanished
// without closing the TCP connection.
type freezeConn struct {
	net.Conn
	frozen   *atomic.Bool
	closed   chan struct{}
	closeOne sync.Once
}

func (c *freezeConn) Write(p []byte) (int, error) {
	if c.frozen.Load() {
		<-c.closed
		return 0, net.ErrClosed
	}
	return c.Conn.Write(p)
}

func (c *freezeConn) Close() error {
	c.closeOne.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

func TestSSHKeepaliveClosesDeadConnection(t *testing.T) {
	isolateSSHEnv(t)
	s := startSSHDWith(t, sshdOptions{})
	var frozen atomic.Bool
	cfg := s.Config("vanished")
	cfg.wrapConn = func(c net.Conn) net.Conn { return &freezeConn{Conn: c, frozen: &frozen, closed: make(chan struct{})} }
	var logs lockedBuffer
	cfg.Log = func(f string, a ...any) { fmt.Fprintf(&logs, f+"\n", a...) }
	tr := dialTest(t, cfg)
	go tr.keepalive(50*time.Millisecond, 3) // fast keepalives in addition to the 15 s ones
	time.Sleep(200 * time.Millisecond)      // a few answered keepalives
	mustRun(t, tr, "true")
	frozen.Store(true)
	done := make(chan error, 1)
	go func() { done <- tr.client.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("connection not closed after missed keepalives")
	}
	if !strings.Contains(logs.String(), "keepalives unanswered") {
		t.Errorf("closing not logged: %q", logs.String())
	}
	if _, err := tr.Run(context.Background(), "true", nil); err == nil {
		t.Error("Run on the closed connection succeeded")
	}
}
