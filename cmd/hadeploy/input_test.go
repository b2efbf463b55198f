//go:build unix

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/hadeploy/hadeploy/inventory"
	"github.com/hadeploy/hadeploy/transport"
)

// An inventory that cannot be read is an input error: exit 1 at once, never 2
// (plan: changes pending), and no host is contacted.
func TestInputErrorsExitOne(t *testing.T) {
	testDial = func(context.Context, *inventory.Host) (transport.Transport, error) {
		t.Error("a host was contacted")
		return nil, errors.New("no dialing in this test")
	}
	t.Cleanup(func() { testDial = nil })
	d := t.TempDir()
	fifo := filepath.Join(d, "fifo.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // release a blocked reader, if any
		if w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			w.Close()
		}
	})
	big := filepath.Join(d, "big.yaml")
	if err := os.WriteFile(big, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, 1<<30); err != nil {
		t.Fatal(err)
	}
	tab := filepath.Join(d, "tab.yaml")
	if err := os.WriteFile(tab, []byte("name: x\nssh:\n  user: root\n\tport: 22\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, inv := range []string{fifo, "/dev/zero", d, big, tab, filepath.Join(d, "missing.yaml")} {
		for _, cmd := range []string{"plan", "apply", "verify"} {
			done := make(chan int, 1)
			go func() {
				_, code := hadeploy(t, cmd, inv)
				done <- code
			}()
			if code := waitBounded(t, done, cmd+" "+inv); code != exitError {
				t.Errorf("hadeploy %s %s: exit %d, want %d", cmd, inv, code, exitError)
			}
		}
	}
}

// waitBounded waits for done; a run that hangs or keeps allocating (reading
// /dev/zero) stops the test binary rather than the machine.
func waitBounded(t *testing.T, done <-chan int, what string) int {
	t.Helper()
	deadline := time.After(2 * time.Second)
	for {
		select {
		case code := <-done:
			return code
		case <-deadline:
			panic("hadeploy " + what + " still running after 2s")
		case <-time.After(20 * time.Millisecond):
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > 256<<20 {
				panic(fmt.Sprintf("hadeploy %s holds %d MiB", what, m.HeapAlloc>>20))
			}
		}
	}
}
