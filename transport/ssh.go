package transport

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
)

// SSHConfig says how to reach one host. Explicit (inventory) values win over
// ~/.ssh/config, which wins over the defaults.
type SSHConfig struct {
	Name              string                           // inventory host name, for errors
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
	// MaxConcurrentHandshakes bounds the SSH handshakes in flight in this
	// process (sshd's MaxStartups defaults to 10, and a ProxyJump bastion
	// sees every handshake).
	MaxConcurrentHandshakes = 10

	defaultConnectTimeout = 10 * time.Second
	keepaliveInterval     = 15 * time.Second
	keepaliveMaxMissed    = 3
	killTimeout           = 5 * time.Second
)

var handshakeSlots = make(chan struct{}, MaxConcurrentHandshakes)

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
// ~/.ssh/config declares), checking host keys against known_hosts.
func DialSSH(ctx context.Context, cfg SSHConfig) (*SSHTransport, error) {
	if cfg.Name == "" {
		cfg.Name = cfg.Address
	}
	if cfg.Address == "" {
		return nil, fmt.Errorf("%s: ssh: no address", cfg.Name)
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = defaultConnectTimeout
	}
	if strings.ContainsAny(cfg.BecomePassword, "\r\n") {
		return nil, fmt.Errorf("%s: ssh: the become password cannot contain a newline", cfg.Name)
	}
	home, _ := os.UserHomeDir()
	settings, err := loadSSHSettings(cfg.SSHConfigFile, home)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Name, err)
	}
	target, err := settings.resolve(cfg.Address, cfg.User, cfg.Port, cfg.IdentityFiles, "root")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Name, err)
	}
	hops, err := settings.jumpHops(cfg.Address)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Name, err)
	}
	hk, err := newHostKeyDB(cfg.KnownHostsFiles, home, cfg.AcceptNewHostKeys, cfg.Log)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Name, err)
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
				return nil, fmt.Errorf("%s: jump host %s: %w", cfg.Name, ep.alias, err)
			}
			return nil, fmt.Errorf("%s: %w", cfg.Name, err)
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

// handshake connects to ep (directly, or through prev) and authenticates.
func (t *SSHTransport) handshake(ctx context.Context, prev *ssh.Client, ep endpoint, hk *hostKeyDB, auth *authSource) (*ssh.Client, error) {
	addr := ep.addr()
	signers := auth.signers(ep)
	if len(signers) == 0 {
		msg := "no SSH key to authenticate with: no ssh-agent keys (SSH_AUTH_SOCK) and no usable identity file (~/.ssh/id_ed25519, id_ecdsa, id_rsa, inventory or ssh_config IdentityFile)"
		if len(auth.notes) > 0 {
			msg += "; " + strings.Join(auth.notes, "; ")
		}
		return nil, fmt.Errorf("ssh %s@%s: %s", ep.user, addr, msg)
	}

	select {
	case handshakeSlots <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("ssh %s@%s: waiting for a handshake slot: %w", ep.user, addr, ctx.Err())
	}
	defer func() { <-handshakeSlots }()

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
			msg := fmt.Sprintf("ssh %s@%s: authentication failed (offered %d key(s))", ep.user, addr, len(signers))
			if len(auth.notes) > 0 {
				msg += "; " + strings.Join(auth.notes, "; ")
			}
			return nil, false, fmt.Errorf("%s: %w", msg, err)
		case config.HostKeyAlgorithms != nil && strings.Contains(err.Error(), "no common algorithm for host key"):
			return nil, false, fmt.Errorf("ssh %s: the server offers none of the host key types known_hosts holds for it (%s): %w",
				addr, strings.Join(config.HostKeyAlgorithms, ", "), err)
		}
		return nil, !bc.sawBanner(), fmt.Errorf("ssh %s@%s: %w", ep.user, addr, err)
	}
	return ssh.NewClient(c, chans, reqs), false, nil
}

// pausableTimer calls fn once d has elapsed, not counting paused time.
type pausableTimer struct {
	mu        sync.Mutex
	remaining time.Duration
	started   time.Time
	timer     *time.Timer
	paused    int
	done      bool // fired or stopped
	fn        func()
}

