package transport

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
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

// noHostName checks that err does not carry the inventory name: the caller
// adds it, once.
func noHostName(t *testing.T, err error, name string) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), name) {
		t.Errorf("error names the host %q, the caller's job: %v", name, err)
	}
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
	if err == nil || !strings.Contains(err.Error(), "no SSH key") {
		t.Errorf("dial without keys: %v", err)
	}
	noHostName(t, err, "agent-host")
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
	_, err := tr.Run(context.Background(), "true", nil)
	if !errors.Is(err, ErrClosed) {
		t.Errorf("Run after Close: %v", err)
	}
	noHostName(t, err, "closer")

	// Nothing listening.
	cfg := s.Config("down")
	cfg.Port = freePort(t)
	_, err = DialSSH(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "connect") {
		t.Errorf("dial to a closed port: %v", err)
	}
	noHostName(t, err, "down")

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
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("dial to a mute server: %v", err)
	}
	noHostName(t, err, "mute")
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("connect timeout took %s", d)
	}
}

func TestSSHHandshakeLimiter(t *testing.T) {
	isolateSSHEnv(t)
	s := startSSHDWith(t, sshdOptions{})
	other := startSSHDWith(t, sshdOptions{})
	cfg := s.Config("queued")
	slots := slotsFor(net.JoinHostPort(cfg.Address, strconv.Itoa(cfg.Port)))
	if cap(slots) != 10 || MaxConcurrentHandshakes != 10 {
		t.Fatalf("handshake limit is %d, want 10", cap(slots))
	}
	// Fill every slot of one sshd: a dial to it waits, then gives up with
	// its context; a dial to another sshd goes ahead.
	for i := 0; i < MaxConcurrentHandshakes; i++ {
		slots <- struct{}{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	_, err := DialSSH(ctx, cfg)
	cancel()
	tr, otherErr := DialSSH(context.Background(), other.Config("elsewhere"))
	for i := 0; i < MaxConcurrentHandshakes; i++ {
		<-slots
	}
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "handshake slot") {
		t.Errorf("dial with no free slot: %v", err)
	}
	if otherErr != nil {
		t.Errorf("a full sshd held up a dial to another: %v", otherErr)
	} else {
		tr.Close()
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
