package provision

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	mathrand "math/rand/v2"
	"net"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hadeploy/hadeploy/shell"
	"github.com/pkg/sftp"
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
// hops, if any), reused by every Run and by one lazily opened SFTP client.
type SSHTransport struct {
	cfg  SSHConfig
	name string
	user string // login user on the target
	addr string // target host:port

	client *ssh.Client
	hops   []*ssh.Client // jump host clients, outermost first

	sudo      bool   // login user is not root: wrap commands in sudo
	sudoPath  string // "sudo"; tests point it elsewhere
	uploadDir string // where non-root uploads land before sudo moves them: "/tmp"

	roundTrips atomic.Int64

	sftpMu sync.Mutex
	sftp   *sftp.Client

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
		cfg:       cfg,
		name:      cfg.Name,
		user:      target.user,
		addr:      target.addr(),
		sudo:      target.user != "root",
		sudoPath:  "sudo",
		uploadDir: "/tmp",
		closed:    make(chan struct{}),
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

// Close closes the SFTP client, the connection and any jump host connections.
func (t *SSHTransport) Close() error {
	t.closeOnce.Do(func() {
		close(t.closed)
		t.sftpMu.Lock()
		if t.sftp != nil {
			t.sftp.Close()
			t.sftp = nil
		}
		t.sftpMu.Unlock()
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
	report := shell.Join("printf", "%s%s\\n", pidToken) + ` "$$" >&2` + "\n"
	if !t.sudo {
		return report + cmd, nil
	}
	if t.cfg.BecomePassword == "" {
		return report + "exec " + shell.Join(t.sudoPath, "-n", "sh", "-c", cmd), nil
	}
	marker := "hadeploy-become-" + randomHex(12)
	return report + "exec " + shell.Join(t.sudoPath, "-S", "-p", "", "sh", "-c", becomeWrapper, "sh", marker, cmd),
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
	cmd := shell.Join("kill", "-9", "-"+p) + " 2>/dev/null || " + shell.Join("kill", "-9", p) + " 2>/dev/null; true"
	if t.cfg.Log != nil {
		t.cfg.Log("%s: run: %s", t.name, cmd)
	}
	if _, err := t.execOpts(ctx, cmd, nil, false); err != nil && t.cfg.Log != nil {
		t.cfg.Log("%s: killing cancelled command (process group %s): %v", t.name, p, err)
	}
}

// runChecked runs an internal command and turns a non-zero exit into an error
// wrapping errRemoteCommand.
func (t *SSHTransport) runChecked(ctx context.Context, what, cmd string) error {
	if t.cfg.Log != nil {
		t.cfg.Log("%s: run: %s", t.name, cmd)
	}
	res, err := t.exec(ctx, cmd, nil)
	if err != nil {
		return err
	}
	if res.ExitCode != 0 {
		return fmt.Errorf("%s: %w: exit status %d: %s", what, errRemoteCommand, res.ExitCode, strings.TrimSpace(string(res.Stderr)))
	}
	return nil
}

var errTransportClosed = errors.New("ssh: transport is closed")

// sftpClient returns the transport's SFTP client, opening it on first use.
func (t *SSHTransport) sftpClient() (*sftp.Client, error) {
	t.sftpMu.Lock()
	defer t.sftpMu.Unlock()
	if t.isClosed() {
		return nil, errTransportClosed
	}
	if t.sftp != nil {
		return t.sftp, nil
	}
	c, err := sftp.NewClient(t.client)
	t.roundTrips.Add(1)
	if err != nil {
		return nil, fmt.Errorf("sftp: %w", err)
	}
	t.sftp = c
	return c, nil
}

// dropSFTP closes c and forgets it if it is still the current client, so the
// next operation opens a fresh one.
func (t *SSHTransport) dropSFTP(c *sftp.Client) {
	t.sftpMu.Lock()
	defer t.sftpMu.Unlock()
	if t.sftp == c {
		t.sftp = nil
	}
	c.Close()
}

// sftpDo runs op with the SFTP client; cancelling ctx aborts it by closing the
// client. A client that failed at the protocol level is dropped.
func (t *SSHTransport) sftpDo(ctx context.Context, op func(c *sftp.Client) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c, err := t.sftpClient()
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { t.dropSFTP(c) })
	err = op(c)
	if !stop() {
		return fmt.Errorf("sftp: %w", ctx.Err())
	}
	if err != nil {
		var se *sftp.StatusError
		if !errors.As(err, &se) && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrPermission) && !errors.Is(err, errRemoteCommand) {
			t.dropSFTP(c)
		}
	}
	return err
}

// errRemoteCommand marks failures of helper commands run during SFTP work.
var errRemoteCommand = errors.New("remote command failed")

// ReadFile returns a file's content; the error wraps os.ErrNotExist when the
// file is absent.
func (t *SSHTransport) ReadFile(ctx context.Context, p string) ([]byte, error) {
	if t.cfg.Log != nil {
		t.cfg.Log("%s: read %s", t.name, p)
	}
	if t.sudo {
		data, err := t.readFileSudo(ctx, p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", t.name, err)
		}
		return data, nil
	}
	var data []byte
	err := t.sftpDo(ctx, func(c *sftp.Client) error {
		f, err := c.Open(p)
		t.roundTrips.Add(1)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return &fs.PathError{Op: "read", Path: p, Err: fs.ErrNotExist}
			}
			return fmt.Errorf("read %s: %w", p, err)
		}
		var buf bytes.Buffer
		_, err = f.WriteTo(&buf)
		t.roundTrips.Add(1)
		cerr := f.Close()
		t.roundTrips.Add(1)
		if err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		data = buf.Bytes()
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.name, err)
	}
	return data, nil
}

