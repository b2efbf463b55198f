package transport

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

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
	noHostName(t, err, "flaky")
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
	noHostName(t, err, "slow")
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
		res := mustRun(t, tr, "printf %s "+Quote(v))
		if res.ExitCode != 0 || string(res.Stdout) != v {
			t.Errorf("printf %%s Quote(%q) = %q (exit %d, stderr %q)", v, res.Stdout, res.ExitCode, res.Stderr)
		}
	}
	// All at once, through Join.
	res := mustRun(t, tr, "printf '%s\\0' "+Join(hostileValues...))
	if got := strings.Split(string(res.Stdout), "\x00"); len(got) != len(hostileValues)+1 || strings.Join(got[:len(got)-1], "\x00") != strings.Join(hostileValues, "\x00") {
		t.Errorf("Join round trip: %q", res.Stdout)
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
