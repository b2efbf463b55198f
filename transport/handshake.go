package transport

import (
	"bytes"
	"context"
	"fmt"
	mathrand "math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// handshakeSlots bounds the handshakes in flight to each sshd (address:port),
// not in the process: MaxStartups is per sshd, and every host behind a
// ProxyJump bastion handshakes with the bastion first, so a bastion gets
// MaxConcurrentHandshakes at a time while 100 direct hosts all handshake at
// once (a process-wide cap of 10 made a 100-host fleet on a 50 ms network
// wait ten handshake times in line).
var handshakeSlots = struct {
	sync.Mutex
	byAddr map[string]chan struct{}
}{byAddr: map[string]chan struct{}{}}

// slotsFor is the handshake semaphore of the sshd at addr.
func slotsFor(addr string) chan struct{} {
	handshakeSlots.Lock()
	defer handshakeSlots.Unlock()
	c := handshakeSlots.byAddr[addr]
	if c == nil {
		c = make(chan struct{}, MaxConcurrentHandshakes)
		handshakeSlots.byAddr[addr] = c
	}
	return c
}

// handshake connects to ep (directly, or through prev) and authenticates.
func (t *SSHTransport) handshake(ctx context.Context, prev *ssh.Client, ep endpoint, hk *hostKeyDB, auth *authSource) (*ssh.Client, error) {
	addr := ep.addr()
	signers := auth.signers(ep)
	if len(signers) == 0 {
		return nil, auth.fail(fmt.Sprintf("ssh %s@%s: no SSH key to authenticate with: no ssh-agent keys (SSH_AUTH_SOCK) and no usable identity file (~/.ssh/id_ed25519, id_ecdsa, id_rsa, inventory or ssh_config IdentityFile)", ep.user, addr), nil)
	}

	slots := slotsFor(addr)
	select {
	case slots <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("ssh %s@%s: waiting for a handshake slot: %w", ep.user, addr, ctx.Err())
	}
	defer func() { <-slots }()

	// sshd drops connections beyond MaxStartups before sending its banner
	// (and may still count a just-authenticated one): retry those.
	for attempt := 0; ; attempt++ {
		c, retry, err := t.handshakeOnce(ctx, prev, ep, hk, auth, signers)
		if !retry || attempt == 5 {
			return c, err
		}
		if t.cfg.Log != nil {
			t.cfg.Log("%s: %v; retrying", t.name, err)
		}
		backoff := min(time.Duration(50<<attempt)*time.Millisecond, time.Second) + time.Duration(mathrand.Int64N(int64(100*time.Millisecond)))
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return nil, err
		}
	}
}

// bannerConn keeps the start of what the server sent, to tell a connection
// sshd dropped before its banner (past MaxStartups it sends only "Exceeded
// MaxStartups") from a real failure.
type bannerConn struct {
	net.Conn
	mu    sync.Mutex
	start []byte
}

func (c *bannerConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		if len(c.start) < 256 {
			c.start = append(c.start, p[:min(n, 256-len(c.start))]...)
		}
		c.mu.Unlock()
	}
	return n, err
}

// sawBanner reports whether the server sent its SSH version line.
func (c *bannerConn) sawBanner() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.HasPrefix(c.start, []byte("SSH-")) || bytes.Contains(c.start, []byte("\nSSH-"))
}

// handshakeOnce makes one connection attempt; retry reports that the server
// closed the connection without sending its SSH banner.
func (t *SSHTransport) handshakeOnce(ctx context.Context, prev *ssh.Client, ep endpoint, hk *hostKeyDB, auth *authSource, signers []ssh.Signer) (_ *ssh.Client, retry bool, _ error) {
	addr := ep.addr()
	// ConnectTimeout covers the TCP connect and the handshake, except the
	// time spent waiting for the user to type a key's passphrase.
	hctx, cancel := context.WithCancel(ctx)
	defer cancel()
	timer := newPausableTimer(t.cfg.ConnectTimeout, cancel)
	defer timer.stop()
	timeoutErr := func() error {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("ssh %s@%s: %w", ep.user, addr, err)
		}
		return fmt.Errorf("ssh %s@%s: connect and handshake timed out after %s: %w", ep.user, addr, t.cfg.ConnectTimeout, context.DeadlineExceeded)
	}
	var conn net.Conn
	var err error
	if prev == nil {
		var d net.Dialer
		conn, err = d.DialContext(hctx, "tcp", addr)
	} else {
		conn, err = prev.DialContext(hctx, "tcp", addr)
	}
	if err != nil {
		if hctx.Err() != nil {
			return nil, false, timeoutErr()
		}
		return nil, false, fmt.Errorf("ssh %s@%s: connect: %w", ep.user, addr, err)
	}
	if t.cfg.wrapConn != nil {
		conn = t.cfg.wrapConn(conn)
	}
	bc := &bannerConn{Conn: conn}
	conn = bc
	// The handshake has no context: closing the connection aborts it.
	stop := context.AfterFunc(hctx, func() { conn.Close() })

	signers = slices.Clone(signers)
	for i, s := range signers {
		if ls, ok := s.(*lazySigner); ok {
			signers[i] = &pausingSigner{lazySigner: ls, timer: timer}
		}
	}
	var hostKeyErr error
	config := &ssh.ClientConfig{
		User:              ep.user,
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(signers...)},
		HostKeyCallback:   hk.callback(ep, &hostKeyErr),
		HostKeyAlgorithms: hk.algorithms(addr),
	}
	c, chans, reqs, err := ssh.NewClientConn(conn, addr, config)
	t.roundTrips.Add(1)
	timer.stop()
	if !stop() {
		if err == nil {
			c.Close()
		}
		return nil, false, timeoutErr()
	}
	if err != nil {
		conn.Close()
		switch {
		case hostKeyErr != nil:
			return nil, false, fmt.Errorf("ssh %s: %w", addr, hostKeyErr)
		case strings.Contains(err.Error(), "unable to authenticate"):
			return nil, false, auth.fail(fmt.Sprintf("ssh %s@%s: authentication failed (offered %d key(s))", ep.user, addr, len(signers)), err)
		case config.HostKeyAlgorithms != nil && strings.Contains(err.Error(), "no common algorithm for host key"):
			return nil, false, fmt.Errorf("ssh %s: the server offers none of the host key types known_hosts holds for it (%s): %w",
				addr, strings.Join(config.HostKeyAlgorithms, ", "), err)
		}
		return nil, !bc.sawBanner(), fmt.Errorf("ssh %s@%s: %w", ep.user, addr, err)
	}
	return ssh.NewClient(c, chans, reqs), false, nil
}