const enoentMarker = "hadeploy: no such file"

func (t *SSHTransport) readFileSudo(ctx context.Context, p string) ([]byte, error) {
	script := "if [ -e " + shell.Quote(p) + " ]; then exec cat -- " + shell.Quote(p) + "; fi; echo " + shell.Quote(enoentMarker) + " >&2; exit 66"
	res, err := t.exec(ctx, script, nil)
	if err != nil {
		return nil, err
	}
	if res.ExitCode != 0 {
		if res.ExitCode == 66 && strings.Contains(string(res.Stderr), enoentMarker) {
			return nil, &fs.PathError{Op: "read", Path: p, Err: fs.ErrNotExist}
		}
		return nil, fmt.Errorf("read %s: exit status %d: %s", p, res.ExitCode, strings.TrimSpace(string(res.Stderr)))
	}
	return res.Stdout, nil
}

// WriteFileAtomic writes data to a temp file in p's directory, sets owner
// ("user:group", "" = leave) and mode, fsyncs and renames it over p. On error
// the temp file is removed (best effort); p is never partially written.
func (t *SSHTransport) WriteFileAtomic(ctx context.Context, p string, data []byte, mode os.FileMode, owner string) error {
	if !path.IsAbs(p) || strings.HasSuffix(p, "/") || path.Base(p) == "." || path.Base(p) == ".." {
		return fmt.Errorf("%s: write %s: need an absolute file path", t.name, p)
	}
	if t.cfg.Log != nil {
		t.cfg.Log("%s: write %s (%d bytes, mode %04o, owner %q)", t.name, p, len(data), chmodBits(mode), owner)
	}
	var err error
	if t.sudo {
		err = t.writeFileSudo(ctx, p, data, mode, owner)
	} else {
		err = t.writeFileRoot(ctx, p, data, mode, owner)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", t.name, err)
	}
	return nil
}

// tempName is the temp file hadeploy writes next to p.
func tempName(p string) string {
	dir, base := path.Split(p)
	return path.Join(dir, "."+base+".hadeploy-tmp-"+randomHex(8))
}

