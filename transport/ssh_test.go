package transport

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"
)

func dialTest(t *testing.T, cfg SSHConfig) *SSHTransport {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tr, err := DialSSH(ctx, cfg)
	if err != nil {
		t.Fatalf("DialSSH: %v", err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

func mustRun(t *testing.T, tr Transport, cmd string) Result {
	t.Helper()
	res, err := tr.Run(context.Background(), cmd, nil)
	if err != nil {
		t.Fatalf("Run(%q): %v", cmd, err)
	}
	return res
}

func TestSSHKeyAuthAndRun(t *testing.T) {
	isolateSSHEnv(t)
	s := startSSHDWith(t, sshdOptions{})
	tr := dialTest(t, s.Config("web1"))
	if tr.Name() != "web1" {
		t.Errorf("Name() = %q", tr.Name())
	}
	res := mustRun(t, tr, "echo out; echo err >&2; exit 3")
	if string(res.Stdout) != "out\n" || string(res.Stderr) != "err\n" || res.ExitCode != 3 {
		t.Errorf("got stdout %q stderr %q exit %d", res.Stdout, res.Stderr, res.ExitCode)
	}
	res = mustRun(t, tr, "id -u")
	if strings.TrimSpace(string(res.Stdout)) != "0" {
		t.Errorf("id -u = %q", res.Stdout)
	}
	// stdin reaches the command byte for byte.
	in := []byte("line1\nline2\x00\xff\n")
	res, err := tr.Run(context.Background(), "cat", bytes.NewReader(in))
	if err != nil || !bytes.Equal(res.Stdout, in) {
		t.Errorf("cat stdin: %q, %v", res.Stdout, err)
	}
	// The connection is reused: several runs concurrently.
	var wg sync.WaitGroup
	for i := 0; i < 5; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := tr.Run(context.Background(), "echo "+strconv.Itoa(i), nil)
			if err != nil || string(res.Stdout) != strconv.Itoa(i)+"\n" {
				t.Errorf("concurrent run %d: %q %v", i, res.Stdout, err)
			}
		}()
	}
	wg.Wait()
}

func TestSSHAgentAuth(t *testing.T) {
	home := isolateSSHEnv(t)
	s := startSSHDWith(t, sshdOptions{})
	keyring := agent.NewKeyring()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	if err := keyring.Add(agent.AddedKey{PrivateKey: priv}); err != nil {
		t.Fatal(err)
	}
	signer, _ := ssh.NewSignerFromKey(priv)
	s.Authorize(t, signer.PublicKey())

	sock := filepath.Join(home, "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var served atomic.Int32
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			served.Add(1)
			go func() { defer c.Close(); agent.ServeAgent(keyring, c) }()
		}
	}()
	t.Setenv("SSH_AUTH_SOCK", sock)

	cfg := s.Config("agent-host")
	cfg.IdentityFiles = nil // only the agent can authenticate
	tr := dialTest(t, cfg)
	if got := strings.TrimSpace(string(mustRun(t, tr, "echo ok").Stdout)); got != "ok" {
		t.Errorf("run over agent auth: %q", got)
	}
	if served.Load() == 0 {
		t.Error("the agent was never asked")
	}

	// Without agent nor keys, the error says why.
	t.Setenv("SSH_AUTH_SOCK", "")
	_, err = DialSSH(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "agent-host: ") || !strings.Contains(err.Error(), "no SSH key") {
		t.Errorf("dial without keys: %v", err)
	}
}

func TestSSHUnknownHostRefused(t *testing.T) {
	isolateSSHEnv(t)
	s := startSSHDWith(t, sshdOptions{})
	cfg := s.Config("newbox")
	cfg.KnownHostsFiles = []string{filepath.Join(s.Dir, "empty_known_hosts")}
	_, err := DialSSH(context.Background(), cfg)
	var unknown *HostKeyUnknownError
	if !errors.As(err, &unknown) {
		t.Fatalf("want *HostKeyUnknownError, got %v", err)
	}
	fp := ssh.FingerprintSHA256(s.HostKey)
	msg := err.Error()
	t.Logf("unknown host error: %s", msg)
	for _, want := range []string{"newbox: ", fp, "--accept-new-host-keys", "ssh-keyscan -p " + strconv.Itoa(s.Port)} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if unknown.Fingerprint != fp {
		t.Errorf("Fingerprint = %s, want %s", unknown.Fingerprint, fp)
	}
	if _, err := os.Stat(cfg.KnownHostsFiles[0]); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("known_hosts must not be written without AcceptNewHostKeys: %v", err)
	}
}

