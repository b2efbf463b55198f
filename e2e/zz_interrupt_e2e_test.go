package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hadeploy/hadeploy/e2e/lab"
)

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Ctrl-C during `lab up`: the command says so within 1 s, stops booting and
// takes down what it had started (that teardown may take longer: it is
// bounded, and waits for nothing it started to keep running).
func TestLabUpInterrupted(t *testing.T) {
	if os.Getenv("HADEPLOY_E2E") != "1" {
		t.Skip("set HADEPLOY_E2E=1 (as root) to run the end-to-end suite")
	}
	release, err := lab.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release)
	want(t, run(t, "lab", "down"), 0, "lab down before up")
	t.Cleanup(func() { run(t, "lab", "down") })

	var out lockedBuffer
	cmd := exec.Command(bin, "lab", "up", inv)
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// Interrupt once it is booting hosts.
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(out.String(), "lab: "); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("lab up printed nothing in 30 s:\n%s", out.String())
		}
	}
	time.Sleep(300 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("lab up finished (%v) before the interrupt:\n%s", err, out.String())
	default:
	}
	t0 := time.Now()
	cmd.Process.Signal(syscall.SIGINT)
	said := time.Duration(0)
	for time.Since(t0) < 5*time.Second && said == 0 {
		if strings.Contains(out.String(), "interrupted") {
			said = time.Since(t0)
		}
		time.Sleep(10 * time.Millisecond)
	}
	var exitErr error
	select {
	case exitErr = <-done:
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		t.Fatalf("lab up still running 2 min after SIGINT:\n%s", out.String())
	}
	stopped := time.Since(t0)
	t.Logf("SIGINT during lab up: said interrupted after %s, exited after %s (%v)", said.Round(time.Millisecond), stopped.Round(time.Millisecond), exitErr)
	if said == 0 || said > time.Second {
		t.Errorf("lab up did not say it was interrupted within 1 s (after %s):\n%s", said, out.String())
	}
	if exitErr == nil {
		t.Errorf("an interrupted lab up exited 0:\n%s", out.String())
	}
	sts, err := lab.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sts {
		if s.Running {
			t.Errorf("%s still running after the interrupted lab up", s.Name)
		}
	}
}