func (t *SSHTransport) writeFileRoot(ctx context.Context, p string, data []byte, mode os.FileMode, owner string) error {
	tmp := tempName(p)
	return t.sftpDo(ctx, func(c *sftp.Client) (err error) {
		f, err := c.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
		t.roundTrips.Add(1)
		if err != nil {
			return fmt.Errorf("write %s: creating %s: %w", p, tmp, err)
		}
		open := true
		defer func() {
			if err == nil {
				return
			}
			if open {
				f.Close()
				t.roundTrips.Add(1)
			}
			c.Remove(tmp)
			t.roundTrips.Add(1)
		}()
		// Owner and mode before any data, so the content is never exposed
		// under the temp file's default mode.
		if owner != "" {
			cmd := shell.Join("chown", "--", owner, tmp) + " && " + shell.Join("chmod", fmt.Sprintf("%04o", chmodBits(mode)), "--", tmp)
			if err := t.runChecked(ctx, "chown "+owner, cmd); err != nil {
				return fmt.Errorf("write %s: %w", p, err)
			}
		} else {
			err := f.Chmod(mode)
			t.roundTrips.Add(1)
			if err != nil {
				return fmt.Errorf("write %s: chmod: %w", p, err)
			}
		}
		_, err = f.ReadFrom(bytes.NewReader(data))
		t.roundTrips.Add(1)
		if err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
		synced := false
		if v, ok := c.HasExtension("fsync@openssh.com"); ok && v == "1" {
			err := f.Sync()
			t.roundTrips.Add(1)
			if err != nil {
				return fmt.Errorf("write %s: fsync: %w", p, err)
			}
			synced = true
		}
		open = false
		err = f.Close()
		t.roundTrips.Add(1)
		if err != nil {
			return fmt.Errorf("write %s: close: %w", p, err)
		}
		if !synced {
			if err := t.runChecked(ctx, "sync", shell.Join("sync", "--", tmp)+" 2>/dev/null || sync"); err != nil {
				return fmt.Errorf("write %s: %w", p, err)
			}
		}
		if _, ok := c.HasExtension("posix-rename@openssh.com"); ok {
			err = c.PosixRename(tmp, p)
			t.roundTrips.Add(1)
			if err != nil {
				return fmt.Errorf("write %s: rename: %w", p, err)
			}
			return nil
		}
		if err := t.runChecked(ctx, "rename", shell.Join("mv", "-f", "--", tmp, p)); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
		return nil
	})
}

// writeFileSudo uploads as the login user to /tmp, then, as root, copies into
// a temp file next to p, sets owner and mode, syncs and renames over p.
func (t *SSHTransport) writeFileSudo(ctx context.Context, p string, data []byte, mode os.FileMode, owner string) error {
	upload := path.Join(t.uploadDir, ".hadeploy-upload-"+randomHex(12))
	err := t.sftpDo(ctx, func(c *sftp.Client) (err error) {
		f, err := c.OpenFile(upload, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
		t.roundTrips.Add(1)
		if err != nil {
			return fmt.Errorf("write %s: creating %s: %w", p, upload, err)
		}
		open := true
		defer func() {
			if err != nil {
				if open {
					f.Close()
					t.roundTrips.Add(1)
				}
				c.Remove(upload)
				t.roundTrips.Add(1)
			}
		}()
		err = f.Chmod(0o600)
		t.roundTrips.Add(1)
		if err != nil {
			return fmt.Errorf("write %s: chmod %s: %w", p, upload, err)
		}
		_, err = f.ReadFrom(bytes.NewReader(data))
		t.roundTrips.Add(1)
		if err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
		open = false
		err = f.Close()
		t.roundTrips.Add(1)
		if err != nil {
			return fmt.Errorf("write %s: close: %w", p, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	tmp := tempName(p)
	var b strings.Builder
	b.WriteString("set -e; umask 077; ")
	b.WriteString("trap " + shell.Quote("rm -f -- "+shell.Join(upload, tmp)) + " EXIT; ")
	b.WriteString("set -C; cat -- " + shell.Quote(upload) + " > " + shell.Quote(tmp) + "; set +C; ")
	if owner != "" {
		b.WriteString(shell.Join("chown", "--", owner, tmp) + "; ")
	}
	b.WriteString(shell.Join("chmod", fmt.Sprintf("%04o", chmodBits(mode)), "--", tmp) + "; ")
	b.WriteString(shell.Join("sync", "--", tmp) + " 2>/dev/null || sync; ")
	b.WriteString(shell.Join("mv", "-f", "--", tmp, p))
	if err := t.runChecked(ctx, "write "+p, b.String()); err != nil {
		// The script's trap removes the upload; if sudo itself failed it
		// never ran, so remove it as the login user.
		if c, cerr := t.sftpClient(); cerr == nil {
			c.Remove(upload)
			t.roundTrips.Add(1)
		}
		return err
	}
	return nil
}

// chmodBits converts an os.FileMode to the numeric mode chmod takes.
func chmodBits(m os.FileMode) uint32 {
	v := uint32(m.Perm())
	if m&os.ModeSetuid != 0 {
		v |= 0o4000
	}
	if m&os.ModeSetgid != 0 {
		v |= 0o2000
	}
	if m&os.ModeSticky != 0 {
		v |= 0o1000
	}
	return v
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