func TestSSHAcceptNewHostKeys(t *testing.T) {
	isolateSSHEnv(t)
	s := startSSHDWith(t, sshdOptions{})
	cfg := s.Config("fresh")
	kh := filepath.Join(s.Dir, "sub", "known_hosts")
	cfg.KnownHostsFiles = []string{kh}
	cfg.AcceptNewHostKeys = true
	var logs []string
	cfg.Log = func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) }
	tr := dialTest(t, cfg)
	mustRun(t, tr, "true")
	tr.Close()

	data, err := os.ReadFile(kh)
	if err != nil {
		t.Fatalf("known_hosts not written: %v", err)
	}
	want := knownhosts.Line([]string{knownhosts.Normalize(s.HostPort())}, s.HostKey) + "\n"
	if string(data) != want {
		t.Errorf("known_hosts = %q, want %q", data, want)
	}
	if !strings.Contains(strings.Join(logs, "\n"), ssh.FingerprintSHA256(s.HostKey)) {
		t.Errorf("acceptance not logged: %q", logs)
	}

	// Second dial: the recorded key is used, nothing is appended.
	cfg.AcceptNewHostKeys = false
	tr2 := dialTest(t, cfg)
	mustRun(t, tr2, "true")
	if data2, _ := os.ReadFile(kh); !bytes.Equal(data, data2) {
		t.Errorf("known_hosts changed on second dial: %q", data2)
	}
}

