package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/hadeploy/hadeploy/inventory"
	"github.com/hadeploy/hadeploy/provision/fake"
)

// Ctrl-C stops every command within a second, whatever stage it is in.
// These tests run the real binary and send it SIGINT: while it waits for a
// sudo password, while hosts accept the TCP connection but never answer the
// SSH handshake, and while an apply waits on a step program that never ends
// (an SSH server backed by fake hosts) — that apply rolls back first.
func TestInterruptStopsEveryStageWithinASecond(t *testing.T) {
	bin := buildHadeploy(t)
	env := newCLIEnv(t)

	t.Run("loading: waiting for the sudo password", func(t *testing.T) {
		inv := env.inventory(t, map[string]int{"web1": 1, "web2": 1, "lb1": 1, "lb2": 1})
		p := env.start(t, bin, "apply", inv, "--ask-become-pass")
		p.waitOutput(t, "sudo password:")
		p.interrupt(t, time.Second)
		if p.code == exitChanges || p.code == 0 {
			t.Errorf("exit %d", p.code)
		}
	})

	for _, args := range [][]string{{"plan"}, {"apply"}, {"rollback"}, {"verify"}, {"failover-test"}, {"history"}, {"lock", "status"}, {"lock", "release"}} {
		t.Run("connecting: "+strings.Join(args, " "), func(t *testing.T) {
			port, accepted := holdListener(t)
			inv := env.inventory(t, map[string]int{"web1": port, "web2": port, "lb1": port, "lb2": port})
			p := env.start(t, bin, append(args, inv)...)
			select {
			case <-accepted:
			case <-time.After(10 * time.Second):
				t.Fatalf("never connected:\n%s", p.output())
			}
			time.Sleep(100 * time.Millisecond) // well into the handshake
			p.interrupt(t, time.Second)
			if p.code == exitChanges || p.code == 0 {
				t.Errorf("exit %d", p.code)
			}
		})
	}

	t.Run("waiting for the lock (--lock-wait)", func(t *testing.T) {
		hosts, ports := fakeFleet(t, nil, false)
		hosts["lb1"].SetLock("run X by alice@laptop pid=1 cmd=apply since 2026")
		p := env.start(t, bin, "apply", env.inventory(t, ports), "--accept-new-host-keys", "--lock-wait", "1m")
		p.waitOutput(t, "waiting up to")
		p.interrupt(t, time.Second)
		if p.code != exitError {
			t.Errorf("exit %d, want 1", p.code)
		}
		if hosts["lb1"].LockInfo() == "" {
			t.Error("the holder's lock was removed")
		}
	})

	t.Run("applying: a step program that never ends is killed and the run rolled back", func(t *testing.T) {
		held := make(chan string, 1)
		hosts, ports := fakeFleet(t, held, false)
		p := env.start(t, bin, "apply", env.inventory(t, ports), "--accept-new-host-keys")
		var host string
		select {
		case host = <-held:
		case <-time.After(20 * time.Second):
			t.Fatalf("no step started:\n%s", p.output())
		}
		p.interrupt(t, time.Second)
		if p.code != exitRolledBack {
			t.Errorf("exit %d, want %d (rolled back)", p.code, exitRolledBack)
		}
		if !strings.Contains(p.stderr.String(), "every host this run touched was rolled back") {
			t.Errorf("%s: the run was not rolled back:\n%s", host, p.output())
		}
		for name, h := range hosts {
			if l := h.LockInfo(); l != "" {
				t.Errorf("%s still locked: %s", name, l)
			}
			if f := h.Paths(); len(f) != 0 {
				t.Errorf("%s: files left after the rollback: %v", name, f)
			}
		}
	})

	t.Run("a second interrupt exits at once", func(t *testing.T) { testSecondInterrupt(t, env, bin) })
}

// The first interrupt of an apply waits for its rollback; a second one
// exits at once.
func testSecondInterrupt(t *testing.T, env *cliEnv, bin string) {
	held := make(chan string, 8)
	_, ports := fakeFleet(t, held, true)
	p := env.start(t, bin, "apply", env.inventory(t, ports), "--accept-new-host-keys")
	for want := "a step"; ; want = "a rollback" {
		select {
		case <-held:
		case <-time.After(20 * time.Second):
			t.Fatalf("never held %s:\n%s", want, p.output())
		}
		if want == "a rollback" {
			break
		}
		p.cmd.Process.Signal(syscall.SIGINT)
	}
	p.interrupt(t, time.Second)
	if p.code != exitForced || !strings.Contains(p.stderr.String(), "interrupted again") {
		t.Errorf("exit %d, want %d with \"interrupted again\"", p.code, exitForced)
	}
}