func newPausableTimer(d time.Duration, fn func()) *pausableTimer {
	p := &pausableTimer{remaining: d, started: time.Now(), fn: fn}
	p.timer = time.AfterFunc(d, p.fire)
	return p
}

func (p *pausableTimer) fire() {
	p.mu.Lock()
	if p.done || p.paused > 0 {
		p.mu.Unlock()
		return
	}
	p.done = true
	p.mu.Unlock()
	p.fn()
}

func (p *pausableTimer) pause() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.paused == 0 && !p.done {
		p.timer.Stop()
		p.remaining -= time.Since(p.started)
	}
	p.paused++
}

func (p *pausableTimer) resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.paused--
	if p.paused == 0 && !p.done {
		p.started = time.Now()
		p.timer = time.AfterFunc(max(p.remaining, 0), p.fire)
	}
}

func (p *pausableTimer) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done = true
	p.timer.Stop()
}

// keepalive sends keepalive@openssh.com every interval and closes the
// connection after maxMissed unanswered ones. Keepalives are not counted as
// round trips: they are background traffic, not work.
func (t *SSHTransport) keepalive(interval time.Duration, maxMissed int) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	missed := 0
	for {
		select {
		case <-t.closed:
			return
		case <-ticker.C:
		}
		reply := make(chan error, 1)
		go func() {
			_, _, err := t.client.SendRequest("keepalive@openssh.com", true, nil)
			reply <- err
		}()
		select {
		case <-t.closed:
			return
		case err := <-reply:
			if err != nil { // connection already gone
				return
			}
			missed = 0
			continue
		case <-time.After(interval):
			missed++
		}
		if missed >= maxMissed {
			if t.cfg.Log != nil {
				t.cfg.Log("%s: %d keepalives unanswered, closing the connection", t.name, missed)
			}
			t.client.Close()
			return
		}
	}
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
			t.closeErr = fmt.Errorf("%s: closing ssh connection: %w", t.name, err)
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

// becomeWrapper runs under sudo when a password is sent: it discards stdin up
// to the marker line ($1), then runs the command ($2). The caller's stdin thus
// reaches the command intact whether sudo read the password line or not (sudo
// does not ask when credentials are cached or for NOPASSWD rules).
const becomeWrapper = `while IFS= read -r hadeploy_line; do [ "$hadeploy_line" = "$1" ] && break; done; exec sh -c "$2"`

// remoteCommand wraps cmd for privilege escalation; prefix, when not nil, must
// precede the caller's stdin. The remote shell first reports its PID (the
// process group sshd made for the session) on stderr behind pidToken, so a
// cancelled command can be killed: OpenSSH refuses "signal" requests for root
// sessions, and closing the channel does not stop the command.
func (t *SSHTransport) remoteCommand(cmd, pidToken string) (remote string, prefix io.Reader) {
	report := join("printf", "%s%s\\n", pidToken) + ` "$$" >&2` + "\n"
	if !t.sudo {
		return report + cmd, nil
	}
	if t.cfg.BecomePassword == "" {
		return report + "exec " + join(t.sudoPath, "-n", "sh", "-c", cmd), nil
	}
	marker := "hadeploy-become-" + randomHex(12)
	return report + "exec " + join(t.sudoPath, "-S", "-p", "", "sh", "-c", becomeWrapper, "sh", marker, cmd),
		strings.NewReader(t.cfg.BecomePassword + "\n" + marker + "\n")
}

// pidSniffer passes stderr through, minus the line reporting the remote PID.
type pidSniffer struct {
	token []byte
	dst   *bytes.Buffer
	buf   []byte
	found bool
	pid   atomic.Int64
}

func (s *pidSniffer) Write(p []byte) (int, error) {
	if s.found {
		return s.dst.Write(p)
	}
	s.buf = append(s.buf, p...)
	for {
		i := bytes.IndexByte(s.buf, '\n')
		if i < 0 {
			break
		}
		line := s.buf[:i]
		s.buf = s.buf[i+1:]
		if v, ok := bytes.CutPrefix(line, s.token); ok {
			if pid, err := strconv.ParseInt(string(v), 10, 64); err == nil && pid > 1 {
				s.pid.Store(pid)
			}
			s.found = true
			s.flush()
			return len(p), nil
		}
		s.dst.Write(line)
		s.dst.WriteByte('\n')
	}
	if len(s.buf) > 64<<10 { // no report: give up sniffing
		s.found = true
		s.flush()
	}
	return len(p), nil
}

