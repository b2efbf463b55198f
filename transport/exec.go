package transport

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync/atomic"

	"golang.org/x/crypto/ssh"
)

// Run executes cmd through the remote shell, as root (via sudo when the login
// user is not root). A non-zero exit is not an error.
func (t *SSHTransport) Run(ctx context.Context, cmd string, stdin io.Reader) (Result, error) {
	if t.cfg.Log != nil {
		t.cfg.Log("%s: run: %s", t.name, cmd)
	}
	return t.execOpts(ctx, cmd, stdin, true)
}

// execOpts runs cmd wrapped for sudo if needed; killOnCancel is false for the
// kill command itself, which must not recurse.
func (t *SSHTransport) execOpts(ctx context.Context, cmd string, stdin io.Reader, killOnCancel bool) (Result, error) {
	if t.isClosed() {
		return Result{}, ErrClosed
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
	cmd := Join("kill", "-9", "-"+p) + " 2>/dev/null || " + Join("kill", "-9", p) + " 2>/dev/null; true"
	if t.cfg.Log != nil {
		t.cfg.Log("%s: run: %s", t.name, cmd)
	}
	if _, err := t.execOpts(ctx, cmd, nil, false); err != nil && t.cfg.Log != nil {
		t.cfg.Log("%s: killing cancelled command (process group %s): %v", t.name, p, err)
	}
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

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
