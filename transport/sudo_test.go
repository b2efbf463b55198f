package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

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
printf '%s\n' "$*" >> ` + Quote(argvLog) + `
mode=$(cat ` + Quote(modeFile) + ` 2>/dev/null)
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
  [ "$pw" = "$(cat ` + Quote(pwFile) + `)" ] || { echo "fake sudo: wrong password" >&2; exit 1; }
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