func (s *pidSniffer) flush() {
	s.dst.Write(s.buf)
	s.buf = nil
}

// Run executes cmd through the remote shell, as root (via sudo when the login
// user is not root). A non-zero exit is not an error.
func (t *SSHTransport) Run(ctx context.Context, cmd string, stdin io.Reader) (Result, error) {
	if t.cfg.Log != nil {
		t.cfg.Log("%s: run: %s", t.name, cmd)
	}
	res, err := t.exec(ctx, cmd, stdin)
	if err != nil {
		return res, fmt.Errorf("%s: %w", t.name, err)
	}
	return res, nil
}

// exec runs cmd (wrapped in sudo if needed); its errors do not name the host.
func (t *SSHTransport) exec(ctx context.Context, cmd string, stdin io.Reader) (Result, error) {
	return t.execOpts(ctx, cmd, stdin, true)
}

func (t *SSHTransport) execOpts(ctx context.Context, cmd string, stdin io.Reader, killOnCancel bool) (Result, error) {
	if t.isClosed() {
		return Result{}, errTransportClosed
	}
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("run: %w", err)
	}
	parent := ctx
	if d := t.cfg.CommandTimeout; d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	token := "hadeploy-pid-" + randomHex(6) + ":"
	remote, prefix := t.remoteCommand(cmd, token)
	if prefix != nil {
		if stdin == nil {
			stdin = prefix
		} else {
			stdin = io.MultiReader(prefix, stdin)
		}
	}

	sess, err := t.client.NewSession()
	if err != nil {
		return Result{}, fmt.Errorf("ssh: opening session: %w", err)
	}
	t.roundTrips.Add(1)
	var stdout, stderr bytes.Buffer
	sniffer := &pidSniffer{token: []byte(token), dst: &stderr}
	sess.Stdout, sess.Stderr = &stdout, sniffer
	if stdin != nil {
		sess.Stdin = stdin
	}
	if err := sess.Start(remote); err != nil {
		sess.Close()
		return Result{}, fmt.Errorf("ssh: starting command: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- sess.Wait() }()

	select {
	case err = <-done:
		sess.Close()
	case <-ctx.Done():
		_ = sess.Signal(ssh.SIGKILL) // honoured for non-root logins only
		if pid := sniffer.pid.Load(); pid > 0 && killOnCancel {
			t.killRemote(pid)
		}
		sess.Close()
		if perr := parent.Err(); perr != nil {
			return Result{}, fmt.Errorf("run: %w", perr)
		}
		return Result{}, fmt.Errorf("run: command timed out after %s: %w", t.cfg.CommandTimeout, context.DeadlineExceeded)
	}
	sniffer.flush()
	res := Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}
	var exitErr *ssh.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		res.ExitCode = exitErr.ExitStatus()
	default:
		return res, fmt.Errorf("ssh: running command: %w", err)
	}
	return res, nil
}

// killRemote kills the process group of a cancelled command (as root, through
// sudo when needed), waiting at most killTimeout.
func (t *SSHTransport) killRemote(pgid int64) {
	ctx, cancel := context.WithTimeout(context.Background(), killTimeout)
	defer cancel()
	p := strconv.FormatInt(pgid, 10)
	// No "--": dash's kill rejects it; "-9 -PGID" works in every shell.
	cmd := join("kill", "-9", "-"+p) + " 2>/dev/null || " + join("kill", "-9", p) + " 2>/dev/null; true"
	if t.cfg.Log != nil {
		t.cfg.Log("%s: run: %s", t.name, cmd)
	}
	if _, err := t.execOpts(ctx, cmd, nil, false); err != nil && t.cfg.Log != nil {
		t.cfg.Log("%s: killing cancelled command (process group %s): %v", t.name, p, err)
	}
}

var errTransportClosed = errors.New("ssh: transport is closed")

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