func TestSSHChangedHostKeyRefused(t *testing.T) {
	isolateSSHEnv(t)
	s := startSSHDWith(t, sshdOptions{})
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	other, _ := ssh.NewPublicKey(pub)
	kh := filepath.Join(s.Dir, "changed_known_hosts")
	content := "# old key\n" + knownhosts.Line([]string{knownhosts.Normalize(s.HostPort())}, other) + "\n"
	if err := os.WriteFile(kh, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := s.Config("db1")
	cfg.KnownHostsFiles = []string{kh}
	cfg.AcceptNewHostKeys = true // must not matter for a changed key
	_, err := DialSSH(context.Background(), cfg)
	var changed *HostKeyChangedError
	if !errors.As(err, &changed) {
		t.Fatalf("want *HostKeyChangedError, got %v", err)
	}
	msg := err.Error()
	t.Logf("changed key error: %s", msg)
	for _, want := range []string{"db1: ", ssh.FingerprintSHA256(s.HostKey), ssh.FingerprintSHA256(other), "CHANGED", kh + ":2"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if data, _ := os.ReadFile(kh); string(data) != content {
		t.Errorf("known_hosts modified for a changed key: %q", data)
	}
	var unknown *HostKeyUnknownError
	if errors.As(err, &unknown) {
		t.Error("a changed key must not be reported as unknown")
	}
}

// A server with an ed25519 and an RSA host key, known_hosts holding only the
// RSA one (hashed): the client must ask for RSA instead of failing.
func TestSSHHostKeyAlgorithmsFromKnownHosts(t *testing.T) {
	isolateSSHEnv(t)
	s := startSSHDWith(t, sshdOptions{RSAHostKey: true})
	kh := filepath.Join(s.Dir, "rsa_known_hosts")
	hashed := knownhosts.HashHostname(knownhosts.Normalize(s.HostPort()))
	if err := os.WriteFile(kh, []byte(knownhosts.Line([]string{hashed}, s.HostKeys[1])+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := s.Config("multi")
	cfg.KnownHostsFiles = []string{kh}
	tr := dialTest(t, cfg)
	mustRun(t, tr, "true")
}

// killSwitch closes the connection once limit bytes were written after arm.
type killSwitch struct {
	armed   atomic.Bool
	limit   int64
	written atomic.Int64
	killed  atomic.Bool
	conn    net.Conn
}

type killConn struct {
	net.Conn
	k *killSwitch
}

func (c *killConn) Write(p []byte) (int, error) {
	if c.k.armed.Load() && c.k.written.Add(int64(len(p))) > c.k.limit {
		c.k.killed.Store(true)
		c.Conn.Close()
		return 0, net.ErrClosed
	}
	return c.Conn.Write(p)
}

// A connection cut while a command's stdin is streaming fails that Run and
// the next ones instead of hanging.
func TestSSHRunSurvivesDroppedConnection(t *testing.T) {
	isolateSSHEnv(t)
	s := startSSHDWith(t, sshdOptions{})
	ks := &killSwitch{limit: 1 << 20}
	cfg := s.Config("flaky")
	cfg.wrapConn = func(c net.Conn) net.Conn { return &killConn{Conn: c, k: ks} }
	tr := dialTest(t, cfg)

	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<20) // 16 MiB
	ks.armed.Store(true)
	_, err := tr.Run(context.Background(), "cat >/dev/null", bytes.NewReader(big))
	if err == nil {
		t.Fatal("Run succeeded although the connection was killed")
	}
	if !ks.killed.Load() {
		t.Fatalf("connection was not killed; error: %v", err)
	}
	if !strings.HasPrefix(err.Error(), "flaky: ") {
		t.Errorf("error does not name the host: %v", err)
	}
	if _, err := tr.Run(context.Background(), "true", nil); err == nil {
		t.Error("Run on a dead connection succeeded")
	}
}

func TestSSHCommandTimeout(t *testing.T) {
	isolateSSHEnv(t)
	s := startSSHDWith(t, sshdOptions{})
	cfg := s.Config("slow")
	cfg.CommandTimeout = time.Second
	tr := dialTest(t, cfg)
	start := time.Now()
	_, err := tr.Run(context.Background(), "sleep 30.4242", nil)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("want a timeout error, got %v", err)
	}
	// The remote command was killed, not left running.
	waitGone(t, "sleep 30[.]4242")
	if !strings.HasPrefix(err.Error(), "slow: ") {
		t.Errorf("error does not name the host: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("timeout took %s", d)
	}

	// Cancelling the caller's context stops the command too.
	tr.cfg.CommandTimeout = 0
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start = time.Now()
	_, err = tr.Run(ctx, "sleep 30", nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("want context.Canceled, got %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("cancel took %s", d)
	}
	// The connection is still usable.
	if got := string(mustRun(t, tr, "echo alive").Stdout); got != "alive\n" {
		t.Errorf("after timeout: %q", got)
	}
}

var hostileValues = []string{
	"a'b", "'", "''", `"`, `a"b'c`, "$(id)", "`x`", "${HOME}", "$HOME", "; rm -rf /", "a && b || c",
	"line1\nline2", "\n", "trailing\n", "*", "?", "[a-z]*", "~", "~root", "héllo wörld ✓ 日本",
	"", " ", "  two  spaces ", "\t", "--", "-n", "-e", "%s", "%%", `\`, `\\n`, "a\\'b", "!", "#not a comment",
	"<in >out 2>&1", "|", "&", "(sub)", "{a,b}", "x=y", "\x01\x7f",
}

func TestSSHQuoteRoundTrip(t *testing.T) {
	isolateSSHEnv(t)
	s := startSSHDWith(t, sshdOptions{})
	tr := dialTest(t, s.Config("quote"))
	checkQuoteRoundTrip(t, tr)
}

func checkQuoteRoundTrip(t *testing.T, tr Transport) {
	t.Helper()
	for _, v := range hostileValues {
		res := mustRun(t, tr, "printf %s "+quote(v))
		if res.ExitCode != 0 || string(res.Stdout) != v {
			t.Errorf("printf %%s quote(%q) = %q (exit %d, stderr %q)", v, res.Stdout, res.ExitCode, res.Stderr)
		}
	}
	// All at once, through Join.
	res := mustRun(t, tr, "printf '%s\\0' "+join(hostileValues...))
	if got := strings.Split(string(res.Stdout), "\x00"); len(got) != len(hostileValues)+1 || strings.Join(got[:len(got)-1], "\x00") != strings.Join(hostileValues, "\x00") {
		t.Errorf("Join round trip: %q", res.Stdout)
	}
}

func TestSSHRoundTrips(t *testing.T) {
	isolateSSHEnv(t)
	s := startSSHDWith(t, sshdOptions{})
	tr := dialTest(t, s.Config("counted"))
	if n := tr.RoundTrips(); n != 1 {
		t.Errorf("after dial: %d round trips, want 1 (the handshake)", n)
	}
	mustRun(t, tr, "true")
	mustRun(t, tr, "false")
	if n := tr.RoundTrips(); n != 3 {
		t.Errorf("after 2 runs: %d, want 3", n)
	}
}

func TestSSHConfigAlias(t *testing.T) {
	home := isolateSSHEnv(t)
	s := startSSHDWith(t, sshdOptions{})
	conf := filepath.Join(home, "ssh_config")
	content := fmt.Sprintf(`Host myalias
  HostName 127.0.0.1
  Port %d
  User root
  IdentityFile %s

Host overridden
  HostName 127.0.0.1
  Port 1
  User nobody
  IdentityFile %s
`, s.Port, s.UserKey, s.UserKey)
	os.WriteFile(conf, []byte(content), 0o600)

	tr := dialTest(t, SSHConfig{Name: "aliased", Address: "myalias", SSHConfigFile: conf, KnownHostsFiles: []string{s.KnownHosts}})
	if tr.addr != s.HostPort() || tr.User() != "root" {
		t.Errorf("resolved to %s@%s, want root@%s", tr.User(), tr.addr, s.HostPort())
	}
	mustRun(t, tr, "true")

	// Inventory values win over ssh_config.
	tr2 := dialTest(t, SSHConfig{Name: "ov", Address: "overridden", Port: s.Port, User: "root", SSHConfigFile: conf, KnownHostsFiles: []string{s.KnownHosts}})
	if tr2.addr != s.HostPort() || tr2.User() != "root" {
		t.Errorf("resolved to %s@%s", tr2.User(), tr2.addr)
	}

	// The default file is ~/.ssh/config.
	os.MkdirAll(filepath.Join(home, ".ssh"), 0o700)
	os.WriteFile(filepath.Join(home, ".ssh", "config"), []byte(content), 0o600)
	tr3 := dialTest(t, SSHConfig{Name: "default-config", Address: "myalias", KnownHostsFiles: []string{s.KnownHosts}})
	mustRun(t, tr3, "true")

	// A missing explicit file is an error.
	if _, err := DialSSH(context.Background(), SSHConfig{Name: "x", Address: "myalias", SSHConfigFile: filepath.Join(home, "nope")}); err == nil {
		t.Error("missing SSHConfigFile accepted")
	}
}

func TestSSHProxyJump(t *testing.T) {
	home := isolateSSHEnv(t)
	s := startSSHDWith(t, sshdOptions{})
	conf := filepath.Join(home, "ssh_config")
	content := fmt.Sprintf(`Host target
  HostName 127.0.0.1
  Port %[1]d
  ProxyJump root@127.0.0.1:%[1]d,hop2

Host hop2
  HostName 127.0.0.1
  Port %[1]d
  User root

Host *
  IdentityFile %[2]s
`, s.Port, s.UserKey)
	os.WriteFile(conf, []byte(content), 0o600)
	tr := dialTest(t, SSHConfig{Name: "jumped", Address: "target", SSHConfigFile: conf, KnownHostsFiles: []string{s.KnownHosts}})
	if len(tr.hops) != 2 {
		t.Errorf("%d hops, want 2", len(tr.hops))
	}
	if n := tr.RoundTrips(); n != 3 {
		t.Errorf("%d round trips after dial, want 3 handshakes", n)
	}
	if got := string(mustRun(t, tr, "echo via-jump").Stdout); got != "via-jump\n" {
		t.Errorf("run through jump hosts: %q", got)
	}
	if err := tr.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

func TestSSHCloseAndConnectErrors(t *testing.T) {
	isolateSSHEnv(t)
	s := startSSHDWith(t, sshdOptions{})
	tr := dialTest(t, s.Config("closer"))
	if err := tr.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := tr.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := tr.Run(context.Background(), "true", nil); err == nil || !strings.HasPrefix(err.Error(), "closer: ") {
		t.Errorf("Run after Close: %v", err)
	}

	// Nothing listening.
	cfg := s.Config("down")
	cfg.Port = freePort(t)
	if _, err := DialSSH(context.Background(), cfg); err == nil || !strings.HasPrefix(err.Error(), "down: ") {
		t.Errorf("dial to a closed port: %v", err)
	}

	// A server that accepts but never speaks: the connect timeout covers
	// the handshake.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	cfg = s.Config("mute")
	cfg.Port = l.Addr().(*net.TCPAddr).Port
	cfg.ConnectTimeout = 300 * time.Millisecond
	start := time.Now()
	_, err = DialSSH(context.Background(), cfg)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.HasPrefix(err.Error(), "mute: ") {
		t.Errorf("dial to a mute server: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("connect timeout took %s", d)
	}
}

// fakeSudo installs a sudo stand-in that logs its argv and, in "prompt" mode,
// reads and checks the password line like sudo -S does.
func fakeSudo(t *testing.T, password string) (path string, setMode func(string), argvLog string) {
	t.Helper()
	dir := t.TempDir()
	argvLog = filepath.Join(dir, "argv")
	modeFile := filepath.Join(dir, "mode")
	pwFile := filepath.Join(dir, "password")
	os.WriteFile(pwFile, []byte(password), 0o600)
	script := `#!/bin/sh
printf '%s\n' "$*" >> ` + quote(argvLog) + `
mode=$(cat ` + quote(modeFile) + ` 2>/dev/null)
stdin=
while [ $# -gt 0 ]; do
  case $1 in
    -n) shift ;;
    -S) stdin=1; shift ;;
    -p) shift 2 ;;
    --) shift; break ;;
    -*) echo "fake sudo: unsupported option $1" >&2; exit 1 ;;
    *) break ;;
  esac