// fakeFleet serves the lab's hosts as fake hosts over SSH (lb1 holds the
// VIP); with held set, the first step program on any of them never ends,
// nor, with rollbacks, any rollback program.
func fakeFleet(t *testing.T, held chan<- string, rollbacks bool) (map[string]*fake.Host, map[string]int) {
	t.Helper()
	c, err := inventory.Load(labInv)
	if err != nil {
		t.Fatal(err)
	}
	hosts := map[string]*fake.Host{}
	ports := map[string]int{}
	var once sync.Once
	hold := func(prog []byte) bool {
		if held == nil {
			return false
		}
		if rollbacks && bytes.Contains(prog, []byte("==rolledback")) {
			return true
		}
		first := false
		if bytes.Contains(prog, []byte(`echo "begin "`)) {
			once.Do(func() { first = true })
		}
		return first
	}
	for _, h := range c.Hosts {
		hosts[h.Name] = fake.NewDebian(h.Name, h.Address+"/24")
		ports[h.Name] = serveFakeHost(t, hosts[h.Name], hold, held)
	}
	hosts["lb1"].Addrs = append(hosts["lb1"].Addrs, c.VIP)
	return hosts, ports
}

// buildHadeploy builds the command into the test's temporary folder.
func buildHadeploy(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		if gobin, err = exec.LookPath("go"); err != nil {
			t.Skip("no go command to build hadeploy with")
		}
	}
	bin := filepath.Join(t.TempDir(), "hadeploy")
	if out, err := exec.Command(gobin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// cliEnv is a home with a user key and an ssh_config that sends every lab
// host name to 127.0.0.1.
type cliEnv struct {
	home, key string
}

func newCLIEnv(t *testing.T) *cliEnv {
	home := t.TempDir()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(home, "id_ed25519")
	if err := os.WriteFile(key, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(home, ".ssh"), 0o700)
	var cfg strings.Builder
	for _, h := range []string{"web1", "web2", "lb1", "lb2"} {
		fmt.Fprintf(&cfg, "Host %s.hadeploy.test\n  HostName 127.0.0.1\n", h)
	}
	if err := os.WriteFile(filepath.Join(home, ".ssh", "config"), []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return &cliEnv{home: home, key: key}
}

var labAddress = regexp.MustCompile(`(?m)^  - name: (\S+)\n    address: \S+$`)

// inventory is the lab inventory with each host reached on 127.0.0.1 at its
// port (a DNS-like name mapped by ssh_config: the VIP subnet rule then only
// warns).
func (e *cliEnv) inventory(t *testing.T, ports map[string]int) string {
	t.Helper()
	b, err := os.ReadFile(labInv)
	if err != nil {
		t.Fatal(err)
	}
	s := labAddress.ReplaceAllStringFunc(string(b), func(m string) string {
		name := labAddress.FindStringSubmatch(m)[1]
		return fmt.Sprintf("  - name: %s\n    address: %s.hadeploy.test\n    port: %d", name, name, ports[name])
	})
	s = strings.NewReplacer("/var/lib/hadeploy-lab/id_ed25519", e.key, "/var/lib/hadeploy-lab/known_hosts", filepath.Join(t.TempDir(), "known_hosts")).Replace(s)
	p := filepath.Join(t.TempDir(), "cluster.yaml")
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// proc is a running hadeploy.
type proc struct {
	cmd            *exec.Cmd
	stdout, stderr lockedBuf
	done           chan struct{}
	code           int
}

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuf) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func (e *cliEnv) start(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{done: make(chan struct{})}
	p.cmd = exec.Command(bin, append(args, "--log-dir", t.TempDir())...)
	p.cmd.Env = append(os.Environ(), "HOME="+e.home, "SSH_AUTH_SOCK=", "NO_COLOR=1")
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	stdin, err := p.cmd.StdinPipe() // open, never written: a prompt waits
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close() })
	go func() {
		p.cmd.Wait()
		p.code = p.cmd.ProcessState.ExitCode()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *proc) output() string { return p.stdout.String() + p.stderr.String() }

// waitOutput waits until the process printed s (stdout or stderr).
func (p *proc) waitOutput(t *testing.T, s string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(p.output(), s); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("never printed %q:\n%s", s, p.output())
		}
	}
}

