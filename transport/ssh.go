package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
)

// SSHConfig says how to reach one host. Explicit (inventory) values win over
// ~/.ssh/config, which wins over the defaults.
type SSHConfig struct {
	Name              string                           // inventory host name, for logs and Name(); errors leave it to the caller
	Address           string                           // IP or DNS name (or an ~/.ssh/config Host alias)
	Port              int                              // 0 = from ssh_config or 22
	User              string                           // "" = from ssh_config or "root"
	IdentityFiles     []string                         // extra identity files (inventory); ~ expanded
	KnownHostsFiles   []string                         // checked in addition to ~/.ssh/known_hosts (which is used when it exists)
	AcceptNewHostKeys bool                             // record unknown keys into the first KnownHostsFiles entry (or ~/.ssh/known_hosts); never accept CHANGED keys
	ConnectTimeout    time.Duration                    // covers TCP connect AND handshake (per hop); default 10s
	CommandTimeout    time.Duration                    // per Run; 0 = none beyond ctx
	BecomePassword    string                           // sudo password, sent on stdin only, never in argv or logs
	SSHConfigFile     string                           // default ~/.ssh/config; "none" disables
	Log               func(format string, args ...any) // optional: verbose log of commands run (never secrets)

	// wrapConn, when set (tests), wraps each TCP connection before the handshake.
	wrapConn func(net.Conn) net.Conn
}

const (
	// MaxConcurrentHandshakes bounds the SSH handshakes in flight to one
	// sshd (its MaxStartups defaults to 10, and a ProxyJump bastion sees
	// every host's handshake).
	MaxConcurrentHandshakes = 10

	defaultConnectTimeout = 10 * time.Second
	keepaliveInterval     = 15 * time.Second
	keepaliveMaxMissed    = 3
	killTimeout           = 5 * time.Second
)

// SSHTransport is a Transport over one SSH connection (through its ProxyJump
// hops, if any), reused by every Run.
type SSHTransport struct {
	cfg  SSHConfig
	name string
	user string // login user on the target
	addr string // target host:port

	client *ssh.Client
	hops   []*ssh.Client // jump host clients, outermost first

	sudo     bool   // login user is not root: wrap commands in sudo
	sudoPath string // "sudo"; tests point it elsewhere

	roundTrips atomic.Int64

	closed    chan struct{}
	closeOnce sync.Once
	closeErr  error
}

var _ Transport = (*SSHTransport)(nil)

// DialSSH connects and authenticates to cfg's host (through any ProxyJump hops
// ~/.ssh/config declares), checking host keys against known_hosts. Its errors,
// like all of this package's, do not name the host: the caller adds it once.
func DialSSH(ctx context.Context, cfg SSHConfig) (*SSHTransport, error) {
	if cfg.Name == "" {
		cfg.Name = cfg.Address
	}
	if cfg.Address == "" {
		return nil, errors.New("ssh: no address")
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = defaultConnectTimeout
	}
	if strings.ContainsAny(cfg.BecomePassword, "\r\n") {
		return nil, errors.New("ssh: the become password cannot contain a newline")
	}
	home, _ := os.UserHomeDir()
	settings, err := loadSSHSettings(cfg.SSHConfigFile, home)
	if err != nil {
		return nil, err
	}
	target, err := settings.resolve(cfg.Address, cfg.User, cfg.Port, cfg.IdentityFiles, "root")
	if err != nil {
		return nil, err
	}
	hops, err := settings.jumpHops(cfg.Address)
	if err != nil {
		return nil, err
	}
	hk, err := newHostKeyDB(cfg.KnownHostsFiles, home, cfg.AcceptNewHostKeys, cfg.Log)
	if err != nil {
		return nil, err
	}
	auth := newAuthSource(home, cfg.Log)
	defer auth.close()

	t := &SSHTransport{
		cfg:      cfg,
		name:     cfg.Name,
		user:     target.user,
		addr:     target.addr(),
		sudo:     target.user != "root",
		sudoPath: "sudo",
		closed:   make(chan struct{}),
	}
	var prev *ssh.Client
	for i, ep := range append(hops, target) {
		c, err := t.handshake(ctx, prev, ep, hk, auth)
		if err != nil {
			if prev != nil {
				prev.Close()
			}
			for j := len(t.hops) - 1; j >= 0; j-- {
				t.hops[j].Close()
			}
			if i < len(hops) {
				return nil, fmt.Errorf("jump host %s: %w", ep.alias, err)
			}
			return nil, err
		}
		if prev != nil {
			t.hops = append(t.hops, prev)
		}
		prev = c
	}
	t.client = prev
	go t.keepalive(keepaliveInterval, keepaliveMaxMissed)
	return t, nil
}

// Name is the inventory host name.
func (t *SSHTransport) Name() string { return t.name }

// RoundTrips is how many network round trips this transport has made.
func (t *SSHTransport) RoundTrips() int64 { return t.roundTrips.Load() }

// User is the login user on the target.
func (t *SSHTransport) User() string { return t.user }

// Close closes the connection and any jump host connections.
func (t *SSHTransport) Close() error {
	t.closeOnce.Do(func() {
		close(t.closed)
		err := t.client.Close()
		for i := len(t.hops) - 1; i >= 0; i-- {
			t.hops[i].Close()
		}
		if err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, io.EOF) {
			t.closeErr = fmt.Errorf("closing ssh connection: %w", err)
		}
	})
	return t.closeErr
}

func (t *SSHTransport) isClosed() bool {
	select {
	case <-t.closed:
		return true
	default:
		return false
	}
}