done
if [ -n "$stdin" ] && [ "$mode" = prompt ]; then
  IFS= read -r pw || exit 1
  [ "$pw" = "$(cat ` + quote(pwFile) + `)" ] || { echo "fake sudo: wrong password" >&2; exit 1; }
fi
exec "$@"
`
	path = filepath.Join(dir, "sudo")
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path, func(m string) { os.WriteFile(modeFile, []byte(m), 0o600) }, argvLog
}

// The non-root path: commands wrapped in sudo, the password on stdin only,
// the caller's stdin intact whether sudo consumed the password or not.
func TestSSHSudoWrapping(t *testing.T) {
	isolateSSHEnv(t)
	s := startSSHDWith(t, sshdOptions{})
	const password = "pa ss'w$rd"
	sudoPath, setMode, argvLog := fakeSudo(t, password)
	var logs lockedBuffer
	cfg := s.Config("sudoer")
	cfg.BecomePassword = password
	cfg.Log = func(f string, a ...any) { fmt.Fprintf(&logs, f+"\n", a...) }
	tr := dialTest(t, cfg)
	tr.sudo, tr.sudoPath = true, sudoPath // as if logged in as a normal user

	check := func(t *testing.T) {
		in := []byte("first line\nsecond\x00line\n")
		res, err := tr.Run(context.Background(), "cat", bytes.NewReader(in))
		if err != nil || !bytes.Equal(res.Stdout, in) || res.ExitCode != 0 {
			t.Errorf("stdin through sudo: %q exit %d stderr %q err %v", res.Stdout, res.ExitCode, res.Stderr, err)
		}
		res = mustRun(t, tr, "cat; exit 7") // nil stdin: the command sees EOF, not the password
		if len(res.Stdout) != 0 || res.ExitCode != 7 {
			t.Errorf("nil stdin through sudo: %q exit %d stderr %q", res.Stdout, res.ExitCode, res.Stderr)
		}
		checkQuoteRoundTrip(t, tr)
	}
	t.Run("password-prompted", func(t *testing.T) { setMode("prompt"); check(t) })
	t.Run("password-not-asked", func(t *testing.T) { setMode("nopasswd"); check(t) })
	t.Run("no-password", func(t *testing.T) {
		tr.cfg.BecomePassword = ""
		defer func() { tr.cfg.BecomePassword = password }()
		setMode("nopasswd")
		check(t)
	})
	t.Run("timeout-kills-through-sudo", func(t *testing.T) {
		setMode("prompt")
		tr.cfg.CommandTimeout = time.Second
		defer func() { tr.cfg.CommandTimeout = 0 }()
		_, err := tr.Run(context.Background(), "sleep 30.5151; echo never", nil)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("want a timeout, got %v", err)
		}
		waitGone(t, "sleep 30[.]5151")
		if t.Failed() {
			t.Logf("log:\n%s", logs.String())
		}
	})
	argv, _ := os.ReadFile(argvLog)
	if !strings.Contains(string(argv), "-S -p  sh -c") || !strings.Contains(string(argv), "-n sh -c") {
		t.Errorf("unexpected sudo invocations:\n%s", argv)
	}
	if strings.Contains(string(argv), password) || strings.Contains(logs.String(), password) {
		t.Error("the become password leaked into argv or logs")
	}

	// Real sudo, when installed: root is never asked, so the password line
	// must be discarded by hadeploy's wrapper.
	if real, err := exec.LookPath("sudo"); err == nil {
		t.Run("real-sudo", func(t *testing.T) {
			tr.sudoPath = real
			check(t)
		})
	}
}

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

func TestSSHHandshakeLimiter(t *testing.T) {
	if cap(handshakeSlots) != 10 || MaxConcurrentHandshakes != 10 {
		t.Fatalf("handshake limit is %d, want 10", cap(handshakeSlots))
	}
	isolateSSHEnv(t)
	s := startSSHDWith(t, sshdOptions{})
	// Fill every slot: a dial waits, then gives up with its context.
	for i := 0; i < MaxConcurrentHandshakes; i++ {
		handshakeSlots <- struct{}{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	_, err := DialSSH(ctx, s.Config("queued"))
	cancel()
	for i := 0; i < MaxConcurrentHandshakes; i++ {
		<-handshakeSlots
	}
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "handshake slot") {
		t.Errorf("dial with no free slot: %v", err)
	}
	// Many concurrent dials all succeed, at most 10 at a time.
	var wg sync.WaitGroup
	errs := make(chan error, 25)
	for i := 0; i < 25; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cfg := s.Config("many" + strconv.Itoa(i))
			cfg.Log = t.Logf
			tr, err := DialSSH(context.Background(), cfg)
			if err != nil {
				errs <- err
				return
			}
			tr.Close()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// waitGone checks that no process matches pattern (pgrep -f) within 5 s. The
// sshd is local, so the "remote" processes are visible here.
func waitGone(t *testing.T, pattern string) {
	t.Helper()
	if _, err := exec.LookPath("pgrep"); err != nil {
		t.Log("pgrep not available: cannot check the remote command was killed")
		return
	}
	deadline := time.Now().Add(5 * time.Second)
	for exec.Command("pgrep", "-f", pattern).Run() == nil {
		if time.Now().After(deadline) {
			t.Errorf("a process matching %q is still running after the timeout", pattern)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestPIDSniffer(t *testing.T) {
	var dst bytes.Buffer
	s := &pidSniffer{token: []byte("tok-1:"), dst: &dst}
	for _, chunk := range []string{"bash: warn", "ing\nto", "k-1:4", "242\nreal ", "stderr\n", "tail"} {
		if n, err := s.Write([]byte(chunk)); n != len(chunk) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", chunk, n, err)
		}
	}
	s.flush()
	if got := dst.String(); got != "bash: warning\nreal stderr\ntail" {
		t.Errorf("stderr = %q", got)
	}
	if s.pid.Load() != 4242 {
		t.Errorf("pid = %d", s.pid.Load())
	}
	// No report at all: everything passes through.
	dst.Reset()
	s = &pidSniffer{token: []byte("tok-2:"), dst: &dst}
	s.Write([]byte("a\nb"))
	s.flush()
	if dst.String() != "a\nb" || s.pid.Load() != 0 {
		t.Errorf("without report: %q pid %d", dst.String(), s.pid.Load())
	}
}