// interrupt sends SIGINT and fails unless the process exits within limit,
// saying it was interrupted.
func (p *proc) interrupt(t *testing.T, limit time.Duration) {
	t.Helper()
	select {
	case <-p.done:
		t.Fatalf("exited (%d) before the interrupt:\n%s", p.code, p.output())
	default:
	}
	t0 := time.Now()
	p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		t.Fatalf("still running 5s after SIGINT:\n%s", p.output())
	}
	took := time.Since(t0)
	t.Logf("exit %d %s after SIGINT; stderr:\n%s", p.code, took.Round(time.Millisecond), p.stderr.String())
	if took > limit {
		t.Errorf("took %s to stop after SIGINT, want at most %s", took.Round(time.Millisecond), limit)
	}
	if !strings.Contains(p.stderr.String(), "interrupted") {
		t.Errorf("does not say it was interrupted:\n%s", p.stderr.String())
	}
}

// holdListener accepts TCP connections and never says a word: a host that
// is reachable but never answers the SSH handshake.
func holdListener(t *testing.T) (int, <-chan struct{}) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan struct{})
	var once sync.Once
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			once.Do(func() { close(accepted) })
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return l.Addr().(*net.TCPAddr).Port, accepted
}

var (
	pidReport  = regexp.MustCompile(`^printf '%s%s\\n' (\S+) "\$\$" >&2\n`)
	killRemote = regexp.MustCompile(`(?m)^kill -9 -(\d+) `)
)

// serveFakeHost is an SSH server on 127.0.0.1 whose commands run on the fake
// host h, reporting a pid as the transport expects. A program for which
// hold says yes is carried out, then never ends (a daemon that never
// serves): the host's name goes to held, and only killing its process group
// ends it.
func serveFakeHost(t *testing.T, h *fake.Host, hold func(prog []byte) bool, held chan<- string) int {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ServerConfig{PublicKeyCallback: func(ssh.ConnMetadata, ssh.PublicKey) (*ssh.Permissions, error) { return nil, nil }}
	cfg.AddHostKey(signer)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); l.Close() })
	s := &fakeServer{h: h, hold: hold, held: held, ctx: ctx, running: map[int]chan struct{}{}, next: 1000}
	go func() {
		for {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			go s.conn(nc, cfg)
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}

type fakeServer struct {
	h       *fake.Host
	hold    func(prog []byte) bool
	held    chan<- string
	ctx     context.Context
	mu      sync.Mutex
	running map[int]chan struct{} // pid → closed when killed
	next    int
}

func (s *fakeServer) conn(nc net.Conn, cfg *ssh.ServerConfig) {
	_, chans, reqs, err := ssh.NewServerConn(nc, cfg)
	if err != nil {
		return
	}
	go ssh.DiscardRequests(reqs)
	for nch := range chans {
		if nch.ChannelType() != "session" {
			nch.Reject(ssh.UnknownChannelType, "session only")
			continue
		}
		ch, creqs, err := nch.Accept()
		if err != nil {
			continue
		}
		go func() {
			for req := range creqs {
				if req.Type != "exec" || len(req.Payload) < 4 {
					req.Reply(false, nil)
					continue
				}
				req.Reply(true, nil)
				cmd := string(req.Payload[4 : 4+binary.BigEndian.Uint32(req.Payload)])
				go func() {
					code := s.exec(ch, cmd)
					ch.SendRequest("exit-status", false, binary.BigEndian.AppendUint32(nil, uint32(code)))
					ch.Close()
				}()
			}
		}()
	}
}

func (s *fakeServer) exec(ch ssh.Channel, cmd string) int {
	s.mu.Lock()
	pid := s.next
	s.next++
	killed := make(chan struct{})
	s.running[pid] = killed
	s.mu.Unlock()
	if m := pidReport.FindStringSubmatch(cmd); m != nil {
		fmt.Fprintf(ch.Stderr(), "%s%d\n", m[1], pid)
	}
	if m := killRemote.FindStringSubmatch(cmd); m != nil {
		n, _ := strconv.Atoi(m[1])
		s.mu.Lock()
		if k, ok := s.running[n]; ok {
			close(k)
			delete(s.running, n)
		}
		s.mu.Unlock()
		return 0
	}
	prog, _ := io.ReadAll(ch)
	res, _ := s.h.Transport().Run(s.ctx, "/bin/sh", bytes.NewReader(prog))
	if s.hold(prog) {
		s.held <- s.h.HostName
		select {
		case <-killed:
			return 137
		case <-s.ctx.Done():
			return 137
		}
	}
	ch.Write(res.Stdout)
	ch.Stderr().Write(res.Stderr)
	return res.ExitCode
}
